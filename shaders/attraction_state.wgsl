// attraction_state: where attraction–diffusion keeps its state, one storage
// buffer that attraction.wgsl (before the layered Langevin step) and
// mlp_langevin.wgsl (the fused sampler) both read and update:
//   [0] pull (∇F units), [1] reach, [2] the gradient factor a of the
//   Langevin step that samples it (the sampler writes it), [3] unused,
//   then the goals [chains, dim],
//   then per chain (closest ‖x − b‖ so far, highest F before it first came
//   within reach of its goal).
// A header: prepended to the kernels that use it.

const ATTRACTION_HEADER: u32 = 4u;

fn goal_index(chain: u32, i: u32, dim: u32) -> u32 {
    return ATTRACTION_HEADER + chain * dim + i;
}

fn track_index(chain: u32, chains: u32, dim: u32) -> u32 {
    return ATTRACTION_HEADER + chains * dim + 2u * chain;
}

// The pull's factor on (x − b) at distance ‖x − b‖, for a step that
// scales the gradient by `a`: pull / max(‖x − b‖, a·pull), the gradient of
// pull·‖x − b‖ smoothed within a·pull of the goal (a Huber norm). One step's
// pull then moves a chain a·pull toward its goal, or onto it when it is
// nearer, never past it: an α so large that a step would jump over the
// goal lands on it instead, so a larger α joins more minima, not fewer.
fn pull_scale(pull: f32, a: f32, distance: f32) -> f32 {
    let smoothed = max(distance, a * pull);
    return select(0.0, pull / smoothed, smoothed > 0.0);
}

// A chain's (closest, highest) after a state at `distance` from its goal
// with energy `f`: states after it first came within `reach` are past the
// barrier and do not count toward the highest.
fn tracked(track: vec2<f32>, distance: f32, f: f32, reach: f32) -> vec2<f32> {
    var highest = track.y;
    if (track.x >= reach) {
        highest = max(highest, f);
    }
    return vec2<f32>(min(track.x, distance), highest);
}
