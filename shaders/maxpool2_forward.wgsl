// maxpool2_forward: y = MaxPool2d(2)(x): the maximum of each 2×2 window,
// stride 2, sizes rounded down (PyTorch conventions).
//
// Bindings (group 0):
//   0 uniform ConvParams p   (c_in = c_out, h_out = ⌊h_in/2⌋, w_out = ⌊w_in/2⌋)
//   1 storage read  x  [batch, c_in, h_in, w_in]
//   2 storage write y  [batch, c_in, h_out, w_out]
//   3 storage read  x4 x again, as vec4s (read when X_PAIRS)
// One invocation per output element, or with X_PAIRS (input rows of whole
// vec4s, ConvParams::pool_pairs) per two neighbouring ones, whose windows
// are a vec4 of each of their two input rows: 2 loads where 8 values were
// read one by one (on lavapipe a storage access costs tens of instructions
// at any width).
override X_PAIRS: bool = false;

// ConvParams comes from conv_params.wgsl,
// prepended at compile time.
@group(0) @binding(0) var<uniform> p: ConvParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read> x4: array<vec4<f32>>;

// The maximum of a window (top left, top right, bottom left, bottom right),
// in one order everywhere.
fn window_max(v: vec4<f32>) -> f32 {
    return max(max(v.x, v.y), max(v.z, v.w));
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let idx = gid.x + gid.y * groups.x * 64u;
    let per = select(1u, 2u, X_PAIRS);
    let col_groups = p.w_out / per;
    if (idx >= p.batch * p.c_out * p.h_out * col_groups) {
        return;
    }
    let ox = (idx % col_groups) * per;
    let oy = (idx / col_groups) % p.h_out;
    let plane = idx / (col_groups * p.h_out);
    let base = plane * p.h_in * p.w_in + 2u * oy * p.w_in + 2u * ox;
    let out = (plane * p.h_out + oy) * p.w_out + ox;
    if (X_PAIRS) {
        let top = x4[base / 4u];
        let bottom = x4[(base + p.w_in) / 4u];
        y[out] = window_max(vec4<f32>(top.xy, bottom.xy));
        y[out + 1u] = window_max(vec4<f32>(top.zw, bottom.zw));
    } else {
        y[out] = window_max(vec4<f32>(x[base], x[base + 1u], x[base + p.w_in], x[base + p.w_in + 1u]));
    }
}
