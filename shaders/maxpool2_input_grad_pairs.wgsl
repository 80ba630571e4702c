// maxpool2_input_grad_pairs: maxpool2_input_grad two neighbouring windows
// an invocation, where input rows are whole vec4s: both windows' top rows
// are one vec4 of x and of dx, their bottom rows another (2 stores where
// there were 8), their dy one vec2 (an even pair).
//   1 storage read  dy as vec2s
//   2 storage read  x  as vec4s
//   3 storage write dx as vec4s

const X_PAIRS: bool = true;
@group(0) @binding(1) var<storage, read> dy2: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> dx4: array<vec4<f32>>;

fn pool_grad(w: PoolWindows) {
    let top = w.top / 4u;
    let bottom = (w.top + p.w_in) / 4u;
    let t = x4[top];
    let b = x4[bottom];
    let d = dy2[w.out / 2u];
    let left = window_grad(vec4<f32>(t.xy, b.xy), d.x);
    let right = window_grad(vec4<f32>(t.zw, b.zw), d.y);
    dx4[top] = vec4<f32>(left.xy, right.xy);
    dx4[bottom] = vec4<f32>(left.zw, right.zw);
    // An odd height: the last row lies in no window (rows of whole vec4s
    // are even, so every column lies in one); below the pair, one vec4.
    if (odd_last_row(w)) {
        dx4[bottom + p.w_in / 4u] = vec4<f32>(0.0);
    }
}
