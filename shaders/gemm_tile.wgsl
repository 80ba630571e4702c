// gemm_tile: the shared part of the tiled implicit-GEMM convolution kernels
// (conv2d_forward_tiled, conv2d_input_grad_tiled, conv2d_weight_grad_tiled),
// prepended to each after conv_params.wgsl at compile time. A workgroup of
// 64 computes a TILE_M × TILE_N block of C = A·B: per TILE_K-deep slice each
// invocation gathers its part of A's rows and B's columns into a Slice (4
// consecutive k per vec4) and stages it in a_tile and b_tile (stage_slice),
// then invocation (tm, tn) = (lid / 8, lid % 8) accumulates rows 4·tm … +3 ×
// the 8 columns tile_column(tn, 0 … 7). What A and B are, and how a slice is
// gathered, is each kernel's own. Each kernel's loop over the slices is
//   gather slice i into registers; multiply slice i − 1 (staged); barrier;
//   stage slice i; barrier;   and after the loop, multiply the last one,
// so that slice i's global loads are in flight while slice i − 1 is
// multiplied: the deep layers have few workgroups per GPU core, too few to
// hide the loads' latency behind each other's arithmetic. (The sums are
// those of gathering, staging and multiplying each slice in turn.)

const TILE_M: u32 = 32u;
const TILE_N: u32 = 64u;
const TILE_K: u32 = 16u;

// Both tiles pack 4 consecutive k into a vec4, so that the inner loop reads
// 4 k per workgroup-memory load and each staging invocation writes whole
// vec4s (an invocation writing one component of a vec4 that another writes
// too would race: a component write may rewrite the whole vector):
// a_tile[(kk / 4) · TILE_M + m][kk % 4] = A[m0 + m, k0 + kk],
// b_tile[(kk / 4) · TILE_N + n][kk % 4] = B[k0 + kk, n0 + n].
var<workgroup> a_tile: array<vec4<f32>, 128>;
var<workgroup> b_tile: array<vec4<f32>, 256>;

// What invocation lid gathers of a slice k0 … +15: a[q] = A[m0 + lid / 4 +
// 16·q, k0 + 4·(lid % 4) … +3] (rows past the edge and k past the depth 0)
// and b[g] = B[k0 + 4·g … +3, n0 + lid].
struct Slice {
    a: array<vec4<f32>, 2>,
    b: array<vec4<f32>, 4>,
}

fn stage_slice(lid: u32, s: Slice) {
    for (var q = 0u; q < 2u; q++) {
        a_tile[(lid % 4u) * TILE_M + lid / 4u + 16u * q] = s.a[q];
    }
    for (var g = 0u; g < TILE_K / 4u; g++) {
        b_tile[g * TILE_N + lid] = s.b[g];
    }
}

// Column j (0 … 7) of invocation tn's block within the tile: tn + 8·j, so
// that the 8 invocations of a row read neighbouring vec4s of b_tile (no
// bank conflicts) and store neighbouring outputs; ascending in j.
fn tile_column(tn: u32, j: u32) -> u32 {
    return tn + 8u * j;
}

// acc[j] += A[4·tm … +3, slice] · B[slice, tile_column(tn, j)] over the
// staged slice; returns Σ over the slice of A[4·tm … +3, ·] (the weight
// gradient's bias).
fn multiply_tiles(acc: ptr<function, array<vec4<f32>, 8>>, tm: u32, tn: u32) -> vec4<f32> {
    var a_sum = vec4<f32>(0.0);
    for (var g = 0u; g < TILE_K / 4u; g++) {
        // Rows 4·tm … +3 at k = 4·g … +3, then as columns: a_k[c] = those rows at k = 4·g + c.
        let at = g * TILE_M + 4u * tm;
        let r0 = a_tile[at];
        let r1 = a_tile[at + 1u];
        let r2 = a_tile[at + 2u];
        let r3 = a_tile[at + 3u];
        let a_k0 = vec4<f32>(r0.x, r1.x, r2.x, r3.x);
        let a_k1 = vec4<f32>(r0.y, r1.y, r2.y, r3.y);
        let a_k2 = vec4<f32>(r0.z, r1.z, r2.z, r3.z);
        let a_k3 = vec4<f32>(r0.w, r1.w, r2.w, r3.w);
        for (var j = 0u; j < 8u; j++) {
            let b = b_tile[g * TILE_N + tile_column(tn, j)];
            (*acc)[j] += a_k0 * b.x;
            (*acc)[j] += a_k1 * b.y;
            (*acc)[j] += a_k2 * b.z;
            (*acc)[j] += a_k3 * b.w;
        }
        a_sum += a_k0 + a_k1 + a_k2 + a_k3;
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
