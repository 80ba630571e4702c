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
// One workgroup of 64 per chain (workgroup index = chain): the invocations
// stride over the chain's elements, and the norm is a tree sum in workgroup
// memory, so a 3 072-value image is not one invocation's serial loop.

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

var<workgroup> partial: array<f32, 64>;

@compute @workgroup_size(64)
fn main(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let chain = wg.x + wg.y * groups.x;
    if (chain == 0u && lid == 0u) {
        // Nobody reads the counter during this dispatch; the next one sees the new step.
        counter.step += 1u;
    }
    // Uniform per workgroup, so the barriers below are reached by all or none.
    if (chain >= p.chains) {
        return;
    }
    var norm2 = 0.0;
    let base = chain * p.dim;
    for (var i = lid; i < p.dim; i += 64u) {
        let g = grad[base + i];
        norm2 += g * g;
        x[base + i] = x[base + i] - p.a * g + p.b * noise[base + i];
    }
    partial[lid] = norm2;
    workgroupBarrier();
    for (var half = 32u; half > 0u; half >>= 1u) {
        if (lid < half) {
            partial[lid] += partial[lid + half];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        stats[chain * 4u + 2u] += p.a * sqrt(partial[0]);
    }
}
