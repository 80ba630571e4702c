// softmax_rows_grad: the backward of softmax_rows, in place. With s the
// softmax of a row and g = ∂L/∂s on entry, g becomes ∂L/∂(scores):
//   g[r, i] ← s[r, i] (g[r, i] − Σ_j s[r, j] g[r, j]).
//
// Bindings (group 0):
//   0 uniform SoftmaxParams p
//   1 storage read  s [rows, len]  (softmax_rows' output)
//   2 storage write g [rows, len]
// One invocation per row.

struct SoftmaxParams {
    rows: u32,
    len: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: SoftmaxParams;
@group(0) @binding(1) var<storage, read> s: array<f32>;
@group(0) @binding(2) var<storage, read_write> g: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let r = gid.x + gid.y * groups.x * 64u;
    if (r >= p.rows) {
        return;
    }
    let start = r * p.len;
    let end = start + p.len;
    var dot = 0.0;
    for (var i = start; i < end; i++) {
        dot += s[i] * g[i];
    }
    for (var i = start; i < end; i++) {
        g[i] = s[i] * (g[i] - dot);
    }
}
