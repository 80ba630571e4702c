//! The WGSL kernels: each shader file in shaders/ is compiled into the binary
//! here, and its host-side parameters and launch live in a module per family.

pub mod conv2d;

/// A compute shader: `main` is its entry point.
pub struct Shader {
    pub name: &'static str,
    pub source: &'static str,
}

macro_rules! shader {
    ($name:literal) => {
        Shader {
            name: $name,
            source: include_str!(concat!("../../shaders/", $name, ".wgsl")),
        }
    };
}

pub const CONV2D_FORWARD: Shader = shader!("conv2d_forward");
pub const CONV2D_INPUT_GRAD: Shader = shader!("conv2d_input_grad");
pub const CONV2D_WEIGHT_GRAD: Shader = shader!("conv2d_weight_grad");
pub const REDUCE_ROWS: Shader = shader!("reduce_rows");

/// Every shader of the crate (tests check this against the files in shaders/).
pub const ALL: &[Shader] = &[CONV2D_FORWARD, CONV2D_INPUT_GRAD, CONV2D_WEIGHT_GRAD, REDUCE_ROWS];
