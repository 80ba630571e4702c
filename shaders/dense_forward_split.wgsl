// dense_forward_split: dense_forward.wgsl's y = LeakyReLU?(x Wᵀ + bias) for
// layers with long rows (c_in ≥ DENSE_SPLIT_MIN_INPUTS on the host), such as
// VanillaNet's last layer (its 4×4 window over 4×4 images: 4 096 inputs,
// one output) and NonlocalNet's first Linear layer. dense_forward gives each
// invocation a whole row: thousands of multiply-adds in a row, on as few
// invocations as images × output groups, too few to fill a GPU. Here a
// workgroup of 64 takes an image and group of 4 outputs, each invocation
// sums every 64th input, and a tree in workgroup memory adds the 64 sums
// (a fixed order: runs repeat bit for bit).
//
// Bindings (group 0), as dense_forward:
//   0 uniform ConvParams p
//   1 storage read  x       [batch, c_in]
//   2 storage read  params  flat parameter vector; W [c_out, c_in] at
//                           p.weight_offset, bias [c_out] at p.bias_offset
//   3 storage write y       [batch, c_out]
//   4, 5                    x and params again, as vec4s (dense_rows.wgsl)
// Workgroup index = image · ⌈c_out / 4⌉ + output group. With ROWS_VEC4
// each invocation sums every 64th vec4 of inputs.

// ConvParams and leaky_relu come from conv_params.wgsl, ROWS_VEC4 and
// rows_dot4 from dense_rows.wgsl, prepended at compile time.
@group(0) @binding(0) var<uniform> p: ConvParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> params: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

var<workgroup> sums: array<vec4<f32>, 64>;

@compute @workgroup_size(64)
fn main(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let idx = wg.x + wg.y * groups.x;
    let per_row = (p.c_out + 3u) / 4u;
    // Uniform per workgroup, so the barriers below are reached by all or none.
    if (idx >= p.batch * per_row) {
        return;
    }
    let co = (idx % per_row) * 4u + vec4<u32>(0u, 1u, 2u, 3u);
    // Features past c_out repeat the last one; their results are not written.
    let row = min(co, vec4<u32>(p.c_out - 1u));
    let image = idx / per_row;
    let x_row = image * p.c_in;
    let w = p.weight_offset + row * p.c_in;
    var acc = vec4<f32>(0.0);
    if (ROWS_VEC4) {
        for (var ci = 4u * lid; ci < p.c_in; ci += 256u) {
            acc += rows_dot4(x_row, w, ci);
        }
    } else {
        for (var ci = lid; ci < p.c_in; ci += 64u) {
            let v = x[x_row + ci];
            acc += v * vec4<f32>(params[w.x + ci], params[w.y + ci], params[w.z + ci], params[w.w + ci]);
        }
    }
    sums[lid] = acc;
    workgroupBarrier();
    for (var half = 32u; half > 0u; half >>= 1u) {
        if (lid < half) {
            sums[lid] += sums[lid + half];
        }
        workgroupBarrier();
    }
    if (lid < 4u && co[lid] < p.c_out) {
        let bias = params[p.bias_offset + co[lid]];
        y[image * p.c_out + co[lid]] = leaky_relu(sums[0][lid] + bias, p.leaky_relu);
    }
}
