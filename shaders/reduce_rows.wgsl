// reduce_rows: dst[dst_offset + j] = Σ_r src[r · row_len + j] for j < row_len.
// Sums the per-chunk partial gradients of the weight-gradient kernels
// (conv2d_weight_grad, conv2d_weight_grad_tiled, dense_weight_grad) into the flat
// gradient vector (weight then bias of a layer are contiguous there).
//
// Bindings (group 0):
//   0 uniform ReduceParams p
//   1 storage read  src  [rows, row_len]
//   2 storage write dst  flat vector, written at dst_offset … dst_offset + row_len − 1
// One invocation per column j; rows are summed in order, so results do not
// depend on scheduling.

struct ReduceParams {
    rows: u32,
    row_len: u32,
    dst_offset: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: ReduceParams;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let j = gid.x + gid.y * groups.x * 64u;
    if (j >= p.row_len) {
        return;
    }
    var acc = 0.0;
    for (var r = 0u; r < p.rows; r++) {
        acc += src[r * p.row_len + j];
    }
    dst[p.dst_offset + j] = acc;
}
