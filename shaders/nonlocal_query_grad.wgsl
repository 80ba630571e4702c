// nonlocal_query_grad: dθ[b, c, q] = Σ_k dS[b, q, k] φ[b, c, k], written
// into θ's channels of ∂L/∂qkv (after the pooling backward has filled the
// φ and g channels and put zeros in θ's).
//
// Bindings (group 0):
//   0 uniform NonLocalParams p
//   1 storage read  d_scores
//   2 storage read  pooled (φ read from it)
//   3 storage write d_qkv [B, 3i, queries] (θ channels only)
// One invocation per element of dθ.

@group(0) @binding(0) var<uniform> p: NonLocalParams;
@group(0) @binding(1) var<storage, read> d_scores: array<f32>;
@group(0) @binding(2) var<storage, read> pooled: array<f32>;
@group(0) @binding(3) var<storage, read_write> d_qkv: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let idx = gid.x + gid.y * groups.x * 64u;
    if (idx >= p.batch * p.inter * p.queries) {
        return;
    }
    let q = idx % p.queries;
    let c = (idx / p.queries) % p.inter;
    let b = idx / (p.queries * p.inter);
    var s = 0.0;
    for (var k = 0u; k < p.keys; k++) {
        s += d_scores[attn_at(b, q, k)] * pooled[phi_at(b, c, k)];
    }
    d_qkv[theta_at(b, c, q)] = s;
}
