//! A trainer on its own thread, driven by commands and reporting updates
//! over channels: what the window (and any other front end) uses, so that
//! training never blocks drawing and drawing never blocks training.
//! Changes of setting take effect at the next iteration.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::thread::JoinHandle;
use std::time::Duration;

use super::landscape::{Backdrop, Landscape, LandscapeOptions};
use super::run::{RunHistory, ToyRow, changes_text, metrics_text, run_history, toy_metrics_text};
use super::{
    Change, Checkpoint, IterationEvent, PictureSource, SavedHistory, ToyMetrics, Trainer,
    evaluate_toy_watched, evaluation_text,
};
use crate::config::Config;
use crate::data::Dataset;
use crate::gpu::Gpu;
use crate::kernels::picture::{GridLayout, ImageGrid};
use crate::{Error, Result};

/// Images shown at most in a picture (a 10 × 10 grid).
pub const PICTURE_IMAGES: usize = 100;

/// The run's iterations after [`Command::RunOn`] at iteration `done` of a
/// run of `total`: as many again.
pub fn run_on_total(done: u64, total: u64) -> u64 {
    done + total.max(1)
}

/// What a front end asks of the training thread.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Iterate until paused, or until `iterations` of the config are done.
    Run,
    /// Run; if the run has done its `iterations`, first raise them by as
    /// many again ([`Update::Iterations`]; the checkpoints it saves say so
    /// too, as `train --resume --iters N` would): a finished run goes on.
    RunOn,
    Pause,
    /// One iteration (when paused).
    Step,
    Apply(Change),
    /// Write a checkpoint of the current state.
    Save(PathBuf),
    /// Continue from a checkpoint (its config gives the network and
    /// settings), or from weights alone with the current settings.
    Load(PathBuf),
    /// Load as the window opens on it (`gui --checkpoint C`): on the
    /// session's image data, which its `--data` chose, wherever the
    /// checkpoint's own data is (a Load takes the session's only where
    /// the checkpoint's is gone).
    Open(PathBuf),
    /// Start over (fresh parameters, chains, iteration 0) with the current settings.
    Reset,
    /// Densities of the current model on the toy grid (toy data only):
    /// answered by [`Update::Toy`] between iterations. (Toy data is also
    /// evaluated unasked before a new run's first iteration and after
    /// every `output.picture_every`th.)
    EvaluateToy,
    /// Report every chain's energy along its Langevin path after each
    /// iteration ([`Update::EnergyPath`]), or stop doing so.
    RecordEnergyPath(bool),
    /// Keep a GPU texture of these images up to date after every iteration
    /// (image data; answered by [`Update::Picture`], at once, or with the
    /// next iteration where the rows hold no images yet), or stop (None).
    ShowPicture(Option<PictureSource>),
    /// Where no GPU picture is kept (a window that draws with a device of
    /// its own, as on GL): read these images back to the CPU after every
    /// iteration, the chains as [`Update::Chains`] (as with no command),
    /// the data batch or the bank's first 100 as [`Update::Rows`].
    ShowRows(PictureSource),
    /// A long run from the current model (the run's `eval.longrun_init`
    /// start and chains, at most 100), as asked, reported ten times along
    /// the way by [`Update::LongRun`]. Training waits.
    LongRun(LongRunAsk),
    /// Map the current model's landscape (minima and basins, as `ebmscope
    /// landscape`; one α), reported by [`Update::LandscapeProgress`] along
    /// the way and [`Update::Landscape`] at the end. Training waits.
    Landscape(LandscapeOptions),
    /// Checkpoints the window saved in its sessions before this one: Save
    /// may write over them, as over this session's own.
    SavedBefore(Vec<PathBuf>),
}

/// What the window asks of a long run (the rest as training's long-run
/// checks take it: the eval.longrun_init start with ε_data noise,
/// eval.longrun_chains chains up to 100, the run's ε).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LongRunAsk {
    pub steps: u64,
    /// MALA (reporting its acceptance) instead of plain Langevin.
    pub mala: bool,
    /// Sample exp(−U / f) with this f (1: the model itself), as `sample
    /// --temp-factor`.
    pub temp_factor: f64,
}

impl LongRunAsk {
    /// `steps` Langevin steps of the model itself.
    pub fn langevin(steps: u64) -> Self {
        LongRunAsk {
            steps,
            mala: false,
            temp_factor: 1.0,
        }
    }

    /// Refuse what the long run would refuse of it for a model of settings
    /// `config`, before it is asked, naming its steps and factor as
    /// `[steps, factor]` say (the window's fields, or `gui`'s options).
    pub fn check(&self, config: &crate::config::Config, [steps, factor]: [&str; 2]) -> Result<()> {
        let most = crate::sampler::MAX_COUNTED;
        if !(1..=most).contains(&self.steps) {
            return Err(Error::Config(format!(
                "{steps} must be from 1 to {most} steps (it is {})",
                self.steps
            )));
        }
        if !(self.temp_factor > 0.0 && self.temp_factor.is_finite()) {
            return Err(Error::Config(format!(
                "{factor} must be a positive number (it is {})",
                self.temp_factor
            )));
        }
        super::longrun::check_temp_factor(config, self.temp_factor, factor)?;
        // (Its start is the run's eval.longrun_init, which a run checks only
        // where its own long-run checks use it.)
        if config.eval.longrun_init == super::longrun::LongRunInit::Bank
            && config.langevin.init != crate::config::InitKind::Persistent
        {
            return Err(Error::Config(
                "the long run starts from eval.longrun_init = \"bank\", and this run keeps no bank \
                 (langevin.init is not \"persistent\"): start over with another eval.longrun_init"
                    .into(),
            ));
        }
        Ok(())
    }

    /// "MALA at T × 0.5".
    pub fn sampler_text(&self) -> String {
        format!(
            "{} at T × {}",
            super::longrun::sampler_name(self.mala),
            crate::config::short(self.temp_factor)
        )
    }

    /// The options of `sample` that sample as this run did, beside
    /// `--from-chains` (" --mala --temp-factor 0.5"; none for its defaults).
    pub fn sample_options(&self) -> String {
        let mut options = String::new();
        if self.mala {
            options.push_str(" --mala");
        }
        if self.temp_factor != 1.0 {
            options.push_str(&format!(
                " --temp-factor {}",
                crate::config::short(self.temp_factor)
            ));
        }
        options
    }
}

/// A picture of the bank asked of a run without one.
fn no_bank(source: PictureSource) -> Error {
    Error::Config(format!(
        "no {source:?} picture: this run has no persistent bank (langevin.init = persistent makes one)"
    ))
}

/// Whether `session`'s image data stands in for a checkpoint's `saved`
/// data that is no longer where the checkpoint says (`gui --checkpoint C
/// --data NEW`, or a Load after the window was started on the moved set):
/// images of the same kind of settings, found elsewhere.
fn moved_here(saved: &crate::config::DataConfig, session: &crate::config::DataConfig) -> bool {
    let elsewhere = crate::config::DataConfig {
        path: session.path.clone(),
        kind: session.kind,
        ..saved.clone()
    };
    !saved.kind.is_toy()
        && !session.kind.is_toy()
        && !std::path::Path::new(&saved.path).exists()
        && elsewhere == *session
}

impl Command {
    /// Long work: the training thread runs it to its end (or a stop) before
    /// anything else.
    fn is_long_work(&self) -> bool {
        matches!(self, Command::LongRun(_) | Command::Landscape(_))
    }

    /// Sent while an evaluation of the toy densities runs, or queued
    /// before one begins (a Pause during the iteration it follows), it
    /// stops it rather than wait for it (half a minute, for a large
    /// `eval.kde_samples` on a software adapter): its answer would come
    /// after a Pause, or be of a model a Reset or a load replaced.
    fn stops_evaluation(&self) -> bool {
        matches!(
            self,
            Command::Pause | Command::Reset | Command::Load(_) | Command::Open(_)
        )
    }
}

/// What the training thread reports.
#[derive(Clone, Debug, PartialEq)]
pub enum Update {
    Iteration(IterationEvent),
    /// The chains X⁻ after an iteration, [chains, values per state]: read
    /// back only while no GPU picture is kept (a window with one draws from
    /// it); sent again when a picture stops, so whoever draws them has the
    /// current ones, and on a Load of a checkpoint that kept them.
    Chains {
        iteration: u64,
        states: Arc<Vec<f32>>,
    },
    /// The data batch X⁺ or the bank's first entries (at most 100) after
    /// an iteration, as [`Command::ShowRows`] asked, [rows, values per
    /// image].
    Rows {
        source: PictureSource,
        iteration: u64,
        states: Arc<Vec<f32>>,
    },
    /// Evaluation `number` of the toy densities has begun (asked for or
    /// not), said so (training waits for it; [`Session::stop_evaluation`]
    /// stops it), and sent again with its progress through the short run's
    /// steps: answered by [`Update::Toy`] or [`Update::ToyRefused`].
    Evaluating {
        number: u64,
        what: String,
    },
    /// The answer to [`Command::EvaluateToy`], or the evaluation after a
    /// picture iteration: its row is kept in the run's history (Save).
    Toy {
        iteration: u64,
        metrics: Arc<ToyMetrics>,
    },
    /// [`Command::EvaluateToy`] refused at `iteration` (the model holds a
    /// diverged step, say), or an evaluation stopped
    /// ([`Session::stop_evaluation`], [`Command::stops_evaluation`]): not
    /// asked again until the iteration changes.
    ToyRefused {
        iteration: u64,
        why: String,
    },
    /// U of every chain at every step of an iteration, [L + 1, chains].
    EnergyPath {
        iteration: u64,
        chains: usize,
        energies: Arc<Vec<f32>>,
    },
    /// A texture the training thread now keeps up to date with `source`
    /// (again after a reset or load, which make new buffers); `size` in pixels.
    Picture {
        source: PictureSource,
        texture: wgpu::Texture,
        size: [usize; 2],
    },
    /// Progress of a [`Command::LongRun`] (`ask`) from the model of
    /// `iteration`: its `row` (step, mean energy, MALA's acceptance since the
    /// last report …) and, for toy data, the TV of the chains' KDE to q.
    LongRun {
        iteration: u64,
        ask: LongRunAsk,
        row: super::longrun::LongRunRow,
        tv: Option<crate::data::toy::KdeTv>,
        states: Arc<Vec<f32>>,
        /// What moves the chains, for a file of them.
        made_with: super::longrun::ChainsMadeWith,
    },
    /// Where a [`Command::Landscape`] has got to: `done` of `total` in `stage`.
    LandscapeProgress {
        stage: String,
        done: u64,
        total: u64,
    },
    Landscape(Arc<LandscapeReport>),
    /// A long run or landscape map ended early, stopped by
    /// [`Session::stop_work`] or failed (why, as a sentence); training goes
    /// on as it was.
    WorkEnded(String),
    Running(bool),
    /// The run's `iterations`, raised by [`Command::RunOn`].
    Iterations(u64),
    /// A change took effect; the next iteration is the first to use it.
    Applied {
        iteration: u64,
        change: Change,
    },
    /// A change to the value already in use: nothing done, no change recorded.
    Unchanged(Change),
    /// A change was refused (nothing changed); `why` names the setting.
    Refused {
        change: Change,
        why: String,
    },
    Saved(PathBuf),
    /// A checkpoint replaced the run: its settings are `config`; `history`
    /// is its run's up to it where the checkpoint holds it (the window's
    /// Save) or is a run folder's (see [`run_history`]), or why that could
    /// not be read.
    Loaded {
        path: PathBuf,
        iteration: u64,
        config: Box<Config>,
        history: std::result::Result<Option<Arc<RunHistory>>, String>,
    },
    Reset,
    /// A command or an iteration failed (e.g. divergence); a failed
    /// iteration pauses training, another failure leaves it as it was.
    Failed(String),
    /// The training thread stopped (a panic, e.g. a GPU error): nothing
    /// more will come; long work under way ended with it.
    Ended(String),
}

/// A landscape map of the model of `iteration`.
#[derive(Clone, Debug, PartialEq)]
pub struct LandscapeReport {
    pub iteration: u64,
    /// The settings of the model mapped.
    pub config: Config,
    pub options: LandscapeOptions,
    pub map: Landscape,
    /// What its pictures are drawn over (toy data: the model's U on the
    /// evaluation grid).
    pub backdrop: Backdrop,
    /// Its options' warnings for the model ([`LandscapeOptions::coarse_pulls`]).
    pub option_warnings: Vec<String>,
}

pub struct Session {
    commands: Sender<Command>,
    updates: Receiver<Update>,
    thread: Option<JoinHandle<()>>,
    jobs: LongWork,
    evaluations: Evaluations,
}

/// How a front end stops long work on the training thread (long runs,
/// landscape maps) between two of its submissions. Such commands are
/// numbered 1, 2, … as they are sent, and again as the worker takes them
/// (the channel keeps their order); a stop covers every job sent before it
/// ([`Session::stop_work`]), queued ones included, and none sent after it.
/// Ending the session stops them all.
#[derive(Clone, Default)]
struct LongWork {
    sent: Arc<AtomicU64>,
    /// Jobs up to this number stop.
    stop_upto: Arc<AtomicU64>,
}

/// How a front end stops an evaluation of the toy densities between two
/// slices of its short run: [`Session::stop_evaluation`] of its number
/// (the worker numbers them 1, 2, … as it begins them, and says so in
/// [`Update::Evaluating`]: a stop aimed at one is never taken by the
/// next), or a command that would wait for it, queued
/// ([`Command::stops_evaluation`]). Ending the session stops them all.
#[derive(Clone, Default)]
struct Evaluations {
    /// Evaluations up to this number stop.
    stop_upto: Arc<AtomicU64>,
    /// Commands sent that stop an evaluation: while the worker has taken
    /// fewer, one is queued behind the evaluation under way.
    stopping_sent: Arc<AtomicU64>,
}

impl Evaluations {
    /// Whether a command that stops an evaluation is queued, of those
    /// sent, the worker having taken `taken`.
    fn stopping_queued(&self, taken: u64) -> bool {
        self.stopping_sent.load(Ordering::SeqCst) > taken
    }
}

/// The stop check of one long job, called between its submissions.
struct StopCheck {
    job: u64,
    stop_upto: Arc<AtomicU64>,
    what: &'static str,
}

impl StopCheck {
    fn check(&self) -> Result<()> {
        if self.stop_upto.load(Ordering::Relaxed) >= self.job {
            Err(Error::Stopped(self.what.into()))
        } else {
            Ok(())
        }
    }
}

impl Session {
    /// Build the trainer here (so a bad config or data set is reported to the
    /// caller), then hand it to the training thread, paused.
    pub fn start(gpu: Arc<Gpu>, config: Config) -> Result<Self> {
        let trainer = Trainer::new(gpu.clone(), config.clone())?;
        Self::serve(gpu, config, trainer)
    }

    /// As [`Session::start`], on `data` already read from `config.data`.
    pub fn start_on(gpu: Arc<Gpu>, config: Config, data: crate::data::Dataset) -> Result<Self> {
        let trainer = Trainer::with_data(gpu.clone(), config.clone(), data)?;
        Self::serve(gpu, config, trainer)
    }

    /// Hand `trainer` to the training thread, paused.
    fn serve(gpu: Arc<Gpu>, config: Config, trainer: Trainer) -> Result<Self> {
        let data = trainer.data.clone();
        let (commands, command_rx) = channel();
        let (update_tx, updates) = channel();
        let jobs = LongWork::default();
        let jobs_stop_upto = jobs.stop_upto.clone();
        let evaluations = Evaluations::default();
        let worker_evaluations = evaluations.clone();
        let thread = std::thread::Builder::new()
            .name("ebmscope trainer".into())
            .spawn(move || {
                let ended = update_tx.clone();
                let mut worker = Worker {
                    jobs_stop_upto,
                    jobs_taken: 0,
                    evaluations: worker_evaluations,
                    evaluations_begun: 0,
                    stopping_taken: 0,
                    gpu,
                    config,
                    data,
                    trainer,
                    running: false,
                    record_path: false,
                    picture: None,
                    rows: PictureSource::Chains,
                    saved: HashSet::new(),
                    history: Vec::new(),
                    change_rows: Vec::new(),
                    toy_history: Vec::new(),
                    last_evaluation: None,
                    updates: update_tx,
                };
                // A panic (wgpu reports device errors so) ends the thread: say so.
                let served =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| worker.serve(command_rx)));
                if let Err(panic) = served {
                    let why = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_else(|| "a panic".into());
                    let _ = ended.send(Update::Ended(why));
                }
            })
            .map_err(|e| Error::Config(format!("could not start the training thread: {e}")))?;
        Ok(Session {
            commands,
            updates,
            thread: Some(thread),
            jobs,
            evaluations,
        })
    }

    /// Stop the long run or landscape map under way, if any, after its
    /// current submission, and any sent after it and not yet begun: each is
    /// answered by [`Update::WorkEnded`]; training goes on as it was
    /// (running or paused).
    pub fn stop_work(&self) {
        let sent = self.jobs.sent.load(Ordering::Relaxed);
        self.jobs.stop_upto.fetch_max(sent, Ordering::Relaxed);
    }

    /// Stop evaluation `number` of the toy densities (that of its
    /// [`Update::Evaluating`]) within a slice or two of its short run, or
    /// at its first if it has not begun: it is answered by
    /// [`Update::ToyRefused`] and nothing is kept of it. (Pause, Reset,
    /// Load and Open stop one too: [`Command::stops_evaluation`].)
    pub fn stop_evaluation(&self, number: u64) {
        self.evaluations.stop_upto.fetch_max(number, Ordering::SeqCst);
    }

    pub fn send(&self, command: Command) {
        if command.is_long_work() {
            self.jobs.sent.fetch_add(1, Ordering::Relaxed);
        }
        if command.stops_evaluation() {
            self.evaluations.stopping_sent.fetch_add(1, Ordering::SeqCst);
        }
        // A closed channel means the thread has ended; `updates` says why.
        let _ = self.commands.send(command);
    }

    /// Every update available now, without waiting.
    pub fn drain(&self) -> Vec<Update> {
        self.updates.try_iter().collect()
    }

    /// The next update, waiting at most `timeout`.
    pub fn next(&self, timeout: Duration) -> Option<Update> {
        self.updates.recv_timeout(timeout).ok()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Closing the command channel ends the thread after its current
        // iteration, or its long work's current submission, or its
        // evaluation's current slice or two.
        self.jobs.stop_upto.store(u64::MAX, Ordering::Relaxed);
        self.evaluations.stop_upto.store(u64::MAX, Ordering::SeqCst);
        let (closed, _) = channel();
        drop(std::mem::replace(&mut self.commands, closed));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Worker {
    /// Long work up to this number stops ([`LongWork`]).
    jobs_stop_upto: Arc<AtomicU64>,
    /// Long-work commands taken so far (the number of the last).
    jobs_taken: u64,
    evaluations: Evaluations,
    /// Evaluations begun so far (the number of the last).
    evaluations_begun: u64,
    /// Commands taken that stop an evaluation ([`Evaluations::stopping_sent`]).
    stopping_taken: u64,
    gpu: Arc<Gpu>,
    /// The data settings `data` was loaded from.
    config: Config,
    data: Dataset,
    trainer: Trainer,
    running: bool,
    /// Kept across a reset or a load, which make a new trainer.
    record_path: bool,
    /// The picture kept up to date, rebuilt with the trainer.
    picture: Option<Picture>,
    /// What is read back after each iteration while there is no picture
    /// (Command::ShowRows).
    rows: PictureSource,
    /// The checkpoints this window saved: Save may write over these.
    saved: HashSet<PathBuf>,
    /// The run's iterations so far, their wall times the run's, and its
    /// changes (iteration, from, to): what Save keeps in the checkpoint, so
    /// that a Load shows the curves and the divergence watch goes on.
    /// Complete from iteration 1 unless a checkpoint without its history
    /// was loaded (then Save keeps none).
    history: Vec<IterationEvent>,
    change_rows: Vec<(u64, Change, Change)>,
    /// Its toy data's evaluations, in the same way (those of a loaded
    /// checkpoint's run included).
    toy_history: Vec<ToyRow>,
    /// The last evaluation, while the model is as it was then: answered
    /// again to an EvaluateToy (the window asks as it sees an iteration
    /// the trainer may have evaluated unasked already).
    last_evaluation: Option<(u64, Arc<ToyMetrics>)>,
    updates: Sender<Update>,
}

/// A GPU picture of some of the trainer's rows.
struct Picture {
    source: PictureSource,
    grid: ImageGrid,
    /// Its texture went to the front end ([`Update::Picture`]); not before
    /// the rows hold images (a new or loaded run's data batch, say: until
    /// its first iteration).
    sent: bool,
}

impl Worker {
    fn send(&self, u: Update) {
        let _ = self.updates.send(u);
    }

    fn serve(&mut self, commands: Receiver<Command>) {
        loop {
            // While running, look for commands between iterations; else wait for one.
            let command = if self.running {
                match commands.try_recv() {
                    Ok(c) => Some(c),
                    Err(std::sync::mpsc::TryRecvError::Empty) => None,
                    Err(std::sync::mpsc::TryRecvError::Disconnected) => return,
                }
            } else {
                match commands.recv_timeout(Duration::from_secs(3600)) {
                    Ok(c) => Some(c),
                    Err(RecvTimeoutError::Timeout) => continue,
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            };
            match command {
                Some(c) => self.handle(c),
                None => self.iterate(),
            }
        }
    }

    fn set_running(&mut self, running: bool) {
        if self.running != running {
            self.running = running;
            self.send(Update::Running(running));
        }
    }

    fn iterate(&mut self) {
        if self.trainer.iteration >= self.trainer.config.iterations {
            self.set_running(false);
            return;
        }
        if let Err(e) = self.step() {
            self.set_running(false);
            self.send(Update::Failed(e.to_string()));
        }
    }

    /// One iteration, reported with the chains it left (in the picture, or
    /// read back when there is none); none where a Pause, Reset or load
    /// queued behind a new run's start stopped its evaluation.
    fn step(&mut self) -> Result<()> {
        let toy = self.trainer.data.toy().is_some();
        // A new run's starting point, as `train` evaluates it before its
        // first iteration: the TV curve starts where a `train` run's does.
        if toy && self.trainer.iteration == 0 && !self.toy_history.iter().any(|r| r.iteration == 0) {
            self.evaluate_toy();
            // Stopped by a Pause, Reset or load behind it: that comes
            // first, at the start (a later Run evaluates the start again).
            if self.evaluations.stopping_queued(self.stopping_taken) {
                return Ok(());
            }
        }
        let e = self.trainer.step()?;
        self.history.push(self.trainer.run_event(&e));
        // Submitted before the updates go out, so whoever reads the texture
        // after them (on the same queue) sees this iteration.
        if let Some(p) = &self.picture {
            p.grid.update(&self.gpu);
        }
        self.send(Update::Iteration(e));
        self.send_picture();
        if self.picture.is_none() {
            // A blocking readback: only when no GPU picture is kept.
            self.send_rows()?;
        }
        if let Some(path) = &self.trainer.energy_path {
            self.send(Update::EnergyPath {
                iteration: e.iteration,
                chains: self.trainer.config.batch.chains as usize,
                energies: Arc::new(path.clone()),
            });
        }
        // As `train` evaluates toy data, at its picture iterations: the
        // window's TV curve, and a Save's, has the points a `train` run's has.
        if toy
            && e.iteration
                .is_multiple_of(self.trainer.config.output.picture_every)
        {
            self.evaluate_toy();
        }
        Ok(())
    }

    /// Evaluate the toy densities of the model as it is now, kept in the
    /// run's rows and answered by [`Update::Toy`] (or refused); a model
    /// evaluated already, unchanged since, is answered with that evaluation.
    fn evaluate_toy(&mut self) {
        let iteration = self.trainer.iteration;
        if let Some((at, metrics)) = &self.last_evaluation
            && *at == iteration
        {
            let metrics = metrics.clone();
            return self.send(Update::Toy { iteration, metrics });
        }
        self.evaluations_begun += 1;
        let number = self.evaluations_begun;
        let (evaluations, taken) = (&self.evaluations, self.stopping_taken);
        let (trainer, updates) = (&self.trainer, &self.updates);
        let _ = updates.send(Update::Evaluating {
            number,
            what: evaluation_text(trainer, None),
        });
        let evaluated = evaluate_toy_watched(trainer, &mut |done, steps| {
            let stop =
                evaluations.stop_upto.load(Ordering::SeqCst) >= number || evaluations.stopping_queued(taken);
            if !stop {
                let what = evaluation_text(trainer, Some((done, steps)));
                let _ = updates.send(Update::Evaluating { number, what });
            }
            !stop
        });
        match evaluated {
            Ok(m) => {
                ToyRow::record(&mut self.toy_history, ToyRow::of(iteration, &m));
                let metrics = Arc::new(m);
                self.last_evaluation = Some((iteration, metrics.clone()));
                self.send(Update::Toy { iteration, metrics })
            }
            Err(e) => self.send(Update::ToyRefused {
                iteration,
                why: e.to_string(),
            }),
        }
    }

    /// The rows Command::ShowRows chose, where the trainer holds them.
    fn send_rows(&mut self) -> Result<()> {
        let source = self.rows;
        // (A new run's X⁻ and X⁺ are empty until its first iteration: not sent.)
        if !self.trainer.holds(source) {
            return Ok(());
        }
        if source == PictureSource::Chains {
            return self.send_chains();
        }
        let Some((rows, count)) = self.trainer.picture_rows(source) else {
            return Ok(());
        };
        let dim = self.trainer.data.chw().iter().product::<usize>();
        let states = self.gpu.read_f32(rows, 0, count.min(PICTURE_IMAGES) * dim)?;
        self.send(Update::Rows {
            source,
            iteration: self.trainer.iteration,
            states: Arc::new(states),
        });
        Ok(())
    }

    fn send_chains(&mut self) -> Result<()> {
        let states = Arc::new(self.trainer.chains()?);
        self.send(Update::Chains {
            iteration: self.trainer.iteration,
            states,
        });
        Ok(())
    }

    fn handle(&mut self, command: Command) {
        if command.stops_evaluation() {
            self.stopping_taken += 1;
        }
        // A failed iteration stops the run (going on would fail again); a
        // failed save, load or picture leaves it as it was.
        let iteration = matches!(command, Command::Step);
        let outcome = match command {
            Command::Run => {
                self.set_running(true);
                Ok(())
            }
            Command::RunOn => {
                // (Worked out here, not by the window: a Load sent before
                // it may have changed both numbers.)
                let (done, total) = (self.trainer.iteration, self.trainer.config.iterations);
                if done >= total {
                    self.trainer.config.iterations = run_on_total(done, total);
                    self.send(Update::Iterations(self.trainer.config.iterations));
                }
                self.set_running(true);
                Ok(())
            }
            Command::Pause => {
                self.set_running(false);
                Ok(())
            }
            Command::Step => self.step(),
            Command::Apply(change) => {
                let from = Change::now(change.key(), &self.trainer.config, self.trainer.lr)
                    .expect("a change's key is one of Change::KEYS");
                // (An Apply of the field as it stands would otherwise
                // mark every plot with a change that changed nothing.)
                let applied = if from == change {
                    Ok(false)
                } else {
                    self.trainer.apply(change).map(|()| true)
                };
                match applied {
                    Ok(false) => self.send(Update::Unchanged(change)),
                    Ok(true) => {
                        // (ε and L change what an evaluation finds; any change, to be plain.)
                        self.last_evaluation = None;
                        self.change_rows.push((self.trainer.iteration, from, change));
                        self.send(Update::Applied {
                            iteration: self.trainer.iteration,
                            change,
                        })
                    }
                    Err(e) => self.send(Update::Refused {
                        change,
                        why: e.to_string(),
                    }),
                }
                Ok(())
            }
            Command::SavedBefore(paths) => {
                self.saved.extend(paths);
                Ok(())
            }
            Command::Save(path) => {
                // (The default, runs/…, need not exist yet.)
                let folder = path.parent().filter(|f| !f.as_os_str().is_empty());
                let saved = self.check_save_path(&path).and_then(|()| {
                    let mut ck = Checkpoint::capture(&self.trainer)?;
                    // (A history missing its start, after a load of a
                    // checkpoint without one, is not kept; nor one past
                    // SavedHistory::MAX_BYTES, some 600 000 iterations.)
                    if self.history.len() as u64 == ck.iteration {
                        let history = SavedHistory {
                            metrics: metrics_text(&self.history),
                            changes: changes_text(&self.change_rows),
                            toy: (!self.toy_history.is_empty()).then(|| toy_metrics_text(&self.toy_history)),
                        };
                        let toy = history.toy.as_ref().map_or(0, String::len);
                        if history.metrics.len() + history.changes.len() + toy < SavedHistory::MAX_BYTES {
                            ck.history = Some(history);
                        }
                    }
                    folder.map_or(Ok(()), |f| {
                        std::fs::create_dir_all(f).map_err(|e| Error::io(f, e))
                    })?;
                    ck.save(&path)
                });
                saved.map(|()| {
                    self.saved.insert(path.clone());
                    self.send(Update::Saved(path));
                })
            }
            Command::Load(path) => self.load(path, false),
            Command::Open(path) => self.load(path, true),
            Command::Reset => {
                let config = self.trainer.config.clone();
                Trainer::with_data(self.gpu.clone(), config, self.data.clone())
                    .and_then(|mut t| t.record_energy_path(self.record_path).map(|()| t))
                    .map(|t| {
                        self.trainer = t;
                        self.history.clear();
                        self.change_rows.clear();
                        self.toy_history.clear();
                        self.last_evaluation = None;
                        // Bound to the old trainer's buffers: the window asks again.
                        self.picture = None;
                        self.send(Update::Reset);
                    })
            }
            Command::ShowRows(source) => {
                self.picture = None;
                self.rows = source;
                match self.trainer.picture_rows(source) {
                    Some(_) => self.send_rows(),
                    None => Err(no_bank(source)),
                }
            }
            Command::ShowPicture(source) => {
                let stopped = self.picture.take().is_some();
                match source {
                    Some(source) => self.show_picture(source),
                    None if stopped && self.trainer.has_chains() => self.send_chains(),
                    None => Ok(()),
                }
            }
            Command::EvaluateToy => {
                self.evaluate_toy();
                Ok(())
            }
            Command::LongRun(ask) => {
                return self.long_work("the long run", |w, stop| w.long_run(ask, stop));
            }
            Command::Landscape(options) => {
                return self.long_work("the landscape map", |w, stop| w.landscape(options, stop));
            }
            Command::RecordEnergyPath(on) => {
                // (Kept only once it holds: Reset and Load record it again.)
                let recorded = self.trainer.record_energy_path(on);
                if recorded.is_ok() {
                    self.record_path = on;
                }
                recorded
            }
        };
        if let Err(e) = outcome {
            if iteration {
                self.set_running(false);
            }
            self.send(Update::Failed(e.to_string()));
        }
    }

    /// Save writes a new file, a window checkpoint (a checkpoint named
    /// NAME-window.safetensors, as the window names them) or one it saved
    /// itself: never over another file, a training run's checkpoint or
    /// weights alone so named, say.
    fn check_save_path(&self, path: &Path) -> Result<()> {
        if path.as_os_str().is_empty() {
            return Err(Error::Config("type a checkpoint file path first".into()));
        }
        if path.is_dir() {
            return Err(Error::file(path, "is a folder: give a file path in it"));
        }
        let a_windows = path
            .file_name()
            .is_some_and(|s| s.to_string_lossy().ends_with("-window.safetensors"))
            && crate::io::is_checkpoint(path);
        if path.exists() && !a_windows && !self.saved.contains(path) {
            return Err(Error::file(
                path,
                "exists, and is not a checkpoint this window saved: choose another name (the \
                 window's own end in -window.safetensors), or remove that file first",
            ));
        }
        Ok(())
    }

    /// Load `path`; `on_session_data`: on the session's image data
    /// (Command::Open).
    fn load(&mut self, path: PathBuf, on_session_data: bool) -> Result<()> {
        if path.as_os_str().is_empty() {
            return Err(Error::Config("type a checkpoint file path first".into()));
        }
        // Weights alone (a state dict) take their run's settings as they
        // were then, where they are a run's, else the window's; the run
        // starts from them (net.init_weights: Reset goes back to them). As
        // the window opens on them, the window's are theirs already (the
        // command line resolved them).
        let mut ck = if crate::io::holds_weights_alone(&path) {
            let mut config = match super::run::settings_at_weights(&path)? {
                Some((config, _)) if !on_session_data => config,
                _ => self.config.clone(),
            };
            config.net.init_weights = crate::config::absolute_path(&path)?;
            Checkpoint::from_weights(&path, config)?
        } else {
            Checkpoint::load(&path)?
        };
        let images = !ck.config.data.kind.is_toy() && !self.config.data.kind.is_toy();
        if moved_here(&ck.config.data, &self.config.data) || (on_session_data && images) {
            // (Where the images are, and their format: the rest is the run's.)
            ck.config.data.path = self.config.data.path.clone();
            ck.config.data.kind = self.config.data.kind;
        }
        let data = if ck.config.data == self.config.data {
            self.data.clone()
        } else {
            crate::data::Dataset::load(&ck.config.data)?
        };
        let mut trainer = Trainer::for_restore(self.gpu.clone(), ck.config.clone(), data, &ck)?;
        ck.restore(&mut trainer)?;
        trainer.record_energy_path(self.record_path)?;
        let history = if ck.weights_alone {
            Ok(None)
        } else {
            // (Its curves are the window's to show: nothing to do but say why not.)
            run_history(&path, &ck, "its curves are not shown").map_err(|e| e.to_string())
        };
        if let Ok(Some(h)) = &history {
            // The divergence watch goes on from the run's d_st, as a resume's does.
            trainer.set_history(
                h.events.iter().map(|e| e.d_st).collect(),
                h.events.iter().map(|e| e.r_t).collect(),
                h.watch_rescales.clone(),
                h.events.last().map_or(0.0, |e| e.wall_time),
            );
        }
        self.last_evaluation = None;
        (self.history, self.change_rows, self.toy_history) = match &history {
            Ok(Some(h)) => (
                h.events.clone(),
                h.changes.clone(),
                h.toy.clone().unwrap_or_default(),
            ),
            _ => (Vec::new(), Vec::new(), Vec::new()),
        };
        self.data = trainer.data.clone();
        self.config = ck.config.clone();
        self.trainer = trainer;
        // Bound to the old trainer's buffers: the window asks again.
        self.picture = None;
        self.send(Update::Loaded {
            path,
            iteration: ck.iteration,
            config: Box::new(ck.config.clone()),
            history: history.map(|h| h.map(Arc::new)),
        });
        // The chains the checkpoint left (older checkpoints have none).
        if self.trainer.has_chains() {
            self.send_chains()?;
        }
        Ok(())
    }

    /// Bind a picture of `source` to the trainer's buffers, fill it now and
    /// hand its texture to the front end.
    fn show_picture(&mut self, source: PictureSource) -> Result<()> {
        let (rows, count) = self.trainer.picture_rows(source).ok_or_else(|| no_bank(source))?;
        let layout = GridLayout::new(count.min(PICTURE_IMAGES), self.trainer.data.chw())?;
        let grid = ImageGrid::new(&self.gpu, &format!("{source:?} picture"), rows, layout)?;
        grid.update(&self.gpu);
        self.picture = Some(Picture {
            source,
            grid,
            sent: false,
        });
        self.send_picture();
        Ok(())
    }

    /// Send the picture's texture, once, when its rows hold images (the
    /// window shows none meanwhile).
    fn send_picture(&mut self) {
        let Some(p) = self
            .picture
            .as_mut()
            .filter(|p| !p.sent && self.trainer.holds(p.source))
        else {
            return;
        };
        p.sent = true;
        let update = Update::Picture {
            source: p.source,
            texture: p.grid.texture().clone(),
            size: [p.grid.layout.width, p.grid.layout.height],
        };
        self.send(update);
    }

    /// A long run or a landscape map: training waits for it. Stopped or
    /// failed, it says so ([`Update::WorkEnded`]) and training goes on as it
    /// was: the model is untouched.
    fn long_work(&mut self, what: &'static str, work: impl FnOnce(&mut Self, &StopCheck) -> Result<()>) {
        self.jobs_taken += 1;
        let stop = StopCheck {
            job: self.jobs_taken,
            stop_upto: self.jobs_stop_upto.clone(),
            what,
        };
        if let Err(e) = stop.check().and_then(|()| work(self, &stop)) {
            let why = match e {
                Error::Stopped(_) => e.to_string(),
                e => format!("{what} failed: {e}"),
            };
            self.send(Update::WorkEnded(why));
        }
    }

    fn long_run(&mut self, ask: LongRunAsk, stop: &StopCheck) -> Result<()> {
        use super::longrun::{LongRunOptions, long_run};
        let c = &self.trainer.config.eval;
        let opts = LongRunOptions {
            steps: ask.steps,
            chains: (c.longrun_chains as usize).clamp(1, PICTURE_IMAGES),
            from: super::longrun::ChainStart::Fresh(c.longrun_init),
            mala: ask.mala,
            temp_factor: ask.temp_factor,
            epsilon: None,
            every: (ask.steps / 10).max(1),
            data_noise: true,
        };
        // Refused as the window refuses it, and a bank too small for the
        // chains named by the run's settings, not as `sample`'s --init and
        // --chains (its check's words, which a bare command would meet).
        ask.check(&self.trainer.config, ["steps", "T ×"])?;
        if let (super::longrun::LongRunInit::Bank, Some(bank)) = (c.longrun_init, self.trainer.bank()) {
            let whose = format!("the window's long runs (at most {PICTURE_IMAGES} chains)");
            super::check_bank_holds(&whose, opts.chains, bank.size)?;
        }
        let ck = Checkpoint::capture(&self.trainer)?;
        let (tx, iteration) = (self.updates.clone(), self.trainer.iteration);
        let made_with = opts.made_with(&ck, &self.gpu);
        let score = self
            .data
            .toy()
            .map(|toy| crate::data::toy::KdeScore::new(toy, c, opts.chains));
        long_run(
            &self.gpu,
            &ck,
            Some(&self.data),
            &opts,
            |row, states| {
                let _ = tx.send(Update::LongRun {
                    iteration,
                    ask,
                    row: *row,
                    tv: score.as_ref().map(|score| score.score(states).1),
                    states: Arc::new(states.to_vec()),
                    made_with: made_with.clone(),
                });
                Ok(())
            },
            &mut |_, _, _| stop.check(),
        )
        .map(|_| ())
    }

    fn landscape(&mut self, options: LandscapeOptions, stop: &StopCheck) -> Result<()> {
        let ck = Checkpoint::capture(&self.trainer)?;
        let tx = self.updates.clone();
        let map = super::landscape::landscape(
            &self.gpu,
            &ck,
            Some(&self.data),
            &options,
            &mut |stage, done, total| {
                let _ = tx.send(Update::LandscapeProgress {
                    stage: stage.to_string(),
                    done,
                    total,
                });
                stop.check()
            },
        )?;
        let backdrop = Backdrop::of_checkpoint(&self.gpu, &ck)?;
        let option_warnings = options.coarse_pulls(&ck)?;
        self.send(Update::Landscape(Arc::new(LandscapeReport {
            iteration: self.trainer.iteration,
            config: self.trainer.config.clone(),
            options,
            map,
            backdrop,
            option_warnings,
        })));
        Ok(())
    }
}
