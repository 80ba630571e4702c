// maxpool2_input_grad: dx = ∂L/∂x of y = MaxPool2d(2)(x). Each window's
// gradient goes to its first maximum in row-major order (PyTorch's choice on
// ties); inputs outside every window (odd sizes) get zero.
//
// Bindings (group 0):
//   0 uniform ConvParams p
//   1 storage read  dy [batch, c_in, h_out, w_out]
//   2 storage read  x  [batch, c_in, h_in, w_in]   (the layer input)
//   3 storage write dx [batch, c_in, h_in, w_in]
// One invocation per window (output element): it finds the window's first
// maximum once and writes all four of its gradients (windows do not
// overlap, so no atomics are needed); the last window of a row or column
// also writes the zeros of an odd size's last column or row.

// ConvParams comes from conv_params.wgsl,
// prepended at compile time.
@group(0) @binding(0) var<uniform> p: ConvParams;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let idx = gid.x + gid.y * groups.x * 64u;
    if (idx >= p.batch * p.c_in * p.h_out * p.w_out) {
        return;
    }
    let ox = idx % p.w_out;
    let oy = (idx / p.w_out) % p.h_out;
    let plane = idx / (p.w_out * p.h_out);
    let top = plane * p.h_in * p.w_in + 2u * oy * p.w_in + 2u * ox;
    let bottom = top + p.w_in;
    let v = vec4<f32>(x[top], x[top + 1u], x[bottom], x[bottom + 1u]);
    // First maximum in row-major order: a later value wins only when larger.
    var best = 0u;
    var m = v.x;
    if (v.y > m) {
        best = 1u;
        m = v.y;
    }
    if (v.z > m) {
        best = 2u;
        m = v.z;
    }
    if (v.w > m) {
        best = 3u;
    }
    let g = dy[idx];
    dx[top] = select(0.0, g, best == 0u);
    dx[top + 1u] = select(0.0, g, best == 1u);
    dx[bottom] = select(0.0, g, best == 2u);
    dx[bottom + 1u] = select(0.0, g, best == 3u);
    // Odd sizes: the last column and row lie in no window.
    let last_column = ox + 1u == p.w_out && p.w_in > 2u * p.w_out;
    let last_row = oy + 1u == p.h_out && p.h_in > 2u * p.h_out;
    if (last_column) {
        dx[top + 2u] = 0.0;
        dx[bottom + 2u] = 0.0;
    }
    if (last_row) {
        dx[bottom + p.w_in] = 0.0;
        dx[bottom + p.w_in + 1u] = 0.0;
        if (last_column) {
            dx[bottom + p.w_in + 2u] = 0.0;
        }
    }
}
