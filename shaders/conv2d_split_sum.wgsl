// conv2d_split_sum: the sums of a tiled pass split over its depth
// (conv2d_forward_tiled, conv2d_input_grad_tiled with p.forward_splits or
// p.input_grad_splits > 1), added in the order of the splits; for the
// forward pass with the bias and the layer's LeakyReLU, for ∂/∂x with
// p.input_leaky_relu times LeakyReLU' at the layer input x (see
// conv2d_input_grad.wgsl's INPUT_LEAKY_RELU).
//
// Bindings (group 0):
//   0 uniform SplitSumParams p
//   1 storage read  partial  [splits, len]  each split's sums, in the output's layout
//   2 storage read  params   flat parameter vector (the bias at p.bias_offset)
//   3 storage write out      [len]
//   4 storage read  x        [len] ∂/∂x's layer input (read if p.input_leaky_relu)
// One invocation per output element.

// leaky_relu and leaky_relu_backward come from conv_params.wgsl, prepended
// at compile time.

struct SplitSumParams {
    len: u32,
    splits: u32,
    // out is [.., channels, plane]; with_bias: add bias[channel] (forward).
    plane: u32,
    channels: u32,
    with_bias: u32,
    bias_offset: u32,
    leaky_relu: u32,
    input_leaky_relu: u32,
}

@group(0) @binding(0) var<uniform> p: SplitSumParams;
@group(0) @binding(1) var<storage, read> partial: array<f32>;
@group(0) @binding(2) var<storage, read> params: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read> x: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let e = gid.x + gid.y * groups.x * 64u;
    if (e >= p.len) {
        return;
    }
    var sum = partial[e];
    for (var s = 1u; s < p.splits; s++) {
        sum += partial[s * p.len + e];
    }
    if (p.with_bias != 0u) {
        sum += params[p.bias_offset + (e / p.plane) % p.channels];
    }
    if (p.input_leaky_relu != 0u) {
        sum = leaky_relu_backward(sum, x[e], 1u);
    }
    out[e] = leaky_relu(sum, p.leaky_relu);
}
