// conv2d_weight_grad_tiled: conv2d_weight_grad.wgsl's partial sums of ∂L/∂W
// and ∂L/∂bias over one chunk of the batch each, as a tiled implicit GEMM
// for hardware GPUs (software adapters run the direct kernel faster: see
// Gpu::conv_kernels):
//   ∂L/∂W[co, t] = Σ_n dz[co, n] · X̂[t, n],   ∂L/∂bias[co] = Σ_n dz[co, n],
// with n = (image, oy, ox) running over the chunk's output positions, t =
// (ci, ky, kx) a tap and X̂[t, n] = x[image, ci, oy·s + ky − pad, ox·s + kx − pad]
// (0 in the padding), gathered tile by tile, never stored.
//
// Bindings (group 0), as conv2d_weight_grad:
//   0 uniform ConvParams p
//   1 storage read  dz       [batch, c_out, h_out, w_out]  ∂L/∂(pre-activation)
//   2 storage read  x        [batch, c_in, h_in, w_in]     (layer input)
//   3 storage write partial  [n_chunks, n_w + c_out]: ∂L/∂W ([c_out, K]) then ∂L/∂bias
// One workgroup of TILE_THREADS per (chunk, tile of TILE_M output channels
// × TILE_N taps) (workgroup index = (chunk · channel tiles + channel tile)
// · tap tiles + tap tile). Per TILE_K positions the workgroup stages
// dz[TILE_M × TILE_K] and X̂[TILE_N × TILE_K] in workgroup memory, then
// each invocation accumulates an 8 channel × 8 tap block; the first tap
// tile also sums the biases.
// reduce_rows.wgsl then sums the chunks' rows.

// ConvParams comes from conv_params.wgsl; TILE_*, Slice, stage_slice
// (dz's slice as A, X̂'s as B), Block, multiply_tiles, store_block and
// counter_next from gemm_tile.wgsl; both prepended at compile time.
@group(0) @binding(0) var<uniform> p: ConvParams;
@group(0) @binding(1) var<storage, read> dz: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> partial: array<f32>;

// The workgroup's first output channel and tap, and where its chunk's row
// starts in `partial`: set by main, read by store_quad.
var<private> co0: u32;
var<private> t0: u32;
var<private> row: u32;

@compute @workgroup_size(TILE_THREADS)
fn main(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let kk2 = p.kernel * p.kernel;
    let taps = p.c_in * kk2;
    let out_plane = p.h_out * p.w_out;
    let t_tiles = (taps + TILE_N - 1u) / TILE_N;
    let m_tiles = (p.c_out + TILE_M - 1u) / TILE_M;
    let tile = wg.x + wg.y * groups.x;
    // Uniform per workgroup, so the barriers below are reached by all or none.
    if (tile >= p.n_chunks * m_tiles * t_tiles) {
        return;
    }
    t0 = (tile % t_tiles) * TILE_N;
    co0 = ((tile / t_tiles) % m_tiles) * TILE_M;
    let chunk = tile / (t_tiles * m_tiles);
    let b_start = chunk * p.batch_chunk;
    let b_end = min(b_start + p.batch_chunk, p.batch);
    let positions = (b_end - b_start) * out_plane;
    let tm = lid / 16u;
    let tn = lid % 16u;

    // The tap this invocation stages (row lid of X̂'s tile), fixed over the positions.
    let t_stage = t0 + lid;
    let tap_ok = t_stage < taps;
    let ci = t_stage / kk2;
    let ky = i32((t_stage % kk2) / p.kernel) - i32(p.padding);
    let kx = i32(t_stage % p.kernel) - i32(p.padding);
    let x_plane = ci * p.h_in * p.w_in;
    let in_image = p.c_in * p.h_in * p.w_in;
    // The 4 positions (n0 + 4·g_dz … +3) and the 2 channels (m_dz, m_dz +
    // A_ROW_STEP) this invocation stages for dz.
    let g_dz = lid % 4u;
    let m_dz = lid / 4u;

    // Zero, as every WGSL variable starts.
    var acc: Block;
    // Σ dz of channels co0 + 8·tm … +3 and + 4 … +7.
    var bias_lo = vec4<f32>(0.0);
    var bias_hi = vec4<f32>(0.0);
    for (var n0 = 0u; n0 < positions; n0 += TILE_K) {
        var slice: Slice;
        // dz[co0 + m, n0 + 4·g_dz … +3], walking (image, position in the
        // image) without a division per position.
        let n_dz = n0 + 4u * g_dz;
        var b_dz = b_start + n_dz / out_plane;
        var o_dz = n_dz % out_plane;
        for (var c = 0u; c < 4u; c++) {
            if (n_dz + c < positions) {
                let at = (b_dz * p.c_out + co0 + m_dz) * out_plane + o_dz;
                if (co0 + m_dz < p.c_out) {
                    slice.a[0][c] = dz[at];
                }
                if (co0 + m_dz + A_ROW_STEP < p.c_out) {
                    slice.a[1][c] = dz[at + A_ROW_STEP * out_plane];
                }
            }
            o_dz += 1u;
            if (o_dz == out_plane) {
                o_dz = 0u;
                b_dz += 1u;
            }
        }
        // X̂[t_stage, n0 .. +TILE_K]: this invocation's tap, TILE_K positions,
        // walking (image, oy, ox) from n0's without a division per position.
        var at = vec3<u32>(b_start + n0 / out_plane, (n0 % out_plane) / p.w_out, n0 % p.w_out);
        for (var g = 0u; g < TILE_K / 4u; g++) {
            var v = vec4<f32>(0.0);
            for (var c = 0u; c < 4u; c++) {
                let iy = i32(at.y * p.stride) + ky;
                let ix = i32(at.z * p.stride) + kx;
                if (tap_ok && n0 + 4u * g + c < positions && iy >= 0 && iy < i32(p.h_in) && ix >= 0 && ix < i32(p.w_in)) {
                    v[c] = x[at.x * in_image + x_plane + u32(iy) * p.w_in + u32(ix)];
                }
                at = counter_next(at, vec2<u32>(p.h_out, p.w_out));
            }
            slice.b[g] = v;
        }
        // (See gemm_tile.wgsl: the loads above are in flight meanwhile.)
        if (n0 > 0u) {
            let sums = multiply_tiles(&acc, tm, tn);
            bias_lo += sums[0];
            bias_hi += sums[1];
        }
        workgroupBarrier();
        stage_slice(lid, slice);
        workgroupBarrier();
    }
    // (A chunk past the batch has no positions: its sums are 0.)
    if (positions > 0u) {
        let sums = multiply_tiles(&acc, tm, tn);
        bias_lo += sums[0];
        bias_hi += sums[1];
    }
    row = chunk * (p.c_out * taps + p.c_out);
    store_block(&acc, tm, tn);
    if (t0 == 0u && tn == 0u) {
        store_bias(8u * tm, bias_lo);
        store_bias(8u * tm + 4u, bias_hi);
    }
}

// ∂L/∂W of output channels co0 + m … +3 at tap t0 + n (v: their sums),
// past the edges not stored.
fn store_quad(m: u32, n: u32, v: vec4<f32>) {
    let taps = p.c_in * p.kernel * p.kernel;
    let t = t0 + n;
    if (t >= taps) {
        return;
    }
    for (var i = 0u; i < 4u; i++) {
        if (co0 + m + i < p.c_out) {
            partial[row + (co0 + m + i) * taps + t] = v[i];
        }
    }
}

// ∂L/∂bias of output channels co0 + m … +3 (v), past the edge not stored.
fn store_bias(m: u32, v: vec4<f32>) {
    let n_w = p.c_out * p.c_in * p.kernel * p.kernel;
    for (var i = 0u; i < 4u; i++) {
        if (co0 + m + i < p.c_out) {
            partial[row + n_w + co0 + m + i] = v[i];
        }
    }
}
