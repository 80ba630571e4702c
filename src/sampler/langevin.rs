use super::field::EnergyField;
use super::noise::{Noise, Rng, RngDistribution};
use crate::Result;
use crate::gpu::Gpu;
use crate::kernels::sampling::{LangevinParams, Purpose};
use crate::kernels::{LANGEVIN_STEP, Launch};

/// The step X ← X − a·∇F(X) + b·Z of PAPER.md for U = F/T:
/// a = ε²/(2T), b = τ·ε.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepSize {
    pub epsilon: f32,
    pub temperature: f32,
    pub tau: f32,
}

impl StepSize {
    pub fn gradient_factor(&self) -> f32 {
        self.epsilon * self.epsilon / (2.0 * self.temperature)
    }
    pub fn noise_factor(&self) -> f32 {
        self.tau * self.epsilon
    }
}

/// Unadjusted Langevin dynamics on the states in `field.input()`, in place.
/// Per chain it accumulates Σ ‖a·∇F‖ over steps (stats column 2), from which
/// r_t is the mean over chains divided by the number of steps.
pub struct Langevin<F: EnergyField> {
    pub field: F,
    pub rng: Rng,
    noise: wgpu::Buffer,
    /// [chains, 4]: (unused, unused, Σ r, unused) per chain.
    stats: wgpu::Buffer,
    fill: Noise,
    step: Launch,
}

impl<F: EnergyField> Langevin<F> {
    pub fn new(gpu: &Gpu, field: F, seed: u32, size: StepSize) -> Result<Self> {
        let (chains, dim) = (field.chains(), field.dim());
        let rng = Rng::new(gpu, seed);
        let noise = gpu.storage_buffer("langevin noise", chains * dim);
        let stats = gpu.storage_buffer("chain stats", chains * 4);
        let normal = RngDistribution::Normal {
            scale: 1.0,
            shift: 0.0,
        };
        let fill = Noise::new(
            gpu,
            &rng,
            Purpose::LangevinNoise,
            normal,
            false,
            &noise,
            chains,
            dim,
        )?;
        let step = Launch::new(
            gpu,
            &LANGEVIN_STEP,
            "langevin",
            &Self::params(chains, dim, size),
            &[field.input(), field.grad(), &noise, &stats, rng.counter()],
            // One workgroup (64 invocations) per chain.
            chains * crate::gpu::WORKGROUP_SIZE as usize,
        )?;
        Ok(Langevin {
            field,
            rng,
            noise,
            stats,
            fill,
            step,
        })
    }

    fn params(chains: usize, dim: usize, size: StepSize) -> LangevinParams {
        LangevinParams {
            chains: chains as u32,
            dim: dim as u32,
            a: size.gradient_factor(),
            b: size.noise_factor(),
        }
    }

    /// Change ε, T or τ (from the next submission on).
    pub fn set_step_size(&self, gpu: &Gpu, size: StepSize) {
        self.step
            .set_params(gpu, &Self::params(self.field.chains(), self.field.dim(), size));
    }

    /// Start a new run of steps: RNG counter at (iteration, 0), stats zeroed.
    pub fn begin(&self, gpu: &Gpu, iteration: u32) {
        self.rng.set(gpu, iteration, 0);
        gpu.write_f32(&self.stats, 0, &vec![0.0; self.field.chains() * 4]);
    }

    /// Record `steps` Langevin steps into one pass.
    pub fn record_steps(&self, gpu: &Gpu, pass: &mut wgpu::ComputePass, steps: usize) {
        for _ in 0..steps {
            self.fill.record(gpu, pass);
            self.field.record_eval(gpu, pass);
            self.step.record(gpu, pass);
        }
    }

    pub fn stats_buffer(&self) -> &wgpu::Buffer {
        &self.stats
    }

    pub fn noise_buffer(&self) -> &wgpu::Buffer {
        &self.noise
    }
}
