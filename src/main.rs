//! The `ebmscope` command line: a thin layer over the library.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};

use ebmscope::bench::{BenchReport, LayerTiming, Workload, WorkloadResult, run_workload, workloads};
use ebmscope::config::{absolute_path, plural, rounded, short, spelling};
use ebmscope::diagnostics::Correlations;
use ebmscope::gpu::{AdapterChoice, ConvKernels, Gpu, list_adapters};
use ebmscope::io::{Tensor, load_params, read_tensor, save_params, shell_path, write_tensors};
use ebmscope::model::{Backward, GpuNet, NetKind, NetSpec, init_params};
use ebmscope::train::Trainer;
use ebmscope::train::landscape::LandscapeOptions;
use ebmscope::train::longrun::{ChainStart, LongRunInit};

#[derive(Parser)]
#[command(
    name = "ebmscope",
    version,
    about = "Train and watch ConvNet energy-based models on any GPU wgpu reaches",
    after_help = "Start here: `ebmscope train` (a toy run, a minute or two even on a CPU adapter), then \
                  `ebmscope gui` to watch one; `ebmscope info` lists the adapters wgpu sees."
)]
struct Cli {
    #[command(flatten)]
    adapter: AdapterArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct AdapterArgs {
    /// Use the adapter whose name contains this text (see `ebmscope info`).
    #[arg(long, global = true, env = "EBMSCOPE_ADAPTER", help_heading = GPU_OPTIONS)]
    adapter: Option<String>,
    /// Use this backend: vulkan, metal, dx12 or gl.
    #[arg(long, global = true, env = "EBMSCOPE_BACKEND", help_heading = GPU_OPTIONS)]
    backend: Option<String>,
    /// Convolution kernels: direct, tiled, by-shape or measured [default:
    /// by-shape on GPUs, direct on CPU adapters].
    ///
    /// by-shape chooses per pass: tiled (implicit GEMM) where the channels
    /// fill a tile of 64, or half of one for the weight gradient; measured
    /// times both per layer and pass when the net is built and takes the
    /// faster (runs then agree only within rounding). Linear layers of 256
    /// inputs or more also split each row over a workgroup, except with
    /// direct. bench's per-layer table times direct and tiled beside them.
    // (A string, so that an empty EBMSCOPE_CONV_KERNELS counts as unset, as
    // the other two variables do.)
    #[arg(
        long,
        global = true,
        env = "EBMSCOPE_CONV_KERNELS",
        value_name = "KERNELS",
        help_heading = GPU_OPTIONS
    )]
    conv_kernels: Option<String>,
}

/// The heading the adapter options stand under in every command's help.
const GPU_OPTIONS: &str = "GPU options";

/// How long work says how far it got without a terminal (a literal, for
/// the help texts' concat!; the default of [`ProgressLines`]).
macro_rules! progress_help {
    () => {
        "Without a terminal (a notebook, a pipe), progress is a line every 30 s \
         (EBMSCOPE_PROGRESS_SECONDS)."
    };
}

/// What `train --help` ends with: the settings people look for as flags,
/// and what a stop and a pipe do.
const TRAIN_AFTER_HELP: &str = concat!(
    "Common settings, as --set KEY=VALUE: seed, optimizer.lr, langevin.epsilon (ε, the step \
     size), langevin.steps (L), batch.data and batch.chains (batch sizes), iterations (or \
     --iters). A run's config.toml lists them all (README: Training).\n\
     Ctrl-C saves a checkpoint after the iteration under way and stops (--resume goes on from \
     it; an evaluation under way stops, and the resume makes it); a second Ctrl-C stops at \
     once. ",
    progress_help!()
);

#[derive(Subcommand)]
enum Command {
    /// List every adapter wgpu sees, with backend, type, driver and the limits ebmscope relies on.
    Info,
    /// Check the GPU kernels against the CPU reference on the chosen adapter.
    Doctor,
    /// Energy F(x) and its input gradient ∇x F(x) for a batch in a safetensors file.
    #[command(override_usage = "ebmscope energy [OPTIONS]")]
    Energy(EnergyArgs),
    /// Train an EBM by MCMC maximum likelihood (Algorithm 1 of Nijkamp et
    /// al., 2020) and write a run folder.
    #[command(override_usage = "ebmscope train [OPTIONS]", after_help = TRAIN_AFTER_HELP)]
    Train(TrainArgs),
    /// Long-run sampling from a checkpoint: is the model's steady state realistic?
    #[command(
        override_usage = "ebmscope sample [OPTIONS] --checkpoint <FILE>",
        after_help = concat!(
            "Ctrl-C stops after the steps under way, keeping what is written. ",
            progress_help!()
        )
    )]
    Sample(SampleArgs),
    /// Map a checkpoint's energy landscape: minima by gradient descent,
    /// basins by attraction–diffusion.
    #[command(
        override_usage = "ebmscope landscape [OPTIONS] --checkpoint <FILE>",
        after_help = progress_help!()
    )]
    Landscape(LandscapeArgs),
    /// Time fixed workloads (each first checked against the CPU reference).
    #[command(override_usage = "ebmscope bench [OPTIONS]")]
    Bench(BenchArgs),
    /// Open the live window: watch the chains and the d_st / r_t pendulum
    /// (the data's energy against the samples', and the Langevin gradient's
    /// size), steer the step size ε, noise factor τ, steps L and learning rate.
    #[command(
        override_usage = "ebmscope gui [OPTIONS]",
        after_help = "Without a display (a server, CI), run it under `xvfb-run -a`."
    )]
    Gui(GuiArgs),
    /// Training runs side by side: d_st, r_t and (toy data) TV(p_θ, q) of
    /// each on shared axes, and what each one's trailing window says of
    /// the oscillation.
    #[command(override_usage = "ebmscope compare [OPTIONS] <RUN>...")]
    Compare(CompareArgs),
}

#[derive(Args)]
struct CompareArgs {
    /// Run folders, as `train --out` writes them (a run still training is
    /// read as far as it has got), or checkpoints (one the window saved
    /// holds its run's history).
    #[arg(required = true, value_name = "RUN")]
    runs: Vec<PathBuf>,
    /// The figure [default: compare.png]; an earlier picture of
    /// ebmscope's there is written over, any other file kept.
    #[arg(long, value_name = "FILE.png")]
    out: Option<PathBuf>,
    /// The table on stdout: aligned for reading, or CSV for a spreadsheet
    /// (`> runs.csv`: numbers in full, the changes in a last column).
    #[arg(long, value_enum, default_value_t = TableFormat::Text)]
    table: TableFormat,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum TableFormat {
    Text,
    Csv,
}

#[derive(Args)]
// (One panel's work at a time: a map, or a long run.)
#[command(group(clap::ArgGroup::new("panel_work").args(["landscape", "long_run"])))]
struct GuiArgs {
    /// Built-in settings (as `train --preset`; default gmm-quick).
    #[arg(long)]
    preset: Option<String>,
    /// A TOML file of settings (over the preset, if one is given).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Continue from a checkpoint (its config gives the network and settings;
    /// change them in the window), or from weights alone: a run's
    /// weights/weights_N.safetensors (its run's settings as at N), or a
    /// PyTorch state dict (torch.save's .pth, or saved with safetensors),
    /// with --preset or --config saying its settings.
    #[arg(long, value_name = "FILE")]
    checkpoint: Option<PathBuf>,
    /// Override one setting, e.g. --set langevin.epsilon=0.1 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Image data for an image preset (as `train --data`); with
    /// --checkpoint, where the run's image data lies now, if it moved.
    #[arg(long, value_name = "PATH")]
    data: Option<PathBuf>,
    /// Render this many frames (with --run on images, until the first
    /// picture of the chains shows), then save --screenshot and exit.
    #[arg(long, requires = "screenshot", allow_negative_numbers = true, value_parser = whole::<u64>)]
    frames: Option<u64>,
    /// PNG of the window after --frames frames (for tests and documentation).
    #[arg(long, requires = "frames", value_name = "FILE")]
    screenshot: Option<PathBuf>,
    /// Start training at once (a finished run: as Run on, as many
    /// iterations again).
    #[arg(long)]
    run: bool,
    /// Open the toy view on the chains' particles or on the densities.
    #[arg(long, value_enum)]
    toy_view: Option<ebmscope::gui::ToyView>,
    /// Open the plots on the learning curves, the correlations or the Langevin path.
    #[arg(long, value_enum)]
    plots: Option<ebmscope::gui::PlotsView>,
    /// For image data: open the picture on the chains, the data batch or the bank.
    #[arg(long, value_enum)]
    picture: Option<ebmscope::train::PictureSource>,
    /// Open the densities on a log scale (the *log scale* box ticked): a
    /// sharp model's exp(−U) is one bright dot on the linear one.
    #[arg(long)]
    log_scale: bool,
    /// Open d_st's plot fitted to the whole run, its first swings included
    /// (the box "d_st fitted to the run's later half" unticked).
    #[arg(long)]
    whole_d_st: bool,
    /// Open the landscape panel and map the model at once (as `ebmscope
    /// landscape`); with --screenshot, the picture waits for the map.
    #[arg(long)]
    landscape: bool,
    /// With --landscape: how many states gradient descent starts from
    /// [default: 64; with --from-chains, the file's chains up to 64].
    #[arg(long, requires = "landscape", allow_negative_numbers = true, value_parser = whole::<usize>)]
    starts: Option<usize>,
    /// With --landscape: start the descents from the chains in this file,
    /// its first --starts (as `landscape --from-chains`).
    #[arg(long, value_name = "FILE", requires = "landscape")]
    from_chains: Option<PathBuf>,
    /// With --landscape: the pull α, or several comma-separated (each mapped with the same chains).
    #[arg(
        long,
        requires = "landscape",
        value_delimiter = ',',
        default_values_t = LandscapeOptions::default().alphas,
        allow_negative_numbers = true,
        value_parser = alpha_value
    )]
    alpha: Vec<f64>,
    /// Open the long-run panel and run this many steps from the model at
    /// once (as its Start button, from the run's eval.longrun_init start);
    /// with --screenshot, the picture waits for its end.
    #[arg(long, value_name = "STEPS", allow_negative_numbers = true, value_parser = whole::<u64>)]
    long_run: Option<u64>,
    /// With --long-run: MALA instead of plain Langevin.
    #[arg(long, requires = "long_run")]
    mala: bool,
    /// Draw another run behind this one's learning curves and correlations,
    /// in violet: its folder or a checkpoint, as `ebmscope compare` takes
    /// them (the window's *Overlay* field; read again by *Show overlay*).
    #[arg(long, value_name = "RUN")]
    overlay: Option<PathBuf>,
    /// With --overlay: read it again every 2 s while its files change
    /// (*follow* ticked), to watch a run training elsewhere (`ebmscope
    /// train` in a terminal; one not started yet is waited for).
    #[arg(long, requires = "overlay")]
    follow: bool,
    /// With --landscape or --long-run: the temperature factor f (exp(−U/f)).
    #[arg(long, requires = "panel_work", allow_negative_numbers = true, default_value_t = LandscapeOptions::default().temp_factor, value_parser = number)]
    temp_factor: f64,
}

#[derive(Args)]
struct BenchArgs {
    /// Small sizes, for software adapters (seconds instead of minutes there).
    #[arg(long)]
    small: bool,
    /// Only the workloads whose name contains this text: toy-L100, toy-L500,
    /// vanilla-32, nonlocal-32; with --small, toy-small, vanilla-8-small,
    /// nonlocal-8-small.
    #[arg(long)]
    only: Option<String>,
    /// Seconds of timing per measurement (after a warm-up).
    #[arg(long, default_value_t = 2.0, allow_negative_numbers = true, value_parser = number)]
    seconds: f64,
    /// Also write the results as JSON (the format scripts/bench_torch.py prints).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Build and time only the default convolution kernels, not the others
    /// beside them (for a rerun where the others fail on this adapter).
    #[arg(long)]
    default_kernels_only: bool,
    /// At the end, what the Vulkan driver says of each kernel compiled:
    /// registers, shared and spilled memory, instructions, as each driver
    /// names them (VK_KHR_pipeline_executable_properties; Vulkan only).
    #[arg(long)]
    pipeline_stats: bool,
}

/// The model `sample` and `landscape` start from.
#[derive(Args)]
struct ModelArgs {
    /// A run's checkpoint.safetensors (its settings give the net and the
    /// Langevin step), or weights alone: a run's
    /// weights/weights_N.safetensors (its run's settings as at N), or a
    /// PyTorch model's state dict (torch.save's .pth, or saved with
    /// safetensors), with --preset or --config saying its settings.
    #[arg(long, visible_alias = "weights", value_name = "FILE")]
    checkpoint: PathBuf,
    /// With weights alone: the built-in settings they were trained with (as `train --preset`).
    #[arg(long)]
    preset: Option<String>,
    /// With weights alone: a TOML file of their settings (a run's
    /// config.toml, say; over --preset, if one is given).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// With weights alone: override one of their settings, e.g. --set net.n_f=64 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Where the checkpoint's image data is now, if it moved since training
    /// (an IDX file, a CIFAR-10 or CIFAR-100 file, a folder of either, or a
    /// folder of images); with
    /// weights alone, their image data (as `train --data`).
    #[arg(long, value_name = "PATH")]
    data: Option<PathBuf>,
}

#[derive(Args)]
struct SampleArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Langevin (or MALA) steps.
    #[arg(long, default_value_t = 100_000, allow_negative_numbers = true, value_parser = whole::<u64>)]
    steps: u64,
    /// Where the chains start.
    #[arg(long, value_enum, ignore_case = true, default_value_t = LongRunInit::Data)]
    init: LongRunInit,
    /// Go on from the chains in this file, where a long run left them (its
    /// chains.safetensors, rewritten at every row; or a safetensors file of
    /// tensor `x`, [chains, C, H, W] images or [chains, 2] points): its steps
    /// numbered on from theirs, and from the same checkpoint the very steps
    /// one longer run would have taken (on the same adapter, with the same
    /// sampler, ε and --temp-factor: the file records them, and a note says
    /// what differs).
    #[arg(long, value_name = "FILE", conflicts_with = "init")]
    from_chains: Option<PathBuf>,
    /// Metropolis-adjusted Langevin instead of plain Langevin; reports acceptance.
    #[arg(long)]
    mala: bool,
    /// Sample exp(−U / f) with this f (1: the model itself), with the model's
    /// gradient step and noise ε√f.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true, value_parser = number)]
    temp_factor: f64,
    /// Step with this ε instead of the checkpoint's, as the reference's
    /// evaluation `epsilon`: X ← X − (ε²/2Tf)∇F + εZ, the same exp(−U/f)
    /// (T stays the checkpoint's) sampled with another step.
    #[arg(long, allow_negative_numbers = true, value_parser = number)]
    epsilon: Option<f64>,
    /// Record a row and a picture every this many steps (default: steps / 10).
    #[arg(long, allow_negative_numbers = true, value_parser = whole::<u64>)]
    every: Option<u64>,
    /// Number of chains [default: 1000; with --from-chains, the file's].
    #[arg(long, allow_negative_numbers = true, value_parser = whole::<usize>)]
    chains: Option<usize>,
    /// Output folder (default: longrun_<init> beside the checkpoint,
    /// longrun_<init>_mala with --mala; longrun_<init>_<name> beside
    /// weights alone, or beside their run; <init> is from_<source>_<step>
    /// with --from-chains, e.g. from_data_100000 for
    /// longrun_data/chains.safetensors; refused where its chains.safetensors
    /// is the file).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Replace an existing output folder's results.
    #[arg(long)]
    force: bool,
}

#[derive(Args)]
struct LandscapeArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// How many states gradient descent starts from: each ends at a local
    /// minimum [default: 64; with --from-chains, the file's chains up to 64].
    #[arg(long, allow_negative_numbers = true, value_parser = whole::<usize>)]
    starts: Option<usize>,
    /// Where the descents start.
    #[arg(long, value_enum, ignore_case = true, default_value_t = LongRunInit::Data)]
    init: LongRunInit,
    /// Start the descents from the chains in this file, where a long run
    /// left them (`sample`'s chains.safetensors: the minima its samples lie
    /// in), its first --starts.
    #[arg(long, value_name = "FILE", conflicts_with = "init")]
    from_chains: Option<PathBuf>,
    /// Gradient descent steps x ← x − a∇F, a falling linearly from the model's ε²/2T (in slices of 50 steps).
    #[arg(long, default_value_t = LandscapeOptions::default().descent_steps, allow_negative_numbers = true, value_parser = whole::<u64>)]
    descent_steps: u64,
    /// Langevin steps of each attraction–diffusion chain (one per pair of minima).
    #[arg(long, default_value_t = LandscapeOptions::default().ad_steps, allow_negative_numbers = true, value_parser = whole::<u64>)]
    ad_steps: u64,
    /// Attraction–diffusion's pull α toward the lower minimum (log-density
    /// per unit of distance): larger α crosses higher barriers, so fewer
    /// basins. Several, comma-separated (e.g. 0,1,10), map each with the same chains and noise.
    #[arg(
        long,
        value_delimiter = ',',
        default_values_t = LandscapeOptions::default().alphas,
        allow_negative_numbers = true,
        value_parser = alpha_value
    )]
    alpha: Vec<f64>,
    /// Attraction–diffusion samples exp(−U/f), U = F/T the model's energy: f = 1 is the model itself.
    #[arg(long, default_value_t = LandscapeOptions::default().temp_factor, allow_negative_numbers = true, value_parser = number)]
    temp_factor: f64,
    /// End points closer than this (root-mean-square per element) are one
    /// minimum; a chain this close to its goal has reached it.
    #[arg(long, default_value_t = LandscapeOptions::default().radius, allow_negative_numbers = true, value_parser = number)]
    radius: f64,
    /// Attraction–diffusion chains per GPU submission (memory bound; each
    /// chunk draws its own noise, so another chunk size gives other draws).
    #[arg(long, default_value_t = LandscapeOptions::default().chunk, allow_negative_numbers = true, value_parser = whole::<usize>)]
    chunk: usize,
    /// Output folder (default: landscape beside the checkpoint,
    /// landscape_from_<source>_<step> with --from-chains; landscape_<name>
    /// beside weights alone, or beside their run).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Replace an existing output folder's results.
    #[arg(long)]
    force: bool,
}

#[derive(Args)]
struct TrainArgs {
    /// Built-in settings: gmm-quick (the default; a minute or two even on a
    /// CPU adapter), rings-oscillate (d_st's pendulum, strong, in about 2
    /// minutes), rings-convergent, rings-nonconvergent, gmm-convergent,
    /// gmm-nonconvergent; images: fashion-mnist-quick, fashion-mnist-convergent,
    /// fashion-mnist-nonconvergent, mnist-convergent, cifar10-nonconvergent,
    /// cifar10-oscillate, flowers-convergent.
    #[arg(long)]
    preset: Option<String>,
    /// Image data for an image preset: an IDX file (or a folder holding
    /// train-images-idx3-ubyte[.gz]), a CIFAR-10 batch or the folder of
    /// its batches (binary, data_batch_*.bin, or the python version
    /// torchvision downloads, data_batch_*), CIFAR-100's train.bin or
    /// train (or its folder), or a folder of PNG/JPEG images. With --resume:
    /// where the run's data is now, if it moved. (The fashion-mnist-*
    /// presets read /usr/share/datasets/fashion-mnist without it, where
    /// Debian's dataset-fashion-mnist puts it.)
    #[arg(long, value_name = "PATH")]
    data: Option<PathBuf>,
    /// A TOML file of settings (over the preset, if one is given).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Override one setting, e.g. --set langevin.epsilon=0.1 (repeatable).
    /// With --resume, only the settings the window can change (ε, τ, L, the
    /// learning rate, the optimizer), from the checkpoint's iteration on
    /// (recorded in the run's changes.csv), and the eval.* and output.*
    /// settings (what the run draws, checks and saves).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Number of iterations in all (overrides the config's `iterations`;
    /// with --resume, the run's new total, not a count to add).
    #[arg(long, allow_negative_numbers = true, value_parser = whole::<u64>)]
    iters: Option<u64>,
    /// Run folder (default: runs/<preset>, runs/gmm-quick with neither
    /// --preset nor --config, runs/custom with --config alone).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Start the run from these weights, not from a fresh initialisation
    /// (sets net.init_weights): a state dict of the settings' net, as
    /// torch.save wrote it (the authors' checkpoints/net_N.pth), in
    /// safetensors, or a run's weights/ file. The optimizer and chains
    /// start afresh.
    #[arg(long, value_name = "FILE", conflicts_with = "resume")]
    init_weights: Option<PathBuf>,
    /// Continue the run in --out from its checkpoint (without --out, the
    /// default preset's, runs/gmm-quick; another preset's: --out
    /// runs/<preset>).
    #[arg(long, conflicts_with = "force")]
    resume: bool,
    /// Replace the run in --out.
    #[arg(long)]
    force: bool,
    /// Put back the run an unfinished --force replaced (kept in --out's
    /// .replaced-run/ until the new run's first scheduled checkpoint), in
    /// place of the run that replaced it, whose own files go; then --resume
    /// goes on with it.
    #[arg(long, requires = "out", conflicts_with_all = ["resume", "force", "init_weights", "preset", "config", "set", "data", "iters"])]
    restore_replaced: bool,
}

#[derive(Args)]
struct EnergyArgs {
    /// Network: `toy` (2-D points), `vanilla` or `nonlocal` (32×32 images).
    #[arg(long, default_value = "vanilla")]
    net: String,
    /// Image channels (vanilla, nonlocal).
    #[arg(long, default_value_t = ENERGY_N_C, allow_negative_numbers = true, value_parser = whole::<usize>)]
    n_c: usize,
    /// Base width n_f (vanilla, nonlocal).
    #[arg(long, default_value_t = ENERGY_N_F, allow_negative_numbers = true, value_parser = whole::<usize>)]
    n_f: usize,
    /// Weights with PyTorch state-dict names, in safetensors or as
    /// torch.save wrote them (.pth), or a run's checkpoint.safetensors;
    /// without it, initialise from --seed.
    #[arg(long, value_name = "FILE")]
    weights: Option<PathBuf>,
    /// Seed of PyTorch-default initialisation when --weights is not given.
    #[arg(long, default_value_t = 123, conflicts_with = "weights", allow_negative_numbers = true, value_parser = whole::<u64>)]
    seed: u64,
    /// Save the weights used (e.g. freshly initialised) to this file.
    #[arg(long, value_name = "FILE")]
    save_weights: Option<PathBuf>,
    /// Input safetensors with tensor `x`: [B, C, H, W] images with pixels
    /// in [−1, 1] (as Normalize(0.5, 0.5) gives), or [B, 2] points for the
    /// toy net (without it and --output, only --save-weights is done: a
    /// conversion).
    #[arg(long, requires = "output", value_name = "FILE")]
    input: Option<PathBuf>,
    /// Output safetensors: `energy` [B] (F(x), the network's output) and
    /// `grad_x` (shape of x).
    #[arg(long, requires = "input", value_name = "FILE")]
    output: Option<PathBuf>,
    /// Images per GPU submission (memory bound; results do not depend on it).
    #[arg(long, default_value_t = 256, allow_negative_numbers = true, value_parser = whole::<usize>)]
    chunk: usize,
}

fn main() -> ExitCode {
    // Output piped into a reader that stops early (`ebmscope info | head`)
    // ends the program quietly, as for other command-line tools, instead of
    // a panic in println!.
    // A file past the size limit (`ulimit -f`) is a write error that names
    // the file, as a full disk's is, not a death by SIGXFSZ.
    #[cfg(unix)]
    // SAFETY: at start-up, before any thread exists; sets two signals' actions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // (An empty --adapter or --backend, as an empty EBMSCOPE_* variable
    // gives through clap, chooses nothing.)
    let given = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
    let choice =
        AdapterChoice {
            quiet: false,
            name: given(cli.adapter.adapter),
            backend: given(cli.adapter.backend),
            conv_kernels: match cli.adapter.conv_kernels.as_deref().map(str::trim) {
                Some(k) if !k.is_empty() => {
                    // (by_shape as by-shape: a name written as a Rust or Python one.)
                    Some(<ConvKernels as clap::ValueEnum>::from_str(&k.replace('_', "-"), true).map_err(|_| {
                    anyhow::anyhow!(
                        "--conv-kernels (or EBMSCOPE_CONV_KERNELS) `{k}`: use direct, tiled, by-shape or \
                         measured"
                    )
                })?)
                }
                _ => None,
            },
        };
    match cli.command {
        Command::Info => info(&choice),
        Command::Doctor => doctor(&choice),
        Command::Energy(args) => energy(&choice, args),
        Command::Train(args) => train(&choice, args),
        Command::Sample(args) => sample(&choice, args),
        Command::Landscape(args) => landscape(&choice, args),
        Command::Bench(args) => bench(&choice, args),
        Command::Gui(args) => gui(&choice, args),
        Command::Compare(args) => compare(args),
    }
}

/// Refuse a picture file `path` (given by `option`) that could not be
/// written, or that would replace a file not ebmscope's. An earlier
/// picture of ours is written over: how README's are made again.
fn check_png_out(option: &str, path: &std::path::Path) -> anyhow::Result<()> {
    let png = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("png"));
    let folder = path.parent().filter(|f| !f.as_os_str().is_empty());
    if !png || path.is_dir() {
        bail!("{option} {}: give a .png file path", path.display());
    }
    if let Some(folder) = folder.filter(|f| !f.is_dir()) {
        bail!(
            "{option} {}: the folder {} does not exist",
            path.display(),
            folder.display()
        );
    }
    if path.exists() && !ebmscope::io::png_written_by_ebmscope(path) {
        bail!(
            "{option} {}: a file not marked as ebmscope's is there (its PNGs carry the tEXt mark \
             Software: ebmscope; those of builds before 0.1.0's latest do not): it is kept; give \
             another path, or move that file (remove it, if it is an older picture of ebmscope's)",
            path.display()
        );
    }
    Ok(())
}

/// Training runs side by side: a table of what each one's trailing window
/// says on stdout, and their curves in one figure.
fn compare(args: CompareArgs) -> anyhow::Result<ExitCode> {
    use ebmscope::train::compare_runs::{ComparedRun, labels, table, table_csv};
    let out = args.out.unwrap_or_else(|| PathBuf::from("compare.png"));
    check_png_out("--out", &out)?;
    let mut runs = (args.runs.iter())
        .map(|dir| ComparedRun::read(dir))
        .collect::<Result<Vec<_>, _>>()?;
    for (run, label) in runs.iter_mut().zip(labels(&args.runs)?) {
        run.label = label;
    }
    for run in runs.iter().filter(|r| r.cut) {
        eprintln!(
            "note: {}: its metrics.csv ends in a line cut short (being written, or a killed run's), left out",
            run.label
        );
    }
    match args.table {
        TableFormat::Text => print!("{}", table(&runs)),
        TableFormat::Csv => print!("{}", table_csv(&runs)),
    }
    ebmscope::plot::runs_figure(&out, &runs)?;
    eprintln!(
        "wrote {} (oscillation over each run's last eval.window iterations; threshold: d_st's \
         autocorrelation at lag 1 or 2 below it is strong)",
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The settings `train` and `gui` run with: a preset (gmm-quick when
/// neither a preset nor a file is given), a TOML file over it, `--set`
/// overrides, and `--data` pointing an image preset at files. Also returns
/// the preset's name and the `key=value` overrides put over it (`--set`'s,
/// then those `--data` makes).
fn resolve_settings<'a>(
    preset: Option<&'a str>,
    config: Option<&std::path::Path>,
    mut overrides: Vec<String>,
    data: Option<&std::path::Path>,
) -> anyhow::Result<(ebmscope::config::Config, Option<&'a str>, Vec<String>)> {
    use ebmscope::config::Config;
    let preset = match (preset, config) {
        (Some(p), _) => Some(p),
        (None, Some(_)) => None,
        (None, None) => Some(ebmscope::config::DEFAULT_PRESET),
    };
    let text = match config {
        Some(path) => {
            Some(std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?)
        }
        None => None,
    };
    let file = config
        .zip(text.as_deref())
        .map(|(p, t)| (p.to_str().unwrap_or("config"), t));
    let resolve = |overrides: &[String]| {
        Config::resolve(preset, file, overrides).map_err(|e| {
            let text = e.to_string();
            // A file without a preset under it must hold every setting.
            if preset.is_none() && text.contains("missing field") {
                anyhow::anyhow!(
                    "{text}: a --config file alone must hold every setting; put a preset under it \
                     (--preset P --config F) or start from a run's config.toml"
                )
            } else {
                e.into()
            }
        })
    };
    if let Some(path) = data {
        // (--data would win without a word, as over a --config file's.)
        if overrides
            .iter()
            .any(|item| ebmscope::config::set_key(item) == "data.path")
        {
            bail!("--data and --set data.path both say where the data is: give one");
        }
        let base = resolve(&overrides)?;
        if base.data.kind.is_toy() {
            bail!(
                "--data points an image preset at files, but {} learns {} toy data; \
                 choose an image preset (e.g. --preset fashion-mnist-quick)",
                preset.unwrap_or("this config"),
                ebmscope::config::spelling(&base.data.kind)
            );
        }
        // Absolute, as a run keeps it: the window's "start over" reads these too.
        let text = absolute_path(path)?;
        overrides.push(format!("data.path={}", toml::Value::String(text)));
        // The kind guessed from the path, unless --set says which it is.
        let kind_set = overrides
            .iter()
            .any(|o| ebmscope::config::set_key(o) == "data.kind");
        if !kind_set {
            let kind = ebmscope::data::infer_image_kind(path);
            overrides.push(format!("data.kind={kind:?}").to_lowercase());
        }
    }
    let config = resolve(&overrides)?;
    if let Some((path, text)) = file {
        config.check_file_for_toy_width(path, text)?;
    }
    Ok((config, preset, overrides))
}

fn gui(choice: &AdapterChoice, args: GuiArgs) -> anyhow::Result<ExitCode> {
    // "Start over" offers the preset and overrides the run came from, or
    // (None) the run's own settings when a checkpoint or file made them.
    let weights = args
        .checkpoint
        .as_ref()
        .filter(|path| ebmscope::io::holds_weights_alone(path));
    let (mut config, checkpoint, start_preset, overrides, data) = match (&args.checkpoint, weights) {
        (Some(path), None) => {
            let settings_given = args.preset.is_some() || args.config.is_some() || !args.set.is_empty();
            refuse_settings_beside_checkpoint(path, settings_given, " (change them in the window)")?;
            let ck = load_checkpoint_arg(path)?;
            let mut config = ck.config.clone();
            data_moved_to(&mut config, args.data.as_deref())?;
            // Its images, read and checked here: the window's first trainer
            // takes them as a new run's would (and says to use fewer where
            // there are too many for the adapter, which a run cannot).
            let data = if config.data.kind.is_toy() {
                None
            } else {
                let data = ebmscope::data::Dataset::load(&config.data)?;
                ck.check_data(&data, &config.data.path)?;
                Some(data)
            };
            // Save writes beside it, never over it.
            (
                config,
                ebmscope::gui::window_checkpoint_beside(path),
                None,
                Vec::new(),
                data,
            )
        }
        _ => {
            let (preset, file, set, data) = (
                args.preset.as_deref(),
                args.config.as_deref(),
                args.set.clone(),
                args.data.as_deref(),
            );
            let (config, preset, overrides) = match weights {
                Some(path) => {
                    weights_settings(path, preset, file, &set, data, " (change them in the window)")?
                }
                None => resolve_settings(preset, file, set, data)?,
            };
            config.check_toy_grid()?;
            let checkpoint = match weights {
                // Refused now, not in the window, if they are another net's.
                Some(path) => {
                    ebmscope::train::Checkpoint::from_weights(path, config.clone())?;
                    ebmscope::gui::window_checkpoint_beside(path)
                }
                None => PathBuf::from(ebmscope::gui::window_checkpoint(preset.unwrap_or("custom"))),
            };
            let start_preset = preset.filter(|_| args.config.is_none()).map(String::from);
            (config, checkpoint, start_preset, overrides, None)
        }
    };
    // (What the window saves keeps it: see Config::make_paths_absolute.)
    config.make_paths_absolute()?;
    let toy = config.data.kind.is_toy();
    if toy && args.picture.is_some() {
        bail!("--picture chooses among image grids, and this run learns 2-D toy data: use --toy-view");
    }
    if !toy && args.toy_view.is_some() {
        bail!("--toy-view is for 2-D toy data, and this run learns images: use --picture");
    }
    if args.picture == Some(ebmscope::train::PictureSource::Bank)
        && config.langevin.init != ebmscope::config::InitKind::Persistent
    {
        bail!(
            "--picture bank needs a persistent bank, and this run's chains start from {} \
             (langevin.init): show chains or data instead",
            spelling(&config.langevin.init)
        );
    }
    // Refused before the adapter opens, as the settings above.
    let landscape = match args.landscape {
        false => None,
        true => {
            let from = match &args.from_chains {
                Some(path) => ChainStart::Saved(ebmscope::train::longrun::SavedChains::read(
                    path,
                    ebmscope::train::net_spec(&config)?.input,
                )?),
                None => LandscapeOptions::default().from,
            };
            let options = LandscapeOptions {
                starts: map_starts(&from, args.starts)?,
                from,
                alphas: args.alpha.clone(),
                temp_factor: args.temp_factor,
                ..LandscapeOptions::default()
            };
            options.validate()?;
            if let ChainStart::Saved(c) = &options.from {
                c.check(options.starts, "--starts")?;
            }
            Some(options)
        }
    };
    let long_run = args.long_run.map(|steps| ebmscope::train::session::LongRunAsk {
        steps,
        mala: args.mala,
        temp_factor: args.temp_factor,
    });
    if let Some(ask) = &long_run {
        ask.check(&config, ["--long-run", "--temp-factor"])?;
    }
    if landscape.is_some() {
        ebmscope::train::longrun::check_temp_factor(&config, args.temp_factor, "--temp-factor")?;
    }
    // Refused now rather than after the whole window session.
    if let Some(path) = &args.screenshot {
        check_png_out("--screenshot", path)?;
    }
    // (After the settings' refusals, which need none; before the GPU.)
    ebmscope::gui::check_display()?;
    let gpu = std::sync::Arc::new(Gpu::new(choice)?);
    announce(&gpu);
    let capture = ebmscope::gui::Capture {
        frames: args.frames.unwrap_or(0),
        screenshot: args.screenshot.clone(),
        run: args.run,
        toy_view: args.toy_view,
        plots_view: args.plots,
        picture: args.picture,
        log_scale: args.log_scale,
        whole_d_st: args.whole_d_st,
        landscape,
        long_run,
        preset: start_preset,
        overrides,
        overlay: args.overlay.clone(),
        overlay_follow: args.follow,
    };
    let resume = args.checkpoint.clone();
    let checkpoint_text = checkpoint.to_string_lossy().into_owned();
    let (rate, taken) = ebmscope::gui::run(gpu, config, checkpoint_text, capture, resume, data)?;
    eprintln!("training speed (window open): {rate}");
    if let (Some(p), Some(taken)) = (&args.screenshot, taken) {
        eprintln!(
            "wrote {}{}",
            p.display(),
            match taken.message.as_str() {
                "" => String::new(),
                said => format!(" (the status line said: {said})"),
            }
        );
        // (The long run or map asked for did not end: the picture shows why.)
        if let Some(why) = taken.work_cut_short {
            bail!("{why}: the screenshot shows the window as it then was");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Say on stderr which adapter and convolution kernels a command runs.
fn announce(gpu: &Gpu) {
    eprintln!(
        "adapter: {}; convolutions: {}",
        gpu.describe(),
        gpu.conv_kernels().name()
    );
}

fn bench(choice: &AdapterChoice, args: BenchArgs) -> anyhow::Result<ExitCode> {
    // (A day at most: the timing budget is a Duration.)
    if !(args.seconds > 0.0 && args.seconds <= 86_400.0) {
        bail!("--seconds must be a positive number of seconds, at most 86400 (a day)");
    }
    if let Some(dir) = args
        .json
        .as_ref()
        .and_then(|p| p.parent())
        .filter(|d| !d.as_os_str().is_empty() && !d.is_dir())
    {
        bail!(
            "--json: folder {} does not exist (create it first)",
            dir.display()
        );
    }
    if let Some(path) = args.json.as_ref().filter(|p| p.is_dir()) {
        bail!("--json: {} is a folder; name a file in it", path.display());
    }
    if let Some(path) = &args.json {
        refuse_over_checkpoint("--json", path)?;
        // (Its own or scripts/bench_torch.py's: compare.sh writes both.)
        let is_report = |path: &std::path::Path| {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            serde_json::from_str::<serde_json::Value>(&text)
                .is_ok_and(|v| v.get("tool").is_some() && v.get("workloads").is_some())
        };
        refuse_over_other_file(
            "--json",
            path,
            "benchmark report (JSON with `tool` and `workloads`)",
            is_report,
        )?;
        // A folder it cannot write in is found now, not after the timings.
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        let probe = dir
            .unwrap_or(std::path::Path::new("."))
            .join(format!(".ebmscope-bench-{}.probe", std::process::id()));
        match std::fs::File::create_new(&probe) {
            Ok(_) => {
                let _ = ebmscope::io::remove_file(&probe);
            }
            // (A probe left by a killed bench of the same process id.)
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => bail!("--json {}: cannot write there ({e})", path.display()),
        }
    }
    let all = workloads(args.small)?;
    let chosen: Vec<_> = all
        .iter()
        .filter(|w| args.only.as_deref().is_none_or(|o| w.name.contains(o)))
        .collect();
    if chosen.is_empty() {
        let names: Vec<_> = all.iter().map(|w| w.name.as_str()).collect();
        let only = args.only.as_deref().unwrap_or_default();
        // The other set's names, for a name given with or without --small.
        let other = workloads(!args.small)?;
        let hint = match other.iter().find(|w| w.name.contains(only)) {
            Some(w) if args.small => format!(" (`{}` is a full-size workload: leave out --small)", w.name),
            Some(w) => format!(" (`{}` is a small workload: add --small)", w.name),
            None => String::new(),
        };
        bail!(
            "--only {only} matches no workload{hint}; workloads: {}",
            names.join(", ")
        );
    }
    let gpu = std::sync::Arc::new(Gpu::new(choice)?);
    println!("adapter: {}", gpu.describe());
    if args.pipeline_stats {
        // (Refused before the timings, not after.)
        if gpu.info.backend != wgpu::Backend::Vulkan {
            bail!(
                "--pipeline-stats reads Vulkan's, and this adapter runs on {:?}: add --backend vulkan",
                gpu.info.backend
            );
        }
        ebmscope::gpu::pipeline_stats::check_supported(&gpu.info)?;
    }
    let budget = std::time::Duration::from_secs_f64(args.seconds);
    let mut results = Vec::new();
    let timed = time_workloads(&gpu, &chosen, budget, !args.default_kernels_only, &mut results);
    // After a failure too, with the workloads timed before it and what
    // failed (not an earlier report left to pass for this run's).
    let written = match &args.json {
        Some(path) => {
            let timed_before = results.len();
            let failed = timed.as_ref().err().map(|e| format!("{e:#}"));
            write_bench_report(&gpu, &args, results, failed, path).inspect(|()| {
                if timed.is_err() {
                    eprintln!(
                        "a workload failed: {} holds the {} timed before it, and what failed",
                        path.display(),
                        ebmscope::config::plural(timed_before as u64, "workload", "workloads")
                    );
                }
            })
        }
        None => Ok(()),
    };
    let outcome = timed.and(written);
    // After a failed workload too: what the driver made of the kernels
    // that failed their check is then the first thing to read.
    let statistics = if args.pipeline_stats {
        print_pipeline_statistics(&gpu)
    } else {
        Ok(())
    };
    if let (Err(_), Err(e)) = (&outcome, &statistics) {
        eprintln!("warning: no pipeline statistics: {e:#}");
    }
    outcome?;
    statistics?;
    Ok(ExitCode::SUCCESS)
}

/// Check each workload against the reference, time it and print its
/// figures, into `results`; stops at the first that fails.
fn time_workloads(
    gpu: &std::sync::Arc<Gpu>,
    chosen: &[&Workload],
    budget: std::time::Duration,
    other_kernels: bool,
    results: &mut Vec<WorkloadResult>,
) -> anyhow::Result<()> {
    for w in chosen {
        eprintln!("{}: checking against the reference, then timing …", w.name);
        let r = run_workload(gpu, w, budget, other_kernels)?;
        println!(
            "\n{} — {} net, {} chains, L = {}; reference check: worst error {:.1e} of max|ref|",
            r.name, r.net, r.chains, r.steps, r.check_worst_rel
        );
        println!(
            "  Langevin ({} sampler): {:.0} steps×chains/s, {:.2} GFLOP/s ({:.4} GFLOP per step)",
            r.sampler, r.langevin_steps_x_chains_per_s, r.langevin_gflop_per_s, r.step_gflop
        );
        let submissions = match r.langevin_submissions {
            1 => "in one submission".to_string(),
            n => format!("in {n} submissions, the GPU running each while the CPU records the next"),
        };
        println!(
            "    recording a step: {:.3} ms on the CPU, {:.1} dispatches; the L steps {submissions}",
            r.langevin_record_ms_per_step, r.langevin_dispatches_per_step
        );
        if let Some(k) = r.fused_kernel {
            let from = if k.uniform_weights {
                "uniform bindings"
            } else {
                "a storage buffer"
            };
            println!(
                "    weights read from {from}, {} outputs per invocation",
                k.outputs
            );
        }
        if let Some(what) = &r.fused_differs {
            println!("    timed although {what}");
        }
        if let Some(layered) = r.layered_steps_x_chains_per_s {
            println!(
                "    {:.1}× the layered kernels on the same chains ({layered:.0} steps×chains/s)",
                r.langevin_steps_x_chains_per_s / layered
            );
        }
        println!(
            "  training: {:.3} iterations/s, {:.2} GFLOP/s ({:.3} GFLOP per iteration)",
            r.iterations_per_s, r.iteration_gflop_per_s, r.iteration_gflop
        );
        if let Some(why) = r.timing_contradiction() {
            println!("  warning: {why}");
        }
        match r.training_memory {
            Some(m) => println!(
                "  training memory: {:.2} MiB on the GPU, the data set aside ({:.2} MiB more)",
                Gpu::mib(m.bytes),
                Gpu::mib(m.data_set_bytes)
            ),
            None => println!("  training memory: not counted on this backend (Vulkan and DX12 count it)"),
        }
        let total: f64 = r.layers.iter().map(|l| l.forward_ms + l.input_grad_ms).sum();
        let ms = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |ms| format!("{ms:.3}"));
        let how = r.layers.first().map_or("", |l| l.timing);
        println!(
            "  one Langevin step of the layered kernels by layer (each timed alone, {how}; convolutions {}, per layer T tiled or D direct in fwd, ∇x, ∇θ; ∇θ: the learning step's, on {} images):",
            gpu.conv_kernels().name(),
            2 * r.chains
        );
        // (Timed alone, the layers need not add up to a step: the update,
        // the noise and the gaps between kernels are in the step alone.)
        println!(
            "    the layers' fwd + ∇x sum to {total:.3} ms; a whole step took {:.3} ms (from its throughput)",
            r.layered_step_ms()
        );
        // The kernel families measured beside the default, if any layer has them.
        const FAMILIES: [&str; 2] = ["direct", "tiled"];
        let family_times = |l: &LayerTiming| [l.direct.clone(), l.tiled.clone()];
        let shown: Vec<usize> = (0..FAMILIES.len())
            .filter(|&f| r.layers.iter().any(|l| family_times(l)[f].is_some()))
            .collect();
        let mut header = format!(
            "    {:<12} {:>7} {:>10} {:>10} {:>8} {:>10} {:>10} {:>10} {:>10}",
            "layer", "kernels", "fwd ms", "∇x ms", "of sum", "fwd GF/s", "∇x GF/s", "∇θ ms", "∇θ GF/s"
        );
        for &f in &shown {
            for pass in ["fwd", "∇x", "∇θ"] {
                header += &format!(" {:>14}", format!("{} {pass} ms", FAMILIES[f]));
            }
        }
        println!("{header}");
        for l in &r.layers {
            let rate = |gflop: f64, ms: f64| if ms > 0.0 { gflop / (ms * 1e-3) } else { 0.0 };
            let param_rate = l.param_grad_ms.map_or_else(
                || "-".to_string(),
                |t| format!("{:.2}", rate(l.param_grad_gflop, t)),
            );
            // T or D (tiled or direct) for the forward pass, ∂/∂x and ∂/∂θ.
            let kernels = l.kernels.map_or_else(
                || "-".to_string(),
                |k| k.map(|f| if f == "tiled" { "T" } else { "D" }).join(""),
            );
            let mut line = format!(
                "    {:<12} {:>7} {:>10.3} {:>10.3} {:>7.1}% {:>10.2} {:>10.2} {:>10} {:>10}",
                l.name,
                kernels,
                l.forward_ms,
                l.input_grad_ms,
                100.0 * (l.forward_ms + l.input_grad_ms) / total.max(f64::MIN_POSITIVE),
                rate(l.forward_gflop, l.forward_ms),
                rate(l.input_grad_gflop, l.input_grad_ms),
                ms(l.param_grad_ms),
                param_rate,
            );
            for &f in &shown {
                let t = &family_times(l)[f];
                let passes = [
                    t.as_ref().map(|t| t.forward_ms),
                    t.as_ref().map(|t| t.input_grad_ms),
                    t.as_ref().and_then(|t| t.param_grad_ms),
                ];
                for v in passes {
                    line += &format!(" {:>14}", ms(v));
                }
            }
            println!("{line}");
        }
        // A non-local block's row split into its parts, each timed alone
        // (with its own warm-up: they need not add up to the row).
        for l in &r.layers {
            let Some(parts) = &l.parts else { continue };
            let list = |p: &[(&str, f64)]| {
                p.iter()
                    .map(|(name, ms)| format!("{name} {ms:.3}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            println!("    {} by part, ms: fwd {}", l.name, list(&parts.forward));
            println!("    {} by part, ms: ∇x {}", l.name, list(&parts.input_grad));
        }
        results.push(r);
    }
    Ok(())
}

/// `bench --json`'s report.
fn write_bench_report(
    gpu: &Gpu,
    args: &BenchArgs,
    results: Vec<WorkloadResult>,
    failed: Option<String>,
    path: &std::path::Path,
) -> anyhow::Result<()> {
    let report = BenchReport {
        tool: "ebmscope",
        failed,
        version: env!("CARGO_PKG_VERSION"),
        command: std::env::args_os()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" "),
        unix_time: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        seconds: args.seconds,
        small: args.small,
        adapter: gpu.describe(),
        conv_kernels: gpu.conv_kernels().name(),
        timing: "throughputs: wall time around blocking submissions, after a warm-up of at least \
                 3 runs and 1 s (or the budget, if shorter); per-layer split: GPU timestamps where \
                 the adapter has them",
        workloads: results,
    };
    ebmscope::io::write_atomically(path, serde_json::to_string_pretty(&report)?.as_bytes())?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

/// What the Vulkan driver says of each kernel compiled on `gpu`.
fn print_pipeline_statistics(gpu: &Gpu) -> anyhow::Result<()> {
    println!("\nwhat the Vulkan driver says of each kernel compiled (compiled again with statistics):");
    for p in gpu.pipeline_statistics()? {
        println!("  {}", p.key);
        for (executable, stats) in &p.executables {
            let stats: Vec<String> = stats
                .iter()
                .map(|(name, value)| format!("{name} {value}"))
                .collect();
            println!("    {executable}: {}", stats.join(", "));
        }
    }
    Ok(())
}

/// Refuse output `flag`'s `path` where it is a checkpoint: written over, its
/// run could no longer resume.
fn refuse_over_checkpoint(flag: &str, path: &std::path::Path) -> anyhow::Result<()> {
    if ebmscope::io::is_checkpoint(path) {
        bail!(
            "{flag} {} is a checkpoint, which this would replace: choose another path",
            path.display()
        );
    }
    Ok(())
}

/// Refuse output `flag`'s `path` where a file is there that is no earlier
/// output of the flag's (`earlier` tells; `what` names such an output):
/// images, a script or a run's weights would be lost, where a file the flag
/// wrote before is meant to be written again.
fn refuse_over_other_file(
    flag: &str,
    path: &std::path::Path,
    what: &str,
    earlier: impl FnOnce(&std::path::Path) -> bool,
) -> anyhow::Result<()> {
    if path.exists() && !earlier(path) {
        bail!(
            "{flag} {} exists and is no earlier {what}, which this would replace: choose another path",
            path.display()
        );
    }
    Ok(())
}

fn info(choice: &AdapterChoice) -> anyhow::Result<ExitCode> {
    let adapters = list_adapters(choice)?;
    if adapters.is_empty() {
        bail!(choice.no_adapter(""));
    }
    for (i, a) in adapters.iter().enumerate() {
        let l = &a.limits;
        println!("[{i}] {}", a.info.name);
        println!(
            "    backend {:?}, type {:?}, vendor {:#06x}, device {:#06x}",
            a.info.backend, a.info.device_type, a.info.vendor, a.info.device
        );
        println!("    {}", ebmscope::gpu::driver_words(&a.info));
        println!(
            "    limits: storage buffers/stage {}, max storage binding {} MiB, max buffer {} MiB, \
             workgroup invocations {}, workgroup storage {} KiB, workgroups/dim {}",
            l.max_storage_buffers_per_shader_stage,
            l.max_storage_buffer_binding_size >> 20,
            l.max_buffer_size >> 20,
            l.max_compute_invocations_per_workgroup,
            l.max_compute_workgroup_storage_size >> 10,
            l.max_compute_workgroups_per_dimension
        );
        match &a.suitable {
            Ok(()) => println!(
                "    usable by ebmscope{}",
                if a.info.device_type == wgpu::DeviceType::Cpu {
                    " (CPU adapter: slow)"
                } else {
                    ""
                }
            ),
            Err(e) => println!("    not usable: {e}"),
        }
    }
    // (Its listing says a CPU adapter is slow: no warning beside it.)
    let gpu = Gpu::new(&AdapterChoice {
        quiet: true,
        ..choice.clone()
    })?;
    println!("chosen: {}", gpu.describe());
    Ok(ExitCode::SUCCESS)
}

fn doctor(choice: &AdapterChoice) -> anyhow::Result<ExitCode> {
    let gpu = Gpu::new(choice)?;
    println!("adapter: {}", gpu.describe());
    println!(
        "convolutions: {} (rows marked [direct conv] or [tiled conv] run that family instead)",
        gpu.conv_kernels().name()
    );
    println!(
        "Each check runs kernels on the GPU and the f64 CPU reference on the same input; it passes \
         where every element's |GPU − CPU| is within its allowance, rtol·|ref| + atol·max|ref| (the \
         check's own, said with a failure); `used` is the worst element's share of it."
    );
    let rows = ebmscope::doctor::run_all(&gpu)?;
    let width = rows.iter().map(|r| r.case.chars().count()).max().unwrap_or(4);
    let q_width = rows.iter().map(|r| r.quantity.chars().count()).max().unwrap_or(8);
    println!(
        "{:<width$}  {:<q_width$}  {:>10}  {:>10}  {:>6}  result",
        "check", "quantity", "max |err|", "max |ref|", "used"
    );
    let mut failed = 0;
    for r in &rows {
        let c = &r.comparison;
        let status = if c.passed() { "pass" } else { "FAIL" };
        let used = if c.worst_ratio.is_finite() {
            format!("{:.0}%", 100.0 * c.worst_ratio)
        } else {
            "∞".to_string()
        };
        println!(
            "{:<width$}  {:<q_width$}  {:>10.2e}  {:>10.2e}  {used:>6}  {status}",
            r.case, r.quantity, c.max_abs_err, c.max_ref
        );
        if !c.passed() {
            failed += 1;
            println!(
                "    {c}\n    tolerance: rtol {:e}, atol {:e}·max|ref| ({})",
                r.tol.rtol, r.tol.atol_of_max, r.tol.reason
            );
        }
    }
    let all = if failed == 0 {
        ": every kernel agrees with the CPU reference on this adapter"
    } else {
        ""
    };
    println!("{} passed, {} failed{all}", rows.len() - failed, failed);
    if failed > 0 {
        println!(
            "This adapter computes some kernels wrongly: try another driver or backend (--backend, --adapter)."
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn energy(choice: &AdapterChoice, args: EnergyArgs) -> anyhow::Result<ExitCode> {
    let kind = NetKind::parse(&args.net)?;
    if kind == NetKind::Toy && (args.n_f, args.n_c) != (ENERGY_N_F, ENERGY_N_C) {
        anyhow::bail!(
            "--net toy: ToyNet's widths are fixed and it takes 2-D points: --n-f and --n-c are for vanilla and nonlocal"
        );
    }
    if args.input.is_none() && args.save_weights.is_none() {
        bail!(
            "give --input X --output Y (the energies of X and their gradients), --save-weights W \
             (the weights alone, e.g. a .pth as safetensors), or both"
        );
    }
    let spec = NetSpec::build(kind, args.n_c, args.n_f)?;
    let layout = spec.param_layout()?;
    // An output over a file read (a run's checkpoint as --weights, say) would
    // destroy it; over the other output, lose one of them.
    let read = [
        ("--input", args.input.as_ref()),
        ("--weights", args.weights.as_ref()),
    ];
    let written = [
        ("--output", args.output.as_ref()),
        ("--save-weights", args.save_weights.as_ref()),
    ];
    for (i, (flag, path)) in written.iter().enumerate() {
        let Some(path) = path else { continue };
        let mut others = read.iter().chain(&written[..i]);
        if let Some((other, _)) = others.find(|(_, p)| p.is_some_and(|p| same_file(p, path))) {
            bail!("{flag} {} is also {other}: choose another path", path.display());
        }
        if path.is_dir() {
            bail!("{flag} {} is a folder: give a file path in it", path.display());
        }
        // What torch.load would take for its own file, and fail on.
        let ext = path.extension().map(|e| e.to_string_lossy().to_lowercase());
        if matches!(ext.as_deref(), Some("pth" | "pt")) {
            bail!(
                "{flag} {} names a PyTorch file, but ebmscope writes safetensors: name it .safetensors \
                 (PyTorch reads it with safetensors.torch.load_file)",
                path.display()
            );
        }
        refuse_over_checkpoint(flag, path)?;
        // An earlier output is written over; any other file (someone's
        // weights as --output, images as --save-weights, a file PyTorch
        // wrote with the same tensors) is not, nor the weights a run saved
        // (its weights/ files name their iteration).
        if *flag == "--output" {
            let is_output = |path: &std::path::Path| {
                ebmscope::io::written_by_ebmscope(path)
                    && ebmscope::io::read_all(path).is_ok_and(|(tensors, _)| {
                        tensors
                            .iter()
                            .all(|t| matches!(t.name.as_str(), "energy" | "grad_x"))
                    })
            };
            refuse_over_other_file(
                flag,
                path,
                "energy output (a safetensors file of `energy` and `grad_x` that ebmscope marked as its \
                 own: remove one an older release wrote, which it did not mark)",
                is_output,
            )?;
        } else {
            let is_weights = |path: &std::path::Path| {
                ebmscope::io::written_by_ebmscope(path)
                    && ebmscope::io::fitting_net(path).is_some()
                    && ebmscope::io::holds_weights_alone(path)
                    && ebmscope::train::run::run_of_weights(path).is_none()
            };
            refuse_over_other_file(
                flag,
                path,
                "--save-weights output (a network's weights alone that ebmscope marked as its own, not in \
                 a run's weights/ folder: remove one an older release wrote, which it did not mark)",
                is_weights,
            )?;
        }
    }
    let params = match &args.weights {
        Some(path) => {
            let fix = || match ebmscope::io::fitting_net(path) {
                Some((NetKind::Toy, _, _)) => "they are ToyNet's: --net toy".into(),
                Some((kind, n_c, n_f)) => {
                    let kind = kind.name();
                    format!("they are {kind}'s: --net {kind} --n-c {n_c} --n-f {n_f}")
                }
                None => "wrong --net, --n-c or --n-f?".into(),
            };
            load_params(path, &layout, fix)?
        }
        None => init_params(&spec, args.seed)?,
    };
    // Both outputs' folders are checked before anything is written:
    // --save-weights comes before the GPU work, --output after it.
    for (flag, path) in written {
        let Some(path) = path else { continue };
        let folder = path.parent().filter(|f| !f.as_os_str().is_empty());
        if let Some(folder) = folder.filter(|f| !f.is_dir()) {
            bail!(
                "{flag} {}: there is no folder {}: create it first or choose another path",
                path.display(),
                folder.display()
            );
        }
    }
    let save_weights = |path: &std::path::Path| -> anyhow::Result<()> {
        save_params(path, &layout, &params)?;
        eprintln!("saved the weights to {}", path.display());
        Ok(())
    };
    let (Some(input), Some(output)) = (&args.input, &args.output) else {
        // (No input: a conversion, --save-weights alone; checked above.)
        if let Some(path) = &args.save_weights {
            save_weights(path)?;
        }
        return Ok(ExitCode::SUCCESS);
    };
    let x = read_tensor(input, "x")?;
    let others: Vec<String> = ebmscope::io::tensor_names(input)
        .into_iter()
        .filter(|n| n != "x")
        .map(|n| format!("`{n}`"))
        .collect();
    if !others.is_empty() {
        eprintln!(
            "note: {} also holds {}, which energy does not read (it reads `x`)",
            input.display(),
            others.join(", ")
        );
    }
    if let Some(i) = x.data.iter().position(|v| !v.is_finite()) {
        bail!(
            "{}: tensor `x` holds {} at element {i}: energies need finite inputs",
            input.display(),
            x.data[i]
        );
    }
    let (batch, chw) = match (spec.input, x.shape.as_slice()) {
        ([c, 1, 1], &[b, d]) if d == c => (b, [c, 1, 1]),
        (_, &[b, c, h, w]) => (b, [c, h, w]),
        (_, shape) => bail!(
            "{}: tensor `x` has shape {shape:?}; net `{}` takes {}",
            input.display(),
            spec.name,
            if spec.name == "toy" {
                "[B, 2] points"
            } else {
                "[B, C, H, W] images"
            }
        ),
    };
    spec.check_input(chw)
        .with_context(|| format!("{}: tensor `x`", input.display()))?;
    if batch == 0 {
        bail!("{}: tensor `x` holds no images (batch 0)", input.display());
    }
    // Images in [−1, 1] have pixels below 0 (a dark background is −1): none
    // there is PyTorch's ToTensor without its Normalize, or raw pixels.
    let (low, high) = x
        .data
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &v| {
            (l.min(v), h.max(v))
        });
    if spec.name != "toy" && low >= 0.0 {
        eprintln!(
            "note: {}: tensor `x`'s values lie in [{}, {}], none below 0: the image nets take pixels \
             in [−1, 1] (the reference's ToTensor then Normalize(0.5, 0.5)); if these are pixels in \
             [0, 1], scale them by 2x − 1, in [0, 255] by x/127.5 − 1",
            input.display(),
            ebmscope::config::rounded(f64::from(low)),
            ebmscope::config::rounded(f64::from(high))
        );
    }
    if args.chunk == 0 {
        bail!("--chunk must be at least 1");
    }
    // Written only now that the input is known good.
    if let Some(path) = &args.save_weights {
        save_weights(path)?;
    }

    let gpu = Gpu::new(choice)?;
    let chunk = args.chunk.min(batch);
    let net = GpuNet::new(&gpu, &spec, chunk)?;
    net.write_params(&gpu, &params)?;
    net.write_upstream(&gpu, &vec![1.0; chunk])?;
    let per_image = net.input_len();
    let mut energy = Vec::with_capacity(batch);
    let mut grad = Vec::with_capacity(x.data.len());
    for start in (0..batch).step_by(chunk) {
        let n = chunk.min(batch - start);
        // The last chunk is padded with zeros; images do not interact, so the padding is ignored.
        let mut input = x.data[start * per_image..(start + n) * per_image].to_vec();
        input.resize(chunk * per_image, 0.0);
        net.write_input(&gpu, &input)?;
        net.run(
            &gpu,
            Backward {
                input: true,
                params: false,
            },
        );
        energy.extend_from_slice(&net.read_output(&gpu)?[..n]);
        grad.extend_from_slice(&net.read_input_grad(&gpu)?[..n * per_image]);
    }
    // Finite inputs can still overflow f32 in the network: say which,
    // rather than write infinities or NaN.
    let overflowed = (0..batch).find(|&i| {
        !energy[i].is_finite()
            || grad[i * per_image..(i + 1) * per_image]
                .iter()
                .any(|g| !g.is_finite())
    });
    if let Some(i) = overflowed {
        let largest = x.data[i * per_image..(i + 1) * per_image]
            .iter()
            .fold(0.0f32, |m, v| m.max(v.abs()));
        bail!(
            "{}: image {i}'s energy or gradient overflows f32 (F = {}; its largest input value is \
             {largest:e}): the nets expect inputs of order 1 (images in [−1, 1]), and weights of \
             order 1 too; no --output was written",
            input.display(),
            energy[i]
        );
    }
    write_tensors(
        output,
        &[
            Tensor {
                name: "energy".into(),
                shape: vec![batch],
                data: energy,
            },
            Tensor {
                name: "grad_x".into(),
                shape: x.shape.clone(),
                data: grad,
            },
        ],
    )?;
    eprintln!(
        "wrote energy [{batch}] and grad_x {:?} to {}",
        x.shape,
        output.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn train(choice: &AdapterChoice, args: TrainArgs) -> anyhow::Result<ExitCode> {
    use ebmscope::train::run::{Existing, RunDir};
    use ebmscope::train::{evaluate_toy_watched, evaluation_text};
    use std::sync::Arc;
    use std::sync::atomic::Ordering;

    if args.restore_replaced {
        let out = args
            .out
            .as_deref()
            .expect("clap: --restore-replaced requires --out");
        let iteration = ebmscope::train::run::restore_replaced(out)?;
        let resume = format!("ebmscope train --out {} --resume", shell_path(out));
        match iteration {
            Some(it) => eprintln!(
                "put back the run a --force replaced (its checkpoint at iteration {it}); the run that \
                 replaced it is gone. Go on with: {resume}"
            ),
            None => eprintln!(
                "put back the run a --force replaced; it has no checkpoint to go on from (it stopped before \
                 its first), so --resume cannot: its metrics and pictures are there to read"
            ),
        }
        return Ok(ExitCode::SUCCESS);
    }
    if args.iters == Some(0) {
        bail!("--iters must be at least 1");
    }
    // (As config.iterations is checked; past i64, TOML would read the
    // number as a float, and say so.)
    if let Some(n) = args.iters.filter(|&n| n > u64::from(u32::MAX)) {
        bail!("--iters must be at most {} (got {n})", u32::MAX);
    }
    if args.resume && (args.preset.is_some() || args.config.is_some()) {
        // (Without --out, the preset named the folder, runs/custom for a
        // --config file alone: dropped, it would no longer, and the default
        // preset's run would be resumed instead.)
        let folder = match &args.out {
            None => {
                let out = default_run_folder(args.preset.as_deref());
                format!(
                    " (its run in {}: `ebmscope train --out {} --resume`)",
                    out.display(),
                    shell_path(&out)
                )
            }
            Some(_) => String::new(),
        };
        bail!(
            "--resume continues a run with the settings it was started with (kept in its checkpoint; \
             config.toml is a copy to read); only --iters, --data (where its data now is) and, with --set, \
             {} or an eval.* or output.* setting may change. Drop --preset and --config{folder}, or start a \
             new run (--force, or another --out)",
            ebmscope::train::Change::KEYS.join(", ")
        );
    }
    // (On --resume, --set changes the run's own settings: see Existing::Resume.)
    let mut overrides = if args.resume { Vec::new() } else { args.set.clone() };
    if let Some(n) = args.iters {
        overrides.push(format!("iterations={n}"));
    }
    // (On --resume the settings are the checkpoint's: these only name the default folder.)
    let (config, preset, _) = resolve_settings(
        args.preset.as_deref(),
        args.config.as_deref(),
        overrides,
        args.data.as_deref().filter(|_| !args.resume),
    )?;
    if !args.resume {
        config.check_toy_grid()?;
    }
    let out = args.out.clone().unwrap_or_else(|| default_run_folder(preset));
    let preset = preset.filter(|_| !args.resume);
    let mut config = config;
    if let Some(weights) = &args.init_weights {
        if args
            .set
            .iter()
            .any(|s| ebmscope::config::set_key(s) == "net.init_weights")
        {
            bail!("--init-weights and --set net.init_weights both say what the run starts from: give one");
        }
        config.net.init_weights = absolute_path(weights)?;
    }
    // A run keeps its files' absolute paths, so that it resumes from any folder.
    config.make_paths_absolute()?;
    if !args.resume && !config.net.init_weights.is_empty() {
        let run = std::path::absolute(&out).with_context(|| out.display().to_string())?;
        let weights = std::path::Path::new(&config.net.init_weights);
        // As written and as the file system resolves them: a link, and on
        // Windows and macOS letter case, can name one folder two ways.
        let resolved = |p: &std::path::Path| p.canonicalize().ok();
        let inside = weights.starts_with(&run)
            || matches!((resolved(weights), resolved(&run)), (Some(w), Some(r)) if w.starts_with(&r));
        if inside {
            bail!(
                "the weights the run starts from, {}, are inside its folder {}, which it writes (and \
                 --force replaces): copy them elsewhere first",
                config.net.init_weights,
                run.display()
            );
        }
    }
    let existing = match (args.resume, args.force) {
        (true, _) => Existing::Resume {
            iterations: args.iters,
            data: args.data.as_deref().map(absolute_path).transpose()?,
            set: args.set.clone(),
        },
        (_, true) => Existing::Force,
        _ => Existing::Refuse,
    };

    let gpu = Arc::new(Gpu::new(choice)?);
    announce(&gpu);
    if !config.data.kind.is_toy() && !config.data.path.is_empty() {
        // (The kind only where the files bear it out: an archive, say, is
        // refused next, and is no IDX file.)
        let path = std::path::Path::new(&config.data.path);
        let kind = match ebmscope::data::recognised_kind(path) {
            Some(kind) if kind == config.data.kind => format!("{} ", spelling(&kind)),
            _ => String::new(),
        };
        eprintln!("loading {kind}images from {} …", config.data.path);
    }
    let opened = RunDir::open(&out, config, existing, gpu);
    if let (Err(err @ ebmscope::Error::Io { .. }), true) = (&opened, args.resume) {
        // (A resume rewrites metrics.csv before it trains: a full disk stops it there.)
        say_checkpoint_kept(&out, err);
    }
    let (mut run, mut trainer) = opened?;
    for note in &run.notes {
        eprintln!("{note}");
    }
    // Whatever fails from here, a run that --force set aside is still there: say where.
    let trained = (|| -> anyhow::Result<ExitCode> {
        if !trainer.config.data.kind.is_toy() {
            eprintln!("loaded {}", trainer.data.describe());
        }
        if let Some(bytes) = trainer.gpu.allocated_bytes()? {
            let data = match trainer.data_set_bytes() {
                0 => String::new(),
                d => format!(" ({:.1} MiB of it the data set)", Gpu::mib(d)),
            };
            eprintln!("GPU memory: {:.1} MiB held for training{data}", Gpu::mib(bytes));
        }
        if !trainer.changes.is_empty() {
            let changes: Vec<String> = trainer.changes.iter().map(|(_, c)| c.to_string()).collect();
            eprintln!(
                "from iteration {}: {} (checkpoint saved; recorded in {})",
                trainer.iteration,
                changes.join(", "),
                out.join(ebmscope::train::run::CHANGES_FILE).display()
            );
        }
        let total = trainer.config.iterations;
        let c = trainer.config.clone();
        // The reference's log_longrun, every eval.longrun_every iterations.
        let check_due =
            |it: u64| c.eval.longrun_every > 0 && it > 0 && it.is_multiple_of(c.eval.longrun_every);
        let picture_due = |it: u64| it.is_multiple_of(c.output.picture_every) || it == total;
        // What Ctrl-C stopped at iteration `it`, the checkpoint's: a
        // long-run check, or an evaluation of toy data (with its pictures).
        // Made on resume.
        let toy = trainer.data.toy().is_some();
        let check_missing = |run: &RunDir, it: u64| check_due(it) && !run.has_long_run_check(it);
        let evaluation_missing = |run: &RunDir, it: u64| toy && picture_due(it) && !run.has_evaluation(it);
        let resumed_check_pending = args.resume && check_missing(&run, trainer.iteration);
        let resumed_evaluation_pending = args.resume && evaluation_missing(&run, trainer.iteration);
        if trainer.iteration >= total && !resumed_check_pending && !resumed_evaluation_pending {
            eprintln!(
                "the run is already at iteration {} of {total}: nothing to do (--iters is the total, \
                 not a count to add: pass a larger one to go on)",
                trainer.iteration
            );
            return Ok(ExitCode::SUCCESS);
        }
        // What a second Ctrl-C says of the run this one replaced, until
        // this run's first scheduled checkpoint lets it go.
        let replaced_line = Arc::new(std::sync::Mutex::new(replaced_run_line(&run)));
        // The first stops after the iteration under way, with a checkpoint
        // (an iteration of many steps may take long). (Handled before the
        // run is said: from then on, Ctrl-C does as it says.)
        let stop = {
            let replaced = replaced_line.clone();
            on_stop_request("after this iteration", move || {
                say(
                    "\nstopped at once: the run's last checkpoint, if it has one, is kept (--resume goes on from it)",
                );
                if let Some(line) = replaced.lock().ok().and_then(|l| l.clone()) {
                    say(&line);
                }
            })?
        };
        eprintln!(
            "run folder: {}\n{} on {} data: {}, L = {} Langevin steps, ε = {}, {} lr {}, init {}",
            out.display(),
            preset.unwrap_or(if args.resume {
                "resumed run"
            } else {
                "custom config"
            }),
            spelling(&c.data.kind),
            plural(total, "iteration", "iterations"),
            c.langevin.steps,
            short(c.langevin.epsilon),
            spelling(&c.optimizer.kind),
            short(c.optimizer.lr),
            spelling(&c.langevin.init)
        );
        if !c.net.init_weights.is_empty() {
            let starts = if trainer.iteration == 0 {
                "starts"
            } else {
                "started"
            };
            eprintln!("the net {starts} from the weights in {}", c.net.init_weights);
        }

        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:30} {pos}/{len} [{elapsed_precise} < {left}] {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .with_key("left", {
                let left = ebmscope::progress::TimeLeft::default();
                move |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = match left.at(state.pos(), state.len().unwrap_or(0)) {
                        Some(d) => write!(w, "{}", indicatif::FormattedDuration(d)),
                        None => write!(w, "--:--:--"),
                    };
                }
            }),
        );
        bar.set_position(trainer.iteration);
        // (The clock runs on through a long iteration or evaluation.)
        bar.enable_steady_tick(std::time::Duration::from_millis(500));
        let mut lines = ProgressLines::new();
        let picture = |run: &RunDir, trainer: &Trainer| -> anyhow::Result<String> {
            if trainer.data.toy().is_none() {
                if trainer.iteration == 0 {
                    // What the chains should come to look like.
                    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(0);
                    let k = trainer.config.batch.chains as usize;
                    let pictures = run.dir.join("pictures");
                    std::fs::create_dir_all(&pictures)?;
                    let path = pictures.join("data.png");
                    ebmscope::plot::image_grid(&path, &trainer.data.sample(k, &mut rng), trainer.data.chw())?;
                    return Ok(format!("a data batch: {}", path.display()));
                }
                ebmscope::plot::save_run_pictures(&run.dir, trainer, None)?;
                return Ok(format!(
                    "iteration {}: sample grids in {}",
                    trainer.iteration,
                    run.dir.join("pictures").display()
                ));
            }
            // (Which may take as long as many iterations: said while it
            // runs, and Ctrl-C stops it.)
            bar.set_message(evaluation_text(trainer, None));
            let m = evaluate_toy_watched(trainer, &mut |done, steps| {
                bar.set_message(evaluation_text(trainer, Some((done, steps))));
                !stop.load(Ordering::SeqCst)
            });
            bar.set_message("");
            let m = match m {
                Err(ebmscope::Error::Stopped(what)) => {
                    return Ok(format!(
                        "iteration {}: {what} stopped by Ctrl-C (made when the run is resumed)",
                        trainer.iteration
                    ));
                }
                m => m?,
            };
            run.record_toy(trainer.iteration, &m)?;
            ebmscope::plot::save_run_pictures(&run.dir, trainer, Some(&m))?;
            Ok(format!(
                "iteration {}: TV(p_θ, q) {:.3}, KL(q‖p_θ) {:.3}; TV(KDE, q) {}, KL(q‖KDE) {:.3}",
                trainer.iteration, m.tv_model, m.kl_model, m.tv_kde, m.kl_kde
            ))
        };
        // The starting point, for comparison with what learning reaches. (A
        // run resumed at iteration 0, stopped by Ctrl-C as it began, has
        // its picture, the checkpoint came after it, unless Ctrl-C stopped
        // its evaluation: that, at any iteration, is made now.)
        if (trainer.iteration == 0 && !args.resume) || resumed_evaluation_pending {
            let said = picture(&run, &trainer)?;
            bar.suspend(|| eprintln!("{said}"));
        }
        let long_run_check = |run: &RunDir, trainer: &Trainer| {
            bar.suspend(|| {
                eprintln!(
                    "iteration {}: long-run check, {} steps from {} …",
                    trainer.iteration,
                    c.eval.longrun_steps,
                    spelling(&c.eval.longrun_init)
                );
                // A check is a look at the model, not training: a failed
                // one (out of GPU memory, say) is reported and training
                // goes on: a resume may lower its settings.
                // (Ctrl-C ends it where it is: a check may take long.)
                match run.long_run_check(trainer, &|| stop.load(Ordering::SeqCst)) {
                    Ok(u) => eprintln!(
                        "long-run check done: final mean U {u:.4}; picture and energy path in {}",
                        run.dir.join("longrun").display()
                    ),
                    Err(ebmscope::Error::Stopped(what)) => eprintln!("{what} stopped by Ctrl-C"),
                    Err(err) => eprintln!(
                        "warning: the long-run check at iteration {} failed: {err}. Training goes on; \
                         `ebmscope train --out {} --resume --set eval.longrun_chains=N` (or \
                         eval.longrun_steps, eval.longrun_every=0) changes the checks from a checkpoint \
                         on, and `ebmscope sample --checkpoint` runs one from a checkpoint with other \
                         settings",
                        trainer.iteration,
                        shell_path(&run.dir)
                    ),
                }
            });
        };
        if resumed_check_pending {
            // Ctrl-C stopped the check of the checkpoint's iteration (its
            // checkpoint was saved all the same): it is made now, as it
            // would have been.
            long_run_check(&run, &trainer);
        }
        let mut rate = ebmscope::train::TrainingRate::default();
        let resumed_at = trainer.iteration;
        loop {
            let done = trainer.iteration >= total;
            // (At the end too, where Ctrl-C stopped the last iteration's
            // evaluation or check: the resume makes it.)
            let missing =
                || evaluation_missing(&run, trainer.iteration) || check_missing(&run, trainer.iteration);
            if stop.load(Ordering::SeqCst) && (!done || missing()) {
                run.checkpoint(&trainer)?;
                bar.abandon_with_message("interrupted");
                eprintln!(
                    "stopped at iteration {}; checkpoint saved. Continue with: ebmscope train --out {} --resume",
                    trainer.iteration,
                    shell_path(&out)
                );
                say_where_replaced_run_is(&run);
                return Ok(ExitCode::from(130));
            }
            if done {
                break;
            }
            // A divergence (an iteration's, or parameters a checkpoint
            // refuses) ends with the command that goes on from the last checkpoint.
            let stopped = |run: &mut RunDir, err: ebmscope::Error| -> anyhow::Error {
                if let Err(flush) = run.flush() {
                    return flush.into();
                }
                bar.abandon();
                let ck_path = out.join(ebmscope::train::CHECKPOINT_FILE);
                if matches!(err, ebmscope::Error::Diverged { .. }) && !ck_path.exists() {
                    return anyhow::anyhow!(
                        "{err}\nThe run has no checkpoint to go on from: run the same command again with \
                         --force (which replaces this run) and a smaller setting (or, if the data or \
                         the chains' starts are what grew too large, a smaller data.noise or \
                         langevin.init_factor)"
                    );
                }
                if let (ebmscope::Error::Diverged { iteration, .. }, Ok(ck)) =
                    (&err, ebmscope::train::Checkpoint::load(&ck_path))
                {
                    // (--data again where this session was given it: the
                    // checkpoint may still hold the old place.)
                    let data = match &args.data {
                        Some(path) => format!(" --data {}", shell_path(path)),
                        None => String::new(),
                    };
                    // A checkpoint saved within the watch's warm-up may hold a
                    // model already out of bounds: no rate helps then.
                    let broken = if resumed_at > 0
                        && ck.iteration == resumed_at
                        && *iteration == resumed_at + 1
                    {
                        let largest = ck.params.iter().fold(0.0f32, |m, v| m.max(v.abs()));
                        format!(
                            "\nThis was the first iteration from that checkpoint: if a smaller rate or step \
                             diverges there too, its model itself is broken (its largest parameter is \
                             {largest:.1e}); start over with --force"
                        )
                    } else {
                        String::new()
                    };
                    return anyhow::anyhow!(
                        "{err}\nTo go on from the run's checkpoint (iteration {}) with a smaller learning \
                         rate or step size: ebmscope train --out {} --resume{data} --set optimizer.lr=… (or \
                         --set langevin.epsilon=…){broken}",
                        ck.iteration,
                        shell_path(&out)
                    );
                }
                err.into()
            };
            let e = match trainer.step() {
                Ok(e) => e,
                Err(err) => return Err(stopped(&mut run, err)),
            };
            run.record(&trainer, &e)?;
            rate.record(&e);
            bar.set_position(e.iteration);
            bar.set_message(format!(
                "d_st {:+.3e}  r_t {:.3e}  {}",
                e.d_st,
                e.r_t,
                e.phase.name()
            ));
            lines.update("training", &bar);
            let done = e.iteration == total;
            // The iteration's pictures, evaluation and long-run check come
            // before its checkpoint: a run killed before the checkpoint is
            // resumed from the one before, which makes them again (and
            // removes what was half written); after it, they would be lost.
            if picture_due(e.iteration) {
                let said = picture(&run, &trainer)?;
                bar.suspend(|| eprintln!("{said}"));
            }
            if check_due(e.iteration) {
                long_run_check(&run, &trainer);
            }
            if e.iteration % c.output.checkpoint_every == 0 || done {
                if let Err(err) = run.checkpoint(&trainer) {
                    return Err(stopped(&mut run, err));
                }
                // The run has a checkpoint of its own: one it replaced goes.
                if let Err(err) = run.release_replaced() {
                    eprintln!("warning: {err}: remove that folder yourself");
                }
                if let Ok(mut line) = replaced_line.lock() {
                    *line = None;
                }
            }
        }
        run.flush()?;
        bar.finish();
        eprintln!("training speed (headless): {rate}");
        let e = &trainer.config.eval;
        let (window, max_lag) = (e.window as usize, e.max_lag as usize);
        if let Some(c) = Correlations::compute(&trainer.d_st, &trainer.r_t, window, max_lag) {
            eprintln!("{}", c.reading());
        }
        eprintln!(
            "done: {}. Pictures in {}, metrics in {}, checkpoint in {}.",
            plural(trainer.iteration, "iteration", "iterations"),
            out.join("pictures").display(),
            out.join(ebmscope::train::run::METRICS_FILE).display(),
            out.join(ebmscope::train::CHECKPOINT_FILE).display()
        );
        if preset == Some("gmm-quick") {
            // (Measured: more iterations of this setting move p_θ about,
            // not on; README, What the toy presets reach.)
            eprintln!(
                "This was the short first-run setting: more of it (ebmscope train --out {} --resume \
                 --iters N) does not improve p_θ (its TV wanders about 0.2-0.4 up to 2 000 \
                 iterations). To go further, the authors' settings: --preset gmm-convergent (rings-convergent, *-nonconvergent), hours on a software adapter, far \
                 less on a GPU; d_st's strong swing: --preset rings-oscillate, about 2 minutes.",
                shell_path(&out)
            );
        }
        Ok(ExitCode::SUCCESS)
    })();
    if let Err(err) = &trained {
        say_where_replaced_run_is(&run);
        if let Some(err) = err.downcast_ref() {
            say_checkpoint_kept(&out, err);
        }
    }
    trained
}

/// A line to stderr, errors ignored: after a hang-up stderr may be gone.
fn say(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{text}");
}

/// Install the handler of Ctrl-C (and SIGTERM, SIGHUP) for long work: the
/// first sets the flag returned, which the work polls to stop `when`
/// ("after this iteration"); a second, a second or more later, runs
/// `at_once` (what it leaves) and exits with 130. A second within a second
/// of the first is the same request: `timeout` signals the process, then
/// its group. Under nohup a hang-up stays ignored.
fn on_stop_request(
    when: &'static str,
    at_once: impl Fn() + Send + 'static,
) -> anyhow::Result<std::sync::Arc<std::sync::atomic::AtomicBool>> {
    use std::sync::atomic::{AtomicBool, Ordering};
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let first = std::sync::Mutex::new(None::<std::time::Instant>);
    let hangup_was_ignored = hangup_ignored();
    ctrlc::set_handler(move || {
        let mut first = first.lock().unwrap_or_else(|e| e.into_inner());
        match *first {
            None => {
                *first = Some(std::time::Instant::now());
                flag.store(true, Ordering::SeqCst);
                say(&format!("\nstopping {when} (Ctrl-C again to stop at once) …"));
            }
            Some(at) if at.elapsed() < std::time::Duration::from_secs(1) => {}
            Some(_) => {
                at_once();
                std::process::exit(130);
            }
        }
    })
    .context("installing the Ctrl-C handler")?;
    // (The handler replaced that setting.)
    if hangup_was_ignored {
        ignore_hangup();
    }
    Ok(stop)
}

/// Whether SIGHUP is ignored now (as nohup leaves it); never on systems
/// without it.
fn hangup_ignored() -> bool {
    #[cfg(unix)]
    // SAFETY: sigaction(2) with no new action only reads the current one into `old`.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(libc::SIGHUP, std::ptr::null(), &mut old) == 0 && old.sa_sigaction == libc::SIG_IGN
    }
    #[cfg(not(unix))]
    false
}

/// Ignore SIGHUP from now on (where there is one).
fn ignore_hangup() {
    #[cfg(unix)]
    // SAFETY: sets one signal's action to SIG_IGN, which runs no code.
    unsafe {
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
    }
}

/// A file that could not be written (a full disk, say): the run in `out`
/// is safe at its checkpoint, and a resume goes on once that is mended.
/// (A divergence's message says how to go on.)
fn say_checkpoint_kept(out: &std::path::Path, err: &ebmscope::Error) {
    let unwritten = matches!(err, ebmscope::Error::Io { .. } | ebmscope::Error::File { .. });
    let ck_path = out.join(ebmscope::train::CHECKPOINT_FILE);
    if let (true, Ok(ck)) = (unwritten, ebmscope::train::Checkpoint::load(&ck_path)) {
        eprintln!(
            "the run's checkpoint (iteration {}) is kept: once the error below is mended (space freed, \
             a file closed or a permission given, say), go on from it with: ebmscope train --out {} --resume",
            ck.iteration,
            shell_path(out)
        );
    }
}

/// A run that stops before its first scheduled checkpoint leaves the run
/// its --force replaced set aside: say where.
fn say_where_replaced_run_is(run: &ebmscope::train::run::RunDir) {
    if let Some(line) = replaced_run_line(run) {
        eprintln!("{line}");
    }
}

/// Where the run this one's --force replaced is kept, and how to get it
/// back, while this run has no scheduled checkpoint yet.
fn replaced_run_line(run: &ebmscope::train::run::RunDir) -> Option<String> {
    run.replaced_run().map(|kept| {
        format!(
            "the run this one replaced is kept in {}: to keep it instead, `{}`",
            kept.display(),
            ebmscope::train::run::restore_command(&run.dir)
        )
    })
}

fn sample(choice: &AdapterChoice, args: SampleArgs) -> anyhow::Result<ExitCode> {
    use ebmscope::data::toy::{KdeScore, Toy};
    use ebmscope::train::longrun::{LongRunOptions, long_run};
    use std::io::Write;

    let ck = load_model_arg(
        &args.model,
        " (--epsilon and --temp-factor change how it is sampled)",
    )?;
    let input = ebmscope::train::net_spec(&ck.config)?.input;
    let start = chain_start(args.init, args.from_chains.as_deref(), &args.model, &ck)?;
    let every = args.every.unwrap_or((args.steps / 10).max(1));
    let out = args.out.clone().unwrap_or_else(|| {
        // (Going on from step N of a long run from data: longrun_from_data_N,
        // so that going on again from there does not meet the folder it
        // reads, nor chains of another source at the same step.)
        let from = match &start {
            ChainStart::Fresh(init) => init.name().to_string(),
            ChainStart::Saved(c) => c.folder_name(),
        };
        let name = format!("longrun_{from}{}", if args.mala { "_mala" } else { "" });
        beside_model(&args.model.checkpoint, &ck, &name)
    });
    let opts = LongRunOptions {
        steps: args.steps,
        chains: args.chains.unwrap_or(match &start {
            ChainStart::Fresh(_) => 1000,
            ChainStart::Saved(c) => c.count,
        }),
        from: start,
        mala: args.mala,
        temp_factor: args.temp_factor,
        epsilon: args.epsilon,
        every,
        data_noise: false,
    };
    // Everything that can be refused is, before the output folder is touched.
    opts.check(&ck)?;
    // (The file would be replaced by the run's own chains: its longrun.toml
    // would name a file that no longer holds them.)
    if let ChainStart::Saved(c) = &opts.from
        && same_file(&c.path, &out.join(LONG_RUN_CHAINS))
    {
        bail!(
            "--from-chains {}: is the chains file of {}, which this long run writes and would replace: \
             {}",
            c.path.display(),
            out.display(),
            if args.out.is_some() {
                "choose another --out"
            } else {
                "pass --out DIR to write it elsewhere"
            }
        );
    }
    check_out_folder(&out, &ebmscope::train::longrun::LONG_RUN_OUTPUTS, args.force)?;
    let chains = format!("--chains {}", opts.chains);
    let (data, gpu) = open_checkpoint_job(choice, &ck, opts.from.needs_data(), &out, (opts.chains, &chains))?;
    let summary = opts.summary(&ck, &args.model.checkpoint);
    eprintln!("{summary}");
    let made_with = opts.made_with(&ck, &gpu);
    if let Some(note) = opts.continuation_note(&made_with) {
        eprintln!("{note}");
    }
    let score = Toy::new(&ck.config.data)
        .ok()
        .map(|toy| KdeScore::new(&toy, &ck.config.eval, opts.chains));
    // What chains that sample q exactly would score: a KDE of few chains
    // reads far from q however good the model.
    if let Some(score) = &score {
        eprintln!(
            "TV(samples, q) is that of a KDE of {} (eval.kde_bandwidth {}): as many points drawn \
             from q itself score {:.3}, about the least to expect{}",
            ebmscope::config::plural(opts.chains as u64, "chain", "chains"),
            score.bandwidth,
            score.floor,
            if opts.chains < 1000 {
                " (more --chains lower it)"
            } else {
                ""
            }
        );
    }
    // Replacing a long run (--force), the new one takes the old one's place
    // only once it is done: a failed or interrupted run leaves it as it was.
    // (Its files: LONG_RUN_OUTPUTS; a training run's pictures are not its
    // to remove, were --out the run's folder.) The rows go to PARTIAL as
    // they come, which becomes the marker, longrun.csv, once all is
    // written: a run killed on its way (Ctrl-C) leaves PARTIAL, with its
    // rows so far, and its pictures, which the next run there replaces as
    // an older set, without --force.
    use ebmscope::train::longrun::{
        LONG_RUN_CHAINS, LONG_RUN_HEADER, LONG_RUN_MARKER as MARKER, LONG_RUN_OUTPUTS,
        LONG_RUN_PARTIAL as PARTIAL, LONG_RUN_SETTINGS,
    };
    let bar = indicatif::ProgressBar::new(args.steps);
    // (The bar counts this run's steps; steps are named from where the chains started.)
    let first = opts.from.step();
    let last_step = first + opts.steps;
    let mut lines = ProgressLines::new();
    // The first Ctrl-C stops at the end of the slice of steps under way,
    // keeping what is written, and says where it is (a kill leaves the same).
    let replacing = LONG_RUN_OUTPUTS.is_in(&out);
    let stop = on_stop_request("after the steps under way", || {
        say("\nstopped at once: what the long run wrote so far is kept")
    })?;
    let written = ebmscope::io::replace_outputs(&out, &LONG_RUN_OUTPUTS, args.force, |write_dir| {
        // PARTIAL first, its header whole: with it, what a kill leaves is
        // an unfinished long run.
        let new_csv = write_dir.join(PARTIAL);
        let header = format!("{LONG_RUN_HEADER},acceptance,tv_samples_q\n");
        ebmscope::io::write_atomically(&new_csv, header.as_bytes())?;
        let mut csv = std::io::BufWriter::new(
            std::fs::OpenOptions::new()
                .append(true)
                .open(&new_csv)
                .map_err(|e| ebmscope::Error::io(&new_csv, e))?,
        );
        let settings = write_dir.join(LONG_RUN_SETTINGS);
        ebmscope::io::write_atomically(
            &settings,
            opts.settings_toml(&ck, &args.model.checkpoint, &made_with, None)?
                .as_bytes(),
        )?;
        // (Toy data: TV at each row, for the figure's last panel, and how
        // many chains the last row had off the grid.)
        let mut tvs: Vec<(f64, f64)> = Vec::new();
        let mut last_tv = None;
        let mut off_grid = 0;
        // (The rows so far, for the figure of a long run stopped on its way.)
        let mut recorded = Vec::new();
        let record = |row: &ebmscope::train::longrun::LongRunRow, states: &[f32]| {
            if !row.mean_energy.is_finite() {
                return Err(ebmscope::Error::Shape(format!(
                    "the long run diverged by step {} (mean energy {}): try a lower --temp-factor, \
                     or --mala",
                    row.step, row.mean_energy
                )));
            }
            recorded.push(*row);
            // (Rewritten at every row: a run stopped or killed leaves its
            // chains as its last row found them, to go on from.)
            ebmscope::train::longrun::write_chains(
                &write_dir.join(LONG_RUN_CHAINS),
                input,
                states,
                row.step,
                &made_with,
            )?;
            let picture = write_dir.join(format!("samples_{:08}.png", row.step));
            // Toy data: the KDE of the chains against the truth; images: a grid of them.
            let tv = match &score {
                Some(score) => {
                    let (kde, tv) = score.score(states);
                    let title = format!("step {} of {last_step}: TV(samples, q) = {tv}", row.step);
                    use ebmscope::plot::HeatMap;
                    let fields = [
                        HeatMap::density("true density", &score.truth),
                        HeatMap::density("KDE of the chains", &kde),
                    ];
                    ebmscope::plot::heat_maps(&picture, &title, score.grid.res, &fields)?;
                    off_grid = score.grid.outside(states);
                    last_tv = Some(tv);
                    Some(tv.tv)
                }
                None => {
                    ebmscope::plot::image_grid(
                        &picture,
                        &states[..states.len().min(100 * input.iter().product::<usize>())],
                        input,
                    )?;
                    None
                }
            };
            if let Some(t) = tv {
                tvs.push((row.step as f64, t));
            }
            let acc = row.acceptance.map(|a| format!("{a:.4}")).unwrap_or_default();
            let tv_text = tv.map(|t| format!("{t:.4}")).unwrap_or_default();
            writeln!(
                csv,
                "{},{:?},{},{acc},{tv_text}",
                row.step,
                row.mean_energy,
                row.grad_text()
            )
            .and_then(|()| csv.flush())
            .map_err(|e| ebmscope::Error::io(&new_csv, e))?;
            // (The row's step: the bar moves on past it until the next row.)
            bar.set_message(format!(
                "at step {}: U {:.3}{}{}",
                row.step,
                row.mean_energy,
                tv.map(|t| format!("  TV {t:.3}")).unwrap_or_default(),
                if acc.is_empty() {
                    String::new()
                } else {
                    format!("  acceptance {acc}")
                }
            ));
            Ok(())
        };
        let ran = long_run(&gpu, &ck, data.as_ref(), &opts, record, &mut |_, done, _| {
            bar.set_position(done);
            lines.update("sampling", &bar);
            if stop.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(ebmscope::Error::Stopped("the long run".into()));
            }
            Ok(())
        });
        // (The rows `record` kept, which long_run returns too but not on a stop.)
        if let Err(e) = ran {
            // Stopped: the figure of the rows so far, beside them, and the
            // settings saying where it stopped (with no marker, still an
            // unfinished long run).
            if let (ebmscope::Error::Stopped(_), Some(last)) = (&e, recorded.last()) {
                let title = format!("{summary}; stopped, its rows to step {}", last.step);
                let figure = write_dir.join("longrun.png");
                if let Err(e) = ebmscope::plot::long_run_figure(&figure, &title, &recorded, &tvs) {
                    say(&format!("warning: no figure of the rows so far: {e}"));
                }
                let stopped = opts
                    .settings_toml(
                        &ck,
                        &args.model.checkpoint,
                        &made_with,
                        Some((first + bar.position(), last.step)),
                    )
                    .and_then(|text| ebmscope::io::write_atomically(&settings, text.as_bytes()));
                if let Err(e) = stopped {
                    say(&format!(
                        "warning: {LONG_RUN_SETTINGS} does not say where the run stopped: {e}"
                    ));
                }
            }
            return Err(e);
        }
        let rows = recorded;
        csv.flush().map_err(|e| ebmscope::Error::io(&new_csv, e))?;
        ebmscope::plot::long_run_figure(&write_dir.join("longrun.png"), &summary, &rows, &tvs)?;
        let done = write_dir.join(MARKER);
        ebmscope::io::rename(&new_csv, &done).map_err(|e| ebmscope::Error::io(&done, e))?;
        Ok(long_run_ending(
            &rows,
            last_tv,
            opts.chains,
            off_grid,
            score.as_ref().map(|s| &s.grid),
        ))
    });
    if let Err(ebmscope::Error::Stopped(_)) = written {
        bar.abandon();
        say(&format!(
            "stopped at step {} of {last_step}: {}",
            first + bar.position(),
            if replacing {
                format!("the long run {} held is kept as it was", out.display())
            } else {
                format!(
                    "the rows so far are in {}, beside their pictures, their figure, longrun.png, and \
                     the chains at the last row, {LONG_RUN_CHAINS}, to go on from with --from-chains \
                     elsewhere (a next run there replaces them)",
                    out.join(PARTIAL).display()
                )
            }
        ));
        return Ok(ExitCode::from(130));
    }
    let ending = written?;
    bar.finish();
    eprintln!("{ending}");
    eprintln!(
        "wrote {}, {}, {}, samples_*.png and the chains, {} (to go on with --from-chains)",
        out.join("longrun.csv").display(),
        out.join("longrun.png").display(),
        out.join("longrun.toml").display(),
        out.join(LONG_RUN_CHAINS).display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Where chains (or descents) start: `--init`'s fresh states, or those of
/// `--from-chains` (read for the model `ck`, loaded as `model` says).
fn chain_start(
    init: LongRunInit,
    from_chains: Option<&std::path::Path>,
    model: &ModelArgs,
    ck: &ebmscope::train::Checkpoint,
) -> anyhow::Result<ChainStart> {
    let Some(path) = from_chains else {
        return Ok(ChainStart::Fresh(init));
    };
    let input = ebmscope::train::net_spec(&ck.config)?.input;
    let saved = ebmscope::train::longrun::SavedChains::read(path, input)?;
    // (With weights alone, --data gives their settings' data; with a
    // checkpoint, only where the chains would start.)
    if model.data.is_some() && !ck.weights_alone {
        eprintln!(
            "note: --data is not read: the chains start from {}, not from the data",
            path.display()
        );
    }
    Ok(ChainStart::Saved(saved))
}

/// A map's starts from `from`: `starts` as given (--starts), or by
/// default 64, and from a chains file all of its chains up to 64. A
/// one-chain file is refused by name where --starts was not given (a map
/// needs 2), not as an option the user did not give.
fn map_starts(from: &ChainStart, starts: Option<usize>) -> anyhow::Result<usize> {
    let most = LandscapeOptions::default().starts;
    match (from, starts) {
        (_, Some(starts)) => Ok(starts),
        (ChainStart::Fresh(_), None) => Ok(most),
        (ChainStart::Saved(c), None) if c.count < 2 => bail!(
            "--from-chains {}: holds one chain, and a landscape starts from 2 states at least: save \
             more chains (sample --chains)",
            c.path.display()
        ),
        (ChainStart::Saved(c), None) => Ok(c.count.min(most)),
    }
}

/// Whether `a` and `b` name one file (alike, or through links and `..`);
/// either may not exist yet (an output), its folder being there.
fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    let canonical = |p: &std::path::Path| {
        p.canonicalize().ok().or_else(|| {
            let folder = p
                .parent()
                .filter(|f| !f.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."));
            Some(folder.canonicalize().ok()?.join(p.file_name()?))
        })
    };
    a == b || matches!((canonical(a), canonical(b)), (Some(a), Some(b)) if a == b)
}

/// Where a long run ended, from its `rows`: the chains' mean energy
/// against the start's and, for toy data, the last row's `tv`, and a
/// warning where at least a tenth of the `chains` ended off the `grid` the
/// densities are drawn on (`off_grid` of them): their TV then mostly
/// counts chains lost, not how q's modes are held.
fn long_run_ending(
    rows: &[ebmscope::train::longrun::LongRunRow],
    tv: Option<ebmscope::data::toy::KdeTv>,
    chains: usize,
    off_grid: usize,
    grid: Option<&ebmscope::data::toy::Grid>,
) -> String {
    let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
        return String::new();
    };
    // (Both in one form: −3.103e6 beside −2.604e5, not beside −260400.)
    let energies = [last.mean_energy, first.mean_energy];
    let energies = if energies.iter().all(|u| !rounded(*u).contains('e')) {
        energies.map(rounded)
    } else {
        energies.map(|u| format!("{u:.3e}"))
    };
    let mut ending = format!(
        "at step {}: mean energy U {} ({} at step {})",
        last.step, energies[0], energies[1], first.step
    );
    if let Some(tv) = tv {
        ending += &format!(", TV(samples, q) {tv}");
    }
    if let Some(grid) = grid.filter(|_| 10 * off_grid >= chains) {
        ending += &format!(
            "\nwarning: {off_grid} of {chains} chains ended off the square the densities are drawn \
             on (|x|, |y| ≤ {:.2}), where q has next to no mass: the TV counts them as lost. A step too \
             large for the model or a high --temp-factor takes chains there (try a lower --epsilon or \
             --temp-factor), as does a model whose energy falls away from the data",
            grid.extent
        );
    }
    ending
}

/// The checkpoint a `--checkpoint` names; a run folder, or a run whose
/// checkpoint an unfinished --force set aside, refused with where it is.
fn load_checkpoint_arg(path: &std::path::Path) -> anyhow::Result<ebmscope::train::Checkpoint> {
    use ebmscope::train::{CHECKPOINT_FILE, run::REPLACED_FOLDER};
    if path.is_dir() {
        bail!(
            "--checkpoint {}: is a folder; pass a checkpoint file (a run's is its {CHECKPOINT_FILE}{})",
            path.display(),
            if path.join(CHECKPOINT_FILE).exists() {
                format!(": {}", path.join(CHECKPOINT_FILE).display())
            } else {
                String::new()
            }
        );
    }
    let run = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let aside = run.join(REPLACED_FOLDER).join(CHECKPOINT_FILE);
    let is_runs = path.file_name() == Some(CHECKPOINT_FILE.as_ref());
    if !path.exists() && is_runs && aside.exists() {
        bail!(
            "--checkpoint {}: is not there; the run's folder keeps the checkpoint of the run an \
             unfinished --force replaced, {}: pass that, or put that run back, `{}`",
            path.display(),
            aside.display(),
            ebmscope::train::run::restore_command(run)
        );
    }
    Ok(ebmscope::train::Checkpoint::load(path)?)
}

/// The model of `sample` and `landscape`: a run's checkpoint (its image
/// data where `--data` says it lies now), or weights alone with the
/// settings `--preset`, `--config` and `--set` give.
fn load_model_arg(args: &ModelArgs, hint: &str) -> anyhow::Result<ebmscope::train::Checkpoint> {
    let path = &args.checkpoint;
    let (preset, config, set) = (args.preset.as_deref(), args.config.as_deref(), &args.set);
    if ebmscope::io::holds_weights_alone(path) {
        let (config, _, _) = weights_settings(path, preset, config, set, args.data.as_deref(), hint)?;
        return Ok(ebmscope::train::Checkpoint::from_weights(path, config)?);
    }
    let settings_given = preset.is_some() || config.is_some() || !set.is_empty();
    refuse_settings_beside_checkpoint(path, settings_given, hint)?;
    let mut ck = load_checkpoint_arg(path)?;
    data_moved_to(&mut ck.config, args.data.as_deref())?;
    Ok(ck)
}

/// The settings weights alone at `path` were trained with, as
/// [`resolve_settings`] gives them: from `--preset` or `--config` (with
/// `--set` and `--data`), or, for a run's weights/ file, its run's as at
/// that iteration (said on stderr), which keeps them as a checkpoint does
/// its own (settings given are refused, `hint` saying how to change them
/// instead).
fn weights_settings<'a>(
    path: &std::path::Path,
    preset: Option<&'a str>,
    config: Option<&std::path::Path>,
    set: &[String],
    data: Option<&std::path::Path>,
    hint: &str,
) -> anyhow::Result<(ebmscope::config::Config, Option<&'a str>, Vec<String>)> {
    let weights = path.display();
    let settings_given = preset.is_some() || config.is_some() || !set.is_empty();
    if settings_given && ebmscope::train::run::run_of_weights(path).is_some() {
        bail!(
            "--preset, --config and --set are for weights alone that are no run's, and {weights} is a \
             run's weights/ file, which takes its run's settings as at its iteration{hint} (other \
             settings: copy the file out of the run first)"
        );
    }
    if preset.is_some() || config.is_some() {
        return resolve_settings(preset, config, set.to_vec(), data);
    }
    if !set.is_empty() {
        bail!(
            "--checkpoint {weights}: holds weights alone, and --set changes the settings --preset P or \
             --config F give: say which settings they were trained with"
        );
    }
    let Some((mut config, said)) = ebmscope::train::run::settings_at_weights(path)? else {
        bail!(
            "--checkpoint {weights}: holds weights alone, without the settings they were trained with \
             (net, Langevin step, data): say them with --preset P or --config F (a run's config.toml, say)"
        );
    };
    eprintln!("note: {said}");
    data_moved_to(&mut config, data)?;
    Ok((config, None, Vec::new()))
}

/// Refuse `--preset`, `--config` and `--set` (`settings_given`) beside a
/// run's checkpoint, which keeps its own settings (`hint`: how to change
/// them instead).
fn refuse_settings_beside_checkpoint(
    path: &std::path::Path,
    settings_given: bool,
    hint: &str,
) -> anyhow::Result<()> {
    if settings_given && ebmscope::io::is_checkpoint(path) {
        bail!(
            "--preset, --config and --set are for weights alone, and {} is a run's checkpoint, which \
             keeps its own settings{hint}",
            path.display()
        );
    }
    Ok(())
}

/// Where `sample` and `landscape` write by default: `name` beside the
/// checkpoint; for weights alone, `name` and the file's name beside the
/// file, or beside its run's checkpoint for a run's weights/ file.
fn beside_model(path: &std::path::Path, ck: &ebmscope::train::Checkpoint, name: &str) -> PathBuf {
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    if !ck.weights_alone {
        return dir.join(name);
    }
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    match ebmscope::train::run::run_of_weights(path) {
        Some((run, _)) => run.join(format!("{name}_{stem}")),
        None => dir.join(format!("{name}_{stem}")),
    }
}

/// `--data` of a command that starts from a checkpoint: where the run's
/// image data lies now.
fn data_moved_to(
    config: &mut ebmscope::config::Config,
    data: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let Some(path) = data else { return Ok(()) };
    if config.data.kind.is_toy() {
        bail!("--data: this model learned toy data, which has no files");
    }
    config.data.kind = ebmscope::data::infer_image_kind(path);
    config.data.path = absolute_path(path)?;
    Ok(())
}

/// What `sample` and `landscape` need once their options are accepted: the
/// run's data set (only where the chains start from data: `needs_data`),
/// the GPU (announced) and the output folder, created once the job's
/// `batch` (its count, and what names it) is known to fit the adapter's
/// buffers.
fn open_checkpoint_job(
    choice: &AdapterChoice,
    ck: &ebmscope::train::Checkpoint,
    needs_data: bool,
    out: &std::path::Path,
    (batch, what): (usize, &str),
) -> anyhow::Result<(Option<ebmscope::data::Dataset>, Gpu)> {
    let data = if needs_data {
        Some(ebmscope::data::Dataset::load(&ck.config.data)?)
    } else {
        None
    };
    // Other images (a test split, say) may be what the user wants the
    // chains to start from, so this is said, not refused.
    if let Some(other) = data.as_ref().and_then(|d| ck.other_data(d, &ck.config.data.path)) {
        eprintln!("warning: {other}; the chains start from these images");
    }
    let gpu = Gpu::new(choice)?;
    let spec = ebmscope::train::net_spec(&ck.config)?;
    ebmscope::model::GpuNet::check_batch(&gpu, &spec, batch, what)?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    announce(&gpu);
    Ok((data, gpu))
}

/// `energy`'s image nets by default: RGB, base width 32 (ToyNet takes
/// neither, and refuses others).
const ENERGY_N_C: usize = 3;
const ENERGY_N_F: usize = 32;

/// Where stderr is no terminal (a log file, a notebook's `!ebmscope …`),
/// indicatif draws no bar: there a plain line says how far long work has
/// got, every `EBMSCOPE_PROGRESS_SECONDS` (30 by default).
struct ProgressLines {
    /// None on a terminal, where the bar shows it.
    every: Option<std::time::Duration>,
    last: std::time::Instant,
    left: ebmscope::progress::TimeLeft,
}

impl ProgressLines {
    fn new() -> Self {
        use std::io::IsTerminal;
        let every = (!std::io::stderr().is_terminal()).then(|| {
            let given = std::env::var("EBMSCOPE_PROGRESS_SECONDS").ok();
            let seconds = given.as_deref().map(|s| s.trim().parse::<f64>());
            // (A number too large for a Duration: never.)
            std::time::Duration::try_from_secs_f64(match seconds {
                Some(Ok(s)) if s.is_finite() && s >= 0.0 => s,
                None => 30.0,
                Some(_) => {
                    eprintln!(
                        "warning: EBMSCOPE_PROGRESS_SECONDS `{}` is not a number of seconds ≥ 0: 30 used",
                        given.unwrap_or_default()
                    );
                    30.0
                }
            })
            .unwrap_or(std::time::Duration::MAX)
        });
        ProgressLines {
            every,
            last: std::time::Instant::now(),
            left: ebmscope::progress::TimeLeft::default(),
        }
    }

    /// The line for `bar` if one is due: "what: 120/400 (30 %), 1 minute in,
    /// about 3 minutes to go; message" (the time left once the bar has moved).
    fn update(&mut self, what: &str, bar: &indicatif::ProgressBar) {
        let Some(every) = self.every else { return };
        let (done, total) = (bar.position(), bar.length().unwrap_or(0));
        // (Seen at every update, so that the first advance is timed as it comes.)
        let left = self.left.at(done, total);
        if self.last.elapsed() < every {
            return;
        }
        self.last = std::time::Instant::now();
        let message = bar.message();
        eprintln!(
            "{what}: {done}/{total} ({} %), {} in{}{}",
            done.saturating_mul(100).checked_div(total).unwrap_or(0),
            indicatif::HumanDuration(bar.elapsed()),
            left.map(|d| format!(", about {} to go", indicatif::HumanDuration(d)))
                .unwrap_or_default(),
            if message.is_empty() {
                String::new()
            } else {
                format!("; {message}")
            }
        );
    }
}

/// `train`'s folder without --out: runs/<preset>, or runs/custom for a
/// --config file alone.
fn default_run_folder(preset: Option<&str>) -> PathBuf {
    PathBuf::from("runs").join(preset.unwrap_or("custom"))
}

/// A count, step number or seed from the command line, refusing a negative or
/// fractional one by name (clap would call "-3" an unknown option). The
/// least each flag takes is said where it is checked ("--iters must be at
/// least 1").
fn whole<T: std::str::FromStr>(s: &str) -> Result<T, String> {
    let t = s.trim();
    t.parse().map_err(|_| {
        let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        // (Thousands as people group them: 1,000, 1_000, 1'000, 1 000.)
        let plain: String = t
            .chars()
            .filter(|c| !matches!(c, ',' | '_' | '\'') && !c.is_whitespace())
            .collect();
        let value = t.parse::<f64>().ok().filter(|v| *v >= 0.0 && v.fract() == 0.0);
        match value {
            _ if digits(t) => format!("`{s}` is too large a number here"),
            _ if digits(&plain) => format!("`{s}`: write it without separators, as {plain}"),
            Some(v) if v < 1e18 => format!("`{s}`: write it in plain digits, as {v}"),
            Some(_) => format!("`{s}` is too large a number here"),
            None => format!("`{s}` is not a whole number (such as 100)"),
        }
    })
}

/// A real number from the command line, saying what is wrong in the
/// program's words (not Rust's "invalid float literal").
fn number(s: &str) -> Result<f64, String> {
    s.trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number (such as 0.1 or 1e-3)"))
}

/// One α of --alpha's comma-separated list, saying how to list several
/// where one is not a number ("0 1").
fn alpha_value(s: &str) -> Result<f64, String> {
    s.trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number: list several α with commas, as 0,1,10"))
}

/// The CLI's refusal of an output folder `out` (see [`ebmscope::io::check_out_folder`]).
fn check_out_folder(out: &std::path::Path, set: &ebmscope::io::OutputSet, force: bool) -> anyhow::Result<()> {
    let how = "pass --force to replace it, or ";
    ebmscope::train::run::refuse_run_folder(out, set.what, "--out")?;
    Ok(ebmscope::io::check_out_folder(out, set, force, how, "--out")?)
}

fn landscape(choice: &AdapterChoice, args: LandscapeArgs) -> anyhow::Result<ExitCode> {
    use ebmscope::train::landscape::{
        Backdrop, LANDSCAPE_MARKER, LANDSCAPE_OUTPUTS, LANDSCAPE_SETTINGS, alpha_label, landscape,
        save_landscape,
    };

    let ck = load_model_arg(&args.model, " (--temp-factor changes how it is mapped)")?;
    let start = chain_start(args.init, args.from_chains.as_deref(), &args.model, &ck)?;
    let opts = LandscapeOptions {
        starts: map_starts(&start, args.starts)?,
        from: start,
        descent_steps: args.descent_steps,
        ad_steps: args.ad_steps,
        alphas: args.alpha.clone(),
        temp_factor: args.temp_factor,
        radius: args.radius,
        chunk: args.chunk,
    };
    let out = args.out.clone().unwrap_or_else(|| {
        let name = match &opts.from {
            ChainStart::Fresh(_) => "landscape".to_string(),
            ChainStart::Saved(c) => format!("landscape_{}", c.folder_name()),
        };
        beside_model(&args.model.checkpoint, &ck, &name)
    });
    // Everything that can be refused is, before the output folder is touched.
    opts.check(&ck)?;
    check_out_folder(&out, &LANDSCAPE_OUTPUTS, args.force)?;
    for warning in opts.coarse_pulls(&ck)? {
        eprintln!("warning: {warning}");
    }
    // (Not --chunk: attraction–diffusion runs at most as many chains as
    // there are pairs of minima, unknown until the descent ends.)
    let starts = format!("--starts {}", opts.starts);
    let needs_data = opts.from.needs_data();
    let (data, gpu) = open_checkpoint_job(choice, &ck, needs_data, &out, (opts.starts, &starts))?;
    let from = match &opts.from {
        ChainStart::Fresh(init) => format!("{} {} states", opts.starts, init.name()),
        ChainStart::Saved(_) => format!("{} states of {}", opts.starts, opts.from.text()),
    };
    eprintln!(
        "descent from {from} ({} steps), then attraction–diffusion between the minima (α {}, T × {}, {} steps; {})",
        opts.descent_steps,
        opts.alphas
            .iter()
            .map(|&a| alpha_label(a))
            .collect::<Vec<_>>()
            .join(", "),
        short(opts.temp_factor),
        opts.ad_steps,
        ck.described(&args.model.checkpoint)
    );
    let bar = indicatif::ProgressBar::new(1);
    let mut lines = ProgressLines::new();
    let mut told_pairs = false;
    let map = landscape(&gpu, &ck, data.as_ref(), &opts, &mut |stage, done, total| {
        // Attraction–diffusion runs a chain per pair of the minima found,
        // so its work grows as their square: said as it begins.
        if stage != "descent" && !told_pairs {
            told_pairs = true;
            let chains = total / opts.ad_steps;
            let minima = (1..).find(|n: &u64| n * (n - 1) / 2 >= chains).unwrap_or(0);
            // (println would say nothing where the bar is hidden: no terminal.)
            bar.suspend(|| {
                eprintln!(
                    "the descent ended in {}: {chains} attraction–diffusion chains (one per pair) \
                     of {} steps for each of {} α, {} chain steps in all (chains grow as the square of \
                     the minima: a larger --radius joins more of them)",
                    ebmscope::config::plural(minima, "minimum", "minima"),
                    opts.ad_steps,
                    opts.alphas.len(),
                    total * opts.alphas.len() as u64
                )
            });
        }
        if bar.length() != Some(total) || bar.message() != stage {
            bar.set_length(total);
            bar.set_message(stage.to_string());
            bar.reset_elapsed();
            bar.reset_eta();
        }
        bar.set_position(done);
        lines.update("landscape", &bar);
        Ok(())
    })?;
    bar.finish_and_clear();
    let backdrop = Backdrop::of_checkpoint(&gpu, &ck)?;
    // Mapped: only now does an old landscape go (--force, or one whose
    // writing stopped before its marker minima.csv).
    let model = ebmscope::train::landscape::MapModel::of(&ck, &args.model.checkpoint)?;
    let pictures = save_landscape(&out, args.force, &map, &opts, &model, &backdrop)?;

    println!("{}", map.title(&opts));
    for b in &map.basins {
        println!(
            "{} ({} of {} chains reached their lower minimum)",
            b.title(),
            b.reached(),
            b.attempts.len()
        );
        println!("  basin  minima  starts  lowest U");
        for k in 0..b.count() {
            let members: Vec<usize> = b.members(k).collect();
            let starts: usize = members.iter().map(|&i| map.minima[i].starts).sum();
            println!(
                "  {k:>5}  {:>6}  {starts:>6}  {:.4}",
                members.len(),
                map.minima[members[0]].energy
            );
        }
    }
    for warning in map.warnings(opts.radius) {
        eprintln!("warning: {warning}");
    }
    eprintln!(
        "wrote {}, {}, {} and {}",
        out.join(LANDSCAPE_MARKER).display(),
        out.join("attempts.csv").display(),
        out.join(LANDSCAPE_SETTINGS).display(),
        if pictures.len() == 1 {
            pictures[0]
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned()
        } else {
            format!("{} basin_alpha_*.png", pictures.len())
        }
    );
    Ok(ExitCode::SUCCESS)
}
