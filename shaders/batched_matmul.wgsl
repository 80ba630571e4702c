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
//   3 storage write c
// One invocation per image and block of 4 × 4 outputs: per step of the
// sum it loads 4 values of A and 4 of B for 16 multiply-adds (a scalar
// loop would load 2 per multiply-add). Rows and columns past the edge are
// computed on clamped indices and not stored.

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
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

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
    for (var j = 0u; j < p.depth; j++) {
        let ai = a_at + vec4<u32>(j * p.a_col);
        let bi = b_at + vec4<u32>(j * p.b_row);
        let av = vec4<f32>(a[ai.x], a[ai.y], a[ai.z], a[ai.w]);
        let bv = vec4<f32>(b[bi.x], b[bi.y], b[bi.z], b[bi.w]);
        acc0 += av * bv.x;
        acc1 += av * bv.y;
        acc2 += av * bv.z;
        acc3 += av * bv.w;
    }
    let c_at = p.c_offset + image * p.c_image;
    let accs = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
    for (var i = 0u; i < 4u; i++) {
        if (m0 + i >= p.m) {
            break;
        }
        for (var jj = 0u; jj < 4u; jj++) {
            if (n0 + jj < p.n) {
                c[c_at + (m0 + i) * p.c_row + (n0 + jj) * p.c_col] = accs[jj][i];
            }
        }
    }
}
