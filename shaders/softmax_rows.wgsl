// softmax_rows: x[r, :] = softmax(x[r, :]) in place, for rows r < rows of
// `len` values: the attention of a non-local block from its scores.
// Numerically stable: the row maximum is subtracted before exp, so no
// score overflows.
//
// Bindings (group 0):
//   0 uniform SoftmaxParams p
//   1 storage write x [rows, len]
// One invocation per row.

struct SoftmaxParams {
    rows: u32,
    len: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: SoftmaxParams;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let r = gid.x + gid.y * groups.x * 64u;
    if (r >= p.rows) {
        return;
    }
    let start = r * p.len;
    let end = start + p.len;
    var row_max = -3.4028235e38;
    for (var i = start; i < end; i++) {
        row_max = max(row_max, x[i]);
    }
    var sum = 0.0;
    for (var i = start; i < end; i++) {
        let e = exp(x[i] - row_max);
        x[i] = e;
        sum += e;
    }
    // sum ≥ 1: the maximum's term is exp(0).
    let inv = 1.0 / sum;
    for (var i = start; i < end; i++) {
        x[i] *= inv;
    }
}
