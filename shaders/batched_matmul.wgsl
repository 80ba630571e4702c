// batched_matmul: C[b, m, n] = Σ_j A[b, m, j] · B[b, j, n] for b < batch,
// m < m, n < n, j < depth. Every operand is addressed by an offset and
// strides (per image, per row, per column), so transposed operands and the
// channel blocks of a stacked buffer (θ, φ, g of a non-local block) are
// read and written in place, with no copy. The non-local block's attention
// and its backward are six such products (src/kernels/nonlocal.rs).
//
// Bindings (group 0):
//   0 uniform MatmulParams p
//   1 storage read  a
//   2 storage read  b
//   3 storage write c       declared by the store part that follows this
//                           file: matmul_store_values.wgsl (f32s) or
//                           matmul_store_rows.wgsl (vec4s), which defines
//                           store_block
//   4 storage read  a4      a again, as vec4s (read when A_VEC ≠ 0)
//   5 storage read  b4      b again, as vec4s (read when B_VEC ≠ 0)
// One invocation per image and block of 4 × 4 outputs: per step of the
// sum it loads 4 values of A and 4 of B for 16 multiply-adds (a scalar
// loop would load 2 per multiply-add). Rows and columns past the edge are
// computed on clamped indices and not stored.
//
// The sum runs in blocks of 4 steps (then the steps left one by one), so
// that an operand laid out in whole vec4s is read as 4 vec4s per block
// rather than 16 values: specialised per product (Gpu::specialised_pipeline,
// MatmulParams::vec4_constants), A_VEC = 1 reads A's 4 rows of a step as
// one vec4 (rows adjacent), 2 a row's 4 steps (steps adjacent); B_VEC = 1
// B's 4 columns of a step, 2 a column's 4 steps; 0 reads single values.
// Every block adds its products in the order of the steps, as one by one.
// (C is written through one binding alone, of one type: writable bindings
// of one buffer must not overlap.)
override A_VEC: u32 = 0u;
override B_VEC: u32 = 0u;

struct MatmulParams {
    batch: u32,
    m: u32,
    n: u32,
    depth: u32,
    a_offset: u32,
    a_image: u32,
    a_row: u32,
    a_col: u32,
    b_offset: u32,
    b_image: u32,
    b_row: u32,
    b_col: u32,
    c_offset: u32,
    c_image: u32,
    c_row: u32,
    c_col: u32,
}

@group(0) @binding(0) var<uniform> p: MatmulParams;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> b4: array<vec4<f32>>;

// The 4 × 4 transpose of [v0, v1, v2, v3]: step jj's values of 4 rows
// (or columns) read as each one's 4 steps.
fn transposed(v0: vec4<f32>, v1: vec4<f32>, v2: vec4<f32>, v3: vec4<f32>) -> array<vec4<f32>, 4> {
    return array<vec4<f32>, 4>(
        vec4<f32>(v0.x, v1.x, v2.x, v3.x),
        vec4<f32>(v0.y, v1.y, v2.y, v3.y),
        vec4<f32>(v0.z, v1.z, v2.z, v3.z),
        vec4<f32>(v0.w, v1.w, v2.w, v3.w)
    );
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let idx = gid.x + gid.y * groups.x * 64u;
    let m_blocks = (p.m + 3u) / 4u;
    let n_blocks = (p.n + 3u) / 4u;
    if (idx >= p.batch * m_blocks * n_blocks) {
        return;
    }
    let n0 = (idx % n_blocks) * 4u;
    let m0 = ((idx / n_blocks) % m_blocks) * 4u;
    let image = idx / (n_blocks * m_blocks);
    let last_m = p.m - 1u;
    let last_n = p.n - 1u;
    let rows = vec4<u32>(m0, min(m0 + 1u, last_m), min(m0 + 2u, last_m), min(m0 + 3u, last_m));
    let cols = vec4<u32>(n0, min(n0 + 1u, last_n), min(n0 + 2u, last_n), min(n0 + 3u, last_n));
    let a_at = vec4<u32>(p.a_offset + image * p.a_image) + rows * p.a_row;
    let b_at = vec4<u32>(p.b_offset + image * p.b_image) + cols * p.b_col;

    // acc_j[i] = C[m0 + i, n0 + j].
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    let blocked = p.depth / 4u * 4u;
    for (var j = 0u; j < blocked; j += 4u) {
        // av[jj], bv[jj]: A's 4 rows and B's 4 columns at step j + jj.
        var av: array<vec4<f32>, 4>;
        var bv: array<vec4<f32>, 4>;
        if (A_VEC == 1u) {
            for (var jj = 0u; jj < 4u; jj++) {
                av[jj] = a4[(a_at.x + (j + jj) * p.a_col) / 4u];
            }
        } else if (A_VEC == 2u) {
            av = transposed(a4[(a_at.x + j) / 4u], a4[(a_at.y + j) / 4u], a4[(a_at.z + j) / 4u], a4[(a_at.w + j) / 4u]);
        } else {
            for (var jj = 0u; jj < 4u; jj++) {
                let ai = a_at + vec4<u32>((j + jj) * p.a_col);
                av[jj] = vec4<f32>(a[ai.x], a[ai.y], a[ai.z], a[ai.w]);
            }
        }
        if (B_VEC == 1u) {
            for (var jj = 0u; jj < 4u; jj++) {
                bv[jj] = b4[(b_at.x + (j + jj) * p.b_row) / 4u];
            }
        } else if (B_VEC == 2u) {
            bv = transposed(b4[(b_at.x + j) / 4u], b4[(b_at.y + j) / 4u], b4[(b_at.z + j) / 4u], b4[(b_at.w + j) / 4u]);
        } else {
            for (var jj = 0u; jj < 4u; jj++) {
                let bi = b_at + vec4<u32>((j + jj) * p.b_row);
                bv[jj] = vec4<f32>(b[bi.x], b[bi.y], b[bi.z], b[bi.w]);
            }
        }
        for (var jj = 0u; jj < 4u; jj++) {
            acc0 += av[jj] * bv[jj].x;
            acc1 += av[jj] * bv[jj].y;
            acc2 += av[jj] * bv[jj].z;
            acc3 += av[jj] * bv[jj].w;
        }
    }
    for (var j = blocked; j < p.depth; j++) {
        let ai = a_at + vec4<u32>(j * p.a_col);
        let bi = b_at + vec4<u32>(j * p.b_row);
        let av = vec4<f32>(a[ai.x], a[ai.y], a[ai.z], a[ai.w]);
        let bv = vec4<f32>(b[bi.x], b[bi.y], b[bi.z], b[bi.w]);
        acc0 += av * bv.x;
        acc1 += av * bv.y;
        acc2 += av * bv.z;
        acc3 += av * bv.w;
    }
    store_block(p.c_offset + image * p.c_image, m0, n0, array<vec4<f32>, 4>(acc0, acc1, acc2, acc3));
}
