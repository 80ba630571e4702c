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
// One invocation per output element.

struct ConvParams {
    batch: u32,
    c_in: u32,
    h_in: u32,
    w_in: u32,
    c_out: u32,
    h_out: u32,
    w_out: u32,
    kernel: u32,
    stride: u32,
    padding: u32,
    leaky_relu: u32,
    weight_offset: u32,
    bias_offset: u32,
    batch_chunk: u32,
    n_chunks: u32,
    _pad: u32,
}

const LEAKY_SLOPE: f32 = 0.05;

@group(0) @binding(0) var<uniform> p: ConvParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> params: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let idx = gid.x + gid.y * groups.x * 64u;
    if (idx >= p.batch * p.c_out) {
        return;
    }
    let co = idx % p.c_out;
    let x_row = (idx / p.c_out) * p.c_in;
    let w_row = p.weight_offset + co * p.c_in;
    var acc = params[p.bias_offset + co];
    for (var ci = 0u; ci < p.c_in; ci++) {
        acc += x[x_row + ci] * params[w_row + ci];
    }
    if (p.leaky_relu != 0u && acc < 0.0) {
        acc *= LEAKY_SLOPE;
    }
    y[idx] = acc;
}
