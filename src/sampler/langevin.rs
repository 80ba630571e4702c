use super::attraction::set_attraction_step;
use super::field::EnergyField;
use super::noise::Rng;
use crate::Result;
use crate::gpu::{Gpu, WORKGROUP_SIZE};
use crate::kernels::sampling::{
    AdvanceParams, LangevinParams, MLP_CHAINS_PER_GROUP, MLP_CPU_OUTPUTS, MLP_UNIFORM_LEN, MlpLangevinParams,
    Purpose,
};
use crate::kernels::{
    LANGEVIN_STEP, Launch, MLP_LANGEVIN, MLP_LANGEVIN_UNIFORM_WEIGHTS, MLP_WEIGHTS, RNG_ADVANCE,
};

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
    /// The step for exp(−U/f): temperature T·f and noise ε√f, so the
    /// gradient step a = ε²/2T is unchanged. (Keeping ε instead would
    /// multiply the gradient step by 1/f, which a low f makes unstable.)
    pub fn tempered(self, f: f32) -> StepSize {
        StepSize {
            epsilon: self.epsilon * f.sqrt(),
            temperature: self.temperature * f,
            ..self
        }
    }
}

/// How the sampler runs its steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SamplerKernels {
    /// The fused sampler where the energy allows it (a chain of small dense
    /// layers: ToyNet), as the device runs it best ([`FusedKernel::for_device`]),
    /// else the layered kernels.
    Auto,
    /// The fused sampler run so (tests: each way on one device); an energy
    /// it cannot run is refused.
    Fused(FusedKernel),
    /// Per step: the field's own kernels (a dispatch per layer), then
    /// langevin_step. The baseline the fused sampler is checked and timed against.
    Layered,
}

/// Loop iterations one mlp_langevin invocation may run per dispatch. Mesa's
/// software drivers (llvmpipe, lavapipe) end a shader's loops after 65 535
/// iterations without an error — measured here: ToyNet chains stopped after
/// 127 of 128 steps in one dispatch — and desktop GPUs reset a device whose
/// dispatch runs for seconds. Half that limit, against the count below.
const FUSED_LOOP_BUDGET: usize = 32_768;

/// Loop iterations per step of mlp_langevin's busiest invocation (index 0),
/// an estimate: each layer's outputs (forward) and inputs (backward) are
/// shared out 64 at a time, each a dot product; then, attracting, the
/// distance of each of the group's chains to its goal; the norm over the
/// state; per 8 coordinates the noise (a draw of 10 Philox rounds per
/// invocation) and the update of a column of 4 chains (with 4 goal reads
/// attracting). An estimate: the budget's factor of 2 covers what it misses.
fn fused_loop_trips_per_step(shape: &[[u32; 4]], dim: usize, attract: bool) -> usize {
    let shared = |n: u32| (n as usize).div_ceil(WORKGROUP_SIZE as usize);
    let layers: usize = shape
        .iter()
        .map(|&[n_in, n_out, ..]| {
            shared(n_out) * (n_in as usize + 1) + shared(n_in) * (n_out as usize + 1) + 2
        })
        .sum();
    let per_element = if attract { 15 } else { 11 };
    let distances = if attract {
        MLP_CHAINS_PER_GROUP * (dim + 1)
    } else {
        0
    };
    layers + distances + dim + shared((MLP_CHAINS_PER_GROUP * dim) as u32) * per_element + 1
}

/// A kernel and the rng_advance that moves the counter past the numbers it drew.
struct Advancing {
    kernel: Launch,
    advance: Launch,
}

impl Advancing {
    fn record(&self, gpu: &Gpu, pass: &mut wgpu::ComputePass) {
        self.kernel.record(gpu, pass);
        self.advance.record(gpu, pass);
    }
}

/// langevin_step at each place of a run of up to SUBMISSION_STEPS_MAX steps
/// after the RNG counter, and the rng_advance that moves the counter past
/// such a run: the run's steps read the counter as it is, each drawing at
/// its own offset, so one rng_advance follows a run, not every step (a
/// pass boundary fewer per step).
struct LayeredSteps {
    /// [t]: the step t places after the counter.
    steps: Vec<Launch>,
    /// [t]: moves the counter on by t + 1.
    advances: Vec<Launch>,
}

enum Steps {
    /// Per step field.record_step_eval, then langevin_step (noise drawn
    /// there); an rng_advance after each run of steps.
    Layered(LayeredSteps),
    /// runs[k]: mlp_langevin with 2^k steps per dispatch, with its layer
    /// shapes and the length of the parameter vector, run as `kernel`;
    /// `weights` (mlp_weights) lays out the parameters as they read them,
    /// before each run of steps.
    Fused {
        runs: Vec<Advancing>,
        shape: Vec<[u32; 4]>,
        params_len: usize,
        kernel: FusedKernel,
        weights: Launch,
    },
}

/// Unadjusted Langevin dynamics on the states in `field.input()`, in place.
/// Per chain it accumulates Σ ‖a·∇F‖ over steps (stats column 2), from which
/// r_t is the mean over chains divided by the number of steps. After any
/// number of steps, `field.energy()` and `field.grad()` hold F and ∇F at the
/// state the last step started from, whichever kernels ran.
pub struct Langevin<F: EnergyField> {
    pub field: F,
    pub rng: Rng,
    /// [chains, 4]: (unused, unused, Σ r, unused) per chain.
    stats: wgpu::Buffer,
    steps: Steps,
    size: StepSize,
    kernels: SamplerKernels,
    /// The steps write the energy path (into the buffer given to `set_path`).
    records_path: bool,
    /// A run's steps go in one submission, not several (see
    /// [`Langevin::submissions`]).
    one_submission: bool,
}

impl<F: EnergyField> Langevin<F> {
    pub fn new(gpu: &Gpu, field: F, seed: u32, size: StepSize) -> Result<Self> {
        Self::with_kernels(gpu, field, seed, size, SamplerKernels::Auto)
    }

    pub fn with_kernels(
        gpu: &Gpu,
        field: F,
        seed: u32,
        size: StepSize,
        kernels: SamplerKernels,
    ) -> Result<Self> {
        let rng = Rng::new(gpu, seed);
        let stats = gpu.storage_buffer("chain stats", field.chains() * 4);
        let steps = make_steps(gpu, &field, &rng, &stats, size, kernels, None)?;
        set_attraction_step(gpu, &field, size.gradient_factor());
        Ok(Langevin {
            field,
            rng,
            stats,
            steps,
            size,
            kernels,
            records_path: false,
            one_submission: false,
        })
    }

    /// Record (Some) or stop recording the energy path: every step writes
    /// F of every chain at the state it starts from into row `counter.step`
    /// of `path` ([steps, chains]; `begin` puts the counter at step 0), in
    /// the same dispatches as the steps, fused or not.
    pub fn set_path(&mut self, gpu: &Gpu, path: Option<&wgpu::Buffer>) -> Result<()> {
        let (field, rng, stats) = (&self.field, &self.rng, &self.stats);
        self.steps = make_steps(gpu, field, rng, stats, self.size, self.kernels, path)?;
        self.records_path = path.is_some();
        Ok(())
    }

    /// Whether the fused sampler (mlp_langevin) runs the steps.
    pub fn is_fused(&self) -> bool {
        matches!(self.steps, Steps::Fused { .. })
    }

    /// How the fused sampler runs, if it runs the steps.
    pub fn fused_kernel(&self) -> Option<FusedKernel> {
        match self.steps {
            Steps::Fused { kernel, .. } => Some(kernel),
            Steps::Layered(_) => None,
        }
    }

    /// Change ε, T or τ (from the next submission on).
    pub fn set_step_size(&mut self, gpu: &Gpu, size: StepSize) {
        self.size = size;
        set_attraction_step(gpu, &self.field, size.gradient_factor());
        let (seed, record) = (self.rng.seed, self.records_path);
        match &self.steps {
            Steps::Layered(layered) => {
                for (offset, step) in layered.steps.iter().enumerate() {
                    step.set_params(gpu, &layered_params(&self.field, seed, size, record, offset));
                }
            }
            Steps::Fused {
                runs,
                shape,
                params_len,
                ..
            } => {
                for (log2, run) in runs.iter().enumerate() {
                    let params = fused_params(&self.field, shape, *params_len, 1 << log2, seed, size, record);
                    run.kernel.set_params(gpu, &params);
                }
            }
        }
    }

    /// Start a new run of steps: RNG counter at (iteration, 0), stats zeroed.
    pub fn begin(&self, gpu: &Gpu, iteration: u32) {
        self.rng.set(gpu, iteration, 0);
        gpu.write_f32(&self.stats, 0, &vec![0.0; self.field.chains() * 4]);
    }

    /// Record `steps` Langevin steps into one pass.
    pub fn record_steps(&self, gpu: &Gpu, pass: &mut wgpu::ComputePass, steps: usize) {
        match &self.steps {
            Steps::Layered(layered) => {
                let run = layered.steps.len();
                for i in 0..steps {
                    self.field.record_step_eval(gpu, pass, i);
                    let offset = i % run;
                    layered.steps[offset].record(gpu, pass);
                    if offset + 1 == run || i + 1 == steps {
                        layered.advances[offset].record(gpu, pass);
                    }
                }
            }
            Steps::Fused { runs, weights, .. } => {
                // (The parameters may have changed since the last steps.)
                weights.record(gpu, pass);
                let mut left = steps;
                while left > 0 {
                    let log2 = (left.ilog2() as usize).min(runs.len() - 1);
                    runs[log2].record(gpu, pass);
                    left -= 1 << log2;
                }
            }
        }
    }

    pub fn stats_buffer(&self) -> &wgpu::Buffer {
        &self.stats
    }

    /// How many of `steps` steps each submission of a run records, in
    /// order: one submission with the fused sampler (a few dispatches in
    /// all); with the layered kernels, a first of 2 steps, so that the GPU
    /// starts on it while the CPU records the rest (recording a step's
    /// dozens of dispatches costs the CPU a good part of what running them
    /// costs a GPU), then submissions doubling up to SUBMISSION_STEPS_MAX.
    /// Their results are those of one submission: the same dispatches in the
    /// same order. (An iterator: training asks every iteration, and
    /// allocates nothing there.)
    pub fn submissions(&self, steps: usize) -> impl Iterator<Item = usize> + use<F> {
        let whole = self.is_fused() || self.one_submission;
        let (mut left, mut next) = (steps, if whole { steps } else { 2 });
        // (0 steps: one empty submission.)
        let mut ended = false;
        std::iter::from_fn(move || {
            if ended {
                return None;
            }
            let n = next.min(left);
            left -= n;
            next = (2 * next).min(SUBMISSION_STEPS_MAX);
            ended = left == 0;
            Some(n)
        })
    }

    /// Record a run's steps in one submission (tests compare it with
    /// several; the results are the same).
    pub fn set_one_submission(&mut self, one: bool) {
        self.one_submission = one;
    }
}

/// The most layered Langevin steps one submission of a run records
/// ([`Langevin::submissions`]).
const SUBMISSION_STEPS_MAX: usize = 32;

/// The kernels of the steps, bound to the field, the counter, the stats and
/// the energy path (or a placeholder when none is recorded).
fn make_steps<F: EnergyField>(
    gpu: &Gpu,
    field: &F,
    rng: &Rng,
    stats: &wgpu::Buffer,
    size: StepSize,
    kernels: SamplerKernels,
    path: Option<&wgpu::Buffer>,
) -> Result<Steps> {
    let chains = field.chains();
    let seed = rng.seed;
    let record = path.is_some();
    let placeholder;
    let path = match path {
        Some(p) => p,
        None => {
            placeholder = gpu.storage_buffer("no energy path", 1);
            &placeholder
        }
    };
    let advance = |steps: usize| {
        let params = AdvanceParams {
            steps: steps as u32,
            ..Default::default()
        };
        Launch::new(gpu, &RNG_ADVANCE, "rng advance", &params, &[rng.counter()], 1)
    };
    // langevin_step: one workgroup per chain (of 256 invocations, counted
    // as `dispatch` counts, in 64s); mlp_langevin: per 8 chains.
    let invocations = chains * WORKGROUP_SIZE as usize;
    let fused_invocations = chains.div_ceil(MLP_CHAINS_PER_GROUP) * WORKGROUP_SIZE as usize;
    let fused = match kernels {
        SamplerKernels::Auto => field.dense_layers().map(|(shape, params)| {
            let kernel = FusedKernel::for_device(gpu, (params.size() / 4) as usize);
            (shape, params, kernel)
        }),
        SamplerKernels::Fused(kernel) => {
            let (shape, params) = field.dense_layers().ok_or_else(|| {
                crate::Error::Config(
                    "the fused sampler runs chains of small dense layers only (ToyNet); \
                     use the automatic choice for this net"
                        .into(),
                )
            })?;
            kernel.check(gpu, (params.size() / 4) as usize)?;
            Some((shape, params, kernel))
        }
        SamplerKernels::Layered => None,
    };
    Ok(match fused {
        None => {
            let step = |offset: usize| {
                Launch::new(
                    gpu,
                    &LANGEVIN_STEP,
                    "langevin",
                    &layered_params(field, seed, size, record, offset),
                    &[
                        field.input(),
                        field.grad(),
                        stats,
                        rng.counter(),
                        field.energy(),
                        path,
                    ],
                    invocations,
                )
            };
            Steps::Layered(LayeredSteps {
                steps: (0..SUBMISSION_STEPS_MAX).map(step).collect::<Result<_>>()?,
                advances: (1..=SUBMISSION_STEPS_MAX).map(advance).collect::<Result<_>>()?,
            })
        }
        Some((shape, params, kernel)) => {
            let no_attraction;
            let attraction = match field.attraction() {
                Some(a) => a,
                None => {
                    no_attraction = gpu.storage_buffer("no attraction", 1);
                    &no_attraction
                }
            };
            let params_len = (params.size() / 4) as usize;
            let transposed_at = transposed_at(params_len);
            // Each uniform binding holds all MLP_UNIFORM_LEN vec4s.
            let weights_len = if kernel.uniform_weights {
                transposed_at + 4 * MLP_UNIFORM_LEN
            } else {
                transposed_at + params_len
            };
            let weights_buffer = gpu.storage_buffer_also(
                "mlp weights",
                weights_len,
                if kernel.uniform_weights {
                    wgpu::BufferUsages::UNIFORM
                } else {
                    wgpu::BufferUsages::empty()
                },
            );
            let uniform_window = |at: usize| {
                wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: &weights_buffer,
                    offset: 4 * at as u64,
                    size: std::num::NonZeroU64::new(16 * MLP_UNIFORM_LEN as u64),
                })
            };
            let weights = Launch::new(
                gpu,
                &MLP_WEIGHTS,
                "mlp weights",
                &fused_params(field, &shape, params_len, 1, seed, size, record),
                &[params, &weights_buffer],
                params_len,
            )?;
            let trips = fused_loop_trips_per_step(&shape, field.dim(), field.attraction().is_some());
            let per_dispatch = FUSED_LOOP_BUDGET / trips;
            // Dispatches of 1, 2, 4, … steps up to the budget: `record_steps`
            // writes a count in binary digits, one dispatch each.
            let max_log2 = per_dispatch.max(1).ilog2();
            let mut runs = Vec::new();
            for log2 in 0..=max_log2 {
                let mut resources = vec![if kernel.uniform_weights {
                    uniform_window(0)
                } else {
                    weights_buffer.as_entire_binding()
                }];
                resources.extend(
                    [
                        field.input(),
                        field.energy(),
                        field.grad(),
                        stats,
                        rng.counter(),
                        path,
                        attraction,
                    ]
                    .map(|b| b.as_entire_binding()),
                );
                if kernel.uniform_weights {
                    resources.push(uniform_window(transposed_at));
                }
                let launch = Launch::with_resources(
                    gpu,
                    kernel.shader(),
                    &[("OUTPUTS", f64::from(kernel.outputs))],
                    "mlp langevin",
                    &fused_params(field, &shape, params_len, 1 << log2, seed, size, record),
                    resources,
                    fused_invocations,
                )?;
                runs.push(Advancing {
                    kernel: launch,
                    advance: advance(1 << log2)?,
                });
            }
            Steps::Fused {
                runs,
                shape,
                params_len,
                kernel,
                weights,
            }
        }
    })
}

fn layered_params(
    field: &impl EnergyField,
    seed: u32,
    size: StepSize,
    record_path: bool,
    step_offset: usize,
) -> LangevinParams {
    LangevinParams {
        chains: field.chains() as u32,
        dim: field.dim() as u32,
        a: size.gradient_factor(),
        b: size.noise_factor(),
        seed,
        purpose: Purpose::LangevinNoise as u32,
        record_path: u32::from(record_path),
        step_offset: step_offset as u32,
    }
}

/// Where mlp_weights puts the transposed weights: after the parameter
/// vector's copy, at a multiple of 64 (256 bytes, where a uniform binding
/// may start).
fn transposed_at(params_len: usize) -> usize {
    params_len.next_multiple_of(64)
}

/// How the fused sampler runs on a device: its weights from uniform
/// bindings or storage, and a layer's outputs per invocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FusedKernel {
    pub uniform_weights: bool,
    pub outputs: u32,
}

impl FusedKernel {
    /// CPU adapters' kernels ([`Gpu::uniform_weight_views`]): 4 outputs per
    /// invocation, the weights from uniform bindings where both fit (a net
    /// of at most 4·MLP_UNIFORM_LEN parameters, an adapter that binds 64
    /// KiB and aligns bindings at 256 bytes or less); GPUs: storage, one
    /// output each (mlp_langevin.wgsl says why).
    pub fn for_device(gpu: &Gpu, params_len: usize) -> Self {
        if !gpu.uniform_weight_views() {
            return FusedKernel {
                uniform_weights: false,
                outputs: 1,
            };
        }
        FusedKernel {
            uniform_weights: Self::uniform_fits(gpu, params_len),
            outputs: MLP_CPU_OUTPUTS,
        }
    }

    /// Whether a net of `params_len` parameters may read its weights from
    /// the device's uniform bindings.
    pub fn uniform_fits(gpu: &Gpu, params_len: usize) -> bool {
        let limits = &gpu.limits;
        params_len <= 4 * MLP_UNIFORM_LEN
            && 16 * MLP_UNIFORM_LEN as u64 <= limits.max_uniform_buffer_binding_size
            && limits.min_uniform_buffer_offset_alignment <= 256
    }

    /// Refuse a way the kernel cannot run a net of `params_len` parameters.
    fn check(&self, gpu: &Gpu, params_len: usize) -> Result<()> {
        if ![1, MLP_CPU_OUTPUTS].contains(&self.outputs) {
            return Err(crate::Error::Config(format!(
                "the fused sampler computes 1 or {MLP_CPU_OUTPUTS} outputs per invocation, not {}",
                self.outputs
            )));
        }
        if self.uniform_weights && !Self::uniform_fits(gpu, params_len) {
            return Err(crate::Error::Config(format!(
                "{params_len} parameters do not fit the fused sampler's uniform bindings on this \
                 adapter ({} vec4s each); read them from storage",
                MLP_UNIFORM_LEN
            )));
        }
        Ok(())
    }

    fn shader(&self) -> &'static crate::kernels::Shader {
        if self.uniform_weights {
            &MLP_LANGEVIN_UNIFORM_WEIGHTS
        } else {
            &MLP_LANGEVIN
        }
    }
}

fn fused_params(
    field: &impl EnergyField,
    shape: &[[u32; 4]],
    params_len: usize,
    steps: usize,
    seed: u32,
    size: StepSize,
    record_path: bool,
) -> MlpLangevinParams {
    // The step itself is langevin_step's.
    let step = layered_params(field, seed, size, record_path, 0);
    let mut params = MlpLangevinParams {
        chains: step.chains,
        layers: shape.len() as u32,
        steps: steps as u32,
        dim: step.dim,
        a: step.a,
        b: step.b,
        seed,
        purpose: step.purpose,
        record_path: step.record_path,
        attract: u32::from(field.attraction().is_some()),
        params_len: params_len as u32,
        transposed_at: transposed_at(params_len) as u32,
        ..Default::default()
    };
    params.shape[..shape.len()].copy_from_slice(shape);
    params
}
