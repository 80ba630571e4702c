// optimizer_step: one SGD or Adam step on the flat parameter vector, as
// PyTorch's torch.optim.SGD (no momentum) and torch.optim.Adam:
//   SGD:  θ ← θ − lr·g
//   Adam: m ← β₁m + (1 − β₁)g;  v ← β₂v + (1 − β₂)g²;
//         θ ← θ − (lr / c₁)·m / (√v / √c₂ + eps),  c_k = 1 − β_kᵗ (bias correction)
// c₁, c₂ are computed on the host from the step count t.
//
// Bindings (group 0):
//   0 uniform OptimParams p
//   1 storage rw    params [n]
//   2 storage read  grads  [n]
//   3 storage rw    m      [n]  (Adam's first moment; unused by SGD)
//   4 storage rw    v      [n]  (Adam's second moment; unused by SGD)
// One invocation per parameter.

struct OptimParams {
    n: u32,
    adam: u32,
    lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    bias_correction1: f32,
    bias_correction2: f32,
}

@group(0) @binding(0) var<uniform> p: OptimParams;
@group(0) @binding(1) var<storage, read_write> params: array<f32>;
@group(0) @binding(2) var<storage, read> grads: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * 64u;
    if (i >= p.n) {
        return;
    }
    let g = grads[i];
    if (p.adam == 0u) {
        params[i] -= p.lr * g;
        return;
    }
    let m_new = p.beta1 * m[i] + (1.0 - p.beta1) * g;
    let v_new = p.beta2 * v[i] + (1.0 - p.beta2) * g * g;
    m[i] = m_new;
    v[i] = v_new;
    let denom = sqrt(v_new) / sqrt(p.bias_correction2) + p.eps;
    params[i] -= (p.lr / p.bias_correction1) * m_new / denom;
}
