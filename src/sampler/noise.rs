use crate::Result;
use crate::gpu::Gpu;
use crate::kernels::sampling::{Purpose, RandomParams, RngCounter};
use crate::kernels::{Launch, RANDOM_FILL};

/// The most iterations of a run, and steps of a sampler's run, that the
/// counter tells apart: its words are u32, and past them the noise repeats.
pub const MAX_COUNTED: u64 = u32::MAX as u64;

/// The counter words (iteration, step) shared by a sampler's random streams,
/// in a small GPU buffer: the sampling kernels advance `step` themselves.
pub struct Rng {
    pub seed: u32,
    counter: wgpu::Buffer,
}

impl Rng {
    pub fn new(gpu: &Gpu, seed: u32) -> Self {
        let counter = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("rng counter"),
            size: std::mem::size_of::<RngCounter>() as u64,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        Rng { seed, counter }
    }

    /// Set the counter (takes effect at the next submission).
    pub fn set(&self, gpu: &Gpu, iteration: u32, step: u32) {
        gpu.queue.write_buffer(
            &self.counter,
            0,
            bytemuck::bytes_of(&RngCounter { iteration, step }),
        );
    }

    pub fn counter(&self) -> &wgpu::Buffer {
        &self.counter
    }

    /// Read (iteration, step) back (tests and checkpoints).
    pub fn read(&self, gpu: &Gpu) -> Result<RngCounter> {
        let words = gpu.read_f32(&self.counter, 0, 2)?;
        Ok(RngCounter {
            iteration: words[0].to_bits(),
            step: words[1].to_bits(),
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RngDistribution {
    /// shift + scale·U(0, 1)
    Uniform { scale: f32, shift: f32 },
    /// shift + scale·N(0, 1)
    Normal { scale: f32, shift: f32 },
}

/// A random_fill launch writing into one buffer: [rows, row_len] draws keyed
/// by (seed, purpose) and counted by (element, row, step, iteration).
pub struct Noise {
    launch: Launch,
}

impl Noise {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        gpu: &Gpu,
        rng: &Rng,
        purpose: Purpose,
        distribution: RngDistribution,
        accumulate: bool,
        out: &wgpu::Buffer,
        rows: usize,
        row_len: usize,
    ) -> Result<Self> {
        let (normal, scale, shift) = match distribution {
            RngDistribution::Uniform { scale, shift } => (0, scale, shift),
            RngDistribution::Normal { scale, shift } => (1, scale, shift),
        };
        let params = RandomParams {
            seed: rng.seed,
            purpose: purpose as u32,
            row_len: row_len as u32,
            rows: rows as u32,
            normal,
            accumulate: u32::from(accumulate),
            scale,
            shift,
        };
        let launch = Launch::new(
            gpu,
            &RANDOM_FILL,
            "random fill",
            &params,
            &[&rng.counter, out],
            rows * row_len,
        )?;
        Ok(Noise { launch })
    }

    pub fn record(&self, gpu: &Gpu, pass: &mut wgpu::ComputePass) {
        self.launch.record(gpu, pass);
    }
}
