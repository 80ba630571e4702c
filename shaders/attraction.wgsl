// attraction: the pull of attraction–diffusion (PAPER.md, "What the paper
// shows", 4), added to a field's gradient before langevin_step. A chain
// started at one local minimum samples
//   U(x)/T + α‖x − b‖
// toward its goal b, another minimum: in ∇F units (langevin_step scales ∇F
// by a = ε²/(2T)) the pull is p.pull·(x − b)/‖x − b‖ with p.pull = α·T.
// Per chain it also keeps, over every state it is evaluated at, the closest
// it has come to its goal and the highest F on its way there (the barrier it
// crossed): states after it first came within p.reach of the goal are past
// the barrier and do not count.
//
// Bindings (group 0):
//   0 uniform AttractionParams p
//   1 storage read  x      [chains, dim]  chain states (the field's input)
//   2 storage read  goal   [chains, dim]  the minimum each chain is pulled to
//   3 storage rw    grad   [chains, dim]  ∇F(x), the pull added in place
//   4 storage read  energy [chains]       F(x)
//   5 storage rw    track  [chains, 2]    (min ‖x − b‖, max F before reach)
// One workgroup of 64 per chain (workgroup index = chain): ‖x − b‖ is a tree
// sum in workgroup memory (workgroup_sum.wgsl), as langevin_step's norm.

struct AttractionParams {
    chains: u32,
    dim: u32,
    pull: f32,
    reach: f32,
}

@group(0) @binding(0) var<uniform> p: AttractionParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> goal: array<f32>;
@group(0) @binding(3) var<storage, read_write> grad: array<f32>;
@group(0) @binding(4) var<storage, read> energy: array<f32>;
@group(0) @binding(5) var<storage, read_write> track: array<f32>;

@compute @workgroup_size(64)
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
    let base = chain * p.dim;
    var d2 = 0.0;
    for (var i = lid; i < p.dim; i += 64u) {
        let d = x[base + i] - goal[base + i];
        d2 += d * d;
    }
    let distance = sqrt(workgroup_sum(lid, d2));
    // At the goal itself the pull has no direction: none.
    let scale = select(0.0, p.pull / distance, distance > 0.0);
    for (var i = lid; i < p.dim; i += 64u) {
        grad[base + i] += scale * (x[base + i] - goal[base + i]);
    }
    if (lid == 0u) {
        if (track[chain * 2u] >= p.reach) {
            track[chain * 2u + 1u] = max(track[chain * 2u + 1u], energy[chain]);
        }
        track[chain * 2u] = min(track[chain * 2u], distance);
    }
}
