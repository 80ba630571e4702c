//! Landscape mapping (PAPER.md, "What the paper shows", 4): the attraction
//! kernel against the CPU reference, the whole mapping on a double well
//! with known minima and barrier, and the `landscape` command.

mod common;

use std::path::PathBuf;
use std::process::Command;

use ebmscope::compare::compare;
use ebmscope::doctor::SAMPLER_TOL;
use ebmscope::kernels::sampling::Purpose;
use ebmscope::model::{GpuNet, LayerOp, LayerSpec, NetSpec, init_params};
use ebmscope::reference::ReferenceNet;
use ebmscope::reference::landscape::attraction_diffusion;
use ebmscope::reference::philox::draw;
use ebmscope::sampler::{AnalyticField, Attracted, EnergyField, Langevin, StepSize};
use ebmscope::train::landscape::{LandscapeOptions, map_landscape};
use ebmscope::train::longrun::LongRunInit;

/// The attraction kernel and the layered Langevin steps after it follow the
/// reference on states of 100 values (more than the kernel's 64
/// invocations per chain, so each strides and tree-sums), a dense net
/// 100 → 16 → 1, chains pulled toward other chains' starts: states,
/// closest distances and highest energies after 7 steps. SAMPLER_TOL: the
/// f32 steps against f64 ones, as for the plain sampler.
#[test]
fn attraction_diffusion_follows_the_reference() {
    let gpu = common::gpu();
    let spec = NetSpec {
        name: "dense".into(),
        input: [100, 1, 1],
        layers: vec![
            LayerSpec {
                name: "f.0".into(),
                op: LayerOp::Conv2d {
                    kernel: 1,
                    stride: 1,
                    padding: 0,
                },
                c_in: 100,
                c_out: 16,
                leaky_relu: true,
            },
            LayerSpec {
                name: "f.1".into(),
                op: LayerOp::Conv2d {
                    kernel: 1,
                    stride: 1,
                    padding: 0,
                },
                c_in: 16,
                c_out: 1,
                leaky_relu: false,
            },
        ],
        input_note: String::new(),
    };
    let (chains, dim, steps, seed, iteration) = (5, 100, 7, 31, 2);
    let params = init_params(&spec, 5).unwrap();
    let x: Vec<f32> = (0..chains * dim)
        .map(|i| ((i * 7919) % 200) as f32 / 100.0 - 1.0)
        .collect();
    // Chain i is pulled toward chain (i + 2) mod 5's start.
    let goals: Vec<f32> = (0..chains)
        .flat_map(|i| x[((i + 2) % chains) * dim..][..dim].to_vec())
        .collect();
    let size = StepSize {
        epsilon: 0.1,
        temperature: 0.5,
        tau: 1.0,
    };
    let pull = 4.0;
    let net = GpuNet::new(&gpu, &spec, chains).unwrap();
    net.write_params(&gpu, &params).unwrap();
    net.write_input(&gpu, &x).unwrap();
    let field = Attracted::new(&gpu, net.as_field(&gpu).unwrap(), pull as f32).unwrap();
    field.write_goals(&gpu, &goals).unwrap();
    let sampler = Langevin::new(&gpu, field, seed, size).unwrap();
    assert!(!sampler.is_fused(), "the pull runs only with the layered kernels");
    sampler.begin(&gpu, iteration);
    gpu.run("attraction", |pass| {
        sampler.record_steps(&gpu, pass, steps as usize)
    });
    let states = gpu.read_f32(sampler.field.input(), 0, chains * dim).unwrap();
    let track = sampler.field.read_track(&gpu).unwrap();

    let mut want = common::f64s(&x);
    let noise = |e: usize, chain: usize, step: u32| {
        draw(
            seed,
            Purpose::LangevinNoise as u32,
            e as u32,
            chain as u32,
            step,
            iteration,
            true,
        )
    };
    let want_track = attraction_diffusion(
        &ReferenceNet::new(&spec).unwrap(),
        &common::f64s(&params),
        &mut want,
        (&common::f64s(&goals), pull),
        size,
        steps,
        noise,
    );
    let c = compare(&states, &want, SAMPLER_TOL);
    assert!(c.passed(), "states: {c}");
    let closest: Vec<f32> = track.iter().map(|t| t.closest).collect();
    let highest: Vec<f32> = track.iter().map(|t| t.highest).collect();
    let (want_closest, want_highest): (Vec<f64>, Vec<f64>) = want_track.into_iter().unzip();
    let c = compare(&closest, &want_closest, SAMPLER_TOL);
    assert!(c.passed(), "closest: {c}");
    let c = compare(&highest, &want_highest, SAMPLER_TOL);
    assert!(c.passed(), "highest: {c}");
    // The pull mattered: without it the chains end elsewhere.
    let mut free = common::f64s(&x);
    attraction_diffusion(
        &ReferenceNet::new(&spec).unwrap(),
        &common::f64s(&params),
        &mut free,
        (&common::f64s(&goals), 0.0),
        size,
        steps,
        noise,
    );
    assert!(!compare(&states, &free, SAMPLER_TOL).passed());
}

/// F = −log(½N(−2e₁, ¼I) + ½N(2e₁, ¼I)) in 2-D: minima at (±2, 0) with
/// F = log 2, the ridge x₁ = 0 at F ≥ 4.5 (a barrier of 3.8 at T = 1, 7.6
/// at the T × 0.5 attraction–diffusion runs at). Descent from 16 starts
/// finds the two minima. With no pull no chain crosses in 600 steps: 2
/// basins. With α = 10 the pull (α·T·0.5 = 5 in ∇F units, against F's
/// slope of up to 8 toward the ridge) takes the chain across: 1 basin,
/// through a barrier above the ridge's 4.5. Measured over seeds 1–8: α = 3
/// and 5 never crossed, α = 10 always did (closest 0.004–0.013, barriers
/// 7.9–8.7), so neither outcome hangs on one draw.
#[test]
fn double_well_has_two_basins_without_pull_and_one_with_it() {
    let gpu = common::gpu();
    let make_field = |batch: usize| AnalyticField::new(&gpu, batch, 2, 0.5, 2.0, 0.5);
    let starts: Vec<f32> = (0..16)
        .flat_map(|i| [-3.0 + 6.0 * (i as f32 + 0.5) / 16.0, 0.3 * ((i % 3) as f32 - 1.0)])
        .collect();
    let size = StepSize {
        epsilon: 0.2,
        temperature: 1.0,
        tau: 1.0,
    };
    let map = |alpha: f64| {
        let opts = LandscapeOptions {
            starts: 16,
            init: LongRunInit::Data,
            descent_steps: 500,
            ad_steps: 600,
            alpha,
            temp_factor: 0.5,
            radius: 0.05,
            chunk: 64,
        };
        map_landscape(&gpu, make_field, &starts, size, 7, &opts, &mut |_, _, _| {}).unwrap()
    };
    let apart = map(0.0);
    assert_eq!(apart.minima.len(), 2, "{:?}", apart.minima);
    let mut xs: Vec<f32> = apart.minima.iter().map(|m| m.state[0]).collect();
    xs.sort_by(f32::total_cmp);
    for (x, want) in xs.iter().zip([-2.0, 2.0]) {
        assert!((x - want).abs() < 1e-3, "minimum at {x}, not {want}");
    }
    for m in &apart.minima {
        assert!(
            m.state[1].abs() < 1e-3 && (m.energy - 2f64.ln()).abs() < 1e-4,
            "{m:?}"
        );
        assert_eq!(m.starts, 8);
    }
    assert!(apart.last_descent_move < 1e-4, "{}", apart.last_descent_move);
    assert_eq!(apart.attempts.len(), 1);
    assert!(!apart.attempts[0].reached, "{:?}", apart.attempts);
    assert_eq!(apart.basins, 2);
    assert_eq!((apart.minima[0].basin, apart.minima[1].basin), (0, 1));

    let joined = map(10.0);
    assert_eq!(joined.minima.len(), 2);
    let a = joined.attempts[0];
    assert!(a.reached && a.closest < 0.05, "{a:?}");
    assert!(a.barrier > 4.5, "the chain crossed the ridge: {a:?}");
    assert_eq!(joined.basins, 1);
}

fn ebmscope(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ebmscope"))
        .args(args)
        .output()
        .unwrap()
}

fn temp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ebmscope-landscape-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// `landscape` on a toy checkpoint writes the minima, the attempts and the
/// map; a second run needs --force; bad options are refused by name before
/// anything already written is touched; a bank start needs enough states.
#[test]
fn landscape_command_maps_a_toy_checkpoint() {
    let dir = temp("toy");
    let out = ebmscope(&[
        "train",
        "--preset",
        "rings-convergent",
        "--iters",
        "2",
        "--out",
        dir.to_str().unwrap(),
        "--set",
        "batch.data=8",
        "--set",
        "batch.chains=6",
        "--set",
        "langevin.steps=4",
        "--set",
        "langevin.bank_size=30",
        "--set",
        "eval.grid=24",
        "--set",
        "eval.kde_samples=30",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let ck = dir.join("checkpoint.safetensors");
    let landscape = |extra: &[&str]| {
        let mut args = vec![
            "landscape",
            "--checkpoint",
            ck.to_str().unwrap(),
            "--descent-steps",
            "60",
            "--ad-steps",
            "20",
            "--chunk",
            "4",
        ];
        args.extend_from_slice(extra);
        if !extra.contains(&"--starts") {
            args.extend(["--starts", "12"]);
        }
        ebmscope(&args)
    };
    let out = landscape(&[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let folder = dir.join("landscape");
    let minima = std::fs::read_to_string(folder.join("minima.csv")).unwrap();
    let lines: Vec<&str> = minima.lines().collect();
    assert_eq!(lines[0], "minimum,basin,energy,starts,x0,x1");
    let m = lines.len() - 1;
    assert!(m >= 1, "{minima}");
    let starts: usize = lines[1..]
        .iter()
        .map(|l| l.split(',').nth(3).unwrap().parse::<usize>().unwrap())
        .sum();
    assert_eq!(starts, 12, "every start ends at one minimum");
    let attempts = std::fs::read_to_string(folder.join("attempts.csv")).unwrap();
    assert_eq!(attempts.lines().count() - 1, m * (m - 1) / 2, "{attempts}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&format!("{m} minima in ")), "{stdout}");
    let picture = image::open(folder.join("landscape.png")).unwrap();
    assert_eq!((picture.width(), picture.height()), (600, 640));

    common::assert_refused(&landscape(&[]), "--force");
    let kept = std::fs::read(folder.join("minima.csv")).unwrap();
    for (bad, named) in [
        (&["--force", "--starts", "1"][..], "--starts must be at least 2"),
        (&["--force", "--alpha", "-1"][..], "--alpha"),
        (&["--force", "--radius", "0"][..], "--radius"),
        (
            &["--force", "--init", "bank", "--starts", "31"][..],
            "fewer than --starts 31",
        ),
        (&["--force", "--init", "sideways"][..], "sideways"),
    ] {
        common::assert_refused(&landscape(bad), named);
        assert_eq!(std::fs::read(folder.join("minima.csv")).unwrap(), kept, "{bad:?}");
    }
    let out = landscape(&["--force", "--init", "bank", "--alpha", "100"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let _ = std::fs::remove_dir_all(&dir);
}
