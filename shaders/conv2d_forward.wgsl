// conv2d_forward: y = LeakyReLU?(conv2d(x, W) + bias), PyTorch conventions.
//
// Bindings (group 0):
//   0 uniform ConvParams p
//   1 read          source  x [batch, c_in, h_in, w_in] (NCHW, f32), storage
//                           or uniform (conv_source_*.wgsl): the dispatch's
//                           images from f32 p.source_shift of the binding
//   2 storage read  params  flat parameter vector; bias at p.bias_offset ([c_out])
//   3 storage write y       [batch, c_out, h_out, w_out]
//   4 read          views   W's forward view (conv2d_weight_views.wgsl), storage
//                           or uniform (conv_weight_views_*.wgsl):
//                           the 4 channels' weights of a tap in one vec4
//   5 storage read  source4 x again, as vec4s (storage source, read when X_VEC4)
// One invocation per image, output row, CHANNEL_GROUPS groups of 4 output
// channels (of the dispatch's groups: a layer whose views are read from
// uniform buffers of 64 KiB runs a dispatch per buffer) and group of 4
// output columns (flat index = gid.x + gid.y * groups_x * 64), of the
// dispatch's images p.image_first … + p.batch − 1 (a layer whose source is
// read from uniform buffers runs a dispatch per buffer too):
// each input value loaded feeds 4 or 8 channels and each weight vec4 4 columns;
// the 4 columns' taps of an input row read one window of it, loaded once
// (conv_input_window.wgsl). Channels and columns past the edge are
// computed (on zero weights, clamped columns) and not stored.
// Cross-correlation (no kernel flip), zero padding, square kernel and stride.
//
// ConvParams and leaky_relu come from conv_params.wgsl, the window's
// overrides and input_window from conv_input_window.wgsl, `source` from
// conv_source_storage.wgsl or _uniform.wgsl, and `views` from
// conv_weight_views_storage.wgsl or _uniform.wgsl, prepended at compile time.
@group(0) @binding(0) var<uniform> p: ConvParams;
// source: bindings 1 (and 5, as vec4s, where storage).
const SOURCE_BINDING: u32 = 1u;
const SOURCE_VEC4_BINDING: u32 = 5u;
@group(0) @binding(2) var<storage, read> params: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
// views: binding 4, as storage or uniform (conv_weight_views_*.wgsl).
const VIEWS_BINDING: u32 = 4u;

// Groups of 4 output channels per invocation, 1 or 2
// (ConvParams::channel_groups_for says when): with 2,
// each input window loaded feeds 8 channels.
override CHANNEL_GROUPS: u32 = 1u;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let idx = gid.x + gid.y * groups.x * 64u;
    let col_groups = (p.w_out + 3u) / 4u;
    // This dispatch's groups of 4 output channels (see p.view_groups),
    // CHANNEL_GROUPS to an invocation.
    let chan_sets = (p.view_groups + CHANNEL_GROUPS - 1u) / CHANNEL_GROUPS;
    if (idx >= p.batch * chan_sets * p.h_out * col_groups) {
        return;
    }
    let ox0 = (idx % col_groups) * 4u;
    let oy = (idx / col_groups) % p.h_out;
    let chan_set = (idx / (col_groups * p.h_out)) % chan_sets;
    // The image within the dispatch's.
    let b = idx / (col_groups * p.h_out * chan_sets);
    let kk = KERNEL * KERNEL;
    // The invocation's groups in the dispatch: a second past the
    // dispatch's last reads the last one's weights and is not stored.
    let group0 = chan_set * CHANNEL_GROUPS;
    let group1 = min(group0 + 1u, p.view_groups - 1u);
    // Their weights in the forward view, [c_in, k, k] vec4s each.
    let w_group0 = p.view_offset + group0 * p.c_in * kk;
    let w_group1 = p.view_offset + group1 * p.c_in * kk;
    // acc_j: group0's 4 channels at output column ox0 + j; acc_j1: group1's.
    // (Named, not an array: one array indexed in loops over the groups and
    // columns took lavapipe twice the instructions of the one-group kernel.)
    let bias0 = channel_bias((p.view_group_first + group0) * 4u);
    var bias1 = bias0;
    if (CHANNEL_GROUPS == 2u) {
        bias1 = channel_bias((p.view_group_first + group1) * 4u);
    }
    var acc0 = bias0;
    var acc1 = bias0;
    var acc2 = bias0;
    var acc3 = bias0;
    var acc01 = bias1;
    var acc11 = bias1;
    var acc21 = bias1;
    var acc31 = bias1;
    for (var ci = 0u; ci < p.c_in; ci++) {
        let x_plane = (b * p.c_in + ci) * p.h_in;
        for (var ky = 0u; ky < KERNEL; ky++) {
            // Unsigned arithmetic: a row above the image wraps to a huge value.
            let iy = oy * STRIDE + ky - PADDING;
            if (oy * STRIDE + ky < PADDING || iy >= p.h_in) {
                continue;
            }
            let x_row = p.source_shift + (x_plane + iy) * p.w_in;
            var win = input_window(x_row, ox0);
            let tap = ci * kk + ky * KERNEL;
            for (var kx = 0u; kx < KERNEL; kx++) {
                let t0 = WINDOW_SHIFT + kx;
                let t1 = t0 + STRIDE;
                let t2 = t0 + 2u * STRIDE;
                let t3 = t0 + 3u * STRIDE;
                let x0 = win[t0 / 4u][t0 % 4u];
                let x1 = win[t1 / 4u][t1 % 4u];
                let x2 = win[t2 / 4u][t2 % 4u];
                let x3 = win[t3 / 4u][t3 % 4u];
                let w = views[w_group0 + tap + kx];
                acc0 += x0 * w;
                acc1 += x1 * w;
                acc2 += x2 * w;
                acc3 += x3 * w;
                if (CHANNEL_GROUPS == 2u) {
                    let w1 = views[w_group1 + tap + kx];
                    acc01 += x0 * w1;
                    acc11 += x1 * w1;
                    acc21 += x2 * w1;
                    acc31 += x3 * w1;
                }
            }
        }
    }
    store_channels(b, oy, ox0, group0, array<vec4<f32>, 4>(acc0, acc1, acc2, acc3));
    if (CHANNEL_GROUPS == 2u && group0 + 1u < p.view_groups) {
        store_channels(b, oy, ox0, group0 + 1u, array<vec4<f32>, 4>(acc01, acc11, acc21, acc31));
    }
}

// The bias of output channels co0 … co0 + 3 (the last channel repeated
// past the edge).
fn channel_bias(co0: u32) -> vec4<f32> {
    let last = p.c_out - 1u;
    return vec4<f32>(
        params[p.bias_offset + co0],
        params[p.bias_offset + min(co0 + 1u, last)],
        params[p.bias_offset + min(co0 + 2u, last)],
        params[p.bias_offset + min(co0 + 3u, last)]
    );
}

// y at output columns ox0 … ox0 + 3 of row oy of the dispatch's image b,
// for the 4 channels of the dispatch's group `group` (accs[j]: column
// ox0 + j), after LeakyReLU; channels and columns past the edge are not
// stored.
fn store_channels(b: u32, oy: u32, ox0: u32, group: u32, accs: array<vec4<f32>, 4>) {
    let co0 = (p.view_group_first + group) * 4u;
    for (var i = 0u; i < 4u; i++) {
        if (co0 + i >= p.c_out) {
            break;
        }
        let out_row = (((p.image_first + b) * p.c_out + co0 + i) * p.h_out + oy) * p.w_out;
        for (var j = 0u; j < 4u; j++) {
            if (ox0 + j < p.w_out) {
                y[out_row + ox0 + j] = leaky_relu(accs[j][i], p.leaky_relu);
            }
        }
    }
}
