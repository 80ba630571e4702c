// nonlocal_mix: y[b, c, q] = Σ_k attn[b, q, k] g[b, c, k], the attended
// values of a non-local block.
//
// Bindings (group 0):
//   0 uniform NonLocalParams p
//   1 storage read  attn
//   2 storage read  pooled (g read from it)
//   3 storage write y
// One invocation per output element.

@group(0) @binding(0) var<uniform> p: NonLocalParams;
@group(0) @binding(1) var<storage, read> attn: array<f32>;
@group(0) @binding(2) var<storage, read> pooled: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

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
        s += attn[attn_at(b, q, k)] * pooled[g_at(b, c, k)];
    }
    y[idx] = s;
}
