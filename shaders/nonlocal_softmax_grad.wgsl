// nonlocal_softmax_grad: ∂L/∂scores of a non-local block's attention.
// With dA[k] = Σ_c dy[b, c, q] g[b, c, k] (∂L/∂attn), the softmax backward
// is dS[k] = A[k] (dA[k] − Σ_j A[j] dA[j]).
//
// Bindings (group 0):
//   0 uniform NonLocalParams p
//   1 storage read  attn
//   2 storage read  pooled (g read from it)
//   3 storage read  dy
//   4 storage write d_scores [B, queries, keys]
// One invocation per (image, query).

@group(0) @binding(0) var<uniform> p: NonLocalParams;
@group(0) @binding(1) var<storage, read> attn: array<f32>;
@group(0) @binding(2) var<storage, read> pooled: array<f32>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;
@group(0) @binding(4) var<storage, read_write> d_scores: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let idx = gid.x + gid.y * groups.x * 64u;
    if (idx >= p.batch * p.queries) {
        return;
    }
    let b = idx / p.queries;
    let q = idx % p.queries;
    var dot = 0.0;
    for (var k = 0u; k < p.keys; k++) {
        var da = 0.0;
        for (var c = 0u; c < p.inter; c++) {
            da += dy[y_at(b, c, q)] * pooled[g_at(b, c, k)];
        }
        d_scores[attn_at(b, q, k)] = da;
        dot += attn[attn_at(b, q, k)] * da;
    }
    for (var k = 0u; k < p.keys; k++) {
        let at = attn_at(b, q, k);
        d_scores[at] = attn[at] * (d_scores[at] - dot);
    }
}
