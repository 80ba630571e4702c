// maxpool2_forward: y = MaxPool2d(2)(x): the maximum of each 2×2 window,
// stride 2, sizes rounded down (PyTorch conventions).
//
// Bindings (group 0):
//   0 uniform ConvParams p   (c_in = c_out, h_out = ⌊h_in/2⌋, w_out = ⌊w_in/2⌋)
//   1 storage read  x  [batch, c_in, h_in, w_in]
//   2 storage write y  [batch, c_in, h_out, w_out]
// One invocation per output element.

// ConvParams comes from conv_params.wgsl,
// prepended at compile time.
@group(0) @binding(0) var<uniform> p: ConvParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let idx = gid.x + gid.y * groups.x * 64u;
    if (idx >= p.batch * p.c_out * p.h_out * p.w_out) {
        return;
    }
    let ox = idx % p.w_out;
    let oy = (idx / p.w_out) % p.h_out;
    let plane = idx / (p.w_out * p.h_out);
    let base = plane * p.h_in * p.w_in + 2u * oy * p.w_in + 2u * ox;
    y[idx] = max(max(x[base], x[base + 1u]), max(x[base + p.w_in], x[base + p.w_in + 1u]));
}
