//! Host side of optimizer_step.wgsl: SGD and Adam on the flat parameter vector.

use bytemuck::{Pod, Zeroable};

use super::{Launch, OPTIMIZER_STEP};
use crate::Result;
use crate::gpu::Gpu;

/// Mirrors `struct OptimParams` of optimizer_step.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct OptimParams {
    pub n: u32,
    pub adam: u32,
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub bias_correction1: f32,
    pub bias_correction2: f32,
}

/// Which update rule, with PyTorch's defaults for Adam.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OptimizerKind {
    Sgd,
    Adam { beta1: f32, beta2: f32, eps: f32 },
}

impl OptimizerKind {
    pub const ADAM_DEFAULT: OptimizerKind = OptimizerKind::Adam {
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
    };
}

/// The optimizer of one parameter vector, with its state (Adam's moments).
pub struct Optimizer {
    pub kind: OptimizerKind,
    /// Steps taken (Adam's t).
    pub steps: u64,
    m: wgpu::Buffer,
    v: wgpu::Buffer,
    launch: Launch,
    n: usize,
}

impl Optimizer {
    pub fn new(
        gpu: &Gpu,
        kind: OptimizerKind,
        params: &wgpu::Buffer,
        grads: &wgpu::Buffer,
        n: usize,
    ) -> Result<Self> {
        let m = gpu.storage_buffer("adam m", n);
        let v = gpu.storage_buffer("adam v", n);
        let launch = Launch::new(
            gpu,
            &OPTIMIZER_STEP,
            "optimizer",
            &OptimParams::default(),
            &[params, grads, &m, &v],
            n,
        )?;
        Ok(Optimizer {
            kind,
            steps: 0,
            m,
            v,
            launch,
            n,
        })
    }

    /// Record one step with learning rate `lr`; counts the step. Its
    /// parameters are a uniform written at the next submission, so record at
    /// most one step per submission.
    pub fn record_step(&mut self, gpu: &Gpu, pass: &mut wgpu::ComputePass, lr: f32) {
        self.steps += 1;
        let mut p = OptimParams {
            n: self.n as u32,
            lr,
            bias_correction1: 1.0,
            bias_correction2: 1.0,
            ..Default::default()
        };
        if let OptimizerKind::Adam { beta1, beta2, eps } = self.kind {
            let t = self.steps.min(i32::MAX as u64) as i32;
            p.adam = 1;
            p.beta1 = beta1;
            p.beta2 = beta2;
            p.eps = eps;
            p.bias_correction1 = (1.0 - f64::from(beta1).powi(t)) as f32;
            p.bias_correction2 = (1.0 - f64::from(beta2).powi(t)) as f32;
        }
        self.launch.set_params(gpu, &p);
        self.launch.record(gpu, pass);
    }

    /// Adam's moments (m, v), for checkpoints.
    pub fn read_state(&self, gpu: &Gpu) -> Result<(Vec<f32>, Vec<f32>)> {
        Ok((
            gpu.read_f32(&self.m, 0, self.n)?,
            gpu.read_f32(&self.v, 0, self.n)?,
        ))
    }

    pub fn write_state(&mut self, gpu: &Gpu, steps: u64, m: &[f32], v: &[f32]) {
        self.steps = steps;
        gpu.write_f32(&self.m, 0, m);
        gpu.write_f32(&self.v, 0, v);
    }
}
