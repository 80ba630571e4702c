// conv_params: shared by the layer kernels (conv2d_*, dense_*, maxpool2_*,
// leaky_relu_grad) and mlp_langevin,
// prepended to each of them at compile time (src/kernels/mod.rs), so the
// parameter struct and the LeakyReLU conventions exist once.
// ConvParams mirrors src/kernels/conv2d.rs (checked by tests/shaders.rs).

struct ConvParams {
    batch: u32,
    c_in: u32,
    h_in: u32,
    w_in: u32,
    c_out: u32,
    h_out: u32,
    w_out: u32,
    kernel: u32,
    stride: u32,
    padding: u32,
    leaky_relu: u32,
    weight_offset: u32,
    bias_offset: u32,
    batch_chunk: u32,
    n_chunks: u32,
    // The tiled forward and ∂/∂x kernels split their depth over this many
    // workgroups per tile (1: not split; see conv2d_split_sum.wgsl).
    forward_splits: u32,
    input_grad_splits: u32,
    // Where conv2d_weight_views puts the ∂/∂x view, in vec4s: after the
    // forward view (see conv2d_weight_views.wgsl).
    grad_view_offset: u32,
    // A direct forward or ∂/∂x dispatch computes the groups of 4 channels
    // (output channels, input channels) view_group_first … + view_groups − 1;
    // group view_group_first's weights are at vec4 view_offset of the views
    // bound (ConvParams::view_chunks).
    view_offset: u32,
    view_group_first: u32,
    view_groups: u32,
    // A direct forward or ∂/∂x dispatch computes the layer's images
    // image_first … + batch − 1, and reads them from its source binding
    // from f32 source_shift on (ConvParams::source_chunks).
    image_first: u32,
    source_shift: u32,
    // The direct weight gradient's dispatch reads ∂L/∂z from f32 dz_shift
    // of its binding on; its rows of sums start at image_first / batch_chunk.
    dz_shift: u32,
}

// Negative slope of every LeakyReLU in the reference networks.
const LEAKY_SLOPE: f32 = 0.05;

// y = LeakyReLU(v) if `enabled` (the layer's flag), else v.
fn leaky_relu(v: f32, enabled: u32) -> f32 {
    if (enabled != 0u && v < 0.0) {
        return v * LEAKY_SLOPE;
    }
    return v;
}

fn leaky_relu4(v: vec4<f32>, enabled: u32) -> vec4<f32> {
    return select(v, v * LEAKY_SLOPE, vec4<bool>(enabled != 0u) & (v < vec4<f32>(0.0)));
}

// ∂L/∂(pre-activation) from ∂L/∂y and the layer output y: y > 0 exactly when
// the pre-activation is > 0; at 0 the derivative is the slope, as PyTorch.
fn leaky_relu_backward(dy: f32, y: f32, enabled: u32) -> f32 {
    if (enabled != 0u && y <= 0.0) {
        return dy * LEAKY_SLOPE;
    }
    return dy;
}

fn leaky_relu_backward4(dy: vec4<f32>, y: vec4<f32>, enabled: u32) -> vec4<f32> {
    return select(dy, dy * LEAKY_SLOPE, vec4<bool>(enabled != 0u) & (y <= vec4<f32>(0.0)));
}
