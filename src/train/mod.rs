//! Algorithm 1 of PAPER.md on the GPU: the trainer as a library that takes
//! one iteration at a time and returns its event, so the CLI and the window
//! drive it the same way.

mod checkpoint;
pub mod compare_runs;
pub mod feed;
pub mod landscape;
pub mod longrun;
mod metrics;
pub mod run;
pub mod session;

pub use checkpoint::{CHECKPOINT_FILE, Checkpoint, CheckpointHead, SavedHistory};
pub use metrics::{
    ToyMetrics, evaluate_toy, evaluate_toy_watched, evaluation_text, grid_energies, kde_chains,
};

/// Long work (long runs, landscape maps) reports `(stage, done, total)`
/// after every submission through this, and stops with the error it
/// returns (a front end asked to stop: [`crate::Error::Stopped`]).
pub type Progress<'a> = &'a mut dyn FnMut(&str, u64, u64) -> crate::Result<()>;

use std::sync::Arc;
use std::time::Instant;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::config::{Config, Form, InitKind, LongRunInit, NetName, OptimizerName};
use crate::data::toy::Toy;
use crate::data::{Dataset, image_indices};
use crate::diagnostics::{DivergenceWatch, Phase};
use crate::gpu::Gpu;
use crate::kernels::optim::{Optimizer, OptimizerKind};
use crate::kernels::sampling::Purpose;
use crate::model::{Backward, GpuNet, NetSpec, init_params};
use crate::sampler::{Bank, EnergyField, Langevin, Noise, RngDistribution, StepSize};
use crate::{Error, Result};

/// What one iteration reports. Energies are in U = F/T units.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct IterationEvent {
    /// Iterations completed, this one included (1 for the first).
    pub iteration: u64,
    /// d_st = mean U(X⁺) − mean U(X⁻).
    pub d_st: f64,
    /// Mean over chains and steps of ‖(ε²/2)∇U‖.
    pub r_t: f64,
    pub mean_u_data: f64,
    pub mean_u_samples: f64,
    /// Learning rate used by this iteration (before decay).
    pub lr: f64,
    /// Seconds since the trainer was made.
    pub wall_time: f64,
    pub phase: Phase,
    /// ε and L this iteration sampled with (they can change during a run).
    pub epsilon: f64,
    pub steps: u32,
}

/// Which images a picture of the run shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PictureSource {
    /// The chains X⁻ after the last iteration.
    Chains,
    /// The data batch X⁺ of the last iteration.
    Data,
    /// The first entries of the persistent bank.
    Bank,
}

/// Training speed on the trainer's own clock (`wall_time`), from the first
/// iteration seen to the last, so start-up and whatever runs around the
/// trainer between iterations (a window, pictures) count only as they slow it.
/// One trainer's events: a new trainer (a load, a reset) takes a new rate.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TrainingRate {
    first: Option<(u64, f64)>,
    last: Option<(u64, f64)>,
}

impl TrainingRate {
    pub fn record(&mut self, e: &IterationEvent) {
        let at = (e.iteration, e.wall_time);
        self.first.get_or_insert(at);
        self.last = Some(at);
    }

    /// (iterations, seconds) after the first one seen; None before two.
    pub fn span(&self) -> Option<(u64, f64)> {
        let (f, l) = (self.first?, self.last?);
        (l.0 > f.0).then(|| (l.0 - f.0, l.1 - f.1))
    }

    pub fn per_second(&self) -> Option<f64> {
        self.span().map(|(n, s)| n as f64 / s.max(1e-9))
    }

    /// Iterations per second over the last `seconds` (or more: back to the
    /// first event at least that much older) of `events`, one trainer's in
    /// order, on its clock; None before two events.
    pub fn recent(events: &[IterationEvent], seconds: f64) -> Option<f64> {
        let last = events.last()?;
        let mut first = last;
        for e in events.iter().rev().skip(1) {
            first = e;
            if last.wall_time - e.wall_time >= seconds {
                break;
            }
        }
        let (n, s) = (last.iteration - first.iteration, last.wall_time - first.wall_time);
        (n > 0).then(|| n as f64 / s.max(1e-9))
    }
}

impl std::fmt::Display for TrainingRate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.span(), self.first) {
            // (Timed from the end of the first iteration seen: the n after it.)
            (Some((1, s)), Some((first, _))) => {
                write!(
                    f,
                    "iteration {}: {s:.2} s, {:.3} it/s",
                    first + 1,
                    1.0 / s.max(1e-9)
                )
            }
            (Some((n, s)), Some((first, _))) => write!(
                f,
                "iterations {}–{}: {n} in {s:.2} s, {:.3} it/s",
                first + 1,
                first + n,
                n as f64 / s.max(1e-9)
            ),
            _ => write!(f, "fewer than two iterations: no rate"),
        }
    }
}

/// A change of setting while training, taking effect at the next iteration.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Change {
    /// Langevin step size ε (in the invariant form also T = ε²/2).
    Epsilon(f64),
    /// Noise factor τ.
    Tau(f64),
    /// Langevin steps L per iteration.
    Steps(u32),
    /// Learning rate (a floor `lr_min` above it counts as it).
    LearningRate(f64),
    /// SGD or Adam, with a fresh optimizer state.
    Optimizer(OptimizerName),
}

impl Change {
    /// The settings a run may change as it goes (in the window, or with
    /// `train --resume --set`), as config keys.
    pub const KEYS: [&'static str; 5] = [
        "langevin.epsilon",
        "langevin.tau",
        "langevin.steps",
        "optimizer.lr",
        "optimizer.kind",
    ];

    /// The config key this change sets (one of [`Change::KEYS`]).
    pub fn key(self) -> &'static str {
        match self {
            Change::Epsilon(_) => "langevin.epsilon",
            Change::Tau(_) => "langevin.tau",
            Change::Steps(_) => "langevin.steps",
            Change::LearningRate(_) => "optimizer.lr",
            Change::Optimizer(_) => "optimizer.kind",
        }
    }

    /// Its value as `--set` and config files write it (`{:?}` keeps an
    /// f64 exact and in TOML syntax: 0.03, 1e-20, 1.0).
    pub fn value(self) -> String {
        match self {
            Change::Epsilon(v) | Change::Tau(v) | Change::LearningRate(v) => format!("{v:?}"),
            Change::Steps(v) => v.to_string(),
            Change::Optimizer(k) => crate::config::spelling(&k),
        }
    }

    /// The change that sets `key` (one of [`Change::KEYS`]) to `value`, as
    /// [`Change::value`] writes it; None for another key or a value that is
    /// not one.
    pub fn parse(key: &str, value: &str) -> Option<Change> {
        Some(match key {
            "langevin.epsilon" => Change::Epsilon(value.parse().ok()?),
            "langevin.tau" => Change::Tau(value.parse().ok()?),
            "langevin.steps" => Change::Steps(value.parse().ok()?),
            "optimizer.lr" => Change::LearningRate(value.parse().ok()?),
            "optimizer.kind" => Change::Optimizer(
                serde::Deserialize::deserialize(toml::Value::String(value.to_string())).ok()?,
            ),
            _ => return None,
        })
    }

    /// The change that sets `key` (one of [`Change::KEYS`]) to its value
    /// in `config` (None for another key).
    pub fn current(key: &str, config: &Config) -> Option<Change> {
        let (l, o) = (&config.langevin, &config.optimizer);
        Some(match key {
            "langevin.epsilon" => Change::Epsilon(l.epsilon),
            "langevin.tau" => Change::Tau(l.tau),
            "langevin.steps" => Change::Steps(l.steps),
            "optimizer.lr" => Change::LearningRate(o.lr),
            "optimizer.kind" => Change::Optimizer(o.kind),
            _ => return None,
        })
    }

    /// The change that sets `key` to the value a run has now: its learning
    /// rate `lr` (decayed since its start), its config's for the others.
    pub fn now(key: &str, config: &Config, lr: f64) -> Option<Change> {
        match key {
            "optimizer.lr" => Some(Change::LearningRate(lr)),
            _ => Change::current(key, config),
        }
    }

    /// `config` with this change made (not validated).
    pub fn set_in(self, config: &mut Config) {
        match self {
            Change::Epsilon(v) => config.langevin.epsilon = v,
            Change::Tau(v) => config.langevin.tau = v,
            Change::Steps(v) => config.langevin.steps = v,
            Change::LearningRate(v) => config.optimizer.lr = v,
            Change::Optimizer(k) => config.optimizer.kind = k,
        }
    }
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Change::Epsilon(v) => write!(f, "ε = {v}"),
            Change::Tau(v) => write!(f, "τ = {v}"),
            Change::Steps(v) => write!(f, "L = {v}"),
            Change::LearningRate(v) => write!(f, "lr = {v}"),
            Change::Optimizer(k) => write!(f, "optimizer {k}"),
        }
    }
}

/// Where X⁺ (and data-initialised chains) come from.
enum Feed {
    /// 2-D points drawn on the CPU (a few hundred floats per iteration).
    Toy(Toy),
    /// Images held on the GPU; only indices are uploaded.
    Images(Box<ImageFeed>),
}

struct ImageFeed {
    store: feed::ImageStore,
    /// Into the first n rows of the training batch.
    data: feed::ImageGather,
    /// ε_data noise added to those rows.
    data_noise: Option<Noise>,
    /// Into the chains, for data-initialised chains, with their ε_data noise.
    init: Option<(feed::ImageGather, Option<Noise>)>,
}

impl ImageFeed {
    fn record(&self, gpu: &Gpu, pass: &mut wgpu::ComputePass) {
        self.data.record(gpu, pass);
        if let Some(noise) = &self.data_noise {
            noise.record(gpu, pass);
        }
        if let Some((gather, noise)) = &self.init {
            gather.record(gpu, pass);
            if let Some(noise) = noise {
                noise.record(gpu, pass);
            }
        }
    }
}

/// How the chains of an iteration start.
enum ChainInit {
    Bank(Bank),
    Noise(Noise),
    Data,
}

pub struct Trainer {
    pub config: Config,
    pub gpu: Arc<Gpu>,
    pub data: Dataset,
    pub spec: NetSpec,
    train: GpuNet,
    sampler: Langevin<GpuNet>,
    init: ChainInit,
    feed: Feed,
    optimizer: Optimizer,
    report: wgpu::Buffer,
    watch: DivergenceWatch,
    /// (iterations completed, T before / T after) for every change of T
    /// (ε in the invariant form): d_st = ΔF/T of iterations up to then is
    /// multiplied by it before the watch compares it with later ones.
    watch_rescales: Vec<(u64, f64)>,
    /// Iterations completed.
    pub iteration: u64,
    /// Settings changed during the run: (iterations completed before it, what).
    pub changes: Vec<(u64, Change)>,
    /// The iterations completed before each change of the run's earlier
    /// sessions (its changes.csv, on a resume): with [`Trainer::changes`],
    /// where the diagnostics picture marks the settings changed.
    pub earlier_changes: Vec<u64>,
    /// Learning rate of the next iteration (before the SGD scaling).
    pub lr: f64,
    /// d_st and r_t of every completed iteration.
    pub d_st: Vec<f64>,
    pub r_t: Vec<f64>,
    start: Instant,
    /// Seconds the run trained before this trainer (from the checkpoint it
    /// was restored from); events keep this trainer's own clock.
    pub seconds_before: f64,
    /// Where the Langevin steps write every chain's energy when the energy
    /// path is recorded (see [`Trainer::record_energy_path`]).
    path: Option<wgpu::Buffer>,
    /// U = F/T of every chain at every step of the last iteration,
    /// [L + 1, chains] (from X₀ to X_L), when recorded.
    pub energy_path: Option<Vec<f32>>,
    /// Whether X⁻ holds chains (of an iteration, or restored from a
    /// checkpoint): a new trainer's, or one restored from a checkpoint
    /// without them, holds zeros.
    has_chains: bool,
    /// Whether X⁺ holds a data batch: not before this trainer's first
    /// iteration (checkpoints keep none).
    has_batch: bool,
    /// The iteration that diverged and why, while the parameters hold its
    /// step (until an iteration passes the watch again).
    diverged: Option<(u64, String)>,
}

/// Refuse long runs from the bank (`eval.longrun_init = "bank"`) of more
/// chains than it holds (`bank_size` states), naming the run's settings
/// (training's long-run checks and the window's long runs alike, `whose`).
pub(crate) fn check_bank_holds(whose: &str, chains: usize, bank_size: usize) -> Result<()> {
    if chains > bank_size {
        return Err(Error::Config(format!(
            "`eval.longrun_chains`: {whose} start from {chains} of the bank's states, but it holds \
             {bank_size} (langevin.bank_size; 0: one per image): lower eval.longrun_chains"
        )));
    }
    Ok(())
}

impl Trainer {
    /// A trainer for `config`, loading its data set (see [`Trainer::with_data`]).
    pub fn new(gpu: Arc<Gpu>, config: Config) -> Result<Self> {
        config.validate()?;
        // (Read before the data set: a wrong file is refused before a long load.)
        let start = starting_params(&config)?;
        let data = Dataset::load(&config.data)?;
        Self::allocate(gpu, config, data, &start)
    }

    /// A trainer for `config` on `data` (already loaded from `config.data`),
    /// at its start: its parameters `net.init_weights`' where set, else the
    /// seed's initialisation.
    pub fn with_data(gpu: Arc<Gpu>, config: Config, data: Dataset) -> Result<Self> {
        config.validate()?;
        // (Read before any GPU work: a wrong file is refused first.)
        let start = starting_params(&config)?;
        Self::allocate(gpu, config, data, &start)
    }

    /// A trainer for `config` on `data` for `ck` to restore into
    /// ([`Checkpoint::restore`]): its parameters the seed's initialisation
    /// until the checkpoint's replace them. `net.init_weights` is not read:
    /// a run started from them once, and the file may have gone since.
    /// Refused first where `data` is not the images `ck` trained on (or,
    /// for a checkpoint that does not say which, holds another number of
    /// them than its bank of one state per image: fewer than the chains,
    /// say, which the trainer's build would refuse for the bank's size),
    /// then where it is too large for the adapter (said as a checkpoint's:
    /// a smaller data.limit would be other images; weights alone are tied
    /// to no images, and fewer will do).
    pub fn for_restore(gpu: Arc<Gpu>, config: Config, data: Dataset, ck: &Checkpoint) -> Result<Self> {
        config.validate()?;
        ck.check_data(&data, &config.data.path)?;
        if let (0, Some(images)) = (config.langevin.bank_size, data.images()) {
            ck.check_bank(data.chw().iter().product(), images.n)?;
        }
        if let Some(set) = data.images() {
            let fix = if ck.weights_alone {
                feed::FEWER_IMAGES
            } else {
                feed::CHECKPOINT_TOO_LARGE
            };
            feed::ImageStore::check_fits(&gpu, set, fix)?;
        }
        let seeded = init_params(&net_spec(&config)?, u64::from(config.seed))?;
        Self::allocate(gpu, config, data, &seeded)
    }

    /// A trainer for a validated `config` on `data` with parameters
    /// `params`: what it asks of the GPU checked, then its buffers made.
    fn allocate(gpu: Arc<Gpu>, config: Config, data: Dataset, params: &[f32]) -> Result<Self> {
        let spec = net_spec(&config)?;
        spec.check_input(data.chw())?;
        if data.toy().is_some() {
            // The densities' grid goes through the net in one batch, later:
            // refused now, before a run folder is written.
            let points = (config.eval.grid as usize).pow(2);
            let what = format!("the density grid's {points} points (eval.grid²) through the toy net");
            GpuNet::check_batch(&gpu, &spec, points, &what)?;
        }
        let what = "the trainer's buffers (the net's activations for batch.data + batch.chains images, \
                    the chains, the persistent bank, the data set)";
        let fix = "lower batch.data, batch.chains, net.n_f or langevin.bank_size, or use fewer images \
                   (data.limit), or choose an adapter with more memory (--adapter; `ebmscope info` \
                   lists them)";
        gpu.clone()
            .allocating(what, fix, || Self::build(gpu, config, data, spec, params))
    }

    /// allocate's GPU side: the buffers and kernels.
    fn build(gpu: Arc<Gpu>, config: Config, data: Dataset, spec: NetSpec, params: &[f32]) -> Result<Self> {
        let (n, m) = (config.batch.data as usize, config.batch.chains as usize);
        let train = GpuNet::new(&gpu, &spec, n + m)?;
        train.write_params(&gpu, params)?;
        train.write_upstream(&gpu, &upstream(n, m, config.temperature()))?;
        let field = GpuNet::sharing(&gpu, &train, m)?.as_field(&gpu)?;
        let sampler = Langevin::new(&gpu, field, config.seed, step_size(&config))?;
        let bank_size = match (config.langevin.bank_size, data.images()) {
            (0, Some(images)) => images.n,
            (size, _) => size as usize,
        };
        // (The bank's size is known only now: one state per image with bank_size = 0.)
        let e = &config.eval;
        if e.longrun_every > 0 && e.longrun_init == LongRunInit::Bank {
            check_bank_holds("long runs", e.longrun_chains as usize, bank_size)?;
        }
        let init = make_init(&gpu, &config, &sampler, bank_size)?;
        let feed = match &data {
            Dataset::Toy(toy) => Feed::Toy(toy.clone()),
            Dataset::Images(images) => {
                Feed::Images(Box::new(image_feed(&gpu, &config, images, &train, &sampler)?))
            }
        };
        let optimizer = Optimizer::new(
            &gpu,
            optimizer_kind(&config),
            train.params_buffer(),
            train.grads_buffer(),
            train.layout.total,
        )?;
        let report = gpu.storage_buffer("iteration report", n + m + 4 * m);
        Ok(Trainer {
            data,
            lr: config.optimizer.lr,
            config,
            gpu,
            spec,
            train,
            sampler,
            init,
            feed,
            optimizer,
            report,
            watch: DivergenceWatch::default(),
            watch_rescales: Vec::new(),
            iteration: 0,
            changes: Vec::new(),
            earlier_changes: Vec::new(),
            d_st: Vec::new(),
            r_t: Vec::new(),
            start: Instant::now(),
            seconds_before: 0.0,
            path: None,
            energy_path: None,
            has_chains: false,
            has_batch: false,
            diverged: None,
        })
    }

    /// Bytes of GPU memory the data set takes (image sets; toy points are
    /// drawn on the CPU and take none).
    pub fn data_set_bytes(&self) -> u64 {
        match &self.feed {
            Feed::Toy(_) => 0,
            Feed::Images(f) => f.store.size_bytes(),
        }
    }

    /// Iteration `e` of this trainer with its wall time on the run's clock
    /// (the sessions before included), as metrics.csv keeps it.
    pub fn run_event(&self, e: &IterationEvent) -> IterationEvent {
        IterationEvent {
            wall_time: self.seconds_before + e.wall_time,
            ..*e
        }
    }

    /// Seconds of training of this run so far, over every session of it:
    /// what run folders and checkpoints keep.
    pub fn run_seconds(&self) -> f64 {
        self.seconds_before + self.start.elapsed().as_secs_f64()
    }

    /// Record each iteration's steps in one submission, not several
    /// ([`Langevin::submissions`]; tests compare the two: the results are
    /// the same).
    pub fn set_one_submission(&mut self, one: bool) {
        self.sampler.set_one_submission(one);
    }

    /// Record (or stop recording) every chain's energy at every Langevin
    /// step of the next iterations into [`Trainer::energy_path`]. The steps
    /// write it themselves (in the same dispatches, fused sampler included);
    /// it costs a readback per iteration, and the results are the same either way.
    pub fn record_energy_path(&mut self, on: bool) -> Result<()> {
        if on {
            check_energy_path(&self.gpu, &self.config)?;
        }
        self.path = on.then(|| self.path_buffer());
        if !on {
            self.energy_path = None;
        }
        // The report carries the path too: one readback per iteration.
        let (n, m) = (self.config.batch.data as usize, self.config.batch.chains as usize);
        let path_len = if on {
            self.config.langevin.steps as usize * m
        } else {
            0
        };
        self.report = self.gpu.storage_buffer("iteration report", n + 5 * m + path_len);
        self.sampler.set_path(&self.gpu, self.path.as_ref())
    }

    fn path_buffer(&self) -> wgpu::Buffer {
        let (steps, m) = (
            self.config.langevin.steps as usize,
            self.config.batch.chains as usize,
        );
        self.gpu.storage_buffer("energy path", steps * m)
    }

    /// One iteration of Algorithm 1: X⁺ from the data, X⁻ by L Langevin
    /// steps, θ ← optimizer step on ∇θ (mean U(X⁺) − mean U(X⁻)).
    /// After an [`Error::Diverged`] the parameters hold the diverged step
    /// and [`Checkpoint::capture`](checkpoint::Checkpoint::capture) refuses
    /// them until a checkpoint is restored or an iteration passes the
    /// watch again.
    pub fn step(&mut self) -> Result<IterationEvent> {
        let gpu = self.gpu.clone();
        let (n, m) = (self.config.batch.data as usize, self.config.batch.chains as usize);
        let dim = self.sampler.field.dim();
        let t = self.iteration;
        // X⁺ fills the first n rows; X⁻ is copied into the rest after sampling.
        match &self.feed {
            Feed::Toy(toy) => {
                let (data, data_init) = draw_data(&self.config, toy, t);
                gpu.write_f32(self.train.input_buffer(), 0, &data);
                if let Some(x) = data_init {
                    gpu.write_f32(self.sampler.field.input(), 0, &x);
                }
            }
            Feed::Images(f) => {
                let (data, init) = draw_image_indices(&self.config, f.store.count, t);
                f.data.select(&gpu, &data);
                if let (Some((gather, _)), Some(init)) = (&f.init, init) {
                    gather.select(&gpu, &init);
                }
            }
        }
        self.sampler.begin(&gpu, t as u32);
        if let ChainInit::Bank(bank) = &self.init {
            bank.select(&gpu, t);
        }
        let lr = self.lr;
        let lr_eff = effective_lr(&self.config, lr) as f32;
        let steps = self.config.langevin.steps as usize;
        if self
            .path
            .as_ref()
            .is_some_and(|p| p.size() < (steps * m * 4) as u64)
        {
            // L grew since the buffer was made.
            self.record_energy_path(true)?;
        }
        // The steps in several submissions (Langevin::submissions), the
        // first started while the CPU records the rest; the last one ends
        // with the learning step and the report's copies.
        let mut submissions = self.sampler.submissions(steps).enumerate().peekable();
        let new_encoder = || {
            gpu.device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("iteration"),
                })
        };
        let mut encoder = new_encoder();
        while let Some((i, n)) = submissions.next() {
            let last = submissions.peek().is_none();
            {
                let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("sample"),
                    timestamp_writes: None,
                });
                if i == 0 {
                    // Data draws first: their noise uses the counter at step 0.
                    if let Feed::Images(f) = &self.feed {
                        f.record(&gpu, &mut pass);
                    }
                    match &self.init {
                        ChainInit::Bank(bank) => bank.record_gather(&gpu, &mut pass),
                        ChainInit::Noise(noise) => noise.record(&gpu, &mut pass),
                        ChainInit::Data => {}
                    }
                }
                self.sampler.record_steps(&gpu, &mut pass, n);
                if last && let ChainInit::Bank(bank) = &self.init {
                    bank.record_scatter(&gpu, &mut pass);
                }
            }
            if !last {
                gpu.submit(std::mem::replace(&mut encoder, new_encoder()).finish());
            }
        }
        // (The learning step stays in the last submission: the optimizer
        // writes its uniform as it is recorded, one step per submission.)
        let f32s = |k: usize| (k * 4) as u64;
        encoder.copy_buffer_to_buffer(
            self.sampler.field.input(),
            0,
            self.train.input_buffer(),
            f32s(n * dim),
            f32s(m * dim),
        );
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("learn"),
                timestamp_writes: None,
            });
            self.train.record_forward(&gpu, &mut pass);
            self.train.record_backward(
                &gpu,
                &mut pass,
                Backward {
                    input: false,
                    params: true,
                },
            );
            self.optimizer.record_step(&gpu, &mut pass, lr_eff);
        }
        encoder.copy_buffer_to_buffer(self.train.output_buffer(), 0, &self.report, 0, f32s(n + m));
        encoder.copy_buffer_to_buffer(
            self.sampler.stats_buffer(),
            0,
            &self.report,
            f32s(n + m),
            f32s(4 * m),
        );
        let path_len = if self.path.is_some() { steps * m } else { 0 };
        if let Some(path) = &self.path {
            encoder.copy_buffer_to_buffer(path, 0, &self.report, f32s(n + 5 * m), f32s(path_len));
        }
        gpu.submit(encoder.finish());
        let report = gpu.read_f32(&self.report, 0, n + 5 * m + path_len)?;

        let temp = self.config.temperature();
        self.energy_path = self.path.as_ref().map(|_| {
            // Steps 0…L−1 as the steps wrote them, X_L from the learning pass.
            let steps_u = &report[n + 5 * m..];
            let x_l = &report[n..n + m];
            steps_u
                .iter()
                .chain(x_l)
                .map(|&f| (f64::from(f) / temp) as f32)
                .collect()
        });
        let mean = |v: &[f32]| v.iter().map(|&e| f64::from(e)).sum::<f64>() / v.len() as f64;
        let mean_u_data = mean(&report[..n]) / temp;
        let mean_u_samples = mean(&report[n..n + m]) / temp;
        let d_st = mean_u_data - mean_u_samples;
        let r_t = report[n + m..n + 5 * m]
            .chunks_exact(4)
            .map(|s| f64::from(s[2]))
            .sum::<f64>()
            / (m * steps) as f64;
        if let Some(why) = self.watch.check(&self.watched_d_st(), d_st, r_t) {
            self.diverged = Some((t + 1, why.clone()));
            return Err(Error::Diverged {
                iteration: t + 1,
                why,
            });
        }
        self.diverged = None;
        self.iteration += 1;
        self.has_chains = true;
        self.has_batch = true;
        self.d_st.push(d_st);
        self.r_t.push(r_t);
        let c = &self.config.optimizer;
        // (A floor above the starting rate would raise it: it counts as the rate.)
        self.lr = (self.lr * c.lr_decay).max(c.lr_min.min(c.lr));
        Ok(IterationEvent {
            iteration: self.iteration,
            d_st,
            r_t,
            mean_u_data,
            mean_u_samples,
            lr,
            wall_time: self.start.elapsed().as_secs_f64(),
            phase: Phase::of(d_st),
            epsilon: self.config.langevin.epsilon,
            steps: self.config.langevin.steps,
        })
    }

    /// Change a setting from the next iteration on. The changed config is
    /// validated first: a value it refuses changes nothing.
    pub fn apply(&mut self, change: Change) -> Result<()> {
        let mut c = self.config.clone();
        change.set_in(&mut c);
        c.validate()?;
        if self.path.is_some() {
            // Refused here, not at every later iteration.
            check_energy_path(&self.gpu, &c)?;
        }
        let (n, m) = (c.batch.data as usize, c.batch.chains as usize);
        self.sampler.set_step_size(&self.gpu, step_size(&c));
        // T scales the loss: the upstream weights carry 1/T.
        self.train
            .write_upstream(&self.gpu, &upstream(n, m, c.temperature()))?;
        match change {
            Change::LearningRate(v) => self.lr = v,
            Change::Optimizer(_) if c.optimizer.kind != self.config.optimizer.kind => {
                self.optimizer = Optimizer::new(
                    &self.gpu,
                    optimizer_kind(&c),
                    self.train.params_buffer(),
                    self.train.grads_buffer(),
                    self.train.layout.total,
                )?;
            }
            _ => {}
        }
        let rescale = self.config.temperature() / c.temperature();
        if rescale != 1.0 {
            self.watch_rescales.push((self.iteration, rescale));
        }
        self.config = c;
        self.changes.push((self.iteration, change));
        Ok(())
    }

    /// Go on from a run's history: the d_st and r_t of its iterations
    /// 1 ..= this trainer's, the rescales its changes of T make
    /// ([`watch_rescales`]), and the wall time of its last iteration (a
    /// checkpoint from before they kept the wall time has none: the run's
    /// clock goes on from that row's).
    pub fn set_history(
        &mut self,
        d_st: Vec<f64>,
        r_t: Vec<f64>,
        rescales: Vec<(u64, f64)>,
        last_wall_time: f64,
    ) {
        self.d_st = d_st;
        self.r_t = r_t;
        self.watch_rescales.extend(rescales);
        self.seconds_before = self.seconds_before.max(last_wall_time);
    }

    /// The recent d_st the divergence watch compares the next with, in the
    /// units of the current T (the last of `d_st` is that of iteration
    /// `self.iteration`, the one completed last).
    fn watched_d_st(&self) -> Vec<f64> {
        let len = self.d_st.len();
        let from = len.saturating_sub(DivergenceWatch::WINDOW);
        (from..len)
            .map(|i| {
                let iteration = self.iteration.saturating_sub((len - 1 - i) as u64);
                let rescale: f64 = self
                    .watch_rescales
                    .iter()
                    .filter(|&&(at, _)| iteration <= at)
                    .map(|&(_, r)| r)
                    .product();
                self.d_st[i] * rescale
            })
            .collect()
    }

    pub fn params(&self) -> Result<Vec<f32>> {
        self.train.read_params(&self.gpu)
    }

    pub fn params_buffer(&self) -> &wgpu::Buffer {
        self.train.params_buffer()
    }

    /// The current negative samples X⁻ ([chains, dim]).
    pub fn chains(&self) -> Result<Vec<f32>> {
        self.gpu.read_f32(
            self.sampler.field.input(),
            0,
            self.sampler.field.chains() * self.sampler.field.dim(),
        )
    }

    /// Put `chains` ([chains, dim]) in X⁻, as a checkpoint left them: what
    /// [`Trainer::chains`] and pictures show until the next iteration, which
    /// starts its chains afresh.
    pub fn write_chains(&mut self, chains: &[f32]) -> Result<()> {
        let want = self.sampler.field.chains() * self.sampler.field.dim();
        if chains.len() != want {
            return Err(Error::Shape(format!(
                "{} chain values given for {} chains of {} values",
                chains.len(),
                self.sampler.field.chains(),
                self.sampler.field.dim()
            )));
        }
        self.gpu.write_f32(self.sampler.field.input(), 0, chains);
        self.has_chains = true;
        Ok(())
    }

    /// The iteration that diverged and why, while the parameters hold its
    /// step: what a checkpoint must not keep.
    pub fn diverged(&self) -> Option<&(u64, String)> {
        self.diverged.as_ref()
    }

    /// Refuse a new run (or a resume that changes them) whose evaluations
    /// would not fit the adapter's buffers, before its folder is written:
    /// the density pictures' short runs (toy data) and the long-run checks.
    /// (Not on a plain resume or a window's load: on a smaller adapter than
    /// the run's own they fail alone, a check reported and training going
    /// on, until a resume lowers them.)
    pub fn check_evaluations(&self) -> Result<()> {
        let (spec, e) = (net_spec(&self.config)?, &self.config.eval);
        if self.data.toy().is_some() {
            let k = e.kde_samples;
            let what = format!("the {k} short-run samples of the density pictures (eval.kde_samples)");
            GpuNet::check_batch(&self.gpu, &spec, k as usize, &what)?;
        }
        if e.longrun_every > 0 {
            let k = e.longrun_chains;
            let what = format!("the long-run checks' {k} chains (eval.longrun_chains)");
            GpuNet::check_batch(&self.gpu, &spec, k as usize, &what)?;
        }
        Ok(())
    }

    /// Refuse while the parameters hold a diverged step: such a model is
    /// neither saved nor sampled from.
    pub fn refuse_diverged(&self) -> Result<()> {
        match &self.diverged {
            Some((iteration, why)) => Err(Error::HoldsDivergedStep {
                iteration: *iteration,
                why: why.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Whether [`Trainer::chains`] are chains (of the last iteration, or
    /// restored from a checkpoint) rather than a new trainer's zeros.
    pub fn has_chains(&self) -> bool {
        self.has_chains
    }

    /// Whether the rows a picture of `source` shows hold images yet (see
    /// [`Trainer::picture_rows`]): the bank from the start, the chains and
    /// the data batch once an iteration (or, for the chains, a checkpoint)
    /// has put them there.
    pub fn holds(&self, source: PictureSource) -> bool {
        match source {
            PictureSource::Chains => self.has_chains,
            PictureSource::Data => self.has_batch,
            PictureSource::Bank => self.bank().is_some(),
        }
    }

    /// The GPU rows a picture of `source` shows, and how many of them
    /// (None: a bank picture without a persistent bank).
    pub fn picture_rows(&self, source: PictureSource) -> Option<(&wgpu::Buffer, usize)> {
        match source {
            PictureSource::Chains => Some((self.sampler.field.input(), self.sampler.field.chains())),
            // X⁺ fills the first rows of the learning batch.
            PictureSource::Data => Some((self.train.input_buffer(), self.config.batch.data as usize)),
            PictureSource::Bank => self.bank().map(|b| (b.states(), b.size)),
        }
    }

    pub fn bank(&self) -> Option<&Bank> {
        match &self.init {
            ChainInit::Bank(b) => Some(b),
            _ => None,
        }
    }

    pub fn optimizer(&self) -> &Optimizer {
        &self.optimizer
    }

    pub fn optimizer_mut(&mut self) -> &mut Optimizer {
        &mut self.optimizer
    }

    pub fn write_params(&self, params: &[f32]) -> Result<()> {
        self.train.write_params(&self.gpu, params)
    }
}

/// The CPU-side draws of iteration `t`: the data batch X⁺ (with ε_data
/// noise) and, for data-initialised chains, their starting points. A
/// function of (seed, t) only, so a resumed run draws the same.
pub fn draw_data(config: &Config, toy: &Toy, t: u64) -> (Vec<f32>, Option<Vec<f32>>) {
    let mut rng = ChaCha8Rng::seed_from_u64(u64::from(config.seed));
    rng.set_stream(t);
    let data = data_points(config, toy, config.batch.data as usize, &mut rng);
    let init = (config.langevin.init == InitKind::Data)
        .then(|| data_points(config, toy, config.batch.chains as usize, &mut rng));
    (data, init)
}

/// `n` toy points as training sees data: drawn from q, with ε_data noise
/// (data.noise) added.
pub fn data_points(config: &Config, toy: &Toy, n: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let mut x = toy.sample(n, rng);
    add_data_noise(config, &mut x, rng);
    x
}

/// Add ε_data noise (data.noise) to data drawn on the CPU, as the
/// reference's sample_q does.
pub fn add_data_noise(config: &Config, x: &mut [f32], rng: &mut ChaCha8Rng) {
    if config.data.noise > 0.0 {
        for v in x {
            let z: f64 = StandardNormal.sample(rng);
            *v += (config.data.noise * z) as f32;
        }
    }
}

/// Upstream weights of the training batch: ∂(mean U(X⁺) − mean U(X⁻))/∂F
/// per image, +1/(n·T) on the n data rows and −1/(m·T) on the m samples.
fn upstream(n: usize, m: usize, temperature: f64) -> Vec<f32> {
    (0..n + m)
        .map(|b| {
            if b < n {
                (1.0 / (n as f64 * temperature)) as f32
            } else {
                (-1.0 / (m as f64 * temperature)) as f32
            }
        })
        .collect()
}

/// The image indices of iteration `t` for a set of `count` images: the data
/// batch and, for data-initialised chains, their starting images. A function
/// of (seed, t) only, so a resumed run draws the same.
pub fn draw_image_indices(config: &Config, count: usize, t: u64) -> (Vec<u32>, Option<Vec<u32>>) {
    let mut rng = ChaCha8Rng::seed_from_u64(u64::from(config.seed) ^ 0x696d_6167);
    rng.set_stream(t);
    let data = image_indices(count, config.batch.data as usize, &mut rng);
    let init = (config.langevin.init == InitKind::Data)
        .then(|| image_indices(count, config.batch.chains as usize, &mut rng));
    (data, init)
}

/// The GPU side of an image data set: the bytes, the gathers and the ε_data noise.
fn image_feed(
    gpu: &Gpu,
    config: &Config,
    images: &crate::data::images::ImageSet,
    train: &GpuNet,
    sampler: &Langevin<GpuNet>,
) -> Result<ImageFeed> {
    let store = feed::ImageStore::new(gpu, images)?;
    let noise = |purpose, out: &wgpu::Buffer, rows: usize| -> Result<Option<Noise>> {
        if config.data.noise <= 0.0 {
            return Ok(None);
        }
        let dist = RngDistribution::Normal {
            scale: config.data.noise as f32,
            shift: 0.0,
        };
        Noise::new(gpu, &sampler.rng, purpose, dist, true, out, rows, store.dim).map(Some)
    };
    let n = config.batch.data as usize;
    let data = feed::ImageGather::new(gpu, &store, train.input_buffer(), n)?;
    let data_noise = noise(Purpose::DataNoise, train.input_buffer(), n)?;
    let init = if config.langevin.init == InitKind::Data {
        let m = sampler.field.chains();
        let gather = feed::ImageGather::new(gpu, &store, sampler.field.input(), m)?;
        // Chain starts use another stream than X⁺, so they never share noise.
        Some((gather, noise(Purpose::ChainInit, sampler.field.input(), m)?))
    } else {
        None
    };
    Ok(ImageFeed {
        store,
        data,
        data_noise,
        init,
    })
}

/// The divergence watch's rescales (T before / T after, at the iterations
/// completed before each) for a run's changes (iterations completed before
/// it, from, to), as changes.csv keeps them, over `config`'s other settings.
pub fn watch_rescales(config: &Config, changes: &[(u64, Change, Change)]) -> Vec<(u64, f64)> {
    changes
        .iter()
        .filter_map(|&(at, from, to)| {
            let (mut before, mut after) = (config.clone(), config.clone());
            from.set_in(&mut before);
            to.set_in(&mut after);
            let rescale = before.temperature() / after.temperature();
            (rescale != 1.0).then_some((at, rescale))
        })
        .collect()
}

/// Whether the energy path of `config`'s iterations (L steps × chains)
/// fits one GPU buffer.
fn check_energy_path(gpu: &Gpu, config: &Config) -> Result<()> {
    let values = u64::from(config.langevin.steps) * u64::from(config.batch.chains);
    gpu.check_binding(
        "the energy path (L steps × chains)",
        4 * values,
        "record it with fewer Langevin steps or chains",
    )
}

/// The parameters a run starts from: `net.init_weights`' where set, else
/// PyTorch's default initialisation from `seed`.
pub fn starting_params(config: &Config) -> Result<Vec<f32>> {
    match config.net.init_weights.as_str() {
        "" => init_params(&net_spec(config)?, u64::from(config.seed)),
        path => checkpoint::weights_for(std::path::Path::new(path), config)
            .map_err(|e| Error::Config(format!("net.init_weights: {e}"))),
    }
}

/// The network of `config`: ToyNet, or an image network with
/// `data.channels` input channels and base width `net.n_f`.
pub fn net_spec(config: &Config) -> Result<NetSpec> {
    let (n_c, n_f) = (config.data.channels as usize, config.net.n_f as usize);
    match config.net.kind {
        NetName::Toy => Ok(NetSpec::toy()),
        NetName::Vanilla => NetSpec::vanilla(n_c, n_f),
        NetName::Nonlocal => NetSpec::nonlocal(n_c, n_f),
    }
}

/// The optimizer of `config`.
pub fn optimizer_kind(config: &Config) -> OptimizerKind {
    match config.optimizer.kind {
        OptimizerName::Sgd => OptimizerKind::Sgd,
        OptimizerName::Adam => OptimizerKind::ADAM_DEFAULT,
    }
}

/// What a change does beyond its own setting, for the window's status line
/// and a resume's report: a new
/// T rescales U (and so d_st and the mean U curves) for the same F; an
/// optimizer switch keeps lr, which SGD scales by T and Adam does not.
pub fn change_consequence(before: &Config, after: &Config) -> String {
    let t_ratio = before.temperature() / after.temperature();
    if t_ratio != 1.0 {
        return format!(
            " (T = {:.3e} now: U = F/T, and so d_st and mean U, reads {} for the same F)",
            after.temperature(),
            times(t_ratio)
        );
    }
    if before.optimizer.kind != after.optimizer.kind {
        return match (after.optimizer.kind, after.langevin.form) {
            (OptimizerName::Sgd, Form::Invariant) => format!(
                " (lr kept: SGD steps by lr·T, here lr × {:.3e})",
                effective_lr(after, 1.0)
            ),
            (OptimizerName::Adam, Form::Invariant) => " (lr kept: Adam steps by lr itself, not lr·T)".into(),
            // (No rate is scaled by T in the plain form.)
            (_, Form::Plain) => " (lr kept)".into(),
        };
    }
    String::new()
}

/// A factor as "16× larger" or "6.25× smaller", to 3 decimals at most
/// (a ratio of squares of decimals is rarely whole: 6.249999999999999).
fn times(factor: f64) -> String {
    let (f, way) = if factor >= 1.0 {
        (factor, "larger")
    } else {
        (1.0 / factor, "smaller")
    };
    let digits = format!("{f:.3}");
    format!("{}× {way}", digits.trim_end_matches('0').trim_end_matches('.'))
}

/// The learning rate the optimizer applies for a nominal `lr`: in the
/// invariant form SGD's is scaled by T = ε²/2, as the reference's, so that
/// its step lr·∇(ΔF) does not depend on ε (PAPER.md, appendix A); Adam is
/// invariant to the loss scale. The plain form steps on ∇d_st as it is.
pub fn effective_lr(config: &Config, lr: f64) -> f64 {
    match (config.optimizer.kind, config.langevin.form) {
        (OptimizerName::Sgd, Form::Invariant) => lr * config.temperature(),
        _ => lr,
    }
}

pub fn step_size(config: &Config) -> StepSize {
    StepSize {
        epsilon: config.langevin.epsilon as f32,
        temperature: config.temperature() as f32,
        tau: config.langevin.tau as f32,
    }
}

/// The random start of `sampler`'s chains for uniform or gaussian init
/// (None for persistent and data init), keyed like all chain noise.
pub(crate) fn init_noise(gpu: &Gpu, config: &Config, sampler: &Langevin<GpuNet>) -> Result<Option<Noise>> {
    let f = config.langevin.init_factor as f32;
    let dist = match config.langevin.init {
        InitKind::Uniform => RngDistribution::Uniform {
            scale: 2.0 * f,
            shift: -f,
        },
        InitKind::Gaussian => RngDistribution::Normal { scale: f, shift: 0.0 },
        InitKind::Persistent | InitKind::Data => return Ok(None),
    };
    let field = &sampler.field;
    Noise::new(
        gpu,
        &sampler.rng,
        Purpose::ChainInit,
        dist,
        false,
        field.input(),
        field.chains(),
        field.dim(),
    )
    .map(Some)
}

/// The chain initialisation of `config` for `sampler`'s chains.
fn make_init(gpu: &Gpu, config: &Config, sampler: &Langevin<GpuNet>, bank_size: usize) -> Result<ChainInit> {
    let field = &sampler.field;
    if let Some(noise) = init_noise(gpu, config, sampler)? {
        return Ok(ChainInit::Noise(noise));
    }
    Ok(match config.langevin.init {
        InitKind::Persistent => {
            gpu.check_binding(
                &format!("the persistent bank ({bank_size} states)"),
                (bank_size * field.dim() * 4) as u64,
                "set a smaller langevin.bank_size",
            )?;
            let bank = Bank::new(
                gpu,
                bank_size,
                field.dim(),
                field.chains(),
                field.input(),
                u64::from(config.seed),
            )?;
            bank.init_uniform(gpu, config.seed)?;
            ChainInit::Bank(bank)
        }
        // Uniform and gaussian starts were returned above.
        _ => ChainInit::Data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(iteration: u64, wall_time: f64) -> IterationEvent {
        IterationEvent {
            iteration,
            d_st: 0.0,
            r_t: 0.0,
            mean_u_data: 0.0,
            mean_u_samples: 0.0,
            lr: 0.1,
            wall_time,
            phase: Phase::Expansion,
            epsilon: 0.1,
            steps: 1,
        }
    }

    /// A change says what it means beyond its setting: a new T how U reads,
    /// an optimizer switch what lr now is; anything else nothing.
    #[test]
    fn a_change_says_what_it_means() {
        // (Optimizers named as papers write them, not as Rust's variants.)
        assert_eq!(Change::Optimizer(OptimizerName::Sgd).to_string(), "optimizer SGD");
        assert_eq!(
            Change::Optimizer(OptimizerName::Adam).to_string(),
            "optimizer Adam"
        );
        assert_eq!(times(6.249999999999999), "6.25× larger");
        assert_eq!(times(16.0), "16× larger");
        assert_eq!(times(0.25), "4× smaller");
        let before = Config::preset("rings-convergent").unwrap();
        let mut after = before.clone();
        after.optimizer.lr *= 2.0;
        assert_eq!(change_consequence(&before, &after), "");
        after.langevin.epsilon = before.langevin.epsilon / 4.0;
        assert_eq!(
            change_consequence(&before, &after),
            format!(
                " (T = {:.3e} now: U = F/T, and so d_st and mean U, reads 16× larger for the same F)",
                after.temperature()
            )
        );
        let mut adam = before.clone();
        adam.optimizer.kind = OptimizerName::Adam;
        assert_eq!(
            change_consequence(&before, &adam),
            " (lr kept: Adam steps by lr itself, not lr·T)"
        );
        assert_eq!(
            change_consequence(&adam, &before),
            format!(
                " (lr kept: SGD steps by lr·T, here lr × {:.3e})",
                before.temperature()
            )
        );
        let (mut plain, mut plain_adam) = (before.clone(), adam.clone());
        (plain.langevin.form, plain_adam.langevin.form) = (Form::Plain, Form::Plain);
        assert_eq!(change_consequence(&plain_adam, &plain), " (lr kept)");
    }

    /// SGD's rate is scaled by T = ε²/2 in the invariant form alone (PAPER.md:
    /// "in that form ... for SGD only"); Adam's never is.
    #[test]
    fn only_the_invariant_forms_sgd_rate_is_scaled_by_t() {
        let mut c = Config::preset("rings-convergent").unwrap();
        c.langevin.epsilon = 0.1;
        c.langevin.temperature = 0.5;
        for (kind, form, want) in [
            (OptimizerName::Sgd, Form::Invariant, 0.2 * 0.005),
            (OptimizerName::Sgd, Form::Plain, 0.2),
            (OptimizerName::Adam, Form::Invariant, 0.2),
            (OptimizerName::Adam, Form::Plain, 0.2),
        ] {
            (c.optimizer.kind, c.langevin.form) = (kind, form);
            let got = effective_lr(&c, 0.2);
            assert!((got - want).abs() < 1e-15, "{kind:?} {form:?}: {got} for {want}");
        }
    }

    /// KEYS, key, value, parse and current name and spell the same settings.
    #[test]
    fn a_change_is_written_and_read_back_under_its_key() {
        let config = Config::preset("rings-convergent").unwrap();
        for key in Change::KEYS {
            let change = Change::current(key, &config).unwrap();
            assert_eq!(change.key(), key);
            assert_eq!(Change::parse(key, &change.value()), Some(change));
        }
        for (key, value, change) in [
            ("optimizer.lr", "1e-20", Change::LearningRate(1e-20)),
            ("langevin.steps", "7", Change::Steps(7)),
            ("optimizer.kind", "adam", Change::Optimizer(OptimizerName::Adam)),
        ] {
            assert_eq!(Change::parse(key, value), Some(change));
            assert_eq!(Change::parse(key, &change.value()), Some(change));
        }
        assert_eq!(Change::current("net.n_f", &config), None);
        assert_eq!(Change::parse("langevin.steps", "many"), None);
    }

    #[test]
    fn training_rate_counts_from_the_first_iteration_seen() {
        let mut r = TrainingRate::default();
        r.record(&event(5, 10.0));
        assert_eq!(r.span(), None);
        assert_eq!(r.to_string(), "fewer than two iterations: no rate");
        r.record(&event(6, 10.5));
        assert_eq!(r.to_string(), "iteration 6: 0.50 s, 2.000 it/s");
        r.record(&event(9, 12.0));
        assert_eq!(r.span(), Some((4, 2.0)));
        assert_eq!(r.per_second(), Some(2.0));
        // (Iteration 5 ended at 10 s: the 4 after it took 2 s.)
        assert_eq!(r.to_string(), "iterations 6–9: 4 in 2.00 s, 2.000 it/s");
    }

    #[test]
    fn recent_rate_spans_the_last_second_or_the_first_event_before_it() {
        let quick: Vec<_> = (0..=40).map(|i| event(i, f64::from(i as u32) * 0.1)).collect();
        // 10 iterations in the last 1.0 s (iterations 30 … 40).
        let rate = TrainingRate::recent(&quick, 1.0).unwrap();
        assert!((rate - 10.0).abs() < 1e-9, "{rate}");
        // Slow iterations: back to the first event a second or more older.
        let slow = [event(1, 0.0), event(2, 3.0), event(3, 6.0)];
        assert_eq!(TrainingRate::recent(&slow, 1.0), Some(1.0 / 3.0));
        assert_eq!(TrainingRate::recent(&slow[..1], 1.0), None);
    }
}
