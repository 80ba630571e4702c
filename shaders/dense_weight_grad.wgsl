// dense_weight_grad: partial sums of ∂L/∂W and ∂L/∂bias of
// y = LeakyReLU?(x Wᵀ + bias) over one chunk of the batch each — the fast
// path of conv2d_weight_grad on 1×1 images, with the same output layout.
//
// Bindings (group 0), as conv2d_weight_grad:
//   0 uniform ConvParams p
//   1 storage read  dz       [batch, c_out]  ∂L/∂(pre-activation)
//   2 storage read  x        [batch, c_in]
//   3 storage write partial  [n_chunks, c_out·c_in + c_out]
// One invocation per (chunk, parameter); reduce_rows.wgsl sums the rows.

// ConvParams comes from conv_params.wgsl, prepended at compile time.
@group(0) @binding(0) var<uniform> p: ConvParams;
@group(0) @binding(1) var<storage, read> dz: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> partial: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let idx = gid.x + gid.y * groups.x * 64u;
    let n_w = p.c_out * p.c_in;
    let row_len = n_w + p.c_out;
    if (idx >= p.n_chunks * row_len) {
        return;
    }
    let j = idx % row_len;
    let chunk = idx / row_len;
    let b_start = chunk * p.batch_chunk;
    let b_end = min(b_start + p.batch_chunk, p.batch);
    var acc = 0.0;
    if (j >= n_w) {
        let co = j - n_w;
        for (var b = b_start; b < b_end; b++) {
            acc += dz[b * p.c_out + co];
        }
    } else {
        let ci = j % p.c_in;
        let co = j / p.c_in;
        for (var b = b_start; b < b_end; b++) {
            acc += dz[b * p.c_out + co] * x[b * p.c_in + ci];
        }
    }
    partial[idx] = acc;
}
