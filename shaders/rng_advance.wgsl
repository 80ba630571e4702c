// rng_advance: counter.step += p.steps, after the dispatches whose
// invocations all read the counter (mlp_langevin; a run of langevin_steps,
// each at its own offset), so that the next draws fresh numbers. One
// invocation.
//
// Bindings (group 0):
//   0 uniform AdvanceParams p
//   1 storage rw counter RngCounter (from philox.wgsl, prepended at compile time)

struct AdvanceParams {
    steps: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: AdvanceParams;
@group(0) @binding(1) var<storage, read_write> counter: RngCounter;

@compute @workgroup_size(1)
fn main() {
    counter.step += p.steps;
}
