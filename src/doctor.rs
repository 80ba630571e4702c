//! GPU kernels against the CPU reference on the chosen adapter: the checks
//! behind `ebmscope doctor` and the GPU tests. Drivers differ; this tells a
//! user whether theirs computes right.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::Result;
use crate::compare::{Comparison, Tolerance, compare};
use crate::gpu::{ConvKernels, Gpu};
use crate::kernels::sampling::Purpose;
use crate::model::{Backward, GpuNet, LayerOp, LayerSpec, NetSpec, check_params};
use crate::reference::ReferenceNet;
use crate::reference::landscape::{Pull, attraction_diffusion};
use crate::reference::mala::{MalaOutcome, mala};
use crate::reference::philox::draw;
use crate::reference::trainer::langevin;
use crate::sampler::{Attracted, EnergyField, Langevin, Mala, SamplerKernels, StepSize};

/// One layer: f32 sums of at most ~1 000 products of values of order one.
/// Rounding errors grow like √n·2⁻²⁴ ≈ 2e-6 of the largest terms; measured
/// on lavapipe: ≤ 3e-7 of max |ref|. The bound leaves 30× room for other
/// summation orders and fused multiply-adds on other drivers.
pub const LAYER_TOL: Tolerance = Tolerance {
    rtol: 1e-5,
    atol_of_max: 1e-5,
    reason: "f32 sums of ≤ 1k terms (√n·2⁻²⁴ ≈ 2e-6); measured ≤ 3e-7 of max|ref|",
};

/// A whole network: five layers compound the per-layer error, and the
/// gradient of the first layer sums over every image and position.
/// Measured on lavapipe: ≤ 1.1e-6 of max |ref| (VanillaNet output).
pub const NET_TOL: Tolerance = Tolerance {
    rtol: 1e-4,
    atol_of_max: 5e-5,
    reason: "five chained f32 layers; measured ≤ 1.1e-6 of max|ref|, ~50× headroom",
};

/// Langevin chains: f32 steps against f64 ones, each step's error carried
/// into the next through ∇F. Measured on lavapipe after 5 ToyNet steps:
/// ≤ 8e-8 of max |ref| (states and Σ r), both samplers; the bound leaves
/// ~100× for other drivers' summation orders and fused multiply-adds.
pub const SAMPLER_TOL: Tolerance = Tolerance {
    rtol: 1e-5,
    atol_of_max: 1e-5,
    reason: "f32 vs f64 through 5 Langevin steps of a five-layer net",
};

/// The fused sampler (mlp_langevin) against the layered kernels on one
/// field, the same noise: the same f32 arithmetic per step, but Σ r is
/// grouped by dispatch (a dispatch sums its steps, then adds), and a driver
/// may contract or order the dot products differently in the two kernels,
/// which the chains' dynamics carry through the steps. Measured on lavapipe
/// after 613 ToyNet steps: states, F and ∇F bit-identical, Σ r within 2e-6
/// relative. Used by tests/sampler.rs and by `bench` before timing.
pub const FUSED_SAMPLER_TOL: Tolerance = Tolerance {
    rtol: 1e-4,
    atol_of_max: 1e-4,
    reason: "f32 summation order and Σ r grouping, fused vs layered sampler",
};

/// How the upstream gradient of a case is filled.
#[derive(Clone, Copy, Debug)]
pub enum Upstream {
    /// Uniform in [−1, 1] per output element (single layers).
    Random,
    /// One per image: the output gradient is ∇x F per image.
    Ones,
    /// +1/n on the first n images, −1/m on the rest: the parameter gradient
    /// is ∇θ (mean F(X⁺) − mean F(X⁻)).
    DataMinusSamples { n: usize },
    /// For batches too large for the f64 reference (a bench's timed nets):
    /// as DataMinusSamples on [`sampled_images`] alone, 0 on the others, and
    /// only those are compared, the reference running on them alone. The
    /// whole batch still runs on the GPU, with its batch-sized splits and
    /// chunks; a chunk of ∂/∂θ holding none of those images adds 0 either
    /// way, so is not checked.
    Sampled { n: usize },
}

/// The images a [`Upstream::Sampled`] case compares: 8 spread evenly over
/// the batch, the first and the last among them (all of a smaller batch).
pub fn sampled_images(batch: usize) -> Vec<usize> {
    const IMAGES: usize = 8;
    if batch <= IMAGES {
        return (0..batch).collect();
    }
    (0..IMAGES).map(|i| i * (batch - 1) / (IMAGES - 1)).collect()
}

pub struct Case {
    pub name: String,
    pub spec: NetSpec,
    pub batch: usize,
    pub upstream: Upstream,
    pub tol: Tolerance,
}

/// f32 values (the GPU's, or its inputs) as the reference takes them.
fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&a| f64::from(a)).collect()
}

/// One compared quantity of one case.
pub struct Row {
    pub case: String,
    pub quantity: &'static str,
    pub comparison: Comparison,
    pub tol: Tolerance,
}

fn single(name: &str, input: [usize; 3], op: LayerOp, c_out: usize, leaky_relu: bool, batch: usize) -> Case {
    Case {
        name: name.to_string(),
        spec: NetSpec::single_layer(name, input, op, c_out, leaky_relu),
        batch,
        upstream: Upstream::Random,
        tol: LAYER_TOL,
    }
}

/// Single-layer cases: odd sizes, one image, one channel, channel counts
/// that are not multiples of 4, stride 2 with padding, 1×1 images, Linear.
pub fn layer_cases() -> Vec<Case> {
    vec![
        single(
            "conv3x3 s1 p1, 3→5 ch, 7×9, lrelu",
            [3, 7, 9],
            LayerOp::conv(3, 1, 1),
            5,
            true,
            2,
        ),
        single(
            "conv4x4 s2 p1, 5→6 ch, 8×8, lrelu",
            [5, 8, 8],
            LayerOp::conv(4, 2, 1),
            6,
            true,
            3,
        ),
        single(
            "conv3x3 s2 p1, 1→3 ch, 7×7 odd",
            [1, 7, 7],
            LayerOp::conv(3, 2, 1),
            3,
            true,
            2,
        ),
        single(
            "conv4x4 s1 p0 → 1×1, 6→1 ch",
            [6, 4, 4],
            LayerOp::conv(4, 1, 0),
            1,
            false,
            1,
        ),
        single(
            "conv3x3 s1 p1, 1→1 ch, one image",
            [1, 5, 5],
            LayerOp::conv(3, 1, 1),
            1,
            false,
            1,
        ),
        single(
            "conv3x3 p1 on a 1×1 image, 3→2 ch",
            [3, 1, 1],
            LayerOp::conv(3, 1, 1),
            2,
            true,
            4,
        ),
        single(
            "conv1x1 on 1×1 (toy layer), 2→7 ch",
            [2, 1, 1],
            LayerOp::conv(1, 1, 0),
            7,
            true,
            5,
        ),
        single(
            "conv5x5 s3 p2, 2→3 ch, 11×6",
            [2, 11, 6],
            LayerOp::conv(5, 3, 2),
            3,
            true,
            2,
        ),
        // Several groups of 4 channels and of 4 columns, each with a remainder,
        // in both residue classes of stride 2.
        single(
            "conv4x4 s2 p1, 6→9 ch, 13×11, lrelu",
            [6, 13, 11],
            LayerOp::conv(4, 2, 1),
            9,
            true,
            2,
        ),
        // The tiled kernel's edges: 2 tiles of 64 channels, 3 of 128
        // positions (11 images of 5×5), 2 of 16 taps (18), each last one
        // partial; a 3×3 window split across tap tiles.
        single(
            "conv3x3 s2 p1, 2→69 ch, 9×10",
            [2, 9, 10],
            LayerOp::conv(3, 2, 1),
            69,
            true,
            11,
        ),
        // And of the tiled input gradient: 2 tiles of 64 input channels, 4
        // residue classes tiled as the largest, 2 tiles of 128 pixels (11
        // images of 3 × 4 in two classes, 3 × 3 in the others), 2 of 16
        // (output channel, tap) pairs (20).
        single(
            "conv4x4 s2 p1, 69→5 ch, 6×7",
            [69, 6, 7],
            LayerOp::conv(4, 2, 1),
            5,
            true,
            11,
        ),
        single("linear 3·2·2 → 7, lrelu", [3, 2, 2], LayerOp::Linear, 7, true, 4),
        single("linear 5 → 1, one image", [5, 1, 1], LayerOp::Linear, 1, false, 1),
        // Deep enough, with few enough tiles, that the tiled forward and
        // ∂/∂x split their 576-deep sums in two (conv2d_split_sum).
        single(
            "conv3x3 s1 p1, 64→64 ch, 5×5, lrelu",
            [64, 5, 5],
            LayerOp::conv(3, 1, 1),
            64,
            true,
            2,
        ),
        // And a strided ∂/∂x split in two, its residue classes of unequal
        // depth (512, 256, 256, 128).
        single(
            "conv3x3 s2 p1, 32→128 ch, 6×6, lrelu",
            [32, 6, 6],
            LayerOp::conv(3, 2, 1),
            128,
            true,
            2,
        ),
        // Rows long enough for dense_forward_split, not a multiple of its 64.
        single(
            "linear 3·10·10 → 5, lrelu",
            [3, 10, 10],
            LayerOp::Linear,
            5,
            true,
            3,
        ),
        // The same with rows read value by value (270 inputs, not whole
        // vec4s; 300 and 272 above and below are read as vec4s).
        single("linear 3·9·10 → 5", [3, 9, 10], LayerOp::Linear, 5, false, 2),
        // A window over the whole image runs as a dense layer: VanillaNet's last.
        single(
            "conv4x4 s1 p0 → 1×1, 17→3 ch, lrelu",
            [17, 4, 4],
            LayerOp::conv(4, 1, 0),
            3,
            true,
            3,
        ),
        single(
            "maxpool 2×2, 3 ch, 6×8",
            [3, 6, 8],
            LayerOp::MaxPool2,
            3,
            false,
            2,
        ),
        single(
            "maxpool 2×2, 1 ch, odd 5×7",
            [1, 5, 7],
            LayerOp::MaxPool2,
            1,
            false,
            3,
        ),
        single(
            "non-local block, 4 ch, 6×6",
            [4, 6, 6],
            LayerOp::NonLocal,
            4,
            false,
            2,
        ),
        single(
            "non-local block, 3 ch (C/2 = 1), odd 5×7",
            [3, 5, 7],
            LayerOp::NonLocal,
            3,
            false,
            2,
        ),
        Case {
            name: "conv3x3+lrelu → maxpool → linear".into(),
            spec: NetSpec {
                name: "stack".into(),
                input: [2, 6, 6],
                layers: vec![
                    LayerSpec::new("c", LayerOp::conv(3, 1, 1), 2, 3, true),
                    LayerSpec::new("p", LayerOp::MaxPool2, 3, 3, false),
                    LayerSpec::new("l", LayerOp::Linear, 27, 2, false),
                ],
                input_note: String::new(),
            },
            batch: 2,
            upstream: Upstream::Random,
            tol: LAYER_TOL,
        },
    ]
}

/// Whole networks: ToyNet, and narrow VanillaNets and NonlocalNets (n_f = 4
/// or 2 keeps software adapters and the f64 reference fast).
pub fn net_cases() -> Result<Vec<Case>> {
    let case = |name: &str, spec: NetSpec, batch, upstream| Case {
        name: name.to_string(),
        spec,
        batch,
        upstream,
        tol: NET_TOL,
    };
    Ok(vec![
        case("ToyNet, F and ∇x F", NetSpec::toy(), 7, Upstream::Ones),
        case(
            "ToyNet, ∇θ d_st (4 data, 3 samples)",
            NetSpec::toy(),
            7,
            Upstream::DataMinusSamples { n: 4 },
        ),
        case(
            "VanillaNet(3, 4), F and ∇x F",
            NetSpec::vanilla(3, 4)?,
            2,
            Upstream::Ones,
        ),
        case(
            "VanillaNet(1, 4), ∇θ d_st (2 data, 1 sample)",
            NetSpec::vanilla(1, 4)?,
            3,
            Upstream::DataMinusSamples { n: 2 },
        ),
        case(
            "NonlocalNet(3, 2), F and ∇x F",
            NetSpec::nonlocal(3, 2)?,
            2,
            Upstream::Ones,
        ),
        case(
            "NonlocalNet(1, 2), ∇θ d_st (2 data, 1 sample)",
            NetSpec::nonlocal(1, 2)?,
            3,
            Upstream::DataMinusSamples { n: 2 },
        ),
    ])
}

/// Run one case on the GPU and the reference with the same f32 inputs.
pub fn run_case(gpu: &Gpu, case: &Case, seed: u64) -> Result<Vec<Row>> {
    let net = GpuNet::new(gpu, &case.spec, case.batch)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // Not init_params: a non-local block's W starts at zero, which would hide
    // every gradient through its attention.
    let params = check_params(&case.spec, seed)?;
    let x: Vec<f32> = (0..case.batch * net.input_len())
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    let out_len = case.batch * net.output_len();
    let checked = match case.upstream {
        Upstream::Sampled { .. } => sampled_images(case.batch),
        _ => (0..case.batch).collect(),
    };
    let upstream: Vec<f32> = match case.upstream {
        Upstream::Random => (0..out_len).map(|_| rng.random_range(-1.0..1.0)).collect(),
        Upstream::Ones => vec![1.0; out_len],
        Upstream::DataMinusSamples { n } => {
            let m = case.batch - n;
            (0..case.batch)
                .map(|b| if b < n { 1.0 / n as f32 } else { -1.0 / m as f32 })
                .collect()
        }
        Upstream::Sampled { n } => {
            // (Each side's images weigh 1 over their count; a side without
            // any weighs nothing, so no count is 0 where it divides.)
            let data = checked.iter().filter(|&&b| b < n).count();
            let samples = checked.len() - data;
            let (mut u, len) = (vec![0.0; out_len], net.output_len());
            for &b in &checked {
                let w = if b < n {
                    1.0 / data as f32
                } else {
                    -1.0 / samples as f32
                };
                u[b * len..(b + 1) * len].fill(w);
            }
            u
        }
    };
    net.write_params(gpu, &params)?;
    net.write_input(gpu, &x)?;
    net.write_upstream(gpu, &upstream)?;
    net.run(
        gpu,
        Backward {
            input: true,
            params: true,
        },
    );

    let reference = ReferenceNet::new(&case.spec)?;
    // The checked images' rows of a [batch, len] vector.
    let rows_of = |v: &[f32], len: usize| -> Vec<f32> {
        checked
            .iter()
            .flat_map(|&b| &v[b * len..(b + 1) * len])
            .copied()
            .collect()
    };
    let (out, grads) = reference.backward(
        &f64s(&params),
        checked.len(),
        &f64s(&rows_of(&x, net.input_len())),
        &f64s(&rows_of(&upstream, net.output_len())),
    );
    let row = |quantity, got: Vec<f32>, want: &[f64]| Row {
        case: case.name.clone(),
        quantity,
        comparison: compare(&got, want, case.tol),
        tol: case.tol,
    };
    let mut rows = vec![
        row("output", rows_of(&net.read_output(gpu)?, net.output_len()), &out),
        row(
            "∂/∂input",
            rows_of(&net.read_input_grad(gpu)?, net.input_len()),
            &grads.input,
        ),
    ];
    // Max-pooling alone has no parameters: nothing to compare.
    if net.layout.total > 0 {
        rows.push(row("∂/∂params", net.read_param_grads(gpu)?, &grads.params));
    }
    Ok(rows)
}

/// The GPU sampler's Langevin noise z(element, chain, step) of one
/// iteration, drawn by the reference Philox.
fn langevin_noise(seed: u32, iteration: u32) -> impl Fn(usize, usize, u32) -> f64 {
    move |e, chain, step| {
        draw(
            seed,
            Purpose::LangevinNoise as u32,
            e as u32,
            chain as u32,
            step,
            iteration,
            true,
        )
    }
}

/// Langevin sampling on the GPU against the reference's (same Philox
/// noise): ToyNet, 6 chains, 5 steps, with the fused sampler and with the
/// layered kernels; the final states and Σ over steps and chains of a‖∇F‖.
/// Then MALA ([`mala_rows`]) and attraction–diffusion on ToyNet
/// ([`attraction_rows`]).
pub fn sampler_rows(gpu: &Gpu) -> Result<Vec<Row>> {
    let spec = NetSpec::toy();
    let (chains, steps, seed, iteration) = (6, 5, 17, 3);
    let params = check_params(&spec, 21)?;
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    let x: Vec<f32> = (0..2 * chains).map(|_| rng.random_range(-2.0..2.0)).collect();
    let size = StepSize {
        epsilon: 0.1,
        temperature: 1.0,
        tau: 1.0,
    };
    let mut want = f64s(&x);
    let noise = langevin_noise(seed, iteration);
    let (r_sum, _) = langevin(
        &ReferenceNet::new(&spec)?,
        &f64s(&params),
        &mut want,
        size,
        steps,
        noise,
    );
    let mut rows = Vec::new();
    for kernels in [SamplerKernels::Auto, SamplerKernels::Layered] {
        let net = GpuNet::new(gpu, &spec, chains)?;
        net.write_params(gpu, &params)?;
        net.write_input(gpu, &x)?;
        let sampler = Langevin::with_kernels(gpu, net.as_field(gpu)?, seed, size, kernels)?;
        sampler.begin(gpu, iteration);
        gpu.run("doctor langevin", |pass| {
            sampler.record_steps(gpu, pass, steps as usize)
        });
        let stats = gpu.read_f32(sampler.stats_buffer(), 0, 4 * chains)?;
        let got_r: f32 = stats.chunks_exact(4).map(|c| c[2]).sum();
        let case = format!(
            "ToyNet Langevin, 5 steps, {}",
            if sampler.is_fused() {
                "fused sampler"
            } else {
                "layered kernels"
            }
        );
        let row = |quantity, comparison| Row {
            case: case.clone(),
            quantity,
            comparison,
            tol: SAMPLER_TOL,
        };
        let states = gpu.read_f32(sampler.field.input(), 0, 2 * chains)?;
        rows.push(row("states", compare(&states, &want, SAMPLER_TOL)));
        rows.push(row("Σ a‖∇F‖", compare(&[got_r], &[r_sum], SAMPLER_TOL)));
    }

    rows.extend(mala_rows(gpu, &spec, chains)?);
    rows.extend(attraction_rows(gpu, &spec, chains)?);
    Ok(rows)
}

/// The MALA check's step sizes (ε, T, name): T = ε²/2, the invariant
/// form's temperature (every such checkpoint's long run), and another
/// (a = ε²/2T ≠ 1). Chosen so that the coin decides some proposals both
/// ways, each far from its threshold (held by a unit test).
pub const MALA_CASES: [(f32, f32, &str); 2] = [(0.01, 0.00005, "T = ε²/2"), (0.1, 0.0003, "T = 0.0003")];

/// One MALA check ([`MALA_CASES`]): its start, and the reference's run.
pub struct MalaCase {
    pub params: Vec<f32>,
    pub x: Vec<f32>,
    pub size: StepSize,
    pub steps: u32,
    pub seed: u32,
    pub iteration: u32,
    /// The reference's final states, and what else its run left.
    pub want: Vec<f64>,
    pub outcome: MalaOutcome,
}

impl MalaCase {
    /// `chains` chains of `spec` at random states, 8 steps of size
    /// (`epsilon`, `temperature`), run by the reference with the GPU
    /// sampler's momenta and coins.
    pub fn new(spec: &NetSpec, chains: usize, epsilon: f32, temperature: f32) -> Result<Self> {
        let (steps, seed, iteration) = (8, 19, 4);
        let dim: usize = spec.input.iter().product();
        let params = check_params(spec, 22)?;
        let mut rng = ChaCha8Rng::seed_from_u64(22);
        let x: Vec<f32> = (0..chains * dim).map(|_| rng.random_range(-2.0..2.0)).collect();
        let size = StepSize {
            epsilon,
            temperature,
            tau: 1.0,
        };
        let mut want = f64s(&x);
        let momentum = |e: usize, chain: usize, step: u32| {
            draw(
                seed,
                Purpose::MalaMomentum as u32,
                e as u32,
                chain as u32,
                step,
                iteration,
                true,
            )
        };
        let coin = |chain: usize, step: u32| {
            draw(
                seed,
                Purpose::MalaCoin as u32,
                0,
                chain as u32,
                step,
                iteration,
                false,
            )
        };
        let reference = ReferenceNet::new(spec)?;
        let outcome = mala(&reference, &f64s(&params), &mut want, size, steps, momentum, coin);
        Ok(MalaCase {
            params,
            x,
            size,
            steps,
            seed,
            iteration,
            want,
            outcome,
        })
    }
}

/// MALA on the GPU against the reference's (the same momenta and coins):
/// `chains` chains of `spec`, at each of [`MALA_CASES`]; the final states
/// and F, the proposals each chain took and Σ a‖∇F‖.
pub fn mala_rows(gpu: &Gpu, spec: &NetSpec, chains: usize) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for (epsilon, temperature, form) in MALA_CASES {
        let c = MalaCase::new(spec, chains, epsilon, temperature)?;
        let net = GpuNet::new(gpu, spec, chains)?;
        net.write_params(gpu, &c.params)?;
        let sampler = Mala::new(gpu, net.as_field(gpu)?, c.seed, c.size)?;
        sampler.start(gpu, &c.x, c.iteration)?;
        gpu.run("doctor mala", |pass| {
            sampler.record_steps(gpu, pass, c.steps as usize)
        });
        let stats = gpu.read_f32(sampler.stats_buffer(), 0, 4 * chains)?;
        let column = |k: usize| stats.chunks_exact(4).map(|s| s[k]).collect::<Vec<f32>>();
        let got_r: f32 = column(2).iter().sum();
        let accepted: Vec<f64> = c.outcome.accepted.iter().map(|&a| a.into()).collect();
        let taken: u32 = c.outcome.accepted.iter().sum();
        let case = format!(
            "ToyNet MALA, {} steps, {form}, {taken} of {} taken",
            c.steps,
            c.steps * chains as u32
        );
        let row = |quantity, comparison| Row {
            case: case.clone(),
            quantity,
            comparison,
            tol: SAMPLER_TOL,
        };
        let dim: usize = spec.input.iter().product();
        let states = gpu.read_f32(sampler.states(), 0, chains * dim)?;
        rows.push(row("states", compare(&states, &c.want, SAMPLER_TOL)));
        rows.push(row("F", compare(&column(0), &c.outcome.energies, SAMPLER_TOL)));
        rows.push(row("accepted", compare(&column(1), &accepted, SAMPLER_TOL)));
        rows.push(row("Σ a‖∇F‖", compare(&[got_r], &[c.outcome.r_sum], SAMPLER_TOL)));
    }
    Ok(rows)
}

/// The attraction check's inputs ([`attraction_rows`]): `chains` chains
/// of `spec` at random states, each pulled toward the start of the chain
/// mirrored in the batch, chain 0 toward a goal 0.001 per element from its
/// start (within a·pull = 0.015 at this step, where the pull is smoothed).
pub struct AttractionCase {
    pub params: Vec<f32>,
    pub x: Vec<f32>,
    pub goals: Vec<f32>,
    pub size: StepSize,
    /// α·T, about the size of ∇F.
    pub pull: f32,
    /// How near a chain counts as having reached its goal.
    pub reach: f32,
}

impl AttractionCase {
    pub fn new(spec: &NetSpec, chains: usize) -> Result<Self> {
        let dim: usize = spec.input.iter().product();
        let params = check_params(spec, 23)?;
        let mut rng = ChaCha8Rng::seed_from_u64(23);
        let x: Vec<f32> = (0..chains * dim).map(|_| rng.random_range(-2.0..2.0)).collect();
        let mut goals: Vec<f32> = x.chunks_exact(dim).rev().flatten().copied().collect();
        for (g, v) in goals[..dim].iter_mut().zip(&x) {
            *g = v + 0.001;
        }
        let size = StepSize {
            epsilon: 0.1,
            temperature: 1.0,
            tau: 1.0,
        };
        Ok(AttractionCase {
            params,
            x,
            goals,
            size,
            pull: 3.0,
            reach: 0.05,
        })
    }
}

/// Attraction–diffusion on the GPU — the fused sampler where `spec` allows
/// it, and the attraction kernel before each layered Langevin step —
/// against the reference's, the same noise: `chains`
/// chains of `spec` at random states, 5 steps, each pulled toward the start
/// of the chain mirrored in the batch — and chain 0 toward a goal 0.001 per
/// element from its start, within reach from the first step, so that the
/// highest energy stops counting there, and within the distance one step's
/// pull moves it (a·pull = 0.015), where the pull is smoothed (as the
/// middle chain of an odd number is, toward its own start); the others'
/// goals are further. The pull α·T = 3 is about the size of ∇F. Rows: the
/// final states, and the closest distance to the goal and the highest F
/// before reaching it that each chain tracked.
pub fn attraction_rows(gpu: &Gpu, spec: &NetSpec, chains: usize) -> Result<Vec<Row>> {
    let (steps, seed, iteration) = (5, 19, 4);
    let AttractionCase {
        params,
        x,
        goals,
        size,
        pull,
        reach,
    } = AttractionCase::new(spec, chains)?;
    let dim: usize = spec.input.iter().product();
    let noise = langevin_noise(seed, iteration);
    let mut want = f64s(&x);
    let goals64 = f64s(&goals);
    let pulled = Pull {
        goals: &goals64,
        pull: f64::from(pull),
        reach: f64::from(reach),
    };
    let track = attraction_diffusion(
        &ReferenceNet::new(spec)?,
        &f64s(&params),
        &mut want,
        &pulled,
        size,
        steps,
        noise,
    );

    let (want_closest, want_highest): (Vec<f64>, Vec<f64>) = track.into_iter().unzip();
    let mut rows = Vec::new();
    for kernels in [SamplerKernels::Auto, SamplerKernels::Layered] {
        let net = GpuNet::new(gpu, spec, chains)?;
        net.write_params(gpu, &params)?;
        net.write_input(gpu, &x)?;
        let field = Attracted::new(gpu, net.as_field(gpu)?, pull, reach)?;
        field.write_goals(gpu, &goals)?;
        let sampler = Langevin::with_kernels(gpu, field, seed, size, kernels)?;
        sampler.begin(gpu, iteration);
        gpu.run("doctor attraction", |pass| {
            sampler.record_steps(gpu, pass, steps as usize)
        });
        let got = sampler.field.read_track(gpu)?;
        let states = gpu.read_f32(sampler.field.input(), 0, chains * dim)?;
        let closest: Vec<f32> = got.iter().map(|t| t.closest).collect();
        let highest: Vec<f32> = got.iter().map(|t| t.highest).collect();
        let case = format!(
            "{} attraction–diffusion, 5 steps, {}",
            spec.name,
            if sampler.is_fused() {
                "fused sampler"
            } else {
                "layered kernels"
            }
        );
        rows.extend(
            [
                ("states", compare(&states, &want, SAMPLER_TOL)),
                ("closest to goal", compare(&closest, &want_closest, SAMPLER_TOL)),
                ("highest F", compare(&highest, &want_highest, SAMPLER_TOL)),
            ]
            .into_iter()
            .map(|(quantity, comparison)| Row {
                case: case.clone(),
                quantity,
                comparison,
                tol: SAMPLER_TOL,
            }),
        );
    }
    Ok(rows)
}

pub fn run_all(gpu: &Gpu) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    let cases: Vec<Case> = layer_cases().into_iter().chain(net_cases()?).collect();
    for (i, case) in cases.iter().enumerate() {
        rows.extend(run_case(gpu, case, 1000 + i as u64)?);
    }
    let default = gpu.conv_kernels();
    for other in [ConvKernels::Direct, ConvKernels::Tiled] {
        if other == default {
            continue;
        }
        gpu.set_conv_kernels(other);
        let checked: Result<Vec<Vec<Row>>> = (cases.iter().enumerate())
            .map(|(i, case)| run_case(gpu, case, 2000 + i as u64))
            .collect();
        gpu.set_conv_kernels(default);
        for mut row in checked?.into_iter().flatten() {
            row.case = format!("{} [{} conv]", row.case, other.name());
            rows.push(row);
        }
    }
    rows.extend(sampler_rows(gpu)?);
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The least distance between an accept test's H(x, P) − H(x', P') and
    /// its coin's log that the MALA check allows: the GPU's f32 F/T is off
    /// the reference's by about 2e-4 at T = 5e-5 (F measured within 1e-8),
    /// so a test nearer its threshold could go the other way there; 50×
    /// that. (The nearest are 0.018 at T = ε²/2 and 0.034 at T = 0.0003.)
    const MALA_MARGIN: f64 = 0.01;

    /// Each MALA check lets the coin decide: some tests where H rises
    /// (ΔH < 0) are taken and some refused, so that a wrong coin, or a
    /// wrong H, changes the outcome; and none sits so near its threshold
    /// that f32 rounding could flip it.
    #[test]
    fn mala_checks_turn_on_the_coin_far_from_its_threshold() {
        for (epsilon, temperature, form) in MALA_CASES {
            let c = MalaCase::new(&NetSpec::toy(), 6, epsilon, temperature).unwrap();
            let decided: Vec<bool> = c
                .outcome
                .tests
                .iter()
                .filter(|(dh, _)| *dh < 0.0)
                .map(|(dh, log_u)| log_u < dh)
                .collect();
            assert!(
                decided.contains(&true) && decided.contains(&false),
                "{form}: the coin took {decided:?} where H rose"
            );
            let nearest = c
                .outcome
                .tests
                .iter()
                .map(|(dh, log_u)| (dh - log_u).abs())
                .fold(f64::INFINITY, f64::min);
            assert!(
                nearest > MALA_MARGIN,
                "{form}: a test {nearest} from its threshold"
            );
        }
    }
}
