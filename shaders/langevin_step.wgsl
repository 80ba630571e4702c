// langevin_step: one unadjusted Langevin step per chain,
//   x ← x − a·∇F(x) + b·z,   z ~ N(0, I),
// with a = ε²/(2T), b = τ·ε (PAPER.md; the invariant form has a = 1). The
// noise is drawn here (philox.wgsl, purpose p.purpose, counted by the
// sampler's counter), not read from a buffer, and the step accumulates
// r = ‖a·∇F(x)‖₂ per chain (the diagnostic r_t is its mean over chains and
// steps). The step draws at counter.step + p.step_offset: a run of steps
// recorded together reads the counter as it is, each step at its own
// offset, and one rng_advance.wgsl after the run moves the counter past
// them all (every chain reads the counter here, so none may write it; a
// dispatch of its own per step would be a pass boundary more per step).
//
// Bindings (group 0):
//   0 uniform LangevinParams p
//   1 storage rw    x        [chains, dim]  chain states (the energy's input)
//   2 storage read  grad     [chains, dim]  ∇F(x)
//   3 storage rw    stats    [chains, 4]    (.., .., Σ r, ..) per chain
//   4 storage read  counter  RngCounter
//   5 storage read  energy   [chains]       F(x), as the field's kernels left it
//   6 storage write path     [steps, chains] if p.record_path: F(x) of the step
//                            counter.step + p.step_offset (the energy path
//                            of an iteration)
// One workgroup of LANES per chain (workgroup index = chain): the
// invocations stride over the chain's elements, and the norm is a tree sum in
// workgroup memory (workgroup_sum.wgsl), so a 3 072-value image is not one
// invocation's serial loop. LANES is 256, not the 64 of the other kernels:
// each element's noise is a Philox draw of 10 dependent rounds, and with 64
// an image's invocations drew 48 in a row, on a workgroup per chain (100
// chains: a workgroup for each of a GPU's cores, or fewer).

const LANES: u32 = 256u;

struct LangevinParams {
    chains: u32,
    dim: u32,
    a: f32,
    b: f32,
    seed: u32,
    purpose: u32,
    record_path: u32,
    step_offset: u32,
}

@group(0) @binding(0) var<uniform> p: LangevinParams;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> stats: array<f32>;
@group(0) @binding(4) var<storage, read> counter: RngCounter;
@group(0) @binding(5) var<storage, read> energy: array<f32>;
@group(0) @binding(6) var<storage, read_write> path: array<f32>;

@compute @workgroup_size(256)
fn main(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let chain = wg.x + wg.y * groups.x;
    // Uniform per workgroup, so the barriers below are reached by all or none.
    if (chain >= p.chains) {
        return;
    }
    let rng = RngCounter(counter.iteration, counter.step + p.step_offset);
    var norm2 = 0.0;
    let base = chain * p.dim;
    for (var i = lid; i < p.dim; i += LANES) {
        let g = grad[base + i];
        norm2 += g * g;
        let z = langevin_noise(i, chain, rng, p.seed, p.purpose);
        x[base + i] = x[base + i] - p.a * g + p.b * z;
    }
    let total = workgroup_sum(lid, LANES, norm2);
    if (lid == 0u) {
        stats[chain * 4u + 2u] += p.a * sqrt(total);
        let at = rng.step * p.chains + chain;
        if (p.record_path != 0u && at < arrayLength(&path)) {
            path[at] = energy[chain];
        }
    }
}
