//! `ebmscope bench`: fixed workloads, each checked against the CPU reference
//! at a small size, then timed on the chosen adapter (wall time around
//! blocking submissions, after a warm-up). Reports Langevin steps × chains
//! per second, training iterations per second, the achieved GFLOP/s from
//! analytic per-layer counts, and each layer's share of a Langevin step —
//! from GPU timestamps where the adapter has them (so small kernels are not
//! swamped by submission latency), else from wall time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::compare::compare;
use crate::config::Config;
use crate::data::Dataset;
use crate::data::images::ImageSet;
use crate::doctor::{Case, FUSED_SAMPLER_TOL, NET_TOL, Upstream, run_case};
use crate::gpu::{ConvKernels, Gpu};
use crate::model::{Backward, ConvGeometry, GeometryKind, GpuNet, NetSpec, init_params};
use crate::sampler::{EnergyField, Langevin, SamplerKernels, StepSize};
use crate::train::Trainer;
use crate::{Error, Result};

/// One benchmark workload: a network, a number of chains and L.
#[derive(Clone, Debug)]
pub struct Workload {
    pub name: String,
    pub spec: NetSpec,
    /// Chains (= data batch) per iteration.
    pub chains: usize,
    /// Langevin steps per iteration.
    pub steps: usize,
}

/// The workloads of issue "speed": the authors' sizes, or (`small`) sizes a
/// software adapter times in seconds.
pub fn workloads(small: bool) -> Result<Vec<Workload>> {
    let w = |name: &str, spec: NetSpec, chains: usize, steps: usize| Workload {
        name: name.to_string(),
        spec,
        chains,
        steps,
    };
    Ok(if small {
        vec![
            w("toy-small", NetSpec::toy(), 100, 20),
            w("vanilla-8-small", NetSpec::vanilla(3, 8)?, 16, 5),
            w("nonlocal-8-small", NetSpec::nonlocal(3, 8)?, 16, 5),
        ]
    } else {
        vec![
            w("toy-L100", NetSpec::toy(), 100, 100),
            w("toy-L500", NetSpec::toy(), 100, 500),
            w("vanilla-32", NetSpec::vanilla(3, 32)?, 100, 100),
            w("nonlocal-32", NetSpec::nonlocal(3, 32)?, 100, 100),
        ]
    })
}

/// Floating-point operations of one layer for a batch, counted analytically
/// (a multiply-add is 2): forward, input gradient, parameter gradient.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct LayerFlops {
    pub forward: f64,
    pub input_grad: f64,
    pub param_grad: f64,
    /// What the layer's ∂/∂θ pass alone runs (the per-layer table's rate):
    /// `param_grad`, and for a non-local block also what θ, φ and g's
    /// ∂/∂θ need first, W's ∂/∂x and the attention's four backward products.
    pub param_grad_pass: f64,
}

fn conv_macs(g: &ConvGeometry, batch: usize) -> f64 {
    (batch * g.out_len() * g.c_in * g.kernel * g.kernel) as f64
}

pub fn layer_flops(g: &ConvGeometry, batch: usize) -> LayerFlops {
    match g.kind {
        GeometryKind::Conv => {
            let f = 2.0 * conv_macs(g, batch);
            LayerFlops {
                forward: f,
                input_grad: f,
                param_grad: f,
                param_grad_pass: f,
            }
        }
        GeometryKind::MaxPool2 => LayerFlops::default(),
        GeometryKind::NonLocal => {
            let Some(p) = g.non_local_parts() else {
                return LayerFlops::default();
            };
            let convs = 2.0 * (conv_macs(&p.qkv, batch) + conv_macs(&p.w, batch));
            // Scores and mixing: B·queries·keys·inter multiply-adds each;
            // backward: ∂attention, ∂φ, ∂g and ∂θ, four more.
            let attention = 2.0 * (batch * p.queries * p.keys * p.inter) as f64;
            LayerFlops {
                forward: convs + 2.0 * attention,
                input_grad: convs + 4.0 * attention,
                param_grad: convs,
                param_grad_pass: convs + 2.0 * conv_macs(&p.w, batch) + 4.0 * attention,
            }
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct LayerTiming {
    pub name: String,
    /// "gpu timestamps" or "wall time".
    pub timing: &'static str,
    pub forward_ms: f64,
    pub input_grad_ms: f64,
    /// ∂/∂θ of the layer in the learning step (on 2·chains images: data and
    /// samples); None for a layer without parameters.
    pub param_grad_ms: Option<f64>,
    /// What that pass runs ([`LayerFlops::param_grad_pass`]).
    pub param_grad_gflop: f64,
    /// A convolution's kernel family in the forward pass, ∂/∂x and ∂/∂θ
    /// (the learning step's net): "direct" or "tiled"; None for other layers.
    pub kernels: Option<[&'static str; 3]>,
    /// A convolution's passes with the direct kernels in every pass, unless
    /// that is this adapter's default (the columns above).
    pub direct: Option<PassTimes>,
    /// … and with the tiled kernels in every pass, likewise.
    pub tiled: Option<PassTimes>,
    pub forward_gflop: f64,
    pub input_grad_gflop: f64,
    /// A non-local block's forward pass and ∂/∂x split into their parts,
    /// each timed alone; None for other layers.
    pub parts: Option<PartTimes>,
}

/// (part, ms) of each part of a layer's forward pass and ∂/∂x, in order.
#[derive(Clone, Debug, Serialize)]
pub struct PartTimes {
    pub forward: Vec<(&'static str, f64)>,
    pub input_grad: Vec<(&'static str, f64)>,
}

/// One layer's passes on a net built with one convolution kernel family.
#[derive(Clone, Debug, Serialize)]
pub struct PassTimes {
    pub forward_ms: f64,
    pub input_grad_ms: f64,
    pub param_grad_ms: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct WorkloadResult {
    pub name: String,
    pub net: String,
    pub chains: usize,
    pub steps: usize,
    /// Worst GPU-vs-reference error over output, ∂/∂input, ∂/∂params (of
    /// max |ref|), at the timed batches ([`crate::doctor::Upstream::Sampled`]).
    pub check_worst_rel: f64,
    /// GFLOP of one Langevin step over all chains (forward + ∇x).
    pub step_gflop: f64,
    /// GFLOP of one training iteration (L steps + the parameter gradient on 2·chains images).
    pub iteration_gflop: f64,
    /// "fused" (mlp_langevin: many steps per dispatch) or "layered" (a dispatch per layer).
    pub sampler: &'static str,
    /// How the fused sampler ran (weights from uniform bindings or storage,
    /// outputs per invocation), if it ran.
    pub fused_kernel: Option<crate::sampler::FusedKernel>,
    pub langevin_steps_x_chains_per_s: f64,
    pub langevin_gflop_per_s: f64,
    /// CPU time to record one Langevin step of that sampler (its
    /// dispatches encoded and finished, not run): where the GPU outruns
    /// it, this bounds the rate.
    pub langevin_record_ms_per_step: f64,
    /// Submissions of the L steps (Langevin::submissions): after the
    /// first, the GPU runs one while the CPU records the next.
    pub langevin_submissions: usize,
    /// Kernel launches the L steps record, per step.
    pub langevin_dispatches_per_step: f64,
    /// With the fused sampler: the layered kernels on the same chains, timed
    /// in the same process (the baseline of its speed-up).
    pub layered_steps_x_chains_per_s: Option<f64>,
    /// Set when the fused sampler did not follow the layered kernels on the
    /// bench's chains (see [`check_fused`]): what differed.
    pub fused_differs: Option<String>,
    pub iterations_per_s: f64,
    pub iteration_gflop_per_s: f64,
    /// GPU memory a trainer holds; None where the backend keeps no count.
    pub training_memory: Option<MemoryFigure>,
    pub layers: Vec<LayerTiming>,
}

/// How much faster than its own L Langevin steps a training iteration may
/// seem before its two figures are said not to hold together
/// (scripts/compare_table.py's ITERATION_SLACK, which says it alike).
const ITERATION_SLACK: f64 = 0.10;

impl WorkloadResult {
    /// Milliseconds of one Langevin step of the layered kernels over all
    /// chains, as their throughput gives it (the baseline's, where the
    /// fused sampler ran).
    pub fn layered_step_ms(&self) -> f64 {
        let rate = self
            .layered_steps_x_chains_per_s
            .unwrap_or(self.langevin_steps_x_chains_per_s);
        1e3 * self.chains as f64 / rate
    }

    /// Why the training figure contradicts the Langevin figure (an
    /// iteration, which runs the L steps and more, timed faster than them),
    /// or None: the two were not timed in one state of the machine.
    pub fn timing_contradiction(&self) -> Option<String> {
        let steps_ms = 1e3 * (self.steps * self.chains) as f64 / self.langevin_steps_x_chains_per_s;
        let iteration_ms = 1e3 / self.iterations_per_s;
        faster_than_its_steps(iteration_ms, steps_ms).then(|| {
            format!(
                "an iteration took {iteration_ms:.1} ms, over {:.0} % less than its own {} Langevin steps \
                 ({steps_ms:.1} ms): the two figures were not taken in one state of the machine (too \
                 short a run, or load); time it again with more --seconds before reading them",
                100.0 * ITERATION_SLACK,
                self.steps
            )
        })
    }
}

/// Whether an iteration of `iteration_ms` came out faster than its own
/// Langevin steps, `steps_ms`, by more than [`ITERATION_SLACK`].
fn faster_than_its_steps(iteration_ms: f64, steps_ms: f64) -> bool {
    iteration_ms < (1.0 - ITERATION_SLACK) * steps_ms
}

/// GPU memory of a workload's training, as the backend's allocator counts it.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct MemoryFigure {
    /// Everything but the data set: nets (parameters, activations and
    /// gradients of the sampling and the learning batch), optimizer state,
    /// chains, noise and reports.
    pub bytes: u64,
    /// The data set, held as one byte per value (toy data: none).
    pub data_set_bytes: u64,
    /// What the device held in all after the first iteration (the bench's
    /// other nets too): later iterations must not add to it.
    #[serde(skip)]
    pub held: u64,
}

/// A trainer for `config` on `data` after its first iteration, and the
/// memory it holds (None where the backend's allocator keeps no count).
pub fn trainer_with_memory(
    gpu: &Arc<Gpu>,
    config: Config,
    data: Dataset,
) -> Result<(Trainer, Option<MemoryFigure>)> {
    let before = gpu.allocated_bytes()?;
    let mut trainer = Trainer::with_data(gpu.clone(), config, data)?;
    trainer.step()?;
    let memory = gpu.allocated_bytes()?.zip(before).map(|(held, before)| {
        let data_set_bytes = trainer.data_set_bytes();
        MemoryFigure {
            bytes: held.saturating_sub(before).saturating_sub(data_set_bytes),
            data_set_bytes,
            held,
        }
    });
    Ok((trainer, memory))
}

#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    pub tool: &'static str,
    /// ebmscope's version, the command line, when (seconds since 1970,
    /// UTC) and with what budget and sizes: what tells one report from
    /// another, a stale one say.
    pub version: &'static str,
    pub command: String,
    pub unix_time: u64,
    pub seconds: f64,
    pub small: bool,
    /// What failed, where a workload did (the workloads are those timed
    /// before it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
    pub adapter: String,
    /// The convolution kernels of the timed nets ([`ConvKernels::name`]).
    pub conv_kernels: &'static str,
    pub timing: &'static str,
    pub workloads: Vec<WorkloadResult>,
}

/// Warm-up before each timed quantity: at least this many runs and at
/// least [`WARM_UP`] (or the whole budget, if shorter), so that pipelines,
/// caches and a GPU's clocks have settled; scripts/bench_torch.py warms
/// PyTorch up alike.
const WARM_UP_RUNS: usize = 3;
const WARM_UP: Duration = Duration::from_secs(1);

/// Time `run` (which submits work) until at least `budget` has passed and
/// at least `min_reps` repetitions, after the warm-up; seconds per repetition.
fn time_reps(
    gpu: &Gpu,
    budget: Duration,
    min_reps: usize,
    mut run: impl FnMut() -> Result<()>,
) -> Result<f64> {
    let warm_start = Instant::now();
    let mut warm = 0;
    while warm < WARM_UP_RUNS || warm_start.elapsed() < WARM_UP.min(budget) {
        run()?;
        gpu.wait()?;
        warm += 1;
    }
    let start = Instant::now();
    let mut reps = 0;
    while reps < min_reps || start.elapsed() < budget {
        run()?;
        gpu.wait()?;
        reps += 1;
    }
    Ok(start.elapsed().as_secs_f64() / reps as f64)
}

/// Random images in [−1, 1] with byte values, as a loaded data set holds.
fn synthetic_images(chw: [usize; 3], n: usize) -> ImageSet {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let [c, s, _] = chw;
    ImageSet {
        n,
        channels: c,
        size: s,
        bytes: (0..n * c * s * s).map(|_| rng.random::<u8>()).collect(),
        passed_over: Vec::new(),
        outputs_passed_over: Vec::new(),
    }
}

/// A training config for `w`: the reference's non-convergent setting
/// (Adam, ε = 0.01, uniform-noise chains), with the workload's sizes.
fn training_config(w: &Workload) -> Result<Config> {
    let toy = w.spec.name == "toy";
    let mut sets = vec![
        format!("batch.data={}", w.chains),
        format!("batch.chains={}", w.chains),
        format!("langevin.steps={}", w.steps),
        "langevin.init=uniform".to_string(),
        "optimizer.kind=adam".to_string(),
        "optimizer.lr=1e-4".to_string(),
        "optimizer.lr_min=1e-4".to_string(),
    ];
    if !toy {
        sets.push(format!("net.kind={}", w.spec.name));
        sets.push(format!("data.channels={}", w.spec.input[0]));
        let n_f = w.spec.layers[0].c_out;
        sets.push(format!("net.n_f={n_f}"));
    }
    let preset = if toy {
        "gmm-nonconvergent"
    } else {
        "cifar10-nonconvergent"
    };
    Config::resolve(Some(preset), None, &sets)
}

/// Check `w` against the reference, then time it; with `other_kernels`,
/// each convolution also with the kernel families the default does not run.
pub fn run_workload(
    gpu: &Arc<Gpu>,
    w: &Workload,
    budget: Duration,
    other_kernels: bool,
) -> Result<WorkloadResult> {
    // At the batches timed (the sampler's chains, the learning step's data
    // and chains), whose splits and chunks are batch-sized: on images spread
    // over each, which the f64 reference runs alone.
    let mut rows = Vec::new();
    for batch in [w.chains, 2 * w.chains] {
        let case = Case {
            name: format!("{} (batch {batch})", w.name),
            spec: w.spec.clone(),
            batch,
            upstream: Upstream::Sampled { n: batch / 2 },
            tol: NET_TOL,
        };
        rows.extend(run_case(gpu, &case, 11)?);
    }
    if let Some(bad) = rows.iter().find(|r| !r.comparison.passed()) {
        return Err(Error::Shape(format!(
            "{}: the GPU differs from the reference ({} {}); run `ebmscope doctor` — not timing wrong kernels",
            bad.case, bad.quantity, bad.comparison
        )));
    }
    let check_worst_rel = rows
        .iter()
        .map(|r| r.comparison.max_abs_err / r.comparison.max_ref.max(f64::MIN_POSITIVE))
        .fold(0.0, f64::max);

    let geometry = w.spec.geometry()?;
    let per_layer: Vec<LayerFlops> = geometry.iter().map(|g| layer_flops(g, w.chains)).collect();
    let step_flops: f64 = per_layer.iter().map(|f| f.forward + f.input_grad).sum();
    // The parameter gradient runs on data and samples together: 2·chains
    // images; the backward pass stops short of the input: layer 0 runs only
    // what its ∂/∂θ needs.
    let learn_flops: f64 = geometry
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let f = layer_flops(g, 2 * w.chains);
            f.forward
                + if i > 0 {
                    f.input_grad + f.param_grad
                } else {
                    f.param_grad_pass
                }
        })
        .sum();
    let iteration_flops = w.steps as f64 * step_flops + learn_flops;

    // Sampling alone: L Langevin steps, in the submissions training makes,
    // on the sampler training uses and (when that is the fused one) on the
    // layered kernels.
    let size = StepSize {
        epsilon: 0.01,
        temperature: 0.5e-4,
        tau: 1.0,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let x: Vec<f32> = (0..w.chains * w.spec.input.iter().product::<usize>())
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    let params = init_params(&w.spec, 5)?;
    let sampler_on = |kernels| -> Result<Langevin<GpuNet>> {
        let net = GpuNet::new(gpu, &w.spec, w.chains)?;
        net.write_params(gpu, &params)?;
        net.write_input(gpu, &x)?;
        Langevin::with_kernels(gpu, net.as_field(gpu)?, 5, size, kernels)
    };
    let steps = w.steps;
    let time_sampler = |sampler: &Langevin<GpuNet>| {
        time_reps(gpu, budget, 2, || {
            sampler.begin(gpu, 0);
            for n in sampler.submissions(steps) {
                gpu.run("bench langevin", |pass| sampler.record_steps(gpu, pass, n));
            }
            Ok(())
        })
    };
    let sampler = sampler_on(SamplerKernels::Layered)?;
    // What recording the timed sampler's steps takes (recording_of).
    let recording;
    let mut fused_differs = None;
    let mut fused_kernel = None;
    // A second net only where the fused sampler applies.
    let (sample_s, layered_s) = if sampler.field.dense_layers().is_some() {
        let fused = sampler_on(SamplerKernels::Auto)?;
        fused_differs = check_fused(gpu, &fused, &sampler)?;
        fused_kernel = fused.fused_kernel();
        if let Some(what) = &fused_differs {
            eprintln!(
                "warning: {}: {what}; timing it anyway (see `ebmscope doctor`)",
                w.name
            );
        }
        recording = recording_of(gpu, &fused, steps);
        (time_sampler(&fused)?, Some(time_sampler(&sampler)?))
    } else {
        recording = recording_of(gpu, &sampler, steps);
        (time_sampler(&sampler)?, None)
    };

    // Per-layer split of one Langevin step (each layer's forward and ∇x
    // alone) and of the learning step (∂/∂θ on data and samples as one batch
    // of 2·chains); and each convolution's forward, ∂/∂x and ∂/∂θ with the
    // direct and the tiled kernels in every pass (those the default is not),
    // on nets built with them, so one run shows which are faster here.
    let field = &sampler.field;
    let learn_x = [x.as_slice(), x.as_slice()].concat();
    let upstream: Vec<f32> = (0..2 * w.chains)
        .map(|b| if b < w.chains { 1.0 } else { -1.0 } / w.chains as f32)
        .collect();
    let net_on = |batch: usize, x: &[f32]| -> Result<GpuNet> {
        let net = GpuNet::new(gpu, &w.spec, batch)?;
        net.write_params(gpu, &params)?;
        net.write_input(gpu, x)?;
        if batch == 2 * w.chains {
            net.write_upstream(gpu, &upstream)?;
        }
        gpu.run("bench forward", |pass| net.record_forward(gpu, pass));
        Ok(net)
    };
    let learn = net_on(2 * w.chains, &learn_x)?;
    // Layers that run a convolution kernel (not dense, VanillaNet's last
    // layer included, and not max-pooling).
    let mut has_conv = Vec::with_capacity(geometry.len());
    for g in &geometry {
        has_conv.push(match g.kind {
            GeometryKind::Conv => g.as_dense().is_none(),
            GeometryKind::NonLocal => true,
            GeometryKind::MaxPool2 => false,
        });
    }
    // (kernels, Langevin net, learning net) with the other convolution
    // kernels, only if there are convolutions.
    let default_kernels = gpu.conv_kernels();
    let mut others = Vec::new();
    for kernels in [ConvKernels::Direct, ConvKernels::Tiled] {
        if !other_kernels || kernels == default_kernels || !has_conv.contains(&true) {
            continue;
        }
        gpu.set_conv_kernels(kernels);
        let nets = net_on(w.chains, &x).and_then(|o| Ok((o, net_on(2 * w.chains, &learn_x)?)));
        gpu.set_conv_kernels(default_kernels);
        let (net, learn_net) = nets?;
        others.push((kernels, net, learn_net));
    }
    gpu.run("bench forward", |pass| field.record_forward(gpu, pass));
    gpu.wait()?;
    let mut layers = Vec::new();
    for (i, f) in per_layer.iter().enumerate() {
        let (fwd, timing) = time_layer(gpu, field, i, LayerPass::Forward, budget)?;
        let (ig, _) = time_layer(gpu, field, i, LayerPass::InputGrad, budget)?;
        let ms = |net: &GpuNet, what| -> Result<f64> { Ok(1e3 * time_layer(gpu, net, i, what, budget)?.0) };
        let has_params = !learn.layout.layer_convs[i].is_empty();
        let g = &geometry[i];
        let times_with = |kernels: ConvKernels| -> Result<Option<PassTimes>> {
            let Some((_, net, learn_net)) = others.iter().find(|o| o.0 == kernels).filter(|_| has_conv[i])
            else {
                return Ok(None);
            };
            Ok(Some(PassTimes {
                forward_ms: ms(net, LayerPass::Forward)?,
                input_grad_ms: ms(net, LayerPass::InputGrad)?,
                param_grad_ms: has_params
                    .then(|| ms(learn_net, LayerPass::ParamGrad))
                    .transpose()?,
            }))
        };
        let parts = field
            .layer_parts(i)
            .map(|(forward, backward)| -> Result<PartTimes> {
                let input_grad = Backward::INPUT;
                let time = |names: &[&'static str], pass: Option<Backward>| {
                    (0..names.len())
                        .map(|k| {
                            let record =
                                |p: &mut wgpu::ComputePass| field.record_layer_part(gpu, p, i, k, pass);
                            Ok((names[k], 1e3 * time_alone(gpu, budget, record)?.0))
                        })
                        .collect::<Result<Vec<_>>>()
                };
                Ok(PartTimes {
                    forward: time(forward, None)?,
                    input_grad: time(backward, Some(input_grad))?,
                })
            })
            .transpose()?;
        let family = |tiled: bool| if tiled { "tiled" } else { "direct" };
        let kernels = field
            .layer_tiled_passes(i)
            .zip(learn.layer_tiled_passes(i))
            .map(|(s, l)| [family(s.forward), family(s.input_grad), family(l.weight_grad)]);
        layers.push(LayerTiming {
            name: w.spec.layers[i].name.clone(),
            kernels,
            timing,
            forward_ms: 1e3 * fwd,
            input_grad_ms: 1e3 * ig,
            param_grad_ms: has_params.then(|| ms(&learn, LayerPass::ParamGrad)).transpose()?,
            param_grad_gflop: layer_flops(g, 2 * w.chains).param_grad_pass * 1e-9,
            direct: times_with(ConvKernels::Direct)?,
            tiled: times_with(ConvKernels::Tiled)?,
            forward_gflop: f.forward * 1e-9,
            input_grad_gflop: f.input_grad * 1e-9,
            parts,
        });
    }

    // Whole training iterations.
    let config = training_config(w)?;
    let data = if w.spec.name == "toy" {
        Dataset::load(&config.data)?
    } else {
        Dataset::Images(synthetic_images(w.spec.input, 1000))
    };
    let (mut trainer, training_memory) = trainer_with_memory(gpu, config, data)?;
    let iteration_s = time_reps(gpu, budget, 2, || trainer.step().map(|_| ()))?;
    if let (Some(now), Some(m)) = (gpu.allocated_bytes()?, &training_memory)
        && now > m.held
    {
        // Training allocates up front; a step that allocates is a defect.
        eprintln!(
            "warning: {}: training held {} more bytes after the timed iterations than after the first",
            w.name,
            now - m.held
        );
    }

    Ok(WorkloadResult {
        name: w.name.clone(),
        net: w.spec.name.clone(),
        chains: w.chains,
        steps: w.steps,
        check_worst_rel,
        step_gflop: step_flops * 1e-9,
        iteration_gflop: iteration_flops * 1e-9,
        sampler: if layered_s.is_some() { "fused" } else { "layered" },
        fused_kernel,
        langevin_steps_x_chains_per_s: (w.steps * w.chains) as f64 / sample_s,
        langevin_gflop_per_s: w.steps as f64 * step_flops * 1e-9 / sample_s,
        langevin_record_ms_per_step: 1e3 * recording.seconds_per_step,
        langevin_submissions: recording.submissions,
        langevin_dispatches_per_step: recording.dispatches_per_step,
        layered_steps_x_chains_per_s: layered_s.map(|s| (w.steps * w.chains) as f64 / s),
        fused_differs,
        iterations_per_s: 1.0 / iteration_s,
        iteration_gflop_per_s: iteration_flops * 1e-9 / iteration_s,
        training_memory,
        layers,
    })
}

/// CPU seconds to record one of `sampler`'s steps (`steps` of them recorded
/// as training's submissions record them, and finished, not submitted; the
/// least of 3: the machine's other work only adds), the submissions a run
/// of them makes, and the dispatches a step records. A lower bound:
/// submitting them costs the CPU more (wgpu tracks their buffers then).
fn recording_of(gpu: &Gpu, sampler: &Langevin<GpuNet>, steps: usize) -> Recording {
    let once = || {
        let start = Instant::now();
        let mut encoder = gpu.device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            for n in sampler.submissions(steps) {
                sampler.record_steps(gpu, &mut pass, n);
            }
        }
        drop(encoder.finish());
        start.elapsed().as_secs_f64()
    };
    let before = gpu.dispatches_recorded();
    const REPS: usize = 3;
    let seconds = (0..REPS).map(|_| once()).fold(f64::INFINITY, f64::min);
    let per_step = |total: f64| total / steps.max(1) as f64;
    Recording {
        seconds_per_step: per_step(seconds),
        submissions: sampler.submissions(steps).count(),
        dispatches_per_step: per_step((gpu.dispatches_recorded() - before) as f64 / REPS as f64),
    }
}

/// What recording a workload's L Langevin steps costs the CPU, as training
/// submits them ([`recording_of`]).
struct Recording {
    seconds_per_step: f64,
    submissions: usize,
    dispatches_per_step: f64,
}

#[derive(Clone, Copy)]
enum LayerPass {
    Forward,
    InputGrad,
    ParamGrad,
}

/// Seconds of one pass of layer `i` alone on `net`, whose forward pass must
/// have run: GPU time if the adapter has timestamps, else wall time.
fn time_layer(
    gpu: &Gpu,
    net: &GpuNet,
    i: usize,
    what: LayerPass,
    budget: Duration,
) -> Result<(f64, &'static str)> {
    let want = |input, params| Backward { input, params };
    time_alone(gpu, budget, |pass| match what {
        LayerPass::Forward => net.record_layer_forward(gpu, pass, i),
        LayerPass::InputGrad => net.record_layer_backward(gpu, pass, i, want(true, false)),
        LayerPass::ParamGrad => net.record_layer_backward(gpu, pass, i, want(false, true)),
    })
}

/// Seconds of what `record` records, run alone: GPU time if the adapter has
/// timestamps (the median of samples of 8 repetitions over a 32nd of the
/// budget, 3 at least: under load, a single sample moved by half from run
/// to run), else wall time (after a warm-up).
fn time_alone(
    gpu: &Gpu,
    budget: Duration,
    record: impl Fn(&mut wgpu::ComputePass),
) -> Result<(f64, &'static str)> {
    const REPS: usize = 8;
    const MIN_SAMPLES: usize = 3;
    let reps = |pass: &mut wgpu::ComputePass| {
        for _ in 0..REPS {
            record(pass);
        }
    };
    gpu.run("bench layer", reps);
    let start = Instant::now();
    let mut samples = Vec::new();
    while let Some(s) = gpu.time_pass("bench layer", reps)? {
        samples.push(s);
        if samples.len() >= MIN_SAMPLES && start.elapsed() >= budget / 32 {
            samples.sort_by(f64::total_cmp);
            return Ok((samples[samples.len() / 2] / REPS as f64, "gpu timestamps"));
        }
    }
    let s = time_reps(gpu, budget / 8, 1, || {
        gpu.run("bench layer", reps);
        Ok(())
    })?;
    Ok((s / REPS as f64, "wall time"))
}

/// Whether the fused sampler follows the layered kernels (which the
/// reference check covered) over 20 steps from the same chains: None if it
/// does, else what differs. The bench's step (ε²/2T = 1) amplifies rounding
/// over the steps, so a driver that contracts the two kernels' sums
/// differently can fail this without a wrong kernel (`doctor` checks both
/// against the reference): the figures are then still taken, and say so.
pub fn check_fused(
    gpu: &Gpu,
    fused: &Langevin<GpuNet>,
    layered: &Langevin<GpuNet>,
) -> Result<Option<String>> {
    let mut states = Vec::new();
    for s in [fused, layered] {
        s.begin(gpu, 0);
        gpu.run("bench sampler check", |pass| s.record_steps(gpu, pass, 20));
        states.push(gpu.read_f32(s.field.input(), 0, s.field.chains() * s.field.dim())?);
    }
    let want: Vec<f64> = states[1].iter().map(|&v| f64::from(v)).collect();
    let c = compare(&states[0], &want, FUSED_SAMPLER_TOL);
    Ok((!c.passed())
        .then(|| format!("the fused sampler differs from the layered kernels after 20 steps ({c})")))
}

#[cfg(test)]
mod tests {
    use super::faster_than_its_steps;

    /// An iteration runs its L steps and more: one that came out more than
    /// 10 % faster than them is named; one a little faster (noise) or
    /// slower is not. (105.7 against 123.3 ms, and 146.6 against 161.9:
    /// two toy-L100 runs on a loaded machine.)
    #[test]
    fn an_iteration_faster_than_its_own_steps_is_named() {
        assert!(faster_than_its_steps(105.7, 123.3));
        assert!(!faster_than_its_steps(146.6, 161.9));
        assert!(faster_than_its_steps(89.0, 100.0));
        assert!(!faster_than_its_steps(91.0, 100.0));
        assert!(!faster_than_its_steps(120.0, 100.0));
    }
}
