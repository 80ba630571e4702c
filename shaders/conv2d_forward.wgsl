// conv2d_forward: y = LeakyReLU?(conv2d(x, W) + bias), PyTorch conventions.
//
// Bindings (group 0):
//   0 uniform ConvParams p
//   1 storage read  x       [batch, c_in, h_in, w_in]   (NCHW, f32)
//   2 storage read  params  flat parameter vector; bias at p.bias_offset ([c_out])
//   3 storage write y       [batch, c_out, h_out, w_out]
//   4 read          views   W's forward view (conv2d_weight_views.wgsl), storage
//                           or uniform (conv_weight_views_*.wgsl):
//                           the 4 channels' weights of a tap in one vec4
//   5 storage read  x4      x again, as vec4s (read when X_VEC4)
// One invocation per image, output row, group of 4 output channels (of
// the dispatch's groups: a layer whose views are read from uniform buffers
// of 64 KiB runs a dispatch per buffer) and group of 4 output columns
// (flat index = gid.x + gid.y * groups_x * 64):
// each input value loaded feeds 4 channels and each weight vec4 4 columns;
// the 4 columns' taps of an input row read one window of it, loaded once
// (conv_input_window.wgsl). Channels and columns past the edge are
// computed (on zero weights, clamped columns) and not stored.
// Cross-correlation (no kernel flip), zero padding, square kernel and stride.
//
// ConvParams and leaky_relu come from conv_params.wgsl, the window's
// overrides and input_window from conv_input_window.wgsl, and `views` from
// conv_weight_views_storage.wgsl or _uniform.wgsl, prepended at compile time.
@group(0) @binding(0) var<uniform> p: ConvParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> params: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
// views: binding 4, as storage or uniform (conv_weight_views_*.wgsl).
const VIEWS_BINDING: u32 = 4u;
@group(0) @binding(5) var<storage, read> x4: array<vec4<f32>>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let idx = gid.x + gid.y * groups.x * 64u;
    let col_groups = (p.w_out + 3u) / 4u;
    // This dispatch's groups of 4 output channels (see p.view_groups).
    let chan_groups = p.view_groups;
    if (idx >= p.batch * chan_groups * p.h_out * col_groups) {
        return;
    }
    let ox0 = (idx % col_groups) * 4u;
    let oy = (idx / col_groups) % p.h_out;
    let group = p.view_group_first + (idx / (col_groups * p.h_out)) % chan_groups;
    let co0 = group * 4u;
    let b = idx / (col_groups * p.h_out * chan_groups);
    let kk = KERNEL * KERNEL;
    let last = p.c_out - 1u;
    let co = vec4<u32>(co0, min(co0 + 1u, last), min(co0 + 2u, last), min(co0 + 3u, last));
    // The group's weights in the forward view, [c_in, k, k] vec4s.
    let w_group = p.view_offset + (group - p.view_group_first) * p.c_in * kk;
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
    for (var ci = 0u; ci < p.c_in; ci++) {
        let x_plane = (b * p.c_in + ci) * p.h_in;
        for (var ky = 0u; ky < KERNEL; ky++) {
            // Unsigned arithmetic: a row above the image wraps to a huge value.
            let iy = oy * STRIDE + ky - PADDING;
            if (oy * STRIDE + ky < PADDING || iy >= p.h_in) {
                continue;
            }
            let x_row = (x_plane + iy) * p.w_in;
            var win = input_window(x_row, ox0);
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
