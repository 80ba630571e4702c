// conv_input_window: the input-row window of the direct convolution kernels
// (conv2d_forward, conv2d_weight_grad), prepended after conv_params.wgsl at
// compile time. Output columns ox0 … ox0 + 3 of a row read, through their
// KERNEL taps each, the input columns of one window of 3·STRIDE + KERNEL
// values: loaded once (as vec4s where input rows are whole vec4s) and read
// by every tap — for a 4×4 kernel of stride 2, 4 vec4 loads where 16
// values would be read one by one. The values come from the layer input
// through source_value and source_quad (read when X_VEC4), of
// conv_source_storage.wgsl or conv_source_uniform.wgsl.
//
// Specialised per layer (Gpu::specialised_pipeline), so that the loops
// over taps and window unroll and the window is indexed by constants:
// KERNEL, STRIDE and PADDING are p's; X_VEC4 says w_in % 4 == 0; window
// value i (padded column ox0·STRIDE + i) is at flat place i + WINDOW_SHIFT
// of the window (vec4 loads start at the multiple of 4 at or before the
// window's first column). ConvParams::window_constants sets them and
// checks that the window fits WINDOW_VEC4S vec4s.
override KERNEL: u32 = 3u;
override STRIDE: u32 = 1u;
override PADDING: u32 = 1u;
override X_VEC4: bool = false;
override WINDOW_SHIFT: u32 = 0u;
override WINDOW: u32 = 3u * STRIDE + KERNEL;
const WINDOW_VEC4S: u32 = 8u;

// x at padded column t (input column t − padding) of row `row`, 0 outside.
fn x_at(row: u32, t: u32) -> f32 {
    if (t < PADDING || t - PADDING >= p.w_in) {
        return 0.0;
    }
    return source_value(row + t - PADDING);
}

// The window of output columns ox0 … ox0 + 3 in the input row that starts
// at flat index x_row of the source (a multiple of 4 when X_VEC4).
fn input_window(x_row: u32, ox0: u32) -> array<vec4<f32>, WINDOW_VEC4S> {
    var win: array<vec4<f32>, WINDOW_VEC4S>;
    if (X_VEC4) {
        // Columns c0 … c0 + 3 of the row, zero outside it (rows are whole
        // vec4s, so a vec4 is all in or all out).
        let first = i32(ox0 * STRIDE) - i32(WINDOW_SHIFT + PADDING);
        for (var q = 0u; q < (WINDOW_SHIFT + WINDOW + 3u) / 4u; q++) {
            let c0 = first + 4 * i32(q);
            let inside = c0 >= 0 && c0 < i32(p.w_in);
            let at = (x_row + u32(clamp(c0, 0, i32(p.w_in) - 4))) / 4u;
            win[q] = select(vec4<f32>(0.0), source_quad(at), inside);
        }
    } else {
        for (var i = 0u; i < WINDOW; i++) {
            win[i / 4u][i % 4u] = x_at(x_row, ox0 * STRIDE + i);
        }
    }
    return win;
}
