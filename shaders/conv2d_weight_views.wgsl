// conv2d_weight_views: a convolution's weights copied into the two layouts
// the direct kernels read as vec4s, one vec4 of 4 channels per tap: on
// lavapipe one vec4 load costs about what one f32 load does, and the
// direct kernels' weight loads were half of their loads (a forward pass
// measured 1.3–1.5× faster with one load per tap in place of four).
//
//   forward view, vec4s [⌈c_out/4⌉, c_in, k, k]: lane l of group g holds
//     W[4g + l, ci, ky, kx] (conv2d_forward's 4 output channels);
//   ∂/∂x view, from p.grad_view_offset, vec4s [⌈c_in/4⌉, c_out, k, k]:
//     lane l of group g holds W[co, 4g + l, ky, kx] (conv2d_input_grad's 4
//     input channels).
// Each group's weights lie together, so that a dispatch of some groups
// reads them from one uniform buffer of 64 KiB (ConvParams::view_chunks).
// Lanes past the last channel hold 0. Recorded with every forward pass of
// a layer that runs a direct kernel, before it (ConvLayer::record_weight_views),
// but for the steps that Langevin::record_steps records after its first,
// whose parameters are those of its first (GpuNet::record_forward_same_params): so the views
// always hold the weights of the pass (and of the backward pass after it).
//
// Bindings (group 0):
//   0 uniform ConvParams p
//   1 storage read  params flat parameter vector; W at p.weight_offset
//   2 storage write views  [grad_view_offset + ⌈c_in/4⌉ · c_out · k · k] vec4s
//                          (the forward view padded to grad_view_offset)
// One invocation per vec4 of the two views.

// ConvParams comes from conv_params.wgsl, prepended at compile time.
@group(0) @binding(0) var<uniform> p: ConvParams;
@group(0) @binding(1) var<storage, read> params: array<f32>;
@group(0) @binding(2) var<storage, read_write> views: array<vec4<f32>>;

// W[co, ci, tap] (tap = ky·k + kx), 0 past the last channel of either kind.
fn weight(co: u32, ci: u32, tap: u32) -> f32 {
    if (co >= p.c_out || ci >= p.c_in) {
        return 0.0;
    }
    return params[p.weight_offset + (co * p.c_in + ci) * p.kernel * p.kernel + tap];
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let idx = gid.x + gid.y * groups.x * 64u;
    let kk = p.kernel * p.kernel;
    let in_groups = (p.c_in + 3u) / 4u;
    if (idx >= p.grad_view_offset + p.c_out * in_groups * kk) {
        return;
    }
    let lanes = vec4<u32>(0u, 1u, 2u, 3u);
    var w: vec4<f32>;
    if (idx < p.grad_view_offset) {
        let tap = idx % kk;
        let ci = (idx / kk) % p.c_in;
        let co = (idx / (kk * p.c_in)) * 4u + lanes;
        w = vec4<f32>(weight(co.x, ci, tap), weight(co.y, ci, tap), weight(co.z, ci, tap), weight(co.w, ci, tap));
    } else {
        let j = idx - p.grad_view_offset;
        let tap = j % kk;
        let co = (j / kk) % p.c_out;
        let ci = (j / (kk * p.c_out)) * 4u + lanes;
        w = vec4<f32>(weight(co, ci.x, tap), weight(co, ci.y, tap), weight(co, ci.z, tap), weight(co, ci.w, tap));
    }
    views[idx] = w;
}
