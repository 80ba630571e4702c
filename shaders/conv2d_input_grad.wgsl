// conv2d_input_grad: dx = ∂L/∂x of y = LeakyReLU?(conv2d(x, W) + bias),
// given dz = ∂L/∂(pre-activation) (the next layer's ∂/∂x, which applies
// LeakyReLU' (LeakyReluFusion), or leaky_relu_grad.wgsl; ∂L/∂y without
// LeakyReLU). With INPUT_LEAKY_RELU (x is the output of the layer before's
// LeakyReLU), dx is instead ∂L/∂(that layer's pre-activation): each stored
// value times LeakyReLU' at x, one load of x per value, so that layer runs
// no leaky_relu_grad pass (nor keeps its scratch).
//
// Bindings (group 0):
//   0 uniform ConvParams p
//   1 read          source  dz [batch, c_out, h_out, w_out], storage or
//                           uniform (conv_source_*.wgsl): the dispatch's
//                           images from f32 p.source_shift of the binding
//   2 read          views   W's ∂/∂x view (conv2d_weight_views.wgsl), storage or
//                           uniform (conv_weight_views_*.wgsl), from
//                           p.view_offset: the 4 input channels'
//                           weights of an output channel's tap in one vec4
//   3 storage write dx      [batch, c_in, h_in, w_in]
//   4 storage read  source4 dz again, as vec4s (storage source, read when DZ_VEC4;
//                           not declared by the uniform source's variant)
//   5 storage read  x       [batch, c_in, h_in, w_in], the layer input (read if
//                           INPUT_LEAKY_RELU)
// A gather over the outputs each input feeds (no atomics). With stride s,
// tap (ky, kx) serves input (iy, ix) exactly when ky ≡ iy + padding and
// kx ≡ ix + padding (mod s), so only those taps are visited. One invocation
// per image (of the dispatch's, as conv2d_forward's), input row,
// CHANNEL_GROUPS groups of 4 input channels (of the dispatch's groups, as
// conv2d_forward's) and 4 input columns of one residue class mod s
// (columns r, r + s, r + 2s, r + 3s after an offset): those columns share
// their taps and read neighbouring outputs.
// For each output row and channel, the TAPS column taps of the 4 columns
// read a window of TAPS + 3 neighbouring ∂L/∂z values, loaded once: with a
// 3×3 kernel of stride 1, 3 weight and 6 ∂L/∂z loads (3 vec4s where
// output rows are whole vec4s) for 48 multiply-adds where 15 loads were
// made tap by tap.
//
// Specialised per layer (Gpu::specialised_pipeline), so that the loops over
// taps and window unroll and the window is indexed by constants: KERNEL,
// STRIDE and PADDING are p's; DZ_VEC4 says that the window is read as
// vec4s (stride 1, output rows of whole vec4s: every invocation's window
// then starts DZ_SHIFT values into a vec4 of its row).
// ConvParams::input_grad_constants sets them and checks that the window
// fits DZ_WINDOW_MAX values.
override KERNEL: u32 = 3u;
override STRIDE: u32 = 1u;
override PADDING: u32 = 1u;
override DZ_VEC4: bool = false;
override DZ_SHIFT: u32 = 0u;
// Column taps of a residue class: ⌈KERNEL / STRIDE⌉ (a class with fewer
// reads a zero weight for the last).
override TAPS: u32 = (KERNEL + STRIDE - 1u) / STRIDE;
const DZ_WINDOW_MAX: u32 = 16u;

// ConvParams comes from conv_params.wgsl, `source` from
// conv_source_storage.wgsl or _uniform.wgsl, and `views` from
// conv_weight_views_storage.wgsl or _uniform.wgsl, prepended at compile time.
@group(0) @binding(0) var<uniform> p: ConvParams;
// source (dz): binding 1 (and 4, as vec4s, where storage).
const SOURCE_BINDING: u32 = 1u;
const SOURCE_VEC4_BINDING: u32 = 4u;
// views: binding 2, as storage or uniform (conv_weight_views_*.wgsl).
const VIEWS_BINDING: u32 = 2u;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;
@group(0) @binding(5) var<storage, read> x: array<f32>;
override INPUT_LEAKY_RELU: bool = false;

// Groups of 4 input channels per invocation, 1 or 2 (as conv2d_forward's):
// with 2, each ∂L/∂z window loaded feeds 8 channels.
override CHANNEL_GROUPS: u32 = 1u;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let idx = gid.x + gid.y * groups.x * 64u;
    let s = STRIDE;
    // This dispatch's groups of 4 input channels (see p.view_groups),
    // CHANNEL_GROUPS to an invocation.
    let chan_sets = (p.view_groups + CHANNEL_GROUPS - 1u) / CHANNEL_GROUPS;
    // Column groups of a row: s residue classes of ⌈w_in / s⌉ columns, 4 per group.
    let class_groups = ((p.w_in + s - 1u) / s + 3u) / 4u;
    let row_groups = s * class_groups;
    if (idx >= p.batch * chan_sets * p.h_in * row_groups) {
        return;
    }
    let rg = idx % row_groups;
    let iy = (idx / row_groups) % p.h_in;
    let chan_set = (idx / (row_groups * p.h_in)) % chan_sets;
    // The image within the dispatch's.
    let b = idx / (row_groups * p.h_in * chan_sets);
    let ix0 = rg % s + s * (rg / s) * 4u;
    let kk = KERNEL * KERNEL;
    // The invocation's groups in the dispatch: a second past the
    // dispatch's last reads the last one's weights and is not stored.
    let group0 = chan_set * CHANNEL_GROUPS;
    let group1 = min(group0 + 1u, p.view_groups - 1u);
    // Their 4 input channels' vec4s in the ∂/∂x view, [c_out, k, k] for
    // each group (channels past the edge: zero weights, not stored).
    let w_group0 = p.view_offset + group0 * p.c_out * kk;
    let w_group1 = p.view_offset + group1 * p.c_out * kk;
    let w_co = kk;
    let ty = iy + PADDING;
    let t0 = ix0 + PADDING;

    // acc_j: group0's 4 channels at input column ix0 + j·s; acc_j1:
    // group1's. (Named, not an array: see conv2d_forward.)
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    var acc01 = vec4<f32>(0.0);
    var acc11 = vec4<f32>(0.0);
    var acc21 = vec4<f32>(0.0);
    var acc31 = vec4<f32>(0.0);
    // Output row oy reads padded row ty through tap ky when oy·s + ky = ty:
    // ky = ty mod s + a·s gives oy = ⌊ty / s⌋ − a. Likewise column ix0 + j·s
    // (padded t0 + j·s) reads output column ⌊t0 / s⌋ − c + j through tap
    // kx = t0 mod s + c·s: window value m is output column
    // ⌊t0 / s⌋ − (TAPS − 1) + m, and tap c of column j reads value
    // TAPS − 1 − c + j. No division inside the loops.
    let ky_first = ty % s;
    let kx_first = t0 % s;
    let first = i32(t0 / s) - i32(TAPS - 1u);
    var window: array<f32, DZ_WINDOW_MAX>;
    for (var a = 0u; ky_first + a * s < KERNEL && a <= ty / s; a++) {
        let ky = ky_first + a * s;
        let oy = ty / s - a;
        if (oy >= p.h_out) {
            continue;
        }
        for (var co = 0u; co < p.c_out; co++) {
            let row = p.source_shift + ((b * p.c_out + co) * p.h_out + oy) * p.w_out;
            if (DZ_VEC4) {
                // The vec4s of the row from the one holding the window's
                // first value (a multiple of 4 before it: DZ_SHIFT); the
                // row is whole vec4s, so each is all in it or all out (0).
                var quads: array<vec4<f32>, DZ_WINDOW_MAX / 4u>;
                let q_first = first - i32(DZ_SHIFT);
                for (var q = 0u; q < (DZ_SHIFT + TAPS + 6u) / 4u; q++) {
                    let c0 = q_first + 4 * i32(q);
                    let inside = c0 >= 0 && c0 < i32(p.w_out);
                    let at = (row + u32(clamp(c0, 0, i32(p.w_out) - 4))) / 4u;
                    quads[q] = select(vec4<f32>(0.0), source_quad(at), inside);
                }
                for (var m = 0u; m < TAPS + 3u; m++) {
                    window[m] = quads[(DZ_SHIFT + m) / 4u][(DZ_SHIFT + m) % 4u];
                }
            } else {
                for (var m = 0u; m < TAPS + 3u; m++) {
                    // Columns outside the output read a safe index and contribute 0.
                    let ox = first + i32(m);
                    let inside = ox >= 0 && ox < i32(p.w_out);
                    window[m] = select(0.0, source_value(row + u32(clamp(ox, 0, i32(p.w_out) - 1))), inside);
                }
            }
            let tap_row = co * w_co + ky * KERNEL;
            for (var c = 0u; c < TAPS; c++) {
                let kx = kx_first + c * s;
                let tap = tap_row + min(kx, KERNEL - 1u);
                let m = TAPS - 1u - c;
                let w = select(vec4<f32>(0.0), views[w_group0 + tap], kx < KERNEL);
                acc0 += window[m] * w;
                acc1 += window[m + 1u] * w;
                acc2 += window[m + 2u] * w;
                acc3 += window[m + 3u] * w;
                if (CHANNEL_GROUPS == 2u) {
                    let w1 = select(vec4<f32>(0.0), views[w_group1 + tap], kx < KERNEL);
                    acc01 += window[m] * w1;
                    acc11 += window[m + 1u] * w1;
                    acc21 += window[m + 2u] * w1;
                    acc31 += window[m + 3u] * w1;
                }
            }
        }
    }
    store_channels(b, iy, ix0, group0, array<vec4<f32>, 4>(acc0, acc1, acc2, acc3));
    if (CHANNEL_GROUPS == 2u && group0 + 1u < p.view_groups) {
        store_channels(b, iy, ix0, group0 + 1u, array<vec4<f32>, 4>(acc01, acc11, acc21, acc31));
    }
}

// dx at input columns ix0, ix0 + s, ix0 + 2s, ix0 + 3s of row iy of the
// dispatch's image b, for the 4 input channels of the dispatch's group
// `group` (accs[j]: column ix0 + j·s); channels and columns past the edge
// are not stored.
fn store_channels(b: u32, iy: u32, ix0: u32, group: u32, accs: array<vec4<f32>, 4>) {
    let ci0 = (p.view_group_first + group) * 4u;
    for (var i = 0u; i < 4u; i++) {
        if (ci0 + i >= p.c_in) {
            break;
        }
        let in_row = (((p.image_first + b) * p.c_in + ci0 + i) * p.h_in + iy) * p.w_in;
        for (var j = 0u; j < 4u; j++) {
            let ix = ix0 + j * STRIDE;
            if (ix < p.w_in) {
                let at = in_row + ix;
                if (INPUT_LEAKY_RELU) {
                    dx[at] = leaky_relu_backward(accs[j][i], x[at], 1u);
                } else {
                    dx[at] = accs[j][i];
                }
            }
        }
    }
}
