use super::field::EnergyField;
use super::langevin::StepSize;
use super::noise::{Noise, Rng, RngDistribution};
use crate::gpu::Gpu;
use crate::kernels::sampling::{MalaParams, Purpose};
use crate::kernels::{Launch, MALA_ACCEPT, MALA_PROPOSE};
use crate::{Error, Result};

/// Metropolis-adjusted Langevin (PAPER.md) with the field evaluated at the
/// proposals: states live in their own buffer, the field's input holds X'.
/// Stats per chain: (F(x), accepted, Σ ‖a·∇F(x)‖, proposals).
pub struct Mala<F: EnergyField> {
    pub field: F,
    pub rng: Rng,
    states: wgpu::Buffer,
    stats: wgpu::Buffer,
    fill_momentum: Noise,
    fill_coin: Noise,
    propose: Launch,
    accept: Launch,
    load: Launch,
}

impl<F: EnergyField> Mala<F> {
    pub fn new(gpu: &Gpu, field: F, seed: u32, size: StepSize) -> Result<Self> {
        if size.tau != 1.0 {
            return Err(Error::Shape(format!("MALA needs τ = 1 (got τ = {})", size.tau)));
        }
        let (chains, dim) = (field.chains(), field.dim());
        let rng = Rng::new(gpu, seed);
        let states = gpu.storage_buffer("mala states", chains * dim);
        let grad = gpu.storage_buffer("mala grad", chains * dim);
        let momentum = gpu.storage_buffer("mala momentum", chains * dim);
        let coin = gpu.storage_buffer("mala coin", chains);
        let stats = gpu.storage_buffer("mala stats", chains * 4);
        let normal = RngDistribution::Normal {
            scale: 1.0,
            shift: 0.0,
        };
        let uniform = RngDistribution::Uniform {
            scale: 1.0,
            shift: 0.0,
        };
        let fill_momentum = Noise::new(
            gpu,
            &rng,
            Purpose::MalaMomentum,
            normal,
            false,
            &momentum,
            chains,
            dim,
        )?;
        let fill_coin = Noise::new(gpu, &rng, Purpose::MalaCoin, uniform, false, &coin, chains, 1)?;
        let params = |init| MalaParams {
            chains: chains as u32,
            dim: dim as u32,
            a: size.gradient_factor(),
            epsilon: size.epsilon,
            inv_temperature: 1.0 / size.temperature,
            init,
            ..Default::default()
        };
        let propose = Launch::new(
            gpu,
            &MALA_PROPOSE,
            "mala propose",
            &params(0),
            &[&states, &grad, &momentum, field.input(), rng.counter()],
            chains * dim,
        )?;
        let accept_buffers = [
            &states,
            &grad,
            field.input(),
            field.energy(),
            field.grad(),
            &momentum,
            &stats,
            &coin,
        ];
        let accept = Launch::new(
            gpu,
            &MALA_ACCEPT,
            "mala accept",
            &params(0),
            &accept_buffers,
            chains,
        )?;
        let load = Launch::new(
            gpu,
            &MALA_ACCEPT,
            "mala load",
            &params(1),
            &accept_buffers,
            chains,
        )?;
        Ok(Mala {
            field,
            rng,
            states,
            stats,
            fill_momentum,
            fill_coin,
            propose,
            accept,
            load,
        })
    }

    /// Start from `x0` ([chains, dim]): evaluates F and ∇F there and zeroes the stats.
    pub fn start(&self, gpu: &Gpu, x0: &[f32], iteration: u32) -> Result<()> {
        let n = self.field.chains() * self.field.dim();
        if x0.len() != n {
            return Err(Error::Shape(format!(
                "MALA start: expected {n} values, got {}",
                x0.len()
            )));
        }
        gpu.write_f32(self.field.input(), 0, x0);
        gpu.write_f32(&self.stats, 0, &vec![0.0; self.field.chains() * 4]);
        self.rng.set(gpu, iteration, 0);
        gpu.run("mala start", |pass| {
            self.field.record_eval(gpu, pass);
            self.load.record(gpu, pass);
        });
        Ok(())
    }

    pub fn record_steps(&self, gpu: &Gpu, pass: &mut wgpu::ComputePass, steps: usize) {
        for i in 0..steps {
            self.fill_momentum.record(gpu, pass);
            self.fill_coin.record(gpu, pass);
            self.propose.record(gpu, pass);
            self.field.record_step_eval(gpu, pass, i);
            self.accept.record(gpu, pass);
        }
    }

    pub fn states(&self) -> &wgpu::Buffer {
        &self.states
    }

    pub fn stats_buffer(&self) -> &wgpu::Buffer {
        &self.stats
    }

    /// Fraction of proposals accepted since [`Mala::start`].
    pub fn acceptance_rate(&self, gpu: &Gpu) -> Result<f64> {
        let stats = gpu.read_f32(&self.stats, 0, self.field.chains() * 4)?;
        let (acc, prop) = stats
            .chunks_exact(4)
            .fold((0.0, 0.0), |(a, p), s| (a + f64::from(s[1]), p + f64::from(s[3])));
        Ok(if prop > 0.0 { acc / prop } else { 0.0 })
    }
}
