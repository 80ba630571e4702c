// dense_rows: how the dense forward kernels (dense_forward,
// dense_forward_split) read a layer's input rows and weight rows, prepended
// after conv_params.wgsl at compile time. With ROWS_VEC4 (the host's
// ConvParams::dense_rows_vec4: c_in and the weights' offset multiples of 4)
// both are whole vec4s, read 4 inputs at a time: 5 loads for 16
// multiply-adds where there were 20 (on lavapipe a storage access costs
// tens of instructions at any width); else value by value.
override ROWS_VEC4: bool = false;

// Bindings (group 0), besides the kernel's own:
//   4 storage read x4       x again, as vec4s (read if ROWS_VEC4)
//   5 storage read params4  params again, as vec4s (read if ROWS_VEC4)
@group(0) @binding(4) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> params4: array<vec4<f32>>;

// Σ_{j < 4} x[x_row + ci + j] · W[r, ci + j] for the 4 weight rows r that
// start at w (flat indices in params): inputs ci … ci + 3 of 4 outputs.
fn rows_dot4(x_row: u32, w: vec4<u32>, ci: u32) -> vec4<f32> {
    let v = x4[(x_row + ci) / 4u];
    return vec4<f32>(
        dot(v, params4[(w.x + ci) / 4u]),
        dot(v, params4[(w.y + ci) / 4u]),
        dot(v, params4[(w.z + ci) / 4u]),
        dot(v, params4[(w.w + ci) / 4u])
    );
}
