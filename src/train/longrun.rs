//! Long-run sampling from a checkpoint (PAPER.md, "Long-run samples"): many
//! Langevin or MALA steps from data, noise or the bank, to see whether the
//! model's steady state is realistic (convergent ML) or oversaturated
//! (non-convergent ML).

use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

pub use crate::config::LongRunInit;

use super::{Checkpoint, Progress, net_spec, step_size};
use crate::config::short;
use crate::data::Dataset;
use crate::gpu::{Gpu, SLICE_STEPS};
use crate::io::{OutputSet, Sign};
use crate::kernels::sampling::Purpose;
use crate::model::GpuNet;
use crate::sampler::{EnergyField, Langevin, Mala, Noise, RngDistribution, StepSize};
use crate::{Error, Result};

#[derive(Clone, Debug)]
pub struct LongRunOptions {
    pub steps: u64,
    pub chains: usize,
    pub from: ChainStart,
    pub mala: bool,
    /// Sample p ∝ exp(−U / factor): 1 is the model itself.
    pub temp_factor: f64,
    /// The steps' ε, apart from training's (the reference's evaluation
    /// `epsilon`): X ← X − (ε²/2Tf)∇F + εZ, with T the checkpoint's and f
    /// `temp_factor`, which samples the same exp(−U/f) with another step.
    /// None: the checkpoint's ε, tempered as [`StepSize::tempered`] (its
    /// gradient step kept, noise ε√f).
    pub epsilon: Option<f64>,
    /// Record a row (and call back) every this many steps.
    pub every: u64,
    /// Starting from data, add the run's ε_data noise, as training's
    /// long-run checks do (the reference's train_data.py draws them with
    /// sample_q), or start from the images as they are, as `sample` does
    /// (the reference's eval.py).
    pub data_noise: bool,
}

impl LongRunOptions {
    /// Refuse options a run cannot use, naming the one at fault (checked
    /// before anything is written).
    pub fn validate(&self) -> Result<()> {
        if self.steps == 0 {
            return Err(Error::Config("--steps must be at least 1".into()));
        }
        let first = self.from.step();
        if self.steps > crate::sampler::MAX_COUNTED.saturating_sub(first) {
            return Err(Error::Config(if first == 0 {
                format!("--steps must be at most {}", crate::sampler::MAX_COUNTED)
            } else {
                format!(
                    "--steps must be at most {} going on from step {first} (the noise counter's \
                     {} steps)",
                    crate::sampler::MAX_COUNTED.saturating_sub(first),
                    crate::sampler::MAX_COUNTED
                )
            }));
        }
        if self.chains == 0 {
            return Err(Error::Config("--chains must be at least 1".into()));
        }
        if self.every == 0 {
            return Err(Error::Config("--every must be at least 1".into()));
        }
        if !(self.temp_factor > 0.0 && self.temp_factor.is_finite()) {
            return Err(Error::Config(format!(
                "--temp-factor must be a positive number (it is {})",
                self.temp_factor
            )));
        }
        if let Some(e) = self.epsilon.filter(|e| !(*e > 0.0 && e.is_finite())) {
            return Err(Error::Config(format!(
                "--epsilon must be a positive number (it is {e})"
            )));
        }
        Ok(())
    }

    /// The step the chains take from checkpoint `ck` (τ = 1: a long run
    /// samples the model, whatever τ training used).
    pub fn step_size(&self, ck: &Checkpoint) -> StepSize {
        let trained = StepSize {
            tau: 1.0,
            ..step_size(&ck.config)
        };
        match self.epsilon {
            Some(e) => StepSize {
                epsilon: e as f32,
                temperature: trained.temperature * self.temp_factor as f32,
                tau: 1.0,
            },
            None => trained.tempered(self.temp_factor as f32),
        }
    }

    /// What moves this run's chains from checkpoint `ck` on `gpu`, as its
    /// chains file records it.
    pub fn made_with(&self, ck: &Checkpoint, gpu: &Gpu) -> ChainsMadeWith {
        let step = self.step_size(ck);
        ChainsMadeWith {
            model_crc32: format!("{:08x}", crc32fast::hash(bytemuck::cast_slice(&ck.params))),
            adapter: gpu.describe(),
            sampler: self.sampler().into(),
            gradient_step: step.gradient_factor(),
            noise: step.noise_factor(),
            temperature: step.temperature,
            noise_seed: noise_seed(ck),
        }
    }

    /// The sampler's name in settings and chains files.
    fn sampler(&self) -> &'static str {
        if self.mala { "mala" } else { "langevin" }
    }

    /// What the chains run, in a line: sampler, steps, start, chains, the
    /// model (`ck`, loaded from `file`), temperature factor and ε (for the
    /// command's first line and the title of its figure).
    pub fn summary(&self, ck: &Checkpoint, file: &Path) -> String {
        format!(
            "{} {} from {} on {} ({}), T × {}, ε {}",
            sampler_name(self.mala),
            crate::config::plural(self.steps, "step", "steps"),
            self.from.text(),
            crate::config::plural(self.chains as u64, "chain", "chains"),
            ck.described(file),
            short(self.temp_factor),
            match self.epsilon {
                Some(e) => short(e),
                None if ck.weights_alone => format!("{} (the settings')", short(ck.config.langevin.epsilon)),
                None => format!("{} (the checkpoint's)", short(ck.config.langevin.epsilon)),
            }
        )
    }

    /// What a long run from `checkpoint` (holding `ck`), moving its chains
    /// as `made_with` says, was made with, as
    /// [`LONG_RUN_SETTINGS`] records it: the options (data_noise: whether
    /// starts from data had ε_data added), and the step they gave (its
    /// gradient factor and noise, as the GPU took them); `stopped`, for a
    /// run stopped before its steps were done, the step it reached and the
    /// step its last row was recorded at.
    pub fn settings_toml(
        &self,
        ck: &Checkpoint,
        checkpoint: &Path,
        made_with: &ChainsMadeWith,
        stopped: Option<(u64, u64)>,
    ) -> Result<String> {
        #[derive(serde::Serialize)]
        struct Settings {
            checkpoint: String,
            #[serde(skip_serializing_if = "Option::is_none")]
            checkpoint_iteration: Option<u64>,
            sampler: &'static str,
            steps: u64,
            chains: usize,
            /// `init`, or the chains' file it went on from and their step
            /// there, where its rows start ([`ChainStart::settings`]).
            #[serde(flatten)]
            start: toml::Table,
            /// Going on from chains whose file says what made them: whether
            /// this run takes them on as that run would have (one longer
            /// run, bit for bit), or differs ([`ChainsMadeWith::differences`]).
            #[serde(skip_serializing_if = "Option::is_none")]
            continues_as_one_run: Option<bool>,
            /// The images the chains started from (`--init data`): the
            /// run's, or those `--data` gave (a test split, say).
            #[serde(skip_serializing_if = "Option::is_none")]
            data: Option<String>,
            data_noise: bool,
            temp_factor: f64,
            epsilon: f64,
            epsilon_from: &'static str,
            gradient_step: f64,
            noise: f64,
            every: u64,
            /// A run stopped on its way (Ctrl-C): the step it reached, as
            /// the terminal said, and where its rows (longrun.partial.csv) end.
            #[serde(skip_serializing_if = "Option::is_none")]
            stopped_at_step: Option<u64>,
            #[serde(skip_serializing_if = "Option::is_none")]
            rows_to_step: Option<u64>,
            /// Weights alone: the settings given for them (as config.toml holds a run's).
            #[serde(skip_serializing_if = "Option::is_none")]
            model_settings: Option<toml::Table>,
        }
        let step = self.step_size(ck);
        // An f32 as it is written (0.0075, not 0.007499999832361937).
        let as_written = |v: f32| v.to_string().parse::<f64>().unwrap_or(f64::from(v));
        let settings = Settings {
            checkpoint: crate::config::absolute_path_shown(checkpoint)?,
            checkpoint_iteration: ck.iteration_of(checkpoint),
            sampler: self.sampler(),
            steps: self.steps,
            chains: self.chains,
            start: self.from.settings()?,
            continues_as_one_run: self.differences_from_saved(made_with).map(|d| d.is_empty()),
            data: (self.from.needs_data() && !ck.config.data.kind.is_toy())
                .then(|| ck.config.data.path.clone()),
            data_noise: self.data_noise && self.from.needs_data(),
            temp_factor: self.temp_factor,
            epsilon: self.epsilon.unwrap_or(ck.config.langevin.epsilon),
            epsilon_from: match (self.epsilon.is_some(), ck.weights_alone) {
                (true, _) => "--epsilon",
                (false, false) => "checkpoint",
                (false, true) => "model_settings",
            },
            gradient_step: as_written(step.gradient_factor()),
            noise: as_written(step.noise_factor()),
            every: self.every,
            stopped_at_step: stopped.map(|(steps, _)| steps),
            rows_to_step: stopped.map(|(_, rows)| rows),
            model_settings: ck
                .weights_alone
                .then(|| ck.config.to_toml().parse::<toml::Table>())
                .transpose()
                .map_err(|e| Error::Config(format!("long-run settings: {e}")))?,
        };
        let body =
            toml::to_string(&settings).map_err(|e| Error::Config(format!("long-run settings: {e}")))?;
        Ok(format!(
            "# ebmscope sample: what this long run was made with. Each step is\n\
             # X <- X - gradient_step * dF/dX + noise * Z, Z ~ N(0, I) (MALA: then accepted or not).\n{body}"
        ))
    }

    /// Everything that can be refused before any work: the options, and a
    /// start from the bank against the checkpoint's bank.
    pub fn check(&self, ck: &Checkpoint) -> Result<()> {
        self.validate()?;
        check_temp_factor(&ck.config, self.temp_factor, "--temp-factor")?;
        if let Some(e) = self.epsilon {
            let a = self.step_size(ck).gradient_factor();
            if !(a.is_normal() && (e as f32).is_normal()) {
                return Err(Error::Config(format!(
                    "--epsilon {e:e}: its gradient step ε²/2Tf ({a:e}, T·f = {:e}) or ε itself is out of \
                     f32's range, in which the GPU computes: choose an ε nearer the checkpoint's ({:e})",
                    ck.config.temperature() * self.temp_factor,
                    ck.config.langevin.epsilon
                )));
            }
        }
        self.from.check(ck, self.chains, "--chains")
    }

    /// Going on from saved chains whose file records what moved them, how
    /// this run, moving them as `now`, differs ([`ChainsMadeWith::differences`];
    /// none: it is one longer run); None for fresh starts, and files without
    /// the record.
    fn differences_from_saved(&self, now: &ChainsMadeWith) -> Option<Vec<String>> {
        match &self.from {
            ChainStart::Saved(SavedChains {
                made_with: Some(then),
                ..
            }) => Some(then.differences(now)),
            _ => None,
        }
    }

    /// A note for the terminal where this run (moving its chains as `now`)
    /// goes on from chains moved otherwise: what differs.
    pub fn continuation_note(&self, now: &ChainsMadeWith) -> Option<String> {
        let differs = self.differences_from_saved(now).filter(|d| !d.is_empty())?;
        Some(format!(
            "note: the chains of {} were moved otherwise than this run moves them, in {}: it goes on \
             from them, but is not one longer run (that takes the same checkpoint, adapter, sampler, \
             --epsilon and --temp-factor)",
            self.from.text(),
            differs.join(", ")
        ))
    }
}

/// The seed of a long run's starts and noise from checkpoint `ck`: fresh
/// for each of a run's iterations, as the reference's long-run checks draw
/// a new batch each time (the same again from the same checkpoint).
fn noise_seed(ck: &Checkpoint) -> u32 {
    (ck.config.seed ^ 0x004c_4f4e).wrapping_add((ck.iteration as u32).wrapping_mul(0x9e37_79b9))
}

/// Where chains start (a long run's, or a landscape's descents): fresh
/// states, or where a long run left them.
#[derive(Clone, Debug, PartialEq)]
pub enum ChainStart {
    Fresh(LongRunInit),
    Saved(SavedChains),
}

impl ChainStart {
    /// The step the chains are at: 0 fresh, the file's saved. A long run
    /// numbers its rows on from it, and its noise counter starts there.
    pub fn step(&self) -> u64 {
        match self {
            ChainStart::Fresh(_) => 0,
            ChainStart::Saved(c) => c.step,
        }
    }

    /// Whether the chains start from the model's data set.
    pub fn needs_data(&self) -> bool {
        matches!(self, ChainStart::Fresh(LongRunInit::Data))
    }

    /// Where the chains start, for a command's first line and a figure's
    /// title: `data`, or `FOLDER/FILE at step N` (the file's own folder
    /// alone: a title has room for no more; the settings keep the path).
    pub fn text(&self) -> String {
        match self {
            ChainStart::Fresh(init) => init.name().to_string(),
            ChainStart::Saved(c) => {
                let name = Path::new(c.path.file_name().unwrap_or(c.path.as_os_str()));
                let folder = c.path.parent().and_then(Path::file_name);
                let shown = folder.map_or_else(|| name.to_path_buf(), |f| Path::new(f).join(name));
                format!("{} at step {}", shown.display(), c.step)
            }
        }
    }

    /// What a settings file records of it: `init`, or `from_chains` (the
    /// file, absolute) and `from_step`.
    pub fn settings(&self) -> Result<toml::Table> {
        let mut table = toml::Table::new();
        match self {
            ChainStart::Fresh(init) => {
                table.insert("init".into(), init.name().into());
            }
            ChainStart::Saved(c) => {
                table.insert(
                    "from_chains".into(),
                    crate::config::absolute_path_shown(&c.path)?.into(),
                );
                table.insert("from_step".into(), (c.step as i64).into());
            }
        }
        Ok(table)
    }

    /// Refuse a start that cannot give `k` states of the checkpoint's
    /// model (`count_flag`: the option that asks for them), before any work.
    pub fn check(&self, ck: &Checkpoint, k: usize, count_flag: &str) -> Result<()> {
        match self {
            ChainStart::Fresh(init) => check_start(ck, *init, k, count_flag),
            ChainStart::Saved(c) => c.check(k, count_flag),
        }
    }

    /// `k` starting states [k, dim]: fresh ones as [`start_states`] makes
    /// them (`data`, `data_noise` and `seed` as it takes them), or the
    /// saved chains' first `k` (callers check them first, naming their
    /// option: [`ChainStart::check`]).
    pub fn states(
        &self,
        gpu: &Gpu,
        ck: &Checkpoint,
        data: Option<&Dataset>,
        data_noise: bool,
        k: usize,
        seed: u32,
    ) -> Result<Vec<f32>> {
        match self {
            ChainStart::Fresh(init) => start_states(gpu, ck, data, *init, data_noise, k, seed),
            ChainStart::Saved(c) => {
                // (read checks the shape for the model it reads them for;
                // this, for the one they go to.)
                let dim: usize = net_spec(&ck.config)?.input.iter().product();
                if c.states.len() != c.count * dim || k > c.count {
                    return Err(Error::Shape(format!(
                        "{k} chains of {dim} values asked of {}, which holds {} chains of {} values",
                        c.path.display(),
                        c.count,
                        c.states.len() / c.count.max(1)
                    )));
                }
                Ok(c.states[..k * dim].to_vec())
            }
        }
    }
}

/// The file a long run keeps its chains in, rewritten at every row: tensor
/// `x`, [chains, C, H, W] images or [chains, 2] points, as `energy --input`
/// reads it (and PyTorch's `safetensors.torch.load_file`), with the step
/// they are at ([`CHAINS_STEP_KEY`]) and what moved them
/// ([`ChainsMadeWith`]) in its metadata: what `sample --from-chains` goes
/// on from.
pub const LONG_RUN_CHAINS: &str = "chains.safetensors";
/// The metadata key of [`LONG_RUN_CHAINS`]'s step.
const CHAINS_STEP_KEY: &str = "step";

/// What moves a long run's chains, as its [`LONG_RUN_CHAINS`] records it
/// (in metadata [`ChainsMadeWith::KEYS`]): going on from them with all of it
/// alike is one longer run, bit for bit.
#[derive(Clone, Debug, PartialEq)]
pub struct ChainsMadeWith {
    /// A CRC-32 of the model's weights, as 8 hex digits.
    pub model_crc32: String,
    /// The adapter and its driver ([`Gpu::describe`]): another may round
    /// the same steps otherwise.
    pub adapter: String,
    /// `langevin` or `mala`, as longrun.toml names it.
    pub sampler: String,
    /// The step's gradient factor ε²/2Tf, as the GPU takes it.
    pub gradient_step: f32,
    /// The step's noise factor, as the GPU takes it.
    pub noise: f32,
    /// The temperature T·f, as the GPU takes it (MALA's acceptance reads it).
    pub temperature: f32,
    /// The seed of the noise counter ([`noise_seed`]).
    pub noise_seed: u32,
}

impl ChainsMadeWith {
    /// Its metadata keys, in the order of its fields: all are written, and
    /// read only together (with the step, [`CHAINS_STEP_KEY`]).
    const KEYS: [&str; 7] = [
        "model_crc32",
        "adapter",
        "sampler",
        "gradient_step",
        "noise",
        "temperature",
        "noise_seed",
    ];

    fn metadata(&self) -> impl Iterator<Item = (String, String)> {
        let values = [
            self.model_crc32.clone(),
            self.adapter.clone(),
            self.sampler.clone(),
            self.gradient_step.to_string(),
            self.noise.to_string(),
            self.temperature.to_string(),
            self.noise_seed.to_string(),
        ];
        Self::KEYS.into_iter().map(String::from).zip(values)
    }

    /// Read from the `metadata` of the chains file `path`: None where it
    /// has none of the keys (files ebmscope wrote before it kept them, or
    /// made otherwise).
    fn read(path: &Path, metadata: &std::collections::HashMap<String, String>) -> Result<Option<Self>> {
        if Self::KEYS.iter().all(|k| !metadata.contains_key(*k)) {
            return Ok(None);
        }
        if !metadata.contains_key(CHAINS_STEP_KEY) {
            return Err(Error::file(
                path,
                format!(
                    "its metadata records what moved the chains ({}) but not their `{CHAINS_STEP_KEY}`: \
                     put it back, or remove that record to go on from step 0",
                    Self::KEYS.join(", ")
                ),
            ));
        }
        if let Some(key) = Self::KEYS.into_iter().find(|k| !metadata.contains_key(*k)) {
            return Err(Error::file(
                path,
                format!(
                    "its metadata records what moved the chains ({}) but not `{key}`: put it back, or \
                     remove the record's other keys to go on from the chains without it",
                    Self::KEYS.join(", ")
                ),
            ));
        }
        let [
            model_crc32,
            adapter,
            sampler,
            gradient_step,
            noise,
            temperature,
            noise_seed,
        ] = Self::KEYS.map(|k| metadata[k].as_str());
        fn number<T: std::str::FromStr>(path: &Path, key: &str, text: &str) -> Result<T> {
            text.parse()
                .map_err(|_| Error::file(path, format!("its metadata's `{key}` is `{text}`, not a number")))
        }
        if !matches!(sampler, "langevin" | "mala") {
            return Err(Error::file(
                path,
                format!("its metadata's `sampler` is `{sampler}`, not langevin or mala"),
            ));
        }
        Ok(Some(ChainsMadeWith {
            model_crc32: model_crc32.to_string(),
            adapter: adapter.to_string(),
            sampler: sampler.to_string(),
            gradient_step: number(path, "gradient_step", gradient_step)?,
            noise: number(path, "noise", noise)?,
            temperature: number(path, "temperature", temperature)?,
            noise_seed: number(path, "noise_seed", noise_seed)?,
        }))
    }

    /// What of `now` (a run going on from chains moved as `self`) differs,
    /// in words: none, and that run is one longer run.
    pub fn differences(&self, now: &ChainsMadeWith) -> Vec<String> {
        let mut differs = Vec::new();
        let sampler = |name: &str| sampler_name(name == "mala");
        if self.model_crc32 != now.model_crc32 {
            differs.push("the model (other weights)".to_string());
        } else if self.noise_seed != now.noise_seed {
            // (Other weights come with their own seed: said once.)
            differs.push("the noise's seed (the checkpoint's iteration or seed)".to_string());
        }
        if self.adapter != now.adapter {
            differs.push(format!(
                "the adapter ({} there, {} here)",
                self.adapter, now.adapter
            ));
        }
        if self.sampler != now.sampler {
            differs.push(format!(
                "the sampler ({} there, {} here)",
                sampler(&self.sampler),
                sampler(&now.sampler)
            ));
        }
        for (what, then, here) in [
            ("gradient step", self.gradient_step, now.gradient_step),
            ("noise", self.noise, now.noise),
            ("temperature T·f", self.temperature, now.temperature),
        ] {
            if then.to_bits() != here.to_bits() {
                differs.push(format!("the {what} ({then} there, {here} here)"));
            }
        }
        differs
    }
}

/// The shape `k` chains of a net taking `input` are saved in: [k, 2] points
/// for the toy net (its input [2, 1, 1]), [k, C, H, W] images otherwise.
fn chains_shape(input: [usize; 3], k: usize) -> Vec<usize> {
    match input {
        [c, 1, 1] => vec![k, c],
        [c, h, w] => vec![k, c, h, w],
    }
}

/// Write `states` ([k, dim], of a net taking `input`) at `step`, moved as
/// `made_with` says, to `path` as [`LONG_RUN_CHAINS`] holds them.
pub fn write_chains(
    path: &Path,
    input: [usize; 3],
    states: &[f32],
    step: u64,
    made_with: &ChainsMadeWith,
) -> Result<()> {
    let dim: usize = input.iter().product();
    let x = crate::io::Tensor {
        name: "x".into(),
        shape: chains_shape(input, states.len() / dim.max(1)),
        data: states.to_vec(),
    };
    let mut metadata: std::collections::HashMap<_, _> = made_with.metadata().collect();
    metadata.insert(CHAINS_STEP_KEY.to_string(), step.to_string());
    crate::io::write_tensors_with_metadata(path, &[x], Some(metadata))
}

/// Chains to go on from: a long run's [`LONG_RUN_CHAINS`] (or a file made
/// so, tensor `x`; without a step, at 0).
#[derive(Clone, Debug, PartialEq)]
pub struct SavedChains {
    pub path: PathBuf,
    /// [count, dim], finite.
    pub states: Vec<f32>,
    pub count: usize,
    /// The step they were saved at (the file's metadata; 0 without it).
    pub step: u64,
    /// What moved them, where the file says.
    pub made_with: Option<ChainsMadeWith>,
}

impl SavedChains {
    /// Read the chains in `path` for a model taking `input`: a tensor `x` of
    /// [n, 2] points or [n, C, H, W] images, every value finite.
    pub fn read(path: &Path, input: [usize; 3]) -> Result<Self> {
        let (tensors, metadata) = crate::io::read_all(path)?;
        crate::io::refuse_damaged(
            path,
            &tensors,
            &metadata,
            "run the long run again, or start from --init",
        )?;
        let Some(x) = tensors.into_iter().find(|t| t.name == "x") else {
            return Err(Error::file(
                path,
                format!(
                    "holds no tensor `x`, the chains (a long run's {LONG_RUN_CHAINS} holds them so: \
                     [chains, C, H, W] images or [chains, 2] points)"
                ),
            ));
        };
        let count = x.shape.first().copied().unwrap_or(0);
        let wanted = chains_shape(input, count);
        if x.shape != wanted || count == 0 {
            let wanted = chains_shape(input, 0)
                .iter()
                .skip(1)
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ");
            return Err(Error::file(
                path,
                format!(
                    "tensor `x` has shape {:?}; this model's chains are [chains, {wanted}], at least one \
                     (chains of another model, or of another data set?)",
                    x.shape
                ),
            ));
        }
        if let Some(i) = x.data.iter().position(|v| !v.is_finite()) {
            return Err(Error::file(
                path,
                format!(
                    "tensor `x` holds {} at element {i} (chain {}): chains that diverged cannot go on",
                    x.data[i],
                    i / (x.data.len() / count)
                ),
            ));
        }
        let step = match metadata.get(CHAINS_STEP_KEY) {
            None => 0,
            Some(text) => text
                .parse()
                .ok()
                // (At the counter's last step, no step can follow.)
                .filter(|&step| step < crate::sampler::MAX_COUNTED)
                .ok_or_else(|| {
                    Error::file(
                        path,
                        format!(
                            "its metadata's step `{text}` is not a number of steps below {}, the last \
                             the noise counter tells apart",
                            crate::sampler::MAX_COUNTED
                        ),
                    )
                })?,
        };
        Ok(SavedChains {
            path: path.to_path_buf(),
            states: x.data,
            count,
            step,
            made_with: ChainsMadeWith::read(path, &metadata)?,
        })
    }

    /// What the folders made from the chains are named after,
    /// `from_<source>_<step>`: the source is the long run they come from
    /// (`data` for longrun_data/chains.safetensors; a run that went on from
    /// those, longrun_from_data_N, is `data` too), or the file's own name
    /// (chains_0000500 for a training check's).
    pub fn folder_name(&self) -> String {
        format!("from_{}_{}", self.source(), self.step)
    }

    /// The source of [`SavedChains::folder_name`].
    fn source(&self) -> String {
        // (Through a link, the file it is.)
        let path = self.path.canonicalize().unwrap_or_else(|_| self.path.clone());
        if path.file_name() != Some(LONG_RUN_CHAINS.as_ref()) {
            return path
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
        }
        let folder = path.parent().and_then(|p| p.file_name());
        let folder = folder.map_or_else(|| "chains".into(), |f| f.to_string_lossy().into_owned());
        let name = folder.strip_prefix("longrun_").unwrap_or(&folder);
        // (A continuation's folder names its source and step: the source.)
        let source = name.strip_prefix("from_").and_then(|rest| {
            let (label, step) = rest.rsplit_once('_')?;
            step.bytes().all(|b| b.is_ascii_digit()).then_some(label)
        });
        source.unwrap_or(name).to_string()
    }

    /// Refuse going on with more chains (`k`, asked for by `count_flag`)
    /// than these.
    pub fn check(&self, k: usize, count_flag: &str) -> Result<()> {
        if k > self.count {
            return Err(Error::Config(format!(
                "{count_flag} {k}: {} holds {}; pass {count_flag} {} or fewer (its first are taken)",
                self.path.display(),
                crate::config::plural(self.count as u64, "chain", "chains"),
                self.count
            )));
        }
        Ok(())
    }
}

/// The sampler's name in words: MALA or Langevin.
pub fn sampler_name(mala: bool) -> &'static str {
    if mala { "MALA" } else { "Langevin" }
}

/// Refuse a temperature factor f (checked positive and finite already;
/// `option`: what asked for it) whose tempered step the GPU's f32 cannot
/// hold for a model of settings `config`: the temperature T·f, and ε√f.
pub fn check_temp_factor(config: &crate::config::Config, f: f64, option: &str) -> Result<()> {
    let tempered = config.temperature() * f;
    let noise = config.langevin.epsilon * f.sqrt();
    if (tempered as f32).is_normal() && (noise as f32).is_normal() {
        return Ok(());
    }
    Err(Error::Config(format!(
        "{option} {f:e}: the temperature T·f it gives ({tempered:e}, T = {:e}) is out of f32's \
         range, in which the GPU computes: choose a factor nearer 1",
        config.temperature()
    )))
}

/// Refuse a start from the bank when the checkpoint has none, or fewer than
/// `k` states (`count_flag`: the option that asked for them).
pub fn check_start(ck: &Checkpoint, init: LongRunInit, k: usize, count_flag: &str) -> Result<()> {
    if matches!(init, LongRunInit::Bank) {
        let dim: usize = net_spec(&ck.config)?.input.iter().product();
        let bank = ck.bank.as_ref().ok_or_else(|| {
            Error::Config(if ck.weights_alone {
                "--init bank: weights alone carry no bank (a run's checkpoint does, where its chains \
                 were persistent): start from data, uniform or gaussian"
                    .into()
            } else {
                "--init bank: this checkpoint has no persistent bank (its run did not use persistent \
                 chains): start from data, uniform or gaussian"
                    .into()
            })
        })?;
        if bank.len() < k * dim {
            return Err(Error::Config(format!(
                "--init bank: the bank holds {} states, fewer than {count_flag} {k}",
                bank.len() / dim.max(1),
            )));
        }
    }
    Ok(())
}

/// `k` starting states [k, dim] for chains of the checkpoint's model: data
/// (plus the run's ε_data noise if `data_noise`, as the reference's
/// sample_q), the bank's first entries, or uniform / Gaussian noise scaled
/// by the run's init factor. `data` (the checkpoint's data set) is needed
/// only to start from data.
pub fn start_states(
    gpu: &Gpu,
    ck: &Checkpoint,
    data: Option<&Dataset>,
    init: LongRunInit,
    data_noise: bool,
    k: usize,
    seed: u32,
) -> Result<Vec<f32>> {
    let c = &ck.config;
    let dim: usize = net_spec(c)?.input.iter().product();
    // Before anything of that size is made, here or on the GPU.
    gpu.check_binding(
        &format!("{k} chains of {dim} values"),
        k.saturating_mul(dim).saturating_mul(4) as u64,
        "use fewer chains (--chains, --starts)",
    )?;
    let f = c.langevin.init_factor as f32;
    let dist = match init {
        LongRunInit::Data => {
            let data = data.ok_or_else(|| {
                Error::Config("--init data needs the run's data set (data.path of its config)".into())
            })?;
            let mut rng = ChaCha8Rng::seed_from_u64(u64::from(seed));
            let mut x = data.sample(k, &mut rng);
            if data_noise {
                super::add_data_noise(c, &mut x, &mut rng);
            }
            return Ok(x);
        }
        LongRunInit::Bank => {
            // (Callers refuse this before any work, naming their option: check_start.)
            let bank = ck.bank.as_ref().filter(|b| b.len() >= k * dim).ok_or_else(|| {
                Error::Config(format!(
                    "--init bank: the checkpoint's bank holds fewer than {k} states"
                ))
            })?;
            return Ok(bank[..k * dim].to_vec());
        }
        LongRunInit::Uniform => RngDistribution::Uniform {
            scale: 2.0 * f,
            shift: -f,
        },
        LongRunInit::Gaussian => RngDistribution::Normal { scale: f, shift: 0.0 },
    };
    let out = gpu.storage_buffer("chain starts", k * dim);
    let rng = crate::sampler::Rng::new(gpu, seed);
    rng.set(gpu, 0, 0);
    let noise = Noise::new(gpu, &rng, Purpose::ChainInit, dist, false, &out, k, dim)?;
    gpu.run("chain starts", |pass| noise.record(gpu, pass));
    gpu.read_f32(&out, 0, k * dim)
}

/// The file that marks a finished long run of `sample` in its folder
/// (written last), and the one its rows go to until then.
pub const LONG_RUN_MARKER: &str = "longrun.csv";
pub const LONG_RUN_PARTIAL: &str = "longrun.partial.csv";
/// The settings a long run of `sample` was made with (written after PARTIAL).
pub const LONG_RUN_SETTINGS: &str = "longrun.toml";
/// A long run's outputs in its folder.
pub const LONG_RUN_OUTPUTS: OutputSet = OutputSet {
    what: "long run",
    marker: Sign {
        name: LONG_RUN_MARKER,
        headers: &[LONG_RUN_HEADER],
    },
    signs: &[Sign {
        name: LONG_RUN_PARTIAL,
        headers: &[LONG_RUN_HEADER],
    }],
    is_own: is_long_run_file,
};
/// How the rows of a long run start (longrun.csv, as `sample` has written
/// it since the first release, and the training checks' CSVs).
pub const LONG_RUN_HEADER: &str = "step,mean_energy,grad_magnitude";

/// Whether `name` is one of `sample`'s files other than its marker and
/// partial rows: its settings, its chains, longrun.png and its pictures,
/// samples_<step, 8 digits or more>.png (a training run's,
/// samples_<iteration, 7 digits>.png, are not, were its folder a run's).
fn is_long_run_file(name: &str) -> bool {
    name == LONG_RUN_SETTINGS
        || name == LONG_RUN_CHAINS
        || name == "longrun.png"
        || name
            .strip_prefix("samples_")
            .and_then(|rest| rest.strip_suffix(".png"))
            .is_some_and(|step| step.len() >= 8 && step.bytes().all(|b| b.is_ascii_digit()))
}

/// Steps between drains of the chains' f32 running sums into f64 totals
/// (long_run): counts stay exact (under 2²⁴) and a sum of 2¹⁶ positive terms
/// is good to 2¹⁶ f32 roundings at worst, 0.4 %, far less as they fall.
const STATS_DRAIN_STEPS: u64 = 1 << 16;

/// One record of a long run, over the steps since the previous record.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LongRunRow {
    pub step: u64,
    /// Mean U = F/T of the chains (the model's energy, whatever the sampling temperature).
    pub mean_energy: f64,
    /// Mean ‖a∇F‖ per step and chain over the interval, a the step's
    /// gradient factor (‖(ε²/2)∇U‖ at the checkpoint's ε and f = 1); none
    /// at the run's start, where no step was taken.
    pub grad_magnitude: Option<f64>,
    /// MALA's acceptance rate over the interval.
    pub acceptance: Option<f64>,
}

impl LongRunRow {
    /// The gradient magnitude for a CSV cell: empty at the run's start.
    pub fn grad_text(&self) -> String {
        self.grad_magnitude.map(|g| format!("{g:?}")).unwrap_or_default()
    }
}

enum Chains {
    Ula(Langevin<GpuNet>),
    Mala(Mala<GpuNet>),
}

/// Run the long-run check; `on_record(row, states)` is called at the start
/// (step 0, or the saved chains' step), every `every` steps and at the end,
/// with the chains' states [chains, dim], and `progress("long run", steps
/// done, steps)` (this run's) after every submission.
/// `data` (the checkpoint's data set) is needed only to start from data.
pub fn long_run(
    gpu: &Gpu,
    ck: &Checkpoint,
    data: Option<&Dataset>,
    opts: &LongRunOptions,
    mut on_record: impl FnMut(&LongRunRow, &[f32]) -> Result<()>,
    progress: Progress,
) -> Result<Vec<LongRunRow>> {
    opts.check(ck)?;
    let c = &ck.config;
    let spec = net_spec(c)?;
    let k = opts.chains;
    let net = GpuNet::new(gpu, &spec, k)?;
    net.write_params(gpu, &ck.params)?;
    let field = net.as_field(gpu)?;
    let dim = field.dim();
    let size = opts.step_size(ck);
    let seed = noise_seed(ck);

    let x0 = opts.from.states(gpu, ck, data, opts.data_noise, k, seed)?;
    // Going on from saved chains, the noise counter goes on from their step:
    // from the same checkpoint, the steps an unbroken run would have taken.
    let first_step = opts.from.step();
    let chains = if opts.mala {
        Chains::Mala(Mala::new(gpu, field, seed, size)?)
    } else {
        Chains::Ula(Langevin::new(gpu, field, seed, size)?)
    };
    let (states, energy_buffer, stats) = match &chains {
        Chains::Ula(s) => (
            s.field.input().clone(),
            s.field.energy().clone(),
            s.stats_buffer().clone(),
        ),
        Chains::Mala(s) => (
            s.states().clone(),
            s.field.energy().clone(),
            s.stats_buffer().clone(),
        ),
    };
    match &chains {
        Chains::Ula(s) => {
            gpu.write_f32(s.field.input(), 0, &x0);
            s.begin(gpu, 0);
            s.rng.set(gpu, 0, first_step as u32);
        }
        Chains::Mala(s) => {
            s.start(gpu, &x0, 0)?;
            s.rng.set(gpu, 0, first_step as u32);
        }
    }

    let temp = c.temperature();
    // The chains' running sums since the last drain (accepted, Σ a‖∇F‖,
    // proposals, over the chains), which are zeroed on the GPU: there they
    // are f32, where a count stops growing at 2²⁴ (MALA's acceptance would
    // read 0 past 1.7·10⁷ steps) and a long sum loses the small steps'
    // digits. Column 0 (MALA's F of the current states) is kept.
    let drain = || -> Result<[f64; 3]> {
        let mut s = gpu.read_f32(&stats, 0, k * 4)?;
        let sum = |s: &[f32], col: usize| s.chunks_exact(4).map(|r| f64::from(r[col])).sum::<f64>();
        let sums = [sum(&s, 1), sum(&s, 2), sum(&s, 3)];
        for chain in s.chunks_exact_mut(4) {
            chain[1..].fill(0.0);
        }
        gpu.write_f32(&stats, 0, &s);
        Ok(sums)
    };
    // Mean U over the chains at the states they hold now: MALA keeps F of
    // its current states; after Langevin steps the field holds F where the
    // last step started, one step behind, so F is evaluated again (the
    // next step evaluates it there anyway).
    let mean_energy = || -> Result<f64> {
        let e = match &chains {
            Chains::Mala(_) => gpu
                .read_f32(&stats, 0, k * 4)?
                .chunks_exact(4)
                .map(|r| f64::from(r[0]))
                .collect::<Vec<_>>(),
            Chains::Ula(s) => {
                gpu.run("long-run energy", |pass| s.field.record_eval(gpu, pass));
                gpu.read_f32(&energy_buffer, 0, k)?
                    .iter()
                    .map(|&v| f64::from(v))
                    .collect()
            }
        };
        Ok(e.iter().sum::<f64>() / (k as f64 * temp))
    };
    let mut rows = Vec::new();
    let start_row = LongRunRow {
        step: first_step,
        mean_energy: mean_energy()?,
        grad_magnitude: None,
        acceptance: None,
    };
    on_record(&start_row, &gpu.read_f32(&states, 0, k * dim)?)?;
    rows.push(start_row);
    drain()?;
    let mut done = 0u64;
    while done < opts.steps {
        let target = (done + opts.every).min(opts.steps);
        // [accepted, Σ a‖∇F‖, proposals] over the row's steps.
        let mut sums = [0.0; 3];
        while done < target {
            let end = (done + STATS_DRAIN_STEPS).min(target);
            gpu.run_in_slices(
                end - done,
                SLICE_STEPS,
                |_, n| {
                    gpu.run("long run", |pass| match &chains {
                        Chains::Ula(s) => s.record_steps(gpu, pass, n as usize),
                        Chains::Mala(s) => s.record_steps(gpu, pass, n as usize),
                    })
                },
                |d| progress("long run", done + d, opts.steps),
            )?;
            done = end;
            for (total, part) in sums.iter_mut().zip(drain()?) {
                *total += part;
            }
        }
        let steps = (first_step + target - rows.last().map_or(first_step, |r| r.step)) as f64;
        let row = LongRunRow {
            step: first_step + target,
            mean_energy: mean_energy()?,
            grad_magnitude: Some(sums[1] / (steps * k as f64)),
            acceptance: opts
                .mala
                .then(|| if sums[2] > 0.0 { sums[0] / sums[2] } else { 0.0 }),
        };
        on_record(&row, &gpu.read_f32(&states, 0, k * dim)?)?;
        rows.push(row);
    }
    Ok(rows)
}
