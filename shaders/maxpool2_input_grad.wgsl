// maxpool2_input_grad: dx = ∂L/∂x of y = MaxPool2d(2)(x). Each window's
// gradient goes to its first maximum in row-major order (PyTorch's choice on
// ties); inputs outside every window (odd sizes) get zero.
// With INPUT_LEAKY_RELU (x is the output of the layer before's LeakyReLU),
// dx is instead ∂L/∂(that layer's pre-activation): the gradient times
// LeakyReLU' at the maximum, whose value is in hand, so that layer runs no
// leaky_relu_grad pass of its own (ConvLayer::applies_input_leaky_relu).
//
// Bindings (group 0):
//   0 uniform ConvParams p
//   1 storage read  dy [batch, c_in, h_out, w_out]
//   2 storage read  x  [batch, c_in, h_in, w_in]   (the layer input)
//   3 storage write dx [batch, c_in, h_in, w_in]
// dy, x and dx are declared, read and written by one of two variants
// (followed by this file), as maxpool2_forward's: _values, one window an
// invocation, value by value; _pairs (X_PAIRS), two windows an invocation,
// x and dx as vec4s, dy as vec2s. An invocation finds each window's first
// maximum once and writes all four of its gradients (windows do not
// overlap, so no atomics are needed); the last window of a row or column
// also writes the zeros of an odd size's last column or row.

// ConvParams and leaky_relu_backward come from conv_params.wgsl,
// pool_windows from maxpool_windows.wgsl, X_PAIRS and pool_grad from the
// variant; all prepended or appended at compile time.
override INPUT_LEAKY_RELU: bool = false;
@group(0) @binding(0) var<uniform> p: ConvParams;

// dx of a window from its values `v` (top left, top right, bottom left,
// bottom right, and dx in that order) and its gradient dy: all to the
// first maximum in row-major order (a later value wins only when larger),
// with INPUT_LEAKY_RELU times LeakyReLU' there.
fn window_grad(v: vec4<f32>, dy: f32) -> vec4<f32> {
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
        m = v.w;
    }
    var g = dy;
    if (INPUT_LEAKY_RELU) {
        g = leaky_relu_backward(dy, m, 1u);
    }
    return select(vec4<f32>(0.0), vec4<f32>(g), vec4<u32>(0u, 1u, 2u, 3u) == vec4<u32>(best));
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let w = pool_windows(gid.x + gid.y * groups.x * 64u);
    if (!w.taken) {
        return;
    }
    pool_grad(w);
}

// Whether window w is the last of its column, whose input has an odd
// height: the input's last row lies in no window.
fn odd_last_row(w: PoolWindows) -> bool {
    return w.oy + 1u == p.h_out && p.h_in > 2u * p.h_out;
}
