// softmax_rows: x[r, :len] = softmax(x[r, :len]) in place, for rows r < rows:
// the attention of a non-local block from its scores. Rows start every
// `stride` values (a multiple of 4, ≥ len), so that each is read as vec4s:
// one vec4 load costs about what one f32 load does (on lavapipe a vec4
// load measured 2–2.5× faster than four f32 loads), and the values past
// len in a row's last vec4 are set to 0.
// Numerically stable: the row maximum is subtracted before exp, so no
// score overflows.
//
// Bindings (group 0):
//   0 uniform SoftmaxParams p
//   1 storage write x [rows, stride]
// One invocation per row.

struct SoftmaxParams {
    rows: u32,
    len: u32,
    stride: u32,
    _pad0: u32,
}

@group(0) @binding(0) var<uniform> p: SoftmaxParams;
@group(0) @binding(1) var<storage, read_write> x: array<vec4<f32>>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let r = gid.x + gid.y * groups.x * 64u;
    if (r >= p.rows) {
        return;
    }
    let start = r * (p.stride / 4u);
    let full = start + p.len / 4u;
    // The lanes of the row's last, partial vec4 that hold values (none
    // when len is a multiple of 4).
    let in_tail = vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(p.len % 4u);
    let tail = any(in_tail);
    let lowest = vec4<f32>(-3.4028235e38);
    var max4 = lowest;
    for (var i = start; i < full; i++) {
        max4 = max(max4, x[i]);
    }
    if (tail) {
        max4 = max(max4, select(lowest, x[full], in_tail));
    }
    let row_max = max(max(max4.x, max4.y), max(max4.z, max4.w));
    var sum4 = vec4<f32>(0.0);
    for (var i = start; i < full; i++) {
        let e = exp(x[i] - row_max);
        x[i] = e;
        sum4 += e;
    }
    if (tail) {
        let e = select(vec4<f32>(0.0), exp(x[full] - row_max), in_tail);
        x[full] = e;
        sum4 += e;
    }
    // sum ≥ 1: the maximum's term is exp(0).
    let inv = 1.0 / ((sum4.x + sum4.y) + (sum4.z + sum4.w));
    let end = select(full, full + 1u, tail);
    for (var i = start; i < end; i++) {
        x[i] *= inv;
    }
}
