// softmax_rows_grad: the backward of softmax_rows, in place. With s the
// softmax of a row and g = ∂L/∂s on entry, g becomes ∂L/∂(scores):
//   g[r, i] ← s[r, i] (g[r, i] − Σ_j s[r, j] g[r, j]).
// Rows of `len` values start every `stride` (a multiple of 4), read as
// vec4s as in softmax_rows; the values past len in a row's last vec4 are
// left out of the sum and set to 0.
//
// Bindings (group 0):
//   0 uniform SoftmaxParams p
//   1 storage read  s [rows, stride]  (softmax_rows' output)
//   2 storage write g [rows, stride]
// One invocation per row.

struct SoftmaxParams {
    rows: u32,
    len: u32,
    stride: u32,
    _pad0: u32,
}

@group(0) @binding(0) var<uniform> p: SoftmaxParams;
@group(0) @binding(1) var<storage, read> s: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> g: array<vec4<f32>>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let r = gid.x + gid.y * groups.x * 64u;
    if (r >= p.rows) {
        return;
    }
    let start = r * (p.stride / 4u);
    let full = start + p.len / 4u;
    let in_tail = vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(p.len % 4u);
    let tail = any(in_tail);
    var dot4 = vec4<f32>(0.0);
    for (var i = start; i < full; i++) {
        dot4 += s[i] * g[i];
    }
    if (tail) {
        dot4 += select(vec4<f32>(0.0), s[full] * g[full], in_tail);
    }
    let dot = (dot4.x + dot4.y) + (dot4.z + dot4.w);
    for (var i = start; i < full; i++) {
        g[i] = s[i] * (g[i] - dot);
    }
    if (tail) {
        g[full] = select(vec4<f32>(0.0), s[full] * (g[full] - dot), in_tail);
    }
}
