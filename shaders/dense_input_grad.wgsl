// dense_input_grad: dx = ∂L/∂x of y = LeakyReLU?(x Wᵀ + bias), the fast path
// of conv2d_input_grad on 1×1 images: dx[b, ci] = Σ_co dz[b, co]·W[co, ci],
// with dz = ∂L/∂(pre-activation) (leaky_relu_grad.wgsl, the next layer's
// ∂/∂x where it applies LeakyReLU' (LeakyReluFusion), or ∂L/∂y without
// LeakyReLU).
// With INPUT_LEAKY_RELU (x is the output of the layer before's LeakyReLU),
// dx is instead ∂L/∂(that layer's pre-activation): times LeakyReLU' of x,
// so that layer runs no leaky_relu_grad pass of its own
// (ConvLayer::applies_input_leaky_relu).
//
// Bindings (group 0), as conv2d_input_grad:
//   0 uniform ConvParams p
//   1 storage read  dz      [batch, c_out]
//   2 storage read  params  flat parameter vector; W at p.weight_offset
//   3 storage write dx      [batch, c_in]
//   4 storage read  params4 params again, as vec4s (read if ROWS_VEC4)
//   5 storage read  x       [batch, c_in], the layer input (read if INPUT_LEAKY_RELU)
// One invocation per image and group of 4 input features: each dz value is
// read once for 4 inputs, and with ROWS_VEC4 (as dense_rows.wgsl: c_in and
// the weights' offset multiples of 4) their 4 weights as one vec4.

// ConvParams and leaky_relu_backward come from conv_params.wgsl, prepended
// at compile time.
override ROWS_VEC4: bool = false;
override INPUT_LEAKY_RELU: bool = false;

@group(0) @binding(0) var<uniform> p: ConvParams;
@group(0) @binding(1) var<storage, read> dz: array<f32>;
@group(0) @binding(2) var<storage, read> params: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;
@group(0) @binding(4) var<storage, read> params4: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> x: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let idx = gid.x + gid.y * groups.x * 64u;
    let per_row = (p.c_in + 3u) / 4u;
    if (idx >= p.batch * per_row) {
        return;
    }
    let ci = (idx % per_row) * 4u + vec4<u32>(0u, 1u, 2u, 3u);
    // Features past c_in repeat the last one; their results are not written.
    let col = p.weight_offset + min(ci, vec4<u32>(p.c_in - 1u));
    let y_row = (idx / per_row) * p.c_out;
    var acc = vec4<f32>(0.0);
    for (var co = 0u; co < p.c_out; co++) {
        let w = co * p.c_in + col;
        if (ROWS_VEC4) {
            acc += dz[y_row + co] * params4[w.x / 4u];
        } else {
            acc += dz[y_row + co] * vec4<f32>(params[w.x], params[w.y], params[w.z], params[w.w]);
        }
    }
    let x_row = (idx / per_row) * p.c_in;
    for (var k = 0u; k < 4u; k++) {
        if (ci[k] < p.c_in) {
            let at = x_row + ci[k];
            if (INPUT_LEAKY_RELU) {
                dx[at] = leaky_relu_backward(acc[k], x[at], 1u);
            } else {
                dx[at] = acc[k];
            }
        }
    }
}
