// nonlocal_key_grad: ∂L/∂pooled of a non-local block, for the pooled stack
// [θ, φ, g] (θ's pooled channels are unused and get 0):
//   dφ[b, c, k] = Σ_q dS[b, q, k] θ[b, c, q]
//   dg[b, c, k] = Σ_q attn[b, q, k] dy[b, c, q]
//
// Bindings (group 0):
//   0 uniform NonLocalParams p
//   1 storage read  attn
//   2 storage read  d_scores
//   3 storage read  qkv (θ read from it)
//   4 storage read  dy
//   5 storage write d_pooled [B, 3i, keys]
// One invocation per element of d_pooled.

@group(0) @binding(0) var<uniform> p: NonLocalParams;
@group(0) @binding(1) var<storage, read> attn: array<f32>;
@group(0) @binding(2) var<storage, read> d_scores: array<f32>;
@group(0) @binding(3) var<storage, read> qkv: array<f32>;
@group(0) @binding(4) var<storage, read> dy: array<f32>;
@group(0) @binding(5) var<storage, read_write> d_pooled: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let idx = gid.x + gid.y * groups.x * 64u;
    if (idx >= p.batch * 3u * p.inter * p.keys) {
        return;
    }
    let k = idx % p.keys;
    let stacked = (idx / p.keys) % (3u * p.inter);
    let b = idx / (p.keys * 3u * p.inter);
    var s = 0.0;
    if (stacked >= 2u * p.inter) {
        let c = stacked - 2u * p.inter;
        for (var q = 0u; q < p.queries; q++) {
            s += attn[attn_at(b, q, k)] * dy[y_at(b, c, q)];
        }
    } else if (stacked >= p.inter) {
        let c = stacked - p.inter;
        for (var q = 0u; q < p.queries; q++) {
            s += d_scores[attn_at(b, q, k)] * qkv[theta_at(b, c, q)];
        }
    }
    d_pooled[idx] = s;
}
