//! The live window (`ebmscope gui`): the trainer runs on its own thread
//! ([`crate::train::session`]); the window drains its updates each frame,
//! draws, and sends commands back. It shares one wgpu device with the
//! trainer (eframe's wgpu renderer is handed ebmscope's device).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use eframe::egui;
use egui_plot::{Bar, BarChart, HLine, Legend, Line, Plot, PlotImage, PlotPoint, Points, VLine};

mod overlay;

use overlay::OVERLAY_COLOR;
pub use overlay::{FOLLOW_LABEL, Overlay, OverlayPanel};

use crate::config::InitKind;
use crate::config::{Config, OptimizerName, short, spelling};
use crate::data::toy::KdeTv;
use crate::data::toy::Toy;
use crate::diagnostics::{Correlations, Oscillation, PENDULUM_HINT, Phase};
use crate::gpu::Gpu;
use crate::io::check_out_folder;
use crate::kernels::picture::GridLayout;
use crate::train::landscape::{
    Backdrop, LANDSCAPE_MARKER, LANDSCAPE_OUTPUTS, LANDSCAPE_SETTINGS, LandscapeOptions, MapModel,
    alpha_label, save_landscape,
};
use crate::train::longrun::{ChainStart, ChainsMadeWith, LongRunRow, SavedChains, check_temp_factor};
use crate::train::run::{MetricsRow, ToyRow};
use crate::train::session::{
    Command, LandscapeReport, LongRunAsk, PICTURE_IMAGES, Session, Update, run_on_total,
};
use crate::train::{
    Change, IterationEvent, PictureSource, ToyMetrics, TrainingRate, change_consequence, net_spec,
};
use crate::{Error, Result};

/// How many times --frames a capture of a running image net waits for its
/// first picture before it is taken without one.
const PICTURE_WAIT: u64 = 20;

/// What `--frames N --screenshot FILE` asks for: render N frames (and with
/// `--run` on images, until the chains' first picture shows), save the
/// window as PNG, exit.
#[derive(Clone, Debug, Default)]
pub struct Capture {
    pub frames: u64,
    pub screenshot: Option<PathBuf>,
    /// Start training at once (for captures of a running window).
    pub run: bool,
    /// The views to open on.
    pub toy_view: Option<ToyView>,
    pub plots_view: Option<PlotsView>,
    pub picture: Option<PictureSource>,
    /// Open the densities on their log scale (the *log scale* box ticked).
    pub log_scale: bool,
    /// Open d_st's plot fitted to the whole run (the box "d_st fitted to
    /// the run's later half" unticked).
    pub whole_d_st: bool,
    /// Open the landscape panel and map the model at once with these
    /// options; a screenshot then waits for the map.
    pub landscape: Option<LandscapeOptions>,
    /// Open the long-run panel and start this long run at once; a
    /// screenshot then waits for its end.
    pub long_run: Option<LongRunAsk>,
    /// The preset the run came from and the `key=value` overrides put over
    /// it (`--set`, `--data`): what "Start over" offers first. None: the
    /// run's own settings (a `--config` file's or a checkpoint's).
    pub preset: Option<String>,
    pub overrides: Vec<String>,
    /// Another run's folder or checkpoint to draw behind this run's plots,
    /// and whether to follow it (read it again as it changes).
    pub overlay: Option<PathBuf>,
    pub overlay_follow: bool,
}

/// What the left view shows for toy data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ToyView {
    /// The chains' particles over data points.
    Particles,
    /// True density, learned exp(−U) and the KDE of the samples (short-run,
    /// or the persistent chains) on the grid, particles drawn over each.
    Densities,
}

/// Which plots the right view shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PlotsView {
    /// d_st, r_t, mean energies, learning rate over the iterations.
    Learning,
    /// Autocorrelations of d_st and r_t and their cross-correlation.
    Correlations,
    /// Each chain's energy along its Langevin path in the last iteration.
    LangevinPath,
}

/// What the chains view shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChainsPanel {
    /// The training chains (toy: particles or densities; images: a picture).
    Chains,
    /// A long run from the current model.
    LongRun,
    /// A map of the current model's landscape: minima and basins.
    Landscape,
}

/// Basins listed in the landscape panel's table (the picture shows them all).
const LANDSCAPE_TABLE_ROWS: usize = 12;

/// Seconds of the trainer's clock the status line's rate is taken over.
const RATE_SECONDS: f64 = 10.0;

/// Iterations between two density evaluations while the densities show.
const DENSITY_EVERY: u64 = 10;

/// Whether the densities view asks for an evaluation at iteration `it`,
/// the last (or a refused or stopped one) at `last`: every
/// [`DENSITY_EVERY`] iterations while running; paused, at each iteration.
fn densities_due(last: Option<u64>, it: u64, running: bool) -> bool {
    last.is_none_or(|at| at + DENSITY_EVERY <= it || (!running && at != it))
}

/// The status line from a click on an evaluation's Stop until its answer.
const STOPPING_EVALUATION: &str = "stopping the evaluation …";

/// Points a learning curve draws at most: a long run's history (100 000
/// iterations and more, a loaded run's included) drawn whole every frame
/// would slow the window to a crawl (see [`crate::plot::thinned`]).
const MAX_PLOT_POINTS: usize = 4000;

/// The learning plots' lines where a setting changed, and their names.
const CHANGE_COLOR: egui::Color32 = egui::Color32::from_rgb(200, 120, 0);

/// A phase's colour ([`Phase::rgb`]), for egui.
fn phase_colour(phase: Phase) -> egui::Color32 {
    let [r, g, b] = phase.rgb();
    egui::Color32::from_rgb(r, g, b)
}

/// r_t's colour, its curve's and its autocorrelation's (as the PNG's, in gold).
const R_T_COLOR: egui::Color32 = egui::Color32::from_rgb(210, 190, 90);

/// The TV curves' colour (toy data), green as none of the other curves.
const TV_COLOR: egui::Color32 = egui::Color32::from_rgb(60, 170, 60);

/// The entry of "Start over"'s preset list that starts from the settings
/// the window runs now (a `--config` file's, a checkpoint's, those changed
/// in the window) rather than from a preset.
pub const THIS_RUN: &str = "this run's settings";

/// "Start over with": a preset (or [`THIS_RUN`]) and `--set`-style overrides, checked as the
/// CLI checks them; the new session is built off the UI thread (loading a
/// data set can take seconds).
#[derive(Default)]
pub struct StartOver {
    pub preset: String,
    /// One KEY=VALUE per line.
    pub overrides: String,
    pub error: Option<String>,
    /// The new run's session being started, and the preset it was asked
    /// with (the choice may change while it starts).
    pending: Option<(String, Starting)>,
}

/// The thread that starts a new run's session.
type Starting = std::thread::JoinHandle<Result<(Config, Session)>>;

/// Where a long run from the model of `iteration` has got to: its chains
/// as last reported, and every report's row with, for toy data, the TV
/// of the chains' KDE to q.
#[derive(Clone, Debug)]
pub struct LongRunReport {
    pub iteration: u64,
    pub ask: LongRunAsk,
    pub states: Arc<Vec<f32>>,
    pub made_with: ChainsMadeWith,
    /// Every report of this run so far (never empty), the latest last.
    pub trace: Vec<(LongRunRow, Option<KdeTv>)>,
}

impl LongRunReport {
    /// The latest report's row.
    pub fn row(&self) -> LongRunRow {
        self.latest().0
    }

    /// The latest report's TV (toy data).
    pub fn tv(&self) -> Option<KdeTv> {
        self.latest().1
    }

    fn latest(&self) -> (LongRunRow, Option<KdeTv>) {
        *self.trace.last().expect("a report holds its own row")
    }
}

/// One editable setting: its text and, when the trainer refused it, why.
struct Field {
    label: &'static str,
    text: String,
    error: Option<String>,
    /// The text last sent, until the trainer answers: an answer replaces
    /// the text only if nobody has typed since.
    sent: Option<String>,
}

const EPSILON: usize = 0;
const TAU: usize = 1;
const STEPS: usize = 2;
const LR: usize = 3;

/// The window's state. `show` draws it into any `Ui`, so the tests drive
/// it headlessly; [`run`] puts it in a native window.
pub struct GuiApp {
    session: Session,
    gpu: Arc<Gpu>,
    pub start_over: StartOver,
    pub adapter: String,
    cpu_adapter: bool,
    config: Config,
    chw: [usize; 3],
    /// 2-D data points for the toy chains view.
    toy_data: Vec<[f64; 2]>,
    /// The run's iteration (a loaded checkpoint's before any step).
    iteration: u64,
    pub history: Vec<IterationEvent>,
    /// The learning plots' curves of `history` (drawn every frame, made
    /// when it changes).
    curves: std::cell::RefCell<LearningCurves>,
    /// How many events at the start of `history` are a loaded run's past
    /// (from its metrics.csv, on the run's clock): plotted, not timed.
    pub past_events: usize,
    /// Where in `history` the latest stretch of running began: the rate is
    /// timed from there, not across the pause before it.
    timed_from: usize,
    /// Since the run was made, loaded or reset (a new trainer, on a clock
    /// of its own), for the report at exit.
    pub training_rate: TrainingRate,
    /// Settings changed during the run: (iterations before it, what).
    pub changes: Vec<(u64, Change)>,
    chains: Option<(u64, Arc<Vec<f32>>)>,
    chains_texture: Option<(u64, egui::TextureHandle)>,
    /// Without the GPU picture (no wgpu renderer, as on GL): the data batch
    /// or bank rows last read back (Update::Rows), and the source asked for.
    pub rows: Option<(PictureSource, u64, Arc<Vec<f32>>)>,
    rows_requested: Option<PictureSource>,
    pub toy_view: ToyView,
    pub plots_view: PlotsView,
    /// eframe's wgpu renderer, when there is one: image pictures are then
    /// GPU textures the training thread fills (see `Command::ShowPicture`);
    /// without one (headless tests) the chains are uploaded from the CPU.
    pub renderer: Option<eframe::egui_wgpu::RenderState>,
    pub picture_source: PictureSource,
    picture_requested: Option<PictureSource>,
    /// The registered texture of the last `Update::Picture`, and its size.
    pub picture: Option<(PictureSource, egui::TextureId, [usize; 2])>,
    /// The last toy densities, and their three textures (true, learned, KDE).
    pub toy_metrics: Option<(u64, Arc<ToyMetrics>)>,
    /// Every evaluation of this run's toy densities (the trainer's, at the
    /// start and after each `output.picture_every`th iteration, and the densities view's;
    /// a loaded checkpoint's run's before), for the TV plot.
    pub toy_history: Vec<ToyRow>,
    /// The iteration whose densities were refused (or whose evaluation
    /// was stopped): not asked again there.
    toy_refused_at: Option<u64>,
    density_textures: Option<(u64, bool, [egui::TextureHandle; 3])>,
    /// A density evaluation was asked for and has not come back yet.
    toy_pending: bool,
    /// The number and words of an evaluation (asked for or not) that has
    /// not come back yet, as the trainer said them, for the status line
    /// and its Stop.
    pub evaluating: Option<(u64, String)>,
    /// The training thread has stopped (Update::Ended): nothing sent to it
    /// is answered, so the controls that wait for answers are off.
    ended: bool,
    pub panel: ChainsPanel,
    /// Steps and temperature factor of the next long run (text as typed),
    /// and whether it is MALA's.
    long_run_steps: String,
    long_run_temp: String,
    long_run_mala: bool,
    /// The last long-run report.
    pub long_run: Option<LongRunReport>,
    /// A long run was asked for and has not ended (its Stop button shows).
    pub long_run_pending: bool,
    /// Why the last long run or map ended before its end (failed or
    /// stopped), as the status line said.
    pub work_cut_short: Option<String>,
    /// The long run's picture, and the step it shows (a run's reports
    /// differ in step, and a new run starts at step 0).
    long_run_texture: Option<(u64, egui::TextureHandle)>,
    /// Where "Save the chains" writes the long run's (text as typed), and
    /// whether it was typed: if not, each report names its own file.
    pub chains_file: String,
    chains_file_typed: bool,
    /// The next map's starts, α and temperature factor (text as typed),
    /// and the chains file its descents start from (empty: from data).
    landscape_starts: String,
    pub landscape_from: String,
    landscape_alpha: String,
    landscape_temp: String,
    /// Where "Save the map" writes (text as typed).
    pub landscape_folder: String,
    /// A map being written off the UI thread (its pictures take a while):
    /// what to say when it is done.
    map_saving: Option<std::thread::JoinHandle<String>>,
    /// The last landscape map, and its number (its picture's key).
    pub landscape: Option<Arc<LandscapeReport>>,
    /// Which of its α the panel shows (an index into its basins).
    pub landscape_shown: usize,
    landscape_serial: u64,
    /// Where the map being made has got to: (stage, done, total).
    pub landscape_progress: Option<(String, u64, u64)>,
    /// The map's picture: the learned log-density (toy) or the minima by basin.
    landscape_texture: Option<(u64, egui::TextureHandle)>,
    /// The maps' colour scale ([`colour_scale`]), made once.
    colour_scale: Option<egui::TextureHandle>,
    /// The last energy path: (iteration, chains, U as [L + 1, chains]).
    pub energy_path: Option<(u64, usize, Arc<Vec<f32>>)>,
    pub running: bool,
    /// Iterations per second over the last second or so while it ran,
    /// updated as iterations arrive while running (kept when paused: the
    /// gaps between Step presses are not a rate); None before two.
    pub ran_rate: Option<f64>,
    /// GPU memory held on the device (the trainer's, the window's textures,
    /// long work's), and when it was read: refreshed once a second.
    gpu_memory: Option<(Instant, Option<u64>)>,
    fields: [Field; 4],
    /// The optimizer highlighted: the trainer's, or one asked for and not yet
    /// answered.
    pub optimizer: OptimizerName,
    /// Densities on a log scale (else linear; each from its minimum to its maximum).
    pub log_densities: bool,
    /// d_st's y axis fitted to the run's later half where its start would
    /// flatten it (plot::d_st_span; else the plot's own fitting).
    pub fit_recent: bool,
    /// The learning plots forget their bounds at the next frame: another
    /// run's (a Load's, a Reset's) would keep the one before's, since the
    /// d_st fit sets them.
    reset_plots: bool,
    /// Changes sent that the trainer has not yet applied or refused: until
    /// it has, "this run's settings" would miss them.
    unanswered_changes: usize,
    /// The last message for the user (saved, loaded, refused, failed).
    pub message: String,
    /// Another run drawn with this run's plots (the *Overlay* controls).
    pub overlay: OverlayPanel,
    /// Every checkpoint the window saved (any session): Save may write over them.
    saved: Vec<PathBuf>,
    checkpoint: String,
}

/// A map being saved is finished before the window goes (a half-written
/// folder would have its files but not its marker).
impl Drop for GuiApp {
    fn drop(&mut self) {
        if let Some(saving) = self.map_saving.take() {
            let _ = saving.join();
        }
    }
}

impl GuiApp {
    pub fn new(gpu: Arc<Gpu>, config: Config, checkpoint: String) -> Result<Self> {
        let session = Session::start(gpu.clone(), config.clone())?;
        Self::with_session(gpu, config, checkpoint, session)
    }

    /// As [`GuiApp::new`], on `data` already read from `config.data`.
    pub fn on_data(
        gpu: Arc<Gpu>,
        config: Config,
        checkpoint: String,
        data: crate::data::Dataset,
    ) -> Result<Self> {
        let session = Session::start_on(gpu.clone(), config.clone(), data)?;
        Self::with_session(gpu, config, checkpoint, session)
    }

    /// The window's state for a session already started on `config`.
    fn with_session(gpu: Arc<Gpu>, config: Config, checkpoint: String, session: Session) -> Result<Self> {
        let chw = net_spec(&config)?.input;
        let adapter = gpu.describe();
        let cpu_adapter = gpu.is_cpu_adapter();
        Ok(GuiApp {
            session,
            gpu,
            start_over: StartOver {
                preset: THIS_RUN.into(),
                ..Default::default()
            },
            adapter,
            cpu_adapter,
            chw,
            toy_data: toy_points(&config),
            iteration: 0,
            history: Vec::new(),
            curves: Default::default(),
            past_events: 0,
            timed_from: 0,
            training_rate: TrainingRate::default(),
            changes: Vec::new(),
            chains: None,
            chains_texture: None,
            rows: None,
            rows_requested: None,
            toy_view: ToyView::Particles,
            plots_view: PlotsView::Learning,
            renderer: None,
            picture_source: PictureSource::Chains,
            picture_requested: None,
            picture: None,
            toy_metrics: None,
            toy_history: Vec::new(),
            density_textures: None,
            toy_pending: false,
            evaluating: None,
            toy_refused_at: None,
            ended: false,
            energy_path: None,
            panel: ChainsPanel::Chains,
            ran_rate: None,
            gpu_memory: None,
            long_run_steps: config.eval.longrun_steps.to_string(),
            long_run_temp: "1".into(),
            long_run_mala: false,
            long_run: None,
            long_run_pending: false,
            work_cut_short: None,
            long_run_texture: None,
            chains_file: String::new(),
            chains_file_typed: false,
            landscape_starts: LandscapeOptions::default().starts.to_string(),
            landscape_from: String::new(),
            landscape_alpha: LandscapeOptions::default().alphas[0].to_string(),
            landscape_temp: LandscapeOptions::default().temp_factor.to_string(),
            landscape_folder: map_folder_beside(&checkpoint),
            map_saving: None,
            landscape: None,
            landscape_shown: 0,
            landscape_serial: 0,
            landscape_progress: None,
            landscape_texture: None,
            colour_scale: None,
            running: false,
            fields: fields_of(&config),
            optimizer: config.optimizer.kind,
            log_densities: false,
            fit_recent: true,
            reset_plots: false,
            unanswered_changes: 0,
            message: String::new(),
            overlay: OverlayPanel::default(),
            saved: Vec::new(),
            checkpoint,
            config,
        })
    }

    pub fn send(&self, command: Command) {
        self.session.send(command);
    }

    /// Load `path` as the window opens on it (`gui --checkpoint`), and
    /// wait for it: a checkpoint the trainer refuses (given other data,
    /// say) is refused here, on the command line, rather than said in the
    /// status line over the fresh run the window started with. (Sent
    /// first: any failure reported is the load's.)
    pub fn open_checkpoint(&mut self, path: PathBuf) -> Result<()> {
        self.send(Command::Open(path.clone()));
        loop {
            match self.session.next(Duration::from_secs(3600)) {
                Some(Update::Failed(why)) => {
                    return Err(Error::file(&path, format!("not opened: {why}")));
                }
                Some(Update::Ended(why)) => {
                    return Err(Error::file(
                        &path,
                        format!("not opened: the training thread stopped: {why}"),
                    ));
                }
                Some(loaded @ Update::Loaded { .. }) => {
                    self.receive(loaded);
                    return Ok(());
                }
                Some(other) => self.receive(other),
                None => {
                    return Err(Error::file(
                        &path,
                        "not opened: no answer from the training thread",
                    ));
                }
            }
        }
    }

    /// Open the views `capture` names (the command line's `--toy-view`,
    /// `--plots`, `--picture`, `--log-scale`, `--whole-d-st`).
    pub fn open_views(&mut self, capture: &Capture) {
        if let Some(v) = capture.toy_view {
            self.toy_view = v;
        }
        if let Some(v) = capture.plots_view {
            self.set_plots_view(v);
        }
        if let Some(v) = capture.picture {
            self.picture_source = v;
        }
        self.log_densities = capture.log_scale;
        self.fit_recent = !capture.whole_d_st;
    }

    /// Train at once (`gui --run`); a finished run goes on as Run on does
    /// (as many iterations again), not nothing.
    pub fn run_on(&self) {
        self.send(Command::RunOn);
    }

    /// Take in what the training thread reported since the last frame.
    pub fn poll(&mut self) {
        for u in self.session.drain() {
            self.receive(u);
        }
    }

    /// Take in one report of the training thread.
    pub fn receive(&mut self, u: Update) {
        match u {
            Update::Iteration(e) => {
                // (A load or reset came as its own update first: forget_run.)
                self.training_rate.record(&e);
                self.iteration = e.iteration;
                self.history.push(e);
                if self.running {
                    // Over 10 s, so that the pauses between iterations (density
                    // evaluations, pictures) count as they do in the run's pace.
                    let timed = self.timed_from.max(self.past_events);
                    self.ran_rate =
                        TrainingRate::recent(&self.history[timed..], RATE_SECONDS).or(self.ran_rate);
                }
            }
            Update::Chains { iteration, states } => self.chains = Some((iteration, states)),
            Update::Rows {
                source,
                iteration,
                states,
            } => self.rows = Some((source, iteration, states)),
            Update::Evaluating { number, what } => {
                self.evaluating = Some((number, what));
                self.toy_pending = true;
            }
            Update::Toy { iteration, metrics } => {
                self.evaluating = None;
                if self.message == STOPPING_EVALUATION {
                    // (Whole before the stop was seen: kept.)
                    self.message.clear();
                }
                // (As the trainer keeps it, for its Save.)
                ToyRow::record(&mut self.toy_history, ToyRow::of(iteration, &metrics));
                self.toy_metrics = Some((iteration, metrics));
                self.toy_pending = false;
            }
            Update::ToyRefused { iteration, why } => {
                self.evaluating = None;
                self.toy_refused_at = Some(iteration);
                self.toy_pending = false;
                self.message = format!("densities: {why}");
                eprintln!("{}", self.message);
            }
            Update::Picture {
                source,
                texture,
                size,
            } => {
                if let Some(rs) = &self.renderer {
                    let view = texture.create_view(&Default::default());
                    let mut renderer = rs.renderer.write();
                    if let Some((_, old, _)) = self.picture.take() {
                        renderer.free_texture(&old);
                    }
                    let id = renderer.register_native_texture(&rs.device, &view, wgpu::FilterMode::Nearest);
                    self.picture = Some((source, id, size));
                }
            }
            Update::EnergyPath {
                iteration,
                chains,
                energies,
            } => self.energy_path = Some((iteration, chains, energies)),
            Update::LongRun {
                iteration,
                ask,
                row,
                tv,
                states,
                made_with,
            } => {
                let (steps, step, acceptance) = (ask.steps, row.step, row.acceptance);
                // A new report: its picture is rebuilt even at the step the last
                // run's ended on (a picture is keyed by step alone).
                self.long_run_texture = None;
                self.long_run_pending &= step < steps;
                if step == steps {
                    // (Its start said that training waits for it.)
                    self.message = format!(
                        "long run of {steps} steps ({}{}) from iteration {iteration} done: training goes \
                         on as it was",
                        ask.sampler_text(),
                        acceptance.map_or(String::new(), |a| format!(", acceptance {a:.3}"))
                    );
                }
                if !self.chains_file_typed {
                    self.chains_file = chains_file_beside(&self.checkpoint, iteration, &ask, step);
                }
                // (Steps only go on within a run: a first report starts a trace.)
                let mut trace = match self.long_run.take() {
                    Some(last)
                        if (last.iteration, last.ask) == (iteration, ask) && last.row().step < step =>
                    {
                        last.trace
                    }
                    _ => Vec::new(),
                };
                trace.push((row, tv));
                self.long_run = Some(LongRunReport {
                    iteration,
                    ask,
                    states,
                    made_with,
                    trace,
                });
            }
            Update::LandscapeProgress { stage, done, total } => {
                self.landscape_progress = Some((stage, done, total));
            }
            Update::Landscape(report) => {
                self.message = format!("landscape mapped: {}", report.map.title(&report.options));
                self.landscape = Some(report);
                self.landscape_shown = 0;
                self.landscape_serial += 1;
                self.landscape_progress = None;
            }
            Update::WorkEnded(why) => {
                self.work_cut_short = Some(why.clone());
                self.message = why;
                self.long_run_pending = false;
                self.landscape_progress = None;
            }
            Update::Running(r) => {
                if r && !self.running {
                    self.timed_from = self.history.len();
                }
                self.running = r;
            }
            Update::Iterations(n) => self.config.iterations = n,
            Update::Applied { iteration, change } => {
                self.unanswered_changes = self.unanswered_changes.saturating_sub(1);
                let before = self.config.clone();
                // What the status and "this run's settings" go by.
                change.set_in(&mut self.config);
                if let Change::Optimizer(kind) = change {
                    self.optimizer = kind;
                }
                self.changes.push((iteration, change));
                // (Stopped or refused before the change: the view may ask again.)
                self.toy_refused_at = None;
                self.message = format!(
                    "{change} from iteration {}{}",
                    iteration + 1,
                    change_consequence(&before, &self.config)
                );
                if let Some(i) = self.field_of(change) {
                    // What the trainer now uses (a Load between the sending
                    // and this answer reset the field to the checkpoint's),
                    // unless something was typed since.
                    let applied = fields_of(&self.config)[i].text.clone();
                    let f = &mut self.fields[i];
                    if f.sent.as_ref().is_none_or(|sent| *sent == f.text) {
                        f.text = applied;
                    }
                    f.sent = None;
                    f.error = None;
                }
            }
            Update::Unchanged(change) => {
                self.unanswered_changes = self.unanswered_changes.saturating_sub(1);
                if let Some(i) = self.field_of(change) {
                    let f = &mut self.fields[i];
                    f.sent = None;
                    f.error = None;
                }
                self.message = format!("{change} is already in use: nothing changed");
            }
            Update::Refused { change, why } => {
                self.unanswered_changes = self.unanswered_changes.saturating_sub(1);
                if let Some(i) = self.field_of(change) {
                    self.fields[i].error = Some(why.clone());
                }
                if let Change::Optimizer(_) = change {
                    // The trainer keeps its optimizer: so does the highlight.
                    self.optimizer = self.config.optimizer.kind;
                }
                self.message = format!("refused: {why}");
            }
            Update::Saved(p) => {
                self.message = format!("checkpoint saved to {}", p.display());
                self.saved.push(p);
            }
            Update::Loaded {
                path,
                iteration,
                config,
                history,
            } => {
                self.message = format!("loaded {} (iteration {iteration})", path.display());
                // (The checkpoint may be another run's.)
                self.forget_run(iteration);
                match history {
                    Ok(Some(h)) => {
                        self.history = h.events.clone();
                        self.past_events = self.history.len();
                        self.changes = h.changes.iter().map(|&(at, _, to)| (at, to)).collect();
                        self.message += " with its run's history";
                        match &h.toy {
                            Ok(rows) => self.toy_history = rows.clone(),
                            Err(why) => self.message += &format!("; its evaluations are not shown: {why}"),
                        }
                    }
                    Ok(None) => {}
                    Err(why) => self.message += &format!("; its run's history is not shown: {why}"),
                }
                // Its settings are what the fields show and what the status counts by.
                let chw = net_spec(&config).map_or(self.chw, |spec| spec.input);
                if chw != self.chw {
                    // (Chains of the old shape would be refused by name: not offered.)
                    self.landscape_from.clear();
                }
                self.chw = chw;
                self.toy_data = toy_points(&config);
                self.fields = fields_of(&config);
                self.optimizer = config.optimizer.kind;
                self.long_run_steps = config.eval.longrun_steps.to_string();
                // Saved beside it, never over it (it may be a training run's).
                self.checkpoint = window_checkpoint_beside(&path).display().to_string();
                self.landscape_folder = map_folder_beside(&self.checkpoint);
                self.chains_file_typed = false;
                self.config = *config;
            }
            Update::Reset => {
                self.forget_run(0);
                // (Iterations count again from 0: file names from them too.)
                self.chains_file_typed = false;
                self.message = "started over".into();
            }
            Update::Ended(why) => {
                self.ended = true;
                self.running = false;
                self.unanswered_changes = 0;
                self.toy_pending = false;
                self.evaluating = None;
                self.message = format!("the training thread stopped ({why}): Start over to go on");
                // (Long work under way ends with it, cut short.)
                if self.long_run_pending || self.landscape_progress.is_some() {
                    self.work_cut_short = Some(self.message.clone());
                }
                self.long_run_pending = false;
                self.landscape_progress = None;
                eprintln!("{}", self.message);
            }
            Update::Failed(why) => {
                // (Long work reports its own end, by WorkEnded; an
                // evaluation of the densities, by Toy or ToyRefused.)
                self.message = format!("failed: {why}");
                if why.starts_with("learning diverged") {
                    // The model holds the diverged step: going on would fail again.
                    self.message += " Here: apply a smaller lr or ε and press Reset, or Load a checkpoint.";
                }
                // The status line may be too narrow for all of it.
                eprintln!("{}", self.message);
            }
        }
    }

    /// Drop the curves, setting marks and pictures of the run so far: the
    /// trainer now holds another, at `iteration`.
    fn forget_run(&mut self, iteration: u64) {
        self.iteration = iteration;
        self.history.clear();
        self.past_events = 0;
        self.timed_from = 0;
        self.training_rate = TrainingRate::default();
        self.ran_rate = None;
        self.changes.clear();
        self.reset_plots = true;
        self.chains = None;
        self.chains_texture = None;
        self.rows = None;
        self.rows_requested = None;
        self.toy_metrics = None;
        self.toy_history.clear();
        self.toy_refused_at = None;
        self.density_textures = None;
        self.energy_path = None;
        self.long_run = None;
        self.long_run_texture = None;
        self.landscape = None;
        self.landscape_texture = None;
        // The trainer dropped its picture with its old buffers: ask again.
        self.drop_picture();
        self.picture_requested = None;
    }

    /// Free the registered texture of the picture shown, if any.
    fn drop_picture(&mut self) {
        if let (Some(rs), Some((_, id, _))) = (&self.renderer, self.picture.take()) {
            rs.renderer.write().free_texture(&id);
        }
    }

    fn field_of(&self, change: Change) -> Option<usize> {
        match change {
            Change::Epsilon(_) => Some(EPSILON),
            Change::Tau(_) => Some(TAU),
            Change::Steps(_) => Some(STEPS),
            Change::LearningRate(_) => Some(LR),
            Change::Optimizer(_) => None,
        }
    }

    /// Ask the trainer for `change` (it answers Applied or Refused).
    fn apply(&mut self, change: Change) {
        if self.ended {
            // (No answer would come: Start over.)
            return;
        }
        self.unanswered_changes += 1;
        self.send(Command::Apply(change));
    }

    /// Parse field `i` and send it; text that is not a number is refused here.
    fn apply_field(&mut self, i: usize) {
        let text = self.fields[i].text.trim().to_string();
        let parsed: std::result::Result<Change, String> = match i {
            STEPS => text
                .parse::<u32>()
                .map(Change::Steps)
                .map_err(|_| format!("`{text}` is not a whole number of steps")),
            _ => text
                .parse::<f64>()
                .map_err(|_| format!("`{text}` is not a number"))
                .map(|v| match i {
                    EPSILON => Change::Epsilon(v),
                    TAU => Change::Tau(v),
                    _ => Change::LearningRate(v),
                }),
        };
        match parsed {
            Ok(change) => {
                self.fields[i].sent = Some(self.fields[i].text.clone());
                self.apply(change);
            }
            Err(why) => self.fields[i].error = Some(why),
        }
    }

    /// Draw the whole window into `ui`.
    pub fn show(&mut self, ui: &mut egui::Ui) {
        self.finish_start_over();
        self.finish_map_save();
        if self.overlay.update(ui.ctx()) {
            // (Fitted to both runs: the bounds of this run's alone would
            // cut a longer overlay off.)
            self.reset_plots = true;
        }
        self.poll();
        egui::Panel::top("controls").show(ui, |ui| self.controls(ui));
        egui::Panel::bottom("status").show(ui, |ui| self.status(ui));
        egui::Panel::left("settings").show(ui, |ui| self.settings(ui));
        egui::CentralPanel::default().show(ui, |ui| {
            ui.columns(2, |cols| {
                self.chains_view(&mut cols[0]);
                self.plots(&mut cols[1]);
            });
        });
        if self.running {
            ui.ctx().request_repaint_after(Duration::from_millis(30));
        } else {
            ui.ctx().request_repaint_after(Duration::from_millis(200));
        }
    }

    fn controls(&mut self, ui: &mut egui::Ui) {
        // (Start over, in the settings panel, stays: it is the way on.)
        let ended = self.ended;
        ui.add_enabled_ui(!ended, |ui| self.training_controls(ui));
    }

    fn training_controls(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            if self.running {
                if ui.button("Pause").clicked() {
                    self.send(Command::Pause);
                }
            } else if self.iteration >= self.config.iterations {
                // Done: as many iterations again (a run opened from its
                // checkpoint goes on from there).
                let total = self.config.iterations;
                let to = run_on_total(self.iteration, total);
                let hover = format!("all {total} iterations are done: go on to {to} (Pause stops sooner)");
                if ui.button("Run on").on_hover_text(hover).clicked() {
                    self.send(Command::RunOn);
                }
            } else if ui.button("Run").clicked() {
                self.send(Command::Run);
            }
            if ui.add_enabled(!self.running, egui::Button::new("Step")).clicked() {
                self.send(Command::Step);
            }
            if ui.button("Reset").clicked() {
                self.send(Command::Reset);
            }
            ui.separator();
            let label = ui.label("checkpoint");
            // Wide enough for the whole path (a cut one hides which file is meant).
            ui.add(
                egui::TextEdit::singleline(&mut self.checkpoint)
                    .desired_width(260.0)
                    .clip_text(false),
            )
            .labelled_by(label.id);
            // (Not while a new run starts: the session they would go to is ending.)
            let settled = self.start_over.pending.is_none();
            if ui
                .add_enabled(settled, egui::Button::new("Save checkpoint"))
                .clicked()
            {
                self.send(Command::Save(PathBuf::from(self.checkpoint.trim())));
            }
            if ui
                .add_enabled(settled, egui::Button::new("Load checkpoint"))
                .clicked()
            {
                self.send(Command::Load(PathBuf::from(self.checkpoint.trim())));
            }
        });
    }

    fn settings(&mut self, ui: &mut egui::Ui) {
        ui.heading("Settings");
        ui.label("Take effect at the next iteration.");
        // (Off once the training thread has stopped: nothing would answer.)
        let ended = self.ended;
        ui.add_enabled_ui(!ended, |ui| self.setting_fields(ui));
        ui.separator();
        let c = &self.config;
        // An image set by its folder and file ("fashion-mnist/train-images-…"):
        // the format alone ("idx") does not say which set it is.
        let path = std::path::Path::new(&c.data.path);
        let named = path.file_name().map(|file| {
            let folder = path.parent().and_then(|p| p.file_name());
            let shown = folder.map_or(PathBuf::from(file), |f| PathBuf::from(f).join(file));
            format!(" ({})", shown.display())
        });
        ui.label(format!(
            "{} data{}, {} net\n{} data + {} chains, init {}",
            spelling(&c.data.kind),
            named.unwrap_or_default(),
            spelling(&c.net.kind),
            c.batch.data,
            c.batch.chains,
            spelling(&c.langevin.init)
        ));
        ui.separator();
        ui.heading("Start over");
        let so = &mut self.start_over;
        // The label above the box: beside it, long preset names squeeze it.
        let label = ui.label("preset");
        egui::ComboBox::from_id_salt("start-over preset")
            .selected_text(so.preset.as_str())
            .show_ui(ui, |ui| {
                for name in std::iter::once(THIS_RUN).chain(Config::preset_names()) {
                    ui.selectable_value(&mut so.preset, name.to_string(), name);
                }
            })
            .response
            .labelled_by(label.id);
        let label = ui.label("overrides, KEY=VALUE per line (as --set)");
        ui.add(
            egui::TextEdit::multiline(&mut so.overrides)
                .desired_rows(3)
                .desired_width(180.0)
                .hint_text("langevin.steps=20"),
        )
        .labelled_by(label.id);
        let waiting = so.preset == THIS_RUN && self.unanswered_changes > 0;
        if so.pending.is_some() {
            ui.label("starting …");
        } else if ui
            .add_enabled(!waiting, egui::Button::new("Start over with these"))
            .on_disabled_hover_text("waiting for the trainer to apply the last change (between iterations)")
            .clicked()
        {
            self.begin_start_over();
        }
        if let Some(err) = &self.start_over.error {
            ui.colored_label(ui.visuals().error_fg_color, err);
        }
        ui.separator();
        if self.overlay.controls(ui) {
            self.reset_plots = true;
        }
    }

    /// The fields of ε, τ, L and lr with their Apply buttons, and the optimizer.
    fn setting_fields(&mut self, ui: &mut egui::Ui) {
        for i in 0..self.fields.len() {
            ui.horizontal(|ui| {
                let label = ui.label(self.fields[i].label);
                let edit = ui
                    .add(egui::TextEdit::singleline(&mut self.fields[i].text).desired_width(80.0))
                    .labelled_by(label.id);
                let enter = edit.lost_focus() && ui.input(|inp| inp.key_pressed(egui::Key::Enter));
                if ui.button(format!("Apply {}", self.fields[i].label)).clicked() || enter {
                    self.apply_field(i);
                }
            });
            if let Some(err) = &self.fields[i].error {
                ui.colored_label(ui.visuals().error_fg_color, err);
            }
            // A decaying rate moves away from the one set (the field's).
            let ran_at = self.history.last().map(|e| e.lr);
            if let Some(lr) = ran_at.filter(|&lr| i == LR && lr != self.config.optimizer.lr) {
                ui.label(format!("last iteration's: {lr:.4e}"));
            }
        }
        ui.horizontal(|ui| {
            ui.label("optimizer");
            for kind in [OptimizerName::Sgd, OptimizerName::Adam] {
                let name = kind.to_string();
                if ui.selectable_label(self.optimizer == kind, name).clicked() && self.optimizer != kind {
                    self.optimizer = kind;
                    self.apply(Change::Optimizer(kind));
                }
            }
        });
    }

    /// Check the preset and overrides; if they make a valid run, start its
    /// session on another thread (see [`GuiApp::finish_start_over`]).
    fn begin_start_over(&mut self) {
        let so = &mut self.start_over;
        let sets: Vec<String> = so
            .overrides
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect();
        let resolved = if so.preset == THIS_RUN {
            Config::resolve(None, Some((THIS_RUN, &self.config.to_toml())), &sets)
        } else {
            Config::resolve(Some(so.preset.as_str()), None, &sets)
        };
        // (A data path typed here is kept absolute, as the launch's: what
        // the window saves finds its data from any folder.)
        let checked = resolved
            .and_then(|mut c| c.make_paths_absolute().map(|()| c))
            .and_then(|c| c.check_toy_grid().map(|()| c))
            .and_then(|c| net_spec(&c).map(|_| c));
        match checked {
            Err(e) => so.error = Some(e.to_string()),
            Ok(config) => {
                so.error = None;
                let gpu = self.gpu.clone();
                let thread = std::thread::spawn(move || {
                    let session = Session::start(gpu, config.clone())?;
                    Ok((config, session))
                });
                so.pending = Some((so.preset.clone(), thread));
            }
        }
    }

    /// When the new session is ready: replace this one, keeping the views.
    fn finish_start_over(&mut self) {
        if !self
            .start_over
            .pending
            .as_ref()
            .is_some_and(|(_, p)| p.is_finished())
        {
            return;
        }
        let Some((preset, handle)) = self.start_over.pending.take() else {
            return;
        };
        let started = handle
            .join()
            .unwrap_or_else(|_| Err(Error::Config("starting the new run panicked".into())));
        // This run's settings go on saving where this run does.
        let checkpoint = match preset.as_str() {
            THIS_RUN => self.checkpoint.clone(),
            preset => window_checkpoint(preset),
        };
        // What the old session has said (a save's answer, say) first.
        self.poll();
        let fresh = started
            .and_then(|(config, session)| Self::with_session(self.gpu.clone(), config, checkpoint, session));
        match fresh {
            Err(e) => self.start_over.error = Some(e.to_string()),
            Ok(mut fresh) => {
                self.drop_picture();
                fresh.renderer = self.renderer.take();
                fresh.toy_view = self.toy_view;
                fresh.set_plots_view(self.plots_view);
                fresh.picture_source = self.picture_source;
                fresh.log_densities = self.log_densities;
                fresh.fit_recent = self.fit_recent;
                // (The run before may be the very one to set the new one beside.)
                fresh.overlay = std::mem::take(&mut self.overlay);
                fresh.start_over = std::mem::take(&mut self.start_over);
                // A map being saved goes on; Save stays disabled until it is done.
                fresh.map_saving = self.map_saving.take();
                fresh.message = format!("started over: {preset}");
                fresh.saved = std::mem::take(&mut self.saved);
                if !fresh.saved.is_empty() {
                    fresh.send(Command::SavedBefore(fresh.saved.clone()));
                }
                let old = std::mem::replace(self, fresh);
                // The old session ends after its current iteration: not on the UI thread.
                std::thread::spawn(move || drop(old));
            }
        }
    }

    fn status(&mut self, ui: &mut egui::Ui) {
        let steps = self.history.last().map_or(0, |e| e.steps);
        // Stopped, the rate is the one it stopped at (0 would read as stuck).
        let rate = self.ran_rate.map(|rate| {
            let langevin = rate * f64::from(steps) * f64::from(self.config.batch.chains);
            let when = if self.running { "" } else { " when it last ran" };
            format!("{rate:.2} it/s, {langevin:.0} Langevin steps×chains/s{when}")
        });
        ui.horizontal_wrapped(|ui| {
            ui.label(format!("adapter: {}", self.adapter));
            if self.cpu_adapter {
                ui.colored_label(ui.visuals().warn_fg_color, "CPU (software) adapter: slow");
            }
            if self
                .gpu_memory
                .is_none_or(|(read, _)| read.elapsed() > Duration::from_secs(1))
            {
                self.gpu_memory = Some((Instant::now(), self.gpu.allocated_bytes_now()));
            }
            if let Some((_, Some(bytes))) = self.gpu_memory {
                ui.label(format!("GPU memory {:.1} MiB", Gpu::mib(bytes)))
                    .on_hover_text(
                        "held on the device by training, long work and the window's pictures \
                         (uploads in flight included), read once a second",
                    );
            }
            ui.separator();
            let it = self.iteration;
            ui.label(format!("iteration {it}"));
            // (Whole, onto the next line where the line is full: not split
            // mid-phrase into "when it" / "last ran".)
            if let Some(rate) = rate {
                ui.add(egui::Label::new(rate).extend());
            }
            ui.separator();
            let total = self.config.iterations;
            ui.label(if self.running {
                "running".to_string()
            } else if it > total {
                // (Step goes on past the run's end, as Run on does.)
                format!("paused, {} past the run's {total} iterations", it - total)
            } else if it == total {
                format!("done: all {total} iterations")
            } else {
                "paused".to_string()
            });
            if let Some((number, what)) = &self.evaluating {
                ui.separator();
                ui.label(what);
                let stop = ui
                    .button("Stop")
                    .on_hover_text("stop this evaluation: it is not kept (Pause stops it too)");
                if stop.clicked() {
                    self.session.stop_evaluation(*number);
                    self.message = STOPPING_EVALUATION.into();
                }
            }
            if !self.message.is_empty() {
                ui.separator();
                ui.label(&self.message);
            }
        });
    }

    /// Whether the run learns 2-D toy data (its net's input is a point).
    fn is_toy(&self) -> bool {
        self.chw == [2, 1, 1]
    }

    /// Whether the chains panel has the chains to show: a toy's always
    /// (its plots say when there are none yet); images, once their first
    /// picture came (the GPU texture, or with no wgpu renderer, as on GL,
    /// the rows read back; as chains_view draws them).
    pub fn has_chains_to_show(&self) -> bool {
        let toy = self.is_toy();
        toy || match (&self.renderer, self.picture_source) {
            (Some(_), _) => self.picture.is_some(),
            (None, PictureSource::Chains) => self.chains.is_some(),
            (None, source) => self.rows.as_ref().is_some_and(|(s, ..)| *s == source),
        }
    }

    fn chains_view(&mut self, ui: &mut egui::Ui) {
        let toy = self.is_toy();
        ui.horizontal(|ui| {
            let chains = self.panel == ChainsPanel::Chains;
            ui.heading(match (self.panel, toy, self.picture_source) {
                (ChainsPanel::LongRun, _, _) => "Long run",
                (ChainsPanel::Landscape, _, _) => "Landscape",
                (_, false, PictureSource::Data) => "Data X⁺",
                (_, false, PictureSource::Bank) => "Bank",
                _ => "Chains X⁻",
            });
            if toy {
                for (view, name) in [
                    (ToyView::Particles, "Particles"),
                    (ToyView::Densities, "Densities"),
                ] {
                    if ui
                        .selectable_label(chains && self.toy_view == view, name)
                        .clicked()
                    {
                        (self.toy_view, self.panel) = (view, ChainsPanel::Chains);
                    }
                }
            } else if !chains && ui.button("back to the chains").clicked() {
                self.panel = ChainsPanel::Chains;
            }
            for (panel, name) in [
                (ChainsPanel::LongRun, "Long run"),
                (ChainsPanel::Landscape, "Landscape"),
            ] {
                let on = self.panel == panel;
                if ui.selectable_label(on, name).clicked() {
                    self.panel = if on { ChainsPanel::Chains } else { panel };
                }
            }
        });
        match self.panel {
            ChainsPanel::LongRun => return self.long_run_view(ui),
            ChainsPanel::Landscape => return self.landscape_view(ui),
            ChainsPanel::Chains => {}
        }
        // The GPU picture needs no chains on the CPU (the session sends
        // none while it shows them).
        if !toy && self.renderer.is_some() {
            self.picture_view(ui);
            return;
        }
        if !toy {
            self.rows_view(ui);
            return;
        }
        let Some((iteration, states)) = self.chains.clone() else {
            ui.label("No chains yet: press Run or Step.");
            return;
        };
        let chains = points(&states);
        match self.toy_view {
            ToyView::Particles => self.particles(
                ui,
                "chains",
                format!("X⁻, iteration {iteration}"),
                chains,
                egui::Color32::RED,
            ),
            ToyView::Densities => self.densities(ui, &chains),
        }
    }

    /// The row choosing what the image picture shows; `at`: the iteration
    /// of the picture shown, once there is one.
    fn picture_source_row(&mut self, ui: &mut egui::Ui, at: Option<u64>) {
        ui.horizontal(|ui| {
            ui.label("show");
            ui.selectable_value(&mut self.picture_source, PictureSource::Chains, "chains X⁻");
            ui.selectable_value(&mut self.picture_source, PictureSource::Data, "data X⁺");
            if self.config.langevin.init == InitKind::Persistent {
                ui.selectable_value(&mut self.picture_source, PictureSource::Bank, "bank");
            } else if self.picture_source == PictureSource::Bank {
                // A run loaded or started over without a bank: nothing to show there.
                self.picture_source = PictureSource::Chains;
            }
            if let Some(at) = at {
                ui.label(format!("iteration {at}"));
            }
        });
    }

    /// Chains, data batch or bank read back to the CPU, where the window
    /// has no wgpu renderer to show the GPU's picture (as on GL).
    fn rows_view(&mut self, ui: &mut egui::Ui) {
        let source = self.picture_source;
        let shown = match source {
            PictureSource::Chains => self.chains.clone(),
            _ => self
                .rows
                .clone()
                .filter(|(s, ..)| *s == source)
                .map(|(_, at, states)| (at, states)),
        };
        self.picture_source_row(ui, shown.as_ref().map(|(at, _)| *at));
        if self.rows_requested != Some(self.picture_source) {
            self.send(Command::ShowRows(self.picture_source));
            self.rows_requested = Some(self.picture_source);
        }
        let Some((iteration, states)) = shown else {
            ui.label("No picture yet: it comes with the next iteration (Run or Step).");
            return;
        };
        // (Redrawn for another iteration or source.)
        let key = 3 * iteration + source as u64;
        let texture = grid_texture(
            ui.ctx(),
            &mut self.chains_texture,
            "chains",
            key,
            &states,
            self.chw,
        );
        square_image(ui, &texture);
    }

    /// Toy particles `xy` (named `name`) over the data points; those past
    /// the view ([`particle_view`]) drawn at its edge, hollow; those not
    /// finite not drawn, and counted.
    fn particles(&self, ui: &mut egui::Ui, id: &str, name: String, xy: Vec<[f64; 2]>, color: egui::Color32) {
        let view = particle_view(&self.toy_data, &xy);
        let Particles {
            inside,
            past,
            not_finite,
        } = Particles::split(xy, &view);
        let name = if not_finite > 0 {
            format!("{name} ({not_finite} not finite, not drawn)")
        } else {
            name
        };
        Plot::new(id)
            .data_aspect(1.0)
            .legend(Legend::default())
            .x_grid_spacer(egui_plot::uniform_grid_spacer(x_steps))
            .y_grid_spacer(egui_plot::uniform_grid_spacer(y_steps))
            // (egui_plot's own labels round 0.5 to "0": steps of 2 and 5 need these.)
            .x_axis_formatter(|mark, _| tick_label(mark))
            .y_axis_formatter(|mark, _| tick_label(mark))
            .show(ui, |p| {
                p.points(
                    Points::new("data", self.toy_data.clone())
                        .color(egui::Color32::GRAY)
                        .radius(1.5),
                );
                p.points(Points::new(name, inside).color(color).radius(2.5));
                if !past.is_empty() {
                    p.points(
                        Points::new(format!("{} past the view, at its edge", past.len()), past)
                            // (A stable id: the count in the name changes.)
                            .id("past the view")
                            .color(color)
                            .filled(false)
                            .radius(4.0),
                    );
                }
            });
    }

    /// A long run from the current model: where many more steps than
    /// training's L take the chains (PAPER.md, "Long-run samples").
    fn long_run_view(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            for (name, text, width) in [
                ("steps", &mut self.long_run_steps, 70.0),
                ("T ×", &mut self.long_run_temp, 48.0),
            ] {
                let label = ui.label(name);
                ui.add(egui::TextEdit::singleline(text).desired_width(width))
                    .labelled_by(label.id);
            }
            ui.checkbox(&mut self.long_run_mala, "MALA");
            if ui
                .add_enabled(!self.long_work_pending(), egui::Button::new("Start the long run"))
                .clicked()
            {
                match self.long_run_ask() {
                    Ok(ask) => self.start_long_run(ask),
                    Err(why) => self.message = why,
                }
            }
            if self.long_run_pending && ui.button("Stop").clicked() {
                self.session.stop_work();
                self.message = "stopping the long run …".into();
            }
        });
        let Some(report) = self.long_run.clone() else {
            ui.label("From the model as it is now, with the run's eval.longrun_init start.");
            return;
        };
        let (row, tv) = (report.row(), report.tv());
        let LongRunReport {
            iteration,
            ask,
            ref states,
            ref trace,
            ..
        } = report;
        let step = row.step;
        ui.label(format!(
            "model of iteration {iteration}, {}: step {step} of {}, mean U {:.4}{}{}",
            ask.sampler_text(),
            ask.steps,
            row.mean_energy,
            row.acceptance
                .map_or(String::new(), |a| format!(", acceptance {a:.3}")),
            tv.map_or(String::new(), |tv| format!("\nTV(samples, q) {tv}"))
        ));
        let mut save = false;
        ui.horizontal(|ui| {
            save = ui.button("Save the chains").clicked();
            let label = ui.label("chains file");
            let typed = path_field(ui, &mut self.chains_file, "")
                .labelled_by(label.id)
                .changed();
            if typed {
                // (Emptied: the next report names its file again.)
                self.chains_file_typed = !self.chains_file.trim().is_empty();
            }
        });
        if save {
            self.save_chains(&report);
        }
        long_run_trace(ui, trace);
        if self.is_toy() {
            let orange = egui::Color32::from_rgb(230, 150, 20);
            self.particles(
                ui,
                "long run",
                format!("long run, step {step}"),
                points(states),
                orange,
            );
            return;
        }
        let texture = grid_texture(
            ui.ctx(),
            &mut self.long_run_texture,
            "long run",
            step,
            states,
            self.chw,
        );
        square_image(ui, &texture);
    }

    /// The next long run as the fields ask it, or what is wrong with them.
    fn long_run_ask(&self) -> std::result::Result<LongRunAsk, String> {
        let steps = self.long_run_steps.trim();
        let steps = steps
            .parse::<u64>()
            .map_err(|_| format!("steps: `{steps}` is not a whole number"))?;
        let temp = self.long_run_temp.trim();
        let temp_factor = temp
            .parse::<f64>()
            .map_err(|_| format!("T ×: `{temp}` is not a number"))?;
        let ask = LongRunAsk {
            steps,
            mala: self.long_run_mala,
            temp_factor,
        };
        // (As the run would refuse it, named by the window's fields.)
        ask.check(&self.config, ["steps", "T ×"]).map_err(field_said)?;
        Ok(ask)
    }

    /// Write the long run's chains, as they are in `report`, to the file
    /// typed, as `sample` keeps its own: `sample --from-chains` goes on
    /// from them and the landscape panel maps from them (its "from chains"
    /// takes the file). A file there already is kept, and the save refused.
    fn save_chains(&mut self, report: &LongRunReport) {
        let file = PathBuf::from(self.chains_file.trim());
        let written = if file.as_os_str().is_empty() {
            Err("type a file for the chains".to_string())
        } else if file.symlink_metadata().is_ok() {
            Err(format!(
                "{} exists already: type another file for the chains (it is kept)",
                file.display()
            ))
        } else {
            let folder = file.parent().filter(|f| !f.as_os_str().is_empty());
            folder
                .map_or(Ok(()), |f| {
                    std::fs::create_dir_all(f).map_err(|e| Error::io(f, e))
                })
                .and_then(|()| {
                    crate::train::longrun::write_chains(
                        &file,
                        self.chw,
                        &report.states,
                        report.row().step,
                        &report.made_with,
                    )
                })
                .map_err(|e| format!("the chains were not saved: {e}"))
        };
        self.message = match written {
            Ok(()) => {
                self.landscape_from = file.display().to_string();
                // (The map takes at most the file's chains.)
                let count = report.states.len() / self.chw.iter().product::<usize>();
                if self
                    .landscape_starts
                    .trim()
                    .parse::<usize>()
                    .map_or(true, |s| s > count)
                {
                    self.landscape_starts = count.min(LandscapeOptions::default().starts).to_string();
                }
                // (A new report names its own file again.)
                self.chains_file_typed = false;
                format!(
                    "chains of the model of iteration {} at step {} saved in {}: the landscape panel \
                     maps from them, and `ebmscope sample --from-chains FILE{}` goes on from them",
                    report.iteration,
                    report.row().step,
                    file.display(),
                    report.ask.sample_options()
                )
            }
            Err(why) => why,
        };
    }

    /// Whether a long run or a landscape map may not start now: one has
    /// been asked for and has not ended (one at a time, so that Stop is for
    /// the one under way), or the training thread has stopped.
    fn long_work_pending(&self) -> bool {
        self.ended || self.long_run_pending || self.landscape_progress.is_some()
    }

    pub fn start_long_run(&mut self, ask: LongRunAsk) {
        self.work_cut_short = None;
        self.message = format!("long run of {} steps: training waits for it", ask.steps);
        self.long_run_pending = true;
        self.send(Command::LongRun(ask));
    }

    pub fn start_landscape(&mut self, options: LandscapeOptions) {
        self.work_cut_short = None;
        self.message = "mapping the landscape: training waits for it".into();
        self.landscape_progress = Some(("starting".into(), 0, 1));
        self.send(Command::Landscape(options));
    }

    /// Write the map as `ebmscope landscape` does (CSVs and pictures) into
    /// the folder typed, which must not hold a landscape already.
    /// Refuse the folder at once, or write the map there on a thread of
    /// its own (`finish_map_save` reports it).
    fn save_map(&mut self, report: Arc<LandscapeReport>) {
        let out = PathBuf::from(self.landscape_folder.trim());
        if out.as_os_str().is_empty() {
            self.message = "type a folder for the map".into();
        } else if let Err(e) = crate::train::run::refuse_run_folder(&out, LANDSCAPE_OUTPUTS.what, "folder")
            .and_then(|()| check_out_folder(&out, &LANDSCAPE_OUTPUTS, false, "", "folder"))
        {
            self.message = e.to_string();
        } else {
            self.message = format!("saving the map in {} …", out.display());
            self.map_saving = Some(std::thread::spawn(move || {
                let model = MapModel {
                    file: None,
                    iteration: Some(report.iteration),
                    settings: report.config.clone(),
                };
                match save_landscape(
                    &out,
                    false,
                    &report.map,
                    &report.options,
                    &model,
                    &report.backdrop,
                ) {
                    Ok(pictures) => format!(
                        "map saved in {}: {LANDSCAPE_MARKER}, attempts.csv, {LANDSCAPE_SETTINGS} and {} picture(s)",
                        out.display(),
                        pictures.len()
                    ),
                    Err(e) => format!("the map was not saved: {e}"),
                }
            }));
        }
    }

    fn finish_map_save(&mut self) {
        if self.map_saving.as_ref().is_some_and(|h| h.is_finished())
            && let Some(handle) = self.map_saving.take()
        {
            self.message = handle
                .join()
                .unwrap_or_else(|_| "the map was not saved: its writing panicked".into());
        }
    }

    /// The next map's options from the fields, or what is wrong with them.
    fn landscape_options(&self) -> std::result::Result<LandscapeOptions, String> {
        let number = |name: &str, text: &str| {
            text.trim()
                .parse::<f64>()
                .map_err(|_| format!("{name}: `{}` is not a number", text.trim()))
        };
        let starts = self
            .landscape_starts
            .trim()
            .parse::<usize>()
            .map_err(|_| format!("starts: `{}` is not a whole number", self.landscape_starts.trim()))?;
        let alphas = (self.landscape_alpha.split(','))
            .map(|a| number("α", a))
            .collect::<std::result::Result<Vec<f64>, String>>()?;
        let from = match self.landscape_from.trim() {
            "" => LandscapeOptions::default().from,
            file => {
                let saved = SavedChains::read(file.as_ref(), self.chw)
                    .and_then(|saved| saved.check(starts, "starts").map(|()| saved))
                    .map_err(|e| format!("from chains: {}", field_said(e)))?;
                ChainStart::Saved(saved)
            }
        };
        let options = LandscapeOptions {
            starts,
            from,
            alphas,
            temp_factor: number("T ×", &self.landscape_temp)?,
            ..LandscapeOptions::default()
        };
        options
            .validate()
            .and_then(|()| check_temp_factor(&self.config, options.temp_factor, "T ×"))
            .map_err(field_said)?;
        Ok(options)
    }

    /// The paper's map of the current model's landscape (PAPER.md, "What
    /// the paper shows", 4), as `ebmscope landscape` makes it, at one α or
    /// several (comma-separated; shown one at a time).
    fn landscape_view(&mut self, ui: &mut egui::Ui) {
        let mut start = false;
        ui.horizontal(|ui| {
            for (name, text) in [
                ("starts", &mut self.landscape_starts),
                ("α", &mut self.landscape_alpha),
                ("T ×", &mut self.landscape_temp),
            ] {
                let label = ui.label(name);
                ui.add(egui::TextEdit::singleline(text).desired_width(56.0))
                    .labelled_by(label.id);
            }
            start = ui
                .add_enabled(!self.long_work_pending(), egui::Button::new("Map the landscape"))
                .clicked();
        });
        ui.horizontal(|ui| {
            // (Empty: from data, as `ebmscope landscape` without --from-chains.)
            let label = ui.label("from chains");
            path_field(ui, &mut self.landscape_from, "data").labelled_by(label.id);
        });
        if start {
            match self.landscape_options() {
                Ok(options) => self.start_landscape(options),
                Err(why) => self.message = why,
            }
        }
        if let Some((stage, done, total)) = &self.landscape_progress {
            let part = *done as f32 / (*total).max(1) as f32;
            let text = format!("{stage}: {done} of {total}");
            let stop = ui
                .horizontal(|ui| {
                    let stop = ui.button("Stop").clicked();
                    ui.add(egui::ProgressBar::new(part).text(text));
                    stop
                })
                .inner;
            if stop {
                self.session.stop_work();
                self.message = "stopping the landscape map …".into();
            }
        }
        let Some(report) = self.landscape.clone() else {
            ui.label(
                "Local minima by gradient descent from data states (or from chains), grouped into basins: \
                 two minima share one when an attraction–diffusion chain at temperature \
                 T × f, pulled by α toward the lower, reaches it (as `ebmscope landscape`).",
            );
            return;
        };
        let (map, o) = (&report.map, &report.options);
        if map.basins.len() > 1 {
            ui.horizontal(|ui| {
                ui.label("show");
                for (k, b) in map.basins.iter().enumerate() {
                    let name = format!("α = {}", alpha_label(b.alpha));
                    if ui.selectable_label(k == self.landscape_shown, name).clicked() {
                        self.landscape_shown = k;
                    }
                }
            });
        }
        let Some(basins) = map.basins.get(self.landscape_shown) else {
            return;
        };
        // The titles of `ebmscope landscape`'s picture and table.
        ui.label(format!(
            "Model of iteration {}: {}. {} ({} of {} chains reached their lower minimum).",
            report.iteration,
            map.title(o),
            basins.title(),
            basins.reached(),
            basins.attempts.len(),
        ));
        for warning in report
            .option_warnings
            .iter()
            .cloned()
            .chain(map.warnings(o.radius))
        {
            ui.colored_label(
                egui::Color32::from_rgb(230, 150, 20),
                format!("Warning: {warning}."),
            );
        }
        egui::Grid::new("basins").striped(true).show(ui, |ui| {
            for head in ["basin", "minima", "starts", "lowest U"] {
                ui.strong(head);
            }
            ui.end_row();
            for k in 0..basins.count().min(LANDSCAPE_TABLE_ROWS) {
                let members: Vec<usize> = basins.members(k).collect();
                let [r, g, b] = crate::plot::basin_colour(basins.lowest(k));
                ui.colored_label(egui::Color32::from_rgb(r, g, b), format!("● {k}"));
                ui.label(members.len().to_string());
                ui.label(
                    members
                        .iter()
                        .map(|&i| map.minima[i].starts)
                        .sum::<usize>()
                        .to_string(),
                );
                ui.label(format!("{:.4}", map.minima[members[0]].energy));
                ui.end_row();
            }
        });
        if basins.count() > LANDSCAPE_TABLE_ROWS {
            ui.label(format!("… and {} more", basins.count() - LANDSCAPE_TABLE_ROWS));
        }
        let mut save = false;
        ui.horizontal(|ui| {
            let label = ui.label("folder");
            // Wide enough for the whole path, as the checkpoint's field.
            ui.add(
                egui::TextEdit::singleline(&mut self.landscape_folder)
                    .desired_width(260.0)
                    .clip_text(false),
            )
            .labelled_by(label.id);
            let idle = self.map_saving.is_none();
            save = ui.add_enabled(idle, egui::Button::new("Save the map")).clicked();
        });
        if save {
            self.save_map(report.clone());
        }
        let serial = self.landscape_serial;
        match &report.backdrop {
            Backdrop::Toy(grid, energies) => {
                let texture = match &self.landscape_texture {
                    Some((seen, t)) if *seen == serial => t.clone(),
                    _ => {
                        let image = shades_image(&crate::plot::log_density_shades(energies), grid.res);
                        let t = ui
                            .ctx()
                            .load_texture("landscape", image, egui::TextureOptions::LINEAR);
                        self.landscape_texture = Some((serial, t.clone()));
                        t
                    }
                };
                ui.label(
                    "The learned log-density −U: bright where U is low (colours from its 1st \
                     percentile to its top). Dots: the minima in their basin's colour, the \
                     large one each basin's lowest, joined to it by white lines.",
                );
                colour_scale(ui, &mut self.colour_scale, "high U", "low U");
                let extent = grid.extent;
                let xy = |i: usize| {
                    [
                        f64::from(map.minima[i].state[0]),
                        f64::from(map.minima[i].state[1]),
                    ]
                };
                Plot::new("landscape")
                    .data_aspect(1.0)
                    .show_grid(false)
                    .show(ui, |p| {
                        let size = egui::vec2(2.0 * extent as f32, 2.0 * extent as f32);
                        p.image(PlotImage::new(
                            "learned log-density",
                            texture.id(),
                            PlotPoint::new(0.0, 0.0),
                            size,
                        ));
                        // Each minimum joined to its basin's lowest, under the dots.
                        for (i, &b) in basins.of.iter().enumerate() {
                            if let Some(root) = basins.members(b).next().filter(|&r| r != i) {
                                p.line(Line::new("", vec![xy(i), xy(root)]).color(egui::Color32::WHITE));
                            }
                        }
                        for k in 0..basins.count() {
                            let [r, g, b] = crate::plot::basin_colour(basins.lowest(k));
                            let colour = egui::Color32::from_rgb(r, g, b);
                            let members: Vec<[f64; 2]> = basins.members(k).map(xy).collect();
                            // A white rim, as in landscape.png: a yellow
                            // basin's dot on the map's yellow is seen too.
                            for (points, radius) in [(&members[..1], 8.5), (&members[..], 5.5)] {
                                p.points(
                                    Points::new("", points.to_vec())
                                        .color(egui::Color32::WHITE)
                                        .radius(radius),
                                );
                            }
                            p.points(
                                Points::new(format!("basin {k}"), members[..1].to_vec())
                                    .color(colour)
                                    .radius(7.0),
                            );
                            p.points(
                                Points::new(format!("basin {k}"), members)
                                    .color(colour)
                                    .radius(4.0),
                            );
                        }
                    });
            }
            Backdrop::Images(_) => {
                // How many of the grid's images (row by row) each basin holds:
                // the grid itself carries no colours.
                let mut counts: Vec<String> = (0..basins.count().min(LANDSCAPE_TABLE_ROWS))
                    .map(|k| format!("basin {k}: {}", basins.members(k).count()))
                    .collect();
                if basins.count() > LANDSCAPE_TABLE_ROWS {
                    counts.push("…".into());
                }
                let shown = if map.minima.len() > PICTURE_IMAGES {
                    format!(", the first {PICTURE_IMAGES} of {} shown", map.minima.len())
                } else {
                    String::new()
                };
                ui.label(format!(
                    "The minima, row by row, basin by basin as in the table, each basin's \
                     lowest first ({}{shown}):",
                    counts.join(", ")
                ));
                // (At most a picture's worth.)
                let states: Vec<f32> = (0..basins.count())
                    .flat_map(|k| basins.members(k))
                    .take(PICTURE_IMAGES)
                    .flat_map(|i| map.minima[i].state.iter().copied())
                    .collect();
                let texture = grid_texture(
                    ui.ctx(),
                    &mut self.landscape_texture,
                    "landscape",
                    // A picture per map and α shown.
                    (serial << 16) | self.landscape_shown as u64,
                    &states,
                    self.chw,
                );
                square_image(ui, &texture);
            }
        }
    }

    /// Chains, data batch or bank as a texture the training thread fills.
    fn picture_view(&mut self, ui: &mut egui::Ui) {
        // (The training thread redraws the picture at every iteration.)
        let at = self.picture.is_some().then_some(self.iteration);
        self.picture_source_row(ui, at);
        if self.picture_requested != Some(self.picture_source) {
            self.send(Command::ShowPicture(Some(self.picture_source)));
            self.picture_requested = Some(self.picture_source);
        }
        match self.picture {
            Some((source, id, [w, h])) if source == self.picture_source => {
                let scale = (ui.available_width() / w as f32).min(ui.available_height() / h as f32);
                ui.add(egui::Image::new((
                    id,
                    egui::vec2(w as f32 * scale, h as f32 * scale),
                )));
            }
            _ => {
                // (The training thread sends it at once, or with the next
                // iteration when the run has no such images yet.)
                ui.label("No picture yet: it comes with the next iteration (Run or Step).");
            }
        }
    }

    /// True density, learned exp(−U) and the KDE of the samples,
    /// re-evaluated every few iterations (on the training thread, between
    /// iterations).
    fn densities(&mut self, ui: &mut egui::Ui, chains: &[[f64; 2]]) {
        let evaluated = self.toy_metrics.as_ref().map(|(at, _)| *at);
        // (A refused or stopped evaluation counts as one.)
        let last = evaluated.max(self.toy_refused_at);
        if densities_due(last, self.iteration, self.running) && !self.toy_pending {
            // (Asked though the trainer may have evaluated it unasked: it
            // then answers with that evaluation again.)
            self.send(Command::EvaluateToy);
            self.toy_pending = true;
        }
        let Some((at, m)) = self.toy_metrics.clone() else {
            ui.label("Evaluating the densities …");
            return;
        };
        let log = self.log_densities;
        let textures = match &self.density_textures {
            Some((seen, seen_log, t)) if *seen == at && *seen_log == log => t.clone(),
            _ => {
                // (As the PNG's columns: the learned log-density from its energies.)
                let t = crate::plot::density_fields(&m).map(|f| {
                    let image = shades_image(&f.shades(log), m.grid.res);
                    ui.ctx().load_texture(f.name, image, egui::TextureOptions::LINEAR)
                });
                self.density_textures = Some((at, log, t.clone()));
                t
            }
        };
        let extent = m.grid.extent as f32;
        let side = (ui.available_width() / 2.0 - 12.0)
            .min(ui.available_height() / 2.0 - 30.0)
            .max(80.0);
        let names = ["true density q", "learned exp(−U)", m.kde_name()];
        egui::Grid::new("densities").show(ui, |ui| {
            for (k, (name, tex)) in names.iter().zip(&textures).enumerate() {
                ui.vertical(|ui| {
                    ui.label(*name);
                    Plot::new(("density", k))
                        .width(side)
                        .height(side)
                        .data_aspect(1.0)
                        // (Axes in the data's coordinates: where the grid
                        // ends, and a chain off it, can be read.)
                        .show_grid(false)
                        .show(ui, |p| {
                            let size = egui::vec2(2.0 * extent, 2.0 * extent);
                            p.image(PlotImage::new(*name, tex.id(), PlotPoint::new(0.0, 0.0), size));
                            p.points(
                                Points::new("X⁻", chains.to_vec())
                                    .color(egui::Color32::RED)
                                    .radius(1.5),
                            );
                        });
                });
                if k % 2 == 1 {
                    ui.end_row();
                }
            }
            ui.vertical(|ui| {
                let scale = if log {
                    "log scale, each from its\nminimum to its maximum;\nlearned: −U from its\n1st percentile"
                } else {
                    "each from its minimum\nto its maximum"
                };
                ui.label(format!(
                    "Densities at iteration {at}\n({scale};\nred: the chains X⁻)\n\n\
                     TV(p_θ, q) {:.3}\nKL(q‖p_θ) {:.3}\nTV(KDE, q) {}\nKL(q‖KDE) {:.3}",
                    m.tv_model,
                    m.kl_model,
                    m.tv_kde.to_string().replacen(" (", "\n(", 1),
                    m.kl_kde
                ));
                colour_scale(ui, &mut self.colour_scale, "min", "max");
                // A sharp exp(−U) is one bright spot on a linear scale; U's shape shows on a log one.
                ui.checkbox(&mut self.log_densities, "log scale");
            });
        });
    }

    fn plots(&mut self, ui: &mut egui::Ui) {
        let mut chosen = self.plots_view;
        ui.horizontal(|ui| {
            ui.selectable_value(&mut chosen, PlotsView::Learning, "Learning");
            ui.selectable_value(&mut chosen, PlotsView::Correlations, "Correlations");
            ui.selectable_value(&mut chosen, PlotsView::LangevinPath, "Langevin path");
        });
        self.set_plots_view(chosen);
        match self.plots_view {
            PlotsView::Learning => self.learning_plots(ui),
            PlotsView::Correlations => self.correlation_charts(ui),
            PlotsView::LangevinPath => self.path_plot(ui),
        }
    }

    fn learning_plots(&mut self, ui: &mut egui::Ui) {
        // (Before the plots' share of the height is taken.)
        if let Some(o) = &self.overlay.shown {
            ui.colored_label(
                OVERLAY_COLOR,
                format!(
                    "in violet behind: the overlay, {} (its U(X⁺) dashed)",
                    o.run.label
                ),
            );
        }
        // (Toy data has a fifth: TV to q by evaluation.)
        let toy = self.is_toy();
        let plots = if toy { 5.0 } else { 4.0 };
        let h = (ui.available_height() / plots - 28.0).max(60.0);
        let reset = std::mem::take(&mut self.reset_plots);
        let empty = self.history.is_empty();
        // Every plot holds every iteration any of them shows (the TV plot's
        // evaluations, `train`'s at 0 among them, and the curves'), so that
        // their x axes, each fitted to its own, agree.
        let x_span = toy.then(|| self.iteration_span()).flatten();
        // One iteration axis for them all: linked, and y axes of one width
        // so that an iteration sits at the same x in each.
        let plot = |id: &'static str| {
            let plot = Plot::new(id)
                .id(learning_plot_id(id))
                .height(h)
                .link_axis(egui::Id::unique("learning iterations"), [true, false])
                .x_grid_spacer(egui_plot::uniform_grid_spacer(iteration_steps))
                .y_axis_min_width(56.0)
                .y_grid_spacer(egui_plot::uniform_grid_spacer(y_steps))
                .y_axis_formatter(|mark, _| tick_label(mark));
            // (With no iterations yet, the axis spans the first one, not ±0.4.)
            let plot = if empty {
                plot.include_x(0.0).include_x(1.0)
            } else {
                plot
            };
            let plot = match x_span {
                Some([lo, hi]) => plot.include_x(lo).include_x(hi),
                None => plot,
            };
            if reset { plot.reset() } else { plot }
        };
        let overlay = self.overlay.shown.as_ref();
        let markers: Vec<f64> = self.changes.iter().map(|(it, _)| *it as f64 + 0.5).collect();
        let overlay_markers: Vec<f64> = overlay
            .map(|o| o.run.changes.iter().map(|(it, _, _)| *it as f64 + 0.5).collect())
            .unwrap_or_default();
        let mark = |p: &mut egui_plot::PlotUi| {
            for &m in &overlay_markers {
                p.vline(
                    VLine::new("overlay's setting changed", m)
                        .color(OVERLAY_COLOR)
                        .style(egui_plot::LineStyle::dashed_loose()),
                );
            }
            for &m in &markers {
                p.vline(VLine::new("setting changed", m).color(CHANGE_COLOR));
            }
        };

        let unticked = ui
            .horizontal(|ui| {
                let tick = ui
                    .checkbox(&mut self.fit_recent, "d_st fitted to the run's later half")
                    .on_hover_text(
                        "d_st's y axis fitted to the later half of the run where the whole \
                     run's values reach more than 3 times as far: a run's first swings, often \
                     hundreds of times the later ones, would flatten the pendulum (points \
                     beyond lie past the edges, and the label above says how far); off: the \
                     plot's own fitting. r_t and U are shown whole.",
                    );
                if !self.changes.is_empty() {
                    let invariant = self.config.langevin.form == crate::config::Form::Invariant;
                    // The latest few, named: the lines alone do not say what changed.
                    let shown = self.changes.len().min(3);
                    let latest: Vec<String> = self.changes[self.changes.len() - shown..]
                        .iter()
                        .map(|(it, change)| match change {
                            // U = F/T with T = ε²/2: the curves' scale moves with ε.
                            Change::Epsilon(e) if invariant => format!(
                                "after {it}: {change} (T = ε²/2 = {:.3e}: U and d_st in its units)",
                                e * e / 2.0
                            ),
                            _ => format!("after {it}: {change}"),
                        })
                        .collect();
                    let more = if shown < self.changes.len() { "…, " } else { "" };
                    ui.colored_label(CHANGE_COLOR, format!("changes: {more}{}", latest.join(", ")));
                }
                tick.changed() && !self.fit_recent
            })
            .inner;
        let fit_recent = self.fit_recent;
        let fit = |p: &mut egui_plot::PlotUi, range: Option<[f64; 2]>| {
            if unticked {
                // Setting y bounds turned the plot's own fitting off: on again, once.
                p.set_auto_bounds([true, true]);
            } else if let Some([lo, hi]) = range.filter(|_| fit_recent) {
                p.set_plot_bounds_y(lo..=hi);
            }
        };
        let mut cache = self.curves.borrow_mut();
        let c = LearningCurves::of(&mut cache, &self.history);
        // d_st's y range holds both runs' fits; what each leaves off, said.
        let (own_fit, overlay_fit) = (
            c.run.d_st_fit.as_ref(),
            overlay.and_then(|o| o.curves.d_st_fit.as_ref()),
        );
        let d_st_span = crate::plot::union_span(own_fit.into_iter().chain(overlay_fit).map(|f| f.span));
        let off: Vec<String> = match d_st_span.filter(|_| fit_recent) {
            Some(shown) => (own_fit.and_then(|f| f.early?.off(shown)).into_iter())
                .chain(
                    overlay_fit
                        .and_then(|f| f.early?.off_before(shown))
                        .map(|n| format!("the overlay's {n}")),
                )
                .collect(),
            None => Vec::new(),
        };
        let off_plot = if off.is_empty() {
            String::new()
        } else {
            format!("; {}, off the plot", off.join("; "))
        };
        ui.label(format!(
            "d_st = mean U(X⁺) − mean U(X⁻): expansion (< 0, blue), contraction (> 0, red){off_plot}"
        ));
        // (Borrowed: the curves are drawn every frame, made only when they change.)
        let (exp, con, d_line) = (&c.expansion[..], &c.contraction[..], &c.run.d_st[..]);
        plot("d_st").show(ui, |p| {
            fit(p, d_st_span);
            p.hline(HLine::new("0", 0.0).color(egui::Color32::DARK_GRAY));
            if let Some(o) = overlay {
                p.line(overlay_line("overlay's d_st", &o.curves.d_st));
            }
            p.line(Line::new("d_st", d_line).color(egui::Color32::GRAY));
            p.points(
                Points::new("expansion", exp)
                    .color(phase_colour(Phase::Expansion))
                    .radius(2.0),
            );
            p.points(
                Points::new("contraction", con)
                    .color(phase_colour(Phase::Contraction))
                    .radius(2.0),
            );
            mark(p);
        });
        ui.label("r_t: mean Langevin gradient magnitude");
        let r = &c.run.r_t[..];
        plot("r_t").show(ui, |p| {
            if let Some(o) = overlay {
                p.line(overlay_line("overlay's r_t", &o.curves.r_t));
            }
            p.line(Line::new("r_t", r).color(R_T_COLOR));
            mark(p);
        });
        // Named in the label, not a legend, which would cover the curves'
        // start; colours as the particles view's data (grey) and chains (red).
        ui.label("mean U(X⁺) of the data (grey) and U(X⁻) of the chains (red)");
        let (up, um) = (&c.run.u_data[..], &c.run.u_samples[..]);
        plot("energies").show(ui, |p| {
            if let Some(o) = overlay {
                p.line(overlay_line("overlay's U(X⁻)", &o.curves.u_samples));
                p.line(
                    overlay_line("overlay's U(X⁺)", &o.curves.u_data)
                        .style(egui_plot::LineStyle::dashed_dense()),
                );
            }
            // The chains' wider, beneath, so that both show where they meet.
            p.line(
                Line::new("U(X⁻)", um)
                    .color(egui::Color32::from_rgb(220, 70, 70))
                    .width(3.0),
            );
            p.line(Line::new("U(X⁺)", up).color(egui::Color32::GRAY));
            mark(p);
        });
        ui.label("learning rate");
        let (lr, top) = (&c.run.lr[..], c.run.lr_top);
        let lr_plot = if toy {
            plot("lr")
        } else {
            plot("lr").x_axis_label("iteration")
        };
        lr_plot
            .include_y(0.0)
            .include_y(top)
            .include_y(overlay.map_or(0.0, |o| o.curves.lr_top))
            .show(ui, |p| {
                if let Some(o) = overlay {
                    p.line(overlay_line("overlay's lr", &o.curves.lr));
                }
                p.line(Line::new("lr", lr).color(egui::Color32::GRAY));
                mark(p);
            });
        if toy {
            self.tv_plot(ui, plot("tv"), mark);
        }
    }

    /// The first and last iteration of this run's curves and evaluations
    /// and the overlay's, if any.
    fn iteration_span(&self) -> Option<[f64; 2]> {
        // (Each list is in iteration order: its ends are its span.)
        fn ends<T>(rows: &[T], iteration: fn(&T) -> u64) -> impl Iterator<Item = u64> + '_ {
            rows.first().into_iter().chain(rows.last()).map(iteration)
        }
        let mut all: Vec<u64> = ends(&self.history, |e| e.iteration)
            .chain(ends(&self.toy_history, |t| t.iteration))
            .collect();
        if let Some(o) = &self.overlay.shown {
            all.extend(ends(&o.run.rows, |r| r.iteration));
            all.extend(ends(&o.run.toy, |t| t.iteration));
        }
        Some([*all.iter().min()? as f64, *all.iter().max()? as f64])
    }

    /// TV(p_θ, q) and TV(KDE, q) at each of the run's evaluations (the
    /// overlay's behind), below the learning plots: `plot` as theirs.
    fn tv_plot(&self, ui: &mut egui::Ui, plot: Plot, mark: impl Fn(&mut egui_plot::PlotUi)) {
        let every = crate::config::plural(self.config.output.picture_every, "iteration", "iterations");
        // (Made each frame: a run's evaluations are hundreds at most, but
        // for the Densities view's, every 10 iterations while it is open.)
        let TvPoints { model, kde } = TvPoints::of(&self.toy_history);
        // The KDE's TV of q's own points to q: as low as the samples' can go.
        let floor = self.toy_metrics.as_ref().map(|(_, m)| m.tv_kde);
        let floor_text = floor.map_or(String::new(), |f| {
            format!("; dotted: q's own {} points' ({:.3})", f.points, f.floor)
        });
        let none_yet = if model.is_empty() { " — none yet" } else { "" };
        ui.label(format!(
            "TV to q at each evaluation (at the start, after every {every}, output.picture_every, \
             and as the densities show){none_yet}: of p_θ (green) and of the samples' KDE (dashed){floor_text}"
        ));
        let overlay = self.overlay.shown.as_ref().map(|o| &o.tv);
        plot.x_axis_label("iteration")
            .include_y(0.0)
            .include_y(1.0)
            .show(ui, |p| {
                if let Some(o) = overlay {
                    p.line(overlay_line("overlay's TV(p_θ, q)", &o.model));
                    p.line(
                        overlay_line("overlay's TV(KDE, q)", &o.kde)
                            .style(egui_plot::LineStyle::dashed_dense()),
                    );
                }
                if let Some(f) = floor {
                    p.hline(
                        HLine::new("q's own points' TV(KDE, q)", f.floor)
                            .color(egui::Color32::GRAY)
                            .style(egui_plot::LineStyle::dotted_dense()),
                    );
                }
                p.line(
                    Line::new("TV(KDE, q)", &kde[..])
                        .color(TV_COLOR)
                        .style(egui_plot::LineStyle::dashed_dense()),
                );
                p.line(Line::new("TV(p_θ, q)", &model[..]).color(TV_COLOR).width(2.0));
                p.points(Points::new("evaluations", &model[..]).color(TV_COLOR).radius(2.5));
                mark(p);
            });
    }

    pub fn set_plots_view(&mut self, view: PlotsView) {
        let path = PlotsView::LangevinPath;
        if (self.plots_view == path) != (view == path) {
            // The path costs a readback per iteration: recorded only while it shows.
            self.send(Command::RecordEnergyPath(view == path));
        }
        self.plots_view = view;
    }

    fn correlation_charts(&self, ui: &mut egui::Ui) {
        // The run's trailing window and largest lag, as its PNG figure's.
        // (compute reads the last window itself; the history it is given
        // says whether the verdict is due: as much as that waits for.)
        let e = &self.config.eval;
        let due = Correlations::iterations_for_verdict(e.window as usize);
        let recent = &self.history[self.history.len().saturating_sub(due)..];
        let d: Vec<f64> = recent.iter().map(|e| e.d_st).collect();
        let r: Vec<f64> = recent.iter().map(|e| e.r_t).collect();
        let own = Correlations::compute(&d, &r, e.window as usize, e.max_lag as usize);
        // The overlay's, over its own trailing window (as `compare` reads it).
        let shown = self.overlay.shown.as_ref();
        let overlay = shown.and_then(|o| Some((o, o.run.correlations.as_ref()?)));
        let overlay_without = shown.filter(|o| o.run.correlations.is_none());
        if let Some(o) = overlay_without {
            ui.colored_label(
                OVERLAY_COLOR,
                format!(
                    "The overlay, {}: oscillation {}.",
                    o.run.label,
                    o.run.verdict_text()
                ),
            );
        }
        if own.is_none() && overlay.is_none() {
            ui.label("The correlations need at least 3 iterations.");
            return;
        }
        match &own {
            Some(c) => {
                let verdict = match c.verdict() {
                    Some(Oscillation::Strong) => "Oscillation strong: d_st anti-correlated at lag 1 or 2 \
                         (the paper finds it with non-convergent ML, Adam or a high SGD rate; a reading of \
                         d_st, not a test of the regime)."
                        .to_string(),
                    Some(Oscillation::Weak) => "Oscillation weak: d_st not anti-correlated at lag 1 or 2 \
                         (the paper expects it of convergent ML; a reading of d_st, not a test of the \
                         regime: the non-convergent toy presets read weak too, README says why)."
                        .to_string(),
                    None => format!(
                        "No verdict yet: a window of {} iterations (eval.window) is read once {} have \
                         passed ({} so far); one that reaches back to a run's start sees its early \
                         trend, which hides an oscillation.",
                        e.window,
                        due,
                        self.history.len()
                    ),
                };
                ui.label(format!("Over the last {} iterations. {verdict}", c.window));
            }
            None => {
                ui.label("This run's correlations need at least 3 iterations.");
            }
        }
        if let Some((o, c)) = overlay {
            let right = if own.is_some() {
                " (its bars on the right of each lag)"
            } else {
                ""
            };
            ui.colored_label(
                OVERLAY_COLOR,
                format!(
                    "The overlay, {}, over its last {} iterations: d_st {}, threshold {:.3}; \
                     oscillation {}{right}.",
                    o.run.label,
                    c.window,
                    c.verdict_lag_values(),
                    -c.threshold(),
                    o.run.verdict_text()
                ),
            );
        }
        // (Each chart's share, less its label of one or two lines and its axis title.)
        let h = (ui.available_height() / 3.0 - 44.0).max(60.0);
        // Two runs' bars side by side at each lag, this run's on the left.
        let (width, shift) = if own.is_some() && overlay.is_some() {
            (0.36, 0.18)
        } else {
            (0.7, 0.0)
        };
        let bars = |v: &[f64], first: isize, color: egui::Color32, at: f64| -> BarChart {
            let bars = v
                .iter()
                .enumerate()
                .map(|(i, &y)| Bar::new((i as isize + first) as f64 + at, y).width(width))
                .collect();
            BarChart::new("correlation", bars).color(color)
        };
        // (Under lags 1 and 2 alone: the bars the verdict reads.)
        let threshold = |p: &mut egui_plot::PlotUi, c: &Correlations, color: egui::Color32| {
            let span = crate::diagnostics::verdict_lags_span();
            let bound = -c.threshold();
            p.line(
                Line::new("threshold", vec![[span.start, bound], [span.end, bound]])
                    .color(color)
                    .style(egui_plot::LineStyle::dashed_loose()),
            );
        };
        // (The values the verdict reads, as numbers: a few pixels apart on a ±1 axis.)
        ui.label(match &own {
            Some(c) => format!(
                "autocorrelation of d_st by lag: {}; the oscillation threshold {:.3} (dashed)",
                c.verdict_lag_values(),
                -c.threshold()
            ),
            None => "autocorrelation of d_st by lag; the oscillation threshold dashed".into(),
        });
        Plot::new("d_acf")
            .height(h)
            .x_axis_label("lag")
            .include_y(-1.0)
            .include_y(1.0)
            .show(ui, |p| {
                // (The overlay's first, beneath: with equal windows the
                // thresholds lie on one another, this run's on top.)
                if let Some((_, c)) = overlay {
                    p.bar_chart(bars(&c.d_acf, 0, OVERLAY_COLOR, shift));
                    threshold(p, c, OVERLAY_COLOR);
                }
                if let Some(c) = &own {
                    p.bar_chart(bars(&c.d_acf, 0, phase_colour(Phase::Expansion), -shift));
                    threshold(p, c, egui::Color32::LIGHT_GRAY);
                }
            });
        ui.label("autocorrelation of r_t by lag");
        Plot::new("r_acf")
            .height(h)
            .x_axis_label("lag")
            .include_y(-1.0)
            .include_y(1.0)
            .show(ui, |p| {
                if let Some((_, c)) = overlay {
                    p.bar_chart(bars(&c.r_acf, 0, OVERLAY_COLOR, shift));
                }
                if let Some(c) = &own {
                    p.bar_chart(bars(&c.r_acf, 0, R_T_COLOR, -shift));
                }
            });
        ui.label(format!(
            "cross-correlation Σ d_st[n + k]·r_t[n] / (N − 1) over n by lag k, d_st rescaled \
             to unit mean square and r_t standardised (k > 0: d_st k iterations after r_t); \
             {PENDULUM_HINT}"
        ));
        // (Fitted to its values, a tenth at least: cross-correlations run
        // well inside ±1, where they would be a few pixels high.)
        let cross_first = |c: &Correlations| -(c.max_lag as isize);
        Plot::new("cross")
            .height(h)
            .x_axis_label("lag k")
            .include_y(-0.1)
            .include_y(0.1)
            .show(ui, |p| {
                if let Some((_, c)) = overlay {
                    p.bar_chart(bars(&c.cross, cross_first(c), OVERLAY_COLOR, shift));
                }
                if let Some(c) = &own {
                    let grey = egui::Color32::from_rgb(120, 120, 120);
                    p.bar_chart(bars(&c.cross, cross_first(c), grey, -shift));
                }
            });
    }

    fn path_plot(&self, ui: &mut egui::Ui) {
        let Some((iteration, chains, u)) = &self.energy_path else {
            ui.label("Recorded from the next iteration: press Run or Step.");
            return;
        };
        let (m, points) = (*chains, u.len() / chains.max(&1));
        // The data's mean U of that iteration: the gap to the chains' mean at
        // the last step is d_st.
        let u_data = self
            .history
            .iter()
            .rev()
            .find(|e| e.iteration == *iteration)
            .map(|e| e.mean_u_data);
        let data_note = if u_data.is_some() {
            "; dashed: the data's mean U(X⁺): at the last step, d_st = dashed − bold"
        } else {
            ""
        };
        let drawn = path_chains_drawn(m);
        let band = drawn.len() < m;
        let band_note = if band {
            format!(
                "; shaded: the middle 80 % of the {m} chains, {} of them drawn",
                drawn.len()
            )
        } else {
            String::new()
        };
        ui.label(format!(
            "U = F/T of each chain along its {} Langevin steps in iteration {iteration} (bold: the \
             mean{band_note}{data_note})",
            points.saturating_sub(1)
        ));
        let strong = ui.visuals().strong_text_color();
        let summary = path_summary(&u[..points * m], m);
        Plot::new("energy path")
            .x_axis_label("Langevin step")
            .y_axis_label("U")
            .show(ui, |p| {
                if band {
                    let steps: Vec<f64> = (0..points).map(|s| s as f64).collect();
                    let column = |i: usize| summary.iter().map(|v| v[i]).collect::<Vec<f64>>();
                    p.add(
                        egui_plot::FilledArea::new("middle 80 %", &steps, &column(1), &column(2))
                            .fill_color(egui::Color32::from_rgba_unmultiplied(90, 140, 220, 50)),
                    );
                }
                for &chain in &drawn {
                    let line: Vec<[f64; 2]> = (0..points)
                        .map(|s| [s as f64, f64::from(u[s * m + chain])])
                        .collect();
                    p.line(
                        Line::new(format!("chain {chain}"), line)
                            .color(egui::Color32::from_rgba_unmultiplied(90, 140, 220, 90)),
                    );
                }
                let mean: Vec<[f64; 2]> = (summary.iter().enumerate())
                    .map(|(s, v)| [s as f64, v[0]])
                    .collect();
                p.line(Line::new("mean", mean).color(strong).width(2.5));
                if let Some(u_data) = u_data {
                    p.hline(
                        HLine::new("mean U(X⁺)", u_data)
                            .color(strong)
                            .style(egui_plot::LineStyle::dashed_loose()),
                    );
                }
            });
    }
}

/// The particle view's box, per axis: the data's extent and the chains'
/// but the farthest few on each side (two and 1 % more), with a tenth to
/// spare; so that a chain or two gone far (a diverging model's) do not
/// shrink the rest to a dot.
fn particle_view(data: &[[f64; 2]], chains: &[[f64; 2]]) -> [std::ops::RangeInclusive<f64>; 2] {
    [0, 1].map(|axis| {
        let mut c: Vec<f64> = chains.iter().map(|p| p[axis]).filter(|v| v.is_finite()).collect();
        c.sort_by(f64::total_cmp);
        let skip = (2 + c.len() / 100).min(c.len().saturating_sub(1) / 2);
        let kept = c
            .get(skip)
            .into_iter()
            .chain(c.len().checked_sub(skip + 1).and_then(|i| c.get(i)));
        let (lo, hi) = (data.iter().map(|p| p[axis]))
            .filter(|v| v.is_finite())
            .chain(kept.copied())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                (lo.min(v), hi.max(v))
            });
        if lo > hi {
            return -1.0..=1.0;
        }
        let spare = ((hi - lo) / 10.0).max(0.1);
        lo - spare..=hi + spare
    })
}

/// Toy particles split for the view: those in it, those past it (at its
/// edge), and how many have a coordinate that is not finite.
#[derive(Debug, PartialEq)]
struct Particles {
    inside: Vec<[f64; 2]>,
    past: Vec<[f64; 2]>,
    not_finite: usize,
}

impl Particles {
    fn split(xy: Vec<[f64; 2]>, view: &[std::ops::RangeInclusive<f64>; 2]) -> Self {
        let (finite, other): (Vec<[f64; 2]>, Vec<[f64; 2]>) =
            xy.into_iter().partition(|p| p.iter().all(|v| v.is_finite()));
        let (inside, past): (Vec<[f64; 2]>, Vec<[f64; 2]>) =
            (finite.into_iter()).partition(|&[x, y]| view[0].contains(&x) && view[1].contains(&y));
        let edge = |v: f64, r: &std::ops::RangeInclusive<f64>| v.clamp(*r.start(), *r.end());
        Particles {
            inside,
            past: past
                .into_iter()
                .map(|[x, y]| [edge(x, &view[0]), edge(y, &view[1])])
                .collect(),
            not_finite: other.len(),
        }
    }
}

/// Chains the Langevin path draws one by one, at most: more (a persistent
/// bank's 100, starting at every energy) would be a cloud; past this, a
/// band holds the middle 80 % of all of them.
const PATH_CHAINS: usize = 12;

/// The chains of `m` the Langevin path draws: all, or [`PATH_CHAINS`]
/// picked evenly.
fn path_chains_drawn(m: usize) -> Vec<usize> {
    let k = m.min(PATH_CHAINS);
    (0..k).map(|i| i * m / k).collect()
}

/// At each step of a Langevin path of `m` chains (`u[step · m + chain]`):
/// the finite chains' mean U, and its 10th and 90th percentiles (the
/// values at rank q·(n − 1), rounded); NaN where none is finite.
fn path_summary(u: &[f32], m: usize) -> Vec<[f64; 3]> {
    u.chunks(m.max(1))
        .map(|step| {
            let mut v: Vec<f64> = (step.iter().map(|&x| f64::from(x)))
                .filter(|x| x.is_finite())
                .collect();
            if v.is_empty() {
                return [f64::NAN; 3];
            }
            let mean = v.iter().sum::<f64>() / v.len() as f64;
            v.sort_by(f64::total_cmp);
            let at = |q: f64| v[(q * (v.len() - 1) as f64).round() as usize];
            [mean, at(0.1), at(0.9)]
        })
        .collect()
}

/// Points between two labelled ticks that egui_plot needs before it paints
/// their labels (its axis hints: above 20 on a y axis, 60 on an x axis).
const Y_LABEL_POINTS: f64 = 20.0;
const X_LABEL_POINTS: f64 = 60.0;
/// egui_plot's finest grid step, in points (`base_step_size` spans this many).
const GRID_POINTS: f64 = 8.0;

/// Grid steps of 1, 2 or 5 × 10^k: the finest the plot allows, the finest
/// whose labels fit (`label_points` apart), and a coarser one. egui_plot's
/// default (powers of 10) often labels nothing but 0 on a short axis.
/// The least step of 1, 2, 5, 10, 20 … (in any power of ten) that is at
/// least `at_least`.
fn nice(at_least: f64) -> f64 {
    let decade = 10f64.powf(at_least.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * decade)
        .find(|&step| step >= at_least)
        .unwrap_or(10.0 * decade)
}

fn nice_steps(input: egui_plot::GridInput, label_points: f64) -> [f64; 3] {
    let base = input.base_step_size.abs().max(f64::MIN_POSITIVE);
    // (A little over the label spacing: egui_plot drops labels at exactly it.)
    let labelled = nice(1.05 * label_points / GRID_POINTS * base);
    [nice(base), labelled, nice(4.0 * labelled)]
}

fn y_steps(input: egui_plot::GridInput) -> [f64; 3] {
    nice_steps(input, Y_LABEL_POINTS)
}

fn x_steps(input: egui_plot::GridInput) -> [f64; 3] {
    nice_steps(input, X_LABEL_POINTS)
}

/// The egui id of the learning plot named `name` ("d_st", "r_t",
/// "energies", "lr", "tv"), whose bounds its egui_plot::PlotMemory keeps.
pub fn learning_plot_id(name: &str) -> egui::Id {
    egui::Id::unique(("learning plot", name))
}

/// x_steps on an axis of iterations: none finer than one, whose marks
/// would be labelled as their whole neighbours ("1 2 2 2 3"); a level
/// that would repeat the one below takes the next step of 1, 2, 5, 10 …
/// (egui_plot would draw its marks twice).
fn iteration_steps(input: egui_plot::GridInput) -> [f64; 3] {
    let mut steps = x_steps(input).map(|step| step.max(1.0));
    for i in 1..steps.len() {
        if steps[i] <= steps[i - 1] {
            // (The next nice step: 1 → 2, 2 → 5, 5 → 10.)
            steps[i] = nice(1.5 * steps[i - 1]);
        }
    }
    steps
}

/// A tick's value with as many decimals as its step needs (0.05, not 0.1);
/// in powers of ten when that would be long (a diverging run's 2e19).
/// Trailing zeros are dropped: a mark of a coarser grid level carries a
/// coarser step, and 3.0 beside 2.5 and 2 would look like two scales.
fn tick_label(mark: egui_plot::GridMark) -> String {
    let (v, step) = (mark.value, mark.step_size.abs());
    if v == 0.0 {
        // (−0.0 included.)
        return "0".into();
    }
    let trim = |number: String| -> String {
        if number.contains('.') {
            number.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            number
        }
    };
    if v.abs() >= 1e5 || step < 1e-4 {
        // As many significant digits as the step resolves.
        let digits = (v.abs().log10().floor() - step.log10().floor()).max(0.0) as usize;
        let text = format!("{:.*e}", digits.min(6), v);
        let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
        return format!("{}e{exponent}", trim(mantissa.to_string()));
    }
    let decimals = (-step.log10().floor()).max(0.0) as usize;
    trim(format!("{:.*}", decimals, v))
}

/// The fields ε, τ, L and lr as `config` sets them.
fn fields_of(config: &Config) -> [Field; 4] {
    let field = |label, text: String| Field {
        label,
        text,
        error: None,
        sent: None,
    };
    let l = &config.langevin;
    [
        field("ε", l.epsilon.to_string()),
        field("τ", l.tau.to_string()),
        field("L", l.steps.to_string()),
        field("lr", config.optimizer.lr.to_string()),
    ]
}

/// 1000 draws of `config`'s toy data (none for images), for the chains view.
fn toy_points(config: &Config) -> Vec<[f64; 2]> {
    match Toy::new(&config.data) {
        Ok(toy) => {
            let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(1);
            points(&toy.sample(1000, &mut rng))
        }
        Err(_) => Vec::new(),
    }
}

/// What "Start over" offers first: the launch's preset with its overrides
/// over it again, or (no preset) this run's settings, which already hold them.
fn start_over_offer(capture: &Capture) -> (String, String) {
    match &capture.preset {
        Some(preset) => (preset.clone(), capture.overrides.join("\n")),
        None => (THIS_RUN.to_string(), String::new()),
    }
}

/// What the window said when its screenshot was taken.
#[derive(Clone, Debug)]
pub struct Taken {
    /// The status line's message (empty where nothing was said).
    pub message: String,
    /// Why a long run or map ended before its end (failed or stopped).
    pub work_cut_short: Option<String>,
}

/// What is wrong with a field's value, as the window says it: named by the
/// field (the message's own words), not as a setting of the configuration.
fn field_said(e: Error) -> String {
    match e {
        Error::Config(why) => why,
        e => e.to_string(),
    }
}

/// The window's default folder for a saved map: beside its checkpoint,
/// named after it (runs/P-window.safetensors → runs/P-window-landscape).
fn map_folder_beside(checkpoint: &str) -> String {
    beside(checkpoint, "-landscape")
}

/// A long run's rows so far: the chains' mean U by step and, for toy data,
/// beside it the TV of their KDE to q over its floor (dashed), the TV that
/// as many of q's own points score.
fn long_run_trace(ui: &mut egui::Ui, trace: &[(LongRunRow, Option<KdeTv>)]) {
    let orange = egui::Color32::from_rgb(230, 150, 20);
    let energy: Vec<[f64; 2]> = (trace.iter())
        .filter(|(row, _)| row.mean_energy.is_finite())
        .map(|(row, _)| [row.step as f64, row.mean_energy])
        .collect();
    let tv: Vec<[f64; 2]> = (trace.iter())
        .filter_map(|(row, tv)| Some([row.step as f64, tv.as_ref()?.tv]))
        .collect();
    let last_tv = trace.last().and_then(|(_, tv)| *tv);
    let plot = |id: &str| {
        Plot::new(id)
            .height(110.0)
            .x_axis_label("step")
            .y_axis_min_width(48.0)
            .y_axis_formatter(|mark, _| tick_label(mark))
    };
    let draw_energy = |ui: &mut egui::Ui| {
        ui.label("mean U of the chains");
        plot("long run U").show(ui, |p| {
            p.line(Line::new("mean U", energy.clone()).color(orange));
            p.points(Points::new("mean U", energy.clone()).color(orange).radius(2.5));
        });
    };
    let Some(KdeTv { points, floor, .. }) = last_tv else {
        draw_energy(ui);
        return;
    };
    ui.columns(2, |cols| {
        draw_energy(&mut cols[0]);
        cols[1].label(format!(
            "TV(samples, q); dashed: q's own {}",
            crate::config::plural(points as u64, "point", "points")
        ));
        plot("long run TV")
            .include_y(0.0)
            .include_y(1.0)
            .show(&mut cols[1], |p| {
                p.hline(
                    HLine::new("q's own points", floor)
                        .color(egui::Color32::GRAY)
                        .style(egui_plot::LineStyle::dashed_loose()),
                );
                p.line(Line::new("TV", tv.clone()).color(orange));
                p.points(Points::new("TV", tv).color(orange).radius(2.5));
            });
    });
}

/// The window's default file for a long run's chains, from the model of
/// `iteration` at `step`, run as `ask` says: beside its checkpoint, named
/// after it and them (runs/P-window-chains-300-1000.safetensors, or
/// runs/P-window-chains-300-1000-mala-T0.5.safetensors).
fn chains_file_beside(checkpoint: &str, iteration: u64, ask: &LongRunAsk, step: u64) -> String {
    let mut name = format!("-chains-{iteration}-{step}");
    if ask.mala {
        name.push_str("-mala");
    }
    if ask.temp_factor != 1.0 {
        name.push_str(&format!("-T{}", crate::config::short(ask.temp_factor)));
    }
    beside(checkpoint, &format!("{name}.safetensors"))
}

/// A path beside the window's `checkpoint`, named as it with `suffix`.
fn beside(checkpoint: &str, suffix: &str) -> String {
    let path = std::path::Path::new(checkpoint);
    let stem = path.file_stem().map_or("window".into(), |s| s.to_string_lossy());
    path.with_file_name(format!("{stem}{suffix}"))
        .display()
        .to_string()
}

/// Where the window saves the checkpoint of a run started from `preset`.
pub fn window_checkpoint(preset: &str) -> String {
    format!("runs/{preset}-window.safetensors")
}

/// Where the window saves the checkpoint of a run it opened from
/// `checkpoint` (or weights alone): beside it, named after it with
/// "-window" (a window's own checkpoint stays itself), so that Save never
/// replaces a training run's checkpoint, whose metrics.csv would no longer
/// match it, nor weights alone.
pub fn window_checkpoint_beside(checkpoint: &std::path::Path) -> PathBuf {
    let stem = checkpoint.file_stem().map_or("".into(), |s| s.to_string_lossy());
    if stem.ends_with("-window") && crate::io::is_checkpoint(checkpoint) {
        return checkpoint.to_path_buf();
    }
    checkpoint.with_file_name(format!("{stem}-window.safetensors"))
}

/// The texture in `slot`, rebuilt from `states` (a grid of images) only when
/// `key` changed: building the grid costs more than drawing it every frame.
fn grid_texture(
    ctx: &egui::Context,
    slot: &mut Option<(u64, egui::TextureHandle)>,
    name: &str,
    key: u64,
    states: &[f32],
    chw: [usize; 3],
) -> egui::TextureHandle {
    if let Some((seen, tex)) = slot
        && *seen == key
    {
        return tex.clone();
    }
    let image = image_grid(states, chw);
    let tex = match slot.take() {
        Some((_, mut tex)) => {
            tex.set(image, egui::TextureOptions::NEAREST);
            tex
        }
        None => ctx.load_texture(name, image, egui::TextureOptions::NEAREST),
    };
    *slot = Some((key, tex.clone()));
    tex
}

/// `texture` as the largest square that fits.
fn square_image(ui: &mut egui::Ui, texture: &egui::TextureHandle) {
    let side = ui.available_width().min(ui.available_height());
    ui.add(egui::Image::new(texture).fit_to_exact_size(egui::vec2(side, side)));
}

/// Images [n, C, H, W] in [−1, 1] as one picture (at most 100 images), laid
/// out as the GPU picture kernel does it, for when there is no wgpu renderer.
fn image_grid(states: &[f32], chw: [usize; 3]) -> egui::ColorImage {
    let n = (states.len() / chw.iter().product::<usize>().max(1)).min(PICTURE_IMAGES);
    let Ok(layout) = GridLayout::new(n, chw) else {
        return egui::ColorImage::new([1, 1], vec![egui::Color32::WHITE]);
    };
    let pixels = crate::reference::picture::image_grid(states, &layout)
        .iter()
        .map(|p| {
            let [r, g, b, a] = p.to_le_bytes();
            egui::Color32::from_rgba_unmultiplied(r, g, b, a)
        })
        .collect();
    egui::ColorImage::new([layout.width, layout.height], pixels)
}

/// 2-D states [n, 2] as plot points.
fn points(states: &[f32]) -> Vec<[f64; 2]> {
    states
        .chunks_exact(2)
        .map(|p| [f64::from(p[0]), f64::from(p[1])])
        .collect()
}

/// The maps' colours (viridis, as [`shades_image`] gives them) as a bar
/// between the words for its ends, `low` (dark) and `high` (bright); its
/// texture is made once, into `slot`.
fn colour_scale(ui: &mut egui::Ui, slot: &mut Option<egui::TextureHandle>, low: &str, high: &str) {
    const STEPS: usize = 64;
    let texture = slot.get_or_insert_with(|| {
        let pixels = (0..STEPS)
            .map(|i| {
                let [r, g, b] = crate::plot::viridis(i as f64 / (STEPS - 1) as f64);
                egui::Color32::from_rgb(r, g, b)
            })
            .collect();
        let image = egui::ColorImage::new([STEPS, 1], pixels);
        ui.ctx()
            .load_texture("colour scale", image, egui::TextureOptions::LINEAR)
    });
    ui.horizontal(|ui| {
        ui.label(low);
        // (Stretched: the texture is one pixel high.)
        let bar = egui::Image::new(&*texture)
            .maintain_aspect_ratio(false)
            .fit_to_exact_size(egui::vec2(100.0, 10.0));
        ui.add(bar);
        ui.label(high);
    });
}

/// A res × res grid of colour-scale positions (row-major, y up) as an
/// image (rows going down), in the PNG pictures' viridis.
fn shades_image(shades: &[f64], res: usize) -> egui::ColorImage {
    let mut pixels = Vec::with_capacity(res * res);
    for row in 0..res {
        let j = res - 1 - row;
        for i in 0..res {
            let [r, g, b] = crate::plot::viridis(shades[j * res + i]);
            pixels.push(egui::Color32::from_rgb(r, g, b));
        }
    }
    egui::ColorImage::new([res, res], pixels)
}

/// egui's fonts with Hack (shipped with egui) as a fallback for the
/// proportional text: Ubuntu-Light lacks the superscripts of X⁺ and X⁻.
pub fn install_fonts(ctx: &egui::Context) {
    let mut fonts = egui::FontDefinitions::default();
    if let Some(proportional) = fonts.families.get_mut(&egui::FontFamily::Proportional) {
        proportional.push("Hack".to_owned());
    }
    ctx.set_fonts(fonts);
}

/// Refuse to open the window where it cannot: on Linux with neither an X
/// nor a Wayland display named (said before the GPU is opened, not after).
pub fn check_display() -> Result<()> {
    let no_display = ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .all(|v| std::env::var_os(v).is_none());
    if cfg!(target_os = "linux") && no_display {
        return Err(Error::Shape(
            "the window needs a display, and neither DISPLAY nor WAYLAND_DISPLAY is set: run it on a \
             desktop, or headless under `xvfb-run -a ebmscope gui …`"
                .into(),
        ));
    }
    Ok(())
}

/// The eframe shell: counts frames, takes the `--screenshot`, and keeps
/// the trainer from submitting while the surface is configured.
struct Window {
    app: GuiApp,
    gpu: Arc<Gpu>,
    /// Window size at the last frame; a change means eframe reconfigures
    /// the surface after this frame's `ui`, so submissions are held until
    /// a frame sees the same size again.
    size: Option<egui::Vec2>,
    holding: bool,
    capture: Capture,
    frame: u64,
    requested: bool,
    /// The screenshot's outcome: what the window said when it was taken,
    /// or why it was not saved.
    done: Arc<std::sync::Mutex<Option<std::result::Result<Taken, String>>>>,
    rate: Arc<std::sync::Mutex<TrainingRate>>,
}

impl eframe::App for Window {
    /// A capture shows the window as it runs, not where a virtual display
    /// left its pointer (the screen's centre, over a plot, whose hover
    /// would draw a crosshair and a tooltip): captures ignore the pointer.
    fn raw_input_hook(&mut self, _ctx: &egui::Context, raw_input: &mut egui::RawInput) {
        if self.capture.screenshot.is_some() {
            raw_input
                .events
                .retain(|e| !matches!(e, egui::Event::PointerMoved(_) | egui::Event::MouseMoved(_)));
        }
    }

    /// Called before every ui pass, and while the window is hidden
    /// (minimised, covered), when eframe runs none but training goes on:
    /// its reports are taken in here, so that they do not pile up.
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.app.poll();
        if self.app.running {
            ctx.request_repaint_after(Duration::from_millis(30));
        }
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let size = ui.ctx().content_rect().size();
        if self.size != Some(size) {
            if !self.holding {
                self.gpu.hold_submissions();
                self.holding = true;
            }
            ui.ctx().request_repaint();
        } else if self.holding {
            self.gpu.release_submissions();
            self.holding = false;
        }
        self.size = Some(size);
        self.app.show(ui);
        *self.rate.lock().unwrap_or_else(|p| p.into_inner()) = self.app.training_rate;
        self.frame += 1;
        let Some(path) = self.capture.screenshot.clone() else {
            return;
        };
        // With --landscape or --long-run, the picture waits for the map or
        // the long run to end (done, failed or stopped).
        let work_ended = (self.capture.landscape.is_none() || self.app.landscape_progress.is_none())
            && (self.capture.long_run.is_none() || !self.app.long_run_pending);
        // With --run on images, for the first picture of the chains too: a
        // slow machine may not have drawn one in --frames frames (at most
        // PICTURE_WAIT times as many).
        let pictured = !self.capture.run
            || self.app.has_chains_to_show()
            || self.frame >= PICTURE_WAIT * self.capture.frames;
        if self.frame >= self.capture.frames && work_ended && pictured && !self.requested {
            self.requested = true;
            let done = self.done.clone();
            let ctx = ui.ctx().clone();
            let status = Taken {
                message: self.app.message.clone(),
                work_cut_short: self.app.work_cut_short.clone(),
            };
            ui.ctx().request_screenshot(move |image| {
                let [w, h] = image.size;
                let bytes: Vec<u8> = image.pixels.iter().flat_map(|p| p.to_array()).collect();
                let saved =
                    crate::io::write_png(&path, [w as u32, h as u32], crate::io::Pixels::Rgba, &bytes)
                        .map(|()| status)
                        .map_err(|e| e.to_string());
                *done.lock().unwrap_or_else(|p| p.into_inner()) = Some(saved);
                ctx.send_viewport_cmd(egui::ViewportCommand::Close);
                ctx.request_repaint();
            });
        }
        if !self.capture.run || self.frame < self.capture.frames || !work_ended || !pictured {
            ui.ctx().request_repaint();
        }
    }
}

impl Drop for Window {
    fn drop(&mut self) {
        // Let the training thread finish its submission and stop.
        if self.holding {
            self.gpu.release_submissions();
        }
    }
}

/// Open the window on `gpu` (its device is shared with eframe's renderer,
/// except on GL), training `config`, and run until it is closed (or the
/// screenshot is taken). `checkpoint` is where Save writes; with `resume`,
/// the session first loads that checkpoint, with `data` its images as read
/// and checked against it (`data` None: `config`'s are read here). Returns
/// how fast it trained while the window was open, and with a screenshot,
/// what the window said when it was taken.
pub fn run(
    gpu: Arc<Gpu>,
    config: Config,
    checkpoint: String,
    capture: Capture,
    resume: Option<PathBuf>,
    data: Option<crate::data::Dataset>,
) -> Result<(TrainingRate, Option<Taken>)> {
    // (First: a run that cannot be read is refused before the trainer
    // starts; followed, it may be one not started yet.)
    let overlay = match &capture.overlay {
        Some(path) => match Overlay::read(path.clone()) {
            Ok(overlay) => Some(Ok(overlay)),
            Err(e) if capture.overlay_follow => Some(Err((path.clone(), e))),
            Err(e) => return Err(Error::Config(format!("--overlay {e}"))),
        },
        None => None,
    };
    // wgpu's GL backend presents only to windows of the display its
    // instance was made for, and the trainer's was made before any window:
    // on GL the window draws with a device of its own, and image pictures
    // reach it through the CPU (as in the headless tests).
    let shared = gpu.info.backend != wgpu::Backend::Gl;
    let wgpu_setup = if shared {
        eframe::egui_wgpu::WgpuSetup::Existing(eframe::egui_wgpu::WgpuSetupExisting {
            instance: gpu.instance.clone(),
            adapter: gpu.adapter.clone(),
            device: gpu.device.clone(),
            queue: gpu.queue.clone(),
        })
    } else {
        eframe::egui_wgpu::WgpuSetup::without_display_handle()
    };
    // A checkpoint to load goes on from its own weights: the first trainer,
    // which its Load replaces, does not read net.init_weights (the file
    // may be gone).
    let mut first = config;
    if resume.is_some() {
        first.net.init_weights.clear();
    }
    let mut app = match data {
        Some(data) => {
            // (A checkpoint's images are its own: too many for this adapter
            // is no case for data.limit, as a new run's would be.)
            if let Some(set) = data.images() {
                crate::train::feed::ImageStore::check_fits(
                    &gpu,
                    set,
                    crate::train::feed::CHECKPOINT_TOO_LARGE,
                )?;
            }
            GuiApp::on_data(gpu.clone(), first, checkpoint.clone(), data)?
        }
        None => GuiApp::new(gpu.clone(), first, checkpoint.clone())?,
    };
    // First, before any other command (a failure is then the load's), and
    // before the hold below (the load submits work, and is waited for).
    if let Some(path) = resume {
        app.open_checkpoint(path)?;
    }
    app.open_views(&capture);
    if let Some(read) = overlay {
        app.overlay.open(read, capture.overlay_follow);
    }
    (app.start_over.preset, app.start_over.overrides) = start_over_offer(&capture);
    // Held from before the window exists until its size settles (see Window).
    gpu.hold_submissions();
    if capture.run {
        app.run_on();
    }
    if let Some(ask) = capture.long_run {
        app.panel = ChainsPanel::LongRun;
        app.long_run_steps = ask.steps.to_string();
        app.long_run_temp = short(ask.temp_factor);
        app.long_run_mala = ask.mala;
        app.start_long_run(ask);
    }
    if let Some(options) = &capture.landscape {
        app.panel = ChainsPanel::Landscape;
        if let ChainStart::Saved(c) = &options.from {
            app.landscape_from = c.path.display().to_string();
        }
        app.landscape_starts = options.starts.to_string();
        app.landscape_alpha = options
            .alphas
            .iter()
            .map(|&a| alpha_label(a))
            .collect::<Vec<_>>()
            .join(",");
        app.landscape_temp = short(options.temp_factor);
        app.start_landscape(options.clone());
    }
    let done = Arc::new(std::sync::Mutex::new(None));
    let rate = Arc::new(std::sync::Mutex::new(TrainingRate::default()));
    let options = eframe::NativeOptions {
        renderer: eframe::Renderer::Wgpu,
        viewport: egui::ViewportBuilder::default()
            .with_title("ebmscope")
            .with_inner_size([1280.0, 800.0]),
        wgpu_options: eframe::egui_wgpu::WgpuConfiguration {
            wgpu_setup,
            ..Default::default()
        },
        ..Default::default()
    };
    let window = Window {
        app,
        gpu,
        size: None,
        holding: true,
        capture: capture.clone(),
        frame: 0,
        requested: false,
        done: done.clone(),
        rate: rate.clone(),
    };
    eframe::run_native(
        "ebmscope",
        options,
        Box::new(|cc| {
            install_fonts(&cc.egui_ctx);
            let mut window = window;
            window.app.renderer = cc.wgpu_render_state.clone().filter(|_| shared);
            Ok(Box::new(window))
        }),
    )
    .map_err(|e| Error::Shape(format!("the window could not open: {e}")))?;
    let status = match done.lock().unwrap_or_else(|p| p.into_inner()).take() {
        Some(Ok(status)) => Some(status),
        Some(Err(e)) => return Err(Error::Config(format!("screenshot: {e}"))),
        None if capture.screenshot.is_some() => {
            return Err(Error::Config(
                "the window closed before the screenshot was taken".into(),
            ));
        }
        None => None,
    };
    Ok((*rate.lock().unwrap_or_else(|p| p.into_inner()), status))
}

/// The learning plots' curves, for a history of `len` iterations ending
/// with `last`: made again only when an iteration comes or the history is
/// replaced, not every frame.
#[derive(Default)]
struct LearningCurves {
    len: usize,
    last: Option<IterationEvent>,
    /// d_st's points by phase ([`thinned_points`]).
    expansion: Vec<PlotPoint>,
    contraction: Vec<PlotPoint>,
    run: RunCurves,
}

/// A run's curves by iteration, thinned ([`thinned_points`]), and d_st's
/// fit: this run's, or the overlay's.
#[derive(Default)]
struct RunCurves {
    d_st: Vec<PlotPoint>,
    r_t: Vec<PlotPoint>,
    u_data: Vec<PlotPoint>,
    u_samples: Vec<PlotPoint>,
    lr: Vec<PlotPoint>,
    /// Top of the learning-rate plot: from zero up, so a constant rate
    /// reads as such.
    lr_top: f64,
    /// d_st's y range (None before the first iteration).
    d_st_fit: Option<DstFit>,
}

impl RunCurves {
    /// The curves of a run's `rows`, in order.
    fn of(rows: impl Iterator<Item = MetricsRow> + Clone) -> Self {
        let rows = || rows.clone();
        let curve =
            |y: fn(&MetricsRow) -> f64| thinned_points(rows().map(|r| [r.iteration as f64, y(&r)]).collect());
        RunCurves {
            d_st: curve(|r| r.d_st),
            r_t: curve(|r| r.r_t),
            u_data: curve(|r| r.mean_u_data),
            u_samples: curve(|r| r.mean_u_samples),
            lr: curve(|r| r.lr),
            lr_top: rows().map(|r| r.lr).fold(0.0, f64::max) * 1.2,
            d_st_fit: DstFit::of(&rows().map(|r| r.d_st).collect::<Vec<_>>()),
        }
    }
}

/// A file's field over the rest of the row (`hint` in it while empty): a
/// long path scrolls in it, whole when hovered, rather than widen the
/// column over the plots beside it.
fn path_field(ui: &mut egui::Ui, path: &mut String, hint: &str) -> egui::Response {
    let whole = path.clone();
    let field = ui.add(
        egui::TextEdit::singleline(path)
            .desired_width(ui.available_width())
            .hint_text(hint),
    );
    if whole.is_empty() {
        field
    } else {
        field.on_hover_text(whole)
    }
}

/// TV(p_θ, q) (`model`) and TV(KDE, q) (`kde`) of a run's evaluations by
/// iteration, as the TV plot draws them.
pub(super) struct TvPoints {
    model: Vec<PlotPoint>,
    kde: Vec<PlotPoint>,
}

impl TvPoints {
    pub(super) fn of(rows: &[ToyRow]) -> Self {
        let at = |t: &ToyRow, tv: f64| PlotPoint::new(t.iteration as f64, tv);
        let (model, kde) = rows.iter().map(|t| (at(t, t.tv_model), at(t, t.tv_kde))).unzip();
        TvPoints { model, kde }
    }
}

/// One of the overlay's curves: beneath this run's, in one colour, thinner.
fn overlay_line<'a>(name: &str, points: &'a [PlotPoint]) -> Line<'a> {
    Line::new(name, points).color(OVERLAY_COLOR).width(1.5)
}

/// `points` thinned to [`MAX_PLOT_POINTS`], as egui_plot takes them.
fn thinned_points(points: Vec<[f64; 2]>) -> Vec<PlotPoint> {
    crate::plot::thinned(points, MAX_PLOT_POINTS)
        .into_iter()
        .map(PlotPoint::from)
        .collect()
}

/// d_st's y range as plot::d_st_span fits it (to the run's later half where
/// its start would flatten it; symmetric about 0), and how far the values
/// before the fit reach.
#[derive(Clone, Debug, PartialEq)]
struct DstFit {
    span: [f64; 2],
    /// How far the values before the fit reach, where any are finite.
    early: Option<crate::plot::EarlyReach>,
}

impl DstFit {
    fn of(d: &[f64]) -> Option<DstFit> {
        let (span, start) = crate::plot::d_st_span(d)?;
        Some(DstFit {
            span,
            early: crate::plot::EarlyReach::of(d, start),
        })
    }
}

impl LearningCurves {
    /// `cache`, made again from `history` if it is another history's.
    fn of<'a>(cache: &'a mut LearningCurves, history: &[IterationEvent]) -> &'a LearningCurves {
        if (cache.len, cache.last) == (history.len(), history.last().copied()) {
            return cache;
        }
        let split = |phase: Phase| {
            thinned_points(
                history
                    .iter()
                    .filter(|e| e.phase == phase)
                    .map(|e| [e.iteration as f64, e.d_st])
                    .collect(),
            )
        };
        *cache = LearningCurves {
            len: history.len(),
            last: history.last().copied(),
            expansion: split(Phase::Expansion),
            contraction: split(Phase::Contraction),
            run: RunCurves::of(history.iter().map(MetricsRow::from)),
        };
        cache
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stopped evaluation counts as the last (its `last`): running, the
    /// view asks again DENSITY_EVERY iterations on, not at the next.
    #[test]
    fn the_densities_view_asks_every_few_iterations_while_running() {
        assert!(densities_due(None, 0, true));
        assert!(!densities_due(Some(5), 5, false) && densities_due(Some(5), 6, false));
        assert!(!densities_due(Some(5), 6, true) && !densities_due(Some(5), 14, true));
        assert!(densities_due(Some(5), 15, true));
    }

    /// The particle view holds the data and the chains but the farthest
    /// few (two and 1 % more per side), with a tenth to spare: chains gone
    /// to 1e6, two of 50 or four of 200 on one side, do not stretch it;
    /// those past it are drawn at its edge, and those not finite counted.
    #[test]
    fn the_particle_view_leaves_far_chains_out() {
        let data = [[-1.0, -2.0], [1.0, 2.0]];
        // 200 chains at x = 0 … 1.99 but the last 4 gone to 1e6 (y: 0).
        let mut chains: Vec<[f64; 2]> = (0..200).map(|i| [i as f64 / 100.0, 0.0]).collect();
        chains[196..].iter_mut().for_each(|p| p[0] = 1e6);
        chains.push([f64::NAN, 0.5]);
        let [x, y] = particle_view(&data, &chains);
        // (x: from the data's −1 to 1.95, the highest of the 200 finite
        // chains' but 2 + 2 (rank 195); a tenth of 2.95 spare.)
        assert!(
            (*x.start() + 1.295).abs() < 1e-9 && (*x.end() - 2.245).abs() < 1e-9,
            "{x:?}"
        );
        assert!(
            (*y.start() + 2.4).abs() < 1e-9 && (*y.end() - 2.4).abs() < 1e-9,
            "{y:?}"
        );
        let split = Particles::split(chains, &[x.clone(), y]);
        assert_eq!(
            (split.inside.len(), split.past.len(), split.not_finite),
            (196, 4, 1)
        );
        assert!(split.past.iter().all(|p| p == &[*x.end(), 0.0]));
        // Two of 50 gone far on one side: left out too.
        let mut few: Vec<[f64; 2]> = (0..50).map(|i| [i as f64 / 50.0, 0.0]).collect();
        few[48..].iter_mut().for_each(|p| p[0] = -1e6);
        let [x, _] = particle_view(&data, &few);
        assert!(*x.start() > -2.0, "{x:?}");
        assert_eq!(particle_view(&[], &[]), [-1.0..=1.0, -1.0..=1.0]);
        // One chain alone, and no data, is its own view.
        let [x, _] = particle_view(&[], &[[3.0, 3.0]]);
        assert!(x.contains(&3.0), "{x:?}");
    }

    /// The path draws every chain of a few, 12 evenly picked of many; its
    /// band is the 10th to 90th percentile at each step, its bold line the
    /// mean over all chains.
    #[test]
    fn the_langevin_path_summarises_many_chains() {
        assert_eq!(path_chains_drawn(6), [0, 1, 2, 3, 4, 5]);
        let many = path_chains_drawn(100);
        assert_eq!((many.len(), many[0], many[11]), (12, 0, 91));
        // Two steps of 11 chains: U = 0…10, then 10× that.
        let u: Vec<f32> = (0..11).chain((0..11).map(|c| 10 * c)).map(|c| c as f32).collect();
        assert_eq!(path_summary(&u, 11), [[5.0, 1.0, 9.0], [50.0, 10.0, 90.0]]);
        // A chain gone to NaN leaves the others' summary (0 … 9 here); a
        // step with none finite is NaN.
        let mut u = u;
        u[10] = f32::NAN;
        assert_eq!(path_summary(&u[..11], 11), [[4.5, 1.0, 8.0]]);
        assert!(path_summary(&[f32::NAN; 3], 3)[0].iter().all(|v| v.is_nan()));
    }

    /// d_st's y range leaves out the first half of a run where its swings
    /// would flatten the later ones, symmetric about 0, and says so.
    #[test]
    fn d_st_is_fitted_to_the_later_half_and_says_what_it_leaves_off() {
        let history: Vec<IterationEvent> = (1..=100)
            .map(|i| {
                let d_st = if i <= 50 {
                    -40.0
                } else if i % 2 == 0 {
                    0.2
                } else {
                    -0.1
                };
                IterationEvent {
                    iteration: i,
                    d_st,
                    r_t: 1.0,
                    mean_u_data: 5.0,
                    mean_u_samples: 6.0,
                    lr: 0.1,
                    wall_time: i as f64,
                    phase: Phase::of(d_st),
                    epsilon: 0.1,
                    steps: 4,
                }
            })
            .collect();
        let d: Vec<f64> = history.iter().map(|e| e.d_st).collect();
        let fit = DstFit::of(&d).unwrap();
        let near = |a: [f64; 2], b: [f64; 2]| (a[0] - b[0]).abs() < 1e-12 && (a[1] - b[1]).abs() < 1e-12;
        assert!(near(fit.span, [-0.22, 0.22]), "{fit:?}");
        assert_eq!(
            fit.early.and_then(|e| e.off(fit.span)).as_deref(),
            Some("y fits 51–100; before, -40")
        );
        // A scale holding -40 (another run's, say) leaves nothing off.
        assert_eq!(fit.early.and_then(|e| e.off([-50.0, 1.0])), None);
        assert_eq!(DstFit::of(&[]), None);
        // A short run: its last 20 iterations at least (here all 10).
        let short = DstFit::of(&d[..10]).unwrap();
        assert!(
            near(short.span, [-44.0, 44.0]) && short.early.is_none(),
            "{short:?}"
        );
    }

    /// The learning curves are made again when an iteration comes or the
    /// history is replaced (a Load of another run), and kept otherwise.
    #[test]
    fn learning_curves_follow_their_history() {
        let event = |iteration: u64, d_st: f64| IterationEvent {
            iteration,
            d_st,
            r_t: 0.5,
            mean_u_data: 0.0,
            mean_u_samples: 0.0,
            lr: 0.1,
            wall_time: iteration as f64,
            phase: Phase::of(d_st),
            epsilon: 0.1,
            steps: 4,
        };
        let xy = |points: &[PlotPoint]| points.iter().map(|p| [p.x, p.y]).collect::<Vec<_>>();
        let mut cache = LearningCurves::default();
        let mut history = vec![event(1, -1.0), event(2, 2.0)];
        let c = LearningCurves::of(&mut cache, &history);
        assert_eq!(
            (xy(&c.run.d_st), c.expansion.len(), c.run.lr_top),
            (vec![[1.0, -1.0], [2.0, 2.0]], 1, 0.1 * 1.2)
        );
        // The same history again: the same curves, not made again (a new
        // set is made before the old one goes, so its buffers differ).
        let made = c.run.d_st.as_ptr();
        assert_eq!(LearningCurves::of(&mut cache, &history).run.d_st.as_ptr(), made);
        history.push(event(3, 3.0));
        assert_eq!(
            xy(&LearningCurves::of(&mut cache, &history).contraction),
            [[2.0, 2.0], [3.0, 3.0]]
        );
        // Another run of as many iterations.
        let other = vec![event(1, 5.0), event(2, 6.0), event(3, 7.0)];
        assert_eq!(
            xy(&LearningCurves::of(&mut cache, &other).run.d_st),
            [[1.0, 5.0], [2.0, 6.0], [3.0, 7.0]]
        );
    }

    /// The overlay's curves are its rows', and d_st is fitted to both runs'
    /// ranges (the overlay's alone while this run has none).
    #[test]
    fn an_overlay_draws_its_rows_and_widens_the_d_st_fit() {
        let row = |iteration: u64, d_st: f64| MetricsRow {
            iteration,
            d_st,
            r_t: 0.01 * iteration as f64,
            mean_u_data: 1.0,
            mean_u_samples: 2.0,
            lr: 0.05,
            wall_time: 0.0,
        };
        // d_st flipping sign each iteration after a first -3: strong
        // oscillation, read over a window of 20 (config.toml's, as
        // `compare` reads it: lag 1 at −19/20 against its threshold 3/√20 = 0.67).
        let mut config = Config::preset("rings-convergent").unwrap();
        config.eval.window = 20;
        let d: Vec<f64> = (1..=22)
            .map(|i| {
                if i == 1 {
                    -10.0
                } else if i % 2 == 0 {
                    1.0
                } else {
                    -1.0
                }
            })
            .collect();
        let rows: Vec<MetricsRow> = (1..=22).map(|i| row(i, d[i as usize - 1])).collect();
        let run = |toy| {
            crate::train::compare_runs::ComparedRun::of_rows(
                std::path::Path::new("runs/b"),
                rows.clone(),
                false,
                toy,
                Vec::new(),
                &config,
            )
        };
        let o = Overlay::of(PathBuf::from("runs/b"), run(Vec::new()), Vec::new());
        let xy = |points: &[PlotPoint]| points.iter().map(|p| [p.x, p.y]).collect::<Vec<_>>();
        assert_eq!(xy(&o.curves.d_st)[..3], [[1.0, -10.0], [2.0, 1.0], [3.0, -1.0]]);
        assert_eq!(o.curves.d_st.len(), 22);
        assert_eq!(xy(&o.curves.r_t)[..2], [[1.0, 0.01], [2.0, 0.02]]);
        assert_eq!((o.curves.u_data[0].y, o.curves.u_samples[0].y), (1.0, 2.0));
        assert_eq!(o.curves.lr_top, 0.05 * 1.2);
        // d_st fitted to its last 20 iterations (±1, a tenth to spare):
        // the first -10 lies off it, as the overlay's note says.
        let fit = o.curves.d_st_fit.as_ref().expect("22 rows have a span");
        assert!(
            (fit.span[0] + 1.1).abs() < 1e-12 && (fit.span[1] - 1.1).abs() < 1e-12,
            "{fit:?}"
        );
        let early = fit.early.expect("values before the fit");
        assert_eq!(early.off_before(fit.span).as_deref(), Some("before 3, -10 to 1"));
        assert_eq!(early.off_before([-10.0, 1.1]), None);
        assert_eq!(o.summary(), "runs/b: 22 iterations; oscillation strong");
        // A toy run's last evaluation, as `compare`'s table ends.
        let evaluated = |iteration, tv_model, tv_kde| ToyRow {
            iteration,
            tv_model,
            kl_model: 1.0,
            tv_kde,
            kl_kde: 1.0,
        };
        let toy = vec![evaluated(10, 0.5, 0.4), evaluated(20, 0.2, 0.25)];
        let o = Overlay::of(PathBuf::from("runs/b"), run(toy), Vec::new());
        assert_eq!(
            o.summary(),
            "runs/b: 22 iterations; oscillation strong; TV(p_θ, q) 0.200, TV(KDE, q) 0.250 at iteration 20"
        );
    }

    /// The chains' grid is built once per key (iteration or long-run step),
    /// into the same texture; a frame with the same key uploads nothing.
    #[test]
    fn grid_texture_is_rebuilt_only_for_a_new_key() {
        let ctx = egui::Context::default();
        let uploads = || {
            let mut delta = ctx.tex_manager().write().take_delta();
            let n = delta.set.len();
            delta.clear();
            n
        };
        uploads();
        let mut slot = None;
        let chw = [1, 2, 2];
        let first = grid_texture(&ctx, &mut slot, "chains", 1, &[0.0; 8], chw);
        assert_eq!(uploads(), 1);
        let again = grid_texture(&ctx, &mut slot, "chains", 1, &[1.0; 8], chw);
        assert_eq!((again.id(), uploads()), (first.id(), 0));
        let next = grid_texture(&ctx, &mut slot, "chains", 2, &[1.0; 8], chw);
        assert_eq!((next.id(), uploads()), (first.id(), 1));
    }

    /// Each density from its minimum to its maximum, on a linear or (as the
    /// PNG's bottom row) a log scale.
    #[test]
    fn densities_shade_from_minimum_to_maximum_linearly_or_in_logs() {
        // (A minimum above 0: the linear scale starts at it, not at 0.)
        let p = [8.0, 4.0, 2.0, 1.0];
        let shades = |log| {
            let image = shades_image(&crate::plot::density_shades(&p, log), 2);
            // Image rows go down, grid rows (y) go up: the first grid row is the last image row.
            [image.pixels[2], image.pixels[3], image.pixels[0], image.pixels[1]]
        };
        let viridis = |v: f64| {
            let [r, g, b] = crate::plot::viridis(v);
            egui::Color32::from_rgb(r, g, b)
        };
        assert_eq!(
            shades(false),
            [viridis(1.0), viridis(3.0 / 7.0), viridis(1.0 / 7.0), viridis(0.0)]
        );
        let ln = |p: f64| (p + 1e-10).ln();
        let log_shade = |p| (ln(p) - ln(1.0)) / (ln(8.0) - ln(1.0));
        assert_eq!(
            shades(true),
            [
                viridis(1.0),
                viridis(log_shade(4.0)),
                viridis(log_shade(2.0)),
                viridis(0.0)
            ]
        );
    }

    /// A launch from a preset offers it with its overrides; one from a file
    /// or a checkpoint (no preset) offers this run's settings, alone.
    #[test]
    fn start_over_offers_the_launch_preset_or_this_run() {
        let capture = |preset: Option<&str>| Capture {
            preset: preset.map(String::from),
            overrides: vec!["batch.chains=10".into(), "langevin.steps=5".into()],
            ..Default::default()
        };
        let offer = |preset| start_over_offer(&capture(preset));
        assert_eq!(
            offer(Some("rings-convergent")),
            (
                "rings-convergent".into(),
                "batch.chains=10\nlangevin.steps=5".into()
            )
        );
        assert_eq!(offer(None), (THIS_RUN.into(), String::new()));
    }

    /// Ticks step by 1, 2 or 5 × 10^k, and the middle step is the finest
    /// whose labels egui_plot paints (over 20 points apart on a y axis, 60
    /// on an x axis) but not much coarser, so that a short axis gets labels
    /// beside 0; labels show their step's precision, large ones in powers of ten.
    #[test]
    fn ticks_are_one_two_five_and_labelled_to_their_step() {
        // A d_st plot about 100 points high over ±1.5: 8 points are 0.29,
        // and 1 is the step to label (33 points); 2 would leave only 0.
        let input = |base_step_size| egui_plot::GridInput {
            bounds: (-1.5, 1.5),
            base_step_size,
        };
        let close = |a: [f64; 3], b: [f64; 3]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-12);
        assert!(
            close(y_steps(input(0.29)), [0.5, 1.0, 5.0]),
            "{:?}",
            y_steps(input(0.29))
        );
        for base in [0.013, 0.3, 0.4, 1.0, 7.0, 123.0] {
            let [fine, labelled, coarse] = y_steps(input(base));
            let points = |step: f64| step / base * GRID_POINTS;
            assert!(fine >= base && fine < 2.5 * base, "{base}: {fine}");
            assert!(points(labelled) > Y_LABEL_POINTS && points(labelled) < 2.6 * Y_LABEL_POINTS);
            assert!(coarse > labelled);
            let labelled_x = x_steps(input(base))[1];
            assert!(points(labelled_x) > X_LABEL_POINTS && points(labelled_x) < 2.6 * X_LABEL_POINTS);
            // Iterations: whole steps however close the axis comes.
            let whole = iteration_steps(input(base));
            assert!(
                whole.iter().all(|&s| s >= 1.0 && s.fract() == 0.0),
                "{base}: {whole:?}"
            );
            assert!(whole[0] < whole[1] && whole[1] < whole[2], "{base}: {whole:?}");
        }
        let label = |value, step_size| tick_label(egui_plot::GridMark { value, step_size });
        assert_eq!(label(0.05, 0.05), "0.05");
        assert_eq!(label(-0.5, 0.5), "-0.5");
        assert_eq!(label(200.0, 100.0), "200");
        assert_eq!(label(0.0, 1e19), "0");
        assert_eq!(label(2e19, 1e19), "2e19");
        assert_eq!(label(-9.5e9, 5e8), "-9.5e9");
        assert_eq!(label(0.00002, 0.00001), "2e-5");
        // A whole number on a half step's level reads as on the whole step's.
        assert_eq!(label(3.0, 0.5), "3");
        assert_eq!(label(-0.0, 0.5), "0");
        assert_eq!(label(3.0, 1.0), "3");
        assert_eq!(label(3.5, 0.5), "3.5");
        assert_eq!(label(-0.04, 0.02), "-0.04");
        assert_eq!(label(3e19, 5e18), "3e19");
        assert_eq!(label(2.5e19, 5e18), "2.5e19");
    }
}
