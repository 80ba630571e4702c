// conv2d_forward_tiled: conv2d_forward.wgsl's y = LeakyReLU?(conv2d(x, W) + bias)
// as a tiled implicit GEMM, for hardware GPUs (software adapters run the
// direct kernel faster: see Gpu::conv_kernels):
//   Y[co, n] = Σ_k W[co, k] · X̂[k, n] + bias[co],
// with n = (image, oy, ox) an output position and k = (ci, ky, kx) a tap;
// X̂[k, n] = x[image, ci, oy·s + ky − pad, ox·s + kx − pad] (0 in the
// padding) is never stored: each tile of it is gathered from x.
//
// Bindings (group 0):
//   0 uniform ConvParams p
//   1 storage read  x       [batch, c_in, h_in, w_in]   (NCHW, f32)
//   2 storage read  params  flat parameter vector; W at p.weight_offset
//                           ([c_out, c_in, k, k] = [c_out, K] row-major),
//                           bias at p.bias_offset ([c_out])
//   3 storage write y       [batch, c_out, h_out, w_out]
//   4 storage write partial [p.forward_splits, batch, c_out, h_out, w_out]
//                           if split: each split's sums, without bias
//                           (conv2d_split_sum adds them, the bias, LeakyReLU)
// One workgroup of TILE_THREADS per tile of TILE_M output channels ×
// TILE_N positions and split of the taps (workgroup index = (split ·
// channel tiles + channel tile) · position tiles + position tile; with few
// tiles, as in deep layers, the taps are split so that a GPU has
// workgroups enough). Per TILE_K taps the workgroup stages W[TILE_M ×
// TILE_K] and X̂[TILE_K × TILE_N] in workgroup memory, then each
// invocation accumulates an 8 channel × 8 position block: a staged value
// is read by 16 (or 8) invocations, each global value loaded once per
// tile. Rows and columns past the edges are zeros, not stored.
// Cross-correlation (no kernel flip), zero padding, square kernel and stride.
// Specialised to the layer's kernel size (KERNEL = p.kernel, a pipeline
// constant), so that a slice's taps come by constant divisions (digits).
override KERNEL: u32;

// ConvParams and leaky_relu come from conv_params.wgsl; TILE_*, Slice,
// stage_slice, Block, multiply_tiles, store_block and digits from
// gemm_tile.wgsl; both prepended at compile time.
@group(0) @binding(0) var<uniform> p: ConvParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> params: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read_write> partial: array<f32>;

// The workgroup's first output channel and position, and where its split's
// sums start in `partial`: set by main, read by store_quad.
var<private> co0: u32;
var<private> n0: u32;
var<private> split_at: u32;

@compute @workgroup_size(TILE_THREADS)
fn main(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let taps = p.c_in * KERNEL * KERNEL;
    let out_plane = p.h_out * p.w_out;
    let positions = p.batch * out_plane;
    let n_tiles = (positions + TILE_N - 1u) / TILE_N;
    let m_tiles = (p.c_out + TILE_M - 1u) / TILE_M;
    let group = wg.x + wg.y * groups.x;
    // Uniform per workgroup, so the barriers below are reached by all or none.
    if (group >= n_tiles * m_tiles * p.forward_splits) {
        return;
    }
    let tile = group % (n_tiles * m_tiles);
    let split = group / (n_tiles * m_tiles);
    n0 = (tile % n_tiles) * TILE_N;
    co0 = (tile / n_tiles) * TILE_M;
    // The split's taps: whole slices, the same number for every split but
    // the last (which may have fewer, or none).
    let per_split = ((taps + TILE_K - 1u) / TILE_K + p.forward_splits - 1u) / p.forward_splits * TILE_K;
    let k_begin = split * per_split;
    let k_end = min(k_begin + per_split, taps);
    // This invocation's block: channels co0 + 8·tm … +7, positions n0 + tile_column(tn, 0 … 7).
    let tm = lid / 16u;
    let tn = lid % 16u;

    // The position each invocation stages (column lid of X̂'s tile), fixed
    // over the taps: its image and the top-left corner of its window.
    let n_stage = n0 + lid;
    let stage_ok = n_stage < positions;
    let b = n_stage / out_plane;
    let o = n_stage % out_plane;
    let iy0 = i32((o / p.w_out) * p.stride) - i32(p.padding);
    let ix0 = i32((o % p.w_out) * p.stride) - i32(p.padding);
    let x_image = b * p.c_in * p.h_in * p.w_in;
    // The 4 taps k0 + 4·g_a … +3 this invocation stages for W.
    let g_a = lid % 4u;

    // Zero, as every WGSL variable starts.
    var acc: Block;
    for (var k0 = k_begin; k0 < k_end; k0 += TILE_K) {
        var slice: Slice;
        // W[co0 .. +TILE_M, k0 .. +TILE_K]: rows lid / 4 and + A_ROW_STEP, 4 taps each.
        for (var q = 0u; q < 2u; q++) {
            let m = lid / 4u + A_ROW_STEP * q;
            let k = k0 + 4u * g_a;
            if (co0 + m < p.c_out) {
                let row = p.weight_offset + (co0 + m) * taps;
                for (var c = 0u; c < 4u; c++) {
                    if (k + c < taps) {
                        slice.a[q][c] = params[row + k + c];
                    }
                }
            }
        }
        // X̂[k0 .. +TILE_K, n_stage]: this invocation's column, tap
        // k0 + 4·g + c at (ci, ky, kx).
        for (var g = 0u; g < TILE_K / 4u; g++) {
            var v = vec4<f32>(0.0);
            for (var c = 0u; c < 4u; c++) {
                let tap = digits(k0, 4u * g + c, vec2<u32>(KERNEL));
                let iy = iy0 + i32(tap.y);
                let ix = ix0 + i32(tap.z);
                if (stage_ok && tap.x < p.c_in && iy >= 0 && iy < i32(p.h_in) && ix >= 0 && ix < i32(p.w_in)) {
                    v[c] = x[x_image + (tap.x * p.h_in + u32(iy)) * p.w_in + u32(ix)];
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
    if (k_end > k_begin) {
        multiply_tiles(&acc, tm, tn);
    }
    split_at = split * positions * p.c_out;
    store_block(&acc, tm, tn);
}

// Output channels co0 + m … +3 at position n0 + n (v: their sums), past
// the edges not stored.
fn store_quad(m: u32, n: u32, v: vec4<f32>) {
    let out_plane = p.h_out * p.w_out;
    let position = n0 + n;
    if (position >= p.batch * out_plane) {
        return;
    }
    let at0 = (position / out_plane * p.c_out + co0 + m) * out_plane + position % out_plane;
    for (var i = 0u; i < 4u; i++) {
        let co = co0 + m + i;
        if (co < p.c_out) {
            let at = at0 + i * out_plane;
            if (p.forward_splits == 1u) {
                y[at] = leaky_relu(v[i] + params[p.bias_offset + co], p.leaky_relu);
            } else {
                partial[split_at + at] = v[i];
            }
        }
    }
}
