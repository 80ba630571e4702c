// leaky_relu_grad: dz = ∂L/∂(pre-activation) = dy·LeakyReLU'(y) of a layer
// with LeakyReLU, from dy = ∂L/∂y and its output y (y > 0 exactly when the
// pre-activation is), once per layer and backward pass, so that the
// gradient kernels (conv2d_*_grad, dense_*_grad) read one value per output
// instead of two and a branch. Layers without LeakyReLU pass dy as dz, and
// a layer whose next layer's ∂/∂x applies LeakyReLU' (maxpool2_input_grad,
// dense_input_grad, conv2d_input_grad[_tiled] and conv2d_split_sum:
// ConvLayer::applies_input_leaky_relu; every LeakyReLU of the built-in
// nets) runs no such pass.
//
// Bindings (group 0):
//   0 uniform ConvParams p
//   1 storage read  dy  [batch, c_out, h_out, w_out]
//   2 storage read  y   [batch, c_out, h_out, w_out]
//   3 storage write dz  [batch, c_out, h_out, w_out]
// One invocation per 4 output elements, read and written as vec4s: on
// lavapipe each storage access costs tens of instructions whatever its
// width, so this pass took as many as the convolution it feeds when it
// went value by value. The buffers hold whole vec4s
// (Gpu::activation_buffer): a last, partial vec4 is computed whole, its
// values past the outputs from padding, into padding.

// ConvParams and leaky_relu_backward4 come from conv_params.wgsl, prepended
// at compile time.
@group(0) @binding(0) var<uniform> p: ConvParams;
@group(0) @binding(1) var<storage, read> dy: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> y: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> dz: array<vec4<f32>>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * 64u;
    if (i >= (p.batch * p.c_out * p.h_out * p.w_out + 3u) / 4u) {
        return;
    }
    dz[i] = leaky_relu_backward4(dy[i], y[i], p.leaky_relu);
}
