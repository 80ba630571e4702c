// maxpool2_forward: y = MaxPool2d(2)(x): the maximum of each 2×2 window,
// stride 2, sizes rounded down (PyTorch conventions).
//
// Bindings (group 0):
//   0 uniform ConvParams p   (c_in = c_out, h_out = ⌊h_in/2⌋, w_out = ⌊w_in/2⌋)
//   1 storage read  x  [batch, c_in, h_in, w_in]
//   2 storage write y  [batch, c_in, h_out, w_out]
// x and y are declared, and read and written, by one of two variants
// (followed by this file): maxpool2_forward_values, one window an
// invocation, value by value; maxpool2_forward_pairs (X_PAIRS: input rows
// of whole vec4s, ConvParams::pool_pairs), two neighbouring windows read
// as a vec4 of each of their two input rows and written as one vec2
// (output rows are even, their first even). Each buffer is bound once, as
// one type: writable bindings of one buffer must not overlap.

// ConvParams comes from conv_params.wgsl, pool_windows from
// maxpool_windows.wgsl, X_PAIRS and pool from the variant; all prepended or
// appended at compile time.
@group(0) @binding(0) var<uniform> p: ConvParams;

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
    pool(w);
}
