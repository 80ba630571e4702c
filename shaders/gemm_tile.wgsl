// gemm_tile: the shared part of the tiled implicit-GEMM convolution kernels
// (conv2d_forward_tiled, conv2d_input_grad_tiled, conv2d_weight_grad_tiled),
// prepended to each after conv_params.wgsl at compile time. A workgroup of
// 64 computes a TILE_M × TILE_N block of C = A·B: per TILE_K-deep slice it
// stages A's rows in a_tile and B's columns in b_tile, then invocation
// (tm, tn) = (lid / 8, lid % 8) accumulates rows 4·tm … +3 × the 8 columns
// tile_column(tn, 0 … 7). What A and B are, and how a slice is gathered, is each
// kernel's own.

const TILE_M: u32 = 32u;
const TILE_N: u32 = 64u;
const TILE_K: u32 = 16u;

// Both tiles are stored as vec4s so that the inner loop reads 4 values per
// workgroup-memory load: a_tile[kk · TILE_M / 4 + m / 4][m % 4] = A[m0 + m, k0 + kk],
// b_tile[kk · TILE_N / 4 + n / 4][n % 4] = B[k0 + kk, n0 + n].
var<workgroup> a_tile: array<vec4<f32>, 128>;
var<workgroup> b_tile: array<vec4<f32>, 256>;

fn stage_a(kk: u32, m: u32, v: f32) {
    a_tile[kk * (TILE_M / 4u) + m / 4u][m % 4u] = v;
}

fn stage_b(kk: u32, n: u32, v: f32) {
    b_tile[kk * (TILE_N / 4u) + n / 4u][n % 4u] = v;
}

// Column j (0 … 7) of invocation tn's block within the tile: 4·tn … +3,
// then 32 + 4·tn … +3. Two vec4s of b_tile that the 8 invocations of a row
// read side by side (no bank conflicts), ascending in j.
fn tile_column(tn: u32, j: u32) -> u32 {
    return 4u * tn + (j % 4u) + (TILE_N / 2u) * (j / 4u);
}

// acc[j] += A[4·tm … +3, slice] · B[slice, tile_column(tn, j)] over the
// staged slice; returns Σ over the slice of A[4·tm … +3, ·] (the weight
// gradient's bias).
fn multiply_tiles(acc: ptr<function, array<vec4<f32>, 8>>, tm: u32, tn: u32) -> vec4<f32> {
    var a_sum = vec4<f32>(0.0);
    for (var kk = 0u; kk < TILE_K; kk++) {
        let a = a_tile[kk * (TILE_M / 4u) + tm];
        let b_lo = b_tile[kk * (TILE_N / 4u) + tn];
        let b_hi = b_tile[kk * (TILE_N / 4u) + TILE_N / 8u + tn];
        for (var j = 0u; j < 4u; j++) {
            (*acc)[j] += a * b_lo[j];
            (*acc)[j + 4u] += a * b_hi[j];
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
