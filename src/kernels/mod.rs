//! The WGSL kernels: each shader file in shaders/ is compiled into the binary
//! here, and its host-side parameters and launch live in a module per family.

pub mod conv2d;
pub mod nonlocal;
pub mod optim;
pub mod picture;
pub mod sampling;

use std::sync::Arc;

use crate::Result;
use crate::gpu::Gpu;

/// A compute shader: `main` is its entry point.
pub struct Shader {
    pub name: &'static str,
    /// The WGSL compiled: the files of `parts`, concatenated.
    pub source: &'static str,
    /// The files of shaders/ it is made of (without `.wgsl`), in order.
    pub parts: &'static [&'static str],
}

macro_rules! shader {
    // A kernel named apart from its files: its parts in order.
    ($name:literal = $($part:literal),+) => {
        Shader {
            name: $name,
            source: concat!($(include_str!(concat!("../../shaders/", $part, ".wgsl")),)+),
            parts: &[$($part,)+],
        }
    };
    // A kernel file, after the shared headers it uses (WGSL has no include):
    // conv_params (ConvParams, LeakyReLU), gemm_tile (the tiled convolutions'
    // block product), philox (the generator), workgroup_sum (a tree sum over
    // a workgroup), attraction_state (attraction–diffusion's state buffer),
    // mlp_params (the fused sampler's uniform), maxpool_windows (a
    // max-pooling invocation's windows), attention_rows (the attention
    // kernels' rows), dense_rows (the dense forward kernels' vec4 reads).
    ($name:literal $(, $header:literal)*) => {
        Shader {
            name: $name,
            source: concat!(
                $(include_str!(concat!("../../shaders/", $header, ".wgsl")),)*
                include_str!(concat!("../../shaders/", $name, ".wgsl"))
            ),
            parts: &[$($header,)* $name],
        }
    };
}

/// The direct convolutions (forward, ∂/∂x) with their weight views and
/// source (input, ∂L/∂z) bound as storage; with their views as uniform
/// bindings of 64 KiB (`_UNIFORM_VIEWS`: CPU adapters;
/// conv_weight_views_uniform.wgsl says why); and with their source so too
/// (`_UNIFORM`: CPU adapters, where a source's image fits a binding).
pub const CONV2D_FORWARD: Shader = shader!(
    "conv2d_forward" = "conv_params",
    "conv_source_storage",
    "conv_input_window",
    "conv_weight_views_storage",
    "conv2d_forward"
);
pub const CONV2D_FORWARD_UNIFORM_VIEWS: Shader = shader!(
    "conv2d_forward_uniform_views" = "conv_params",
    "conv_source_storage",
    "conv_input_window",
    "conv_weight_views_uniform",
    "conv2d_forward"
);
pub const CONV2D_FORWARD_UNIFORM: Shader = shader!(
    "conv2d_forward_uniform" = "conv_params",
    "conv_source_uniform",
    "conv_input_window",
    "conv_weight_views_uniform",
    "conv2d_forward"
);
pub const CONV2D_FORWARD_TILED: Shader = shader!("conv2d_forward_tiled", "conv_params", "gemm_tile");
pub const CONV2D_INPUT_GRAD: Shader = shader!(
    "conv2d_input_grad" = "conv_params",
    "conv_source_storage",
    "conv_weight_views_storage",
    "conv2d_input_grad"
);
pub const CONV2D_INPUT_GRAD_UNIFORM_VIEWS: Shader = shader!(
    "conv2d_input_grad_uniform_views" = "conv_params",
    "conv_source_storage",
    "conv_weight_views_uniform",
    "conv2d_input_grad"
);
pub const CONV2D_INPUT_GRAD_UNIFORM: Shader = shader!(
    "conv2d_input_grad_uniform" = "conv_params",
    "conv_source_uniform",
    "conv_weight_views_uniform",
    "conv2d_input_grad"
);
pub const CONV2D_INPUT_GRAD_TILED: Shader = shader!("conv2d_input_grad_tiled", "conv_params", "gemm_tile");
/// The direct weight gradient with its sources (input, ∂L/∂z) bound as
/// storage, and as uniform bindings of 64 KiB (`_UNIFORM`: CPU adapters).
pub const CONV2D_WEIGHT_GRAD: Shader = shader!(
    "conv2d_weight_grad" = "conv_params",
    "conv_source_storage",
    "conv_dz_storage",
    "conv_input_window",
    "conv2d_weight_grad"
);
pub const CONV2D_WEIGHT_GRAD_UNIFORM: Shader = shader!(
    "conv2d_weight_grad_uniform" = "conv_params",
    "conv_source_uniform",
    "conv_dz_uniform",
    "conv_input_window",
    "conv2d_weight_grad"
);
pub const CONV2D_SPLIT_SUM: Shader = shader!("conv2d_split_sum", "conv_params");
pub const CONV2D_WEIGHT_GRAD_TILED: Shader = shader!("conv2d_weight_grad_tiled", "conv_params", "gemm_tile");
pub const CONV2D_WEIGHT_VIEWS: Shader = shader!("conv2d_weight_views", "conv_params");
pub const DENSE_FORWARD: Shader = shader!("dense_forward", "conv_params", "dense_rows");
pub const DENSE_FORWARD_SPLIT: Shader = shader!("dense_forward_split", "conv_params", "dense_rows");
pub const DENSE_INPUT_GRAD: Shader = shader!("dense_input_grad", "conv_params");
pub const DENSE_WEIGHT_GRAD: Shader = shader!("dense_weight_grad", "conv_params");
pub const LEAKY_RELU_GRAD: Shader = shader!("leaky_relu_grad", "conv_params");
/// Max-pooling one window an invocation, value by value, and two where
/// input rows are whole vec4s (ConvParams::pool_pairs), as vec4s.
pub const MAXPOOL2_FORWARD: Shader = shader!(
    "maxpool2_forward" = "conv_params",
    "maxpool_windows",
    "maxpool2_forward",
    "maxpool2_forward_values"
);
pub const MAXPOOL2_FORWARD_PAIRS: Shader = shader!(
    "maxpool2_forward_pairs" = "conv_params",
    "maxpool_windows",
    "maxpool2_forward",
    "maxpool2_forward_pairs"
);
pub const MAXPOOL2_INPUT_GRAD: Shader = shader!(
    "maxpool2_input_grad" = "conv_params",
    "maxpool_windows",
    "maxpool2_input_grad",
    "maxpool2_input_grad_values"
);
pub const MAXPOOL2_INPUT_GRAD_PAIRS: Shader = shader!(
    "maxpool2_input_grad_pairs" = "conv_params",
    "maxpool_windows",
    "maxpool2_input_grad",
    "maxpool2_input_grad_pairs"
);
/// batched_matmul with its output written value by value, and as rows of
/// vec4s where the output's layout allows (MatmulParams::writes_rows).
pub const BATCHED_MATMUL: Shader = shader!("batched_matmul" = "batched_matmul", "matmul_store_values");
pub const BATCHED_MATMUL_ROWS: Shader =
    shader!("batched_matmul_rows" = "batched_matmul", "matmul_store_rows");
pub const ATTENTION_SOFTMAX: Shader = shader!("attention_softmax", "attention_rows");
pub const ATTENTION_SOFTMAX_GRAD: Shader = shader!("attention_softmax_grad", "attention_rows");
pub const ADD_INTO: Shader = shader!("add_into");
pub const REDUCE_ROWS: Shader = shader!("reduce_rows");
pub const RANDOM_FILL: Shader = shader!("random_fill", "philox");
pub const RNG_ADVANCE: Shader = shader!("rng_advance", "philox");
pub const LANGEVIN_STEP: Shader = shader!("langevin_step", "philox", "workgroup_sum");
/// The fused sampler with its weights read from storage, and from two
/// uniform bindings (`_UNIFORM_WEIGHTS`: CPU adapters; see
/// mlp_weights_uniform.wgsl).
pub const MLP_LANGEVIN: Shader = shader!(
    "mlp_langevin" = "mlp_params",
    "philox",
    "conv_params",
    "attraction_state",
    "mlp_weights_storage",
    "mlp_langevin"
);
pub const MLP_LANGEVIN_UNIFORM_WEIGHTS: Shader = shader!(
    "mlp_langevin_uniform_weights" = "mlp_params",
    "philox",
    "conv_params",
    "attraction_state",
    "mlp_weights_uniform",
    "mlp_langevin"
);
pub const MLP_WEIGHTS: Shader = shader!("mlp_weights", "mlp_params");
pub const MALA_PROPOSE: Shader = shader!("mala_propose", "philox");
pub const MALA_ACCEPT: Shader = shader!("mala_accept");
pub const ANALYTIC_ENERGY: Shader = shader!("analytic_energy");
pub const ATTRACTION: Shader = shader!("attraction", "workgroup_sum", "attraction_state");
pub const COPY_ROWS: Shader = shader!("copy_rows");
pub const GATHER_IMAGES: Shader = shader!("gather_images");
pub const OPTIMIZER_STEP: Shader = shader!("optimizer_step");
pub const IMAGE_GRID: Shader = shader!("image_grid");

/// Every shader of the crate (tests check this against the files in shaders/).
pub const ALL: &[Shader] = &[
    CONV2D_FORWARD,
    CONV2D_FORWARD_UNIFORM_VIEWS,
    CONV2D_FORWARD_UNIFORM,
    CONV2D_FORWARD_TILED,
    CONV2D_INPUT_GRAD,
    CONV2D_INPUT_GRAD_UNIFORM_VIEWS,
    CONV2D_INPUT_GRAD_UNIFORM,
    CONV2D_INPUT_GRAD_TILED,
    CONV2D_WEIGHT_GRAD,
    CONV2D_WEIGHT_GRAD_UNIFORM,
    CONV2D_WEIGHT_GRAD_TILED,
    CONV2D_WEIGHT_VIEWS,
    CONV2D_SPLIT_SUM,
    DENSE_FORWARD,
    DENSE_FORWARD_SPLIT,
    DENSE_INPUT_GRAD,
    DENSE_WEIGHT_GRAD,
    LEAKY_RELU_GRAD,
    MAXPOOL2_FORWARD,
    MAXPOOL2_FORWARD_PAIRS,
    MAXPOOL2_INPUT_GRAD,
    MAXPOOL2_INPUT_GRAD_PAIRS,
    BATCHED_MATMUL,
    BATCHED_MATMUL_ROWS,
    ATTENTION_SOFTMAX,
    ATTENTION_SOFTMAX_GRAD,
    ADD_INTO,
    REDUCE_ROWS,
    RANDOM_FILL,
    RNG_ADVANCE,
    LANGEVIN_STEP,
    MLP_LANGEVIN,
    MLP_LANGEVIN_UNIFORM_WEIGHTS,
    MLP_WEIGHTS,
    MALA_PROPOSE,
    MALA_ACCEPT,
    ANALYTIC_ENERGY,
    ATTRACTION,
    COPY_ROWS,
    GATHER_IMAGES,
    OPTIMIZER_STEP,
    IMAGE_GRID,
];

/// One kernel bound to its buffers: a uniform holding its parameters at
/// binding 0, then `buffers` at bindings 1, 2, …. Made once, recorded often.
pub struct Launch {
    pipeline: Arc<wgpu::ComputePipeline>,
    group: wgpu::BindGroup,
    uniform: wgpu::Buffer,
    invocations: usize,
}

impl Launch {
    pub fn new<P: bytemuck::Pod>(
        gpu: &Gpu,
        shader: &Shader,
        label: &str,
        params: &P,
        buffers: &[&wgpu::Buffer],
        invocations: usize,
    ) -> Result<Self> {
        Self::specialised(gpu, shader, &[], label, params, buffers, invocations)
    }

    /// The same with the shader's `override` constants set to `constants`
    /// (see [`Gpu::specialised_pipeline`]).
    pub fn specialised<P: bytemuck::Pod>(
        gpu: &Gpu,
        shader: &Shader,
        constants: &[(&str, f64)],
        label: &str,
        params: &P,
        buffers: &[&wgpu::Buffer],
        invocations: usize,
    ) -> Result<Self> {
        let resources = buffers.iter().map(|b| b.as_entire_binding()).collect();
        Self::with_resources(gpu, shader, constants, label, params, resources, invocations)
    }

    /// The same with bindings 1, 2, … given as resources (a part of a
    /// buffer, say).
    pub fn with_resources<P: bytemuck::Pod>(
        gpu: &Gpu,
        shader: &Shader,
        constants: &[(&str, f64)],
        label: &str,
        params: &P,
        resources: Vec<wgpu::BindingResource>,
        invocations: usize,
    ) -> Result<Self> {
        let pipeline = gpu.specialised_pipeline(shader, constants)?;
        let uniform = gpu.uniform_buffer(&format!("{label} params"), params);
        let mut all = vec![uniform.as_entire_binding()];
        all.extend(resources);
        let group = gpu.bind_group_resources(&format!("{label} {}", shader.name), &pipeline, all);
        Ok(Launch {
            pipeline,
            group,
            uniform,
            invocations,
        })
    }

    /// Replace the parameters (takes effect at the next submission).
    pub fn set_params<P: bytemuck::Pod>(&self, gpu: &Gpu, params: &P) {
        gpu.queue
            .write_buffer(&self.uniform, 0, bytemuck::bytes_of(params));
    }

    pub fn record(&self, gpu: &Gpu, pass: &mut wgpu::ComputePass) {
        gpu.dispatch(pass, &self.pipeline, &self.group, self.invocations);
    }
}
