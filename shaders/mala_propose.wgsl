// mala_propose: the Metropolis-adjusted Langevin proposal, per element,
//   x' = x − a·∇F(x) + ε·P,   P ~ N(0, I) (filled by random_fill),
// with a = ε²/(2T) (PAPER.md). Advances the sampler's RNG step counter.
//
// Bindings (group 0):
//   0 uniform MalaParams p
//   1 storage read  x        [chains, dim]  current states
//   2 storage read  grad     [chains, dim]  ∇F(x)
//   3 storage read  momentum [chains, dim]  P
//   4 storage write proposal [chains, dim]  x' (the energy's input)
//   5 storage rw    counter  RngCounter; step += 1 (by invocation 0)
// RngCounter comes from philox.wgsl, prepended at compile time.

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
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read> momentum: array<f32>;
@group(0) @binding(4) var<storage, read_write> proposal: array<f32>;
@group(0) @binding(5) var<storage, read_write> counter: RngCounter;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let idx = gid.x + gid.y * groups.x * 64u;
    if (idx == 0u) {
        counter.step += 1u;
    }
    if (idx >= p.chains * p.dim) {
        return;
    }
    proposal[idx] = x[idx] - p.a * grad[idx] + p.epsilon * momentum[idx];
}
