// maxpool2_forward_values: maxpool2_forward one window an invocation,
// read and written value by value.
//   1 storage read  x  [batch, c_in, h_in, w_in]
//   2 storage write y  [batch, c_in, h_out, w_out]

const X_PAIRS: bool = false;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

fn pool(w: PoolWindows) {
    let top = w.top;
    let bottom = top + p.w_in;
    y[w.out] = window_max(vec4<f32>(x[top], x[top + 1u], x[bottom], x[bottom + 1u]));
}
