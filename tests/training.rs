//! Algorithm 1 end to end on the GPU: step-for-step agreement with the CPU
//! reference trainer, resume equal to an uninterrupted run, run folders.
#![allow(clippy::disallowed_methods)] // tests may rename and remove with std's calls (clippy.toml)

mod common;

use common::{SMALL_TOY, ebmscope, resume_train, train_small_toy};
use std::process::Command;
use std::sync::Arc;

use ebmscope::compare::{Tolerance, compare};
use ebmscope::config::{Config, OptimizerName};
use ebmscope::data::Dataset;
use ebmscope::data::images::ImageSet;
use ebmscope::reference::trainer::ReferenceTrainer;
use ebmscope::train::Trainer;

fn config(preset: &str, extra: &[&str]) -> Config {
    let mut set: Vec<String> = [
        "batch.data=8",
        "batch.chains=6",
        "langevin.steps=5",
        "langevin.bank_size=20",
        "iterations=3",
        "eval.grid=32",
        "eval.kde_samples=64",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    set.extend(extra.iter().map(|s| s.to_string()));
    Config::resolve(Some(preset), None, &set).unwrap()
}

/// f32 on the GPU against f64 on the CPU through 3 iterations of 5 Langevin
/// steps and an optimizer step each: rounding differences (≈ 1e-7) are
/// amplified by the chains' dynamics and by U = F/T with small T (the
/// invariant form divides by ε²/2 = 5e-5 for ε = 0.01); measured ≤ 2e-5
/// relative (Adam, ε = 0.01), bound 2e-3.
const TRAINER_TOL: Tolerance = Tolerance {
    rtol: 2e-3,
    atol_of_max: 2e-3,
    reason: "f32 GPU vs f64 CPU through 3 iterations of sampling and learning",
};

fn follow_reference(config: Config) {
    let gpu = Arc::new(common::gpu());
    let mut gpu_trainer = Trainer::new(gpu, config.clone()).unwrap();
    let mut cpu = ReferenceTrainer::new(config.clone()).unwrap();
    for it in 0..3 {
        let e = gpu_trainer.step().unwrap();
        let (d_st, r_t) = cpu.step();
        let c = compare(&[e.d_st as f32, e.r_t as f32], &[d_st, r_t], TRAINER_TOL);
        assert!(
            c.passed(),
            "iteration {it}: GPU (d_st, r_t) = ({}, {}), CPU ({d_st}, {r_t}): {c}",
            e.d_st,
            e.r_t
        );
    }
    let c = compare(&gpu_trainer.params().unwrap(), &cpu.params, TRAINER_TOL);
    assert!(c.passed(), "parameters after 3 iterations: {c}");
    if let (Some(bank), Some(want)) = (gpu_trainer.bank(), &cpu.bank) {
        let c = compare(&bank.read(&gpu_trainer.gpu).unwrap(), want, TRAINER_TOL);
        assert!(c.passed(), "persistent bank: {c}");
    }
}

/// The energy path (every chain's U at every Langevin step) follows the
/// reference's, and recording it changes nothing else: the same iteration
/// results bit for bit as a trainer that does not record.
#[test]
fn energy_path_follows_the_reference_and_changes_nothing() {
    let config = config("gmm-convergent", &[]);
    let gpu = Arc::new(common::gpu());
    let mut plain = Trainer::new(gpu.clone(), config.clone()).unwrap();
    let mut traced = Trainer::new(gpu, config.clone()).unwrap();
    traced.record_energy_path(true).unwrap();
    let mut cpu = ReferenceTrainer::new(config.clone()).unwrap();
    for it in 0..3 {
        let (a, b) = (plain.step().unwrap(), traced.step().unwrap());
        assert_eq!(
            (a.d_st, a.r_t),
            (b.d_st, b.r_t),
            "iteration {it}: recording changed the results"
        );
        cpu.step();
        assert!(plain.energy_path.is_none());
        let path = traced.energy_path.as_ref().unwrap();
        assert_eq!(path.len(), (5 + 1) * 6, "[L + 1, chains]");
        let c = compare(path, &cpu.energy_path, TRAINER_TOL);
        assert!(c.passed(), "iteration {it}: energy path: {c}");
        // Its last row, X_L, is what the trainer that does not record learns from.
        let last: f64 = path[5 * 6..].iter().map(|&u| f64::from(u)).sum::<f64>() / 6.0;
        assert!((last - a.mean_u_samples).abs() <= 1e-5 * a.mean_u_samples.abs().max(1.0));
    }
    // A new ε mid-run (same L, so the launches are not rebuilt for the
    // path): the steps still write it, and it still follows the reference.
    let epsilon = 0.8 * config.langevin.epsilon;
    traced.apply(ebmscope::train::Change::Epsilon(epsilon)).unwrap();
    cpu.config.langevin.epsilon = epsilon;
    traced.step().unwrap();
    cpu.step();
    let c = compare(
        traced.energy_path.as_ref().unwrap(),
        &cpu.energy_path,
        TRAINER_TOL,
    );
    assert!(c.passed(), "after a new ε: energy path: {c}");
    // L grows mid-run: the path grows with it.
    traced.apply(ebmscope::train::Change::Steps(7)).unwrap();
    traced.step().unwrap();
    assert_eq!(traced.energy_path.as_ref().unwrap().len(), 8 * 6);
    traced.record_energy_path(false).unwrap();
    traced.step().unwrap();
    assert!(traced.energy_path.is_none());
}

/// `n` grey 32×32 images of a fixed pattern in [−1, 1).
fn images(n: usize) -> ImageSet {
    let values: Vec<f32> = (0..n * 32 * 32).map(|i| ((i % 17) as f32 / 8.0) - 1.0).collect();
    ImageSet::from_values(n, 1, 32, &values)
}

/// An image iteration's L = 5 steps in two submissions (2 + 3: the first
/// also draws the data and gathers the bank's chains, the last scatters
/// them back and runs the learning step) give what one submission gives,
/// bit for bit, over 3 iterations: d_st, r_t, the energy path, the
/// parameters and the bank.
#[test]
fn an_iteration_in_several_submissions_is_one_in_one() {
    let gpu = Arc::new(common::gpu());
    let images = images(20);
    let set: Vec<String> = [
        "data.limit=20",
        "net.n_f=2",
        "batch.data=3",
        "batch.chains=3",
        "langevin.steps=5",
        "langevin.init=persistent",
        "langevin.bank_size=6",
        "eval.longrun_every=0",
    ]
    .map(String::from)
    .into();
    let config = Config::resolve(Some("fashion-mnist-quick"), None, &set).unwrap();
    let run = |one: bool| {
        let data = Dataset::Images(images.clone());
        let mut t = Trainer::with_data(gpu.clone(), config.clone(), data).unwrap();
        t.set_one_submission(one);
        t.record_energy_path(true).unwrap();
        let mut seen = Vec::new();
        for _ in 0..3 {
            let e = t.step().unwrap();
            seen.push(vec![e.d_st as f32, e.r_t as f32]);
            seen.push(t.energy_path.clone().unwrap());
        }
        seen.push(t.params().unwrap());
        seen.push(t.bank().unwrap().read(&t.gpu).unwrap());
        seen
    };
    let (one, several) = (run(true), run(false));
    assert_eq!(one, several);
    assert!(one[0][1] > 0.0, "the chains moved");
}

/// Training allocates its GPU memory when the trainer is built: later
/// iterations hold exactly as much (no buffer made in a step), and the
/// data set is counted apart, as one byte per value. Lavapipe's Vulkan
/// allocator counts; a backend that does not would fail here, not skip.
#[test]
fn training_allocates_nothing_after_its_first_iteration() {
    let gpu = Arc::new(common::gpu());
    let images = images(40);
    let image_config = |init: &str| {
        let set: Vec<String> = [
            "data.limit=40",
            "net.n_f=4",
            "batch.data=4",
            "batch.chains=4",
            "langevin.steps=3",
            "langevin.bank_size=0",
            "eval.longrun_every=0",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([format!("langevin.init={init}")])
        .collect();
        Config::resolve(Some("fashion-mnist-quick"), None, &set).unwrap()
    };
    let trainers = [
        ("toy, persistent", config("rings-convergent", &[]), None),
        ("toy, fused sampler", config("gmm-nonconvergent", &[]), None),
        (
            "images, persistent",
            image_config("persistent"),
            Some(images.clone()),
        ),
        ("images, from data", image_config("data"), Some(images)),
    ];
    let allocated = || gpu.allocated_bytes().unwrap().expect("Vulkan's allocator counts");
    for (what, config, images) in trainers {
        let before = allocated();
        let mut trainer = match images {
            Some(set) => Trainer::with_data(gpu.clone(), config, Dataset::Images(set)).unwrap(),
            None => Trainer::new(gpu.clone(), config).unwrap(),
        };
        let built = allocated();
        trainer.step().unwrap();
        let held = allocated();
        assert!(held > before, "{what}: the trainer holds no memory?");
        assert_eq!(built, held, "{what}: the first step allocated");
        let data_bytes = if what.starts_with("images") {
            40 * 32 * 32
        } else {
            0
        };
        assert_eq!(trainer.data_set_bytes(), data_bytes, "{what}");
        for _ in 0..3 {
            trainer.step().unwrap();
        }
        assert_eq!(allocated(), held, "{what}: a step allocated");
        drop(trainer);
        assert_eq!(allocated(), before, "{what}: memory left behind");
    }
}

#[test]
fn persistent_sgd_follows_the_reference() {
    follow_reference(config("rings-convergent", &[]));
}

#[test]
fn gaussian_adam_follows_the_reference() {
    follow_reference(config("gmm-nonconvergent", &["data.noise=0.05"]));
}

#[test]
fn uniform_and_data_init_follow_the_reference() {
    follow_reference(config(
        "rings-convergent",
        &[
            "langevin.init=uniform",
            "langevin.init_factor=1.5",
            "optimizer.lr_decay=0.9",
            "optimizer.lr_min=0.05",
        ],
    ));
    follow_reference(config(
        "gmm-convergent",
        &[
            "langevin.init=data",
            "langevin.form=plain",
            "langevin.temperature=0.5",
        ],
    ));
}

/// A run whose metrics.csv is gone or cut short cannot resume exactly (its
/// history goes on in the resumed run): the refusal says what to do, and
/// the checkpoint is left as it was.
#[test]
fn resume_without_the_runs_history_says_what_to_do() {
    let dir = common::fresh_dir("history");
    assert!(train_small_toy(&dir, 2, &[]).status.success());
    let ck = std::fs::read(dir.join("checkpoint.safetensors")).unwrap();
    let metrics = dir.join("metrics.csv");
    let header = std::fs::read_to_string(&metrics)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string();
    std::fs::remove_file(&metrics).unwrap();
    let fix = "restore the run's metrics.csv, or start over with --force";
    let out = resume_train(&dir, None, &[]);
    common::assert_refused(&out, "metrics.csv: is missing");
    common::assert_refused(&out, fix);
    // The model need not go with the history: its weights start a new run.
    common::assert_refused(
        &out,
        "to keep the model, start a new run from its weights in another folder, --init-weights ",
    );
    common::assert_refused(
        &out,
        "weights_0000002.safetensors (the optimizer and chains start afresh)",
    );
    std::fs::write(&metrics, format!("{header}\n")).unwrap();
    let out = resume_train(&dir, None, &[]);
    common::assert_refused(&out, "holds 0 rows but the checkpoint is at iteration 2");
    common::assert_refused(&out, fix);
    let rows = "2,0.5,0.1,1.0,0.5,0.1,1.0,contraction\n1,0.5,0.1,1.0,0.5,0.1,2.0,contraction\n";
    std::fs::write(&metrics, format!("{header}\n{rows}")).unwrap();
    common::assert_refused(
        &resume_train(&dir, None, &[]),
        "line 2 is iteration 2 where 1 comes next",
    );
    // A row past the checkpoint where its own are missing: named, not counted as none.
    let rows = "7,0.5,0.1,1.0,0.5,0.1,1.0,contraction
";
    std::fs::write(
        &metrics,
        format!(
            "{header}
{rows}"
        ),
    )
    .unwrap();
    common::assert_refused(
        &resume_train(&dir, None, &[]),
        "line 2 is iteration 7 where 1 comes next",
    );
    // Rows without their header are named as such, not by their first row.
    let rows = "1,0.5,0.1,1.0,0.5,0.1,1.0,contraction\n2,0.5,0.1,1.0,0.5,0.1,2.0,contraction\n";
    std::fs::write(&metrics, rows).unwrap();
    let out = resume_train(&dir, None, &[]);
    common::assert_refused(
        &out,
        "line 1 is `1,0.5,0.1,1.0,0.5,0.1,1.0,contraction`, not metrics.csv's header",
    );
    common::assert_refused(&out, fix);
    assert_eq!(std::fs::read(dir.join("checkpoint.safetensors")).unwrap(), ck);
    // A checkpoint changed since to hold a diverged model is refused as such.
    let ck_path = dir.join("checkpoint.safetensors");
    let mut broken = ebmscope::train::Checkpoint::load(&ck_path).unwrap();
    broken.params[3] = f32::NAN;
    broken.save(&ck_path).unwrap();
    let out = resume_train(&dir, None, &[]);
    common::assert_refused(&out, "parameter 3 is NaN: not a model to go on from");
    // So is an optimizer state that overflowed, and a file of another format.
    broken.params[3] = 0.0;
    broken.adam_v[5] = f32::INFINITY;
    broken.save(&ck_path).unwrap();
    let out = resume_train(&dir, None, &[]);
    common::assert_refused(
        &out,
        "tensor `optimizer.adam_v` holds inf at 5: not a state to go on from",
    );
    broken.adam_v[5] = 0.0;
    broken.save(&ck_path).unwrap();
    // A value changed since the save (a bit flipped by a disk, still a
    // finite number) is caught by the checkpoint's CRC-32.
    let saved = std::fs::read(&ck_path).unwrap();
    let mut flipped = saved.clone();
    let at = flipped.len() - 4 * 3;
    flipped[at] ^= 0x01;
    std::fs::write(&ck_path, &flipped).unwrap();
    common::assert_refused(&resume_train(&dir, None, &[]), "their CRC-32 differs");
    // So is a hand edit of its metadata (the learning rate's last digit, in
    // the JSON header): its settings and state are covered by a CRC too.
    let mut edited = saved.clone();
    let header_end = 8 + u64::from_le_bytes(saved[..8].try_into().unwrap()) as usize;
    let lr = String::from_utf8_lossy(&saved[8..header_end])
        .find("\"lr\":\"")
        .unwrap()
        + 8
        + 6;
    let last_digit = lr + edited[lr..].iter().position(|b| *b == b'"').unwrap() - 1;
    edited[last_digit] = if edited[last_digit] == b'3' { b'4' } else { b'3' };
    std::fs::write(&ck_path, &edited).unwrap();
    common::assert_refused(
        &resume_train(&dir, None, &[]),
        "its metadata (the settings and state beside the tensors) is not what ebmscope saved (its \
         CRC-32 differs): the file was edited or damaged since",
    );
    // One cut short (a copy stopped half-way) says what the run has left.
    assert!(dir.join("weights").is_dir());
    std::fs::write(&ck_path, &saved[..saved.len() / 2]).unwrap();
    common::assert_refused(
        &resume_train(&dir, None, &[]),
        "(a run's checkpoint, damaged since training wrote it whole: a run keeps one checkpoint; a \
         copy from a backup, or a new run from one of its weights/ files",
    );
    std::fs::write(&ck_path, &saved).unwrap();
    let (tensors, mut metadata) = ebmscope::io::read_all(&ck_path).unwrap();
    metadata.insert("format".into(), "ebmscope-checkpoint-2".into());
    ebmscope::io::write_tensors_with_metadata(&ck_path, &tensors, Some(metadata)).unwrap();
    let out = resume_train(&dir, None, &[]);
    common::assert_refused(
        &out,
        "is a checkpoint of format `ebmscope-checkpoint-2`; this ebmscope reads `ebmscope-checkpoint-1`",
    );
    // Chains of another run's shape (one chain short) are refused too.
    let chains = broken
        .chains
        .as_mut()
        .expect("a checkpoint past iteration 0 keeps its chains");
    chains.truncate(chains.len() / 6 * 5);
    broken.save(&ck_path).unwrap();
    let out = resume_train(&dir, None, &[]);
    common::assert_refused(
        &out,
        "tensor `chains` has shape [5, 2], but the checkpoint's config asks for [6, 2]",
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A checkpoint copied in from another run (here one of the same settings
/// and another seed, at an earlier iteration) is refused, the run left as
/// it was: resumed, it dropped the run's later rows and files and mixed
/// the two runs' records. The run's own, its metrics.csv saved again with
/// fewer digits (8 significant, as pandas' float_format="%.8g"), still
/// resumes.
#[test]
fn a_checkpoint_from_another_run_is_refused() {
    let dir = common::fresh_dir("other-runs-checkpoint");
    let (ours, theirs) = (dir.join("ours"), dir.join("theirs"));
    assert!(train_small_toy(&ours, 4, &[]).status.success());
    assert!(train_small_toy(&theirs, 2, &["--set", "seed=9"]).status.success());
    let files = |d: &std::path::Path| -> Vec<(std::path::PathBuf, Vec<u8>)> {
        let mut all = Vec::new();
        for sub in ["", "weights", "pictures"] {
            let Ok(entries) = std::fs::read_dir(d.join(sub)) else {
                continue;
            };
            for e in entries.flatten().filter(|e| e.path().is_file()) {
                all.push((e.path(), std::fs::read(e.path()).unwrap()));
            }
        }
        all.sort();
        all
    };
    let own_checkpoint = std::fs::read(ours.join("checkpoint.safetensors")).unwrap();
    std::fs::copy(
        theirs.join("checkpoint.safetensors"),
        ours.join("checkpoint.safetensors"),
    )
    .unwrap();
    let before = files(&ours);
    let out = resume_train(&ours, Some(6), &[]);
    common::assert_refused(
        &out,
        "is not this run's checkpoint: at its iteration 2 it recorded d_st = ",
    );
    common::assert_refused(&out, "nothing was changed");
    assert_eq!(files(&ours), before, "the refused resume changed nothing");
    // Its own checkpoint back, d_st cut to 8 significant digits in every row: resumed.
    std::fs::write(ours.join("checkpoint.safetensors"), own_checkpoint).unwrap();
    let metrics = ours.join("metrics.csv");
    let text = std::fs::read_to_string(&metrics).unwrap();
    let mut lines = text.lines();
    let mut cut = format!("{}\n", lines.next().unwrap());
    for line in lines {
        let mut cells: Vec<String> = line.split(',').map(str::to_string).collect();
        let d_st: f64 = cells[1].parse().unwrap();
        cells[1] = format!("{:.7e}", d_st);
        cut += &format!("{}\n", cells.join(","));
    }
    std::fs::write(&metrics, cut).unwrap();
    let out = resume_train(&ours, Some(6), &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(rows(&ours).len(), 1 + 6, "the header and rows to iteration 6");
}

/// A checkpoint keeps X⁻ only where the trainer holds chains: not before
/// its first iteration, nor after a restore from a checkpoint without them
/// (its buffer holds zeros then), and a restore puts them back.
#[test]
fn a_checkpoint_keeps_chains_only_where_there_are_some() {
    use ebmscope::train::Checkpoint;
    let gpu = Arc::new(common::gpu());
    let config = config("rings-convergent", &[]);
    let mut trainer = Trainer::new(gpu.clone(), config.clone()).unwrap();
    assert_eq!(
        Checkpoint::capture(&trainer).unwrap().chains,
        None,
        "before the first iteration"
    );
    trainer.step().unwrap();
    let ck = Checkpoint::capture(&trainer).unwrap();
    let chains = trainer.chains().unwrap();
    assert!(chains.iter().any(|&v| v != 0.0));
    assert_eq!(ck.chains.as_ref(), Some(&chains), "after an iteration");

    let mut restored = Trainer::new(gpu.clone(), config.clone()).unwrap();
    ck.restore(&mut restored).unwrap();
    assert_eq!(restored.chains().unwrap(), chains, "restored");
    let again = Checkpoint::capture(&restored).unwrap();
    assert_eq!(
        again.chains.as_ref(),
        Some(&chains),
        "a restored trainer holds chains"
    );
    let older = Checkpoint { chains: None, ..ck };
    let mut restored = Trainer::new(gpu, config).unwrap();
    older.restore(&mut restored).unwrap();
    assert_eq!(
        Checkpoint::capture(&restored).unwrap().chains,
        None,
        "after a restore from a checkpoint without chains"
    );
}

/// The wall-time column of a metrics.csv.
fn wall_times(metrics: &std::path::Path) -> Vec<f64> {
    std::fs::read_to_string(metrics)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(6).unwrap().parse().unwrap())
        .collect()
}

/// Metrics rows without the wall-time column.
fn rows(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("metrics.csv"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut c: Vec<&str> = l.split(',').collect();
            c.remove(6);
            c.join(",")
        })
        .collect()
}

/// What a trainer killed on its way leaves, the next one puts right (the
/// kills stood in for by what they leave):
/// - an iteration's pictures and evaluation come before its checkpoint, so
///   a run stopped among them (here by a file where the pictures go) has
///   its checkpoint before them, and its resume makes them;
/// - temporary files of atomic writes killed before their rename go;
/// - a --force killed while it set the old run aside (part of it, even its
///   checkpoint and metrics, gathered in .replaced-run.partial) is undone:
///   the old run is whole again and resumes;
/// - a replaced run killed half deleted (.replaced-run.removing) goes;
/// - a --resume after a --force killed once the old run was set aside
///   says where it is.
#[test]
fn what_a_killed_trainer_leaves_is_put_right() {
    let dir = common::fresh_dir("killed");
    let ck_path = dir.join("checkpoint.safetensors");
    let ck_iteration = || ebmscope::train::Checkpoint::load(&ck_path).unwrap().iteration;
    let picture_every = ["--set", "output.picture_every=4"];
    let out = train_small_toy(&dir, 2, &picture_every);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let pictures = dir.join("pictures");
    std::fs::remove_dir_all(&pictures).unwrap();
    std::fs::write(&pictures, "in the way").unwrap();
    let out = resume_train(&dir, Some(4), &[]);
    common::assert_refused(&out, "the run's checkpoint (iteration 2) is kept");
    assert_eq!(
        ck_iteration(),
        2,
        "iteration 4's checkpoint waits for its pictures"
    );
    std::fs::remove_file(&pictures).unwrap();

    let stray = [
        dir.join(".checkpoint.safetensors.tmp-4242"),
        dir.join("weights/.weights_0000003.safetensors.tmp-4242"),
    ];
    for path in &stray {
        std::fs::write(path, "half written").unwrap();
    }
    let out = resume_train(&dir, Some(4), &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(ck_iteration(), 4);
    assert!(dir.join("pictures/diagnostics_0000004.png").is_file());
    let toy = std::fs::read_to_string(dir.join("toy_metrics.csv")).unwrap();
    assert!(toy.lines().any(|l| l.starts_with("4,")), "{toy}");
    for path in &stray {
        assert!(!path.exists(), "{} left", path.display());
    }

    let gathering = dir.join(".replaced-run.partial");
    for name in [
        "pictures",
        "config.toml",
        "toy_metrics.csv",
        "metrics.csv",
        "checkpoint.safetensors",
    ] {
        std::fs::create_dir_all(&gathering).unwrap();
        std::fs::rename(dir.join(name), gathering.join(name)).unwrap();
    }
    let removing = dir.join(".replaced-run.removing/weights");
    std::fs::create_dir_all(&removing).unwrap();
    std::fs::write(removing.join("weights_0000001.safetensors"), "half deleted").unwrap();
    let before = rows(&dir.join(".replaced-run.partial"));
    let out = resume_train(&dir, Some(5), &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!gathering.exists() && !dir.join(".replaced-run.removing").exists());
    assert!(dir.join("pictures/diagnostics_0000004.png").is_file() && dir.join("config.toml").is_file());
    let after = rows(&dir);
    assert_eq!(
        (after.len(), &after[..5]),
        (6, &before[..]),
        "the old run went on"
    );
    assert_eq!(ck_iteration(), 5);

    // Killed once the old run was set aside, before the new one wrote
    // anything: a --resume says where the old run is.
    let aside = dir.join(".replaced-run");
    std::fs::create_dir_all(&aside).unwrap();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name();
        if ![".ebmscope.lock", ".replaced-run"].contains(&name.to_str().unwrap()) {
            std::fs::rename(dir.join(&name), aside.join(&name)).unwrap();
        }
    }
    common::assert_refused(
        &resume_train(&dir, Some(6), &[]),
        "kept in .replaced-run/: to resume that one instead, `ebmscope train --out ",
    );
    // … and a new run without --force would let it go: refused.
    common::assert_refused(
        &train_small_toy(&dir, 2, &[]),
        "holds the run an earlier --force replaced",
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// metrics.csv gets each row as its iteration ends, for a notebook or
/// `tail -f` that follows a run; not in bursts of a buffer's size (about 80
/// rows of a toy run) or only at a checkpoint.
#[test]
fn metrics_rows_are_written_as_they_come() {
    let dir = common::fresh_dir("live-rows");
    let mut args = vec!["train", "--preset", "rings-convergent", "--iters", "100000"];
    args.extend_from_slice(&SMALL_TOY);
    args.extend([
        "--set",
        "output.checkpoint_every=100000",
        "--out",
        dir.to_str().unwrap(),
    ]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_ebmscope"))
        .args(&args)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let metrics = dir.join("metrics.csv");
    let started = std::time::Instant::now();
    let first = loop {
        let rows = std::fs::read_to_string(&metrics)
            .map(|text| text.lines().count().saturating_sub(1))
            .unwrap_or(0);
        if rows > 0 || started.elapsed().as_secs() > 120 {
            break rows;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    // (Without the flush per row the first seen were 81; a fast adapter
    // may write a few between two looks.)
    assert!(
        (1..40).contains(&first),
        "first seen with {first} rows (0: none in 2 minutes)"
    );
}

/// A run stopped after iteration 3 with its last checkpoint at 2 (the row of
/// iteration 3 was written, its checkpoint was not), then resumed to 6,
/// gives the same numbers as 6 iterations in one go: the resume drops the
/// row past the checkpoint and every random stream is keyed by (seed, iteration).
#[test]
fn resume_equals_uninterrupted() {
    let base = common::fresh_dir("resume");
    let (whole, split) = (base.join("whole"), base.join("split"));
    let out = train_small_toy(&whole, 6, &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = train_small_toy(&split, 2, &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let metrics = split.join("metrics.csv");
    let mut text = std::fs::read_to_string(&metrics).unwrap();
    text.push_str("3,1.0,1.0,1.0,0.0,0.1,9.9,contraction\n");
    std::fs::write(&metrics, text).unwrap();
    // As if the first session had trained for 1000 s, and written its
    // checkpoint before checkpoints kept the chains (which no iteration
    // starts from).
    let ck_path = split.join("checkpoint.safetensors");
    let mut ck = ebmscope::train::Checkpoint::load(&ck_path).unwrap();
    ck.wall_time = 1000.0;
    assert!(ck.chains.is_some());
    ck.chains = None;
    ck.save(&ck_path).unwrap();
    // What the run draws, checks and saves may change on resume, and moves
    // no training number: pictures at every iteration, a long-run check.
    let free = [
        "output.picture_every=1",
        "eval.longrun_every=4",
        "eval.longrun_steps=3",
        "eval.longrun_chains=4",
    ];
    let out = resume_train(&split, Some(6), &free);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("note: from iteration 2: eval.longrun_chains 100 → 4"),
        "{stderr}"
    );
    assert!(split.join("pictures/density_0000003.png").is_file());
    assert!(split.join("longrun/longrun_0000004.csv").is_file());
    assert_eq!(rows(&split), rows(&whole));
    assert_eq!(rows(&whole).len(), 7);
    let config = common::read_toml(&split.join("config.toml"));
    assert_eq!(config["output"]["picture_every"].as_integer(), Some(1));
    assert_eq!(
        ebmscope::train::Checkpoint::load(&split.join("checkpoint.safetensors"))
            .unwrap()
            .config
            .eval
            .longrun_chains,
        4
    );
    assert!(!split.join("changes.csv").exists());
    // The wall time goes on from the checkpoint's across the resume (it is
    // the run's, over its sessions), and the new checkpoint keeps it.
    let wall = wall_times(&metrics);
    assert!(
        wall[1] < 1000.0 && wall[2..].iter().all(|&t| t > 1000.0),
        "{wall:?}"
    );
    assert!(wall.windows(2).all(|w| w[0] <= w[1]), "{wall:?}");
    let ck = ebmscope::train::Checkpoint::load(&ck_path).unwrap();
    // (The row is rounded to a millisecond.)
    assert!(ck.wall_time + 1e-3 >= wall[5], "{} < {wall:?}", ck.wall_time);
    let sorted = |dir: &std::path::Path| {
        let mut v = ebmscope::io::read_all(&dir.join("checkpoint.safetensors"))
            .unwrap()
            .0;
        v.sort_by(|x, y| x.name.cmp(&y.name));
        v
    };
    assert_eq!(
        sorted(&whole),
        sorted(&split),
        "parameters, optimizer state, bank and chains are identical"
    );
    let _ = std::fs::remove_dir_all(&base);
}

/// A resume's change goes in changes.csv before its checkpoint is saved;
/// where that save did not land (a kill between the two, a full disk), the
/// next resume drops the record, so that changes.csv says what the
/// checkpoint holds, and the same change made again is recorded once.
/// config.toml's new text waits beside it until the checkpoint lands: a
/// kill before or after the save is no hand edit at the next resume.
#[test]
fn a_change_whose_checkpoint_was_not_saved_is_dropped() {
    let dir = common::fresh_dir("unsaved-change");
    assert!(train_small_toy(&dir, 2, &[]).status.success());
    let ck = dir.join("checkpoint.safetensors");
    let changes = || std::fs::read_to_string(dir.join("changes.csv")).unwrap();
    let saved = std::fs::read(&ck).unwrap();
    let config = dir.join("config.toml");
    let (pending, old_config) = (dir.join(".config.toml.pending"), std::fs::read(&config).unwrap());
    // A save that fails (a folder where the checkpoint's weights file goes):
    // the change is recorded, config.toml's new text waits beside it, and
    // config.toml and the checkpoint are as they were.
    let weights = dir.join("weights/weights_0000002.safetensors");
    let weights_kept = std::fs::read(&weights).unwrap();
    std::fs::remove_file(&weights).unwrap();
    std::fs::create_dir_all(&weights).unwrap();
    let out = resume_train(&dir, Some(2), &["optimizer.lr=0.05"]);
    assert!(!out.status.success());
    let made = changes();
    assert_eq!(made, "iteration,setting,from,to\n2,optimizer.lr,0.1,0.05\n");
    let new_config = std::fs::read(&pending).unwrap();
    assert!(String::from_utf8_lossy(&new_config).contains("lr = 0.05"));
    assert!(std::fs::read(&config).unwrap() == old_config && std::fs::read(&ck).unwrap() == saved);
    // The next resume drops both: no hand edit, no change kept.
    std::fs::remove_dir(&weights).unwrap();
    std::fs::write(&weights, &weights_kept).unwrap();
    let out = resume_train(&dir, Some(2), &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!dir.join("changes.csv").exists(), "no change kept: no record");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("was edited"), "no hand edit: {stderr}");
    assert!(
        stderr.contains("lr = 0.05 recorded in changes.csv at iteration 2 never reached the checkpoint"),
        "the dropped change is said: {stderr}"
    );
    assert!(!pending.exists() && std::fs::read(&config).unwrap() == old_config);
    let out = resume_train(&dir, Some(2), &["optimizer.lr=0.05"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(changes(), made);
    // As if killed after its checkpoint, before config.toml took the new
    // text: it does at the next resume, and that is no hand edit either.
    assert!(!pending.exists() && std::fs::read(&config).unwrap() == new_config);
    std::fs::write(&config, &old_config).unwrap();
    std::fs::write(&pending, &new_config).unwrap();
    let out = resume_train(&dir, Some(2), &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("was edited"), "no hand edit: {stderr}");
    assert!(!pending.exists() && std::fs::read(&config).unwrap() == new_config);
    // A hand edit still is one.
    let edited = String::from_utf8(new_config.clone())
        .unwrap()
        .replace("lr = 0.05", "lr = 0.07");
    assert_ne!(edited.as_bytes(), new_config, "the test needs the lr line");
    std::fs::write(&config, edited).unwrap();
    let out = resume_train(&dir, Some(2), &[]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("was edited"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--resume --set` changes what a run may change as it goes (ε, τ, L, the
/// learning rate, the optimizer) from its checkpoint's iteration on: the run
/// then goes on exactly as a trainer that made the same changes there (as
/// the window does); the changes are in changes.csv and, at once, in the
/// checkpoint, so a plain --resume goes on with them (here one with nothing
/// to train makes the changes, and the next trains). Any other key, or a
/// value the settings refuse, is refused before the run is touched.
#[test]
fn resume_with_changed_settings_goes_on_as_the_window_would() {
    use ebmscope::train::{Change, Checkpoint};
    let dir = common::fresh_dir("resume-set");
    assert!(train_small_toy(&dir, 2, &[]).status.success());
    let files = ["checkpoint.safetensors", "metrics.csv", "config.toml"];
    let read = || files.map(|f| std::fs::read(dir.join(f)).unwrap());
    let before = read();
    for (set, says) in [
        // (ToyNet has no n_f: said so, rather than that it is fixed.)
        ("net.n_f=4", "`net.n_f`: ToyNet's widths are fixed"),
        // (Fixed is said first, not what the value would break.)
        ("langevin.bank_size=1", "`langevin.bank_size` is fixed for a run"),
        ("net.kind=vanilla", "`net.kind` is fixed for a run"),
        (
            "langevin.epsilon=-1",
            "`langevin.epsilon`: must be a finite number > 0",
        ),
        ("iterations=9", "the run's total changes with --iters N"),
        ("langevin.epsilonn=1", "unknown field `epsilonn`"),
        ("optimizer.kind=rmsprop", "unknown variant `rmsprop`"),
    ] {
        common::assert_refused(&resume_train(&dir, Some(4), &["optimizer.lr=0.03", set]), says);
        assert!(
            read() == before,
            "--set {set}: the refused resume changed the run"
        );
        assert!(!dir.join("changes.csv").exists());
    }
    // A free setting (eval.*, output.*) is checked as a new run's is.
    let too_many = ["eval.longrun_every=1", "eval.longrun_chains=100000000"];
    common::assert_refused(&resume_train(&dir, Some(4), &too_many), "(eval.longrun_chains)");
    assert!(read() == before, "the refused resume changed the run");
    let dir_arg = dir.to_str().unwrap();
    let with_preset = ["train", "--out", dir_arg, "--resume", "--preset", "gmm-quick"];
    common::assert_refused(&ebmscope(&with_preset), "Drop --preset and --config, or start");
    assert!(read() == before);
    // Without --out, the preset named the folder: the refusal names it, so
    // that dropping --preset does not resume the default preset's run.
    // (A --config file alone named runs/custom.)
    for (given, folder) in [
        (["--preset", "rings-nonconvergent"], "rings-nonconvergent"),
        (["--config", "mine.toml"], "custom"),
    ] {
        let out = ebmscope(&[&["train", "--resume"][..], &given].concat());
        let folder = std::path::Path::new("runs").join(folder);
        common::assert_refused(
            &out,
            &format!(
                "Drop --preset and --config (its run in {}: `ebmscope train --out {} --resume`)",
                folder.display(),
                ebmscope::io::shell_path(&folder)
            ),
        );
    }

    let out = resume_train(
        &dir,
        Some(2),
        &["optimizer.kind=adam", "optimizer.lr=0.03", "langevin.steps=6"],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("from iteration 2: L = 6, lr = 0.03, optimizer Adam"),
        "{stderr}"
    );
    // What the switch means for lr, as the window says it.
    assert!(
        stderr.contains("note: with these changes (lr kept: Adam steps by lr itself, not lr·T)"),
        "{stderr}"
    );
    let made = "iteration,setting,from,to\n2,langevin.steps,4,6\n2,optimizer.lr,0.1,0.03\n2,optimizer.kind,sgd,adam\n";
    assert_eq!(std::fs::read_to_string(dir.join("changes.csv")).unwrap(), made);
    // A row past the checkpoint (as if an earlier checkpoint had been put
    // back by hand) is not this run's: the resume drops it.
    std::fs::write(
        dir.join("changes.csv"),
        format!("{made}9,optimizer.lr,0.03,1.0\n"),
    )
    .unwrap();
    // (L = 6 again: a setting given the value it has is no change.)
    let out = resume_train(&dir, Some(4), &["langevin.steps=6"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(dir.join("changes.csv")).unwrap(), made);
    let sets: Vec<String> = SMALL_TOY
        .iter()
        .skip(1)
        .step_by(2)
        .map(|s| s.to_string())
        .collect();
    let config = Config::resolve(Some("rings-convergent"), None, &sets).unwrap();
    let mut window = Trainer::new(Arc::new(common::gpu()), config).unwrap();
    window.step().unwrap();
    window.step().unwrap();
    for change in [
        Change::Steps(6),
        Change::LearningRate(0.03),
        Change::Optimizer(OptimizerName::Adam),
    ] {
        window.apply(change).unwrap();
    }
    let d_st: Vec<f64> = (0..2).map(|_| window.step().unwrap().d_st).collect();
    let ck = Checkpoint::load(&dir.join("checkpoint.safetensors")).unwrap();
    let mut want = Checkpoint::capture(&window).unwrap();
    want.wall_time = ck.wall_time;
    want.config.iterations = ck.config.iterations;
    assert!(
        ck == want,
        "the resumed run's checkpoint differs from the changed trainer's"
    );
    let rows = rows(&dir);
    let run_d_st: Vec<f64> = rows[3..]
        .iter()
        .map(|r| r.split(',').nth(1).unwrap().parse().unwrap())
        .collect();
    assert_eq!(run_d_st, d_st);

    // The run's history, as a window opened on its checkpoint shows it: ε
    // and L of each iteration follow changes.csv; only a run folder's
    // checkpoint has one, and a metrics.csv that ends early is named.
    use ebmscope::train::run::run_history;
    let ck_path = dir.join("checkpoint.safetensors");
    let history = run_history(&ck_path, &ck, "its curves are not shown")
        .unwrap()
        .unwrap();
    let seen: Vec<(u64, u32, f64)> = history
        .events
        .iter()
        .map(|e| (e.iteration, e.steps, e.lr))
        .collect();
    assert_eq!(seen, [(1, 4, 0.1), (2, 4, 0.1), (3, 6, 0.03), (4, 6, 0.03)]);
    assert_eq!(
        history.events[2..].iter().map(|e| e.d_st).collect::<Vec<_>>(),
        d_st
    );
    // (iteration, from, to), as changes.csv holds them.
    assert_eq!(
        history.changes,
        [
            (2, Change::Steps(4), Change::Steps(6)),
            (2, Change::LearningRate(0.1), Change::LearningRate(0.03)),
            (
                2,
                Change::Optimizer(OptimizerName::Sgd),
                Change::Optimizer(OptimizerName::Adam)
            ),
        ]
    );
    assert_eq!(
        run_history(
            &dir.join("elsewhere.safetensors"),
            &ck,
            "its curves are not shown"
        )
        .unwrap(),
        None
    );
    std::fs::write(
        dir.join("metrics.csv"),
        "iteration,d_st,r_t,mean_u_data,mean_u_samples,lr,wall_time,phase\n",
    )
    .unwrap();
    let short = run_history(&ck_path, &ck, "its curves are not shown")
        .unwrap_err()
        .to_string();
    assert!(
        short.contains("holds 0 rows but the checkpoint is at iteration 4"),
        "{short}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A checkpoint from before checkpoints kept the wall time: the resumed
/// rows go on from the last kept row's instead of starting again at 0.
#[test]
fn resume_from_a_checkpoint_without_wall_time_goes_on_from_the_last_row() {
    let dir = common::fresh_dir("old-wall");
    let out = train_small_toy(&dir, 2, &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let ck_path = dir.join("checkpoint.safetensors");
    let (tensors, mut metadata) = ebmscope::io::read_all(&ck_path).unwrap();
    assert!(metadata.remove("wall_time").is_some());
    ebmscope::io::write_tensors_with_metadata(&ck_path, &tensors, Some(metadata)).unwrap();
    // The first session's rows, as if it had trained for 500 s.
    let metrics = dir.join("metrics.csv");
    let text = std::fs::read_to_string(&metrics).unwrap();
    let planted: Vec<String> = text
        .lines()
        .enumerate()
        .map(|(i, l)| {
            let mut c: Vec<String> = l.split(',').map(String::from).collect();
            if i > 0 {
                c[6] = format!("{}", 250 * i);
            }
            c.join(",")
        })
        .collect();
    std::fs::write(&metrics, planted.join("\n") + "\n").unwrap();
    // A learning rate edited into nonsense is refused by name.
    for bad in ["NaN", "inf", "-1", "0"] {
        let (tensors, mut metadata) = ebmscope::io::read_all(&ck_path).unwrap();
        let good = metadata.insert("lr".into(), bad.into()).unwrap();
        ebmscope::io::write_tensors_with_metadata(&ck_path, &tensors, Some(metadata.clone())).unwrap();
        common::assert_refused(
            &resume_train(&dir, Some(4), &[]),
            "checkpoint metadata `lr` must be a finite number > 0",
        );
        metadata.insert("lr".into(), good);
        ebmscope::io::write_tensors_with_metadata(&ck_path, &tensors, Some(metadata)).unwrap();
    }
    let out = resume_train(&dir, Some(4), &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let wall = wall_times(&metrics);
    assert_eq!(wall[..2], [250.0, 500.0]);
    assert!(wall[2..].iter().all(|&t| t > 500.0 && t < 1100.0), "{wall:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn existing_runs_are_refused_without_resume_or_force() {
    let dir = common::fresh_dir("refuse");
    assert!(train_small_toy(&dir, 2, &[]).status.success());
    let before = std::fs::read(dir.join("checkpoint.safetensors")).unwrap();
    let out = train_small_toy(&dir, 2, &[]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--resume") && stderr.contains("--force"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(dir.join("checkpoint.safetensors")).unwrap(),
        before,
        "nothing was touched"
    );
    let out = train_small_toy(&dir, 2, &["--set", "langevin.epsilonn=1"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("epsilonn"));
    // --resume keeps the run's settings: others than those a run may change
    // as it goes are refused beside it, and without --iters the run's own
    // total stands (here 2: nothing to do).
    let out = ebmscope(&[
        "train",
        "--out",
        dir.to_str().unwrap(),
        "--resume",
        "--set",
        "langevin.bank_size=50",
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("`langevin.bank_size` is fixed for a run"),
        "{out:?}"
    );
    let out = resume_train(&dir, None, &[]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("already at iteration 2 of 2"),
        "{out:?}"
    );
    assert_eq!(rows(&dir).len(), 3, "header and 2 rows: nothing ran");
    // An --iters below where the run stands is refused, nothing written
    // (taken as the total, it cut the run's plan to where it stood, and
    // saved that with a change).
    let (checkpoint, config) = (dir.join("checkpoint.safetensors"), dir.join("config.toml"));
    let kept = (
        std::fs::read(&checkpoint).unwrap(),
        std::fs::read(&config).unwrap(),
    );
    let out = resume_train(&dir, Some(1), &["optimizer.lr=0.2"]);
    common::assert_refused(
        &out,
        "--iters 1 is below the run's iteration 2 (of 2 planned): --iters is the run's total",
    );
    assert_eq!(rows(&dir).len(), 3);
    assert!(
        (
            std::fs::read(&checkpoint).unwrap(),
            std::fs::read(&config).unwrap()
        ) == kept,
        "nothing written"
    );
    let out = train_small_toy(&dir, 0, &["--force"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--iters must be at least 1"),
        "{out:?}"
    );
    // Past u32 (and past i64, where TOML read a float) the most is said.
    let out = train_small_toy(&dir, u64::MAX, &["--force"]);
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("--iters must be at most 4294967295 (got 18446744073709551615)"),
        "{out:?}"
    );
    assert_eq!(
        std::fs::read(dir.join("checkpoint.safetensors")).unwrap(),
        before,
        "nothing was touched"
    );
    assert!(train_small_toy(&dir, 3, &["--force"]).status.success());
    assert_eq!(rows(&dir).len(), 4, "header and 3 rows after --force");
    for f in [
        "config.toml",
        "metrics.csv",
        "toy_metrics.csv",
        "checkpoint.safetensors",
        "weights/weights_0000003.safetensors",
    ] {
        assert!(dir.join(f).exists(), "{f}");
    }
    assert!(
        dir.join("pictures/density_0000003.png").exists()
            && dir.join("pictures/diagnostics_0000003.png").exists()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// ebmscope with `args`, started and left running (stdout to nowhere).
fn spawn_ebmscope<S: AsRef<std::ffi::OsStr>>(args: &[S], stderr: std::process::Stdio) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_ebmscope"))
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap()
}

/// Ctrl-C to `child`: a signal from this process (a minimal system has no
/// `kill` program). Signals are Unix's: the tests that send them are too.
#[cfg(unix)]
fn send_signal(child: &std::process::Child, signal: libc::c_int) {
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: kill(2) with a child's pid, which stays ours until it is waited for.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0, "signal {signal} sent");
}

/// Ctrl-C during a long-run check ends the check where it is (one may take
/// long), then stops with a checkpoint as after any iteration; the resume
/// makes that iteration's check first (else it would be lost: the run goes
/// on past its checkpoint). Sent as SIGTERM (`timeout`'s, a closed
/// terminal's SIGHUP alike), which acts as Ctrl-C, twice within a second
/// as `timeout` sends it.
#[cfg(unix)]
#[test]
fn ctrl_c_ends_a_long_run_check_where_it_is() {
    let dir = common::fresh_dir("sigint-check");
    let mut args = vec![
        "train",
        "--preset",
        "rings-convergent",
        "--iters",
        "5",
        "--out",
        dir.to_str().unwrap(),
    ];
    args.extend_from_slice(&SMALL_TOY);
    // (A check of 10⁹ steps: days on this adapter.)
    let checks = [
        "eval.longrun_every=1",
        "eval.longrun_steps=1000000000",
        "eval.longrun_chains=4",
    ];
    args.extend(checks.iter().flat_map(|set| ["--set", set]));
    let mut child = spawn_ebmscope(&args, std::process::Stdio::piped());
    // Its lines as they come, until it starts iteration 1's check.
    let (tx, lines) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut said = Vec::new();
    let wait = std::time::Duration::from_secs(120);
    while !said
        .iter()
        .any(|l: &String| l.starts_with("iteration 1: long-run check"))
    {
        said.push(lines.recv_timeout(wait).expect("the check did not start"));
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    // Twice, as `timeout` sends it (to the process, then its group), the
    // second 10 ms on, most often after the first is handled and before
    // the run has stopped: one request, not a second Ctrl-C's stop at once.
    send_signal(&child, libc::SIGTERM);
    std::thread::sleep(std::time::Duration::from_millis(10));
    send_signal(&child, libc::SIGTERM);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the check went on after Ctrl-C");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let status = child.wait().unwrap();
    said.extend(lines.iter());
    let stderr = said.join("\n");
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("the long-run check stopped by Ctrl-C"),
        "{stderr}"
    );
    assert!(
        stderr.contains("stopped at iteration 1; checkpoint saved"),
        "{stderr}"
    );
    assert!(
        !dir.join("longrun/longrun_0000001.csv").exists(),
        "a stopped check wrote its rows"
    );
    // (Short checks now.)
    let out = resume_train(&dir, None, &["eval.longrun_steps=3"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("iteration 1: long-run check"), "{stderr}");
    assert!(dir.join("longrun/samples_0000001.png").is_file());
    assert!(dir.join("longrun/samples_0000005.png").is_file());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Ctrl-C (SIGINT) saves a checkpoint at the iteration reached and exits
/// with 130; the run then resumes from there. Here the interrupted run
/// replaced another (--force) and stopped before its first scheduled
/// checkpoint: it says where the replaced run is kept, a second --force is
/// refused rather than lose either run, and the resumed run lets the
/// replaced one go at its first scheduled checkpoint.
#[cfg(unix)]
#[test]
fn interrupt_saves_a_checkpoint() {
    let dir = common::fresh_dir("sigint");
    assert!(train_small_toy(&dir, 2, &[]).status.success());
    let aside = dir.join(".replaced-run");
    let replaced_ck = std::fs::read(dir.join("checkpoint.safetensors")).unwrap();
    let mut args = vec![
        "train",
        "--preset",
        "rings-convergent",
        "--iters",
        "100000",
        "--out",
        dir.to_str().unwrap(),
        "--force",
    ];
    args.extend_from_slice(&SMALL_TOY);
    args.extend_from_slice(&["--set", "output.checkpoint_every=1000000"]);
    let child = spawn_ebmscope(&args, std::process::Stdio::piped());
    let metrics = dir.join("metrics.csv");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    // (The replaced run's metrics.csv goes aside before the new run's starts.)
    while !aside.exists()
        || std::fs::read_to_string(&metrics)
            .map(|t| t.lines().count())
            .unwrap_or(0)
            < 3
    {
        assert!(std::time::Instant::now() < deadline, "training did not start");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    send_signal(&child, libc::SIGINT);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("checkpoint saved"), "{stderr}");
    assert!(
        stderr.contains(".replaced-run: to keep it instead, `ebmscope train --out "),
        "{stderr}"
    );
    let ck_path = dir.join("checkpoint.safetensors");
    let ck_bytes = std::fs::read(&ck_path).unwrap();
    let ck = ebmscope::train::Checkpoint::load(&ck_path).unwrap();
    assert!(ck.iteration >= 2);
    assert_eq!(
        rows(&dir).len() as u64,
        ck.iteration + 1,
        "metrics end at the checkpoint"
    );
    common::assert_refused(
        &train_small_toy(&dir, 2, &["--force"]),
        "a --force now would lose one of the two",
    );
    assert_eq!(std::fs::read(&ck_path).unwrap(), ck_bytes);
    assert_eq!(
        std::fs::read(aside.join("checkpoint.safetensors")).unwrap(),
        replaced_ck
    );
    // A plain train says how to put the kept run back; that puts it back
    // whole, the replacement's own files gone (on a copy of the folder).
    common::assert_refused(&train_small_toy(&dir, 2, &[]), "--restore-replaced`");
    let copy = dir.with_file_name(format!("{}-restored", dir.file_name().unwrap().to_string_lossy()));
    let _ = std::fs::remove_dir_all(&copy);
    let copied = std::process::Command::new("cp")
        .arg("-a")
        .args([&dir, &copy])
        .status();
    assert!(copied.unwrap().success());
    // (A file browser's caches in both runs' folders stop nothing.)
    for cache in [
        ".DS_Store",
        ".replaced-run/.DS_Store",
        "pictures/Thumbs.db",
        ".replaced-run/pictures/Thumbs.db",
    ] {
        std::fs::write(copy.join(cache), "a file browser's").unwrap();
    }
    let restore = ["train", "--out", copy.to_str().unwrap(), "--restore-replaced"];
    let out = ebmscope(&restore);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(copy.join(".DS_Store").exists() && copy.join("pictures/Thumbs.db").exists());
    assert_eq!(
        std::fs::read(copy.join("checkpoint.safetensors")).unwrap(),
        replaced_ck
    );
    assert!(!copy.join(".replaced-run").exists());
    let weights = |d: &std::path::Path| -> Vec<String> {
        let mut w: Vec<String> = std::fs::read_dir(d.join("weights"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        w.sort();
        w
    };
    assert_eq!(
        weights(&copy),
        weights(&aside),
        "the replacement's weights are gone"
    );
    common::assert_refused(&ebmscope(&restore), "holds no run a --force replaced");
    let _ = std::fs::remove_dir_all(&copy);
    let out = resume_train(&dir, Some(ck.iteration + 2), &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("the run an earlier --force replaced is kept in")
            && stderr.contains(&format!(
                "stop this run now (Ctrl-C) and put it back with `{}`",
                ebmscope::train::run::restore_command(&dir)
            )),
        "{stderr}"
    );
    assert_eq!(rows(&dir).len() as u64, ck.iteration + 3);
    assert!(
        !aside.exists(),
        "the replaced run outlived the resumed run's checkpoint"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Ctrl-C during an evaluation of toy data stops it within a slice or two
/// of its short run (here 500 chains × 100 000 steps at iteration 0,
/// minutes on lavapipe), saves the checkpoint and says the evaluation is
/// made on resume; the resume makes it, with its picture, before it goes
/// on. So does a resume of a finished run whose last evaluation Ctrl-C
/// stopped, which stops as any other: 130, and the command to go on (but
/// one past that end, where it is no picture iteration: the longer run
/// would not have made it).
#[cfg(unix)]
#[test]
fn interrupt_stops_an_evaluation_and_the_resume_makes_it() {
    use std::io::BufRead;
    let dir = common::fresh_dir("sigint-evaluation");
    let mut args = vec![
        "train",
        "--preset",
        "rings-convergent",
        "--iters",
        "2",
        "--out",
        dir.to_str().unwrap(),
    ];
    args.extend_from_slice(&SMALL_TOY);
    // (A persistent run's evaluation starts from its bank: as large.)
    for set in [
        "langevin.steps=100000",
        "langevin.bank_size=500",
        "eval.kde_samples=500",
        "output.picture_every=1",
    ] {
        args.extend(["--set", set]);
    }
    // Ctrl-C, once the run is said (from then on it is handled), and
    // before its evaluation of iteration 0 ends: everything `train` said.
    let interrupted = |args: &[&str]| -> String {
        let mut child = spawn_ebmscope(args, std::process::Stdio::piped());
        let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        let mut said = String::new();
        while !said.contains("run folder:") {
            assert!(stderr.read_line(&mut said).unwrap() > 0, "{said}");
        }
        send_signal(&child, libc::SIGINT);
        std::io::Read::read_to_string(&mut stderr, &mut said).unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(130), "{said}");
        said
    };
    let said = interrupted(&args);
    assert!(
        said.contains("iteration 0: the evaluation stopped by Ctrl-C (made when the run is resumed)")
            && said.contains("stopped at iteration 0; checkpoint saved"),
        "{said}"
    );
    let picture = |it: u64| dir.join(format!("pictures/density_{it:07}.png"));
    assert!(!picture(0).exists());
    let toy = dir.join("toy_metrics.csv");
    let evaluated = || -> Vec<u64> {
        let rows = ebmscope::train::run::read_toy_metrics(&toy, u64::MAX).unwrap();
        rows.iter().map(|r| r.iteration).collect()
    };
    assert!(evaluated().is_empty());
    // (Fewer steps from here, so that the evaluations end.)
    let out = resume_train(&dir, None, &["langevin.steps=4", "eval.kde_samples=30"]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("iteration 0: TV(p_θ, q) "), "{said}");
    assert_eq!(evaluated(), [0, 1, 2]);
    assert!(picture(0).exists() && picture(2).exists());
    // A finished run whose last evaluation Ctrl-C stopped (its row
    // removed here, as it would be missing): a resume makes it, rather than
    // say there is nothing to do, and a Ctrl-C then stops it as any other.
    let text = std::fs::read_to_string(&toy).unwrap();
    let kept: Vec<&str> = text.lines().take(3).collect();
    std::fs::write(&toy, kept.join("\n") + "\n").unwrap();
    assert_eq!(evaluated(), [0, 1]);
    let resume = ["train", "--out", dir.to_str().unwrap(), "--resume"];
    let endless = ["--set", "langevin.steps=100000", "--set", "eval.kde_samples=500"];
    let said = interrupted(&[&resume[..], &endless[..]].concat());
    assert!(
        said.contains("iteration 2: the evaluation stopped by Ctrl-C")
            && said.contains("stopped at iteration 2; checkpoint saved"),
        "{said}"
    );
    assert_eq!(evaluated(), [0, 1]);
    let out = resume_train(&dir, None, &["langevin.steps=4", "eval.kde_samples=30"]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && said.contains("iteration 2: TV(p_θ, q) "),
        "{said}"
    );
    assert_eq!(evaluated(), [0, 1, 2]);
    let out = resume_train(&dir, None, &[]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && said.contains("nothing to do"), "{said}");
    // A run resumed past an end that was no picture iteration (here 3,
    // with pictures every 2 iterations) goes on as a run planned to the
    // new end would have: the evaluation missed at 3 is not made.
    let _ = std::fs::remove_dir_all(&dir);
    let out = train_small_toy(&dir, 3, &["--set", "output.picture_every=2"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(evaluated(), [0, 2, 3]);
    let text = std::fs::read_to_string(&toy).unwrap();
    std::fs::write(&toy, text.lines().take(3).collect::<Vec<_>>().join("\n") + "\n").unwrap();
    let out = resume_train(&dir, Some(5), &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(evaluated(), [0, 2, 4, 5]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// An absurd learning rate blows the model up: the run stops with a clear
/// message that gives the command to go on from the last checkpoint
/// (before the blow-up), which stays finite and loadable.
#[test]
fn divergence_stops_the_run_and_keeps_the_last_good_checkpoint() {
    let dir = common::fresh_dir("diverge");
    let out = train_small_toy(
        &dir,
        50,
        &[
            "--set",
            "optimizer.lr=1e9",
            "--set",
            "optimizer.lr_min=1e9",
            "--set",
            "output.checkpoint_every=1",
        ],
    );
    common::assert_refused(&out, "diverged");
    let ck = ebmscope::train::Checkpoint::load(&dir.join("checkpoint.safetensors")).unwrap();
    assert!(ck.iteration < 50);
    let go_on = format!(
        "To go on from the run's checkpoint (iteration {}) with a smaller learning rate or step size: \
         ebmscope train --out {} --resume --set optimizer.lr=…",
        ck.iteration,
        dir.display()
    );
    common::assert_refused(&out, &go_on);
    assert!(
        ck.params.iter().all(|v| v.is_finite()),
        "the kept checkpoint is the last good one"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A checkpoint saved within the watch's warm-up can hold a model already
/// out of bounds (parameters ~1e9 after a rate of 5): a resume then diverges
/// at its first iteration whatever the rate, and the message says the
/// checkpoint itself may be broken (it only suggested a smaller rate).
#[test]
fn a_resume_that_diverges_at_once_says_the_checkpoint_may_be_broken() {
    let dir = common::fresh_dir("diverge-at-once");
    let rate = ["--set", "optimizer.lr=5", "--set", "output.checkpoint_every=3"];
    let out = train_small_toy(&dir, 20, &rate);
    common::assert_refused(&out, "learning diverged at iteration 4");
    common::assert_refused(&out, "To go on from the run's checkpoint (iteration 3)");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("first iteration from that checkpoint"));
    let out = common::resume_train(&dir, None, &["optimizer.lr=1e-9"]);
    common::assert_refused(&out, "learning diverged at iteration 4");
    common::assert_refused(
        &out,
        "This was the first iteration from that checkpoint: if a smaller rate or step diverges there \
         too, its model itself is broken (its largest parameter is ",
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A learning step that leaves the parameters infinite is a divergence too,
/// though the watch saw the iteration's energies (taken before the update)
/// pass: the checkpoint due then is not written, the one before stays.
#[test]
fn a_learning_step_that_leaves_infinite_parameters_is_not_saved() {
    let dir = common::fresh_dir("diverge-update");
    assert!(train_small_toy(&dir, 2, &[]).status.success());
    // (The change of rate is saved with the checkpoint of iteration 2 at once.
    // SGD's rate is scaled by T = ε²/2 = 2: 6e38 is past f32's largest.)
    let out = common::resume_train(&dir, Some(3), &["optimizer.lr=3e38", "langevin.epsilon=2"]);
    common::assert_refused(
        &out,
        "learning diverged at iteration 3: its learning step left parameter",
    );
    common::assert_refused(&out, "To go on from the run's checkpoint (iteration 2)");
    let ck = ebmscope::train::Checkpoint::load(&dir.join("checkpoint.safetensors")).unwrap();
    assert_eq!(ck.iteration, 2);
    assert!(ck.params.iter().all(|v| v.is_finite()));
    assert!(!dir.join("weights/weights_0000003.safetensors").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// A trainer whose iteration diverged holds that step and refuses to be
/// captured (saved, or sampled from) until a checkpoint is restored into it.
#[test]
fn a_checkpoint_restored_into_a_diverged_trainer_lifts_its_refusal() {
    use ebmscope::train::Checkpoint;
    let gpu = Arc::new(common::gpu());
    let blows_up = ["optimizer.lr=1e9", "optimizer.lr_min=1e9", "iterations=50"];
    let mut t = Trainer::new(gpu, config("rings-convergent", &blows_up)).unwrap();
    t.step().unwrap();
    let good = Checkpoint::capture(&t).unwrap();
    let diverged = (0..50).find_map(|_| t.step().err()).expect("lr = 1e9 diverges");
    assert!(
        diverged.to_string().starts_with("learning diverged"),
        "{diverged}"
    );
    let refused = Checkpoint::capture(&t).unwrap_err().to_string();
    assert!(
        refused.contains(&format!(
            "the model holds the step of iteration {}",
            t.iteration + 1
        )),
        "{refused}"
    );
    good.restore(&mut t).unwrap();
    let again = Checkpoint::capture(&t).unwrap();
    assert_eq!((again.iteration, &again.params), (1, &good.params));
}

/// lr ← max(lr_min, lr · lr_decay) after each iteration; events report the lr used.
#[test]
fn learning_rate_decays_to_its_floor() {
    let gpu = Arc::new(common::gpu());
    let mut t = Trainer::new(
        gpu,
        config(
            "rings-convergent",
            &["optimizer.lr_decay=0.5", "optimizer.lr_min=0.03"],
        ),
    )
    .unwrap();
    let lrs: Vec<f64> = (0..4).map(|_| t.step().unwrap().lr).collect();
    assert_eq!(lrs, vec![0.1, 0.05, 0.03, 0.03]);
}

/// The divergence watch compares d_st = ΔF/T in the units of the current
/// T: after ε falls 1000× (T = ε²/2, 10⁶× lower), the next d_st is 10⁶×
/// the history's (more than the watch's factor of 10⁴ over their median,
/// checked here), yet no runaway: the history is rescaled to the new T.
#[test]
fn the_divergence_watch_follows_a_change_of_temperature() {
    let gpu = Arc::new(common::gpu());
    let mut t = Trainer::new(gpu, config("rings-convergent", &[])).unwrap();
    t.step().unwrap();
    // 150 iterations like the first (forged: the watch's warm-up is 100).
    let past = 150;
    let before = t.d_st[0];
    assert!(before != 0.0, "a median of 0 would trip nothing");
    t.d_st = vec![before; past];
    t.r_t = vec![t.r_t[0]; past];
    t.iteration = past as u64;
    let epsilon = t.config.langevin.epsilon;
    t.apply(ebmscope::train::Change::Epsilon(epsilon / 1000.0))
        .unwrap();
    let e = t.step().unwrap();
    assert!(
        e.d_st.abs() > 1e4 * before.abs(),
        "d_st {} against {before} before: the change would not have tripped an unscaled watch",
        e.d_st
    );
    // The same from a run's history, as a resume or the window's Load go on
    // from it: 150 iterations at 1000 ε (d_st 10⁶× smaller), then the change
    // to ε that changes.csv records.
    use ebmscope::train::{Change, watch_rescales};
    let mut t = Trainer::new(t.gpu.clone(), config("rings-convergent", &[])).unwrap();
    t.step().unwrap();
    let (d, r) = (t.d_st[0], t.r_t[0]);
    // (Its first step is the same as those below: the same seed and model.)
    let change = (
        past as u64,
        Change::Epsilon(1000.0 * epsilon),
        Change::Epsilon(epsilon),
    );
    let rescales = watch_rescales(&t.config, &[change]);
    assert_eq!(rescales.len(), 1);
    assert_eq!(rescales[0].0, past as u64);
    assert!(
        (rescales[0].1 / 1e6 - 1.0).abs() < 1e-9,
        "T before / T after: {}",
        rescales[0].1
    );
    let from_history = |rescales: Vec<(u64, f64)>| {
        let mut t = Trainer::new(t.gpu.clone(), config("rings-convergent", &[])).unwrap();
        t.step().unwrap();
        t.set_history(vec![1e-6 * d; past], vec![r; past], rescales, 0.0);
        t.iteration = past as u64;
        t.step()
    };
    from_history(rescales).unwrap();
    // Without the rescale, the same history trips the watch.
    let unscaled = from_history(Vec::new()).unwrap_err().to_string();
    assert!(unscaled.contains("d_st ran away"), "{unscaled}");
}

/// The long-run tests' start: a checkpoint of a rings-convergent model
/// after one iteration.
fn long_run_checkpoint(gpu: &Arc<ebmscope::gpu::Gpu>) -> ebmscope::train::Checkpoint {
    let mut t = Trainer::new(gpu.clone(), config("rings-convergent", &[])).unwrap();
    t.step().unwrap();
    ebmscope::train::Checkpoint::capture(&t).unwrap()
}

/// Long-run options of `steps` on `LONG_RUN_CHAIN_COUNT` chains from uniform
/// noise, a row every `every` steps.
fn long_run_options(steps: u64, every: u64, mala: bool) -> ebmscope::train::longrun::LongRunOptions {
    ebmscope::train::longrun::LongRunOptions {
        steps,
        chains: LONG_RUN_CHAIN_COUNT,
        from: ebmscope::train::longrun::ChainStart::Fresh(ebmscope::train::longrun::LongRunInit::Uniform),
        mala,
        temp_factor: 1.0,
        epsilon: None,
        every,
        data_noise: false,
    }
}
const LONG_RUN_CHAIN_COUNT: usize = 6;

/// An evaluation ε (the reference's eval `epsilon`) steps by ε²/2Tf and ε
/// with T the checkpoint's; without one, a factor f keeps the gradient step
/// and scales the noise. MALA accepts more of the smaller steps.
#[test]
fn an_evaluation_epsilon_keeps_the_models_temperature() {
    use ebmscope::train::longrun::long_run;
    let gpu = Arc::new(common::gpu());
    let ck = long_run_checkpoint(&gpu);
    let (eps, t) = (ck.config.langevin.epsilon, ck.config.temperature());
    let close = |a: f32, b: f64| ((f64::from(a) - b) / b).abs() < 1e-6;
    let mut opts = long_run_options(40, 40, true);
    opts.temp_factor = 0.5;
    let tempered = opts.step_size(&ck);
    assert!(close(tempered.gradient_factor(), eps * eps / (2.0 * t)));
    assert!(close(tempered.noise_factor(), eps * 0.5f64.sqrt()));
    opts.epsilon = Some(0.3 * eps);
    let own = opts.step_size(&ck);
    assert!(close(own.gradient_factor(), 0.09 * eps * eps / (2.0 * t * 0.5)));
    assert!(close(own.noise_factor(), 0.3 * eps));
    opts.temp_factor = 1.0;
    let acceptance = |epsilon: f64| {
        let opts = ebmscope::train::longrun::LongRunOptions {
            epsilon: Some(epsilon),
            ..opts.clone()
        };
        let rows = long_run(&gpu, &ck, None, &opts, |_, _| Ok(()), &mut |_, _, _| Ok(())).unwrap();
        rows.last().unwrap().acceptance.unwrap()
    };
    // (Here 1, 0.954 and 0.758 of 240 proposals.)
    let rates: Vec<f64> = [0.25, 4.0, 16.0].iter().map(|f| acceptance(f * eps)).collect();
    eprintln!("MALA acceptance at ε × 0.25, 4, 16: {rates:?}");
    assert!(rates[0] > rates[1] && rates[1] > rates[2], "{rates:?}");
    // Refused before any work: an ε that is no step, or one f32 cannot hold.
    for (bad, why) in [
        (0.0, "--epsilon must be a positive number"),
        (1e-30, "out of f32's range"),
    ] {
        opts.epsilon = Some(bad);
        let e = opts.check(&ck).unwrap_err().to_string();
        assert!(e.contains(why), "{e}");
    }
}

/// Each long-run row's mean energy is U = F/T at the states it comes with,
/// after Langevin steps and after MALA's: not where the last step started
/// (Langevin's field holds F there, one step behind). The same kernels
/// evaluate both, so they agree to rounding in the sum.
#[test]
fn long_run_rows_give_the_energy_of_their_states() {
    use ebmscope::model::{Backward, GpuNet};
    use ebmscope::train::longrun::long_run;
    let gpu = Arc::new(common::gpu());
    let chains = LONG_RUN_CHAIN_COUNT;
    let ck = long_run_checkpoint(&gpu);
    let net = GpuNet::new(&gpu, &ebmscope::train::net_spec(&ck.config).unwrap(), chains).unwrap();
    net.write_params(&gpu, &ck.params).unwrap();
    let temperature = ck.config.temperature();
    for mala in [false, true] {
        let opts = long_run_options(9, 4, mala);
        let mut rows = Vec::new();
        let record = |row: &ebmscope::train::longrun::LongRunRow, states: &[f32]| {
            net.write_input(&gpu, states)?;
            net.run(
                &gpu,
                Backward {
                    input: false,
                    params: false,
                },
            );
            let f = net.read_output(&gpu)?;
            let u = f.iter().map(|&v| f64::from(v)).sum::<f64>() / (chains as f64 * temperature);
            rows.push((row.step, row.mean_energy, u));
            Ok(())
        };
        long_run(&gpu, &ck, None, &opts, record, &mut |_, _, _| Ok(())).unwrap();
        assert_eq!(rows.iter().map(|r| r.0).collect::<Vec<_>>(), [0, 4, 8, 9]);
        for (step, reported, u) in rows {
            assert!(
                (reported - u).abs() <= 1e-5 * u.abs().max(1.0),
                "mala {mala}, step {step}: reported U {reported}, U of the states {u}"
            );
        }
    }
}

/// Long runs from the checkpoints of two iterations start from fresh
/// states, as the reference's periodic long-run checks draw a new batch
/// each time (the seed that draws them also keys the chains' noise); from
/// one checkpoint, the same again.
#[test]
fn long_runs_draw_afresh_at_each_iteration() {
    use ebmscope::train::longrun::long_run;
    let gpu = Arc::new(common::gpu());
    let (ck, opts) = (long_run_checkpoint(&gpu), long_run_options(1, 1, false));
    let starts = |ck: &ebmscope::train::Checkpoint| {
        let mut first = None;
        let record = |_: &ebmscope::train::longrun::LongRunRow, states: &[f32]| {
            first.get_or_insert_with(|| states.to_vec());
            Ok(())
        };
        long_run(&gpu, ck, None, &opts, record, &mut |_, _, _| Ok(())).unwrap();
        first.unwrap()
    };
    let later = ebmscope::train::Checkpoint {
        iteration: ck.iteration + 1,
        ..ck.clone()
    };
    assert_eq!(starts(&ck), starts(&ck), "the same checkpoint, the same run");
    assert_ne!(starts(&ck), starts(&later), "another iteration, other starts");
}

/// Where stderr is no terminal (here a pipe, as in a log or a notebook),
/// long work says how far it has got in plain lines, as often as
/// EBMSCOPE_PROGRESS_SECONDS asks (every update at 0); a bad value is
/// named and the default used.
#[test]
fn long_work_says_how_far_it_got_where_no_bar_is_drawn() {
    let dir = common::fresh_dir("progress-lines");
    let run = |args: &[&str], seconds: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ebmscope"))
            .args(args)
            .env("EBMSCOPE_PROGRESS_SECONDS", seconds)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let mut train = vec![
        "train",
        "--preset",
        "rings-convergent",
        "--iters",
        "3",
        "--out",
        dir.to_str().unwrap(),
    ];
    train.extend(SMALL_TOY);
    let said = run(&train, "0");
    for line in ["training: 1/3 (33 %), ", "training: 3/3 (100 %), "] {
        assert!(said.contains(line), "no `{line}` in:\n{said}");
    }
    assert!(said.contains(" to go; d_st "), "{said}");
    let ck = dir.join("checkpoint.safetensors");
    let sample = [
        "sample",
        "--checkpoint",
        ck.to_str().unwrap(),
        "--steps",
        "4",
        "--every",
        "2",
        "--chains",
        "8",
    ];
    let said = run(&sample, "0");
    assert!(said.contains("sampling: 4/4 (100 %), "), "{said}");
    // The latest row recorded, with its step (the bar has moved past it).
    assert!(
        said.contains("sampling: 4/4 (100 %), ") && said.contains(" to go; at step 2: U "),
        "{said}"
    );
    // The default, 30 s, says nothing in a run this short.
    let said = run(&[&sample[..], &["--force"]].concat(), "soon");
    assert!(
        said.contains("warning: EBMSCOPE_PROGRESS_SECONDS `soon` is not a number of seconds ≥ 0: 30 used")
            && !said.contains("sampling: "),
        "{said}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The step of the last row of a long run's rows (longrun.csv's text).
fn last_row_step(rows: &str) -> u64 {
    let last = rows.lines().last().unwrap_or_default();
    last.split(',')
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("{rows}"))
}

/// `energy` of the toy model in `ck` at the points of `input`, into `output`.
fn toy_energy(
    ck: &std::path::Path,
    input: &std::path::Path,
    output: &std::path::Path,
) -> std::process::Output {
    let path = |p: &std::path::Path| p.to_str().unwrap().to_string();
    ebmscope(&[
        "energy",
        "--net",
        "toy",
        "--weights",
        &path(ck),
        "--input",
        &path(input),
        "--output",
        &path(output),
    ])
}

/// A long run's chains.safetensors holds its chains ([chains, 2] points
/// here) at its last row, and `sample --from-chains` goes on from them: its
/// rows numbered on from their step, and, from the same checkpoint, the
/// very states one longer run reaches (Langevin and MALA, bit for bit; the
/// first chains of the file alone with fewer --chains). Files that cannot
/// be gone on from are refused before anything is written.
#[test]
fn a_long_run_goes_on_from_its_saved_chains() {
    let dir = common::fresh_dir("from-chains");
    let trained = train_small_toy(&dir, 2, &[]);
    assert!(trained.status.success());
    let ck = dir.join("checkpoint.safetensors");
    let sample = |out: &str, extra: &[&str]| {
        let out_dir = dir.join(out);
        let mut args = vec![
            "sample",
            "--checkpoint",
            ck.to_str().unwrap(),
            "--out",
            out_dir.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        ebmscope(&args)
    };
    let chains_of = |out: &str| {
        let path = dir.join(out).join("chains.safetensors");
        let step = ebmscope::io::read_metadata(&path).unwrap()["step"].clone();
        (ebmscope::io::read_tensor(&path, "x").unwrap(), step)
    };
    let steps_of = |out: &str| common::csv_first_column(&dir.join(out).join("longrun.csv"));
    let ok = |out: std::process::Output| {
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    for mala in [&[][..], &["--mala"][..]] {
        fn joined<'a>(a: &[&'a str], b: &[&'a str]) -> Vec<&'a str> {
            [a, b].concat()
        }
        let whole = |extra| joined(extra, mala);
        ok(sample(
            "full",
            &whole(&["--chains", "16", "--steps", "20", "--every", "10", "--force"]),
        ));
        ok(sample(
            "half",
            &whole(&["--chains", "16", "--steps", "10", "--every", "10", "--force"]),
        ));
        let half = dir.join("half/chains.safetensors");
        let said = ok(sample(
            "rest",
            &whole(&[
                "--from-chains",
                half.to_str().unwrap(),
                "--steps",
                "10",
                "--every",
                "5",
                "--force",
            ]),
        ));
        assert!(
            said.contains(&format!(
                "steps from {} at step 10 on 16 chains",
                std::path::Path::new("half").join("chains.safetensors").display()
            )),
            "{said}"
        );
        let (full, full_step) = chains_of("full");
        assert_eq!((full.shape.as_slice(), full_step.as_str()), (&[16, 2][..], "20"));
        let (rest, rest_step) = chains_of("rest");
        assert_eq!(rest_step, "20");
        assert_eq!(rest.data, full.data, "mala: {}", !mala.is_empty());
        assert_eq!(steps_of("rest"), ["10", "15", "20"]);
        // The start row is the saved chains' state: no step taken there yet.
        let rest_csv = std::fs::read_to_string(dir.join("rest/longrun.csv")).unwrap();
        assert!(
            rest_csv.lines().nth(1).unwrap().starts_with("10,")
                && rest_csv.lines().nth(1).unwrap().split(',').nth(2) == Some(""),
            "{rest_csv}"
        );
        let settings = common::read_toml(&dir.join("rest/longrun.toml"));
        assert_eq!(settings["from_step"].as_integer(), Some(10));
        assert!(
            settings["from_chains"]
                .as_str()
                .unwrap()
                .ends_with("chains.safetensors")
        );
        assert!(settings.get("init").is_none(), "{settings}");
        // The file says what moved its chains: all alike here.
        assert_eq!(settings["continues_as_one_run"].as_bool(), Some(true));
        assert!(!said.contains("note:"), "{said}");
    }
    // `energy` reads the file as it is: its chains' mean F/T is the last
    // row's mean energy (summed in another order: to f32 rounding).
    let energies = dir.join("energies.safetensors");
    let chains = dir.join("full/chains.safetensors");
    ok(toy_energy(&ck, &chains, &energies));
    let f = ebmscope::io::read_tensor(&energies, "energy").unwrap().data;
    let temperature = ebmscope::train::Checkpoint::load(&ck)
        .unwrap()
        .config
        .temperature();
    let mean_u = f.iter().map(|&v| f64::from(v)).sum::<f64>() / (f.len() as f64 * temperature);
    let csv = std::fs::read_to_string(dir.join("full/longrun.csv")).unwrap();
    let last: f64 = csv
        .lines()
        .last()
        .unwrap()
        .split(',')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (mean_u - last).abs() < 1e-5 * last.abs(),
        "{mean_u} against {last}"
    );
    // Fewer chains: the file's first, which go as the first of the 16 did.
    let half = dir.join("half/chains.safetensors");
    let half_s = half.to_str().unwrap();
    ok(sample(
        "full",
        &["--chains", "16", "--steps", "20", "--every", "10", "--force"],
    ));
    ok(sample(
        "half",
        &["--chains", "16", "--steps", "10", "--every", "10", "--force"],
    ));
    ok(sample(
        "eight",
        &["--from-chains", half_s, "--chains", "8", "--steps", "10"],
    ));
    let (eight, _) = chains_of("eight");
    assert_eq!(eight.shape, [8, 2]);
    assert_eq!(eight.data, chains_of("full").0.data[..16]);
    let settings = common::read_toml(&dir.join("eight/longrun.toml"));
    assert_eq!(settings["continues_as_one_run"].as_bool(), Some(true));
    // The file records what moved its chains: the weights by a CRC-32 of
    // their values, as the GPU took them.
    let made = ebmscope::io::read_metadata(&half).unwrap();
    let params = ebmscope::train::Checkpoint::load(&ck).unwrap().params;
    assert_eq!(
        made["model_crc32"],
        format!("{:08x}", crc32fast::hash(bytemuck::cast_slice(&params)))
    );
    assert_eq!(made["sampler"], "langevin");
    // Going on otherwise than the chains were moved is allowed, said and
    // recorded: another sampler and ε; the same weights at another
    // iteration (weights alone are at 0), whose noise is seeded otherwise;
    // other weights (the file's record of them edited, as chains of
    // another checkpoint would have it).
    let said = ok(sample(
        "other",
        &[
            "--from-chains",
            half_s,
            "--mala",
            "--epsilon",
            "0.01",
            "--temp-factor",
            "0.5",
            "--steps",
            "2",
        ],
    ));
    let settings = common::read_toml(&dir.join("other/longrun.toml"));
    assert_eq!(settings["continues_as_one_run"].as_bool(), Some(false));
    let step = |key: &str| settings[key].as_float().unwrap() as f32;
    let note = |what: &str| {
        format!(
            "note: the chains of {} at step 10 were moved otherwise than this run moves them, in \
             {what}: it goes on from them, but is not one longer run",
            std::path::Path::new("half").join("chains.safetensors").display()
        )
    };
    let temperature = ebmscope::train::Checkpoint::load(&ck)
        .unwrap()
        .config
        .temperature();
    let expected = note(&format!(
        "the sampler (Langevin there, MALA here), the gradient step ({} there, {} here), the noise ({} \
         there, {} here), the temperature T·f ({} there, {} here)",
        made["gradient_step"],
        step("gradient_step"),
        made["noise"],
        step("noise"),
        made["temperature"],
        (temperature * 0.5) as f32,
    ));
    assert!(said.contains(&expected), "{said}\nexpected: {expected}");
    // (Copied out of the run: weights alone, as PyTorch's are.)
    let weights = dir.join("loose-weights.safetensors");
    std::fs::copy(dir.join("weights/weights_0000002.safetensors"), &weights).unwrap();
    let config = dir.join("config.toml");
    let said = ok(ebmscope(&[
        "sample",
        "--checkpoint",
        weights.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        "--from-chains",
        half_s,
        "--steps",
        "2",
        "--out",
        dir.join("other").to_str().unwrap(),
        "--force",
    ]));
    let expected = note("the noise's seed (the checkpoint's iteration or seed)");
    assert!(said.contains(&expected), "{said}\nexpected: {expected}");
    let edited = |name: &str, key: &str, value: Option<&str>| {
        let path = dir.join(name);
        let mut metadata = made.clone();
        metadata.retain(|k, _| !k.starts_with("crc32"));
        match value {
            Some(value) => metadata.insert(key.into(), value.into()),
            None => metadata.remove(key),
        };
        let x = ebmscope::io::read_tensor(&half, "x").unwrap();
        ebmscope::io::write_tensors_with_metadata(&path, &[x], Some(metadata)).unwrap();
        path
    };
    let other_model = edited("other-model.safetensors", "model_crc32", Some("00000000"));
    let said = ok(sample(
        "other",
        &[
            "--from-chains",
            other_model.to_str().unwrap(),
            "--steps",
            "2",
            "--force",
        ],
    ));
    assert!(
        said.contains("in the model (other weights): it goes on"),
        "{said}"
    );
    // Some of the record without the rest is refused, as is a value it
    // cannot hold; none of it (a file made otherwise) goes on, unremarked
    // and unrecorded (below).
    for (key, value, says) in [
        (
            "noise",
            None,
            "its metadata records what moved the chains (model_crc32, adapter, sampler, gradient_step, \
             noise, temperature, noise_seed) but not `noise`: put it back, or remove the record's other \
             keys to go on from the chains without it",
        ),
        (
            "step",
            None,
            "its metadata records what moved the chains (model_crc32, adapter, sampler, gradient_step, \
             noise, temperature, noise_seed) but not their `step`: put it back, or remove that record \
             to go on from step 0",
        ),
        (
            "sampler",
            Some("gibbs"),
            "its metadata's `sampler` is `gibbs`, not langevin or mala",
        ),
        (
            "temperature",
            Some("warm"),
            "its metadata's `temperature` is `warm`, not a number",
        ),
    ] {
        let part = edited("part.safetensors", key, value);
        common::assert_refused(
            &sample("refused", &["--from-chains", part.to_str().unwrap()]),
            says,
        );
        assert!(!dir.join("refused").exists());
    }
    // Without --out, beside the checkpoint as longrun_from_<source>_<step>:
    // going on again from there writes a folder of its own.
    let ck_s = ck.to_str().unwrap();
    let go_on = |from: &str| {
        ebmscope(&[
            "sample",
            "--checkpoint",
            ck_s,
            "--from-chains",
            from,
            "--steps",
            "2",
        ])
    };
    ok(go_on(half_s));
    assert_eq!(steps_of("longrun_from_half_10"), ["10", "11", "12"]);
    let twelve = dir.join("longrun_from_half_10/chains.safetensors");
    ok(go_on(twelve.to_str().unwrap()));
    assert_eq!(steps_of("longrun_from_half_12"), ["12", "13", "14"]);
    // Nor does --out name the folder of the file it reads, --force or not.
    for force in [&[][..], &["--force"][..]] {
        let out = sample(
            "longrun_from_half_10",
            &[
                &["--from-chains", twelve.to_str().unwrap(), "--steps", "2"][..],
                force,
            ]
            .concat(),
        );
        common::assert_refused(
            &out,
            &format!(
                "is the chains file of {}, which this long run writes and would replace: choose another \
                 --out",
                dir.join("longrun_from_half_10").display()
            ),
        );
    }
    assert_eq!(steps_of("longrun_from_half_10"), ["10", "11", "12"]);
    // By default too (chains at step 5 in longrun_from_half_5, as a
    // continuation stopped before its first row leaves them), through a
    // link as well.
    let at_five = dir.join("longrun_from_half_5/chains.safetensors");
    std::fs::create_dir_all(at_five.parent().unwrap()).unwrap();
    // (16 chains at one point: the landscape below starts from them.)
    let one_point = ebmscope::io::Tensor {
        name: "x".into(),
        shape: vec![16, 2],
        data: [0.3f32, -0.2].repeat(16),
    };
    let step_five = [("step".to_string(), "5".to_string())].into();
    ebmscope::io::write_tensors_with_metadata(&at_five, &[one_point], Some(step_five)).unwrap();
    #[cfg(unix)]
    let paths = {
        let link = dir.join("link.safetensors");
        std::os::unix::fs::symlink(&at_five, &link).unwrap();
        vec![at_five.clone(), link]
    };
    #[cfg(not(unix))]
    let paths = vec![at_five.clone()];
    for path in paths {
        common::assert_refused(
            &go_on(path.to_str().unwrap()),
            "which this long run writes and would replace: pass --out DIR to write it elsewhere",
        );
    }
    // A file that does not say what moved its chains goes on unremarked.
    let said = ok(sample(
        "unsaid",
        &["--from-chains", at_five.to_str().unwrap(), "--steps", "2"],
    ));
    assert!(!said.contains("note:"), "{said}");
    let settings = common::read_toml(&dir.join("unsaid/longrun.toml"));
    assert!(settings.get("continues_as_one_run").is_none(), "{settings}");

    // The landscape's descents start from saved chains too: by default all
    // of the file's (up to 64), recorded in landscape.toml.
    let landscape_from = |file: &std::path::Path, args: &[&str]| {
        let from = [
            "landscape",
            "--checkpoint",
            ck_s,
            "--from-chains",
            file.to_str().unwrap(),
        ];
        ebmscope(&[&from[..], args].concat())
    };
    let from = dir.join("full/chains.safetensors");
    let map = dir.join("map");
    let short = ["--descent-steps", "4", "--ad-steps", "4"];
    let mapped = ok(landscape_from(
        &from,
        &[&short[..], &["--out", map.to_str().unwrap()]].concat(),
    ));
    assert!(
        mapped.contains(&format!(
            "descent from 16 states of {} at step 20 (4 steps)",
            std::path::Path::new("full").join("chains.safetensors").display()
        )),
        "{mapped}"
    );
    let settings = common::read_toml(&dir.join("map/landscape.toml"));
    assert_eq!(settings["starts"].as_integer(), Some(16));
    assert_eq!(settings["from_step"].as_integer(), Some(20));
    assert!(settings.get("init").is_none(), "{settings}");
    // Its descents start from the file's states: 16 at one point end at one
    // minimum, all 16 there (by default in landscape_from_<source>_<step>).
    let mapped = ok(landscape_from(&at_five, &["--descent-steps", "4"]));
    let minima = std::fs::read_to_string(dir.join("landscape_from_half_5/minima.csv")).unwrap();
    assert_eq!(minima.lines().count(), 2, "{mapped}\n{minima}");
    assert_eq!(
        minima.lines().nth(1).unwrap().split(',').nth(2),
        Some("16"),
        "{minima}"
    );
    let too_many = landscape_from(
        &from,
        &["--starts", "17", "--out", dir.join("map2").to_str().unwrap()],
    );
    common::assert_refused(&too_many, "--starts 17: ");
    assert!(!dir.join("map2").exists());
    // A file of one chain gives no landscape of its own starts.
    let single = dir.join("single.safetensors");
    common::write_one_chain(&single);
    let one_start = landscape_from(&single, &[]);
    common::assert_refused(
        &one_start,
        "holds one chain, and a landscape starts from 2 states at least: save more chains (sample --chains)",
    );
    assert!(!dir.join("landscape_from_single_0").exists());

    // Refused, naming the file and what is wrong, before any folder is made.
    let bad = |name: &str, x: Option<(Vec<usize>, Vec<f32>)>, step: Option<&str>| {
        let path = dir.join(name);
        let mut metadata = std::collections::HashMap::new();
        if let Some(step) = step {
            metadata.insert("step".to_string(), step.to_string());
        }
        let tensor = match x {
            Some((shape, data)) => ebmscope::io::Tensor {
                name: "x".into(),
                shape,
                data,
            },
            None => ebmscope::io::Tensor {
                name: "states".into(),
                shape: vec![2, 2],
                data: vec![0.0; 4],
            },
        };
        ebmscope::io::write_tensors_with_metadata(&path, &[tensor], Some(metadata)).unwrap();
        path
    };
    let cases = [
        (
            bad("no-x.safetensors", None, None),
            &[][..],
            "holds no tensor `x`, the chains",
        ),
        (
            bad("three.safetensors", Some((vec![4, 3], vec![0.0; 12])), None),
            &[][..],
            "tensor `x` has shape [4, 3]; this model's chains are [chains, 2], at least one",
        ),
        (
            bad(
                "nan.safetensors",
                Some((vec![2, 2], vec![0.0, 0.0, f32::NAN, 0.0])),
                None,
            ),
            &[][..],
            "tensor `x` holds NaN at element 2 (chain 1): chains that diverged cannot go on",
        ),
        (
            bad("step.safetensors", Some((vec![2, 2], vec![0.0; 4])), Some("ten")),
            &[][..],
            "its metadata's step `ten` is not a number of steps below 4294967295, the last the noise \
             counter tells apart",
        ),
        (
            bad(
                "late.safetensors",
                Some((vec![2, 2], vec![0.0; 4])),
                Some("4294967290"),
            ),
            &["--steps", "10"][..],
            "--steps must be at most 5 going on from step 4294967290",
        ),
        (half.clone(), &["--chains", "17"][..], "--chains 17: "),
    ];
    for (file, extra, says) in cases {
        let out = sample(
            "refused",
            &[&["--from-chains", file.to_str().unwrap()][..], extra].concat(),
        );
        common::assert_refused(&out, says);
        assert!(!dir.join("refused").exists(), "{says}");
    }
    let out = sample("refused", &["--from-chains", half_s, "--init", "bank"]);
    common::assert_refused(&out, "--from-chains");
    // A file whose chains were edited since: its CRC-32 says so.
    let edited = dir.join("edited.safetensors");
    let mut bytes = std::fs::read(&half).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&edited, bytes).unwrap();
    let out = sample("refused", &["--from-chains", edited.to_str().unwrap()]);
    common::assert_refused(&out, "its tensors are not those ebmscope saved");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `sample` takes a checkpoint through a long run: CSV rows at 0, every K
/// steps and the end, MALA's acceptance, pictures; existing results are
/// not overwritten without --force; a bank start needs a bank.
#[test]
fn long_run_sampling_from_a_checkpoint() {
    let dir = common::fresh_dir("sample");
    let trained = train_small_toy(&dir, 2, &[]);
    assert!(trained.status.success());
    // (Training's TV(KDE, q) is given beside its floor too.)
    let said = String::from_utf8_lossy(&trained.stderr);
    assert!(
        said.contains("TV(KDE, q) ") && said.contains(" points: "),
        "{said}"
    );
    let ck = dir.join("checkpoint.safetensors");
    let sample = |extra: &[&str]| {
        let mut args = vec![
            "sample",
            "--checkpoint",
            ck.to_str().unwrap(),
            "--steps",
            "25",
            "--every",
            "10",
            "--chains",
            "16",
        ];
        args.extend_from_slice(extra);
        ebmscope(&args)
    };
    // The run's ε and T, for the step its long runs record.
    let config = common::read_toml(&dir.join("config.toml"));
    let langevin = config["langevin"].as_table().unwrap();
    let epsilon = langevin["epsilon"].as_float().unwrap();
    let temperature = match langevin["form"].as_str().unwrap() {
        "invariant" => epsilon * epsilon / 2.0,
        _ => langevin["temperature"].as_float().unwrap(),
    };
    let runs = [
        (&[][..], "longrun_data"),
        (&["--mala", "--init", "bank"][..], "longrun_bank_mala"),
        (
            &["--init", "uniform", "--epsilon", "0.02", "--temp-factor", "0.5"][..],
            "longrun_uniform",
        ),
    ];
    // The floor under the chains' TV: a KDE of 16 points of q itself, at
    // the run's grid and bandwidth.
    let (floor, bandwidth) = {
        use ebmscope::data::toy::{Grid, Toy, kde_floor};
        let c = ebmscope::train::Checkpoint::load(&ck).unwrap().config;
        let toy = Toy::new(&c.data).unwrap();
        let grid = Grid {
            res: c.eval.grid as usize,
            extent: toy.extent(),
        };
        let bandwidth = c.eval.kde_bandwidth;
        (
            kde_floor(&toy, &grid, &grid.truth(&toy), 16, bandwidth),
            bandwidth,
        )
    };
    for (extra, folder) in runs {
        let out = sample(extra);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let said = format!(
            "a KDE of 16 chains (eval.kde_bandwidth {bandwidth}): as many points drawn from q itself score \
             {floor:.3}, about the least to expect"
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(&said), "{folder}: no `{said}`");
        // Where it ended, its TV beside the floor, from its last CSV row.
        let csv = std::fs::read_to_string(dir.join(folder).join("longrun.csv")).unwrap();
        let last: Vec<&str> = csv.lines().last().unwrap().split(',').collect();
        let energy = ebmscope::config::rounded(last[1].parse().unwrap());
        let tv: f64 = last[4].parse().unwrap();
        let ending = format!("at step 25: mean energy U {energy} (");
        let line = stderr.lines().find(|l| l.starts_with(&ending));
        let floor_text = format!(" (q's own 16 points: {floor:.3})");
        // (The CSV holds 4 digits, the line 3: each rounded from the same TV.)
        let said_tv = line
            .and_then(|l| l.strip_suffix(&floor_text)?.rsplit_once(", TV(samples, q) "))
            .and_then(|(_, tv)| tv.parse::<f64>().ok());
        assert!(
            said_tv.is_some_and(|t| (t - tv).abs() <= 0.00055),
            "{folder}: no `{ending}` … TV {tv:.3}{floor_text} in {stderr}"
        );
        // Small steps from uniform starts in the square keep every chain on it.
        if folder == "longrun_uniform" {
            assert!(!stderr.contains("chains ended off the square"), "{stderr}");
        }
        // What made it, beside it: the options and the step they gave.
        let settings = common::read_toml(&dir.join(folder).join("longrun.toml"));
        let (gradient_step, noise, from) = if folder == "longrun_uniform" {
            (0.02 * 0.02 / (2.0 * temperature * 0.5), 0.02, "--epsilon")
        } else {
            (epsilon * epsilon / (2.0 * temperature), epsilon, "checkpoint")
        };
        let close = |key: &str, want: f64| {
            let got = settings[key].as_float().unwrap();
            // (The GPU takes the step in f32.)
            assert!(
                (got - want).abs() <= 1e-6 * want,
                "{folder}: {key} {got}, not {want}"
            );
        };
        close("gradient_step", gradient_step);
        close("noise", noise);
        assert_eq!(settings["epsilon_from"].as_str(), Some(from), "{folder}");
        assert_eq!(settings["steps"].as_integer(), Some(25), "{folder}");
        assert_eq!(settings["chains"].as_integer(), Some(16), "{folder}");
        assert_eq!(settings["checkpoint_iteration"].as_integer(), Some(2), "{folder}");
        let sampler = if extra.contains(&"--mala") {
            "mala"
        } else {
            "langevin"
        };
        assert_eq!(settings["sampler"].as_str(), Some(sampler), "{folder}");
        let init = folder.strip_prefix("longrun_").unwrap().trim_end_matches("_mala");
        assert_eq!(settings["init"].as_str(), Some(init), "{folder}");
        // (From data as it is, as the reference's evaluation starts.)
        assert_eq!(settings["data_noise"].as_bool(), Some(false), "{folder}");
        let csv = std::fs::read_to_string(dir.join(folder).join("longrun.csv")).unwrap();
        let steps = common::csv_first_column(&dir.join(folder).join("longrun.csv"));
        assert_eq!(steps, ["0", "10", "20", "25"]);
        if extra.contains(&"--mala") {
            let acc: f64 = csv
                .lines()
                .nth(2)
                .unwrap()
                .split(',')
                .nth(3)
                .unwrap()
                .parse()
                .unwrap();
            assert!(acc > 0.0 && acc <= 1.0, "acceptance {acc}");
        }
        assert!(dir.join(folder).join("samples_00000025.png").exists());
        // Panels of 300 pixels under a title: U, the gradient magnitude,
        // MALA's acceptance, and (toy data) TV of the chains' KDE to q.
        let figure = image::open(dir.join(folder).join("longrun.png")).unwrap();
        let panels = if extra.contains(&"--mala") { 4 } else { 3 };
        assert_eq!(figure.height(), 300 * panels + 30, "{folder}");
    }
    // A step far too large for the model (noise 10 a step, the square
    // ±1.6): the chains leave q's region, and the ending says so.
    let far = dir.join("far");
    let out = sample(&["--epsilon", "10", "--out", far.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success()
            && said.contains("TV(samples, q) 1.000")
            && said.contains("16 of 16 chains ended off the square the densities are drawn on"),
        "{said}"
    );
    let out = sample(&[]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("--force"));
    assert!(sample(&["--force"]).status.success());
    // What a long run killed as it began leaves (an empty or header-only
    // partial, its settings) is an unfinished long run, replaced without
    // --force.
    for partial in ["", "step,mean_energy,grad_magnitude,acceptance,tv_samples_q\n"] {
        let left = dir.join("left");
        std::fs::create_dir_all(&left).unwrap();
        std::fs::write(left.join("longrun.partial.csv"), partial).unwrap();
        std::fs::write(left.join("longrun.toml"), "steps = 25\n").unwrap();
        let out = sample(&["--out", left.to_str().unwrap()]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(!left.join("longrun.partial.csv").exists() && left.join("longrun.csv").exists());
        std::fs::remove_dir_all(&left).unwrap();
    }
    // A folder of the user's holding a file named as a long run's, and no
    // long run: refused, with --force too, and the file kept.
    let mine = dir.join("mine");
    std::fs::create_dir_all(&mine).unwrap();
    std::fs::write(mine.join("longrun.png"), "mine").unwrap();
    let out = sample(&["--out", mine.to_str().unwrap(), "--force"]);
    common::assert_refused(&out, "holds a longrun.png but no long run");
    assert_eq!(std::fs::read_to_string(mine.join("longrun.png")).unwrap(), "mine");
    // A long run refused for more chains than one GPU buffer holds makes
    // no folder (refused once the adapter is known, before it): trying
    // again needs no --force.
    let failed = dir.join("failed-longrun");
    let into_failed = |chains: &str| {
        let (ck, out) = (ck.to_str().unwrap(), failed.to_str().unwrap());
        ebmscope(&[
            "sample",
            "--checkpoint",
            ck,
            "--steps",
            "3",
            "--chains",
            chains,
            "--out",
            out,
        ])
    };
    common::assert_refused(&into_failed("100000000"), "in one GPU buffer");
    assert!(!failed.exists(), "the refused long run made its folder");
    let out = into_failed("4");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // A first long run killed on its way (as Ctrl-C stops it) leaves its
    // rows so far in longrun.partial.csv and no marker: the next run there
    // needs no --force, and replaces them and the killed run's pictures.
    let killed = dir.join("killed-longrun");
    // A long run that goes on until killed, with `extra` options.
    let endless_sample = |extra: &[&str], stderr: std::process::Stdio| {
        Command::new(env!("CARGO_BIN_EXE_ebmscope"))
            .args([
                "sample",
                "--checkpoint",
                ck.to_str().unwrap(),
                "--steps",
                "100000000",
            ])
            .args(extra)
            .stderr(stderr)
            .spawn()
            .unwrap()
    };
    let null = std::process::Stdio::null;
    let mut endless = endless_sample(
        &["--every", "1", "--chains", "4", "--out", killed.to_str().unwrap()],
        null(),
    );
    let started = std::time::Instant::now();
    let killed_picture = killed.join("samples_00000001.png");
    while !killed_picture.exists() {
        assert!(started.elapsed().as_secs() < 60, "the long run never started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    endless.kill().unwrap();
    endless.wait().unwrap();
    let partial = killed.join("longrun.partial.csv");
    assert!(!killed.join("longrun.csv").exists());
    // Its rows so far: the header and step 0's at least (step 1's picture
    // comes before its row).
    let rows = std::fs::read_to_string(&partial).unwrap();
    assert!(rows.starts_with("step,") && rows.lines().count() >= 2, "{rows}");
    // …and its chains as of its last row (or the next, whose line the kill
    // came before).
    let killed_chains = killed.join("chains.safetensors");
    let last_row = last_row_step(&rows);
    let step: u64 = ebmscope::io::read_metadata(&killed_chains).unwrap()["step"]
        .parse()
        .unwrap();
    assert!(step == last_row || step == last_row + 1, "{step} after {rows}");
    let out = ebmscope(&[
        "sample",
        "--checkpoint",
        ck.to_str().unwrap(),
        "--steps",
        "2",
        "--every",
        "2",
        "--chains",
        "4",
        "--out",
        killed.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(killed.join("longrun.csv").exists() && killed.join("samples_00000002.png").exists());
    assert!(
        !partial.exists() && !killed_picture.exists(),
        "the killed run's files are gone"
    );
    // Ctrl-C stops it at the end of a slice of steps, keeping what is
    // written, as a kill does, and says where its rows are: here a run
    // going on from the last one's chains (at step 2), whose steps count on
    // from there.
    #[cfg(unix)]
    {
        let stopped = dir.join("stopped-longrun");
        let mut child = endless_sample(
            &[
                "--from-chains",
                killed_chains.to_str().unwrap(),
                "--every",
                "1",
                "--out",
                stopped.to_str().unwrap(),
            ],
            std::process::Stdio::piped(),
        );
        let picture = stopped.join("samples_00000003.png");
        let started = std::time::Instant::now();
        while !picture.exists() {
            assert!(started.elapsed().as_secs() < 60, "the long run never started");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        send_signal(&child, libc::SIGINT);
        let signalled = std::time::Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if signalled.elapsed().as_secs() > 60 {
                child.kill().unwrap();
                panic!("Ctrl-C did not stop the long run");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        assert_eq!(status.code(), Some(130), "{stderr}");
        let says = format!(
            "of 100000002: the rows so far are in {}, beside their pictures, their figure, longrun.png, \
             and the chains at the last row, chains.safetensors, to go on from with --from-chains",
            stopped.join("longrun.partial.csv").display()
        );
        assert!(
            stderr.contains("stopping after the steps under way (Ctrl-C again to stop at once)")
                && stderr.contains("stopped at step ")
                && stderr.contains(&says),
            "{stderr}"
        );
        let rows = std::fs::read_to_string(stopped.join("longrun.partial.csv")).unwrap();
        assert!(rows.lines().count() >= 2, "{rows}");
        // Its settings say where it stopped: the last row's step.
        let last_step = last_row_step(&rows);
        let settings: toml::Table = std::fs::read_to_string(stopped.join("longrun.toml"))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(
            settings["rows_to_step"].as_integer(),
            Some(last_step as i64),
            "{settings}"
        );
        // …and the steps it took, as the terminal said.
        let said: i64 = stderr
            .split("stopped at step ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{stderr}"));
        assert_eq!(settings["stopped_at_step"].as_integer(), Some(said), "{settings}");
        // (Both count from the file's step, as the rows do: none is past it.)
        assert!(said as u64 >= last_step && last_step >= 3, "{said} {last_step}");
        // The chains as the last row found them, to go on from.
        let chains = stopped.join("chains.safetensors");
        let step = &ebmscope::io::read_metadata(&chains).unwrap()["step"];
        assert_eq!(*step, last_step.to_string());
        assert_eq!(ebmscope::io::read_tensor(&chains, "x").unwrap().shape, [4, 2]);
        let on = dir.join("stopped_on");
        let went_on = ebmscope(&[
            "sample",
            "--checkpoint",
            ck.to_str().unwrap(),
            "--from-chains",
            chains.to_str().unwrap(),
            "--steps",
            "2",
            "--every",
            "1",
            "--out",
            on.to_str().unwrap(),
        ]);
        assert!(
            went_on.status.success(),
            "{}",
            String::from_utf8_lossy(&went_on.stderr)
        );
        let steps = common::csv_first_column(&on.join("longrun.csv"));
        assert_eq!(
            steps,
            [last_step, last_step + 1, last_step + 2].map(|s| s.to_string())
        );
        assert!(picture.exists() && !stopped.join("longrun.csv").exists());
        // (The figure of the rows so far.)
        let figure = image::open(stopped.join("longrun.png")).unwrap().to_rgb8();
        assert!(figure.width() > 100 && figure.height() > 100);
    }
    // Bad options are refused before the long run already there is touched.
    let csv = dir.join("longrun_data/longrun.csv");
    let kept = std::fs::read(&csv).unwrap();
    for (bad, named) in [
        (&["--force", "--chains", "0"][..], "--chains"),
        (&["--force", "--temp-factor", "-1"][..], "--temp-factor"),
        (&["--force", "--steps", "0"][..], "--steps"),
        // Bad options come before the "already holds a long run" refusal.
        (&["--every", "0"][..], "--every"),
    ] {
        let out = sample(bad);
        common::assert_refused(&out, named);
        assert_eq!(
            std::fs::read(&csv).unwrap(),
            kept,
            "{bad:?} left the long run as it was"
        );
    }
    // A start from more states than the bank holds is refused before anything is written.
    let out = ebmscope(&[
        "sample",
        "--checkpoint",
        ck.to_str().unwrap(),
        "--init",
        "bank",
        "--chains",
        "31",
        "--steps",
        "5",
    ]);
    common::assert_refused(&out, "fewer than --chains 31");
    assert!(!dir.join("longrun_bank").exists());
    // A run's checkpoint serves `energy` as weights (its optimizer state and bank passed over).
    let points = dir.join("points.safetensors");
    let energies = dir.join("energies.safetensors");
    ebmscope::io::write_tensors(
        &points,
        &[ebmscope::io::Tensor {
            name: "x".into(),
            shape: vec![3, 2],
            data: vec![0.0, 0.5, 1.0, -1.0, 0.25, 0.0],
        }],
    )
    .unwrap();
    let out = toy_energy(&ck, &points, &energies);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(ebmscope::io::read_tensor(&energies, "energy").unwrap().shape, [3]);
    assert!(String::from_utf8_lossy(&sample(&["--init", "sideways"]).stderr).contains("sideways"));

    let noise_run = dir.join("gaussian");
    assert!(
        train_small_toy(&noise_run, 1, &["--set", "langevin.init=gaussian"])
            .status
            .success()
    );
    let out = ebmscope(&[
        "sample",
        "--checkpoint",
        noise_run.join("checkpoint.safetensors").to_str().unwrap(),
        "--init",
        "bank",
        "--steps",
        "5",
    ]);
    common::assert_refused(&out, "no persistent bank");
    let bank_folder = noise_run.join("longrun_bank");
    assert!(!bank_folder.exists(), "the refused long run wrote nothing");
    // No output is written over a run's checkpoint.
    let other_ck = noise_run.join("checkpoint.safetensors");
    let kept = std::fs::read(&other_ck).unwrap();
    let (ck_s, other_s) = (ck.to_str().unwrap(), other_ck.to_str().unwrap());
    let points_s = points.to_str().unwrap();
    let e = dir.join("e.safetensors");
    let e_s = e.to_str().unwrap();
    for args in [
        &[
            "energy",
            "--net",
            "toy",
            "--weights",
            ck_s,
            "--input",
            points_s,
            "--output",
            other_s,
        ][..],
        &[
            "energy",
            "--net",
            "toy",
            "--input",
            points_s,
            "--output",
            e_s,
            "--save-weights",
            other_s,
        ],
        &["bench", "--small", "--only", "toy", "--json", other_s],
    ] {
        common::assert_refused(&ebmscope(args), "is a checkpoint, which this would replace");
    }
    assert_eq!(std::fs::read(&other_ck).unwrap(), kept);
    // Nor are a long run's or a landscape's files put among a run's own.
    let run_s = noise_run.to_str().unwrap();
    for (command, what) in [("sample", "long run"), ("landscape", "landscape")] {
        let into_run = ebmscope(&[command, "--checkpoint", ck_s, "--out", run_s]);
        common::assert_refused(
            &into_run,
            &format!(
                "holds a training run, and a {what}'s files would lie among its own: choose another --out, such as a folder inside it"
            ),
        );
    }
    assert!(!noise_run.join("longrun.toml").exists() && !noise_run.join("landscape.toml").exists());
    // --force replaces the old long run's pictures too, but only once the
    // new run is done: one killed on its way leaves the old run as it was.
    // A training run's picture in that folder (7 digits) is not the long
    // run's and stays.
    let stale = dir.join("longrun_data/samples_00000020.png");
    assert!(stale.exists());
    let training_picture = dir.join("longrun_data/samples_0000002.png");
    std::fs::copy(&stale, &training_picture).unwrap();
    let old_csv = std::fs::read(dir.join("longrun_data/longrun.csv")).unwrap();
    let mut endless = endless_sample(&["--force"], null());
    let started = std::time::Instant::now();
    // Killed once the new run has written a picture of its own.
    while !dir
        .join("longrun_data/.new-outputs/samples_00000000.png")
        .exists()
    {
        assert!(started.elapsed().as_secs() < 60, "the replacement never started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    endless.kill().unwrap();
    endless.wait().unwrap();
    assert_eq!(
        std::fs::read(dir.join("longrun_data/longrun.csv")).unwrap(),
        old_csv
    );
    assert!(stale.exists());
    let out = ebmscope(&[
        "sample",
        "--checkpoint",
        ck.to_str().unwrap(),
        "--steps",
        "4",
        "--every",
        "2",
        "--chains",
        "16",
        "--force",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!stale.exists() && dir.join("longrun_data/samples_00000004.png").exists());
    assert!(training_picture.exists(), "a training run's picture was removed");
    assert!(
        !dir.join("longrun_data/.new-outputs").exists(),
        "the killed run's folder is gone"
    );
    let csv = std::fs::read_to_string(dir.join("longrun_data/longrun.csv")).unwrap();
    assert_eq!(csv.lines().last().unwrap().split(',').next(), Some("4"), "{csv}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `sample` and `landscape` take weights alone (a run's weights/ file, or a
/// PyTorch model's state dict saved with safetensors) with the settings
/// they were trained with: the same parameters as the run's checkpoint,
/// outputs beside the run named after the file, the settings in
/// longrun.toml; without settings, or with weights of another net, refused
/// with what to pass; settings with a full checkpoint refused.
#[test]
fn weights_alone_sample_and_map_with_their_settings() {
    use ebmscope::train::Checkpoint;
    let dir = common::fresh_dir("weights-alone");
    assert!(train_small_toy(&dir, 2, &[]).status.success());
    let weights = dir.join("weights").join("weights_0000002.safetensors");
    let config = dir.join("config.toml");
    let ck = Checkpoint::load(&dir.join("checkpoint.safetensors")).unwrap();
    let alone = Checkpoint::from_weights(&weights, ck.config.clone()).unwrap();
    assert_eq!(
        alone.params, ck.params,
        "the run's weights at its checkpoint's iteration"
    );
    assert!(alone.weights_alone && alone.bank.is_none());

    let run = |command: &str, model: &[&str], extra: &[&str]| {
        let mut args = vec![command, "--checkpoint"];
        args.extend_from_slice(model);
        args.extend_from_slice(match command {
            "sample" => &["--steps", "4", "--every", "2", "--chains", "8"][..],
            _ => &["--starts", "4", "--descent-steps", "5", "--ad-steps", "5"][..],
        });
        args.extend_from_slice(extra);
        ebmscope(&args)
    };
    let w = weights.to_str().unwrap();
    // The same weights out of the run: weights alone, as PyTorch's are.
    let elsewhere = dir.join("from-torch");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let copy = elsewhere.join("copy.safetensors");
    std::fs::copy(&weights, &copy).unwrap();
    let loose = copy.to_str().unwrap();
    // --set alone says no settings to change: refused.
    let out = run("sample", &[loose, "--set", "langevin.epsilon=0.2"], &[]);
    common::assert_refused(&out, "--set changes the settings");
    // Settings with a run's weights/ file, which takes its run's: refused,
    // as with its checkpoint (they trained on gmm data, not on rings).
    for settings in [
        &["--preset", "rings-convergent"][..],
        &["--set", "langevin.epsilon=0.2"],
    ] {
        let out = run("sample", &[&[w][..], settings].concat(), &[]);
        common::assert_refused(
            &out,
            "is a run's weights/ file, which takes its run's settings as at its iteration (--epsilon",
        );
    }
    // Settings with a run's checkpoint: refused.
    let full = dir.join("checkpoint.safetensors");
    let out = run(
        "sample",
        &[full.to_str().unwrap(), "--preset", "rings-convergent"],
        &[],
    );
    common::assert_refused(&out, "are for weights alone");
    // A whole model torch.save pickled: refused, saying how to save its state dict.
    let pth = common::torch_fixture("whole-model.pth");
    let out = run(
        "sample",
        &[pth.to_str().unwrap(), "--preset", "rings-convergent"],
        &[],
    );
    common::assert_refused(&out, "holds a pickled `bench_torch.VanillaNet`");
    // Weights of another net: refused, naming the tensor and the setting.
    let out = run("sample", &[loose, "--preset", "fashion-mnist-quick"], &[]);
    common::assert_refused(&out, "f.0.weight");
    common::assert_refused(&out, "they are ToyNet's, for a toy preset");
    // An image net's weights with a toy preset: an image preset is needed,
    // not net.kind alone (which a toy preset's data refuses).
    let image_net = common::torch_fixture("vanilla.safetensors");
    let out = run(
        "sample",
        &[image_net.to_str().unwrap(), "--preset", "gmm-quick"],
        &[],
    );
    common::assert_refused(
        &out,
        "so net.kind = vanilla, net.n_f = 2, data.channels = 1, with an image preset (fashion-mnist-*",
    );

    for command in ["sample", "landscape"] {
        let out = run(command, &[w], &["--init", "bank"]);
        common::assert_refused(&out, "weights alone carry no bank");
        let out = run(command, &[w], &[]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        // (Named as what they are: the run's model at that iteration.)
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("a run's weights of iteration 2)"), "{stderr}");
    }
    // Beside the run (a run's weights/ file), named after the file.
    let longrun = dir.join("longrun_data_weights_0000002");
    assert!(
        longrun.join("longrun.csv").exists() && dir.join("landscape_weights_0000002/minima.csv").exists()
    );
    let settings = common::read_toml(&longrun.join("longrun.toml"));
    // (The run's iteration of those weights.)
    assert_eq!(settings["checkpoint_iteration"].as_integer(), Some(2));
    assert_eq!(settings["epsilon_from"].as_str(), Some("model_settings"));
    let given = settings["model_settings"].as_table().unwrap();
    let run_config = common::read_toml(&config);
    assert_eq!(given["net"], run_config["net"]);
    assert_eq!(given["langevin"], run_config["langevin"]);
    // The map's record of its model: the file, its iteration in the run, the settings.
    let map = common::read_toml(&dir.join("landscape_weights_0000002/landscape.toml"));
    let model = map["model"].as_table().unwrap();
    assert!(
        model["file"]
            .as_str()
            .unwrap()
            .ends_with("weights_0000002.safetensors")
    );
    assert_eq!(model["iteration"].as_integer(), Some(2));
    assert_eq!(model["settings"]["langevin"], run_config["langevin"]);

    // A state dict as PyTorch saves it (safetensors.torch.save_file, its
    // metadata {"format": "pt"}), elsewhere: the outputs beside it.
    let layout = ebmscope::train::net_spec(&ck.config)
        .unwrap()
        .param_layout()
        .unwrap();
    let tensors = common::state_dict(&layout, &ck.params, |n| Some(n.into()));
    // Elsewhere, weights alone without settings: refused, saying how to give them.
    let out = run("sample", &[loose], &[]);
    common::assert_refused(&out, "say them with --preset P or --config F");
    let torch = elsewhere.join("net.safetensors");
    let pt = std::collections::HashMap::from([("format".to_string(), "pt".to_string())]);
    ebmscope::io::write_tensors_with_metadata(&torch, &tensors, Some(pt)).unwrap();
    let out = run(
        "sample",
        &[torch.to_str().unwrap(), "--config", config.to_str().unwrap()],
        &[],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains(" (weights alone), "));
    assert!(elsewhere.join("longrun_data_net/longrun.csv").exists());
    let settings = common::read_toml(&elsewhere.join("longrun_data_net/longrun.toml"));
    assert!(
        settings.get("checkpoint_iteration").is_none(),
        "no run's iteration"
    );
    // A state dict torch.save wrote (PyTorch's ToyNet, tests/data/torch).
    let pth = elsewhere.join("toy.pth");
    std::fs::copy(common::torch_fixture("toy.pth"), &pth).unwrap();
    let out = run(
        "sample",
        &[pth.to_str().unwrap(), "--config", config.to_str().unwrap()],
        &[],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(elsewhere.join("longrun_data_toy/longrun.csv").exists());
    // A run's weights/ file without settings takes its run's, as they were
    // at its iteration: a change made after it (here at iteration 2, so
    // from 3 on) undone, not one made before.
    let epsilon = run_config["langevin"]["epsilon"].as_float().unwrap();
    let out = resume_train(&dir, Some(3), &["langevin.epsilon=0.2"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for (file, want, says) in [
        ("weights_0000002", epsilon, "langevin.epsilon 0.2 → "),
        ("weights_0000003", 0.2, "their settings are"),
    ] {
        let path = dir.join("weights").join(format!("{file}.safetensors"));
        let into = dir.join(format!("at-{file}"));
        let out = run(
            "sample",
            &[path.to_str().unwrap(), "--out", into.to_str().unwrap()],
            &[],
        );
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(says) && stderr.contains("their settings are its checkpoint's"),
            "{stderr}"
        );
        let settings = common::read_toml(&into.join("longrun.toml"));
        assert_eq!(settings["epsilon"].as_float(), Some(want), "{file}");
    }
    // And a run's --force takes the results of its weights' models with it.
    assert!(train_small_toy(&dir, 1, &["--force"]).status.success());
    assert!(!longrun.exists() && !dir.join("landscape_weights_0000002").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// A run starts from the weights it is given (`--init-weights`, or
/// net.init_weights): a run's weights/ file, a state dict torch.save wrote.
/// config.toml records the file; a resume reads the checkpoint, not the
/// file (gone by then here). Weights of another net are refused before the
/// run's folder is written; --init-weights with --resume is refused.
#[test]
fn a_run_starts_from_the_weights_it_is_given() {
    let dir = common::fresh_dir("init-weights");
    let first = dir.join("first");
    assert!(train_small_toy(&first, 2, &[]).status.success());
    let weights = first.join("weights").join("weights_0000002.safetensors");

    // The trainer: its parameters are the file's; restoring reads no file.
    let gpu = Arc::new(common::gpu());
    let mut given = config("rings-convergent", &[]);
    given.net.init_weights = weights.to_string_lossy().into_owned();
    let trainer = Trainer::new(gpu.clone(), given.clone()).unwrap();
    let first_ck = ebmscope::train::Checkpoint::load(&first.join("checkpoint.safetensors")).unwrap();
    let want = first_ck.params.clone();
    assert_eq!(trainer.params().unwrap(), want);
    let fresh = Trainer::new(gpu.clone(), config("rings-convergent", &[])).unwrap();
    assert_ne!(fresh.params().unwrap(), want, "the test needs other weights");
    given.net.init_weights = dir.join("gone.pth").to_string_lossy().into_owned();
    let data = Dataset::load(&given.data).unwrap();
    assert!(Trainer::for_restore(gpu.clone(), given.clone(), data.clone(), &first_ck).is_ok());
    let err = Trainer::with_data(gpu.clone(), given.clone(), data)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("net.init_weights") && err.contains("gone.pth"),
        "{err}"
    );
    // Read before the data set (which may take long to load, or fail).
    let mut images = config("fashion-mnist-quick", &[]);
    images.data.path = dir.join("no-images").to_string_lossy().into_owned();
    images.net.init_weights = given.net.init_weights;
    let err = Trainer::new(gpu, images).err().unwrap().to_string();
    assert!(
        err.contains("net.init_weights") && err.contains("gone.pth"),
        "{err}"
    );

    // The command: a .pth torch.save wrote (PyTorch's ToyNet).
    let pth = dir.join("toy.pth");
    std::fs::copy(common::torch_fixture("toy.pth"), &pth).unwrap();
    let run = dir.join("from-torch");
    let out = train_small_toy(&run, 2, &["--init-weights", pth.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("the net starts from the weights in"));
    let recorded = common::read_toml(&run.join("config.toml"));
    let absolute = std::path::absolute(&pth).unwrap();
    assert_eq!(
        recorded["net"]["init_weights"].as_str(),
        Some(absolute.to_str().unwrap())
    );
    std::fs::remove_file(&pth).unwrap();
    let out = resume_train(&run, Some(3), &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    common::assert_refused(
        &ebmscope(&[
            "train",
            "--out",
            run.to_str().unwrap(),
            "--resume",
            "--init-weights",
            weights.to_str().unwrap(),
        ]),
        "cannot be used with",
    );

    // A path relative to the working folder is kept absolute.
    let relative = dir.join("relative");
    let out = train_small_toy(&relative, 1, &["--init-weights", "tests/data/torch/toy.pth"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let recorded: toml::Table = std::fs::read_to_string(relative.join("config.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let full = std::path::absolute("tests/data/torch/toy.pth").unwrap();
    assert_eq!(
        recorded["net"]["init_weights"].as_str(),
        full.to_str(),
        "{recorded}"
    );
    // Said twice, or inside the folder the run writes: refused.
    let out = train_small_toy(
        &dir.join("twice"),
        1,
        &["--init-weights", "a.pth", "--set", "net.init_weights=b.pth"],
    );
    common::assert_refused(&out, "--init-weights and --set net.init_weights");
    let inside = first.join("checkpoint.safetensors");
    let out = train_small_toy(
        &first,
        1,
        &["--force", "--init-weights", inside.to_str().unwrap()],
    );
    common::assert_refused(&out, "are inside its folder");
    assert!(inside.exists());
    // The same folder reached another way (a link; on Windows and macOS,
    // other letter case): refused too.
    #[cfg(unix)]
    {
        let alias = dir.join("alias");
        std::os::unix::fs::symlink(&first, &alias).unwrap();
        let out = train_small_toy(
            &alias,
            1,
            &["--force", "--init-weights", inside.to_str().unwrap()],
        );
        common::assert_refused(&out, "are inside its folder");
        assert!(inside.exists());
    }

    // Another net's weights: refused, naming the net, before any folder.
    let vanilla = common::torch_fixture("vanilla-zip.pth");
    let other = dir.join("other");
    let out = train_small_toy(&other, 2, &["--init-weights", vanilla.to_str().unwrap()]);
    common::assert_refused(&out, "net.init_weights");
    common::assert_refused(&out, "they are vanilla's with n_f = 2");
    assert!(!other.exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// A run that diverges before its first checkpoint says to start again
/// with --force, not to resume. One that stopped before its first row (its
/// metrics.csv a header alone, no checkpoint) has nothing to keep: trying
/// again there needs no --force. A density grid past what the adapter
/// binds is refused before the folder is written.
#[test]
fn a_run_that_made_nothing_is_no_run_to_keep() {
    let base = common::fresh_dir("made-nothing");
    let dir = base.join("run");
    let diverged = train_small_toy(&dir, 2, &["--set", "data.noise=1e20"]);
    common::assert_refused(
        &diverged,
        "no checkpoint to go on from: run the same command again with --force",
    );
    assert!(!dir.join("checkpoint.safetensors").exists());
    // (Rows it has: its iteration 1 ran.)
    common::assert_refused(&train_small_toy(&dir, 2, &[]), "already holds a run");
    common::assert_refused(&resume_train(&dir, Some(2), &[]), "start over with --force");
    let header = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    std::fs::write(dir.join("metrics.csv"), header.lines().next().unwrap()).unwrap();
    // (No row: what --resume says is a plain run, not --force.)
    let out = resume_train(&dir, Some(2), &[]);
    common::assert_refused(&out, "start one anew without --resume");
    let out = train_small_toy(&dir, 2, &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!dir.join(".replaced-run").exists(), "nothing set aside");
    assert_eq!(
        std::fs::read_to_string(dir.join("metrics.csv"))
            .unwrap()
            .lines()
            .count(),
        3
    );

    // The smallest grid whose points' widest activations (f32) are past
    // one binding: 725 on lavapipe (128 MiB); past the config's own limit
    // of 1000, refused there.
    let gpu = common::gpu();
    let max = gpu
        .limits
        .max_storage_buffer_binding_size
        .min(u64::from(u32::MAX));
    let widest = ebmscope::model::NetSpec::toy()
        .geometry()
        .unwrap()
        .iter()
        .map(|g| g.out_len())
        .max()
        .unwrap() as u64;
    let grid = ((max / (4 * widest)) as f64).sqrt().ceil() as u64 + 1;
    let big = base.join("big-grid");
    let set = format!("eval.grid={grid}");
    let refused = train_small_toy(&big, 2, &["--set", &set]);
    if grid <= 1000 {
        common::assert_refused(&refused, "the density grid's");
    } else {
        // (An adapter that binds more: the config's own limit comes first.)
        common::assert_refused(&refused, "`eval.grid`: must be at most 1000");
    }
    assert!(!big.exists(), "the refused run wrote nothing");
    // So are the density pictures' short-run samples and a long-run check's
    // chains past one binding (u32::MAX toy points: 1 TiB of activations),
    // before the run starts rather than at its first check.
    let max = u32::MAX.to_string();
    for (sets, why) in [
        (
            vec![format!("eval.kde_samples={max}")],
            "(eval.kde_samples) needs",
        ),
        (
            vec![
                "eval.longrun_every=1".into(),
                format!("eval.longrun_chains={max}"),
            ],
            "(eval.longrun_chains) needs",
        ),
    ] {
        let args: Vec<&str> = sets.iter().flat_map(|s| ["--set", s.as_str()]).collect();
        common::assert_refused(&train_small_toy(&big, 2, &args), why);
        assert!(!big.exists(), "the refused run wrote nothing");
    }
    let _ = std::fs::remove_dir_all(&base);
}

/// A config.toml edited by hand is not what a resume runs: it says so, with
/// the keys and how to change a setting, and writes the file again.
#[test]
fn an_edited_config_toml_is_named_on_resume() {
    let dir = common::fresh_dir("edited-config");
    assert!(train_small_toy(&dir, 1, &[]).status.success());
    let path = dir.join("config.toml");
    let mut table = common::read_toml(&path);
    let lr = table["optimizer"]["lr"].as_float().unwrap();
    table["optimizer"]
        .as_table_mut()
        .unwrap()
        .insert("lr".into(), (lr / 10.0).into());
    std::fs::write(&path, toml::to_string(&table).unwrap()).unwrap();
    let out = common::resume_train(&dir, Some(2), &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "was edited since the checkpoint (optimizer.lr = {} there, {lr} in the checkpoint)",
            lr / 10.0
        )) && stderr.contains("--resume --set KEY=VALUE"),
        "{stderr}"
    );
    let again = common::read_toml(&path);
    assert_eq!(again["optimizer"]["lr"].as_float(), Some(lr), "written again");
    // Unedited (--iters moves its `iterations`), nothing is said.
    let out = common::resume_train(&dir, Some(3), &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && !stderr.contains("was edited"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A long-run check that fails is reported and training goes on (a run
/// stopped there could go on only by changing its checks), saying how to
/// change them.
#[test]
fn a_failed_long_run_check_leaves_training_going() {
    let dir = common::fresh_dir("failed-check");
    let checks = [
        "--set",
        "eval.longrun_every=1",
        "--set",
        "eval.longrun_steps=2",
        "--set",
        "eval.longrun_chains=4",
    ];
    let out = train_small_toy(&dir, 1, &checks);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Its folder taken by a file: the next check cannot write.
    std::fs::remove_dir_all(dir.join("longrun")).unwrap();
    std::fs::write(dir.join("longrun"), "in the way").unwrap();
    let out = common::resume_train(&dir, Some(3), &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // (Iteration 1's too: the checkpoint's iteration, its check gone with
    // the folder, is checked again on resume.)
    for it in 1..=3 {
        let warned = format!("warning: the long-run check at iteration {it} failed");
        assert!(stderr.contains(&warned), "{stderr}");
    }
    assert!(stderr.contains("Training goes on"), "{stderr}");
    assert!(
        stderr.contains("--resume --set eval.longrun_chains=N"),
        "{stderr}"
    );
    let ck = ebmscope::train::Checkpoint::load(&dir.join("checkpoint.safetensors")).unwrap();
    assert_eq!(ck.iteration, 3);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--force` removes the old run's own files and nothing else, and a folder
/// with a config.toml that is not a run's is refused either way.
#[test]
fn force_replaces_only_the_runs_own_files() {
    let base = common::fresh_dir("force");
    let dir = base.join("run");
    assert!(train_small_toy(&dir, 2, &[]).status.success());
    let theirs = [
        dir.join("notes.txt"),
        dir.join("pictures/holiday.jpg"),
        dir.join("weights/README"),
        // (Numbered, but not as the run numbers its own.)
        dir.join("pictures/IMG_20240101.png"),
        dir.join("weights/best_0000002.safetensors"),
    ];
    for f in &theirs {
        std::fs::write(f, "the user's").unwrap();
    }
    let stale = dir.join("pictures/density_0000050.png");
    std::fs::copy(dir.join("pictures/density_0000000.png"), &stale).unwrap();
    // (A change on resume, for the old run's changes.csv.)
    let out = resume_train(&dir, None, &["optimizer.lr=0.05"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(dir.join("changes.csv").exists());
    // A long run and a landscape map of the old model, beside its checkpoint.
    let ck_path = dir.join("checkpoint.safetensors");
    let ck_s = ck_path.to_str().unwrap();
    for args in [
        &["sample", "--checkpoint", ck_s, "--steps", "2", "--chains", "2"][..],
        &[
            "landscape",
            "--checkpoint",
            ck_s,
            "--starts",
            "2",
            "--descent-steps",
            "2",
            "--ad-steps",
            "2",
        ],
    ] {
        let out = ebmscope(args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    assert!(dir.join("longrun_data/longrun.csv").exists() && dir.join("landscape/minima.csv").exists());
    let user_note = dir.join("landscape/notes.txt");
    std::fs::write(&user_note, "the user's").unwrap();
    // A link where a staging folder would be: what it leads to is not the
    // run's. (Unix's: Windows makes links for administrators only.)
    let elsewhere = base.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::write(elsewhere.join("landscape.png"), "the user's").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(&elsewhere, dir.join("landscape/.new-outputs")).unwrap();
    // A long run another command is writing is not moved from under it:
    // the --force is refused meanwhile, the old run left whole.
    let held = ebmscope::io::lock_folder(&dir.join("longrun_data")).unwrap();
    common::assert_refused(
        &train_small_toy(&dir, 2, &["--force"]),
        "longrun_data: is being written by another ebmscope command right now",
    );
    assert!(dir.join("longrun_data/longrun.csv").exists() && dir.join("changes.csv").exists());
    drop(held);
    // A folder holding only the lock a failed long run left goes with the run.
    let lone_lock = dir.join("longrun_uniform");
    std::fs::create_dir_all(&lone_lock).unwrap();
    drop(ebmscope::io::lock_folder(&lone_lock).unwrap());
    // A folder of the user's so named is theirs: no lock is left in it.
    let users = dir.join("longrun_mine");
    std::fs::create_dir_all(&users).unwrap();
    std::fs::write(users.join("readme.txt"), "the user's").unwrap();
    let out = train_small_toy(&dir, 2, &["--force"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!lone_lock.exists(), "a folder with the lock alone stayed");
    let left: Vec<_> = std::fs::read_dir(&users)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left, ["readme.txt"], "the user's folder gained a lock file");
    assert!(
        !dir.join("changes.csv").exists(),
        "the old run's changes.csv stayed"
    );
    assert!(
        !dir.join("longrun_data").exists() && !dir.join("landscape/minima.csv").exists(),
        "the old model's long run and map stayed beside the new one"
    );
    assert_eq!(std::fs::read_to_string(&user_note).unwrap(), "the user's");
    assert_eq!(
        std::fs::read_to_string(elsewhere.join("landscape.png")).unwrap(),
        "the user's",
        "a file through a link was moved or written"
    );
    assert_eq!(
        std::fs::read_dir(&elsewhere).unwrap().count(),
        1,
        "written through a link"
    );
    for f in &theirs {
        assert_eq!(
            std::fs::read_to_string(f).unwrap(),
            "the user's",
            "{}",
            f.display()
        );
    }
    assert!(!stale.exists(), "the old run's picture stayed");
    assert!(dir.join("weights/weights_0000002.safetensors").exists());
    assert!(
        !dir.join(".replaced-run").exists(),
        "the replaced run stayed past the first checkpoint"
    );

    // A replacement that fails before its first checkpoint (it diverges)
    // leaves the old run aside, twice over, and says where.
    let ck = std::fs::read(dir.join("checkpoint.safetensors")).unwrap();
    let diverging = [
        "--force",
        "--set",
        "optimizer.lr=1e9",
        "--set",
        "optimizer.lr_min=1e9",
        "--set",
        "output.checkpoint_every=1000",
    ];
    for attempt in 0..2 {
        let out = train_small_toy(&dir, 50, &diverging);
        common::assert_refused(&out, "diverged");
        common::assert_refused(&out, "--restore-replaced`");
        // Tried again, as the message says, it is said at the start that
        // the kept run goes at this run's first checkpoint (not the first
        // time: the run set aside is this run's own doing).
        let said =
            String::from_utf8_lossy(&out.stderr).contains("the run an earlier --force replaced is kept in");
        assert_eq!(said, attempt == 1, "attempt {attempt}");
        assert_eq!(
            std::fs::read(dir.join(".replaced-run/checkpoint.safetensors")).unwrap(),
            ck
        );
        assert!(
            dir.join(".replaced-run/weights/weights_0000002.safetensors")
                .exists()
        );
        assert!(!dir.join("checkpoint.safetensors").exists());
    }
    common::assert_refused(
        &resume_train(&dir, None, &[]),
        "to resume that one instead, `ebmscope train --out ",
    );
    // So do the commands that start from a checkpoint, and from a run folder.
    let ck_path = dir.join("checkpoint.safetensors");
    let aside_ck = std::path::Path::new(".replaced-run").join("checkpoint.safetensors");
    let pass_aside = format!("{}: pass that", aside_ck.display());
    for (checkpoint, says) in [
        (&ck_path, pass_aside.as_str()),
        (&dir, "is a folder; pass a checkpoint file"),
    ] {
        let checkpoint = checkpoint.to_str().unwrap();
        let out = ebmscope(&["sample", "--checkpoint", checkpoint, "--steps", "1"]);
        common::assert_refused(&out, says);
    }
    // Moved back by hand (a folder of the failed attempt left behind in
    // .replaced-run), the run is the one to keep: a --force sets it aside.
    for name in ["checkpoint.safetensors", "metrics.csv", "config.toml"] {
        std::fs::rename(dir.join(".replaced-run").join(name), dir.join(name)).unwrap();
    }
    assert!(dir.join(".replaced-run/weights").exists());
    common::assert_refused(&train_small_toy(&dir, 50, &diverging), "diverged");
    assert_eq!(
        std::fs::read(dir.join(".replaced-run/checkpoint.safetensors")).unwrap(),
        ck
    );
    // A replacement that made nothing (no row: as one refused at its first
    // iteration, or killed at once, leaves it) is no run to keep, but a new
    // run without --force would let the run set aside go: refused, with the
    // line that moves it back; with --force, it goes at the first checkpoint
    // of the next, as it would have at the replacement's.
    let header = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    std::fs::write(dir.join("metrics.csv"), header.lines().next().unwrap()).unwrap();
    common::assert_refused(
        &train_small_toy(&dir, 2, &[]),
        "holds the run an earlier --force replaced, kept in .replaced-run/",
    );
    assert!(dir.join(".replaced-run/checkpoint.safetensors").exists());
    let out = train_small_toy(&dir, 2, &["--force"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!dir.join(".replaced-run").exists());
    assert!(train_small_toy(&dir, 2, &["--force"]).status.success());
    assert!(!dir.join(".replaced-run").exists());
    // A run set aside in a folder whose other files were cleared by hand is
    // no new run's to remove.
    let cleared = base.join("cleared");
    std::fs::create_dir_all(cleared.join(".replaced-run")).unwrap();
    std::fs::write(cleared.join(".replaced-run/checkpoint.safetensors"), "kept").unwrap();
    assert!(train_small_toy(&cleared, 2, &[]).status.success());
    assert_eq!(
        std::fs::read_to_string(cleared.join(".replaced-run/checkpoint.safetensors")).unwrap(),
        "kept"
    );
    // Nor a resumed run's (what is left of a run moved back by hand, say):
    // it is said to be there, and kept.
    let out = resume_train(&cleared, Some(4), &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.contains(".replaced-run holds files but no run"),
        "{stderr}"
    );
    assert!(cleared.join(".replaced-run/checkpoint.safetensors").exists());

    // A folder holding a file a run would write, not a run's, is not the
    // run's to overwrite, with --force or without.
    let names = [
        "config.toml",
        "checkpoint.safetensors",
        "metrics.csv",
        "toy_metrics.csv",
        "changes.csv",
        "pictures/data.png",
        "pictures/density_0000002.png",
        "weights/weights_0000002.safetensors",
    ];
    for name in names {
        let foreign = base.join(format!("foreign-{}", name.replace('/', "-")));
        std::fs::create_dir_all(foreign.join(name).parent().unwrap()).unwrap();
        std::fs::write(foreign.join(name), "mine = 1\n").unwrap();
        for extra in [&[][..], &["--force"][..]] {
            let shown = std::path::Path::new(name)
                .components()
                .collect::<std::path::PathBuf>();
            let says = format!("holds a {} but no ebmscope run", shown.display());
            common::assert_refused(&train_small_toy(&foreign, 2, extra), &says);
            assert_eq!(std::fs::read_to_string(foreign.join(name)).unwrap(), "mine = 1\n");
        }
    }
    // Long runs from more bank states than there are: refused before anything is written.
    let never = base.join("never");
    let longrun = [
        "--set",
        "eval.longrun_every=1",
        "--set",
        "eval.longrun_init=bank",
        "--set",
        "eval.longrun_chains=31",
    ];
    common::assert_refused(&train_small_toy(&never, 2, &longrun), "eval.longrun_chains");
    assert!(!never.exists());
    let _ = std::fs::remove_dir_all(&base);
}

/// What a run wrote past its last checkpoint before it crashed (a metrics
/// row, a toy-metrics row, pictures, weights) is not the resumed run's:
/// the resume drops it.
#[test]
fn resume_drops_what_a_crashed_run_wrote_past_its_checkpoint() {
    let dir = common::fresh_dir("crashed");
    let out = train_small_toy(&dir, 2, &["--set", "output.picture_every=1"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let append = |file: &str, row: &str| {
        let path = dir.join(file);
        let text = std::fs::read_to_string(&path).unwrap() + row;
        std::fs::write(&path, text).unwrap();
    };
    // Saved again by a spreadsheet, with CRLF, or as "CSV UTF-8" (a
    // byte-order mark first): the run is still found, its rows kept.
    let toy = dir.join("toy_metrics.csv");
    let crlf = std::fs::read_to_string(&toy).unwrap().replace('\n', "\r\n");
    std::fs::write(&toy, crlf).unwrap();
    let metrics = dir.join("metrics.csv");
    let marked = format!("\u{feff}{}", std::fs::read_to_string(&metrics).unwrap());
    std::fs::write(&metrics, marked).unwrap();
    // Rows cut short where the process was killed, and a whole one past the checkpoint.
    append("metrics.csv", "3,0.12");
    append("toy_metrics.csv", "5,0.5,0.5,0.5,0.5\n2,0.9");
    let stale = [
        dir.join("pictures/density_0000005.png"),
        dir.join("weights/weights_0000005.safetensors"),
        dir.join("longrun/chains_0000005.safetensors"),
    ];
    std::fs::create_dir_all(dir.join("longrun")).unwrap();
    std::fs::copy(dir.join("pictures/density_0000002.png"), &stale[0]).unwrap();
    std::fs::copy(dir.join("weights/weights_0000002.safetensors"), &stale[1]).unwrap();
    std::fs::copy(dir.join("weights/weights_0000002.safetensors"), &stale[2]).unwrap();
    // Files beside them that are not the run's, however numbered: kept.
    let others = [
        "pictures/IMG_20240101.png",
        "pictures/samples_00000005.png",
        "weights/best_0000100.safetensors",
        "longrun/my_0000009.csv",
    ];
    for f in others {
        std::fs::write(dir.join(f), "mine").unwrap();
    }
    let out = resume_train(&dir, Some(3), &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // What is dropped is said.
    assert!(
        stderr.contains(
            "what it wrote after is dropped, 1 row(s) of metrics.csv, 2 row(s) of toy_metrics.csv (past it or not whole), 3 \
             file(s) of weights/, pictures/ or longrun/"
        ),
        "{stderr}"
    );
    for f in others {
        assert_eq!(std::fs::read_to_string(dir.join(f)).unwrap(), "mine", "{f}");
    }
    let first_column = |file: &str| common::csv_first_column(&dir.join(file));
    assert_eq!(first_column("metrics.csv"), ["1", "2", "3"]);
    assert!(
        std::fs::read_to_string(&metrics)
            .unwrap()
            .starts_with("iteration,")
    );
    assert_eq!(first_column("toy_metrics.csv"), ["0", "1", "2", "3"]);
    // Its kept rows written back as the new ones are, not half CRLF.
    assert!(!std::fs::read_to_string(&toy).unwrap().contains('\r'));
    for f in &stale {
        assert!(!f.exists(), "{} stayed", f.display());
    }
    assert!(dir.join("pictures/density_0000003.png").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// One trainer at a time writes a run folder; the lock goes with the
/// process, even one killed without a chance to clean up.
#[test]
fn a_run_folder_takes_one_trainer_at_a_time() {
    let dir = common::fresh_dir("lock");
    let mut args: Vec<String> = [
        "train",
        "--preset",
        "rings-convergent",
        "--iters",
        "100000",
        "--out",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push(dir.to_str().unwrap().to_string());
    args.extend(SMALL_TOY.iter().map(|s| s.to_string()));
    let mut first = spawn_ebmscope(&args, std::process::Stdio::null());
    // Until it has checkpointed (every 2 iterations).
    let started = std::time::Instant::now();
    while !dir.join("checkpoint.safetensors").exists() {
        assert!(
            started.elapsed().as_secs() < 300,
            "the first trainer never checkpointed"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let second = resume_train(&dir, Some(100_000), &[]);
    first.kill().unwrap();
    first.wait().unwrap();
    common::assert_refused(&second, "being written by another ebmscope");
    let ck = ebmscope::train::Checkpoint::load(&dir.join("checkpoint.safetensors")).unwrap();
    // (Some systems release a killed process's locks a moment later.)
    let mut out = resume_train(&dir, Some(ck.iteration), &[]);
    for _ in 0..20 {
        if out.status.success() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
        out = resume_train(&dir, Some(ck.iteration), &[]);
    }
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The short-run KDE starts its chains as training does: from data with
/// ε_data noise (data.noise) where langevin.init = data. With noise of 1
/// around the 8 Gaussians (sd 0.15), one tiny step leaves the KDE far
/// wider than q; without it the KDE sits on q.
#[test]
fn the_short_run_kde_starts_from_data_as_training_does() {
    let gpu = Arc::new(common::gpu());
    let tv_kde = |noise: &str| {
        let config = config(
            "gmm-quick",
            &[
                "langevin.init=data",
                "langevin.steps=1",
                "langevin.epsilon=0.001",
                "eval.kde_samples=400",
                noise,
            ],
        );
        let trainer = Trainer::new(gpu.clone(), config).unwrap();
        ebmscope::train::evaluate_toy(&trainer).unwrap().tv_kde.tv
    };
    let (clean, noisy) = (tv_kde("data.noise=0"), tv_kde("data.noise=1"));
    assert!(
        noisy > clean + 0.2,
        "TV(KDE, q): {clean:.3} without noise, {noisy:.3} with"
    );
}
