// mlp_weights_storage: how mlp_langevin reads the weights mlp_weights lays
// out, from one storage buffer (GPUs, and CPU adapters whose uniform
// bindings are too small; mlp_weights_uniform.wgsl is the other way),
// prepended after mlp_params.wgsl at compile time. k is flat within the
// parameter vector's layout (W [n_out, n_in] per layer at its offset) or,
// for weight_t, the transposed copy's; weight4 and weight_t4 read the 4
// values from k, a multiple of 4.
@group(0) @binding(1) var<storage, read> weights: array<f32>;

fn weight(k: u32) -> f32 {
    return weights[k];
}

fn weight_t(k: u32) -> f32 {
    return weights[p.transposed_at + k];
}

fn weight4(k: u32) -> vec4<f32> {
    return vec4<f32>(weights[k], weights[k + 1u], weights[k + 2u], weights[k + 3u]);
}

fn weight_t4(k: u32) -> vec4<f32> {
    let t = p.transposed_at + k;
    return vec4<f32>(weights[t], weights[t + 1u], weights[t + 2u], weights[t + 3u]);
}
