// gather_images: dst[i, e] = images[index[i], e] / 127.5 − 1, the chosen
// images of a data set held on the GPU as bytes (4 per u32 word,
// little-endian), written as f32 in [−1, 1] into the first rows of dst.
//
// Bindings (group 0):
//   0 uniform GatherParams p
//   1 storage read  index  [rows] u32
//   2 storage read  images [count · row_len] bytes, packed 4 per word
//   3 storage write dst    [≥ rows, row_len] f32
// One invocation per written element.

struct GatherParams {
    rows: u32,
    row_len: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: GatherParams;
@group(0) @binding(1) var<storage, read> index: array<u32>;
@group(0) @binding(2) var<storage, read> images: array<u32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let idx = gid.x + gid.y * groups.x * 64u;
    if (idx >= p.rows * p.row_len) {
        return;
    }
    let row = idx / p.row_len;
    let e = idx % p.row_len;
    let byte_at = index[row] * p.row_len + e;
    let byte = (images[byte_at / 4u] >> (8u * (byte_at % 4u))) & 0xffu;
    dst[idx] = f32(byte) / 127.5 - 1.0;
}
