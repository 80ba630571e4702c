// conv2d_input_grad: dx = ∂L/∂x of y = LeakyReLU?(conv2d(x, W) + bias),
// given dz = ∂L/∂(pre-activation) (leaky_relu_grad.wgsl, or ∂L/∂y without
// LeakyReLU).
//
// Bindings (group 0):
//   0 uniform ConvParams p
//   1 storage read  dz      [batch, c_out, h_out, w_out]
//   2 storage read  params  flat parameter vector; W at p.weight_offset
//   3 storage write dx      [batch, c_in, h_in, w_in]
// A gather over the outputs each input feeds (no atomics). With stride s,
// tap (ky, kx) serves input (iy, ix) exactly when ky ≡ iy + padding and
// kx ≡ ix + padding (mod s), so only those taps are visited. One invocation
// per image, input row, group of 4 input channels and 4 input columns of
// one residue class mod s (columns r, r + s, r + 2s, r + 3s after an
// offset): those columns share their taps and read 4 neighbouring outputs,
// so each tap costs 4 weight and 4 ∂L/∂z loads for 16 multiply-adds.

// ConvParams comes from conv_params.wgsl, prepended at compile time.
@group(0) @binding(0) var<uniform> p: ConvParams;
@group(0) @binding(1) var<storage, read> dz: array<f32>;
@group(0) @binding(2) var<storage, read> params: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

// ∂L/∂z at output column ox of the output row starting at `row`; 0 outside.
fn dz_at(row: u32, ox: i32) -> f32 {
    if (ox < 0 || ox >= i32(p.w_out)) {
        return 0.0;
    }
    return dz[row + u32(ox)];
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let idx = gid.x + gid.y * groups.x * 64u;
    let s = p.stride;
    let chan_groups = (p.c_in + 3u) / 4u;
    // Column groups of a row: s residue classes of ⌈w_in / s⌉ columns, 4 per group.
    let class_groups = ((p.w_in + s - 1u) / s + 3u) / 4u;
    let row_groups = s * class_groups;
    if (idx >= p.batch * chan_groups * p.h_in * row_groups) {
        return;
    }
    let rg = idx % row_groups;
    let iy = (idx / row_groups) % p.h_in;
    let ci0 = ((idx / (row_groups * p.h_in)) % chan_groups) * 4u;
    let b = idx / (row_groups * p.h_in * chan_groups);
    let ix0 = rg % s + s * (rg / s) * 4u;
    let k = p.kernel;
    let kk = k * k;
    let last = p.c_in - 1u;
    // Weight offsets of the 4 input channels (past the edge: clamped, not stored).
    let ci = vec4<u32>(ci0, min(ci0 + 1u, last), min(ci0 + 2u, last), min(ci0 + 3u, last));
    let w_ci = ci * kk + vec4<u32>(p.weight_offset);
    let ty = iy + p.padding;
    let t0 = ix0 + p.padding;

    // acc_j: the 4 channels at input column ix0 + j·s.
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    for (var co = 0u; co < p.c_out; co++) {
        let y_plane = (b * p.c_out + co) * p.h_out;
        let w_co = co * p.c_in * kk;
        // Output row oy reads padded row ty through tap ky when oy·s + ky = ty.
        for (var ky = ty % s; ky < k && ky <= ty; ky += s) {
            let oy = (ty - ky) / s;
            if (oy >= p.h_out) {
                continue;
            }
            let row = (y_plane + oy) * p.w_out;
            for (var kx = t0 % s; kx < k; kx += s) {
                let t = w_ci + vec4<u32>(w_co + ky * k + kx);
                let w = vec4<f32>(params[t.x], params[t.y], params[t.z], params[t.w]);
                // Column ix0 + j·s reads output column ox0 + j (exact division:
                // t0 ≡ kx mod s; negative when the first columns get nothing).
                let ox0 = (i32(t0) - i32(kx)) / i32(s);
                acc0 += dz_at(row, ox0) * w;
                acc1 += dz_at(row, ox0 + 1) * w;
                acc2 += dz_at(row, ox0 + 2) * w;
                acc3 += dz_at(row, ox0 + 3) * w;
            }
        }
    }
    let accs = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
    for (var i = 0u; i < 4u; i++) {
        if (ci0 + i >= p.c_in) {
            break;
        }
        let in_row = ((b * p.c_in + ci0 + i) * p.h_in + iy) * p.w_in;
        for (var j = 0u; j < 4u; j++) {
            let ix = ix0 + j * s;
            if (ix < p.w_in) {
                dx[in_row + ix] = accs[j][i];
            }
        }
    }
}
