// conv2d_weight_grad: partial sums of ∂L/∂W and ∂L/∂bias of
// y = LeakyReLU?(conv2d(x, W) + bias), over one chunk of the batch each.
//
// Bindings (group 0):
//   0 uniform ConvParams p
//   1 storage read  dy       [batch, c_out, h_out, w_out]
//   2 storage read  y        [batch, c_out, h_out, w_out]  (layer output, for LeakyReLU')
//   3 storage read  x        [batch, c_in, h_in, w_in]     (layer input)
//   4 storage write partial  [n_chunks, n_w + c_out]: row r holds the sums over
//                            images r·batch_chunk … (r+1)·batch_chunk − 1 of
//                            ∂L/∂W ([c_out, c_in, k, k] flattened) then ∂L/∂bias.
// One invocation per (chunk, parameter); reduce_rows.wgsl then sums the rows
// into the gradient vector. Chunking gives parallelism when there are few weights.

// ConvParams, LEAKY_SLOPE and leaky_relu_backward come from conv_params.wgsl,
// prepended at compile time.
@group(0) @binding(0) var<uniform> p: ConvParams;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read> x: array<f32>;
@group(0) @binding(4) var<storage, read_write> partial: array<f32>;

fn dz(i: u32) -> f32 {
    return leaky_relu_backward(dy[i], y[i], p.leaky_relu);
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let idx = gid.x + gid.y * groups.x * 64u;
    let k = p.kernel;
    let n_w = p.c_out * p.c_in * k * k;
    let row_len = n_w + p.c_out;
    if (idx >= p.n_chunks * row_len) {
        return;
    }
    let j = idx % row_len;
    let chunk = idx / row_len;
    let b_start = chunk * p.batch_chunk;
    let b_end = min(b_start + p.batch_chunk, p.batch);
    let out_plane = p.h_out * p.w_out;

    var acc = 0.0;
    if (j >= n_w) {
        // Bias of output channel co: the sum of dz over its positions.
        let co = j - n_w;
        for (var b = b_start; b < b_end; b++) {
            let base = (b * p.c_out + co) * out_plane;
            for (var o = 0u; o < out_plane; o++) {
                acc += dz(base + o);
            }
        }
    } else {
        let kx = j % k;
        let ky = (j / k) % k;
        let ci = (j / (k * k)) % p.c_in;
        let co = j / (k * k * p.c_in);
        for (var b = b_start; b < b_end; b++) {
            let y_plane = (b * p.c_out + co) * p.h_out;
            let x_plane = (b * p.c_in + ci) * p.h_in;
            for (var oy = 0u; oy < p.h_out; oy++) {
                let iy = oy * p.stride + ky - p.padding;
                if (oy * p.stride + ky < p.padding || iy >= p.h_in) {
                    continue;
                }
                for (var ox = 0u; ox < p.w_out; ox++) {
                    let ix = ox * p.stride + kx - p.padding;
                    if (ox * p.stride + kx < p.padding || ix >= p.w_in) {
                        continue;
                    }
                    acc += dz((y_plane + oy) * p.w_out + ox) * x[(x_plane + iy) * p.w_in + ix];
                }
            }
        }
    }
    partial[idx] = acc;
}
