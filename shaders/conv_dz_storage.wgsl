// conv_dz_storage: ∂L/∂z for the direct weight gradient (conv2d_weight_grad),
// bound whole as read-only storage, as f32s at binding 1 and again as vec4s
// at binding 5: GPUs' way. conv_dz_uniform.wgsl is the other way (as
// conv_source_*.wgsl are for its input).
@group(0) @binding(1) var<storage, read> dz: array<f32>;
@group(0) @binding(5) var<storage, read> dz4: array<vec4<f32>>;

// ∂L/∂z at flat index i.
fn dz_value(i: u32) -> f32 {
    return dz[i];
}

// Values 4·i … 4·i + 3.
fn dz_quad(i: u32) -> vec4<f32> {
    return dz4[i];
}
