// maxpool2_forward_pairs: maxpool2_forward two neighbouring windows an
// invocation, where input rows are whole vec4s: each of their two input
// rows read as one vec4, their outputs written as one vec2 (2 loads and a
// store where there were 8 and 2: on lavapipe a storage access costs tens
// of instructions at any width).
//   1 storage read  x  as vec4s
//   2 storage write y  as vec2s

const X_PAIRS: bool = true;
@group(0) @binding(1) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> y2: array<vec2<f32>>;

fn pool(w: PoolWindows) {
    let top = x4[w.top / 4u];
    let bottom = x4[(w.top + p.w_in) / 4u];
    let left = window_max(vec4<f32>(top.xy, bottom.xy));
    y2[w.out / 2u] = vec2<f32>(left, window_max(vec4<f32>(top.zw, bottom.zw)));
}
