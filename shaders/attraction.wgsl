// attraction: the pull of attraction–diffusion (PAPER.md, "What the paper
// shows", 4), added to a field's gradient before langevin_step. A chain
// started at one local minimum samples
//   exp(−U(x)/f − α‖x − b‖),  U = F/T, f the temperature factor,
// toward its goal b, another minimum: in ∇F units (langevin_step scales ∇F
// by a = ε²/(2T), f or not) the pull is pull·(x − b)/‖x − b‖ with pull = α·T·f,
// smoothed within a·pull of the goal so that no step carries a chain past
// it (pull_scale).
// Per chain it also keeps, over every state it is evaluated at, the closest
// it has come to its goal and the highest F on its way there (the barrier it
// crossed): states after it first came within reach of the goal are past
// the barrier and do not count. The fused sampler (mlp_langevin.wgsl) does
// the same inside its steps, on the same state buffer.
//
// Bindings (group 0):
//   0 uniform AttractionParams p
//   1 storage read  x      [chains, dim]  chain states (the field's input)
//   2 storage rw    state  pull, reach, goals and tracks (attraction_state.wgsl)
//   3 storage rw    grad   [chains, dim]  ∇F(x), the pull added in place
//   4 storage read  energy [chains]       F(x)
// One workgroup of 64 per chain (workgroup index = chain): ‖x − b‖ is a tree
// sum in workgroup memory (workgroup_sum.wgsl), as langevin_step's norm.

struct AttractionParams {
    chains: u32,
    dim: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: AttractionParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> state: array<f32>;
@group(0) @binding(3) var<storage, read_write> grad: array<f32>;
@group(0) @binding(4) var<storage, read> energy: array<f32>;

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
        let d = x[base + i] - state[goal_index(chain, i, p.dim)];
        d2 += d * d;
    }
    let distance = sqrt(workgroup_sum(lid, 64u, d2));
    let scale = pull_scale(state[0], state[2], distance);
    for (var i = lid; i < p.dim; i += 64u) {
        grad[base + i] += scale * (x[base + i] - state[goal_index(chain, i, p.dim)]);
    }
    if (lid == 0u) {
        let t = track_index(chain, p.chains, p.dim);
        let next = tracked(vec2<f32>(state[t], state[t + 1u]), distance, energy[chain], state[1]);
        state[t] = next.x;
        state[t + 1u] = next.y;
    }
}
