// conv_source_uniform: the direct kernels' source (the layer input for the
// forward and ∂/∂θ kernels, ∂L/∂z for ∂/∂x) bound as a uniform buffer of
// 64 KiB, a dispatch per binding of the images it holds
// (ConvParams::source_chunks, weight_grad_source_chunks), on CPU
// adapters: there a window loaded from storage costs several times the
// multiply-adds it feeds, and from a uniform buffer about a fifth of that
// (conv_weight_views_uniform.wgsl says why). The binding must hold all
// UNIFORM_SOURCE_LEN vec4s (Rust: conv2d::UNIFORM_SOURCE_LEN).
const UNIFORM_SOURCE_LEN: u32 = 4096u;
@group(0) @binding(SOURCE_BINDING) var<uniform> source: array<vec4<f32>, UNIFORM_SOURCE_LEN>;

// The binding's value at flat index i.
fn source_value(i: u32) -> f32 {
    return source[i / 4u][i % 4u];
}

// Values 4·i … 4·i + 3.
fn source_quad(i: u32) -> vec4<f32> {
    return source[i];
}
