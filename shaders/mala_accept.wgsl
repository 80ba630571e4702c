// mala_accept: the Metropolis–Hastings test of a MALA proposal, per chain
// (PAPER.md): with U = F/T, P' = P − (ε/2)(∇U(x) + ∇U(x')),
// H = U + ‖P‖²/2, accept when u < exp(H(x, P) − H(x', P')).
// On acceptance x, F(x) and ∇F(x) take the proposal's values. With p.init = 1
// every proposal is taken and nothing is counted: this loads F and ∇F of the
// starting states (evaluated through the proposal buffer).
//
// Bindings (group 0):
//   0 uniform MalaParams p
//   1 storage rw    x              [chains, dim]  states
//   2 storage rw    grad           [chains, dim]  ∇F(x)
//   3 storage read  proposal       [chains, dim]  x'
//   4 storage read  energy_prop    [chains]       F(x')
//   5 storage read  grad_prop      [chains, dim]  ∇F(x')
//   6 storage read  momentum       [chains, dim]  P
//   7 storage rw    stats          [chains, 4]    (F(x), accepted count, Σ r, proposals)
//   8 storage read  coin           [chains]       u ~ U(0, 1)
// One invocation per chain.

struct MalaParams {
    chains: u32,
    dim: u32,
    a: f32,
    epsilon: f32,
    inv_temperature: f32,
    init: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: MalaParams;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> grad: array<f32>;
@group(0) @binding(3) var<storage, read> proposal: array<f32>;
@group(0) @binding(4) var<storage, read> energy_prop: array<f32>;
@group(0) @binding(5) var<storage, read> grad_prop: array<f32>;
@group(0) @binding(6) var<storage, read> momentum: array<f32>;
@group(0) @binding(7) var<storage, read_write> stats: array<f32>;
@group(0) @binding(8) var<storage, read> coin: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let chain = gid.x + gid.y * groups.x * 64u;
    if (chain >= p.chains) {
        return;
    }
    let base = chain * p.dim;
    var accept = p.init != 0u;
    if (!accept) {
        // ε/(2T) (∇F(x) + ∇F(x')) is (ε/2)(∇U(x) + ∇U(x')).
        let c = 0.5 * p.epsilon * p.inv_temperature;
        var kinetic = 0.0;
        var kinetic_prop = 0.0;
        var norm2 = 0.0;
        for (var i = 0u; i < p.dim; i++) {
            let m = momentum[base + i];
            let g = grad[base + i];
            let m_prop = m - c * (g + grad_prop[base + i]);
            kinetic += m * m;
            kinetic_prop += m_prop * m_prop;
            norm2 += g * g;
        }
        // r: ‖a·∇F‖ at the state the step starts from, as langevin_step takes it.
        stats[chain * 4u + 2u] += p.a * sqrt(norm2);
        let h = stats[chain * 4u] * p.inv_temperature + 0.5 * kinetic;
        let h_prop = energy_prop[chain] * p.inv_temperature + 0.5 * kinetic_prop;
        // log u < H − H' avoids overflow of exp. H − H' = NaN or −∞ (a
        // proposal of infinite or NaN energy) is rejected, +∞ (from a state
        // of infinite energy) accepted, each told by its bits: WGSL lets a
        // compiler assume floats finite (Metal's fast math does), so that
        // comparisons with them may come out either way.
        let dh = h - h_prop;
        let bits = bitcast<u32>(dh);
        let not_finite = (bits & 0x7f800000u) == 0x7f800000u;
        let plus_infinity = bits == 0x7f800000u;
        accept = plus_infinity || (!not_finite && log(coin[chain]) < dh);
        stats[chain * 4u + 3u] += 1.0;
    }
    if (accept) {
        for (var i = 0u; i < p.dim; i++) {
            x[base + i] = proposal[base + i];
            grad[base + i] = grad_prop[base + i];
        }
        stats[chain * 4u] = energy_prop[chain];
        if (p.init == 0u) {
            stats[chain * 4u + 1u] += 1.0;
        }
    }
}
