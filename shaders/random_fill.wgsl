// random_fill: out[i] = accumulate·out[i] + shift + scale·r, r ~ U(0, 1) or N(0, 1).
//
// Counter-based (philox.wgsl): the draw for element e of row c is keyed by
// (seed, purpose) and counted by (e, c, step, iteration); step and iteration
// come from the sampler's counter buffer, which the sampling kernels advance
// on the GPU (no host work per Langevin step).
//
// Bindings (group 0):
//   0 uniform RandomParams p
//   1 storage read  counter  RngCounter {iteration, step}
//   2 storage write out      [rows, row_len] f32
// One invocation per element. Uniforms from unit_open, normals by Box–Muller
// (RngCounter, philox4x32_10, unit_open and normal_from_bits come from
// philox.wgsl, prepended at compile time).

struct RandomParams {
    seed: u32,
    purpose: u32,
    row_len: u32,
    rows: u32,
    normal: u32,
    accumulate: u32,
    scale: f32,
    shift: f32,
}

@group(0) @binding(0) var<uniform> p: RandomParams;
@group(0) @binding(1) var<storage, read> counter: RngCounter;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let idx = gid.x + gid.y * groups.x * 64u;
    if (idx >= p.rows * p.row_len) {
        return;
    }
    let e = idx % p.row_len;
    let row = idx / p.row_len;
    let bits = philox4x32_10(vec4<u32>(e, row, counter.step, counter.iteration), vec2<u32>(p.seed, p.purpose));
    var r = unit_open(bits.x);
    if (p.normal != 0u) {
        r = normal_from_bits(bits);
    }
    var value = p.shift + p.scale * r;
    if (p.accumulate != 0u) {
        value += out[idx];
    }
    out[idx] = value;
}
