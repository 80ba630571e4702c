// maxpool2_input_grad_values: maxpool2_input_grad one window an
// invocation, read and written value by value.
//   1 storage read  dy [batch, c_in, h_out, w_out]
//   2 storage read  x  [batch, c_in, h_in, w_in]
//   3 storage write dx [batch, c_in, h_in, w_in]

const X_PAIRS: bool = false;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

fn pool_grad(w: PoolWindows) {
    let top = w.top;
    let bottom = top + p.w_in;
    let g = window_grad(vec4<f32>(x[top], x[top + 1u], x[bottom], x[bottom + 1u]), dy[w.out]);
    dx[top] = g.x;
    dx[top + 1u] = g.y;
    dx[bottom] = g.z;
    dx[bottom + 1u] = g.w;
    // Odd sizes: the last column and row lie in no window.
    let last_column = w.ox + 1u == p.w_out && p.w_in > 2u * p.w_out;
    if (last_column) {
        dx[top + 2u] = 0.0;
        dx[bottom + 2u] = 0.0;
    }
    if (odd_last_row(w)) {
        dx[bottom + p.w_in] = 0.0;
        dx[bottom + p.w_in + 1u] = 0.0;
        if (last_column) {
            dx[bottom + p.w_in + 2u] = 0.0;
        }
    }
}
