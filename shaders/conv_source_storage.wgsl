// conv_source_storage: what a direct convolution kernel reads windows from
// (the layer input for conv2d_forward and conv2d_weight_grad, ∂L/∂z for
// conv2d_input_grad), bound whole as read-only storage, as f32s at
// SOURCE_BINDING and again as vec4s at SOURCE_VEC4_BINDING (a kernel that
// reads no vec4s leaves the second unbound): GPUs' way.
// conv_source_uniform.wgsl is the other way. Prepended before the kernel,
// which names the bindings.
@group(0) @binding(SOURCE_BINDING) var<storage, read> source: array<f32>;
@group(0) @binding(SOURCE_VEC4_BINDING) var<storage, read> source4: array<vec4<f32>>;

// The source's value at flat index i.
fn source_value(i: u32) -> f32 {
    return source[i];
}

// Values 4·i … 4·i + 3.
fn source_quad(i: u32) -> vec4<f32> {
    return source4[i];
}
