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
//   4 storage read  x4 x again, as vec4s (read when X_PAIRS)
//   5 storage write dx4 dx again, as vec4s (written when X_PAIRS)
//   6 storage read  dy2 dy again, as vec2s (read when X_PAIRS: the two
//                       windows' outputs, an even pair)
// One invocation per window (output element), or two (maxpool_windows.wgsl):
// it finds each window's first maximum once and writes all four of its
// gradients (windows do not overlap, so no atomics are needed); the last
// window of a row or column also writes the zeros of an odd size's last
// column or row.

// ConvParams and leaky_relu_backward come from conv_params.wgsl, X_PAIRS and
// pool_windows from maxpool_windows.wgsl, prepended at compile time.
override INPUT_LEAKY_RELU: bool = false;
@group(0) @binding(0) var<uniform> p: ConvParams;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;
@group(0) @binding(4) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> dx4: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read> dy2: array<vec2<f32>>;

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
    let top = w.top;
    let bottom = top + p.w_in;
    let out = w.out;
    if (X_PAIRS) {
        // Both windows' top rows are one vec4 of x and of dx, their bottom
        // rows another: 2 stores where there were 8; their dy one vec2.
        let t = x4[top / 4u];
        let b = x4[bottom / 4u];
        let d = dy2[out / 2u];
        let left = window_grad(vec4<f32>(t.xy, b.xy), d.x);
        let right = window_grad(vec4<f32>(t.zw, b.zw), d.y);
        dx4[top / 4u] = vec4<f32>(left.xy, right.xy);
        dx4[bottom / 4u] = vec4<f32>(left.zw, right.zw);
    } else {
        let g = window_grad(vec4<f32>(x[top], x[top + 1u], x[bottom], x[bottom + 1u]), dy[out]);
        dx[top] = g.x;
        dx[top + 1u] = g.y;
        dx[bottom] = g.z;
        dx[bottom + 1u] = g.w;
    }
    // Odd sizes: the last column and row lie in no window (rows of whole
    // vec4s have no such column).
    let per = windows_per_invocation();
    let last_column = w.ox + per == p.w_out && p.w_in > 2u * p.w_out;
    let last_row = w.oy + 1u == p.h_out && p.h_in > 2u * p.h_out;
    if (last_column) {
        dx[top + 2u] = 0.0;
        dx[bottom + 2u] = 0.0;
    }
    if (last_row) {
        for (var c = 0u; c < 2u * per; c++) {
            dx[bottom + p.w_in + c] = 0.0;
        }
        if (last_column) {
            dx[bottom + p.w_in + 2u] = 0.0;
        }
    }
}
