//! Host side of the sampling kernels: random_fill (Philox), rng_advance,
//! langevin_step, mlp_langevin, mala_propose / mala_accept, analytic_energy,
//! attraction and copy_rows. The structs
//! mirror the WGSL structs of the same name (checked by tests/shaders.rs).

use bytemuck::{Pod, Zeroable};

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct RandomParams {
    pub seed: u32,
    pub purpose: u32,
    pub row_len: u32,
    pub rows: u32,
    pub normal: u32,
    pub accumulate: u32,
    pub scale: f32,
    pub shift: f32,
}

/// The (iteration, step) words of every Philox counter; the sampling
/// kernels advance `step` on the GPU.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct RngCounter {
    pub iteration: u32,
    pub step: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct LangevinParams {
    pub chains: u32,
    pub dim: u32,
    pub a: f32,
    pub b: f32,
    pub seed: u32,
    pub purpose: u32,
    /// Write F of every chain at each step into the energy path (0 or 1).
    pub record_path: u32,
    /// The step's place after the RNG counter: it draws (and writes its
    /// energy path row) at counter.step + step_offset.
    pub step_offset: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct AdvanceParams {
    pub steps: u32,
    pub _pad0: u32,
    pub _pad1: u32,
    pub _pad2: u32,
}

/// Most layers, widest layer and most activations (input and every layer's
/// output) of a net mlp_langevin.wgsl runs: the sizes of its workgroup arrays.
pub const MLP_MAX_LAYERS: usize = 8;
pub const MLP_MAX_WIDTH: usize = 128;
pub const MLP_MAX_ACTIVATIONS: usize = 248;
/// Chains per mlp_langevin workgroup (the entries of its mat2x4 activations).
pub const MLP_CHAINS_PER_GROUP: usize = 8;
/// vec4s of each uniform binding of the fused sampler's weights
/// (mlp_weights_uniform.wgsl): a net of more parameters reads storage.
pub const MLP_UNIFORM_LEN: usize = 4096;
/// Outputs of a layer per invocation of the fused sampler where the device
/// runs the CPU adapters' kernels (mlp_langevin.wgsl's OUTPUTS; GPUs: 1).
pub const MLP_CPU_OUTPUTS: u32 = 4;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct MlpLangevinParams {
    pub chains: u32,
    pub layers: u32,
    pub steps: u32,
    pub dim: u32,
    pub a: f32,
    pub b: f32,
    pub seed: u32,
    pub purpose: u32,
    /// Write F of every chain at each step into the energy path (0 or 1).
    pub record_path: u32,
    /// Attraction–diffusion: pull toward goals and track (0 or 1; binding 8).
    pub attract: u32,
    /// Length of the parameter vector (mlp_weights.wgsl puts the transposed
    /// weights after a copy of it, at `transposed_at`).
    pub params_len: u32,
    /// Where the transposed weights start: params_len rounded up to 64
    /// (256 bytes, where a uniform binding may start).
    pub transposed_at: u32,
    /// Layer l: (n_in, n_out, weight offset, LeakyReLU after it); its bias follows its weight.
    pub shape: [[u32; 4]; MLP_MAX_LAYERS],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct MalaParams {
    pub chains: u32,
    pub dim: u32,
    pub a: f32,
    pub epsilon: f32,
    pub inv_temperature: f32,
    pub init: u32,
    pub _pad0: u32,
    pub _pad1: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct AnalyticParams {
    pub chains: u32,
    pub dim: u32,
    pub sigma: f32,
    pub mu: f32,
    pub weight: f32,
    pub _pad0: u32,
    pub _pad1: u32,
    pub _pad2: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct AttractionParams {
    pub chains: u32,
    pub dim: u32,
    pub _pad0: u32,
    pub _pad1: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct RowsParams {
    pub rows: u32,
    pub row_len: u32,
    pub scatter: u32,
    pub _pad: u32,
}

/// Mirrors `struct GatherParams` of gather_images.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct GatherParams {
    pub rows: u32,
    pub row_len: u32,
    pub _pad0: u32,
    pub _pad1: u32,
}

/// What a random stream is for: the second Philox key word, so streams of
/// different purposes never share a counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Purpose {
    LangevinNoise = 1,
    ChainInit = 2,
    BankInit = 3,
    MalaMomentum = 4,
    MalaCoin = 5,
    /// ε_data: the Gaussian noise added to each data batch X⁺.
    DataNoise = 6,
    /// Tests of the generator itself.
    Test = 99,
}
