// mlp_weights_uniform: how mlp_langevin reads the weights mlp_weights lays
// out on CPU adapters: the parameter vector and the transposed copy each as
// a uniform binding of 64 KiB (binding 1 from 0, binding 9 from
// p.transposed_at), which lavapipe loads in a fraction of the instructions
// of a storage buffer (as conv_weight_views_uniform.wgsl). Prepended after
// mlp_params.wgsl at compile time; the same functions as
// mlp_weights_storage.wgsl. Each binding must hold all MLP_UNIFORM_LEN
// vec4s (Rust: sampling::MLP_UNIFORM_LEN), so a net with more than 16 384
// parameters reads storage.
const MLP_UNIFORM_LEN: u32 = 4096u;
@group(0) @binding(1) var<uniform> weights: array<vec4<f32>, MLP_UNIFORM_LEN>;
@group(0) @binding(9) var<uniform> weights_t: array<vec4<f32>, MLP_UNIFORM_LEN>;

fn weight(k: u32) -> f32 {
    return weights[k / 4u][k % 4u];
}

fn weight_t(k: u32) -> f32 {
    return weights_t[k / 4u][k % 4u];
}

fn weight4(k: u32) -> vec4<f32> {
    return weights[k / 4u];
}

fn weight_t4(k: u32) -> vec4<f32> {
    return weights_t[k / 4u];
}
