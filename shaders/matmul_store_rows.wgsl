// matmul_store_rows: batched_matmul's output, a row's 4 values written as
// one vec4 (follows batched_matmul.wgsl, whose MatmulParams p it reads),
// where C's columns lie side by side (c_col = 1) in whole vec4s (n, c_offset,
// c_image and c_row multiples of 4; MatmulParams::writes_rows): the block's
// 4 columns are never past the edge.
//   3 storage write c       C as vec4s

@group(0) @binding(3) var<storage, read_write> c: array<vec4<f32>>;

// accs[j][i] = C[m0 + i, n0 + j] of the image whose C starts at c_at;
// rows past the edge are not stored.
fn store_block(c_at: u32, m0: u32, n0: u32, accs: array<vec4<f32>, 4>) {
    for (var i = 0u; i < 4u; i++) {
        if (m0 + i >= p.m) {
            break;
        }
        c[(c_at + (m0 + i) * p.c_row + n0) / 4u] = vec4<f32>(accs[0][i], accs[1][i], accs[2][i], accs[3][i]);
    }
}
