// gemm_tile: the shared part of the tiled implicit-GEMM convolution kernels
// (conv2d_forward_tiled, conv2d_input_grad_tiled, conv2d_weight_grad_tiled),
// prepended to each after conv_params.wgsl at compile time. A workgroup of
// TILE_THREADS computes a TILE_M × TILE_N block of C = A·B: per TILE_K-deep
// slice each invocation gathers its part of A's rows and B's columns into a
// Slice (4 consecutive k per vec4) and stages it in a_tile and b_tile
// (stage_slice), then invocation (tm, tn) = (lid / 16, lid % 16)
// accumulates rows 8·tm … +7 × the 8 columns tile_column(tn, 0 … 7): 16
// workgroup-memory loads feed 256 multiply-adds. What A and B are, how a
// slice is gathered and how a block is stored (the kernel's store_quad) is
// each kernel's own. Each kernel's loop over the slices is
//   gather slice i into registers; multiply slice i − 1 (staged); barrier;
//   stage slice i; barrier;   and after the loop, multiply the last one,
// so that slice i's global loads are in flight while slice i − 1 is
// multiplied: the deep layers have few workgroups per GPU core, too few to
// hide the loads' latency behind each other's arithmetic. (The sums are
// those of gathering, staging and multiplying each slice in turn.)
//
// The block's 16 accumulators are indexed by constants only, never in a
// loop: a GPU compiler keeps an array in registers only where every index
// is known, and one dynamic index anywhere puts the whole block in slow
// local memory.

const TILE_THREADS: u32 = 128u;
const TILE_M: u32 = 64u;
const TILE_N: u32 = 128u;
const TILE_K: u32 = 16u;
// Rows of A an invocation gathers are lid / 4 and + A_ROW_STEP.
const A_ROW_STEP: u32 = TILE_THREADS / 4u;

// Both tiles pack 4 consecutive k into a vec4, so that the inner loop reads
// 4 k per workgroup-memory load and each staging invocation writes whole
// vec4s (an invocation writing one component of a vec4 that another writes
// too would race: a component write may rewrite the whole vector):
// a_tile[(kk / 4) · TILE_M + m][kk % 4] = A[m0 + m, k0 + kk],
// b_tile[(kk / 4) · TILE_N + n][kk % 4] = B[k0 + kk, n0 + n].
var<workgroup> a_tile: array<vec4<f32>, 256>;
var<workgroup> b_tile: array<vec4<f32>, 512>;

// What invocation lid gathers of a slice k0 … +15: a[q] = A[m0 + lid / 4 +
// A_ROW_STEP·q, k0 + 4·(lid % 4) … +3] (rows past the edge and k past the
// depth 0) and b[g] = B[k0 + 4·g … +3, n0 + lid].
struct Slice {
    a: array<vec4<f32>, 2>,
    b: array<vec4<f32>, 4>,
}

fn stage_slice(lid: u32, s: Slice) {
    a_tile[(lid % 4u) * TILE_M + lid / 4u] = s.a[0];
    a_tile[(lid % 4u) * TILE_M + lid / 4u + A_ROW_STEP] = s.a[1];
    for (var g = 0u; g < TILE_K / 4u; g++) {
        b_tile[g * TILE_N + lid] = s.b[g];
    }
}

// Column j (0 … 7) of invocation tn's block within the tile: tn + 16·j, so
// that the 16 invocations of a row read neighbouring vec4s of b_tile (no
// bank conflicts) and store neighbouring outputs; ascending in j.
fn tile_column(tn: u32, j: u32) -> u32 {
    return tn + 16u * j;
}

// An invocation's 8 × 8 block: acc[j] holds rows 8·tm … +3 of column
// tile_column(tn, j), acc[8 + j] rows 8·tm + 4 … +7.
alias Block = array<vec4<f32>, 16>;

// c + k0·b.x + k1·b.y + k2·b.z + k3·b.w, k by k (one multiply-add each):
// one column's 4 rows, given the rows at 4 k as columns k0 … k3 and the
// column's 4 k as b.
fn add_column(c: vec4<f32>, k0: vec4<f32>, k1: vec4<f32>, k2: vec4<f32>, k3: vec4<f32>, b: vec4<f32>) -> vec4<f32> {
    return c + k0 * b.x + k1 * b.y + k2 * b.z + k3 * b.w;
}

// acc += A[8·tm … +7, slice] · B[slice, tile_column(tn, 0 … 7)] over the
// staged slice; returns Σ over the slice of A[8·tm … +3, ·] and of
// A[8·tm + 4 … +7, ·] (the weight gradient's bias; the others ignore it).
fn multiply_tiles(acc: ptr<function, Block>, tm: u32, tn: u32) -> array<vec4<f32>, 2> {
    var a_sum: array<vec4<f32>, 2>;
    for (var g = 0u; g < TILE_K / 4u; g++) {
        // Rows 8·tm … +7 at k = 4·g … +3, then as columns: lo[c] = rows
        // 8·tm … +3 at k = 4·g + c, hi[c] rows 8·tm + 4 … +7.
        let at = g * TILE_M + 8u * tm;
        let r0 = a_tile[at];
        let r1 = a_tile[at + 1u];
        let r2 = a_tile[at + 2u];
        let r3 = a_tile[at + 3u];
        let r4 = a_tile[at + 4u];
        let r5 = a_tile[at + 5u];
        let r6 = a_tile[at + 6u];
        let r7 = a_tile[at + 7u];
        let lo0 = vec4<f32>(r0.x, r1.x, r2.x, r3.x);
        let lo1 = vec4<f32>(r0.y, r1.y, r2.y, r3.y);
        let lo2 = vec4<f32>(r0.z, r1.z, r2.z, r3.z);
        let lo3 = vec4<f32>(r0.w, r1.w, r2.w, r3.w);
        let hi0 = vec4<f32>(r4.x, r5.x, r6.x, r7.x);
        let hi1 = vec4<f32>(r4.y, r5.y, r6.y, r7.y);
        let hi2 = vec4<f32>(r4.z, r5.z, r6.z, r7.z);
        let hi3 = vec4<f32>(r4.w, r5.w, r6.w, r7.w);
        let b_at = g * TILE_N + tn;
        // Column j's 4 k at b_tile[b_at + 16·j]; written out, not looped (see above).
        var b = b_tile[b_at];
        (*acc)[0] = add_column((*acc)[0], lo0, lo1, lo2, lo3, b);
        (*acc)[8] = add_column((*acc)[8], hi0, hi1, hi2, hi3, b);
        b = b_tile[b_at + 16u];
        (*acc)[1] = add_column((*acc)[1], lo0, lo1, lo2, lo3, b);
        (*acc)[9] = add_column((*acc)[9], hi0, hi1, hi2, hi3, b);
        b = b_tile[b_at + 32u];
        (*acc)[2] = add_column((*acc)[2], lo0, lo1, lo2, lo3, b);
        (*acc)[10] = add_column((*acc)[10], hi0, hi1, hi2, hi3, b);
        b = b_tile[b_at + 48u];
        (*acc)[3] = add_column((*acc)[3], lo0, lo1, lo2, lo3, b);
        (*acc)[11] = add_column((*acc)[11], hi0, hi1, hi2, hi3, b);
        b = b_tile[b_at + 64u];
        (*acc)[4] = add_column((*acc)[4], lo0, lo1, lo2, lo3, b);
        (*acc)[12] = add_column((*acc)[12], hi0, hi1, hi2, hi3, b);
        b = b_tile[b_at + 80u];
        (*acc)[5] = add_column((*acc)[5], lo0, lo1, lo2, lo3, b);
        (*acc)[13] = add_column((*acc)[13], hi0, hi1, hi2, hi3, b);
        b = b_tile[b_at + 96u];
        (*acc)[6] = add_column((*acc)[6], lo0, lo1, lo2, lo3, b);
        (*acc)[14] = add_column((*acc)[14], hi0, hi1, hi2, hi3, b);
        b = b_tile[b_at + 112u];
        (*acc)[7] = add_column((*acc)[7], lo0, lo1, lo2, lo3, b);
        (*acc)[15] = add_column((*acc)[15], hi0, hi1, hi2, hi3, b);
        a_sum[0] += lo0 + lo1 + lo2 + lo3;
        a_sum[1] += hi0 + hi1 + hi2 + hi3;
    }
    return a_sum;
}

// Hands the block to the kernel's store_quad(m, n, v): v holds rows
// m … m + 3 (within the tile) of column n (within the tile); written out,
// not looped (see above).
fn store_block(acc: ptr<function, Block>, tm: u32, tn: u32) {
    let m = 8u * tm;
    store_quad(m, tile_column(tn, 0u), (*acc)[0]);
    store_quad(m, tile_column(tn, 1u), (*acc)[1]);
    store_quad(m, tile_column(tn, 2u), (*acc)[2]);
    store_quad(m, tile_column(tn, 3u), (*acc)[3]);
    store_quad(m, tile_column(tn, 4u), (*acc)[4]);
    store_quad(m, tile_column(tn, 5u), (*acc)[5]);
    store_quad(m, tile_column(tn, 6u), (*acc)[6]);
    store_quad(m, tile_column(tn, 7u), (*acc)[7]);
    store_quad(m + 4u, tile_column(tn, 0u), (*acc)[8]);
    store_quad(m + 4u, tile_column(tn, 1u), (*acc)[9]);
    store_quad(m + 4u, tile_column(tn, 2u), (*acc)[10]);
    store_quad(m + 4u, tile_column(tn, 3u), (*acc)[11]);
    store_quad(m + 4u, tile_column(tn, 4u), (*acc)[12]);
    store_quad(m + 4u, tile_column(tn, 5u), (*acc)[13]);
    store_quad(m + 4u, tile_column(tn, 6u), (*acc)[14]);
    store_quad(m + 4u, tile_column(tn, 7u), (*acc)[15]);
}

// The digits (outer, middle, inner) of k0 + j in a counter whose middle
// and inner digits count to `radix`.x and `radix`.y, for a slice's first k0
// (a multiple of TILE_K: splits and slices start at one) and j < TILE_K:
// how the forward and ∂/∂x kernels find a slice's taps. The forward pass
// passes a radix of pipeline constants, and ∂/∂x does where its stride
// divides its kernel (else a residue class's taps are its own), so the
// divisions are by constants; and where radix.x · radix.y divides TILE_K
// (forward: 1×1, 2×2 and 4×4 kernels; ∂/∂x: e.g. 4×4 at stride 2, 3×3 at
// stride 2, 2×2 or 4×4 at stride 1), every slice holds whole outer digits: k0's outer
// digit is the slice's alone, the rest constants of j once a kernel's
// loops over j unroll, so a tap's place in the input is the same offset
// in every slice and nothing is carried from one tap to the next.
fn digits(k0: u32, j: u32, radix: vec2<u32>) -> vec3<u32> {
    let per = radix.x * radix.y;
    var outer = (k0 + j) / per;
    var r = (k0 + j) % per;
    if (TILE_K % per == 0u) {
        outer = k0 / per + j / per;
        r = j % per;
    }
    return vec3<u32>(outer, r / radix.y, r % radix.y);
}

// The next value of a three-digit counter (outer, middle, inner) whose
// middle and inner digits count to `radix`.x and `radix`.y: how the weight
// gradient walks a slice's positions without a division per element.
fn counter_next(c: vec3<u32>, radix: vec2<u32>) -> vec3<u32> {
    var n = c + vec3<u32>(0u, 0u, 1u);
    if (n.z == radix.y) {
        n = vec3<u32>(n.x, n.y + 1u, 0u);
        if (n.y == radix.x) {
            n = vec3<u32>(n.x + 1u, 0u, 0u);
        }
    }
    return n;
}
