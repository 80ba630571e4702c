// maxpool2_forward: y = MaxPool2d(2)(x): the maximum of each 2×2 window,
// stride 2, sizes rounded down (PyTorch conventions).
//
// Bindings (group 0):
//   0 uniform ConvParams p   (c_in = c_out, h_out = ⌊h_in/2⌋, w_out = ⌊w_in/2⌋)
//   1 storage read  x  [batch, c_in, h_in, w_in]
//   2 storage write y  [batch, c_in, h_out, w_out]
//   3 storage read  x4 x again, as vec4s (read when X_PAIRS)
//   4 storage write y2 y again, as vec2s (written when X_PAIRS)
// One invocation per output element, or two (maxpool_windows.wgsl), whose
// outputs are then one vec2 (output rows are even, their first even).

// ConvParams comes from conv_params.wgsl, X_PAIRS and pool_windows from
// maxpool_windows.wgsl, prepended at compile time.
@group(0) @binding(0) var<uniform> p: ConvParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> y2: array<vec2<f32>>;

// The maximum of a window (top left, top right, bottom left, bottom right),
// in one order everywhere.
fn window_max(v: vec4<f32>) -> f32 {
    return max(max(v.x, v.y), max(v.z, v.w));
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let w = pool_windows(gid.x + gid.y * groups.x * 64u);
    if (!w.taken) {
        return;
    }
    let base = w.top;
    let out = w.out;
    if (X_PAIRS) {
        let top = x4[base / 4u];
        let bottom = x4[(base + p.w_in) / 4u];
        let left = window_max(vec4<f32>(top.xy, bottom.xy));
        y2[out / 2u] = vec2<f32>(left, window_max(vec4<f32>(top.zw, bottom.zw)));
    } else {
        y[out] = window_max(vec4<f32>(x[base], x[base + 1u], x[base + p.w_in], x[base + p.w_in + 1u]));
    }
}
