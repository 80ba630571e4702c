/* bcryptprimitives.dll for Wine 8 (Debian 12), which lacks it: Rust's
 * standard library on Windows imports ProcessPrng from it for its random
 * numbers. This one draws them from RtlGenRandom, which Wine has. Built by
 * .ci/windows/run with MinGW. */
#include <windows.h>
#include <ntsecapi.h>

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len > 0) {
        ULONG n = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!RtlGenRandom(data, n)) {
            return FALSE;
        }
        data += n;
        len -= n;
    }
    return TRUE;
}
