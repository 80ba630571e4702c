// conv2d_input_grad_tiled: conv2d_input_grad.wgsl's dx = ∂L/∂x as a tiled
// implicit GEMM for hardware GPUs (software adapters run the direct kernel
// faster: see Gpu::conv_kernels). With stride s, input pixel (iy, ix)
// at padded (ty, tx) = (iy + pad, ix + pad) is reached only through taps
// ky = ty mod s + a·s, kx = tx mod s + c·s, from output (⌊ty/s⌋ − a, ⌊tx/s⌋ − c).
// The pixels of one residue class (ty mod s, tx mod s) share those taps, so
// per class
//   dX[ci, n] = Σ_k A[ci, k] · B[k, n],   k = (co, a, c),
//   A[ci, k] = W[co, ci, ky, kx],   B[k, n] = dz[image, co, ⌊ty/s⌋ − a, ⌊tx/s⌋ − c]
// (0 outside the output), n running over the class's pixels of all images.
//
// Bindings (group 0), as conv2d_input_grad:
//   0 uniform ConvParams p
//   1 storage read  dz      [batch, c_out, h_out, w_out]  ∂L/∂(pre-activation)
//   2 storage read  params  flat parameter vector; W at p.weight_offset
//   3 storage write dx      [batch, c_in, h_in, w_in]
//   4 storage write partial [p.input_grad_splits, batch, c_in, h_in, w_in]
//                           if split: each split's sums (conv2d_split_sum adds
//                           them, and applies INPUT_LEAKY_RELU's LeakyReLU')
//   5 storage read  x       [batch, c_in, h_in, w_in], the layer input (read if
//                           INPUT_LEAKY_RELU)
// One workgroup of TILE_THREADS per (split of the k, class, tile of TILE_M
// input channels × TILE_N pixels) (workgroup index = ((split · classes +
// class) · channel tiles + channel tile) · pixel tiles + pixel tile; every
// class is tiled as the largest, the rest masked; with few tiles the k are
// split, as in conv2d_forward_tiled). Per TILE_K k the workgroup stages
// A[TILE_M × TILE_K] and B[TILE_K × TILE_N] in workgroup memory, then each
// invocation accumulates 8 channels × 8 pixels.
// With INPUT_LEAKY_RELU (x is the output of the layer before's LeakyReLU),
// dx is ∂L/∂(that layer's pre-activation), as in conv2d_input_grad.
override INPUT_LEAKY_RELU: bool = false;
// Specialised to the layer's kernel size and stride (p.kernel, p.stride as
// pipeline constants), so that a class's taps come by constant divisions
// (digits) where the stride divides the kernel: every class then has
// KERNEL / STRIDE taps per axis.
override KERNEL: u32;
override STRIDE: u32;

// ConvParams comes from conv_params.wgsl; TILE_*, Slice, stage_slice,
// Block, multiply_tiles, store_block and digits from gemm_tile.wgsl;
// both prepended at compile time.
@group(0) @binding(0) var<uniform> p: ConvParams;
@group(0) @binding(1) var<storage, read> dz: array<f32>;
@group(0) @binding(2) var<storage, read> params: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;
@group(0) @binding(4) var<storage, read_write> partial: array<f32>;
@group(0) @binding(5) var<storage, read> x: array<f32>;

// The workgroup's first input channel and pixel, its residue class's first
// row and column (ys.x, xs.x) and counts (ys.y, xs.y), and where its
// split's sums start in `partial`: set by main, read by store_quad.
var<private> ci0: u32;
var<private> n0: u32;
var<private> ys: vec2<u32>;
var<private> xs: vec2<u32>;
var<private> split_at: u32;

// First row (or column) of a residue class: the smallest i ≥ 0 with
// (i + pad) mod s = class, and how many of size `len` there are.
fn class_start(residue: u32, len: u32) -> vec2<u32> {
    let s = STRIDE;
    let first = (residue + s - p.padding % s) % s;
    if (first >= len) {
        return vec2<u32>(first, 0u);
    }
    return vec2<u32>(first, (len - first + s - 1u) / s);
}

@compute @workgroup_size(TILE_THREADS)
fn main(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let s = STRIDE;
    let k = KERNEL;
    let rows_max = (p.h_in + s - 1u) / s;
    let cols_max = (p.w_in + s - 1u) / s;
    let n_tiles = (p.batch * rows_max * cols_max + TILE_N - 1u) / TILE_N;
    let m_tiles = (p.c_in + TILE_M - 1u) / TILE_M;
    let group = wg.x + wg.y * groups.x;
    // Uniform per workgroup, so the barriers below are reached by all or none.
    if (group >= s * s * m_tiles * n_tiles * p.input_grad_splits) {
        return;
    }
    let tile = group % (s * s * m_tiles * n_tiles);
    let split = group / (s * s * m_tiles * n_tiles);
    n0 = (tile % n_tiles) * TILE_N;
    ci0 = ((tile / n_tiles) % m_tiles) * TILE_M;
    let residue = tile / (n_tiles * m_tiles);
    let cy = residue / s;
    let cx = residue % s;
    ys = class_start(cy, p.h_in);
    xs = class_start(cx, p.w_in);
    let pixels = p.batch * ys.y * xs.y;
    // Taps of the class: a < taps_y, c < taps_x (ky = cy + a·s < k).
    var taps_y = (k - min(cy, k) + s - 1u) / s;
    var taps_x = (k - min(cx, k) + s - 1u) / s;
    if (k % s == 0u) {
        taps_y = k / s;
        taps_x = k / s;
    }
    let taps = taps_y * taps_x;
    let depth = p.c_out * taps;
    // The split's k: whole slices, as in conv2d_forward_tiled (of this
    // class's depth: a class with fewer taps has shorter, or no, splits).
    let per_split = ((depth + TILE_K - 1u) / TILE_K + p.input_grad_splits - 1u) / p.input_grad_splits * TILE_K;
    let k_begin = split * per_split;
    let k_end = min(k_begin + per_split, depth);
    let tm = lid / 16u;
    let tn = lid % 16u;

    // The pixel this invocation stages (column lid of B's tile).
    let n_stage = n0 + lid;
    let stage_ok = n_stage < pixels;
    var b_img = 0u;
    var oy_top = 0;
    var ox_left = 0;
    if (stage_ok) {
        b_img = n_stage / (ys.y * xs.y);
        let r = n_stage % (ys.y * xs.y);
        oy_top = i32((ys.x + s * (r / xs.y) + p.padding) / s);
        ox_left = i32((xs.x + s * (r % xs.y) + p.padding) / s);
    }
    // The 4 k (k0 + 4·g_a … +3) and the 2 channels (m_a, m_a + A_ROW_STEP)
    // this invocation stages for A.
    let g_a = lid % 4u;
    let m_a = lid / 4u;

    // Zero, as every WGSL variable starts.
    var acc: Block;
    for (var k0 = k_begin; k0 < k_end; k0 += TILE_K) {
        var slice: Slice;
        // A[ci0 + m, k] = W[co, ci, ky, kx] at k = k0 + 4·g_a + c, (co, a, c).
        let ka = k0 + 4u * g_a;
        for (var c = 0u; c < 4u; c++) {
            let pair_a = digits(k0, 4u * g_a + c, vec2<u32>(taps_y, taps_x));
            if (ka + c < depth) {
                let w_at = (pair_a.x * p.c_in + ci0 + m_a) * k + cy + s * pair_a.y;
                let kx_a = cx + s * pair_a.z;
                if (ci0 + m_a < p.c_in) {
                    slice.a[0][c] = params[p.weight_offset + w_at * k + kx_a];
                }
                if (ci0 + m_a + A_ROW_STEP < p.c_in) {
                    slice.a[1][c] = params[p.weight_offset + (w_at + A_ROW_STEP * k) * k + kx_a];
                }
            }
        }
        // B[k0 .. +TILE_K, n_stage]: k = k0 + 4·g + c at (co, a, c).
        for (var g = 0u; g < TILE_K / 4u; g++) {
            var v = vec4<f32>(0.0);
            for (var c = 0u; c < 4u; c++) {
                let pair = digits(k0, 4u * g + c, vec2<u32>(taps_y, taps_x));
                let oy = oy_top - i32(pair.y);
                let ox = ox_left - i32(pair.z);
                if (stage_ok && pair.x < p.c_out && oy >= 0 && oy < i32(p.h_out) && ox >= 0 && ox < i32(p.w_out)) {
                    v[c] = dz[((b_img * p.c_out + pair.x) * p.h_out + u32(oy)) * p.w_out + u32(ox)];
                }
            }
            slice.b[g] = v;
        }
        // (See gemm_tile.wgsl: the loads above are in flight meanwhile.)
        if (k0 > k_begin) {
            multiply_tiles(&acc, tm, tn);
        }
        workgroupBarrier();
        stage_slice(lid, slice);
        workgroupBarrier();
    }
    // (A class no tap reaches has no slice: its pixels' gradient is 0.)
    if (k_end > k_begin) {
        multiply_tiles(&acc, tm, tn);
    }
    split_at = split * p.batch * p.c_in * p.h_in * p.w_in;
    store_block(&acc, tm, tn);
}

// Input channels ci0 + m … +3 at the class's pixel n0 + n (v: their
// sums), past the edges not stored.
fn store_quad(m: u32, n: u32, v: vec4<f32>) {
    let pixel = n0 + n;
    if (pixel >= p.batch * ys.y * xs.y) {
        return;
    }
    let img = pixel / (ys.y * xs.y);
    let r = pixel % (ys.y * xs.y);
    let iy = ys.x + STRIDE * (r / xs.y);
    let ix = xs.x + STRIDE * (r % xs.y);
    let plane = p.h_in * p.w_in;
    let at0 = ((img * p.c_in + ci0 + m) * p.h_in + iy) * p.w_in + ix;
    for (var i = 0u; i < 4u; i++) {
        if (ci0 + m + i < p.c_in) {
            let at = at0 + i * plane;
            if (p.input_grad_splits > 1u) {
                partial[split_at + at] = v[i];
            } else if (INPUT_LEAKY_RELU) {
                dx[at] = leaky_relu_backward(v[i], x[at], 1u);
            } else {
                dx[at] = v[i];
            }
        }
    }
}
