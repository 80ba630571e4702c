// conv2d_weight_grad: partial sums of ∂L/∂W and ∂L/∂bias of
// y = LeakyReLU?(conv2d(x, W) + bias), over one chunk of the batch each.
//
// Bindings (group 0):
//   0 uniform ConvParams p
//   1 storage read  dz       [batch, c_out, h_out, w_out]  ∂L/∂(pre-activation)
//   2 storage read  x        [batch, c_in, h_in, w_in]     (layer input)
//   3 storage write partial  [n_chunks, n_w + c_out]: row r holds the sums over
//                            images r·batch_chunk … (r+1)·batch_chunk − 1 of
//                            ∂L/∂W ([c_out, K] flattened, K = c_in·k·k taps)
//                            then ∂L/∂bias.
// ∂L/∂W[co, t] = Σ over images and output positions of dz[co, pos]·x̂[t, pos],
// with dz = ∂L/∂(pre-activation) (leaky_relu_grad.wgsl, or ∂L/∂y without
// LeakyReLU) and x̂[t, pos] the input under tap t. One
// invocation per (chunk, 4 output channels, 4 consecutive taps): per
// position it loads 4 dz and 4 x for 16 multiply-adds; the invocations of
// the first 4 taps also sum the biases. reduce_rows.wgsl then sums the rows
// into the gradient vector; chunking gives parallelism when there are few
// weights. Channels and taps past the edge are computed on clamped indices
// and not stored.

// ConvParams comes from conv_params.wgsl, prepended at compile time.
@group(0) @binding(0) var<uniform> p: ConvParams;
@group(0) @binding(1) var<storage, read> dz: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> partial: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let idx = gid.x + gid.y * groups.x * 64u;
    let k = p.kernel;
    let kk = k * k;
    let taps = p.c_in * kk;
    let tap_groups = (taps + 3u) / 4u;
    let chan_groups = (p.c_out + 3u) / 4u;
    if (idx >= p.n_chunks * chan_groups * tap_groups) {
        return;
    }
    let t0 = (idx % tap_groups) * 4u;
    let co0 = ((idx / tap_groups) % chan_groups) * 4u;
    let chunk = idx / (tap_groups * chan_groups);
    let b_start = chunk * p.batch_chunk;
    let b_end = min(b_start + p.batch_chunk, p.batch);
    let out_plane = p.h_out * p.w_out;
    let in_plane = p.h_in * p.w_in;

    // The 4 taps (clamped past the last): input plane offset and window offsets.
    let last_tap = taps - 1u;
    let t = vec4<u32>(t0, min(t0 + 1u, last_tap), min(t0 + 2u, last_tap), min(t0 + 3u, last_tap));
    let plane = (t / vec4<u32>(kk)) * in_plane;
    let ky = vec4<i32>((t % vec4<u32>(kk)) / vec4<u32>(k)) - i32(p.padding);
    let kx = vec4<i32>(t % vec4<u32>(k)) - i32(p.padding);
    let last_co = p.c_out - 1u;
    let co = vec4<u32>(co0, min(co0 + 1u, last_co), min(co0 + 2u, last_co), min(co0 + 3u, last_co));
    let h = i32(p.h_in);
    let w = i32(p.w_in);

    // acc_j: ∂L/∂W[co0 .. +4, t0 + j].
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    var bias = vec4<f32>(0.0);
    for (var b = b_start; b < b_end; b++) {
        let dz_image = co * out_plane + vec4<u32>(b * p.c_out * out_plane);
        let x_image = b * p.c_in * in_plane;
        for (var oy = 0u; oy < p.h_out; oy++) {
            let iy = vec4<i32>(i32(oy * p.stride)) + ky;
            let row_ok = (iy >= vec4<i32>(0)) & (iy < vec4<i32>(h));
            let x_row = vec4<i32>(plane + vec4<u32>(x_image)) + iy * w;
            for (var ox = 0u; ox < p.w_out; ox++) {
                let o = dz_image + vec4<u32>(oy * p.w_out + ox);
                let d = vec4<f32>(dz[o.x], dz[o.y], dz[o.z], dz[o.w]);
                let ix = vec4<i32>(i32(ox * p.stride)) + kx;
                let ok = row_ok & (ix >= vec4<i32>(0)) & (ix < vec4<i32>(w));
                // Out-of-image taps read a safe index and contribute 0.
                let at = vec4<u32>(select(vec4<i32>(0), x_row + ix, ok));
                let v = select(vec4<f32>(0.0), vec4<f32>(x[at.x], x[at.y], x[at.z], x[at.w]), ok);
                acc0 += d * v.x;
                acc1 += d * v.y;
                acc2 += d * v.z;
                acc3 += d * v.w;
                bias += d;
            }
        }
    }
    let n_w = p.c_out * taps;
    let row = chunk * (n_w + p.c_out);
    let accs = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
    for (var i = 0u; i < 4u; i++) {
        if (co0 + i >= p.c_out) {
            break;
        }
        for (var j = 0u; j < 4u; j++) {
            if (t0 + j < taps) {
                partial[row + (co0 + i) * taps + t0 + j] = accs[j][i];
            }
        }
        if (t0 == 0u) {
            partial[row + n_w + co0 + i] = bias[i];
        }
    }
}
