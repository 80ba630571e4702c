// mlp_params: the uniform of mlp_langevin.wgsl and of mlp_weights.wgsl,
// which lays out the weights it reads; prepended to both at compile time.

struct MlpLangevinParams {
    chains: u32,
    layers: u32,
    steps: u32,
    dim: u32,
    a: f32,
    b: f32,
    seed: u32,
    purpose: u32,
    record_path: u32,
    attract: u32,
    // Length of the parameter vector: mlp_weights.wgsl's output holds a copy
    // of it, then each layer's W transposed at transposed_at + its offset
    // (a multiple of 64 at or after params_len: 256 bytes, where a uniform
    // binding may start).
    params_len: u32,
    transposed_at: u32,
    // Layer l: (n_in, n_out, weight offset, LeakyReLU after it).
    shape: array<vec4<u32>, 8>,
}
