// conv2d_input_grad: dx = ∂L/∂x of y = LeakyReLU?(conv2d(x, W) + bias),
// given dy = ∂L/∂y and the layer's output y (LeakyReLU backward is fused:
// y > 0 exactly when the pre-activation is > 0, so y gives the derivative).
//
// Bindings (group 0):
//   0 uniform ConvParams p
//   1 storage read  dy      [batch, c_out, h_out, w_out]
//   2 storage read  y       [batch, c_out, h_out, w_out]  (layer output)
//   3 storage read  params  flat parameter vector; W at p.weight_offset
//   4 storage write dx      [batch, c_in, h_in, w_in]
// One invocation per input element: a gather over the outputs it feeds,
// so no atomics are needed.

// ConvParams, LEAKY_SLOPE and leaky_relu_backward come from conv_params.wgsl,
// prepended at compile time.
@group(0) @binding(0) var<uniform> p: ConvParams;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read> params: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;

// ∂L/∂(pre-activation) at output element i.
fn dz(i: u32) -> f32 {
    return leaky_relu_backward(dy[i], y[i], p.leaky_relu);
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let idx = gid.x + gid.y * groups.x * 64u;
    if (idx >= p.batch * p.c_in * p.h_in * p.w_in) {
        return;
    }
    let ix = idx % p.w_in;
    let iy = (idx / p.w_in) % p.h_in;
    let ci = (idx / (p.w_in * p.h_in)) % p.c_in;
    let b = idx / (p.w_in * p.h_in * p.c_in);
    let k = p.kernel;

    var acc = 0.0;
    for (var co = 0u; co < p.c_out; co++) {
        let y_plane = (b * p.c_out + co) * p.h_out;
        let w_plane = (co * p.c_in + ci) * k;
        for (var ky = 0u; ky < k; ky++) {
            // Output row oy reads input row iy through tap ky when oy·s + ky − pad = iy.
            let ty = iy + p.padding;
            if (ty < ky || (ty - ky) % p.stride != 0u) {
                continue;
            }
            let oy = (ty - ky) / p.stride;
            if (oy >= p.h_out) {
                continue;
            }
            for (var kx = 0u; kx < k; kx++) {
                let tx = ix + p.padding;
                if (tx < kx || (tx - kx) % p.stride != 0u) {
                    continue;
                }
                let ox = (tx - kx) / p.stride;
                if (ox >= p.w_out) {
                    continue;
                }
                acc += dz((y_plane + oy) * p.w_out + ox) * params[p.weight_offset + (w_plane + ky) * k + kx];
            }
        }
    }
    dx[idx] = acc;
}
