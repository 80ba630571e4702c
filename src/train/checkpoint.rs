//! Checkpoints: everything needed to continue a run exactly — parameters
//! (under their state-dict names), optimizer state, the persistent bank, the
//! iteration (which keys every random stream) and the learning rate — in one
//! safetensors file with the resolved config in its metadata; and the chains
//! X⁻ of the last iteration, so that a loaded run shows its samples at once.

use std::collections::HashMap;
use std::path::Path;

use super::Trainer;
use crate::config::Config;
use crate::io::{
    ADAM_M_TENSOR, ADAM_V_TENSOR, BANK_TENSOR, CHAINS_TENSOR, Tensor, read_all, write_tensors_with_metadata,
};
use crate::{Error, Result};

/// Name of the latest full checkpoint inside a run folder.
pub const CHECKPOINT_FILE: &str = "checkpoint.safetensors";

#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    pub config: Config,
    pub iteration: u64,
    pub lr: f64,
    /// Wall-clock seconds of the run when this was taken, over its sessions
    /// (pauses in the window included; 0 in checkpoints from before
    /// ebmscope kept it).
    pub wall_time: f64,
    pub optimizer_steps: u64,
    pub params: Vec<f32>,
    pub adam_m: Vec<f32>,
    pub adam_v: Vec<f32>,
    pub bank: Option<Vec<f32>>,
    /// X⁻ as the last iteration left them, [chains, dim] (None before the
    /// first iteration, and in checkpoints from before ebmscope kept them).
    /// Not needed to continue: every iteration starts its chains afresh.
    pub chains: Option<Vec<f32>>,
    /// The training images' [`Dataset::fingerprint`](crate::data::Dataset::fingerprint)
    /// (metadata `data`; None for toy data and in checkpoints from before
    /// ebmscope kept it).
    pub data: Option<String>,
    /// The d_st of its iteration, as the run's metrics.csv holds it in that
    /// row (metadata `d_st`): what tells a run's own checkpoint from one
    /// copied in from another run (None at iteration 0, for weights alone
    /// and in checkpoints from before ebmscope kept it).
    pub d_st: Option<f64>,
    /// The run's history up to this checkpoint, where the file holds it
    /// (the window's Save: a run folder keeps its own in metrics.csv and
    /// changes.csv beside its checkpoint.safetensors).
    pub history: Option<SavedHistory>,
    /// Made of weights alone and settings given beside them
    /// ([`Checkpoint::from_weights`]): no iteration, optimizer state, bank
    /// or chains of a run.
    pub weights_alone: bool,
}

/// What [`Checkpoint::head`] reads of a checkpoint.
pub struct CheckpointHead {
    pub config: Config,
    pub iteration: u64,
    pub lr: f64,
}

/// A run's history as a checkpoint holds it (metadata `metrics`,
/// `changes` and, for toy data, `toy_metrics`): the texts of its
/// metrics.csv, changes.csv and toy_metrics.csv.
#[derive(Clone, Debug, PartialEq)]
pub struct SavedHistory {
    pub metrics: String,
    pub changes: String,
    /// None where no evaluation was made (image data), or in a checkpoint
    /// saved before the window kept them.
    pub toy: Option<String>,
}

impl SavedHistory {
    /// The most a checkpoint keeps: safetensors refuses a header over 100 MB.
    pub const MAX_BYTES: usize = 80_000_000;
}

fn meta<'a>(path: &Path, m: &'a HashMap<String, String>, key: &str) -> Result<&'a str> {
    m.get(key).map(String::as_str).ok_or_else(|| {
        Error::file(
            path,
            format!(
                "not an ebmscope checkpoint: metadata `{key}` is missing (weights alone, a state \
                 dict, have none: give them with their settings where a command takes them)"
            ),
        )
    })
}

fn parse<T: std::str::FromStr>(path: &Path, m: &HashMap<String, String>, key: &str) -> Result<T> {
    meta(path, m, key)?
        .parse()
        .map_err(|_| Error::file(path, format!("checkpoint metadata `{key}` is not a valid number")))
}

impl Checkpoint {
    /// The trainer's state, refused while it holds a diverged step: a
    /// checkpoint of it (saved, or the start of a long run or landscape
    /// map) would carry a broken model under the last good iteration. So
    /// are parameters that the last learning step left non-finite (the
    /// divergence watch sees an iteration's energies, which come before
    /// its update).
    pub fn capture(trainer: &Trainer) -> Result<Self> {
        trainer.refuse_diverged()?;
        let params = trainer.params()?;
        if let Some((i, v)) = params.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(Error::Diverged {
                iteration: trainer.iteration,
                why: format!("its learning step left parameter {i} = {v}"),
            });
        }
        let (adam_m, adam_v) = trainer.optimizer().read_state(&trainer.gpu)?;
        let bank = trainer.bank().map(|b| b.read(&trainer.gpu)).transpose()?;
        // (Adam's second moment overflows first, at gradients of order 1e19,
        // while the parameters stay finite; the bank takes the chains' states.)
        let states = [
            ("Adam's first moment", Some(&adam_m)),
            ("Adam's second moment", Some(&adam_v)),
            ("the bank", bank.as_ref()),
        ];
        for (what, values) in states {
            if let Some(v) = values.and_then(|v| v.iter().find(|v| !v.is_finite())) {
                return Err(Error::Diverged {
                    iteration: trainer.iteration,
                    why: format!("{what} holds {v}"),
                });
            }
        }
        Ok(Checkpoint {
            config: trainer.config.clone(),
            iteration: trainer.iteration,
            lr: trainer.lr,
            wall_time: trainer.run_seconds(),
            optimizer_steps: trainer.optimizer().steps,
            params,
            adam_m,
            adam_v,
            bank,
            chains: trainer.has_chains().then(|| trainer.chains()).transpose()?,
            data: trainer.data.fingerprint(),
            // (The last of d_st is this iteration's where the trainer holds
            // the run's history whole.)
            d_st: trainer
                .d_st
                .last()
                .copied()
                .filter(|_| trainer.d_st.len() as u64 == trainer.iteration),
            history: None,
            weights_alone: false,
        })
    }

    /// Where `data` (loaded from `path`) is not the images this checkpoint
    /// was trained on: what each is. (None also where there is nothing to
    /// compare: toy data, or a checkpoint without a fingerprint.)
    pub fn other_data(&self, data: &crate::data::Dataset, path: &str) -> Option<String> {
        let (saved, now) = (self.data.as_ref()?, data.fingerprint()?);
        (*saved != now).then(|| {
            format!("the data at {path} is not the data the checkpoint was trained on ({now}, but it trained on {saved})")
        })
    }

    /// Refuse `data` (read from `path`) where it is not the images this
    /// checkpoint was trained on.
    pub fn check_data(&self, data: &crate::data::Dataset, path: &str) -> Result<()> {
        if let Some(other) = self.other_data(data, path) {
            // (Where it read them, when --data names another place now.)
            let was = &self.config.data.path;
            let was = if was != path {
                format!(": it read them from {was}")
            } else {
                String::new()
            };
            return Err(Error::Config(format!(
                "{other}: go on with the run's own data (--data{was}), or start a new run"
            )));
        }
        Ok(())
    }

    /// Put the trainer exactly where this checkpoint was taken: a trainer
    /// [`Trainer::for_restore`] made for it, which checked its images.
    pub fn restore(&self, trainer: &mut Trainer) -> Result<()> {
        trainer.write_params(&self.params)?;
        let gpu = trainer.gpu.clone();
        trainer
            .optimizer_mut()
            .write_state(&gpu, self.optimizer_steps, &self.adam_m, &self.adam_v);
        match (trainer.bank(), &self.bank) {
            (Some(bank), Some(states)) => {
                self.check_bank(bank.dim, bank.size)?;
                bank.write(&trainer.gpu, states)?
            }
            (None, None) => {}
            // (Weights alone carry no bank: the run's fresh one stays.)
            (Some(_), None) if self.weights_alone => {}
            _ => {
                return Err(Error::Config(
                    "the checkpoint's chain initialisation differs from the run's".into(),
                ));
            }
        }
        if let Some(chains) = &self.chains {
            trainer.write_chains(chains)?;
        }
        trainer.iteration = self.iteration;
        trainer.diverged = None;
        trainer.lr = self.lr;
        trainer.seconds_before = self.wall_time;
        Ok(())
    }

    /// Refuse a bank of `size` states of `dim` values for this checkpoint's
    /// bank, if it has one of another size: with one state per image
    /// (langevin.bank_size = 0), the image set changed.
    pub fn check_bank(&self, dim: usize, size: usize) -> Result<()> {
        let Some(states) = &self.bank else { return Ok(()) };
        let saved = states.len() / dim.max(1);
        if saved == size {
            return Ok(());
        }
        Err(Error::Config(format!(
            "the checkpoint's bank holds {saved} states but this run's holds {size}: its data \
             changed since the checkpoint (one state per image?); resume with the data it \
             was trained on (--data), or start a new run"
        )))
    }

    /// Write atomically: a crash leaves the previous checkpoint in place.
    pub fn save(&self, path: &Path) -> Result<()> {
        let spec = super::net_spec(&self.config)?;
        let layout = spec.param_layout()?;
        // Values per state (chain or bank entry).
        let dim: usize = spec.input.iter().product();
        let mut tensors: Vec<Tensor> = layout
            .tensors
            .iter()
            .map(|t| Tensor {
                name: t.name.clone(),
                shape: t.shape.clone(),
                data: self.params[t.offset..t.offset + t.len].to_vec(),
            })
            .collect();
        let n = self.params.len();
        tensors.push(Tensor {
            name: ADAM_M_TENSOR.into(),
            shape: vec![n],
            data: self.adam_m.clone(),
        });
        tensors.push(Tensor {
            name: ADAM_V_TENSOR.into(),
            shape: vec![n],
            data: self.adam_v.clone(),
        });
        if let Some(bank) = &self.bank {
            tensors.push(Tensor {
                name: BANK_TENSOR.into(),
                shape: vec![bank.len() / dim, dim],
                data: bank.clone(),
            });
        }
        if let Some(chains) = &self.chains {
            tensors.push(Tensor {
                name: CHAINS_TENSOR.into(),
                shape: vec![chains.len() / dim, dim],
                data: chains.clone(),
            });
        }
        let mut metadata = HashMap::from([
            ("format".to_string(), FORMAT.to_string()),
            ("iteration".to_string(), self.iteration.to_string()),
            // {:?} prints the shortest string that parses back to the same f64.
            ("lr".to_string(), format!("{:?}", self.lr)),
            ("optimizer_steps".to_string(), self.optimizer_steps.to_string()),
            ("wall_time".to_string(), format!("{:?}", self.wall_time)),
            ("config".to_string(), self.config.to_toml()),
        ]);
        if let Some(data) = &self.data {
            metadata.insert("data".to_string(), data.clone());
        }
        if let Some(d_st) = self.d_st {
            metadata.insert("d_st".to_string(), format!("{d_st:?}"));
        }
        if let Some(h) = &self.history {
            metadata.insert("metrics".to_string(), h.metrics.clone());
            metadata.insert("changes".to_string(), h.changes.clone());
            if let Some(toy) = &h.toy {
                metadata.insert("toy_metrics".to_string(), toy.clone());
            }
        }
        write_tensors_with_metadata(path, &tensors, Some(metadata))
    }

    /// The settings, iteration and learning rate of the checkpoint at
    /// `path`, its header alone read (not its tensors: a bank of images,
    /// say).
    pub fn head(path: &Path) -> Result<CheckpointHead> {
        let m = crate::io::read_metadata(path)?;
        crate::io::refuse_edited_metadata(path, &m, &not_to_go_on_from())?;
        Ok(CheckpointHead {
            config: Config::from_toml(meta(path, &m, "config")?)
                .map_err(|e| Error::file(path, format!("checkpoint config: {e}")))?,
            iteration: parse(path, &m, "iteration")?,
            lr: parse(path, &m, "lr")?,
        })
    }

    pub fn load(path: &Path) -> Result<Self> {
        let (tensors, m) = read_all(path).map_err(|e| match e {
            // A run's checkpoint that does not read is one damaged since
            // (training writes whole files only): say what is left.
            Error::File { path, reason }
                if path.ends_with(super::CHECKPOINT_FILE) && path.with_file_name("weights").is_dir() =>
            {
                Error::File {
                    path,
                    reason: format!(
                        "{reason} (a run's checkpoint, damaged since training wrote it whole: a run keeps \
                         one checkpoint; {AFRESH_FROM_WEIGHTS})"
                    ),
                }
            }
            e => e,
        })?;
        // (Checkpoints of earlier releases have none.)
        crate::io::refuse_damaged(path, &tensors, &m, &not_to_go_on_from())?;
        // (Files without the tag are read as this format: it has been the only one.)
        if let Some(format) = m.get("format")
            && format != FORMAT
        {
            return Err(Error::file(
                path,
                format!(
                    "is a checkpoint of format `{format}`; this ebmscope reads `{FORMAT}`: use the \
                     version that wrote it"
                ),
            ));
        }
        let config = Config::from_toml(meta(path, &m, "config")?)
            .map_err(|e| Error::file(path, format!("checkpoint config: {e}")))?;
        let spec = super::net_spec(&config)?;
        let layout = spec.param_layout()?;
        let find = |name: &str| tensors.iter().find(|t| t.name == name);
        let mut params = vec![0.0; layout.total];
        for slot in &layout.tensors {
            let t = find(&slot.name)
                .ok_or_else(|| Error::file(path, format!("checkpoint is missing tensor `{}`", slot.name)))?;
            if t.shape != slot.shape {
                return Err(Error::file(
                    path,
                    format!(
                        "tensor `{}` has shape {:?}, expected {:?}",
                        slot.name, t.shape, slot.shape
                    ),
                ));
            }
            params[slot.offset..slot.offset + slot.len].copy_from_slice(&t.data);
        }
        // (Training never saves a diverged model; a file changed since may hold one.)
        if let Some(i) = params.iter().position(|v| !v.is_finite()) {
            return Err(Error::file(
                path,
                format!(
                    "parameter {i} is {}: not a model to go on from (a run keeps one checkpoint; \
                     {AFRESH_FROM_WEIGHTS})",
                    params[i]
                ),
            ));
        }
        let state = |name: &str| -> Result<Vec<f32>> {
            let t = find(name)
                .ok_or_else(|| Error::file(path, format!("checkpoint is missing tensor `{name}`")))?;
            if t.data.len() != layout.total {
                return Err(Error::file(
                    path,
                    format!(
                        "tensor `{name}` has {} values, expected {}",
                        t.data.len(),
                        layout.total
                    ),
                ));
            }
            refuse_non_finite(path, name, &t.data)?;
            Ok(t.data.clone())
        };
        let dim: usize = spec.input.iter().product();
        let chains = config.batch.chains as usize;
        let lr: f64 = parse(path, &m, "lr")?;
        if !(lr.is_finite() && lr > 0.0) {
            return Err(Error::file(
                path,
                format!("checkpoint metadata `lr` must be a finite number > 0 (got {lr})"),
            ));
        }
        Ok(Checkpoint {
            iteration: parse(path, &m, "iteration")?,
            lr,
            optimizer_steps: parse(path, &m, "optimizer_steps")?,
            wall_time: match m.get("wall_time") {
                Some(_) => parse(path, &m, "wall_time")?,
                None => 0.0,
            },
            adam_m: state(ADAM_M_TENSOR)?,
            adam_v: state(ADAM_V_TENSOR)?,
            bank: find(BANK_TENSOR)
                .map(|t| {
                    if t.shape.len() != 2 || t.shape[1] != dim {
                        return Err(Error::file(
                            path,
                            format!(
                                "the bank has shape {:?}, expected [states, {dim}]: not this run's",
                                t.shape
                            ),
                        ));
                    }
                    refuse_non_finite(path, BANK_TENSOR, &t.data)?;
                    Ok(t.data.clone())
                })
                .transpose()?,
            chains: find(CHAINS_TENSOR)
                .map(|t| {
                    if t.shape != [chains, dim] {
                        return Err(Error::file(
                            path,
                            format!(
                                "tensor `{CHAINS_TENSOR}` has shape {:?}, but the checkpoint's config asks \
                                 for [{chains}, {dim}] (batch.chains × values per state): the file was \
                                 changed since ebmscope wrote it; use a checkpoint as it was written",
                                t.shape
                            ),
                        ));
                    }
                    Ok(t.data.clone())
                })
                .transpose()?,
            params,
            config,
            data: m.get("data").cloned(),
            d_st: match m.get("d_st") {
                Some(_) => Some(parse(path, &m, "d_st")?),
                None => None,
            },
            history: match (m.get("metrics"), m.get("changes")) {
                (Some(metrics), Some(changes)) => Some(SavedHistory {
                    metrics: metrics.clone(),
                    changes: changes.clone(),
                    toy: m.get("toy_metrics").cloned(),
                }),
                _ => None,
            },
            weights_alone: false,
        })
    }

    /// The run's iteration of this model, loaded from `file`: the
    /// checkpoint's, or N for a run's weights/weights_N file; None for
    /// other weights alone.
    pub fn iteration_of(&self, file: &Path) -> Option<u64> {
        if self.weights_alone {
            super::run::run_of_weights(file).map(|(_, iteration)| iteration)
        } else {
            Some(self.iteration)
        }
    }

    /// What the model loaded from `file` is, for a command's first line:
    /// "checkpoint at iteration N", "a run's weights of iteration N" (its
    /// weights/weights_N file), or "weights alone".
    pub fn described(&self, file: &Path) -> String {
        match (self.weights_alone, self.iteration_of(file)) {
            (false, _) => format!("checkpoint at iteration {}", self.iteration),
            (true, Some(iteration)) => format!("a run's weights of iteration {iteration}"),
            (true, None) => "weights alone".into(),
        }
    }

    /// A model to sample or map from weights alone, a state dict (a run's
    /// `weights/` file, or a PyTorch model's, a .pth or safetensors), and
    /// `config`, the settings it was trained with (its net, Langevin step
    /// and data): as a checkpoint at iteration 0, with a fresh optimizer and
    /// no bank or chains. Refuses, naming it, a tensor the net lacks, misses
    /// or shapes otherwise, and a non-finite weight.
    pub fn from_weights(path: &Path, config: Config) -> Result<Self> {
        let params = weights_for(path, &config)?;
        let total = params.len();
        Ok(Checkpoint {
            iteration: 0,
            lr: config.optimizer.lr,
            wall_time: 0.0,
            optimizer_steps: 0,
            adam_m: vec![0.0; total],
            adam_v: vec![0.0; total],
            params,
            bank: None,
            chains: None,
            data: None,
            d_st: None,
            history: None,
            weights_alone: true,
            config,
        })
    }
}

/// The parameters of `config`'s net in the state dict at `path` (weights
/// alone). Refuses, naming it, a tensor the net lacks, misses or shapes
/// otherwise (and which net's the file is, where it is one of ebmscope's),
/// and a non-finite weight.
pub(crate) fn weights_for(path: &Path, config: &Config) -> Result<Vec<f32>> {
    let layout = super::net_spec(config)?.param_layout()?;
    let fix = || match crate::io::fitting_net(path) {
        Some((crate::model::NetKind::Toy, _, _)) => {
            "weights of another network: they are ToyNet's, for a toy preset (gmm-*, rings-*)".into()
        }
        Some((kind, n_c, n_f)) => {
            let kind = kind.name();
            // (An image net's weights with a toy preset: an image preset, not net.kind alone.)
            let preset = if config.data.kind.is_toy() {
                ", with an image preset (fashion-mnist-*, cifar10-*, …) and its data"
            } else {
                ""
            };
            format!(
                "weights of another network: they are {kind}'s with n_f = {n_f} and {n_c} channel(s), \
                     so net.kind = {kind}, net.n_f = {n_f}, data.channels = {n_c}{preset}"
            )
        }
        None => "weights of another network: check the settings' net.kind, net.n_f and data.channels".into(),
    };
    crate::io::load_params(path, &layout, fix)
}

/// What [`Checkpoint::save`] writes as the file's `format`, and `load` reads.
const FORMAT: &str = "ebmscope-checkpoint-1";

/// What a run whose checkpoint is damaged still has: its weights/ files,
/// to start a new run from.
const AFRESH_FROM_WEIGHTS: &str = "a copy from a backup, or a new run from one of its weights/ files: \
     `ebmscope train --init-weights RUN/weights/weights_N.safetensors --out NEW` with the run's settings \
     (--config RUN/config.toml)";

/// What a refusal of a damaged (or edited) checkpoint says to do instead.
fn not_to_go_on_from() -> String {
    format!("not a state to go on from (a run keeps one checkpoint; {AFRESH_FROM_WEIGHTS})")
}

/// Refuse a tensor of a checkpoint with a non-finite value: a file changed
/// since training wrote it (training saves none).
fn refuse_non_finite(path: &Path, name: &str, values: &[f32]) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(Error::file(
            path,
            format!(
                "tensor `{name}` holds {} at {i}: not a state to go on from (a run keeps one \
                 checkpoint; {AFRESH_FROM_WEIGHTS})",
                values[i]
            ),
        )),
        None => Ok(()),
    }
}
