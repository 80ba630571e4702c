// nonlocal_attention: attn[b, q, :] = softmax_k(Σ_c θ[b, c, q] φ[b, c, k]),
// the attention of a non-local block. Numerically stable: the row maximum
// is subtracted before exp, so no score overflows.
//
// Bindings (group 0):
//   0 uniform NonLocalParams p
//   1 storage read  qkv    (θ read from it)
//   2 storage read  pooled (φ read from it)
//   3 storage write attn
// One invocation per (image, query).

@group(0) @binding(0) var<uniform> p: NonLocalParams;
@group(0) @binding(1) var<storage, read> qkv: array<f32>;
@group(0) @binding(2) var<storage, read> pooled: array<f32>;
@group(0) @binding(3) var<storage, read_write> attn: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let idx = gid.x + gid.y * groups.x * 64u;
    if (idx >= p.batch * p.queries) {
        return;
    }
    let b = idx / p.queries;
    let q = idx % p.queries;
    var row_max = -3.4028235e38;
    for (var k = 0u; k < p.keys; k++) {
        var s = 0.0;
        for (var c = 0u; c < p.inter; c++) {
            s += qkv[theta_at(b, c, q)] * pooled[phi_at(b, c, k)];
        }
        attn[attn_at(b, q, k)] = s;
        row_max = max(row_max, s);
    }
    var sum = 0.0;
    for (var k = 0u; k < p.keys; k++) {
        let e = exp(attn[attn_at(b, q, k)] - row_max);
        attn[attn_at(b, q, k)] = e;
        sum += e;
    }
    // sum ≥ 1: the maximum's term is exp(0).
    let inv = 1.0 / sum;
    for (var k = 0u; k < p.keys; k++) {
        attn[attn_at(b, q, k)] *= inv;
    }
}
