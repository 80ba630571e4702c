// conv2d_forward: y = LeakyReLU?(conv2d(x, W) + bias), PyTorch conventions.
//
// Bindings (group 0):
//   0 uniform ConvParams p
//   1 storage read  x       [batch, c_in, h_in, w_in]   (NCHW, f32)
//   2 storage read  params  flat parameter vector; W at p.weight_offset
//                           ([c_out, c_in, k, k]), bias at p.bias_offset ([c_out])
//   3 storage write y       [batch, c_out, h_out, w_out]
// One invocation per output element; flat index = gid.x + gid.y * groups_x * 64.
// Cross-correlation (no kernel flip), zero padding, square kernel and stride.

// ConvParams, LEAKY_SLOPE and leaky_relu_backward come from conv_params.wgsl,
// prepended at compile time.
@group(0) @binding(0) var<uniform> p: ConvParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> params: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let idx = gid.x + gid.y * groups.x * 64u;
    if (idx >= p.batch * p.c_out * p.h_out * p.w_out) {
        return;
    }
    let ox = idx % p.w_out;
    let oy = (idx / p.w_out) % p.h_out;
    let co = (idx / (p.w_out * p.h_out)) % p.c_out;
    let b = idx / (p.w_out * p.h_out * p.c_out);
    let k = p.kernel;

    var acc = params[p.bias_offset + co];
    for (var ci = 0u; ci < p.c_in; ci++) {
        let x_plane = (b * p.c_in + ci) * p.h_in;
        let w_plane = (co * p.c_in + ci) * k;
        for (var ky = 0u; ky < k; ky++) {
            // Unsigned arithmetic: an input row above the image wraps to a huge value.
            let iy = oy * p.stride + ky - p.padding;
            if (oy * p.stride + ky < p.padding || iy >= p.h_in) {
                continue;
            }
            for (var kx = 0u; kx < k; kx++) {
                let ix = ox * p.stride + kx - p.padding;
                if (ox * p.stride + kx < p.padding || ix >= p.w_in) {
                    continue;
                }
                acc += x[(x_plane + iy) * p.w_in + ix] * params[p.weight_offset + (w_plane + ky) * k + kx];
            }
        }
    }
    if (p.leaky_relu != 0u && acc < 0.0) {
        acc *= LEAKY_SLOPE;
    }
    y[idx] = acc;
}
