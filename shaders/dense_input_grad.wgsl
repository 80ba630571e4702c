// dense_input_grad: dx = ∂L/∂x of y = LeakyReLU?(x Wᵀ + bias), the fast path
// of conv2d_input_grad on 1×1 images: dx[b, ci] = Σ_co dz[b, co]·W[co, ci],
// with dz = dy·LeakyReLU'(y) (y > 0 exactly when the pre-activation is).
//
// Bindings (group 0), as conv2d_input_grad:
//   0 uniform ConvParams p
//   1 storage read  dy      [batch, c_out]
//   2 storage read  y       [batch, c_out]
//   3 storage read  params  flat parameter vector; W at p.weight_offset
//   4 storage write dx      [batch, c_in]
// One invocation per input element.

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
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read> params: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;

fn dz(i: u32) -> f32 {
    if (p.leaky_relu != 0u && y[i] <= 0.0) {
        return dy[i] * LEAKY_SLOPE;
    }
    return dy[i];
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let idx = gid.x + gid.y * groups.x * 64u;
    if (idx >= p.batch * p.c_in) {
        return;
    }
    let ci = idx % p.c_in;
    let y_row = (idx / p.c_in) * p.c_out;
    var acc = 0.0;
    for (var co = 0u; co < p.c_out; co++) {
        acc += dz(y_row + co) * params[p.weight_offset + co * p.c_in + ci];
    }
    dx[idx] = acc;
}
