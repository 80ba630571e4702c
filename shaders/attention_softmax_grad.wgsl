// attention_softmax_grad: ∂L/∂scores of a non-local block from ∂L/∂y, the
// attention A and the values g, in one sweep of each row. With
// ∂A[q, k] = Σ_c ∂y[c, q] g[c, k] (never stored),
//   ∂scores[q, k] = A[q, k] (∂A[q, k] − Σ_k' A[q, k'] ∂A[q, k']),
// and the row's sum is Σ_c ∂y[c, q] y[c, q], since y[c, q] =
// Σ_k A[q, k] g[c, k]: read from y, not summed over the row first. Values
// past the keys in a row's last vec4 are set to 0.
//
// Bindings (group 0): as attention_rows.wgsl, with
//   1 by_query  ∂y [B, C, Q] (p.query_image = CQ)
//   2 by_key    pooled θφg [B, 3C, K] (g at p.key_offset = 2CK)
//   3 storage read  attn     [B·Q, p.row] as vec4s (attention_softmax's)
//   6 storage write d_scores [B·Q, p.row] as vec4s
//   7 storage read  y        [B, C, Q], laid out as ∂y
//   8 storage read  y4       y again, as vec4s (read if QUERY_VEC4)
// One invocation per image and block of 4 queries.
@group(0) @binding(3) var<storage, read> attn: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> d_scores: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read> y: array<f32>;
@group(0) @binding(8) var<storage, read> y4: array<vec4<f32>>;

fn y_values(c: u32, b: QueryBlock) -> vec4<f32> {
    let at = query_at(c, b);
    if (QUERY_VEC4) {
        return y4[at.x / 4u];
    }
    return vec4<f32>(y[at.x], y[at.y], y[at.z], y[at.w]);
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let b = query_block(gid.x + gid.y * groups.x * 64u);
    if (!b.taken) {
        return;
    }
    // Σ_k A[q, k] ∂A[q, k] for the 4 queries.
    var dot = vec4<f32>(0.0);
    for (var c = 0u; c < p.channels; c++) {
        dot += query_values(c, b) * y_values(c, b);
    }
    for (var k0 = 0u; k0 < p.keys; k0 += 4u) {
        let live = live_keys(k0);
        let d_attn = product_block(b, k0);
        for (var q = 0u; q < 4u; q++) {
            if (b.stored[q]) {
                let at = row_at(b, q, k0);
                d_scores[at] = select(vec4<f32>(0.0), attn[at] * (d_attn[q] - dot[q]), live);
            }
        }
    }
}
