use rand::SeedableRng;
use rand::seq::index::sample;
use rand_chacha::ChaCha8Rng;

use super::noise::{Noise, Rng, RngDistribution};
use crate::gpu::Gpu;
use crate::kernels::sampling::{Purpose, RowsParams};
use crate::kernels::{COPY_ROWS, Launch};
use crate::{Error, Result};

/// The persistent chain bank (PAPER.md): `size` states, initialised from
/// U(−1, 1); each iteration a random batch of distinct entries is gathered
/// into the chains, advanced, and scattered back.
pub struct Bank {
    pub size: usize,
    pub dim: usize,
    pub seed: u64,
    states: wgpu::Buffer,
    index: wgpu::Buffer,
    gather: Launch,
    scatter: Launch,
    chains: usize,
}

impl Bank {
    /// A bank feeding the `chains` rows of `chain_states` ([chains, dim]).
    pub fn new(
        gpu: &Gpu,
        size: usize,
        dim: usize,
        chains: usize,
        chain_states: &wgpu::Buffer,
        seed: u64,
    ) -> Result<Self> {
        if chains > size {
            return Err(Error::Shape(format!(
                "the persistent bank holds {size} states but {chains} chains are drawn from it each iteration: \
                 raise langevin.bank_size (0: one state per image, so more images, data.limit) or lower \
                 batch.chains"
            )));
        }
        let states = gpu.storage_buffer("persistent bank", size * dim);
        let index = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("bank indices"),
            size: (chains.max(1) * 4) as u64,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let params = |scatter| RowsParams {
            rows: chains as u32,
            row_len: dim as u32,
            scatter,
            _pad: 0,
        };
        let gather = Launch::new(
            gpu,
            &COPY_ROWS,
            "bank gather",
            &params(0),
            &[&index, &states, chain_states],
            chains * dim,
        )?;
        let scatter = Launch::new(
            gpu,
            &COPY_ROWS,
            "bank scatter",
            &params(1),
            &[&index, chain_states, &states],
            chains * dim,
        )?;
        Ok(Bank {
            size,
            dim,
            seed,
            states,
            index,
            gather,
            scatter,
            chains,
        })
    }

    /// Fill the bank with U(−1, 1) states (keyed by the seed, like all GPU noise).
    pub fn init_uniform(&self, gpu: &Gpu, seed: u32) -> Result<()> {
        let rng = Rng::new(gpu, seed);
        rng.set(gpu, 0, 0);
        let uniform = RngDistribution::Uniform {
            scale: 2.0,
            shift: -1.0,
        };
        let fill = Noise::new(
            gpu,
            &rng,
            Purpose::BankInit,
            uniform,
            false,
            &self.states,
            self.size,
            self.dim,
        )?;
        gpu.run("bank init", |pass| fill.record(gpu, pass));
        Ok(())
    }

    /// The distinct bank entries used at `iteration`: a function of (seed, iteration) only,
    /// so a resumed run draws the same ones.
    pub fn indices(&self, iteration: u64) -> Vec<u32> {
        Self::indices_for(self.seed, self.size, self.chains, iteration)
    }

    /// The entries a bank of `size` with `seed` feeds to `chains` chains at `iteration`.
    pub fn indices_for(seed: u64, size: usize, chains: usize, iteration: u64) -> Vec<u32> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6261_6e6b);
        rng.set_stream(iteration);
        sample(&mut rng, size, chains)
            .into_iter()
            .map(|i| i as u32)
            .collect()
    }

    /// Choose this iteration's entries (takes effect at the next submission).
    pub fn select(&self, gpu: &Gpu, iteration: u64) -> Vec<u32> {
        let idx = self.indices(iteration);
        gpu.queue.write_buffer(&self.index, 0, bytemuck::cast_slice(&idx));
        idx
    }

    pub fn record_gather(&self, gpu: &Gpu, pass: &mut wgpu::ComputePass) {
        self.gather.record(gpu, pass);
    }

    pub fn record_scatter(&self, gpu: &Gpu, pass: &mut wgpu::ComputePass) {
        self.scatter.record(gpu, pass);
    }

    pub fn states(&self) -> &wgpu::Buffer {
        &self.states
    }

    pub fn read(&self, gpu: &Gpu) -> Result<Vec<f32>> {
        gpu.read_f32(&self.states, 0, self.size * self.dim)
    }

    /// The first `k` states (for pictures: a large bank need not cross the bus).
    pub fn read_rows(&self, gpu: &Gpu, k: usize) -> Result<Vec<f32>> {
        gpu.read_f32(&self.states, 0, k.min(self.size) * self.dim)
    }

    pub fn write(&self, gpu: &Gpu, states: &[f32]) -> Result<()> {
        if states.len() != self.size * self.dim {
            return Err(Error::Shape(format!(
                "bank of {}×{} states given {} values",
                self.size,
                self.dim,
                states.len()
            )));
        }
        gpu.write_f32(&self.states, 0, states);
        Ok(())
    }
}
