// maxpool2_input_grad: dx = ∂L/∂x of y = MaxPool2d(2)(x). Each window's
// gradient goes to its first maximum in row-major order (PyTorch's choice on
// ties); inputs outside every window (odd sizes) get zero.
//
// Bindings (group 0):
//   0 uniform ConvParams p
//   1 storage read  dy [batch, c_in, h_out, w_out]
//   2 storage read  x  [batch, c_in, h_in, w_in]   (the layer input)
//   3 storage write dx [batch, c_in, h_in, w_in]
// One invocation per input element: it recomputes its window's arg-max, so
// no atomics are needed.

// ConvParams comes from conv_params.wgsl,
// prepended at compile time.
@group(0) @binding(0) var<uniform> p: ConvParams;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let idx = gid.x + gid.y * groups.x * 64u;
    if (idx >= p.batch * p.c_in * p.h_in * p.w_in) {
        return;
    }
    let ix = idx % p.w_in;
    let iy = (idx / p.w_in) % p.h_in;
    let plane = idx / (p.w_in * p.h_in);
    let oy = iy / 2u;
    let ox = ix / 2u;
    if (oy >= p.h_out || ox >= p.w_out) {
        dx[idx] = 0.0;
        return;
    }
    // First maximum of the window, in row-major order.
    let base = plane * p.h_in * p.w_in + 2u * oy * p.w_in + 2u * ox;
    var best = base;
    let candidates = array<u32, 3>(base + 1u, base + p.w_in, base + p.w_in + 1u);
    for (var k = 0u; k < 3u; k++) {
        if (x[candidates[k]] > x[best]) {
            best = candidates[k];
        }
    }
    var g = 0.0;
    if (best == idx) {
        g = dy[(plane * p.h_out + oy) * p.w_out + ox];
    }
    dx[idx] = g;
}
