// copy_rows: gather or scatter rows through an index list, for the
// persistent chain bank (PAPER.md): each iteration a random batch of bank
// entries is gathered into the chains, advanced, and scattered back.
//   gather  (p.scatter = 0): dst[i, e] = src[index[i], e]
//   scatter (p.scatter = 1): dst[index[i], e] = src[i, e]
//
// Bindings (group 0):
//   0 uniform RowsParams p
//   1 storage read  index  [rows] u32 (distinct for scatter)
//   2 storage read  src
//   3 storage write dst
// One invocation per copied element.

struct RowsParams {
    rows: u32,
    row_len: u32,
    scatter: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: RowsParams;
@group(0) @binding(1) var<storage, read> index: array<u32>;
@group(0) @binding(2) var<storage, read> src: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let idx = gid.x + gid.y * groups.x * 64u;
    if (idx >= p.rows * p.row_len) {
        return;
    }
    let i = idx / p.row_len;
    let e = idx % p.row_len;
    let other = index[i] * p.row_len + e;
    if (p.scatter != 0u) {
        dst[other] = src[idx];
    } else {
        dst[idx] = src[other];
    }
}
