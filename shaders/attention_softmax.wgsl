// attention_softmax: a non-local block's attention from θ and φ, its
// scores and their softmax over keys in one kernel:
//   attn[b, q, k] = softmax_k(Σ_c θ[b, c, q] φ[b, c, k]).
// Two sweeps of an invocation's 4 rows (attention_rows.wgsl): the first
// stores the scores and keeps each row's running maximum m and sum of
// exp(score − m), rescaled as m grows (an online softmax: no exp can
// overflow, and the row is not read again for its maximum); the second
// turns each score s into exp(s − m) / sum. Values past the keys in a
// row's last vec4 are set to 0.
//
// Bindings (group 0): as attention_rows.wgsl, with
//   1 by_query  θφg [B, 3C, Q] (θ: channels 0..C; p.query_image = 3CQ)
//   2 by_key    pooled θφg [B, 3C, K] (φ at p.key_offset = CK)
//   3 storage write attn [B·Q, p.row] as vec4s
// One invocation per image and block of 4 queries.
@group(0) @binding(3) var<storage, read_write> attn: array<vec4<f32>>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let b = query_block(gid.x + gid.y * groups.x * 64u);
    if (!b.taken) {
        return;
    }
    let lowest = -3.4028235e38;
    var row_max = vec4<f32>(lowest);
    var sum = vec4<f32>(0.0);
    for (var k0 = 0u; k0 < p.keys; k0 += 4u) {
        let live = live_keys(k0);
        let s = product_block(b, k0);
        for (var q = 0u; q < 4u; q++) {
            let scores = select(vec4<f32>(lowest), s[q], live);
            let m = max(row_max[q], max(max(scores.x, scores.y), max(scores.z, scores.w)));
            let e = select(vec4<f32>(0.0), exp(scores - m), live);
            sum[q] = sum[q] * exp(row_max[q] - m) + ((e.x + e.y) + (e.z + e.w));
            row_max[q] = m;
            if (b.stored[q]) {
                attn[row_at(b, q, k0)] = s[q];
            }
        }
    }
    // sum ≥ 1: the maximum's term is exp(0).
    let inv = 1.0 / sum;
    for (var k0 = 0u; k0 < p.keys; k0 += 4u) {
        let live = live_keys(k0);
        for (var q = 0u; q < 4u; q++) {
            if (b.stored[q]) {
                let at = row_at(b, q, k0);
                attn[at] = select(vec4<f32>(0.0), exp(attn[at] - row_max[q]) * inv[q], live);
            }
        }
    }
}
