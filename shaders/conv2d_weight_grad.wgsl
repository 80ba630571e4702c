// conv2d_weight_grad: partial sums of ∂L/∂W and ∂L/∂bias of
// y = LeakyReLU?(conv2d(x, W) + bias), over one chunk of the batch each.
//
// Bindings (group 0):
//   0 uniform ConvParams p
//   1 read          dz       [batch, c_out, h_out, w_out]  ∂L/∂(pre-activation)
//                            (conv_dz_storage.wgsl or _uniform.wgsl)
//   2 read          source   x [batch, c_in, h_in, w_in]   (layer input;
//                            conv_source_storage.wgsl or _uniform.wgsl)
//   3 storage write partial  [n_chunks, n_w + c_out]: row r holds the sums over
//                            images r·batch_chunk … (r+1)·batch_chunk − 1 of
//                            ∂L/∂W ([c_out, c_in, k, k]) then ∂L/∂bias.
//   4 storage read  source4  x again, as vec4s (storage; read when X_VEC4)
//   5 storage read  dz4      dz again, as vec4s (storage; read when DZ_VEC4)
// A dispatch takes the images p.image_first … + p.batch − 1, whole chunks
// of the batch but the last, its sources from f32 p.source_shift (x) and
// p.dz_shift (dz) of their bindings: with uniform bindings (CPU adapters)
// a dispatch per binding (ConvParams::weight_grad_source_chunks).
// ∂L/∂W[co, ci, ky, kx] = Σ over images and output positions (oy, ox) of
// dz[co, oy, ox]·x[ci, oy·s + ky − padding, ox·s + kx − padding], with dz =
// ∂L/∂(pre-activation) (leaky_relu_grad.wgsl, the next layer's ∂/∂x where
// it applies LeakyReLU' (LeakyReluFusion), or ∂L/∂y without LeakyReLU).
// One invocation per chunk, group of 4 output channels, input channel and
// set of ROWS kernel rows ky0 … ky0 + ROWS − 1 (ConvParams::weight_grad_rows),
// summing their ROWS·KERNEL taps for the 4 channels: per 4 output columns
// it loads the channels' ∂L/∂z there once (a vec4 each where output rows
// are whole vec4s) and each row's input window their taps read
// (conv_input_window.wgsl), for 16·ROWS·KERNEL multiply-adds — a 3×3
// kernel of stride 1 and padding 1 (ROWS = 3): 4 + 3·3 loads for 144. The
// invocations of ci = 0, ky0 = 0 also sum the biases. reduce_rows.wgsl then sums the rows into the
// gradient vector; chunking gives parallelism when there are few weights
// (ConvParams::new chunks the batch). Channels past the
// edge are computed on clamped indices and not stored; columns past it
// read ∂L/∂z = 0.
//
// ACC_MAX bounds the taps an invocation accumulates, ROWS·KERNEL (more
// spill on lavapipe; ConvParams::weight_grad_constants refuses rows of
// over WEIGHT_GRAD_KERNEL_MAX taps, which run tiled).
override DZ_VEC4: bool = false;
override ROWS: u32 = 1u;
const ACC_MAX: u32 = 9u;

// ConvParams comes from conv_params.wgsl, the window's overrides and
// input_window from conv_input_window.wgsl, `source` (x) from
// conv_source_storage.wgsl or _uniform.wgsl and dz_value and dz_quad from
// conv_dz_storage.wgsl or _uniform.wgsl, prepended at compile time.
@group(0) @binding(0) var<uniform> p: ConvParams;
const SOURCE_BINDING: u32 = 2u;
@group(0) @binding(3) var<storage, read_write> partial: array<f32>;
const SOURCE_VEC4_BINDING: u32 = 4u;

// dz at columns ox0 … ox0 + 3 of the output row that starts at flat index
// `row`, 0 past its end.
fn dz_columns(row: u32, ox0: u32) -> vec4<f32> {
    if (DZ_VEC4) {
        return dz_quad((row + ox0) / 4u);
    }
    var d = vec4<f32>(0.0);
    for (var j = 0u; j < 4u; j++) {
        d[j] = select(0.0, dz_value(row + min(ox0 + j, p.w_out - 1u)), ox0 + j < p.w_out);
    }
    return d;
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let idx = gid.x + gid.y * groups.x * 64u;
    let chan_groups = (p.c_out + 3u) / 4u;
    let row_groups = KERNEL / ROWS;
    if (idx >= p.n_chunks * chan_groups * p.c_in * row_groups) {
        return;
    }
    let ky0 = (idx % row_groups) * ROWS;
    let ci = (idx / row_groups) % p.c_in;
    let co0 = ((idx / (row_groups * p.c_in)) % chan_groups) * 4u;
    let chunk = idx / (row_groups * p.c_in * chan_groups);
    let b_start = chunk * p.batch_chunk;
    let b_end = min(b_start + p.batch_chunk, p.batch);
    let sums_bias = ci == 0u && ky0 == 0u;
    let last = p.c_out - 1u;
    let co = vec4<u32>(co0, min(co0 + 1u, last), min(co0 + 2u, last), min(co0 + 3u, last));
    let out_plane = p.h_out * p.w_out;

    // acc[r·KERNEL + kx]: ∂L/∂W[co0 .. +4, ci, ky0 + r, kx].
    var acc: array<vec4<f32>, ACC_MAX>;
    var bias = vec4<f32>(0.0);
    for (var b = b_start; b < b_end; b++) {
        let dz_planes = vec4<u32>(p.dz_shift) + (vec4<u32>(b * p.c_out) + co) * out_plane;
        let x_plane = (b * p.c_in + ci) * p.h_in;
        for (var oy = 0u; oy < p.h_out; oy++) {
            let dz_rows = dz_planes + vec4<u32>(oy * p.w_out);
            for (var ox0 = 0u; ox0 < p.w_out; ox0 += 4u) {
                let d0 = dz_columns(dz_rows.x, ox0);
                let d1 = dz_columns(dz_rows.y, ox0);
                let d2 = dz_columns(dz_rows.z, ox0);
                let d3 = dz_columns(dz_rows.w, ox0);
                // e_j: the 4 channels at column ox0 + j.
                let e0 = vec4<f32>(d0.x, d1.x, d2.x, d3.x);
                let e1 = vec4<f32>(d0.y, d1.y, d2.y, d3.y);
                let e2 = vec4<f32>(d0.z, d1.z, d2.z, d3.z);
                let e3 = vec4<f32>(d0.w, d1.w, d2.w, d3.w);
                bias += e0 + e1 + e2 + e3;
                for (var r = 0u; r < ROWS; r++) {
                    // Unsigned arithmetic: a row above the image wraps to a huge value.
                    let iy = oy * STRIDE + ky0 + r - PADDING;
                    if (oy * STRIDE + ky0 + r < PADDING || iy >= p.h_in) {
                        continue;
                    }
                    var win = input_window(p.source_shift + (x_plane + iy) * p.w_in, ox0);
                    for (var kx = 0u; kx < KERNEL; kx++) {
                        let t0 = WINDOW_SHIFT + kx;
                        let t1 = t0 + STRIDE;
                        let t2 = t0 + 2u * STRIDE;
                        let t3 = t0 + 3u * STRIDE;
                        acc[r * KERNEL + kx] += e0 * win[t0 / 4u][t0 % 4u] + e1 * win[t1 / 4u][t1 % 4u]
                            + e2 * win[t2 / 4u][t2 % 4u] + e3 * win[t3 / 4u][t3 % 4u];
                    }
                }
            }
        }
    }
    let taps = p.c_in * KERNEL * KERNEL;
    let n_w = p.c_out * taps;
    let row = (p.image_first / p.batch_chunk + chunk) * (n_w + p.c_out);
    for (var i = 0u; i < 4u; i++) {
        if (co0 + i >= p.c_out) {
            break;
        }
        let w_row = row + (co0 + i) * taps + (ci * KERNEL + ky0) * KERNEL;
        for (var t = 0u; t < ROWS * KERNEL; t++) {
            partial[w_row + t] = acc[t][i];
        }
        if (sums_bias) {
            partial[row + n_w + co0 + i] = bias[i];
        }
    }
}
