// philox: the counter-based generator (Philox-4x32-10) shared by every kernel
// that draws random numbers, prepended to each of them at compile time
// (src/kernels/mod.rs), so the stream exists once. The draw for element e
// of row (chain) c is a pure function of key (seed, purpose) and counter
// (e, c, step, iteration): results do not depend on dispatch order, and a
// seed reproduces a run. src/reference/philox.rs is its CPU twin.
// RngCounter mirrors src/kernels/sampling.rs (checked by tests/shaders.rs).

// The (iteration, step) words of the counter, in a small buffer the
// sampling kernels read; rng_advance.wgsl moves `step` on.
struct RngCounter {
    iteration: u32,
    step: u32,
}

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

// (k + 0.5)·2⁻²³ with k the top 23 bits of a word: in (0, 1), never 0, so
// log() is safe, and exact in f32 (k + 0.5 needs 24 bits).
fn unit_open(w: u32) -> f32 {
    return (f32(w >> 9u) + 0.5) * (1.0 / 8388608.0);
}

// A standard normal from one Philox block, by Box–Muller on its first two
// words. cos(2πu) is taken as −cos(2π(u − ½)): WGSL bounds cos's error only
// on [−π, π], and u − ½ is exact.
fn normal_from_bits(bits: vec4<u32>) -> f32 {
    return -sqrt(-2.0 * log(unit_open(bits.x))) * cos(6.283185307179586 * (unit_open(bits.y) - 0.5));
}

// The Langevin noise z of element e of chain c at (step, iteration).
fn langevin_noise(e: u32, chain: u32, counter: RngCounter, seed: u32, purpose: u32) -> f32 {
    return normal_from_bits(philox4x32_10(vec4<u32>(e, chain, counter.step, counter.iteration), vec2<u32>(seed, purpose)));
}
