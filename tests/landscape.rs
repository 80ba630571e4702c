//! Landscape mapping (PAPER.md, "What the paper shows", 4): the attraction
//! kernel against the CPU reference, the whole mapping on a double well
//! with known minima and barrier, and the `landscape` command.
#![allow(clippy::disallowed_methods)] // tests may rename and remove with std's calls (clippy.toml)

mod common;

use common::ebmscope;
use std::path::PathBuf;

use ebmscope::compare::compare;
use ebmscope::doctor::{AttractionCase, SAMPLER_TOL, attraction_rows};
use ebmscope::model::{GpuNet, LayerOp, LayerSpec, NetSpec, init_params};
use ebmscope::reference::ReferenceNet;
use ebmscope::reference::landscape::{Pull, attraction_diffusion};
use ebmscope::sampler::{AnalyticField, EnergyField, StepSize};
use ebmscope::train::landscape::{LandscapeOptions, map_landscape};
use ebmscope::train::longrun::{ChainStart, LongRunInit};

/// A dense net 100 → 16 → 1 (1×1 convolutions on a 100-channel pixel).
fn dense_spec() -> NetSpec {
    let op = LayerOp::conv(1, 1, 0);
    let conv1x1 =
        |c_in, c_out, leaky_relu| LayerSpec::new(&format!("f.{c_out}"), op, c_in, c_out, leaky_relu);
    NetSpec {
        name: "dense".into(),
        input: [100, 1, 1],
        layers: vec![conv1x1(100, 16, true), conv1x1(16, 1, false)],
        input_note: String::new(),
    }
}

/// Attraction–diffusion follows the reference (the doctor's check), fused
/// and layered, on states of 100 values — more than the attraction
/// kernel's 64 invocations per chain, so each strides and tree-sums, and
/// the fused sampler's invocation 0 sums 100 squares per chain — with a
/// dense net 100 → 16 → 1. The comparison sees the pull: over the same 5
/// steps it moves the reference's states far beyond the tolerance.
#[test]
fn attraction_diffusion_follows_the_reference() {
    let gpu = common::gpu();
    let spec = dense_spec();
    let rows = attraction_rows(&gpu, &spec, 5).unwrap();
    assert_eq!(rows.len(), 6);
    assert!(rows[0].case.ends_with("fused sampler") && rows[3].case.ends_with("layered kernels"));
    for row in &rows {
        assert!(
            row.comparison.passed(),
            "{} {}: {}",
            row.case,
            row.quantity,
            row.comparison
        );
    }

    let params = common::f64s(&init_params(&spec, 5).unwrap());
    let x: Vec<f64> = (0..500)
        .map(|i| ((i * 7919) % 200) as f64 / 100.0 - 1.0)
        .collect();
    let goals: Vec<f64> = x.iter().rev().copied().collect();
    let size = StepSize {
        epsilon: 0.1,
        temperature: 1.0,
        tau: 1.0,
    };
    let run = |pull: f64| {
        let mut states = x.clone();
        let p = Pull {
            goals: &goals,
            pull,
            reach: 0.0,
        };
        let net = ReferenceNet::new(&spec).unwrap();
        attraction_diffusion(&net, &params, &mut states, &p, size, 5, |_, _, _| 0.0);
        states.iter().map(|&v| v as f32).collect::<Vec<f32>>()
    };
    let free = run(0.0);
    let c = compare(&free, &common::f64s(&run(3.0)), SAMPLER_TOL);
    assert!(!c.passed(), "the pull is within the tolerance: {c}");
}

/// A sampler on an attracted field whose step is changed by
/// `set_step_size` steps as one made with that step: the pull's smoothing
/// distance a·pull (a = ε²/2T, written into the attraction state) follows
/// the step. Chain 0 starts within that distance of its goal, where the
/// pull is capped, so a stale a would move it otherwise; a sampler left at
/// the other step shows that the comparison sees the step at all.
#[test]
fn an_attracted_samplers_new_step_size_reaches_the_pull() {
    use ebmscope::sampler::{Attracted, Langevin, SamplerKernels};
    let gpu = common::gpu();
    let spec = dense_spec();
    let (chains, dim, steps, seed) = (5, 100, 5, 19);
    // Chain 0 is 0.01 from its goal: capped at a·pull = 0.015 for the
    // doctor's step, 0.135 for the other.
    let AttractionCase {
        params,
        x,
        goals,
        size,
        pull,
        reach,
    } = AttractionCase::new(&spec, chains).unwrap();
    let other = StepSize { epsilon: 0.3, ..size };
    for kernels in [SamplerKernels::Auto, SamplerKernels::Layered] {
        let run = |built: StepSize, set: Option<StepSize>| {
            let net = GpuNet::new(&gpu, &spec, chains).unwrap();
            net.write_params(&gpu, &params).unwrap();
            net.write_input(&gpu, &x).unwrap();
            let field = Attracted::new(&gpu, net.as_field(&gpu).unwrap(), pull, reach).unwrap();
            field.write_goals(&gpu, &goals).unwrap();
            let mut sampler = Langevin::with_kernels(&gpu, field, seed, built, kernels).unwrap();
            if let Some(size) = set {
                sampler.set_step_size(&gpu, size);
            }
            sampler.begin(&gpu, 4);
            gpu.run("retuned attraction", |pass| {
                sampler.record_steps(&gpu, pass, steps)
            });
            gpu.read_f32(sampler.field.input(), 0, chains * dim).unwrap()
        };
        let made = run(size, None);
        let changed = run(other, Some(size));
        let chain0 = |v: &[f32]| v[..dim].to_vec();
        assert_eq!(
            chain0(&changed),
            chain0(&made),
            "{kernels:?}: chain 0 under the pull's cap"
        );
        assert_eq!(changed, made, "{kernels:?}");
        assert_ne!(chain0(&run(other, None)), chain0(&made), "{kernels:?}");
    }
}

/// F = −log(½N(−2e₁, ¼I) + ½N(2e₁, ¼I)) in 2-D at T = 2, so that
/// energies U = F/T are not F: minima at (±2, 0) with U = (log 2)/2, the
/// ridge x₁ = 0 at U ≥ 4. Descent from 16 starts finds the two minima.
/// Attraction–diffusion samples exp(−U/f) at f = 0.25, where the barrier
/// is 3.65 / 0.25 = 14.6. With no pull, and with α = 3, no chain crosses in
/// 600 steps: 2 basins. With α = 10 it does: 1 basin, through a barrier
/// past the ridge. (The pull is α·T·f in ∇F units; with α·T alone, α = 3
/// would pull harder than α = 10 does, and cross.) Measured over seeds
/// 1–16: α = 0 and 3 never crossed, α = 10 always did (closest
/// 0.004–0.015); α = 5 crossed for 1 seed in 8, so it is not asserted.
/// α = 1000 joins them too: one step's pull, a·α·T·f = 10, is longer than
/// the 4 between the minima, so the chain lands on its goal, where the
/// plain norm's pull would carry it 6 past, then back and forth between 4
/// and 6 from the goal, never within reach.
#[test]
fn double_well_has_two_basins_without_pull_and_one_with_it() {
    let gpu = common::gpu();
    let make_field = |batch: usize| AnalyticField::new(&gpu, batch, 2, 0.5, 2.0, 0.5);
    let starts: Vec<f32> = (0..16)
        .flat_map(|i| [-3.0 + 6.0 * (i as f32 + 0.5) / 16.0, 0.3 * ((i % 3) as f32 - 1.0)])
        .collect();
    // a = ε²/2T = 0.02 for descent and attraction–diffusion alike.
    let size = StepSize {
        epsilon: 0.2 * 2f32.sqrt(),
        temperature: 2.0,
        tau: 1.0,
    };
    let opts = LandscapeOptions {
        starts: 16,
        from: ChainStart::Fresh(LongRunInit::Data),
        descent_steps: 500,
        ad_steps: 600,
        alphas: vec![0.0, 3.0, 10.0, 1000.0],
        temp_factor: 0.25,
        radius: 0.05,
        chunk: 64,
    };
    let map = map_landscape(&gpu, make_field, &starts, size, 7, &opts, &mut |_, _, _| Ok(())).unwrap();
    assert_eq!(map.minima.len(), 2, "{:?}", map.minima);
    let mut xs: Vec<f32> = map.minima.iter().map(|m| m.state[0]).collect();
    xs.sort_by(f32::total_cmp);
    for (x, want) in xs.iter().zip([-2.0, 2.0]) {
        assert!((x - want).abs() < 1e-3, "minimum at {x}, not {want}");
    }
    for m in &map.minima {
        assert!(
            m.state[1].abs() < 1e-3 && (m.energy - 2f64.ln() / 2.0).abs() < 1e-4,
            "{m:?}"
        );
        assert_eq!(m.starts, 8);
    }
    // Settled: over the second half (the last 250 steps) nothing moved.
    assert_eq!(map.late_descent_steps, 250);
    assert!(map.late_descent_move < 1e-4, "{}", map.late_descent_move);
    assert!(map.late_energy_fall < 1e-4, "{}", map.late_energy_fall);
    let alphas: Vec<f64> = map.basins.iter().map(|b| b.alpha).collect();
    assert_eq!(alphas, [0.0, 3.0, 10.0, 1000.0]);
    for apart in &map.basins[..2] {
        assert_eq!(apart.attempts.len(), 1);
        assert!(!apart.attempts[0].reached, "{apart:?}");
        assert_eq!((apart.count(), &apart.of[..]), (2, &[0, 1][..]));
    }
    let joined = &map.basins[2];
    let a = joined.attempts[0];
    assert!(a.reached && a.closest < 0.05, "{a:?}");
    assert!(
        a.barrier > 3.5 && a.barrier < 5.0,
        "the chain crossed the ridge: {a:?}"
    );
    assert_eq!((joined.count(), &joined.of[..]), (1, &[0, 0][..]));
    let landed = &map.basins[3];
    assert!(landed.attempts[0].reached, "{landed:?}");
    assert_eq!((landed.count(), &landed.of[..]), (1, &[0, 0][..]));
    assert!(
        map.warnings(opts.radius).is_empty(),
        "{:?}",
        map.warnings(opts.radius)
    );
    // 20 steps leave the starts far from the minima, still moving: said,
    // though the step has fallen to nothing by the last.
    let short = LandscapeOptions {
        descent_steps: 20,
        alphas: vec![0.0],
        ad_steps: 1,
        ..opts
    };
    let map = map_landscape(&gpu, make_field, &starts, size, 7, &short, &mut |_, _, _| Ok(())).unwrap();
    assert!(!map.descent_settled(short.radius));
    let warnings = map.warnings(short.radius);
    assert!(
        warnings[0]
            .starts_with("descent had not settled: over its last 10 steps the states still moved up to"),
        "{warnings:?}"
    );
}

/// An energy that falls without bound (F = x₁ − 2x₂) has no minima:
/// descent runs away from starts within 0.5 (about 100 out) and stops
/// where its steps run out, still moving. The map says both.
#[test]
fn minima_far_outside_the_starts_are_called_out() {
    let gpu = common::gpu();
    let spec = NetSpec::single_layer("linear", [2, 1, 1], LayerOp::Linear, 1, false);
    let make_field = |batch: usize| {
        let net = GpuNet::new(&gpu, &spec, batch)?;
        net.write_params(&gpu, &[1.0, -2.0, 0.0])?;
        net.as_field(&gpu)
    };
    let starts = [0.5, 0.0, -0.5, 0.25, 0.0, -0.5, 0.1, 0.1];
    // a = ε²/2T = 0.1.
    let size = StepSize {
        epsilon: 0.2 * 5f32.sqrt(),
        temperature: 1.0,
        tau: 1.0,
    };
    let opts = LandscapeOptions {
        starts: 4,
        descent_steps: 1000,
        ad_steps: 10,
        ..LandscapeOptions::default()
    };
    let map = map_landscape(&gpu, make_field, &starts, size, 7, &opts, &mut |_, _, _| Ok(())).unwrap();
    assert_eq!(map.start_extent, 0.5);
    assert!(map.minima_extent() > 40.0 && map.ran_away(), "{:?}", map.minima);
    // Over the second half, slices of 50 steps at a·(500 … 50)/1000, so
    // 137.5·a in all: −∇F·13.75, RMS √((13.75² + 27.5²)/2) = 21.7407, and
    // F (= U, at T = 1) down by 13.75·|∇F|² = 68.75.
    assert_eq!(map.late_descent_steps, 500);
    assert!(
        (map.late_descent_move - 21.7407).abs() < 1e-3,
        "{}",
        map.late_descent_move
    );
    assert!(
        (map.late_energy_fall - 68.75).abs() < 1e-2,
        "{}",
        map.late_energy_fall
    );
    let warnings = map.warnings(opts.radius);
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings[0].starts_with(
            "descent had not settled: over its last 500 steps the states still moved up to 2.2e1 per element \
             (root mean square; minima are grouped within 0.05) and their energy U fell by up to 68.75"
        ),
        "{warnings:?}"
    );
    assert!(
        warnings[1].starts_with("the minima lie far outside the starts"),
        "{warnings:?}"
    );
}

fn temp(name: &str) -> PathBuf {
    common::fresh_dir(&format!("landscape-{name}"))
}

/// `landscape` on a toy checkpoint writes the minima, the attempts and the
/// map; a second run needs --force; bad options are refused by name before
/// anything already written is touched; a bank start needs enough states.
#[test]
fn landscape_command_maps_a_toy_checkpoint() {
    let dir = temp("toy");
    let out = common::train_small_toy(&dir, 2, &[]);
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
    // An α whose pull would carry a chain hundreds of units past its goal
    // in one step (a·α·T·f = 781 at this checkpoint's ε = 0.125) lands every
    // chain on its goal instead, where only the noise (ε per element, more
    // than the radius) keeps it from reaching at every step: each comes
    // within 2 × the radius, and nearly all reach (54 of 55 here). Such an
    // α, whose steps skip the energy between minima, is warned of.
    let strong = dir.join("strong");
    let out = landscape(&["--alpha", "1,100000", "--out", strong.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("warning: at α = 100000, one step's pull moves a chain up to"),
        "{stderr}"
    );
    assert_eq!(stderr.matches("one step's pull").count(), 1, "{stderr}");
    let attempts = std::fs::read_to_string(strong.join("attempts.csv")).unwrap();
    let strongest: Vec<Vec<&str>> = attempts
        .lines()
        .map(|l| l.split(',').collect::<Vec<&str>>())
        .filter(|row| row[0] == "100000")
        .collect();
    assert!(strongest.len() > 1, "{attempts}");
    // The chains' count was said before they ran (20 steps, 2 α).
    let minima = std::fs::read_to_string(strong.join("minima.csv"))
        .unwrap()
        .lines()
        .count()
        - 1;
    let pairs = strongest.len();
    assert_eq!(pairs, minima * (minima - 1) / 2);
    let said = format!(
        "the descent ended in {minima} minima: {pairs} attraction–diffusion chains (one per pair) of 20 \
         steps for each of 2 α, {} chain steps in all",
        pairs * 40
    );
    assert!(stderr.contains(&said), "{stderr}");
    for row in &strongest {
        let closest: f64 = row[4].parse().unwrap();
        assert!(closest < 0.1, "{row:?}");
    }
    let reached = strongest.iter().filter(|row| row[3] == "true").count();
    assert!(10 * reached >= 9 * strongest.len(), "{attempts}");
    let out = landscape(&[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("one step's pull"));
    let folder = dir.join("landscape");
    let minima = std::fs::read_to_string(folder.join("minima.csv")).unwrap();
    let lines: Vec<&str> = minima.lines().collect();
    assert_eq!(lines[0], "minimum,energy,starts,basin_alpha_1,x0,x1");
    let m = lines.len() - 1;
    assert!(m >= 1, "{minima}");
    let starts: usize = lines[1..]
        .iter()
        .map(|l| l.split(',').nth(2).unwrap().parse::<usize>().unwrap())
        .sum();
    assert_eq!(starts, 12, "every start ends at one minimum");
    let attempts = std::fs::read_to_string(folder.join("attempts.csv")).unwrap();
    assert_eq!(attempts.lines().count() - 1, m * (m - 1) / 2, "{attempts}");
    // landscape.toml says which model: the checkpoint, its iteration, its settings.
    let settings = common::read_toml(&folder.join("landscape.toml"));
    let model = settings["model"].as_table().unwrap();
    assert!(
        model["file"]
            .as_str()
            .unwrap()
            .ends_with("checkpoint.safetensors")
    );
    assert_eq!(model["iteration"].as_integer(), Some(2));
    assert_eq!(
        model["settings"]["langevin"]["steps"].as_integer(),
        Some(
            ebmscope::train::Checkpoint::load(&ck)
                .unwrap()
                .config
                .langevin
                .steps as i64
        )
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let minima_said = if m == 1 {
        "1 minimum from 12 starts".to_string()
    } else {
        format!("{m} minima from 12 starts")
    };
    assert!(stdout.contains(&minima_said), "{stdout}");
    let picture = image::open(folder.join("landscape.png")).unwrap();
    assert_eq!((picture.width(), picture.height()), (500, 576));

    common::assert_refused(&landscape(&[]), "--force");
    let kept = std::fs::read(folder.join("minima.csv")).unwrap();
    for (bad, named) in [
        (&["--force", "--starts", "1"][..], "--starts must be at least 2"),
        (
            &["--force", "--alpha", "1,-1"][..],
            "--alpha values must be numbers ≥ 0 (one is -1)",
        ),
        (&["--force", "--radius", "0"][..], "--radius"),
        (&["--force", "--alpha", "1,1"][..], "--alpha lists 1 twice"),
        (
            &["--force", "--alpha", "0 1"][..],
            "`0 1` is not a number: list several α with commas, as 0,1,10",
        ),
        (
            &["--force", "--alpha", "1e300"][..],
            "--alpha 1e300: the pull α·T·f it gives",
        ),
        (
            &["--force", "--init", "bank", "--starts", "31"][..],
            "fewer than --starts 31",
        ),
        (&["--force", "--init", "sideways"][..], "sideways"),
        // More chains than one GPU buffer holds: refused, not a GPU error.
        (
            &["--force", "--init", "uniform", "--starts", "10000000000"][..],
            "--starts 10000000000 needs",
        ),
        (
            &["--force", "--init", "uniform", "--starts", "10000000000"][..],
            "use fewer images or chains at a time",
        ),
    ] {
        common::assert_refused(&landscape(bad), named);
        assert_eq!(std::fs::read(folder.join("minima.csv")).unwrap(), kept, "{bad:?}");
    }
    // Two pulls in one map: a basin column and the attempts for each, a panel each.
    let out = landscape(&["--force", "--init", "bank", "--alpha", "0,100"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let minima = std::fs::read_to_string(folder.join("minima.csv")).unwrap();
    assert!(
        minima.starts_with("minimum,energy,starts,basin_alpha_0,basin_alpha_100,x0,x1\n"),
        "{minima}"
    );
    let m = minima.lines().count() - 1;
    let attempts = std::fs::read_to_string(folder.join("attempts.csv")).unwrap();
    let per_alpha = |a: &str| {
        attempts
            .lines()
            .filter(|l| l.starts_with(&format!("{a},")))
            .count()
    };
    assert_eq!(
        (per_alpha("0"), per_alpha("100")),
        (m * (m - 1) / 2, m * (m - 1) / 2)
    );
    let picture = image::open(folder.join("landscape.png")).unwrap();
    assert_eq!(picture.width(), 1000);
    let _ = std::fs::remove_dir_all(&dir);
}
