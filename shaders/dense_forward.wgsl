// dense_forward: y = LeakyReLU?(x Wᵀ + bias) — the fast path of conv2d_forward
// for layers on 1×1 images (Linear layers, and 1×1 convolutions of 1×1 inputs
// as in ToyNet), where the convolution is a plain matrix product.
//
// Bindings (group 0), as conv2d_forward with h = w = k = 1:
//   0 uniform ConvParams p
//   1 storage read  x       [batch, c_in]
//   2 storage read  params  flat parameter vector; W [c_out, c_in] at
//                           p.weight_offset, bias [c_out] at p.bias_offset
//   3 storage write y       [batch, c_out]
//   4, 5                    x and params again, as vec4s (dense_rows.wgsl)
// One invocation per image and group of 4 output features: each input
// value is read once for 4 outputs (fewer, cheaper invocations).

// ConvParams and leaky_relu4 come from conv_params.wgsl, ROWS_VEC4 and
// rows_dot4 from dense_rows.wgsl, prepended at compile time.
@group(0) @binding(0) var<uniform> p: ConvParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> params: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let idx = gid.x + gid.y * groups.x * 64u;
    let per_row = (p.c_out + 3u) / 4u;
    if (idx >= p.batch * per_row) {
        return;
    }
    let co = (idx % per_row) * 4u + vec4<u32>(0u, 1u, 2u, 3u);
    // Features past c_out repeat the last one; their results are not written.
    let row = min(co, vec4<u32>(p.c_out - 1u));
    let x_row = (idx / per_row) * p.c_in;
    let w = p.weight_offset + row * p.c_in;
    let b = p.bias_offset + row;
    var acc = vec4<f32>(params[b.x], params[b.y], params[b.z], params[b.w]);
    if (ROWS_VEC4) {
        for (var ci = 0u; ci < p.c_in; ci += 4u) {
            acc += rows_dot4(x_row, w, ci);
        }
    } else {
        for (var ci = 0u; ci < p.c_in; ci++) {
            let v = x[x_row + ci];
            acc += v * vec4<f32>(params[w.x + ci], params[w.y + ci], params[w.z + ci], params[w.w + ci]);
        }
    }
    acc = leaky_relu4(acc, p.leaky_relu);
    let y_row = (idx / per_row) * p.c_out;
    for (var k = 0u; k < 4u; k++) {
        if (co[k] < p.c_out) {
            y[y_row + co[k]] = acc[k];
        }
    }
}
