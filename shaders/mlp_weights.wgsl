// mlp_weights: the weights mlp_langevin.wgsl reads, refreshed from the
// parameter vector before its steps: a copy of the vector, then each dense
// layer's W [n_out, n_in] transposed to [n_in, n_out] at p.transposed_at +
// the layer's weight offset. The forward pass has an invocation per output j:
// reading W[j, i] they would touch a cache line each (stride n_in), reading
// Wᵀ[i, j] neighbouring values; the backward pass, an invocation per input
// i, reads W[j, i] so. (The two layouts in one buffer keep mlp_langevin
// within WebGPU's 8 storage buffers.)
//
// Bindings (group 0):
//   0 uniform MlpLangevinParams p   (params_len, layers, shape)
//   1 storage read  params   flat parameter vector [params_len]
//   2 storage write weights  [transposed_at + params_len] (or more: the
//                            uniform bindings mlp_langevin may read)
// One invocation per parameter.

// MlpLangevinParams comes from mlp_params.wgsl, prepended at compile time.
@group(0) @binding(0) var<uniform> p: MlpLangevinParams;
@group(0) @binding(1) var<storage, read> params: array<f32>;
@group(0) @binding(2) var<storage, read_write> weights: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let e = gid.x + gid.y * groups.x * 64u;
    if (e >= p.params_len) {
        return;
    }
    let v = params[e];
    weights[e] = v;
    for (var l = 0u; l < p.layers; l++) {
        let s = p.shape[l];
        let at = e - s.z;
        if (e >= s.z && at < s.x * s.y) {
            // W[j, i] with j = at / n_in, i = at % n_in.
            weights[p.transposed_at + s.z + (at % s.x) * s.y + at / s.x] = v;
        }
    }
}
