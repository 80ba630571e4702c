// conv_dz_uniform: ∂L/∂z for the direct weight gradient as a uniform
// buffer of 64 KiB at binding 1, a dispatch per binding of the images it
// holds (ConvParams::weight_grad_source_chunks), on CPU adapters
// (conv_source_uniform.wgsl says why). The binding must hold all
// UNIFORM_DZ_LEN vec4s (Rust: conv2d::UNIFORM_SOURCE_LEN).
const UNIFORM_DZ_LEN: u32 = 4096u;
@group(0) @binding(1) var<uniform> dz: array<vec4<f32>, UNIFORM_DZ_LEN>;

// The binding's value at flat index i.
fn dz_value(i: u32) -> f32 {
    return dz[i / 4u][i % 4u];
}

// Values 4·i … 4·i + 3.
fn dz_quad(i: u32) -> vec4<f32> {
    return dz[i];
}
