// conv2d_forward: y = LeakyReLU?(conv2d(x, W) + bias), PyTorch conventions.
//
// Bindings (group 0):
//   0 uniform ConvParams p
//   1 storage read  x       [batch, c_in, h_in, w_in]   (NCHW, f32)
//   2 storage read  params  flat parameter vector; bias at p.bias_offset ([c_out])
//   3 storage write y       [batch, c_out, h_out, w_out]
//   4 storage read  views   W's forward view (conv2d_weight_views.wgsl):
//                           the 4 channels' weights of a tap in one vec4
//   5 storage read  x4      x again, as vec4s (read when X_VEC4)
// One invocation per image, output row, group of 4 output channels and
// group of 4 output columns (flat index = gid.x + gid.y * groups_x * 64):
// each input value loaded feeds 4 channels and each weight vec4 4 columns.
// The 4 columns' taps of an input row lie in one window of 3·STRIDE +
// KERNEL values, loaded once (as vec4s where rows start at multiples of 4)
// and read by every tap: for a 4×4 kernel of stride 2, 4 vec4 loads where
// 16 values were read one by one. Channels and columns past the edge are
// computed (on zero weights, clamped columns) and not stored.
// Cross-correlation (no kernel flip), zero padding, square kernel and stride.
//
// Specialised per layer (Gpu::specialised_pipeline), so that the loops
// over taps and window unroll and the window is indexed by constants:
// KERNEL, STRIDE and PADDING are p's; X_VEC4 says w_in % 4 == 0; window
// value i (padded column ox0·STRIDE + i) is at flat place i + WINDOW_SHIFT
// of `win` (vec4 loads start at the multiple of 4 at or before the
// window's first column). ConvParams::forward_constants sets them and
// checks that the window fits WINDOW_VEC4S vec4s.
override KERNEL: u32 = 3u;
override STRIDE: u32 = 1u;
override PADDING: u32 = 1u;
override X_VEC4: bool = false;
override WINDOW_SHIFT: u32 = 0u;
override WINDOW: u32 = 3u * STRIDE + KERNEL;
const WINDOW_VEC4S: u32 = 8u;

// ConvParams and leaky_relu come from conv_params.wgsl,
// prepended at compile time.
@group(0) @binding(0) var<uniform> p: ConvParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> params: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read> views: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> x4: array<vec4<f32>>;

// x at padded column t (input column t − padding) of row `row`, 0 outside.
fn x_at(row: u32, t: u32) -> f32 {
    if (t < PADDING || t - PADDING >= p.w_in) {
        return 0.0;
    }
    return x[row + t - PADDING];
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let idx = gid.x + gid.y * groups.x * 64u;
    let col_groups = (p.w_out + 3u) / 4u;
    let chan_groups = (p.c_out + 3u) / 4u;
    if (idx >= p.batch * chan_groups * p.h_out * col_groups) {
        return;
    }
    let ox0 = (idx % col_groups) * 4u;
    let oy = (idx / col_groups) % p.h_out;
    let co0 = ((idx / (col_groups * p.h_out)) % chan_groups) * 4u;
    let b = idx / (col_groups * p.h_out * chan_groups);
    let kk = KERNEL * KERNEL;
    let last = p.c_out - 1u;
    let co = vec4<u32>(co0, min(co0 + 1u, last), min(co0 + 2u, last), min(co0 + 3u, last));
    // The group's weights in the forward view, [c_in, k, k] vec4s.
    let w_group = (co0 / 4u) * p.c_in * kk;
    let bias = vec4<f32>(
        params[p.bias_offset + co.x],
        params[p.bias_offset + co.y],
        params[p.bias_offset + co.z],
        params[p.bias_offset + co.w]
    );
    // acc_j: the 4 channels at output column ox0 + j.
    var acc0 = bias;
    var acc1 = bias;
    var acc2 = bias;
    var acc3 = bias;
    var win: array<vec4<f32>, WINDOW_VEC4S>;
    for (var ci = 0u; ci < p.c_in; ci++) {
        let x_plane = (b * p.c_in + ci) * p.h_in;
        for (var ky = 0u; ky < KERNEL; ky++) {
            // Unsigned arithmetic: a row above the image wraps to a huge value.
            let iy = oy * STRIDE + ky - PADDING;
            if (oy * STRIDE + ky < PADDING || iy >= p.h_in) {
                continue;
            }
            let x_row = (x_plane + iy) * p.w_in;
            if (X_VEC4) {
                // Columns c0 … c0 + 3 of the row, zero outside it (rows are
                // whole vec4s, so a vec4 is all in or all out).
                let first = i32(ox0 * STRIDE) - i32(WINDOW_SHIFT + PADDING);
                for (var q = 0u; q < (WINDOW_SHIFT + WINDOW + 3u) / 4u; q++) {
                    let c0 = first + 4 * i32(q);
                    let inside = c0 >= 0 && c0 < i32(p.w_in);
                    let at = (x_row + u32(clamp(c0, 0, i32(p.w_in) - 4))) / 4u;
                    win[q] = select(vec4<f32>(0.0), x4[at], inside);
                }
            } else {
                for (var i = 0u; i < WINDOW; i++) {
                    win[i / 4u][i % 4u] = x_at(x_row, ox0 * STRIDE + i);
                }
            }
            let tap = w_group + ci * kk + ky * KERNEL;
            for (var kx = 0u; kx < KERNEL; kx++) {
                let w = views[tap + kx];
                let t0 = WINDOW_SHIFT + kx;
                acc0 += win[t0 / 4u][t0 % 4u] * w;
                let t1 = t0 + STRIDE;
                acc1 += win[t1 / 4u][t1 % 4u] * w;
                let t2 = t0 + 2u * STRIDE;
                acc2 += win[t2 / 4u][t2 % 4u] * w;
                let t3 = t0 + 3u * STRIDE;
                acc3 += win[t3 / 4u][t3 % 4u] * w;
            }
        }
    }
    let accs = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
    for (var i = 0u; i < 4u; i++) {
        if (co0 + i >= p.c_out) {
            break;
        }
        let out_row = ((b * p.c_out + co0 + i) * p.h_out + oy) * p.w_out;
        for (var j = 0u; j < 4u; j++) {
            if (ox0 + j < p.w_out) {
                y[out_row + ox0 + j] = leaky_relu(accs[j][i], p.leaky_relu);
            }
        }
    }
}
