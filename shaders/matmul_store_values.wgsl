// matmul_store_values: batched_matmul's output, written value by value
// (follows batched_matmul.wgsl, whose MatmulParams p it reads).
//   3 storage write c       C at p.c_offset + image·c_image + row·c_row + col·c_col

@group(0) @binding(3) var<storage, read_write> c: array<f32>;

// accs[j][i] = C[m0 + i, n0 + j] of the image whose C starts at c_at;
// rows and columns past the edge are not stored.
fn store_block(c_at: u32, m0: u32, n0: u32, accs: array<vec4<f32>, 4>) {
    for (var i = 0u; i < 4u; i++) {
        if (m0 + i >= p.m) {
            break;
        }
        for (var j = 0u; j < 4u; j++) {
            if (n0 + j < p.n) {
                c[c_at + (m0 + i) * p.c_row + (n0 + j) * p.c_col] = accs[j][i];
            }
        }
    }
}
