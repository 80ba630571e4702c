// dense_weight_grad: partial sums of ∂L/∂W and ∂L/∂bias of a dense layer
// y = LeakyReLU?(W·x + bias) (a convolution on 1×1 images with a 1×1
// kernel, ConvGeometry::as_dense), over one chunk of the batch each.
//
// Bindings (group 0):
//   0 uniform ConvParams p   (h = w = kernel = 1: c_in inputs, c_out outputs)
//   1 storage read  dz       [batch, c_out]  ∂L/∂(pre-activation)
//   2 storage read  x        [batch, c_in]   (layer input)
//   3 storage write partial  [n_chunks, n_w + c_out]: row r holds the sums over
//                            images r·batch_chunk … (r+1)·batch_chunk − 1 of
//                            ∂L/∂W ([c_out, c_in]) then ∂L/∂bias.
//   4 storage read  dz4      dz again, as vec4s (read when DZ_VEC4: c_out a multiple of 4)
//   5 storage read  x4       x again, as vec4s (read when X_VEC4: c_in a multiple of 4)
// ∂L/∂W[o, i] = Σ over images of dz[o]·x[i], with dz = ∂L/∂(pre-activation)
// (leaky_relu_grad.wgsl, the next layer's ∂/∂x where it applies LeakyReLU'
// (LeakyReluFusion), or ∂L/∂y without LeakyReLU). One invocation per
// (chunk, 4 outputs, 4 inputs): per image it loads 4 dz and 4 x for 16
// multiply-adds, each 4 as one vec4 where its rows are whole vec4s (on
// lavapipe a load costs tens of instructions whatever its width); the
// invocations of the first 4 inputs also sum the biases. reduce_rows.wgsl
// then sums the rows into the gradient vector; chunking gives parallelism
// when there are few weights. Outputs and inputs past the edge are
// computed on clamped indices and not stored.

// ConvParams comes from conv_params.wgsl, prepended at compile time.
override DZ_VEC4: bool = false;
override X_VEC4: bool = false;

@group(0) @binding(0) var<uniform> p: ConvParams;
@group(0) @binding(1) var<storage, read> dz: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> partial: array<f32>;
@group(0) @binding(4) var<storage, read> dz4: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> x4: array<vec4<f32>>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let idx = gid.x + gid.y * groups.x * 64u;
    let in_groups = (p.c_in + 3u) / 4u;
    let out_groups = (p.c_out + 3u) / 4u;
    if (idx >= p.n_chunks * out_groups * in_groups) {
        return;
    }
    let i0 = (idx % in_groups) * 4u;
    let o0 = ((idx / in_groups) % out_groups) * 4u;
    let chunk = idx / (in_groups * out_groups);
    let b_start = chunk * p.batch_chunk;
    let b_end = min(b_start + p.batch_chunk, p.batch);
    let last_in = p.c_in - 1u;
    let i = vec4<u32>(i0, min(i0 + 1u, last_in), min(i0 + 2u, last_in), min(i0 + 3u, last_in));
    let last_out = p.c_out - 1u;
    let o = vec4<u32>(o0, min(o0 + 1u, last_out), min(o0 + 2u, last_out), min(o0 + 3u, last_out));

    // acc_j: ∂L/∂W[o0 .. +4, i0 + j].
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    var bias = vec4<f32>(0.0);
    for (var b = b_start; b < b_end; b++) {
        let at_dz = o + vec4<u32>(b * p.c_out);
        var d: vec4<f32>;
        if (DZ_VEC4) {
            d = dz4[at_dz.x / 4u];
        } else {
            d = vec4<f32>(dz[at_dz.x], dz[at_dz.y], dz[at_dz.z], dz[at_dz.w]);
        }
        let at_x = i + vec4<u32>(b * p.c_in);
        var v: vec4<f32>;
        if (X_VEC4) {
            v = x4[at_x.x / 4u];
        } else {
            v = vec4<f32>(x[at_x.x], x[at_x.y], x[at_x.z], x[at_x.w]);
        }
        acc0 += d * v.x;
        acc1 += d * v.y;
        acc2 += d * v.z;
        acc3 += d * v.w;
        bias += d;
    }
    let n_w = p.c_out * p.c_in;
    let row = chunk * (n_w + p.c_out);
    let accs = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
    for (var r = 0u; r < 4u; r++) {
        if (o0 + r >= p.c_out) {
            break;
        }
        for (var j = 0u; j < 4u; j++) {
            if (i0 + j < p.c_in) {
                partial[row + (o0 + r) * p.c_in + i0 + j] = accs[j][r];
            }
        }
        if (i0 == 0u) {
            partial[row + n_w + o0 + r] = bias[r];
        }
    }
}
