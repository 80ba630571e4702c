// analytic_energy: F and ∇F of a known energy, per chain, to test samplers
// without a network. A mixture of two isotropic Gaussians with means ±μ·e₁,
// standard deviation σ and weights w, 1 − w:
//   F(x) = −log(w·exp(−‖x − μ₁‖²/2σ²) + (1 − w)·exp(−‖x − μ₂‖²/2σ²))
// (μ = 0 gives the Gaussian F = ‖x‖²/2σ² exactly). Log-sum-exp keeps it stable.
//
// Bindings (group 0):
//   0 uniform AnalyticParams p
//   1 storage read  x       [chains, dim]
//   2 storage write energy  [chains]
//   3 storage write grad    [chains, dim]
// One invocation per chain.

struct AnalyticParams {
    chains: u32,
    dim: u32,
    sigma: f32,
    mu: f32,
    weight: f32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: AnalyticParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> energy: array<f32>;
@group(0) @binding(3) var<storage, read_write> grad: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let chain = gid.x + gid.y * groups.x * 64u;
    if (chain >= p.chains) {
        return;
    }
    let base = chain * p.dim;
    let s2 = p.sigma * p.sigma;
    var q1 = 0.0;
    var q2 = 0.0;
    for (var i = 0u; i < p.dim; i++) {
        var shift = 0.0;
        if (i == 0u) {
            shift = p.mu;
        }
        let d1 = x[base + i] - shift;
        let d2 = x[base + i] + shift;
        q1 += d1 * d1;
        q2 += d2 * d2;
    }
    // log-weights of the two components; subtract the larger before exp.
    let l1 = log(p.weight) - 0.5 * q1 / s2;
    let l2 = log(1.0 - p.weight) - 0.5 * q2 / s2;
    let top = max(l1, l2);
    let e1 = exp(l1 - top);
    let e2 = exp(l2 - top);
    energy[chain] = -(top + log(e1 + e2));
    let r1 = e1 / (e1 + e2);
    for (var i = 0u; i < p.dim; i++) {
        var shift = 0.0;
        if (i == 0u) {
            shift = p.mu;
        }
        let xi = x[base + i];
        grad[base + i] = (r1 * (xi - shift) + (1.0 - r1) * (xi + shift)) / s2;
    }
}
