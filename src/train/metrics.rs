//! Toy metrics: the learned density exp(−U) and a KDE of short-run samples (a
//! persistent run's: its chains L steps on) on a grid, each compared with the
//! true density by total variation and KL.

use rand::SeedableRng;

use super::{Trainer, data_points, init_noise, step_size};
use crate::config::InitKind;
use crate::data::toy::{Grid, KdeScore, KdeTv, kl, total_variation};
use crate::gpu::{Gpu, SLICE_STEPS};
use crate::model::GpuNet;
use crate::sampler::{EnergyField, Langevin};
use crate::{Error, Result};

/// Densities on the grid (each sums to 1) and their distances to the truth.
#[derive(Clone, Debug, PartialEq)]
pub struct ToyMetrics {
    pub grid: Grid,
    pub truth: Vec<f64>,
    pub model: Vec<f64>,
    /// U = F/T on the grid: −U is the learned log-density up to its
    /// constant, which the log pictures shade (exp(−U) is 0 on a sharp
    /// model's grid but near its minima: 745 nats down, f64 underflows).
    pub energies: Vec<f64>,
    pub kde: Vec<f64>,
    /// The samples behind the KDE, [k, 2].
    pub samples: Vec<f32>,
    /// Whether those started from the persistent bank (langevin.init =
    /// persistent): then they are the training chains' states L steps on,
    /// long-run samples of a sort, not short-run ones from noise.
    pub persistent: bool,
    pub tv_model: f64,
    pub kl_model: f64,
    /// TV(KDE, q), beside its floor: that of as many points drawn from q
    /// itself, what chains that sample q exactly would score.
    pub tv_kde: KdeTv,
    pub kl_kde: f64,
}

/// Evaluate the trainer's current model. Short-run samples start as the
/// training chains do (from the bank's first entries for persistent runs:
/// bank entries are exchangeable) and run the same L steps, without
/// touching the bank or the training chains.
pub fn evaluate_toy(trainer: &Trainer) -> Result<ToyMetrics> {
    evaluate_toy_watched(trainer, &mut |_, _| true)
}

/// [`evaluate_toy`], asking `go_on(done, L)` as the short run's steps go
/// (in slices of [`EVALUATION_SLICE_CHAIN_STEPS`], whose samples are
/// those of one submission), after each but the last (the run is whole
/// then, and is kept): false stops the evaluation within a slice or two,
/// [`Error::Stopped`] (a long evaluation, 10 000 chains × 500 steps on a
/// software adapter, takes half a minute).
pub fn evaluate_toy_watched(
    trainer: &Trainer,
    go_on: &mut dyn FnMut(u64, u64) -> bool,
) -> Result<ToyMetrics> {
    trainer.refuse_diverged()?;
    let gpu: &Gpu = &trainer.gpu;
    let c = &trainer.config;
    let toy = toy_of(trainer)?;
    let k = kde_chains(trainer);
    let score = KdeScore::new(toy, &c.eval, k);
    let energies = learned_energies(trainer, &score.grid)?;
    let model = score.grid.boltzmann(&energies);

    let field = GpuNet::sharing(gpu, trainer_net(trainer), k)?.as_field(gpu)?;
    let sampler = Langevin::new(gpu, field, c.seed ^ 0x004b_4445, step_size(c))?;
    sampler.begin(gpu, trainer.iteration as u32);
    let dim = sampler.field.dim();
    let init = init_noise(gpu, c, &sampler)?;
    match (c.langevin.init, trainer.bank()) {
        (InitKind::Data, _) => {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(u64::from(c.seed) ^ 0x004b_4445);
            rng.set_stream(trainer.iteration);
            // (Started as training starts its chains: ε_data noise included.)
            gpu.write_f32(sampler.field.input(), 0, &data_points(c, toy, k, &mut rng));
        }
        (InitKind::Persistent, Some(bank)) => {
            let mut encoder = gpu.device.create_command_encoder(&Default::default());
            encoder.copy_buffer_to_buffer(bank.states(), 0, sampler.field.input(), 0, (k * dim * 4) as u64);
            gpu.submit(encoder.finish());
        }
        _ => {}
    }
    if let Some(init) = &init {
        gpu.run("short-run start", |pass| init.record(gpu, pass));
    }
    let steps = u64::from(c.langevin.steps);
    // (Fewer steps a slice for many chains: a stop waits for a slice or two.)
    let slice = (EVALUATION_SLICE_CHAIN_STEPS / k as u64).clamp(1, SLICE_STEPS);
    gpu.run_in_slices(
        steps,
        slice,
        |_, n| {
            gpu.run("short-run samples", |pass| {
                sampler.record_steps(gpu, pass, n as usize)
            })
        },
        |done| {
            if done >= steps || go_on(done, steps) {
                Ok(())
            } else {
                Err(Error::Stopped("the evaluation".into()))
            }
        },
    )?;
    let samples = gpu.read_f32(sampler.field.input(), 0, k * dim)?;
    let (kde, tv_kde) = score.score(&samples);
    let KdeScore { grid, truth, .. } = score;
    Ok(ToyMetrics {
        tv_model: total_variation(&model, &truth),
        kl_model: kl(&truth, &model),
        tv_kde,
        kl_kde: kl(&truth, &kde),
        grid,
        truth,
        model,
        energies,
        kde,
        samples,
        persistent: trainer.bank().is_some(),
    })
}

/// Chain-steps of a slice of an evaluation's short run at most: 1 000
/// chains take slices of 50 steps, 10 000 of 5 (a third of a second each
/// on lavapipe, where 50 took 3.2 s).
const EVALUATION_SLICE_CHAIN_STEPS: u64 = 50_000;

/// What [`evaluate_toy`] does, said while it runs (it may take as long as
/// many iterations), with the steps `done` of `L` where given.
pub fn evaluation_text(trainer: &Trainer, done: Option<(u64, u64)>) -> String {
    let step = done.map_or(String::new(), |(done, steps)| format!(" step {done} of {steps}"));
    format!(
        "evaluating the densities: {} chains × {} steps (eval.kde_samples) …{step}",
        kde_chains(trainer),
        trainer.config.langevin.steps
    )
}

/// How many chains the KDE of [`evaluate_toy`] runs: `eval.kde_samples`,
/// and no more than the bank holds where they start from it (a persistent
/// run's: only such a run has a bank).
pub fn kde_chains(trainer: &Trainer) -> usize {
    let k = trainer.config.eval.kde_samples as usize;
    trainer.bank().map_or(k, |bank| k.min(bank.size))
}

impl ToyMetrics {
    /// What the KDE is of, as the pictures and the window name it.
    pub fn kde_name(&self) -> &'static str {
        if self.persistent {
            "KDE of the persistent chains"
        } else {
            "short-run KDE"
        }
    }
}

fn toy_of(trainer: &Trainer) -> Result<&crate::data::toy::Toy> {
    trainer.data.toy().ok_or_else(|| {
        Error::Config("densities on a grid need 2-D toy data, and this run learns images".into())
    })
}

/// U = F/T of the trainer's current model at every point of `grid`.
fn learned_energies(trainer: &Trainer, grid: &Grid) -> Result<Vec<f64>> {
    let view = GpuNet::sharing(&trainer.gpu, trainer_net(trainer), grid.res * grid.res)?;
    grid_energies(&trainer.gpu, &view, grid, trainer.config.temperature())
}

/// U = F/T at every point of `grid`, from `net` (its batch: the grid's res² points).
pub fn grid_energies(gpu: &Gpu, net: &GpuNet, grid: &Grid, temperature: f64) -> Result<Vec<f64>> {
    net.write_input(gpu, &grid.points())?;
    gpu.run("grid energy", |pass| net.record_forward(gpu, pass));
    Ok(net
        .read_output(gpu)?
        .iter()
        .map(|&f| f64::from(f) / temperature)
        .collect())
}

fn trainer_net(trainer: &Trainer) -> &GpuNet {
    &trainer.train
}
