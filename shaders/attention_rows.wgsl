// attention_rows: what the two attention kernels of a non-local block
// share (attention_softmax, attention_softmax_grad), prepended at compile
// time. An invocation takes one image's block of 4 queries, and sweeps
// their rows of attention 4 keys at a time. Two operands feed it: one
// laid out by query, [C, Q] per image (θ; ∂y), one by key, [C, K] per
// image (φ; g, in the pooled θφg stack). Each is read as vec4s where its
// rows are whole vec4s (QUERY_VEC4, KEY_VEC4: src/kernels/nonlocal.rs),
// else value by value, clamped at the row's end: on lavapipe a storage
// access costs tens of instructions at any width.
//
// Bindings (group 0) shared:
//   0 uniform AttentionParams p
//   1 storage read by_query   the query operand [B, ·, Q] (channels 0..C)
//   2 storage read by_key     the key operand, at p.key_offset in [B, ·, K]
//   4 storage read by_query4  by_query again, as vec4s (read if QUERY_VEC4)
//   5 storage read by_key4    by_key again, as vec4s (read if KEY_VEC4)
override QUERY_VEC4: bool = false;
override KEY_VEC4: bool = false;

struct AttentionParams {
    batch: u32,
    queries: u32,
    keys: u32,
    // Channels summed over (the block's C/2).
    channels: u32,
    // Values from one row of attention to the next: a multiple of 4 ≥ keys.
    row: u32,
    // Values per image of the query operand, and of the key operand's stack.
    query_image: u32,
    key_image: u32,
    key_offset: u32,
}

@group(0) @binding(0) var<uniform> p: AttentionParams;
@group(0) @binding(1) var<storage, read> by_query: array<f32>;
@group(0) @binding(2) var<storage, read> by_key: array<f32>;
@group(0) @binding(4) var<storage, read> by_query4: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> by_key4: array<vec4<f32>>;

// An invocation's image and 4 queries: the first, the 4 clamped to the
// last query (those past it are computed, not stored) and which are
// stored; `taken` is false past the last image's last block.
struct QueryBlock {
    image: u32,
    first: u32,
    clamped: vec4<u32>,
    stored: vec4<bool>,
    taken: bool,
}

// The block of invocation idx (one per image and 4 queries).
fn query_block(idx: u32) -> QueryBlock {
    let blocks = (p.queries + 3u) / 4u;
    let first = (idx % blocks) * 4u;
    let lanes = vec4<u32>(first) + vec4<u32>(0u, 1u, 2u, 3u);
    let clamped = min(lanes, vec4<u32>(p.queries - 1u));
    return QueryBlock(idx / blocks, first, clamped, lanes < vec4<u32>(p.queries), idx < p.batch * blocks);
}

// Where channel c of block b's queries lie in a [B, ·, Q] operand with
// p.query_image values per image (also ∂y's partner y).
fn query_at(c: u32, b: QueryBlock) -> vec4<u32> {
    return vec4<u32>(b.image * p.query_image + c * p.queries) + b.clamped;
}

// Channel c of the query operand at block b's 4 queries.
fn query_values(c: u32, b: QueryBlock) -> vec4<f32> {
    let at = query_at(c, b);
    if (QUERY_VEC4) {
        return by_query4[at.x / 4u];
    }
    return vec4<f32>(by_query[at.x], by_query[at.y], by_query[at.z], by_query[at.w]);
}

// Channel c of the key operand at keys k0..k0 + 3 (clamped to the last).
fn key_values(c: u32, image: u32, k0: u32) -> vec4<f32> {
    let start = image * p.key_image + p.key_offset + c * p.keys;
    if (KEY_VEC4) {
        return by_key4[(start + k0) / 4u];
    }
    let at = vec4<u32>(start) + min(vec4<u32>(k0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.keys - 1u));
    return vec4<f32>(by_key[at.x], by_key[at.y], by_key[at.z], by_key[at.w]);
}

// Which of keys k0..k0 + 3 exist (the rest of a row's last vec4 is a gap).
fn live_keys(k0: u32) -> vec4<bool> {
    return vec4<u32>(k0) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(p.keys);
}

// The vec4 of attention holding query q's (of block b) keys k0..k0 + 3.
fn row_at(b: QueryBlock, q: u32, k0: u32) -> u32 {
    return (b.image * p.queries + b.first + q) * (p.row / 4u) + k0 / 4u;
}

// The 4 × 4 block of products Σ_c query[c, q] key[c, k] for block b's
// queries and keys k0..k0 + 3: element q is query q's 4 keys.
fn product_block(b: QueryBlock, k0: u32) -> array<vec4<f32>, 4> {
    var s: array<vec4<f32>, 4>;
    for (var c = 0u; c < p.channels; c++) {
        let t = query_values(c, b);
        let f = key_values(c, b.image, k0);
        s[0] += t.x * f;
        s[1] += t.y * f;
        s[2] += t.z * f;
        s[3] += t.w * f;
    }
    return s;
}
