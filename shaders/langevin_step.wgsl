// langevin_step: one unadjusted Langevin step per chain,
//   x ← x − a·∇F(x) + b·z,   z ~ N(0, I) (filled by random_fill),
// with a = ε²/(2T), b = τ·ε (PAPER.md; the invariant form has a = 1).
// Accumulates r = ‖a·∇F(x)‖₂ per chain (the diagnostic r_t is its mean over
// chains and steps), and advances the sampler's RNG step counter.
//
// Bindings (group 0):
//   0 uniform LangevinParams p
//   1 storage rw    x        [chains, dim]  chain states (the energy's input)
//   2 storage read  grad     [chains, dim]  ∇F(x)
//   3 storage read  noise    [chains, dim]  z
//   4 storage rw    stats    [chains, 4]    (.., .., Σ r, ..) per chain
//   5 storage rw    counter  RngCounter; step += 1 (by chain 0, after its use)
// One invocation per chain: the norm needs the whole chain.

struct LangevinParams {
    chains: u32,
    dim: u32,
    a: f32,
    b: f32,
}

struct RngCounter {
    iteration: u32,
    step: u32,
}

@group(0) @binding(0) var<uniform> p: LangevinParams;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read> noise: array<f32>;
@group(0) @binding(4) var<storage, read_write> stats: array<f32>;
@group(0) @binding(5) var<storage, read_write> counter: RngCounter;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let chain = gid.x + gid.y * groups.x * 64u;
    if (chain == 0u) {
        // Nobody reads the counter during this dispatch; the next one sees the new step.
        counter.step += 1u;
    }
    if (chain >= p.chains) {
        return;
    }
    var norm2 = 0.0;
    let base = chain * p.dim;
    for (var i = 0u; i < p.dim; i++) {
        let g = grad[base + i];
        norm2 += g * g;
        x[base + i] = x[base + i] - p.a * g + p.b * noise[base + i];
    }
    stats[chain * 4u + 2u] += p.a * sqrt(norm2);
}
