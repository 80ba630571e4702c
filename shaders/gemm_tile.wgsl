// gemm_tile: the shared part of the tiled implicit-GEMM convolution kernels
// (conv2d_forward_tiled, conv2d_input_grad_tiled, conv2d_weight_grad_tiled),
// prepended to each after conv_params.wgsl at compile time. A workgroup of
// 64 computes a TILE_M × TILE_N block of C = A·B: per TILE_K-deep slice it
// stages A's rows in a_tile and B's columns in b_tile, then invocation
// (tm, tn) = (lid / 8, lid % 8) accumulates rows 4·tm … +3 × columns
// 8·tn … +7. What A and B are, and how a slice is gathered, is each
// kernel's own.

const TILE_M: u32 = 32u;
const TILE_N: u32 = 64u;
const TILE_K: u32 = 16u;

// a_tile[kk · TILE_M + m] = A[m0 + m, k0 + kk]; b_tile[kk · TILE_N + n] = B[k0 + kk, n0 + n].
var<workgroup> a_tile: array<f32, 512>;
var<workgroup> b_tile: array<f32, 1024>;

// acc[j] += A[4·tm … +3, slice] · B[slice, 8·tn + j] over the staged slice;
// returns Σ over the slice of A[4·tm … +3, ·] (the weight gradient's bias).
fn multiply_tiles(acc: ptr<function, array<vec4<f32>, 8>>, tm: u32, tn: u32) -> vec4<f32> {
    var a_sum = vec4<f32>(0.0);
    for (var kk = 0u; kk < TILE_K; kk++) {
        let aa = kk * TILE_M + 4u * tm;
        let a = vec4<f32>(a_tile[aa], a_tile[aa + 1u], a_tile[aa + 2u], a_tile[aa + 3u]);
        let ba = kk * TILE_N + 8u * tn;
        for (var j = 0u; j < 8u; j++) {
            (*acc)[j] += a * b_tile[ba + j];
        }
        a_sum += a;
    }
    return a_sum;
}

// The next value of a three-digit counter (outer, middle, inner) whose
// middle and inner digits count to `radix`.x and `radix`.y: how the kernels
// walk a slice's taps or positions without a division per element.
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
