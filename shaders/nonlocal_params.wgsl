// nonlocal_params: shared by the non-local attention kernels (nonlocal_*),
// prepended to each at compile time (src/kernels/mod.rs).
// NonLocalParams mirrors src/kernels/nonlocal.rs (checked by tests/shaders.rs).
//
// Buffers of one block (per image b; i = inter channels):
//   qkv      [B, 3i, queries]  θ, φ, g before pooling (θ in channels 0..i)
//   pooled   [B, 3i, keys]     the same, 2×2 max-pooled (φ in i..2i, g in 2i..3i)
//   attn     [B, queries, keys] softmax over keys of θᵀφ
//   y, dy    [B, i, queries]

struct NonLocalParams {
    batch: u32,
    inter: u32,
    queries: u32,
    keys: u32,
}

fn theta_at(b: u32, c: u32, q: u32) -> u32 {
    return (b * 3u * p.inter + c) * p.queries + q;
}
fn phi_at(b: u32, c: u32, k: u32) -> u32 {
    return (b * 3u * p.inter + p.inter + c) * p.keys + k;
}
fn g_at(b: u32, c: u32, k: u32) -> u32 {
    return (b * 3u * p.inter + 2u * p.inter + c) * p.keys + k;
}
fn attn_at(b: u32, q: u32, k: u32) -> u32 {
    return (b * p.queries + q) * p.keys + k;
}
fn y_at(b: u32, c: u32, q: u32) -> u32 {
    return (b * p.inter + c) * p.queries + q;
}
