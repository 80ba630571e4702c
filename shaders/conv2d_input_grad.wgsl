// conv2d_input_grad: dx = ∂L/∂x of y = LeakyReLU?(conv2d(x, W) + bias),
// given dz = ∂L/∂(pre-activation) (leaky_relu_grad.wgsl, or ∂L/∂y without
// LeakyReLU).
//
// Bindings (group 0):
//   0 uniform ConvParams p
//   1 storage read  dz      [batch, c_out, h_out, w_out]
//   2 storage read  views   W's ∂/∂x view (conv2d_weight_views.wgsl), from
//                           p.grad_view_offset: the 4 input channels'
//                           weights of an output channel's tap in one vec4
//   3 storage write dx      [batch, c_in, h_in, w_in]
// A gather over the outputs each input feeds (no atomics). With stride s,
// tap (ky, kx) serves input (iy, ix) exactly when ky ≡ iy + padding and
// kx ≡ ix + padding (mod s), so only those taps are visited. One invocation
// per image, input row, group of 4 input channels and 4 input columns of
// one residue class mod s (columns r, r + s, r + 2s, r + 3s after an
// offset): those columns share their taps and read 4 neighbouring outputs,
// so each tap costs 1 weight and 4 ∂L/∂z loads for 16 multiply-adds. The
// output channels are the inner loop: the taps' rows, columns and edge
// masks are worked out once per tap, not once per channel.

// ConvParams comes from conv_params.wgsl, prepended at compile time.
@group(0) @binding(0) var<uniform> p: ConvParams;
@group(0) @binding(1) var<storage, read> dz: array<f32>;
@group(0) @binding(2) var<storage, read> views: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let idx = gid.x + gid.y * groups.x * 64u;
    let s = p.stride;
    let chan_groups = (p.c_in + 3u) / 4u;
    // Column groups of a row: s residue classes of ⌈w_in / s⌉ columns, 4 per group.
    let class_groups = ((p.w_in + s - 1u) / s + 3u) / 4u;
    let row_groups = s * class_groups;
    if (idx >= p.batch * chan_groups * p.h_in * row_groups) {
        return;
    }
    let rg = idx % row_groups;
    let iy = (idx / row_groups) % p.h_in;
    let ci0 = ((idx / (row_groups * p.h_in)) % chan_groups) * 4u;
    let b = idx / (row_groups * p.h_in * chan_groups);
    let ix0 = rg % s + s * (rg / s) * 4u;
    let k = p.kernel;
    let kk = k * k;
    // The 4 input channels' vec4s in the ∂/∂x view, [c_out, chan_groups, k, k]
    // (channels past the edge: zero weights, not stored).
    let w_group = p.grad_view_offset + (ci0 / 4u) * kk;
    let w_co = chan_groups * kk;
    let ty = iy + p.padding;
    let t0 = ix0 + p.padding;

    // acc_j: the 4 channels at input column ix0 + j·s.
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    // Output row oy reads padded row ty through tap ky when oy·s + ky = ty:
    // ky = ty mod s + a·s gives oy = ⌊ty / s⌋ − a. Likewise column ix0 + j·s
    // (padded t0 + j·s) reads output column ⌊t0 / s⌋ − c + j through tap
    // kx = t0 mod s + c·s. No division inside the loops.
    let ky_first = ty % s;
    let kx_first = t0 % s;
    for (var a = 0u; ky_first + a * s < k && a <= ty / s; a++) {
        let ky = ky_first + a * s;
        let oy = ty / s - a;
        if (oy >= p.h_out) {
            continue;
        }
        for (var c = 0u; kx_first + c * s < k; c++) {
            let kx = kx_first + c * s;
            let ox = vec4<i32>(i32(t0 / s) - i32(c)) + vec4<i32>(0, 1, 2, 3);
            let valid = (ox >= vec4<i32>(0)) & (ox < vec4<i32>(i32(p.w_out)));
            // Columns outside the output read a safe index and contribute 0.
            let at = vec4<u32>(select(vec4<i32>(0), ox, valid));
            let tap = w_group + ky * k + kx;
            for (var co = 0u; co < p.c_out; co++) {
                let w = views[tap + co * w_co];
                let row = vec4<u32>(((b * p.c_out + co) * p.h_out + oy) * p.w_out) + at;
                let d = select(vec4<f32>(0.0), vec4<f32>(dz[row.x], dz[row.y], dz[row.z], dz[row.w]), valid);
                acc0 += d.x * w;
                acc1 += d.y * w;
                acc2 += d.z * w;
                acc3 += d.w * w;
            }
        }
    }
    let accs = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
    for (var i = 0u; i < 4u; i++) {
        if (ci0 + i >= p.c_in) {
            break;
        }
        let in_row = ((b * p.c_in + ci0 + i) * p.h_in + iy) * p.w_in;
        for (var j = 0u; j < 4u; j++) {
            let ix = ix0 + j * s;
            if (ix < p.w_in) {
                dx[in_row + ix] = accs[j][i];
            }
        }
    }
}
