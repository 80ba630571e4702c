use crate::gpu::Gpu;
use crate::kernels::sampling::AnalyticParams;
use crate::kernels::{ANALYTIC_ENERGY, Launch};
use crate::model::{Backward, GpuNet};
use crate::{Error, Result};

/// An energy F over a batch of chain states held on the GPU: evaluates F and
/// ∇F at whatever its input buffer holds.
pub trait EnergyField {
    fn chains(&self) -> usize;
    /// f32 per chain state.
    fn dim(&self) -> usize;
    /// [chains, dim] states where F is evaluated.
    fn input(&self) -> &wgpu::Buffer;
    /// [chains] F(x) after [`EnergyField::record_eval`].
    fn energy(&self) -> &wgpu::Buffer;
    /// [chains, dim] ∇x F(x) after [`EnergyField::record_eval`].
    fn grad(&self) -> &wgpu::Buffer;
    fn record_eval(&self, gpu: &Gpu, pass: &mut wgpu::ComputePass);
    /// [`EnergyField::record_eval`] after one with the same parameters:
    /// what follows from the parameters alone (a network's weight views:
    /// [`GpuNet::record_forward_same_params`]) is not made again. For the
    /// steps recorded in one pass after its first.
    fn record_eval_same_params(&self, gpu: &Gpu, pass: &mut wgpu::ComputePass) {
        self.record_eval(gpu, pass);
    }
    /// The evaluation of step `step` of the steps a sampler records in one
    /// pass: whole for the first (the parameters may have changed since the
    /// last pass), [`EnergyField::record_eval_same_params`] after it.
    fn record_step_eval(&self, gpu: &Gpu, pass: &mut wgpu::ComputePass, step: usize) {
        if step == 0 {
            self.record_eval(gpu, pass);
        } else {
            self.record_eval_same_params(gpu, pass);
        }
    }
    /// For an energy mlp_langevin.wgsl can run whole (a chain of small dense
    /// layers): its layer shapes ([`GpuNet::dense_layers`]) and parameters.
    fn dense_layers(&self) -> Option<(Vec<[u32; 4]>, &wgpu::Buffer)> {
        None
    }
    /// For a field that pulls its chains toward goals (attraction–diffusion,
    /// [`crate::sampler::Attracted`]): its state buffer
    /// (shaders/attraction_state.wgsl), which the fused sampler then uses.
    fn attraction(&self) -> Option<&wgpu::Buffer> {
        None
    }
}

impl GpuNet {
    /// Make this network a field: upstream weights of one give ∇x F per image.
    pub fn as_field(self, gpu: &Gpu) -> Result<Self> {
        if self.output_len() != 1 {
            return Err(Error::Shape(format!(
                "network `{}` has {} outputs per image; an energy has one",
                self.spec.name,
                self.output_len()
            )));
        }
        self.write_upstream(gpu, &vec![1.0; self.batch])?;
        Ok(self)
    }
}

impl EnergyField for GpuNet {
    fn chains(&self) -> usize {
        self.batch
    }
    fn dim(&self) -> usize {
        self.input_len()
    }
    fn input(&self) -> &wgpu::Buffer {
        self.input_buffer()
    }
    fn energy(&self) -> &wgpu::Buffer {
        self.output_buffer()
    }
    fn grad(&self) -> &wgpu::Buffer {
        self.input_grad_buffer()
    }
    fn record_eval(&self, gpu: &Gpu, pass: &mut wgpu::ComputePass) {
        self.record_forward(gpu, pass);
        self.record_backward(gpu, pass, Backward::INPUT);
    }
    fn record_eval_same_params(&self, gpu: &Gpu, pass: &mut wgpu::ComputePass) {
        self.record_forward_same_params(gpu, pass);
        self.record_backward(gpu, pass, Backward::INPUT);
    }
    fn dense_layers(&self) -> Option<(Vec<[u32; 4]>, &wgpu::Buffer)> {
        GpuNet::dense_layers(self).map(|shape| (shape, self.params_buffer()))
    }
}

/// A mixture of two isotropic Gaussians with means ±μ·e₁ (weights w, 1 − w,
/// standard deviation σ); μ = 0 is the Gaussian F = ‖x‖²/2σ². For testing
/// samplers against exact answers.
pub struct AnalyticField {
    chains: usize,
    dim: usize,
    input: wgpu::Buffer,
    energy: wgpu::Buffer,
    grad: wgpu::Buffer,
    launch: Launch,
}

impl AnalyticField {
    pub fn new(gpu: &Gpu, chains: usize, dim: usize, sigma: f32, mu: f32, weight: f32) -> Result<Self> {
        if !(sigma > 0.0 && weight > 0.0 && weight < 1.0) {
            return Err(Error::Shape(format!(
                "analytic energy needs σ > 0 and 0 < w < 1 (got σ {sigma}, w {weight})"
            )));
        }
        let input = gpu.storage_buffer("analytic x", chains * dim);
        let energy = gpu.storage_buffer("analytic F", chains);
        let grad = gpu.storage_buffer("analytic grad", chains * dim);
        let params = AnalyticParams {
            chains: chains as u32,
            dim: dim as u32,
            sigma,
            mu,
            weight,
            ..Default::default()
        };
        let launch = Launch::new(
            gpu,
            &ANALYTIC_ENERGY,
            "analytic",
            &params,
            &[&input, &energy, &grad],
            chains,
        )?;
        Ok(AnalyticField {
            chains,
            dim,
            input,
            energy,
            grad,
            launch,
        })
    }
}

impl EnergyField for AnalyticField {
    fn chains(&self) -> usize {
        self.chains
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn input(&self) -> &wgpu::Buffer {
        &self.input
    }
    fn energy(&self) -> &wgpu::Buffer {
        &self.energy
    }
    fn grad(&self) -> &wgpu::Buffer {
        &self.grad
    }
    fn record_eval(&self, gpu: &Gpu, pass: &mut wgpu::ComputePass) {
        self.launch.record(gpu, pass);
    }
}
