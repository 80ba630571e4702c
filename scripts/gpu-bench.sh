#!/usr/bin/env bash
# ebmscope vs PyTorch on a machine with an NVIDIA GPU and no Rust toolchain.
#
# On the build machine:   scripts/gpu-bench.sh bundle [DIR]     (default DIR: gpu-bench)
#   builds ebmscope (release) and puts into DIR: the binary, the Vulkan
#   loader it opens (lib/libvulkan.so.1), the X11 client libraries NVIDIA's
#   Vulkan driver (libGLX_nvidia) links against, for containers that lack
#   them (lib/x11, used only then), scripts/bench_torch.py,
#   scripts/compare_table.py and this script.
# On the GPU machine:     DIR/gpu-bench.sh run [OUT]            (default OUT: DIR/results)
#   ebmscope info, doctor and bench (the full workloads), then PyTorch on CUDA
#   with its default settings (the authors' code's: cudnn.benchmark off),
#   with TF32 off, and with cudnn.benchmark on (cuDNN's fastest
#   convolutions, what a tuning PyTorch user turns on), and the ratio
#   tables; last, what NVIDIA's compiler made of the vanilla net's kernels
#   (bench --pipeline-stats: registers, spills, shared memory, into
#   pipeline-stats.txt). Needs
#   the NVIDIA driver (its Vulkan ICD, nvidia_icd.json) and python3 with
#   torch for the PyTorch half; one run takes a few minutes. Each net is
#   timed by its own bench run, so that one whose kernels fail their check
#   (it is then timed with the direct convolutions alone) costs only its
#   own figures; every step has a time limit (STEP_TIMEOUT, default 300 s,
#   and no step runs past DEADLINE, default 540 s from the start, so that
#   the tables are written inside a 10-minute session), a failed one is
#   recorded and the run goes on, and the exit status is 1 if any failed.
#   ebmscope runs on the NVIDIA adapter through Vulkan (EBMSCOPE_BACKEND,
#   EBMSCOPE_ADAPTER override it): without one its steps fail at once
#   rather than run on a CPU adapter, and info.txt and system.txt say what
#   the Vulkan loader found. NETS (default "toy vanilla nonlocal") chooses
#   the nets; BENCH_ARGS (e.g. "--small --seconds 1"; not --only) is passed
#   to both benchmarks.
# On the GPU machine:     DIR/gpu-bench.sh exec PROGRAM [ARGS...]
#   runs one command in that environment (NVIDIA's Vulkan driver found, the
#   bundle's libraries), e.g. DIR/ebmscope bench with other options.
set -euo pipefail

mode="${1:-}"
here="$(cd "$(dirname "$0")" && pwd)"

# The environment a bundled binary runs in: NVIDIA's Vulkan driver found and
# chosen, the bundle's loader (and X11 libraries where the machine lacks
# them) before the machine's. Sets `libs` (the loader cache) for run.
bundle_env() {
    export EBMSCOPE_BACKEND="${EBMSCOPE_BACKEND:-vulkan}" EBMSCOPE_ADAPTER="${EBMSCOPE_ADAPTER-NVIDIA}"
    export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/xdg-$(id -u)}"  # (else Mesa's loaders complain)
    mkdir -p "$XDG_RUNTIME_DIR"
    export LD_LIBRARY_PATH="$here/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    # (Once: see bundle. Not on PATH for a user on some systems.)
    libs="$(ldconfig -p 2>/dev/null || /sbin/ldconfig -p 2>/dev/null || true)"
    if ! grep -q "libX11\.so\.6 " <<< "$libs" || ! grep -q "libXext\.so\.6 " <<< "$libs"; then
        export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$here/lib/x11"
        echo "using the bundled X11 client libraries (lib/x11)" >&2
    fi
    # Containers often mount the driver outside the loader's search path
    # (e.g. /usr/local/nvidia): point the loader at its ICD manifest, and
    # the manifest's library at its folder.
    if [ -z "${VK_DRIVER_FILES:-}${VK_ICD_FILENAMES:-}" ]; then
        for icd in /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json \
                   /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/local/nvidia/icd.d/nvidia_icd.json; do
            if [ -f "$icd" ]; then
                export VK_DRIVER_FILES="$icd" VK_ICD_FILENAMES="$icd"
                echo "Vulkan driver manifest: $icd" >&2
                break
            fi
        done
    fi
    for libdir in /usr/local/nvidia/lib64 /usr/local/nvidia/lib; do
        if [ -d "$libdir" ]; then
            export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$libdir"
        fi
    done
    # A driver library without its manifest (a container given the
    # "graphics" capability in part): write the manifest NVIDIA installs.
    glx_nvidia=no
    if grep -q "libGLX_nvidia\.so\.0 " <<< "$libs" || [ -e /usr/local/nvidia/lib64/libGLX_nvidia.so.0 ]; then
        glx_nvidia=yes
    fi
    if [ -z "${VK_DRIVER_FILES:-}${VK_ICD_FILENAMES:-}" ] && [ "$glx_nvidia" = yes ]; then
        printf '{"file_format_version": "1.0.0", "ICD": {"library_path": "libGLX_nvidia.so.0", "api_version": "1.3"}}\n' \
            > "$XDG_RUNTIME_DIR/nvidia_icd.json"
        export VK_DRIVER_FILES="$XDG_RUNTIME_DIR/nvidia_icd.json" VK_ICD_FILENAMES="$XDG_RUNTIME_DIR/nvidia_icd.json"
        echo "no Vulkan driver manifest found; wrote $XDG_RUNTIME_DIR/nvidia_icd.json for libGLX_nvidia.so.0" >&2
    fi
}

case "$mode" in
bundle)
    cd "$here/.."
    dir="${2:-gpu-bench}"
    if ! command -v objdump > /dev/null; then
        echo "no objdump here (it reads the glibc the bundle needs): apt-get install binutils" >&2
        exit 1
    fi
    cargo build --release --quiet
    mkdir -p "$dir/lib"
    cp target/release/ebmscope scripts/bench_torch.py scripts/compare_table.py scripts/gpu-bench.sh "$dir/"
    # (The cache once: a reader that stops early would break ldconfig's pipe under pipefail.)
    libs="$(ldconfig -p 2>/dev/null || /sbin/ldconfig -p)"
    loader="$(awk '/libvulkan\.so\.1 .*x86-64/ {print $NF; exit}' <<< "$libs")"
    if [ -z "$loader" ]; then
        echo "no libvulkan.so.1 here: apt-get install libvulkan1, then bundle again" >&2
        exit 1
    fi
    cp -L "$loader" "$dir/lib/libvulkan.so.1"
    # libGLX_nvidia.so.0, the library of NVIDIA's Vulkan manifest, needs
    # these; CUDA images often lack them, and then the loader skips the driver.
    mkdir -p "$dir/lib/x11"
    for lib in libX11.so.6 libXext.so.6 libxcb.so.1 libXau.so.6 libXdmcp.so.6 libbsd.so.0 libmd.so.0; do
        path="$(awk -v l="$lib" '$1 == l && /x86-64/ {print $NF; exit}' <<< "$libs")"
        if [ -z "$path" ]; then
            echo "no $lib here: apt-get install libx11-6 libxext6, then bundle again" >&2
            exit 1
        fi
        cp -L "$path" "$dir/lib/x11/$lib"
    done
    # The newest glibc the binary and the loader ask for: run checks the GPU
    # machine's against it (an older one fails every step otherwise). (Not
    # lib/x11's: loaded only where a machine lacks its own.)
    objdump -T "$dir/ebmscope" "$dir/lib/libvulkan.so.1" | grep -o 'GLIBC_[0-9.]*' \
        | sed 's/GLIBC_//' | sort -uV | tail -1 > "$dir/glibc-needed"
    echo "bundle in $dir ($(du -sh "$dir" | cut -f1)); on the GPU machine: $dir/gpu-bench.sh run"
    ;;
run)
    out="${2:-$here/results}"
    mkdir -p "$out"
    # (This run's tables only: an earlier run's into the same OUT would pass for them.)
    rm -f "$out/compare.md" "$out/ebmscope.json" "$out"/torch-*.json "$out"/ebmscope-*.json
    NETS="${NETS:-toy vanilla nonlocal}"
    if [ -f "$here/glibc-needed" ]; then
        need="$(cat "$here/glibc-needed")"
        have="$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}' || true)"
        if [ -n "$need" ] && [ -n "$have" ] && [ "$(printf '%s\n%s\n' "$need" "$have" | sort -V | head -1)" != "$need" ]; then
            echo "this machine's glibc is $have, and the bundle needs $need or newer: make the bundle on a" \
                 "machine (or in a container) with glibc $have or older, or run it in a newer container" >&2
            exit 1
        fi
    fi
    bundle_env
    # What the Vulkan loader will look for, for when it finds no driver.
    {
        uname -m
        ldd --version 2>&1 | head -1
        echo "NVIDIA_DRIVER_CAPABILITIES=${NVIDIA_DRIVER_CAPABILITIES:-}"
        echo "VK_DRIVER_FILES=${VK_DRIVER_FILES:-}"
        echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
        ls -l /usr/share/vulkan/icd.d /etc/vulkan/icd.d /usr/local/nvidia/share/vulkan/icd.d 2>&1
        grep -E "GLX_nvidia|EGL_nvidia|glvkspirv|gpucomp|libvulkan|libX11\.|libXext\." <<< "$libs"
        # shellcheck disable=SC2010  # (a listing for a person to read, links and all)
        ls -l /usr/local/nvidia/lib64 2>&1 | grep -E "GLX_nvidia|EGL_nvidia|glvkspirv"
    } > "$out/system.txt" 2>&1 || true  # (a missing folder is an answer, not a failure)
    ebm="$here/ebmscope"
    # Every step is timed out (a hung or lost device must not cost the rest)
    # and a failed one is recorded while the run goes on: one GPU run has to
    # bring back every figure it can. The exit status says whether all passed.
    # A step's limit: STEP_TIMEOUT, cut to what is left before DEADLINE.
    started=$SECONDS
    limit() {
        local left=$(( ${DEADLINE:-540} - (SECONDS - started) ))
        local step="${STEP_TIMEOUT:-300}"
        echo $(( left < step ? (left > 1 ? left : 1) : step ))
    }
    # (A step that ignores SIGTERM is killed 10 s later.)
    timeout() { command timeout -k 10 "$@"; }
    failed=0
    # Every adapter of every backend, and the loader's complaints about drivers it skipped.
    if ! timeout "$(limit)" env -u EBMSCOPE_BACKEND -u EBMSCOPE_ADAPTER VK_LOADER_DEBUG=error,warn \
            "$ebm" info 2>&1 | tee "$out/info.txt"; then
        echo "info FAILED" >&2
        failed=1
    fi
    # The GPU's name, clocks and driver, for its fp32 peak (the issue's 30 % target).
    timeout "$(limit)" nvidia-smi -q > "$out/nvidia-smi.txt" 2>&1 || echo "no nvidia-smi" > "$out/nvidia-smi.txt"
    if ! grep -q "backend Vulkan, type DiscreteGpu, vendor 0x10de" "$out/info.txt"; then
        echo "warning: no NVIDIA Vulkan adapter listed, so ebmscope's steps will fail; is the driver's" \
             "Vulkan manifest installed (nvidia_icd.json; set VK_DRIVER_FILES to its path)? See" \
             "$out/info.txt and $out/system.txt" >&2
    fi
    if timeout "$(limit)" "$ebm" doctor > "$out/doctor.txt" 2>&1; then
        tail -1 "$out/doctor.txt"
    else
        echo "doctor FAILED (all rows in $out/doctor.txt):" >&2
        grep -A2 " FAIL$" "$out/doctor.txt" >&2 || tail -5 "$out/doctor.txt" >&2
        failed=1
    fi
    # One bench per net, so that a net whose kernels fail their check costs
    # only its own figures; it is then timed with the direct convolutions
    # alone. (NETS, not --only in BENCH_ARGS, chooses the nets.)
    read -r -a nets <<< "$NETS"
    ours=()
    for net in "${nets[@]}"; do
        part="$out/ebmscope-$net"
        # shellcheck disable=SC2086  # BENCH_ARGS is a list of words
        if timeout "$(limit)" "$ebm" bench ${BENCH_ARGS:-} --only "$net" --json "$part.json" 2>&1 | tee "$part.txt"; then
            ours+=("$part.json")
            continue
        fi
        failed=1
        # shellcheck disable=SC2086
        if timeout "$(limit)" "$ebm" bench ${BENCH_ARGS:-} --only "$net" --conv-kernels direct --default-kernels-only \
                --json "$part-direct.json" 2>&1 | tee "$part-direct.txt"; then
            ours+=("$part-direct.json")
        else
            echo "bench FAILED for $net (see $part.txt and $part-direct.txt)" >&2
        fi
    done
    if [ ${#ours[@]} -gt 0 ]; then
        if ! python3 "$here/compare_table.py" --merge "$out/ebmscope.json" "${ours[@]}"; then
            echo "merging ebmscope's reports FAILED" >&2
            failed=1
        fi
    else
        echo "no ebmscope figures: see $out/*.txt" >&2
    fi
    if [ "$(limit)" -le 1 ]; then
        echo "DEADLINE reached: PyTorch was not run" >&2
        failed=1
    elif timeout "$(limit)" python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
        theirs=()
        for setting in default tf32-off cudnn-benchmark; do
            parts=()
            flags=()
            [ "$setting" = tf32-off ] && flags=(--tf32 off)
            [ "$setting" = cudnn-benchmark ] && flags=(--cudnn-benchmark)
            for net in "${nets[@]}"; do
                part="$out/torch-$setting-$net"
                # shellcheck disable=SC2086
                if timeout "$(limit)" python3 "$here/bench_torch.py" ${BENCH_ARGS:-} --only "$net" --device cuda \
                        ${flags[@]+"${flags[@]}"} --json "$part.json" 2>&1 | tee "$part.txt"; then
                    parts+=("$part.json")
                else
                    echo "PyTorch ($setting) FAILED for $net (see $part.txt)" >&2
                    failed=1
                fi
            done
            if [ ${#parts[@]} -gt 0 ]; then
                if python3 "$here/compare_table.py" --merge "$out/torch-$setting.json" "${parts[@]}"; then
                    theirs+=("$out/torch-$setting.json")
                else
                    echo "merging PyTorch's ($setting) reports FAILED" >&2
                    failed=1
                fi
            fi
        done
        if [ -f "$out/ebmscope.json" ] && [ ${#theirs[@]} -gt 0 ]; then
            if ! python3 "$here/compare_table.py" "$out/ebmscope.json" "${theirs[@]}" | tee "$out/compare.md"; then
                echo "the ratio tables FAILED" >&2
                failed=1
            fi
        fi
    else
        echo "python3 with a torch that sees a CUDA GPU (torch.cuda.is_available()) is missing: only the" \
             "ebmscope figures were taken" >&2
        failed=1
    fi
    # Last (it times the net again, after PyTorch's turn under DEADLINE):
    # registers, spills and shared memory per kernel, as the driver compiled
    # them: what a GPU core's occupancy, and so the 30 % target, turns on.
    # (The full-size vanilla net whatever BENCH_ARGS: its kernels are the
    # ones the target is about.)
    if timeout "$(limit)" "$ebm" bench --only vanilla --seconds 0.2 --pipeline-stats > "$out/pipeline-stats.txt" 2>&1; then
        sed -n '/what the Vulkan driver says/,$p' "$out/pipeline-stats.txt"
    else
        echo "pipeline statistics FAILED (see $out/pipeline-stats.txt)" >&2
        failed=1
    fi
    echo "results in $out"
    exit "$failed"
    ;;
exec)
    # Any command in the bundle's environment, e.g. one more bench:
    #   DIR/gpu-bench.sh exec DIR/ebmscope bench --only vanilla --conv-kernels measured
    [ $# -ge 2 ] || { echo "usage: $0 exec PROGRAM [ARGS...]" >&2; exit 2; }
    bundle_env
    shift
    exec "$@"
    ;;
*)
    echo "usage: $0 bundle [DIR]   (build machine)  |  $0 run [OUT]  or  $0 exec PROGRAM [ARGS...]   (GPU machine)" >&2
    exit 2
    ;;
esac
