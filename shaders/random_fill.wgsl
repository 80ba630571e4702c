// random_fill: out[i] = accumulate·out[i] + shift + scale·r, r ~ U(0, 1) or N(0, 1).
//
// Counter-based (Philox-4x32-10): the draw for element e of row (chain) c is
// a pure function of key (seed, purpose) and counter (e, c, step, iteration),
// so results do not depend on dispatch order, and a seed reproduces a run.
// step and iteration come from the sampler's counter buffer, which the
// sampling kernels advance on the GPU (no host work per Langevin step).
//
// Bindings (group 0):
//   0 uniform RandomParams p
//   1 storage read  counter  RngCounter {iteration, step}
//   2 storage write out      [rows, row_len] f32
// One invocation per element. Uniforms are (k + 0.5)·2⁻²³ with k the top 23
// bits of a word: in (0, 1), never 0, so log() is safe, and exact in f32
// (k + 0.5 needs 24 bits). Normals by Box–Muller.

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

struct RngCounter {
    iteration: u32,
    step: u32,
}

@group(0) @binding(0) var<uniform> p: RandomParams;
@group(0) @binding(1) var<storage, read> counter: RngCounter;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

// (high, low) words of the 64-bit product a·b, from 16-bit halves (WGSL has no u64).
fn mulhilo(a: u32, b: u32) -> vec2<u32> {
    let a_lo = a & 0xffffu;
    let a_hi = a >> 16u;
    let b_lo = b & 0xffffu;
    let b_hi = b >> 16u;
    let ll = a_lo * b_lo;
    let lh = a_lo * b_hi;
    let hl = a_hi * b_lo;
    let hh = a_hi * b_hi;
    let mid = (ll >> 16u) + (lh & 0xffffu) + (hl & 0xffffu);
    let hi = hh + (lh >> 16u) + (hl >> 16u) + (mid >> 16u);
    return vec2<u32>(hi, a * b);
}

fn philox4x32_10(counter_in: vec4<u32>, key_in: vec2<u32>) -> vec4<u32> {
    var c = counter_in;
    var k = key_in;
    for (var round = 0u; round < 10u; round++) {
        let p0 = mulhilo(0xD2511F53u, c.x);
        let p1 = mulhilo(0xCD9E8D57u, c.z);
        c = vec4<u32>(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
        k = k + vec2<u32>(0x9E3779B9u, 0xBB67AE85u);
    }
    return c;
}

fn unit_open(w: u32) -> f32 {
    return (f32(w >> 9u) + 0.5) * (1.0 / 8388608.0);
}

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
        r = sqrt(-2.0 * log(r)) * cos(6.283185307179586 * unit_open(bits.y));
    }
    var value = p.shift + p.scale * r;
    if (p.accumulate != 0u) {
        value += out[idx];
    }
    out[idx] = value;
}
