//! The benchmark command runs its workloads (checked against the reference
//! before timing) and writes the JSON the comparison script reads. Timings
//! are printed, never asserted: machines here are shared and noisy.
#![allow(clippy::disallowed_methods)] // tests may rename and remove with std's calls (clippy.toml)

mod common;

use std::process::Command;
use std::sync::Arc;

use ebmscope::bench::{layer_flops, trainer_with_memory, workloads};
use ebmscope::config::Config;
use ebmscope::data::Dataset;
use ebmscope::data::images::ImageSet;
use ebmscope::kernels::conv2d::TiledPasses;
use ebmscope::model::{ConvGeometry, NetSpec, init_params};

/// `bench --only`'s help names the workloads by hand: it must name each.
#[test]
fn bench_help_names_every_workload() {
    let help = common::ebmscope(&["bench", "--help"]);
    let help = String::from_utf8_lossy(&help.stdout);
    for small in [false, true] {
        for w in workloads(small).unwrap() {
            assert!(
                help.contains(&w.name),
                "bench --help does not name {}:\n{help}",
                w.name
            );
        }
    }
}

#[test]
fn flop_counts_follow_the_layer_shapes() {
    // 3×3 convolution, 2 → 4 channels on 5×5, padding 1: 4·25 outputs of 18 multiply-adds.
    let g = ConvGeometry::conv(2, [5, 5], 4, 3, 1, 1, true).unwrap();
    let f = layer_flops(&g, 3);
    assert_eq!(f.forward, 2.0 * 3.0 * 100.0 * 18.0);
    assert_eq!((f.input_grad, f.param_grad), (f.forward, f.forward));
    assert_eq!(f.param_grad_pass, f.param_grad);
    let pool = ConvGeometry::max_pool2(4, [6, 6]).unwrap();
    assert_eq!(layer_flops(&pool, 3).forward, 0.0);
    // A non-local block on 8 channels of 4×4: θφg 12 channels, W back to 8,
    // attention 16 queries × 4 keys × 4 channels.
    let nl = ConvGeometry::non_local(8, [4, 4]).unwrap();
    let f = layer_flops(&nl, 1);
    let convs = 2.0 * (16.0 * 12.0 * 8.0 + 16.0 * 8.0 * 4.0);
    let attention = 2.0 * 16.0 * 4.0 * 4.0;
    assert_eq!(f.forward, convs + 2.0 * attention);
    assert_eq!((f.input_grad, f.param_grad), (convs + 4.0 * attention, convs));
    // Its ∂/∂θ pass also runs W's ∂/∂x and the attention's backward first.
    assert_eq!(
        f.param_grad_pass,
        convs + 2.0 * 16.0 * 8.0 * 4.0 + 4.0 * attention
    );
    // VanillaNet(3, 32) forward on one image: the first layer alone is 32·32·32·27 multiply-adds.
    let v = NetSpec::vanilla(3, 32).unwrap();
    let first = layer_flops(&v.geometry().unwrap()[0], 1);
    assert_eq!(first.forward, 2.0 * 32.0 * 32.0 * 32.0 * 27.0);
}

#[test]
fn workloads_cover_every_network() {
    for small in [false, true] {
        let names: Vec<String> = workloads(small)
            .unwrap()
            .iter()
            .map(|w| w.spec.name.clone())
            .collect();
        for net in ["toy", "vanilla", "nonlocal"] {
            assert!(names.iter().any(|n| n == net), "{net} missing (small: {small})");
        }
    }
}

/// Run `ebmscope bench ARGS --json FILE` (it must succeed): what it
/// printed, and the JSON report.
fn bench(args: &[&str]) -> (String, serde_json::Value) {
    let dir = common::scratch_dir("bench");
    let json = dir.join("bench.json");
    let out = Command::new(env!("CARGO_BIN_EXE_ebmscope"))
        .arg("bench")
        .args(args)
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    (String::from_utf8_lossy(&out.stdout).into_owned(), report)
}

#[test]
fn bench_writes_checked_figures_as_json() {
    let (stdout, report) = bench(&["--small", "--only", "toy", "--seconds", "0.2"]);
    assert!(
        stdout.contains("steps×chains/s") && stdout.contains("reference check"),
        "{stdout}"
    );
    assert_eq!(report["tool"], "ebmscope");
    // What tells this report from another: version, command, time, budget, sizes.
    assert_eq!(report["version"], env!("CARGO_PKG_VERSION"));
    assert!(
        report["command"]
            .as_str()
            .unwrap()
            .contains("bench --small --only toy --seconds 0.2")
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        now.abs_diff(report["unix_time"].as_u64().unwrap()) < 3600,
        "{}",
        report["unix_time"]
    );
    assert_eq!(
        (report["seconds"].as_f64(), report["small"].as_bool()),
        (Some(0.2), Some(true))
    );
    let w = &report["workloads"][0];
    // The layers' sum is printed beside the whole step's time: that of
    // the layers' own figures (to its 3 printed decimals).
    let printed: f64 = stdout
        .split("the layers' fwd + ∇x sum to ")
        .nth(1)
        .and_then(|rest| rest.split(" ms").next())
        .unwrap_or_else(|| panic!("no layers' sum: {stdout}"))
        .parse()
        .unwrap();
    let sum: f64 = w["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["forward_ms"].as_f64().unwrap() + l["input_grad_ms"].as_f64().unwrap())
        .sum();
    assert!((printed - sum).abs() <= 5e-4, "printed {printed}, layers {sum}");
    assert_eq!(w["name"], "toy-small");
    for key in [
        "langevin_steps_x_chains_per_s",
        "iterations_per_s",
        "langevin_gflop_per_s",
        "step_gflop",
        "langevin_record_ms_per_step",
        "langevin_dispatches_per_step",
    ] {
        let v = w[key].as_f64().unwrap_or(f64::NAN);
        assert!(v.is_finite() && v > 0.0, "{key} = {v}");
    }
    assert!(w["check_worst_rel"].as_f64().unwrap() < 5e-5);
    // Toy points are drawn on the CPU; Adam holds parameters, gradients and
    // two moments on the GPU, so at least 4 values per parameter.
    let memory = &w["training_memory"];
    assert_eq!(memory["data_set_bytes"], 0, "{memory}");
    let params = init_params(&NetSpec::toy(), 0).unwrap().len() as u64;
    assert!(memory["bytes"].as_u64().unwrap() >= 16 * params, "{memory}");
    assert!(stdout.contains("training memory:"), "{stdout}");
    let layers = w["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 5);
    for l in layers {
        assert!(l["forward_ms"].as_f64().unwrap() > 0.0, "{l}");
        assert!(
            ["gpu timestamps", "wall time"].contains(&l["timing"].as_str().unwrap()),
            "{l}"
        );
    }
    let out = Command::new(env!("CARGO_BIN_EXE_ebmscope"))
        .args(["bench", "--only", "nothing-like-this"])
        .output()
        .unwrap();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("toy-L100"));
    // A workload of the other size is named as such.
    for (args, says) in [
        (
            &["bench", "--small", "--only", "toy-L100"][..],
            "--only toy-L100 matches no workload (`toy-L100` is a full-size workload: leave out --small)",
        ),
        (
            &["bench", "--only", "8-small"],
            "--only 8-small matches no workload (`vanilla-8-small` is a small workload: add --small)",
        ),
    ] {
        common::assert_refused(&common::ebmscope(args), says);
    }
}

/// The small workload of net `only`, briefly timed, with `extra` arguments.
fn small<'a>(only: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["--small", "--only", only, "--seconds", "0.1"];
    args.extend_from_slice(extra);
    args
}

/// The net of the small workload of net `name`.
fn small_spec(name: &str) -> NetSpec {
    let small = workloads(true).unwrap().into_iter().find(|w| w.spec.name == name);
    small.unwrap().spec
}

/// The small VanillaNet workload, briefly timed, with `extra` arguments.
fn vanilla_small<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    small("vanilla", extra)
}

/// With kernels chosen by shape (hardware GPUs' default), each convolution
/// is also timed with the direct and with the tiled kernels in every pass,
/// so that one run on a GPU shows which family each pass should run.
#[test]
fn bench_times_both_kernel_families_beside_by_shape() {
    let (stdout, report) = bench(&vanilla_small(&["--conv-kernels", "by-shape"]));
    assert!(
        stdout.contains("direct ∇x") && stdout.contains("tiled ∇x"),
        "{stdout}"
    );
    assert_eq!(report["conv_kernels"], "tiled or direct by shape");
    let layers = report["workloads"][0]["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 5);
    let spec = small_spec("vanilla");
    // 1000 images as bytes; the learning batch (data and samples, 2 × 16
    // images) alone holds its input and every layer's output as f32.
    let memory = &report["workloads"][0]["training_memory"];
    assert_eq!(memory["data_set_bytes"], 1000 * 3 * 32 * 32, "{memory}");
    let per_image: usize = spec.input.iter().product::<usize>()
        + spec
            .geometry()
            .unwrap()
            .iter()
            .map(|g| g.out_len())
            .sum::<usize>();
    assert!(
        memory["bytes"].as_u64().unwrap() >= (2 * 16 * per_image * 4) as u64,
        "{memory}"
    );
    for (l, g) in layers.iter().zip(spec.geometry().unwrap()) {
        if g.as_dense().is_some() {
            // The last layer runs the dense kernels, in every choice.
            assert!(l["kernels"].is_null() && l["direct"].is_null(), "{l}");
            continue;
        }
        let rule = TiledPasses::by_shape(&g);
        let name = |tiled| if tiled { "tiled" } else { "direct" };
        let want = [name(rule.forward), name(rule.input_grad), name(rule.weight_grad)];
        assert_eq!(l["kernels"], serde_json::json!(want), "{l}");
        for family in ["direct", "tiled"] {
            for pass in ["forward_ms", "input_grad_ms", "param_grad_ms"] {
                let ms = l[family][pass].as_f64().unwrap_or(f64::NAN);
                assert!(ms > 0.0, "{family} {pass}: {l}");
            }
        }
    }
}

/// Measured kernels (a global flag, here after the subcommand): the report
/// names them, and says per convolution which family each pass chose.
#[test]
fn bench_reports_the_kernels_measured_per_layer() {
    let (stdout, report) = bench(&vanilla_small(&["--conv-kernels", "measured"]));
    assert!(stdout.contains("by measured speed"), "{stdout}");
    assert_eq!(report["conv_kernels"], "tiled or direct by measured speed");
    let layers = report["workloads"][0]["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 5);
    // The last layer runs the dense kernels (a window over its whole image).
    assert!(layers[4]["kernels"].is_null(), "{}", layers[4]);
    for l in &layers[..4] {
        let kernels = l["kernels"].as_array().unwrap();
        assert_eq!(kernels.len(), 3, "{l}");
        assert!(kernels.iter().all(|k| k == "direct" || k == "tiled"), "{l}");
    }
}

/// `--default-kernels-only` builds and times the chosen kernels alone: the
/// rerun a GPU script makes when the other family fails its check there.
#[test]
fn bench_times_the_chosen_kernels_alone_when_asked() {
    let (stdout, report) = bench(&vanilla_small(&[
        "--conv-kernels",
        "direct",
        "--default-kernels-only",
    ]));
    assert!(!stdout.contains("tiled ∇x"), "{stdout}");
    assert_eq!(report["conv_kernels"], "direct");
    let layers = report["workloads"][0]["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 5);
    for l in layers {
        assert!(l["forward_ms"].as_f64().unwrap() > 0.0, "{l}");
        assert!(l["direct"].is_null() && l["tiled"].is_null(), "{l}");
    }
}

/// The fused sampler's agreement with the layered kernels is measured, not
/// assumed: chains that differ (here: other noise) are reported.
#[test]
fn fused_sampler_disagreement_is_reported() {
    use ebmscope::bench::check_fused;
    use ebmscope::model::{GpuNet, init_params};
    use ebmscope::sampler::{Langevin, SamplerKernels, StepSize};
    let gpu = common::gpu();
    let spec = NetSpec::toy();
    let size = StepSize {
        epsilon: 0.1,
        temperature: 1.0,
        tau: 1.0,
    };
    let sampler = |kernels, seed| {
        let net = GpuNet::new(&gpu, &spec, 8).unwrap();
        net.write_params(&gpu, &init_params(&spec, 5).unwrap()).unwrap();
        net.write_input(&gpu, &[0.5; 16]).unwrap();
        Langevin::with_kernels(&gpu, net.as_field(&gpu).unwrap(), seed, size, kernels).unwrap()
    };
    let fused = sampler(SamplerKernels::Auto, 5);
    assert_eq!(
        check_fused(&gpu, &fused, &sampler(SamplerKernels::Layered, 5)).unwrap(),
        None
    );
    let other_noise = check_fused(&gpu, &fused, &sampler(SamplerKernels::Layered, 6)).unwrap();
    assert!(other_noise.is_some_and(|w| w.contains("differs")));
}

/// `bench --pipeline-stats`: every kernel a workload compiled (both
/// convolution families of VanillaNet, the toy's fused sampler) compiles
/// again as SPIR-V, with wgpu's options for the device, on a device of the
/// adapter with the features they rely on, its descriptor layouts from
/// its bindings; a driver that reports statistics gives some for each,
/// and one that does not (lavapipe) is refused by name. (On other
/// backends than Vulkan there is nothing to compile: refused.)
#[test]
fn kernels_compile_again_for_their_statistics() {
    use ebmscope::gpu::pipeline_stats::check_compiles;
    let gpu = Arc::new(common::gpu());
    if gpu.info.backend != wgpu::Backend::Vulkan {
        let err = gpu.pipeline_statistics().unwrap_err().to_string();
        assert!(err.contains("pipeline statistics are Vulkan's"), "{err}");
        return;
    }
    for w in workloads(true)
        .unwrap()
        .iter()
        .filter(|w| w.name.starts_with("vanilla") || w.name.starts_with("toy"))
    {
        ebmscope::bench::run_workload(&gpu, w, std::time::Duration::from_millis(1), true).unwrap();
    }
    let compiled = gpu.compiled_pipelines();
    let names = |part: &str| compiled.iter().filter(|p| p.key.contains(part)).count();
    assert!(
        names("conv2d_forward_tiled") > 0
            && names("conv2d_forward_uniform") + names("conv2d_forward_storage") > 0
            && names("mlp_langevin") > 0,
        "{:?}",
        compiled.iter().map(|p| &p.key).collect::<Vec<_>>()
    );
    assert_eq!(check_compiles(&gpu.info, &compiled).unwrap(), compiled.len());
    match gpu.pipeline_statistics() {
        Ok(stats) => {
            assert_eq!(stats.len(), compiled.len());
            for s in &stats {
                assert!(s.executables.iter().any(|(_, named)| !named.is_empty()), "{s:?}");
            }
        }
        Err(e) => assert!(
            e.to_string()
                .contains("lacks VK_KHR_pipeline_executable_properties"),
            "{e}"
        ),
    }
}

/// The training memory leaves the data set out, and only it: trainers on 40
/// and on 80 images hold the same besides it, and it is counted apart at a
/// byte per value.
#[test]
fn training_memory_leaves_the_data_set_aside() {
    let gpu = Arc::new(common::gpu());
    let sets: Vec<String> = ["net.n_f=4", "batch.data=4", "batch.chains=4", "langevin.steps=2"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let config = Config::resolve(Some("fashion-mnist-quick"), None, &sets).unwrap();
    let memory = |n: usize| {
        let values: Vec<f32> = (0..n * 1024).map(|i| (i % 7) as f32 / 3.0 - 1.0).collect();
        let set = ImageSet::from_values(n, 1, 32, &values);
        let (_, memory) = trainer_with_memory(&gpu, config.clone(), Dataset::Images(set)).unwrap();
        memory.expect("Vulkan's allocator counts")
    };
    let (few, more) = (memory(40), memory(80));
    assert_eq!((few.data_set_bytes, more.data_set_bytes), (40 * 1024, 80 * 1024));
    assert_eq!(few.bytes, more.bytes, "{few:?} {more:?}");
    assert!(few.bytes > 0);
}

/// A non-local block's forward pass and ∂/∂x are also timed part by part
/// (the attention's products, its softmax, the convolutions), in the order
/// the block records them; other layers have no parts.
#[test]
fn bench_splits_a_non_local_block_into_its_parts() {
    use ebmscope::kernels::nonlocal::NonLocalLayer;
    use ebmscope::model::GeometryKind;
    let (stdout, report) = bench(&small("nonlocal", &["--default-kernels-only"]));
    let spec = small_spec("nonlocal");
    let layers = report["workloads"][0]["layers"].as_array().unwrap();
    let geometry = spec.geometry().unwrap();
    assert_eq!(layers.len(), geometry.len());
    let mut blocks = 0;
    for (l, g) in layers.iter().zip(&geometry) {
        if g.kind != GeometryKind::NonLocal {
            assert!(l["parts"].is_null(), "{l}");
            continue;
        }
        blocks += 1;
        for (pass, names) in [
            ("forward", &NonLocalLayer::FORWARD_PARTS[..]),
            ("input_grad", &NonLocalLayer::BACKWARD_PARTS[..]),
        ] {
            let parts = l["parts"][pass].as_array().unwrap();
            let got: Vec<&str> = parts.iter().map(|p| p[0].as_str().unwrap()).collect();
            assert_eq!(got, names, "{l}");
            assert!(parts.iter().all(|p| p[1].as_f64().unwrap() > 0.0), "{l}");
        }
        let name = l["name"].as_str().unwrap();
        for line in ["fwd θφg conv ", "∇x ∂W conv "] {
            assert!(
                stdout.contains(&format!("{name} by part, ms: {line}")),
                "{stdout}"
            );
        }
    }
    assert_eq!(blocks, 2, "NonlocalNet has two non-local blocks");
}

/// A timing budget that is no number of seconds a run could take is
/// refused by name, before anything is timed (1e20 s panicked), and so is a
/// --json that cannot be written.
#[test]
fn bench_refuses_a_budget_out_of_range() {
    for seconds in ["0", "1e20", "inf", "NaN"] {
        let out = common::ebmscope(&["bench", "--small", "--only", "toy", "--seconds", seconds]);
        common::assert_refused(
            &out,
            "--seconds must be a positive number of seconds, at most 86400",
        );
    }
    // And one in a folder it cannot write in (/proc: not even root can),
    // found before the timing, not after it.
    #[cfg(target_os = "linux")]
    {
        let out = common::ebmscope(&["bench", "--small", "--json", "/proc/bench.json"]);
        common::assert_refused(&out, "--json /proc/bench.json: cannot write there");
        assert!(!String::from_utf8_lossy(&out.stdout).contains("GFLOP"));
    }
    // So is a --json that names a folder (it was found only after the timing).
    let folder = std::env::temp_dir();
    let out = common::ebmscope(&["bench", "--small", "--json", folder.to_str().unwrap()]);
    common::assert_refused(&out, "is a folder; name a file in it");
    // And one over a file that is no benchmark report (a script, say), which is kept.
    let script = folder.join(format!("ebmscope-bench-script-{}.py", std::process::id()));
    std::fs::write(&script, "print('hello')\n").unwrap();
    let out = common::ebmscope(&["bench", "--small", "--json", script.to_str().unwrap()]);
    let kept = std::fs::read_to_string(&script).unwrap();
    let _ = std::fs::remove_file(&script);
    common::assert_refused(&out, "exists and is no earlier benchmark report");
    assert_eq!(kept, "print('hello')\n");
}
