// maxpool_windows: the windows a max-pooling invocation takes
// (maxpool2_forward, maxpool2_input_grad), prepended after conv_params.wgsl
// at compile time: one window, or with X_PAIRS (a constant of the kernel's
// variant, _values or _pairs: input rows of whole vec4s,
// ConvParams::pool_pairs) two neighbouring ones.

// Windows an invocation takes.
fn windows_per_invocation() -> u32 {
    return select(1u, 2u, X_PAIRS);
}

// An invocation's first window: its output row and column, where its top
// left input and its output lie (flat indices of x and y); `taken` is
// false past the last window.
struct PoolWindows {
    oy: u32,
    ox: u32,
    top: u32,
    out: u32,
    taken: bool,
}

// The windows of invocation idx, in the order of the outputs.
fn pool_windows(idx: u32) -> PoolWindows {
    let per = windows_per_invocation();
    let col_groups = p.w_out / per;
    let ox = (idx % col_groups) * per;
    let oy = (idx / col_groups) % p.h_out;
    let plane = idx / (col_groups * p.h_out);
    return PoolWindows(
        oy,
        ox,
        plane * p.h_in * p.w_in + 2u * oy * p.w_in + 2u * ox,
        (plane * p.h_out + oy) * p.w_out + ox,
        idx < p.batch * p.c_in * p.h_out * col_groups,
    );
}
