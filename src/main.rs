//! The `ebmscope` command line: a thin layer over the library.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};

use ebmscope::gpu::{AdapterChoice, Gpu, list_adapters};
use ebmscope::io::{Tensor, load_params, read_tensor, save_params, write_tensors};
use ebmscope::model::{Backward, GpuNet, NetKind, NetSpec, init_params};

#[derive(Parser)]
#[command(
    name = "ebmscope",
    version,
    about = "Train and watch ConvNet energy-based models on any GPU wgpu reaches"
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
    #[arg(long, global = true, env = "EBMSCOPE_ADAPTER")]
    adapter: Option<String>,
    /// Use this backend: vulkan, metal, dx12 or gl.
    #[arg(long, global = true, env = "EBMSCOPE_BACKEND")]
    backend: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// List every adapter wgpu sees, with backend, type, driver and the limits ebmscope relies on.
    Info,
    /// Check the GPU kernels against the CPU reference on the chosen adapter.
    Doctor,
    /// Energy F(x) and its input gradient ∇x F(x) for a batch in a safetensors file.
    Energy(EnergyArgs),
}

#[derive(Args)]
struct EnergyArgs {
    /// Network: `toy` (2-D points) or `vanilla` (32×32 images).
    #[arg(long, default_value = "vanilla")]
    net: String,
    /// Image channels (vanilla).
    #[arg(long, default_value_t = 3)]
    n_c: usize,
    /// Base width n_f (vanilla).
    #[arg(long, default_value_t = 32)]
    n_f: usize,
    /// Parameters in safetensors with PyTorch state-dict names; without it, initialise from --seed.
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Seed of PyTorch-default initialisation when --weights is not given.
    #[arg(long, default_value_t = 123)]
    seed: u64,
    /// Save the parameters used (e.g. freshly initialised) to this file.
    #[arg(long)]
    save_weights: Option<PathBuf>,
    /// Input safetensors with tensor `x`: [B, C, H, W] images, or [B, 2] points for the toy net.
    #[arg(long)]
    input: PathBuf,
    /// Output safetensors: `energy` [B] and `grad_x` (shape of x).
    #[arg(long)]
    output: PathBuf,
    /// Images per GPU submission (memory bound; results do not depend on it).
    #[arg(long, default_value_t = 256)]
    chunk: usize,
}

fn main() -> ExitCode {
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
    let choice = AdapterChoice {
        name: cli.adapter.adapter,
        backend: cli.adapter.backend,
    };
    match cli.command {
        Command::Info => info(&choice),
        Command::Doctor => doctor(&choice),
        Command::Energy(args) => energy(&choice, args),
    }
}

fn info(choice: &AdapterChoice) -> anyhow::Result<ExitCode> {
    let adapters = list_adapters(choice)?;
    if adapters.is_empty() {
        bail!(ebmscope::Error::NoAdapter {
            backends: String::new()
        });
    }
    for (i, a) in adapters.iter().enumerate() {
        let l = &a.limits;
        println!("[{i}] {}", a.info.name);
        println!(
            "    backend {:?}, type {:?}, vendor {:#06x}, device {:#06x}",
            a.info.backend, a.info.device_type, a.info.vendor, a.info.device
        );
        println!("    driver {} {}", a.info.driver, a.info.driver_info);
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
    let gpu = Gpu::new(choice)?;
    println!("chosen: {}", gpu.describe());
    Ok(ExitCode::SUCCESS)
}

fn doctor(choice: &AdapterChoice) -> anyhow::Result<ExitCode> {
    let gpu = Gpu::new(choice)?;
    println!("adapter: {}", gpu.describe());
    let rows = ebmscope::doctor::run_all(&gpu)?;
    let width = rows.iter().map(|r| r.case.chars().count()).max().unwrap_or(4);
    println!(
        "{:<width$}  {:<10}  {:>10}  {:>10}  result",
        "check", "quantity", "max |err|", "max |ref|"
    );
    let mut failed = 0;
    for r in &rows {
        let c = &r.comparison;
        let status = if c.passed() { "pass" } else { "FAIL" };
        println!(
            "{:<width$}  {:<10}  {:>10.2e}  {:>10.2e}  {status}",
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
    println!("{} passed, {} failed", rows.len() - failed, failed);
    if failed > 0 {
        println!(
            "This adapter computes some kernels wrongly: try another driver or backend (--backend, --adapter)."
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn energy(choice: &AdapterChoice, args: EnergyArgs) -> anyhow::Result<ExitCode> {
    let spec = NetSpec::build(NetKind::parse(&args.net)?, args.n_c, args.n_f)?;
    let layout = spec.param_layout()?;
    let params = match &args.weights {
        Some(path) => load_params(path, &layout)?,
        None => init_params(&spec, args.seed)?,
    };
    if let Some(path) = &args.save_weights {
        save_params(path, &layout, &params)?;
    }
    let x = read_tensor(&args.input, "x")?;
    let (batch, chw) = match (spec.input, x.shape.as_slice()) {
        ([c, 1, 1], &[b, d]) if d == c => (b, [c, 1, 1]),
        (_, &[b, c, h, w]) => (b, [c, h, w]),
        (_, shape) => bail!(
            "{}: tensor `x` has shape {shape:?}; net `{}` takes [B, C, H, W] images{}",
            args.input.display(),
            spec.name,
            if spec.name == "toy" {
                " or [B, 2] points"
            } else {
                ""
            }
        ),
    };
    spec.check_input(chw)
        .with_context(|| format!("{}: tensor `x`", args.input.display()))?;
    if batch == 0 {
        bail!("{}: tensor `x` holds no images (batch 0)", args.input.display());
    }
    if args.chunk == 0 {
        bail!("--chunk must be at least 1");
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
    write_tensors(
        &args.output,
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
        args.output.display()
    );
    Ok(ExitCode::SUCCESS)
}
