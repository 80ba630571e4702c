//! The trainer as the window drives it: changes of setting reach the next
//! iteration exactly (the same numbers as a run configured that way from the
//! start), invalid values are refused and change nothing, and the threaded
//! session answers run / pause / step / save / load / reset, long work
//! stops when asked and when the session ends, and a loaded or resumed run
//! watches for divergence from its own history.
#![allow(clippy::disallowed_methods)] // tests may rename and remove with std's calls (clippy.toml)

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use ebmscope::config::{Config, OptimizerName};
use ebmscope::train::session::{Command, LongRunAsk, Session, Update};
use ebmscope::train::{Change, Trainer};

fn small(extra: &[&str]) -> Config {
    let mut sets: Vec<String> = [
        "batch.data=8",
        "batch.chains=6",
        "langevin.steps=4",
        "langevin.bank_size=30",
        "iterations=50",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    sets.extend(extra.iter().map(|s| s.to_string()));
    Config::resolve(Some("rings-convergent"), None, &sets).unwrap()
}

/// A change applied before an iteration gives that iteration exactly what a
/// trainer configured with the new value from the start gives.
#[test]
fn a_change_reaches_the_next_iteration() {
    let gpu = Arc::new(common::gpu());
    for (change, set) in [
        (Change::Epsilon(0.05), "langevin.epsilon=0.05"),
        (Change::Tau(0.5), "langevin.tau=0.5"),
        (Change::Steps(7), "langevin.steps=7"),
        (Change::LearningRate(0.3), "optimizer.lr=0.3"),
        (Change::Optimizer(OptimizerName::Adam), "optimizer.kind=adam"),
    ] {
        let mut changed = Trainer::new(gpu.clone(), small(&[])).unwrap();
        changed.apply(change).unwrap();
        let mut direct = Trainer::new(gpu.clone(), small(&[set])).unwrap();
        for _ in 0..2 {
            let (a, b) = (changed.step().unwrap(), direct.step().unwrap());
            assert_eq!((a.d_st, a.r_t), (b.d_st, b.r_t), "{change}");
            assert_eq!((a.epsilon, a.steps), (b.epsilon, b.steps), "{change}");
        }
        assert_eq!(changed.params().unwrap(), direct.params().unwrap(), "{change}");
        assert_eq!(changed.changes, vec![(0, change)]);
    }
}

/// Settings a new run is refused (an evaluation grid too coarse for the
/// toy) still open as an older run's: the window's session starts on them.
#[test]
fn an_older_runs_coarse_grid_still_opens() {
    let coarse = small(&["data.radius=10", "eval.grid=100"]);
    assert!(coarse.check_toy_grid().is_err());
    let session = Session::start(Arc::new(common::gpu()), coarse);
    assert!(session.is_ok(), "{:?}", session.err());
}

#[test]
fn invalid_values_are_refused_and_change_nothing() {
    let gpu = Arc::new(common::gpu());
    let mut t = Trainer::new(gpu, small(&[])).unwrap();
    let before = t.config.clone();
    for (change, key) in [
        (Change::Epsilon(-1.0), "langevin.epsilon"),
        (Change::Epsilon(f64::NAN), "langevin.epsilon"),
        (Change::Steps(0), "langevin.steps"),
        (Change::LearningRate(0.0), "optimizer.lr"),
    ] {
        let err = t.apply(change).unwrap_err().to_string();
        assert!(err.contains(key), "{change}: {err}");
    }
    assert_eq!(t.config, before);
    assert!(t.changes.is_empty());
    assert_eq!(t.step().unwrap().epsilon, before.langevin.epsilon);
}

/// Load the window's checkpoint at `path` in `s`: the run's history it holds.
fn load_with_history(s: &Session, path: &std::path::Path) -> Arc<ebmscope::train::run::RunHistory> {
    s.send(Command::Load(path.to_path_buf()));
    let seen = wait_for(s, "load", |u| matches!(u, Update::Loaded { .. }));
    match seen.last() {
        Some(Update::Loaded {
            history: Ok(Some(h)), ..
        }) => h.clone(),
        _ => panic!("the history of the window's run: {seen:?}"),
    }
}

fn wait_for(s: &Session, what: &str, pred: impl Fn(&Update) -> bool) -> Vec<Update> {
    let mut seen = Vec::new();
    while let Some(u) = s.next(Duration::from_secs(60)) {
        let done = pred(&u);
        if let (false, Update::Failed(why)) = (done, &u) {
            panic!("waiting for {what}, the session failed: {why}");
        }
        seen.push(u);
        if done {
            return seen;
        }
    }
    panic!("no {what} within 60 s; saw {seen:?}");
}

#[test]
fn the_session_answers_its_commands() {
    let gpu = Arc::new(common::gpu());
    let dir = common::scratch_dir("session");
    let s = Session::start(gpu.clone(), small(&[])).unwrap();

    s.send(Command::Step);
    let first = wait_for(&s, "iteration", |u| matches!(u, Update::Iteration(_)));
    assert!(matches!(first.last(), Some(Update::Iteration(e)) if e.iteration == 1));

    s.send(Command::Apply(Change::Epsilon(-2.0)));
    let refused = wait_for(&s, "refusal", |u| matches!(u, Update::Refused { .. }));
    assert!(matches!(refused.last(), Some(Update::Refused { why, .. }) if why.contains("langevin.epsilon")));
    s.send(Command::Apply(Change::Epsilon(0.1)));
    wait_for(&s, "applied", |u| {
        matches!(u, Update::Applied { iteration: 1, .. })
    });
    let ck = dir.join("ck.safetensors");
    s.send(Command::Save(ck.clone()));
    wait_for(&s, "save", |u| matches!(u, Update::Saved(_)));
    // Save writes over what this window saved, never over another file.
    s.send(Command::Save(ck.clone()));
    wait_for(&s, "save again", |u| matches!(u, Update::Saved(_)));
    // `compare` reads the run's history the checkpoint holds.
    let compared = ebmscope::train::compare_runs::ComparedRun::read(&ck).unwrap();
    let Some(Update::Iteration(e)) = first.last() else {
        unreachable!()
    };
    assert_eq!(
        compared
            .rows
            .iter()
            .map(|r| (r.iteration, r.d_st))
            .collect::<Vec<_>>(),
        [(1, e.d_st)]
    );
    let epsilon = small(&[]).langevin.epsilon;
    assert_eq!(
        compared.changes,
        [(1, Change::Epsilon(epsilon), Change::Epsilon(0.1))]
    );
    let theirs = dir.join("theirs.safetensors");
    std::fs::write(&theirs, "not the window's").unwrap();
    // (Named as the window names its own, but weights alone: no checkpoint.)
    let state_dict = dir.join("W-window.safetensors");
    let t = ebmscope::io::Tensor {
        name: "w".into(),
        shape: vec![1],
        data: vec![1.0],
    };
    ebmscope::io::write_tensors(&state_dict, &[t]).unwrap();
    let kept = std::fs::read(&state_dict).unwrap();
    for (path, says) in [
        (theirs.clone(), "is not a checkpoint this window saved"),
        (state_dict.clone(), "is not a checkpoint this window saved"),
        (std::path::PathBuf::new(), "type a checkpoint file path first"),
    ] {
        s.send(Command::Save(path));
        let seen = wait_for(&s, "refused save", |u| matches!(u, Update::Failed(_)));
        assert!(
            matches!(seen.last(), Some(Update::Failed(w)) if w.contains(says)),
            "{seen:?}"
        );
    }
    assert_eq!(std::fs::read_to_string(&theirs).unwrap(), "not the window's");
    assert_eq!(std::fs::read(&state_dict).unwrap(), kept);

    s.send(Command::Step);
    let after = wait_for(&s, "iteration", |u| matches!(u, Update::Iteration(_)));
    let Some(Update::Iteration(second)) = after.last().cloned() else {
        unreachable!()
    };
    assert_eq!((second.iteration, second.epsilon), (2, 0.1));

    // Run until paused: iterations flow, then stop.
    s.send(Command::Run);
    wait_for(&s, "running", |u| *u == Update::Running(true));
    wait_for(
        &s,
        "iteration while running",
        |u| matches!(u, Update::Iteration(e) if e.iteration >= 4),
    );
    s.send(Command::Pause);
    wait_for(&s, "pause", |u| *u == Update::Running(false));
    std::thread::sleep(Duration::from_millis(300));
    let late: Vec<_> = s
        .drain()
        .into_iter()
        .filter(|u| matches!(u, Update::Iteration(_)))
        .collect();
    assert!(late.is_empty(), "iterations after the pause: {late:?}");

    // Load the checkpoint: the next iteration repeats iteration 2 exactly.
    s.send(Command::Load(ck));
    wait_for(&s, "load", |u| matches!(u, Update::Loaded { iteration: 1, .. }));
    s.send(Command::Step);
    let again = wait_for(&s, "iteration", |u| matches!(u, Update::Iteration(_)));
    let Some(Update::Iteration(repeat)) = again.last().cloned() else {
        unreachable!()
    };
    assert_eq!(
        (repeat.iteration, repeat.d_st, repeat.r_t),
        (2, second.d_st, second.r_t)
    );

    s.send(Command::Reset);
    wait_for(&s, "reset", |u| *u == Update::Reset);
    s.send(Command::Step);
    let reset = wait_for(&s, "iteration", |u| matches!(u, Update::Iteration(_)));
    let Some(Update::Iteration(one)) = reset.last().cloned() else {
        unreachable!()
    };
    // Starting over keeps the current settings (ε = 0.1 from the loaded checkpoint).
    let fresh = Trainer::new(gpu, small(&["langevin.epsilon=0.1"]))
        .unwrap()
        .step()
        .unwrap();
    assert_eq!(
        (one.iteration, one.d_st, one.epsilon),
        (1, fresh.d_st, 0.1),
        "reset starts over"
    );
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The window's Load of weights alone (a state dict, as PyTorch or a run's
/// weights/ folder has them) takes the window's settings: the next
/// iteration is that of a new run of those settings with these weights,
/// iteration 1 of a fresh optimizer and bank; weights of another net are
/// refused and change nothing.
#[test]
fn the_window_loads_weights_alone_with_its_settings() {
    let gpu = Arc::new(common::gpu());
    let dir = common::fresh_dir("session-weights-alone");
    std::fs::create_dir_all(&dir).unwrap();
    let config = small(&[]);
    // Another model's weights: another seed's initialisation.
    let other = Trainer::new(gpu.clone(), small(&["seed=7"])).unwrap();
    let weights = other.params().unwrap();
    let layout = ebmscope::train::net_spec(&config)
        .unwrap()
        .param_layout()
        .unwrap();
    let path = dir.join("W.safetensors");
    ebmscope::io::save_params(&path, &layout, &weights).unwrap();
    let mut want = Trainer::new(gpu.clone(), config.clone()).unwrap();
    assert_ne!(want.params().unwrap(), weights, "the test needs other weights");
    want.write_params(&weights).unwrap();
    let want = want.step().unwrap();

    let s = Session::start(gpu, config).unwrap();
    s.send(Command::Step);
    wait_for(&s, "iteration", |u| matches!(u, Update::Iteration(_)));
    s.send(Command::Load(path));
    wait_for(&s, "load", |u| matches!(u, Update::Loaded { iteration: 0, .. }));
    s.send(Command::Step);
    let seen = wait_for(&s, "iteration", |u| matches!(u, Update::Iteration(_)));
    let Some(Update::Iteration(got)) = seen.last() else {
        unreachable!()
    };
    assert_eq!((got.iteration, got.d_st, got.r_t), (1, want.d_st, want.r_t));
    // Weights of another net (a layer missing): refused.
    let short = dir.join("short.safetensors");
    let kept = common::state_dict(&layout, &weights, |n| (n != "f.0.weight").then(|| n.into()));
    ebmscope::io::write_tensors(&short, &kept).unwrap();
    s.send(Command::Load(short));
    let seen = wait_for(&s, "refused load", |u| matches!(u, Update::Failed(_)));
    assert!(
        matches!(seen.last(), Some(Update::Failed(why)) if why.contains("missing tensor")),
        "{seen:?}"
    );
    // ... and changed nothing: the loaded run goes on.
    s.send(Command::Step);
    let seen = wait_for(&s, "iteration", |u| matches!(u, Update::Iteration(_)));
    assert!(matches!(seen.last(), Some(Update::Iteration(e)) if e.iteration == 2));
    // Reset starts again from the weights (net.init_weights), not afresh.
    s.send(Command::Reset);
    s.send(Command::Step);
    let seen = wait_for(&s, "iteration", |u| matches!(u, Update::Iteration(_)));
    let Some(Update::Iteration(got)) = seen.last() else {
        unreachable!()
    };
    assert_eq!((got.iteration, got.d_st, got.r_t), (1, want.d_st, want.r_t));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The window's two extra views: toy densities on request, and the energy
/// path after every iteration once asked for (kept across a reset).
#[test]
fn the_session_reports_toy_densities_and_energy_paths() {
    let gpu = Arc::new(common::gpu());
    let s = Session::start(gpu.clone(), small(&["eval.grid=24", "eval.kde_samples=32"])).unwrap();
    s.send(Command::Step);
    s.send(Command::EvaluateToy);
    // (After the run's start's, evaluated unasked before iteration 1.)
    let seen = wait_for(&s, "toy densities", |u| {
        matches!(u, Update::Toy { iteration: 1, .. })
    });
    let Some(Update::Toy { iteration, metrics }) = seen.last().cloned() else {
        unreachable!()
    };
    assert_eq!(iteration, 1);
    // The same numbers as evaluating that trainer directly.
    let mut direct = Trainer::new(gpu, small(&["eval.grid=24", "eval.kde_samples=32"])).unwrap();
    direct.step().unwrap();
    let want = ebmscope::train::evaluate_toy(&direct).unwrap();
    assert_eq!((metrics.tv_model, metrics.tv_kde), (want.tv_model, want.tv_kde));
    assert_eq!(metrics.model.len(), 24 * 24);

    s.send(Command::RecordEnergyPath(true));
    s.send(Command::Reset);
    s.send(Command::Step);
    let seen = wait_for(&s, "energy path", |u| matches!(u, Update::EnergyPath { .. }));
    let Some(Update::EnergyPath {
        iteration,
        chains,
        energies,
    }) = seen.last().cloned()
    else {
        unreachable!()
    };
    assert_eq!((iteration, chains, energies.len()), (1, 6, (4 + 1) * 6));
    s.send(Command::RecordEnergyPath(false));
    s.send(Command::Step);
    wait_for(&s, "iteration", |u| matches!(u, Update::Iteration(_)));
    std::thread::sleep(Duration::from_millis(200));
    assert!(!s.drain().iter().any(|u| matches!(u, Update::EnergyPath { .. })));
}

/// Toy data is evaluated unasked before a new run's first iteration and
/// after every `output.picture_every`th, as `train` evaluates it; every evaluation (those asked for
/// too, one again at the same iteration replacing the one before) is kept
/// in the run's history: a Save holds it, a Load gives it back, and
/// `compare` reads it from the checkpoint, as it reads a run's
/// toy_metrics.csv.
#[test]
fn the_session_evaluates_toy_data_as_train_does_and_saves_it() {
    use ebmscope::train::compare_runs::ComparedRun;
    use ebmscope::train::run::ToyRow;
    let gpu = Arc::new(common::gpu());
    let dir = common::fresh_dir("session-toy-history");
    let config = small(&["eval.grid=24", "eval.kde_samples=32", "output.picture_every=2"]);
    let s = Session::start(gpu.clone(), config.clone()).unwrap();
    let mut toy = Vec::new();
    // (Each said as it begins: training waits for it.)
    let (mut said, mut answers) = (Vec::new(), Vec::new());
    let mut evaluated = |seen: &[Update]| {
        for u in seen {
            match u {
                Update::Evaluating { what, .. } => said.push(what.clone()),
                Update::Toy { iteration, metrics } => {
                    toy.push(ToyRow::of(*iteration, metrics));
                    answers.push(metrics.clone());
                }
                _ => {}
            }
        }
    };
    for _ in 0..3 {
        s.send(Command::Step);
        evaluated(&wait_for(&s, "iteration", |u| matches!(u, Update::Iteration(_))));
    }
    // (Iteration 0's is sent before iteration 1, and the evaluation after
    // iteration 2 after it, before iteration 3.)
    s.send(Command::EvaluateToy);
    evaluated(&wait_for(&s, "toy densities", |u| {
        matches!(u, Update::Toy { .. })
    }));
    // Asked again of the same model (as the window asks when it sees an
    // iteration the trainer may have evaluated unasked): that evaluation
    // again, not made again (nor said).
    s.send(Command::EvaluateToy);
    evaluated(&wait_for(&s, "toy densities", |u| {
        matches!(u, Update::Toy { .. })
    }));
    // Asked again at iteration 3 after a change of ε (U is in units of
    // T = ε²/2): another evaluation, which replaces the one before.
    s.send(Command::Apply(Change::Epsilon(0.1)));
    wait_for(&s, "applied", |u| matches!(u, Update::Applied { .. }));
    s.send(Command::EvaluateToy);
    evaluated(&wait_for(&s, "toy densities", |u| {
        matches!(u, Update::Toy { .. })
    }));
    let at: Vec<u64> = toy.iter().map(|t| t.iteration).collect();
    assert_eq!(
        at,
        [0, 2, 3, 3, 3],
        "unasked at the start and after iteration 2 alone, then as asked"
    );
    // (The very evaluation: made again, equal numbers would come in another.)
    assert!(
        Arc::ptr_eq(&answers[2], &answers[3]),
        "the same model's evaluation answered again"
    );
    assert_ne!(toy[3], toy[4], "after the change, iteration 3 evaluated again");
    // The same numbers as evaluating a trainer of 0 and 2 iterations directly.
    let mut direct = Trainer::new(gpu.clone(), config.clone()).unwrap();
    for row in &toy[..2] {
        while direct.iteration < row.iteration {
            direct.step().unwrap();
        }
        let want = ebmscope::train::evaluate_toy(&direct).unwrap();
        assert_eq!((row.tv_model, row.tv_kde), (want.tv_model, want.tv_kde.tv));
    }
    // (30 chains: a persistent run's start from its bank of 30.)
    let what = "evaluating the densities: 30 chains × 4 steps (eval.kde_samples) …";
    assert_eq!(said, [what; 4]);

    let path = dir.join("run-window.safetensors");
    s.send(Command::Save(path.clone()));
    wait_for(&s, "save", |u| matches!(u, Update::Saved(_)));
    drop(s);
    // As toy_metrics.csv keeps them: six decimals.
    let near = |a: &[ToyRow], b: &[ToyRow]| {
        a.len() == b.len()
            && a.iter().zip(b).all(|(a, b)| {
                a.iteration == b.iteration
                    && [
                        (a.tv_model, b.tv_model),
                        (a.kl_model, b.kl_model),
                        (a.tv_kde, b.tv_kde),
                        (a.kl_kde, b.kl_kde),
                    ]
                    .iter()
                    .all(|(x, y)| (x - y).abs() <= 5e-7)
            })
    };
    let kept = [toy[0], toy[1], toy[4]];
    let s = Session::start(gpu.clone(), config).unwrap();
    let h = load_with_history(&s, &path);
    assert!(
        near(h.toy.as_ref().unwrap(), &kept),
        "{:?} against {kept:?}",
        h.toy
    );
    let compared = ComparedRun::read(&path).unwrap();
    assert!(near(&compared.toy, &kept), "{:?}", compared.toy);
    // The loaded run goes on: its evaluations, and the next (iteration 4), saved.
    s.send(Command::Step);
    wait_for(&s, "the evaluation of iteration 4", |u| {
        matches!(u, Update::Toy { .. })
    });
    s.send(Command::Save(path.clone()));
    wait_for(&s, "save", |u| matches!(u, Update::Saved(_)));
    let saved = ComparedRun::read(&path).unwrap().toy;
    let at: Vec<u64> = saved.iter().map(|t| t.iteration).collect();
    assert!(at == [0, 2, 3, 4] && near(&saved[..3], &kept), "{saved:?}");
    // A checkpoint saved before the window kept evaluations: loaded, its
    // run has none (not the run's before), and saved again, none.
    let older = dir.join("older-window.safetensors");
    let ck = ebmscope::train::Checkpoint::load(&path).unwrap();
    let history = ck
        .history
        .clone()
        .map(|h| ebmscope::train::SavedHistory { toy: None, ..h });
    ebmscope::train::Checkpoint { history, ..ck }
        .save(&older)
        .unwrap();
    s.send(Command::Load(older.clone()));
    let seen = wait_for(&s, "load", |u| matches!(u, Update::Loaded { .. }));
    assert!(
        matches!(seen.last(), Some(Update::Loaded { history: Ok(Some(h)), .. }) if h.toy == Ok(Vec::new())),
        "{seen:?}"
    );
    s.send(Command::Step);
    wait_for(&s, "iteration", |u| matches!(u, Update::Iteration(_)));
    s.send(Command::Save(older.clone()));
    wait_for(&s, "save", |u| matches!(u, Update::Saved(_)));
    let ck = ebmscope::train::Checkpoint::load(&older).unwrap();
    assert_eq!((ck.iteration, ck.history.map(|h| h.toy)), (5, Some(None)));
    // Saved again after a Reset: the new run's alone (its start).
    s.send(Command::Reset);
    wait_for(&s, "reset", |u| matches!(u, Update::Reset));
    s.send(Command::Step);
    wait_for(&s, "iteration", |u| matches!(u, Update::Iteration(_)));
    s.send(Command::Save(path.clone()));
    wait_for(&s, "save", |u| matches!(u, Update::Saved(_)));
    let saved = ComparedRun::read(&path).unwrap().toy;
    assert!(saved.len() == 1 && saved[0].iteration == 0, "{saved:?}");
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The texture holds exactly the picture the CPU twin makes of `states` in
/// `layout` (`what`: when, for the message).
fn assert_picture_shows(
    gpu: &ebmscope::gpu::Gpu,
    texture: &wgpu::Texture,
    layout: &ebmscope::kernels::picture::GridLayout,
    states: &[f32],
    what: &str,
) {
    let want = ebmscope::reference::picture::image_grid(states, layout);
    let got = common::read_texture(gpu, texture, [layout.width, layout.height]);
    let differ = got.iter().zip(&want).filter(|(a, b)| a != b).count();
    assert_eq!(
        (got.len(), differ),
        (want.len(), 0),
        "pixels of the texture that differ {what}"
    );
}

/// Fashion-MNIST (Debian's copy) with a 4-filter VanillaNet, 5 chains of
/// 2 steps.
fn small_images() -> Config {
    let sets: Vec<String> = [
        "net.n_f=4",
        "batch.data=4",
        "batch.chains=5",
        "langevin.steps=2",
        "data.limit=100",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    Config::resolve(Some("fashion-mnist-quick"), None, &sets).unwrap()
}

/// On image data the session keeps a GPU texture of the chains (or the
/// data batch, or the bank) up to date: after an iteration it holds exactly
/// the picture the CPU twin makes of the chains; a bank picture without a
/// bank is refused with the setting that makes one.
#[test]
fn the_session_keeps_a_picture_of_the_chains_on_the_gpu() {
    use ebmscope::kernels::picture::GridLayout;
    use ebmscope::train::PictureSource;
    let gpu = Arc::new(common::gpu());
    let s = Session::start(gpu.clone(), small_images()).unwrap();
    s.send(Command::ShowPicture(Some(PictureSource::Bank)));
    let refused = wait_for(&s, "refusal", |u| matches!(u, Update::Failed(_)));
    assert!(
        matches!(refused.last(), Some(Update::Failed(why)) if why.contains("langevin.init = persistent"))
    );

    // A new session's chains are zeros, no chains: their picture comes
    // with the first iteration.
    s.send(Command::ShowPicture(Some(PictureSource::Chains)));
    s.send(Command::Step);
    let seen = wait_for(&s, "picture", |u| matches!(u, Update::Picture { .. }));
    assert!(
        matches!(&seen[..], [Update::Iteration(e), Update::Picture { .. }] if e.iteration == 1),
        "{} updates before the picture, not the first iteration alone",
        seen.len() - 1
    );
    let Some(Update::Picture {
        source,
        texture,
        size,
    }) = seen.last().cloned()
    else {
        unreachable!()
    };
    let layout = GridLayout::new(5, [1, 32, 32]).unwrap();
    assert_eq!(
        (source, size),
        (PictureSource::Chains, [layout.width, layout.height])
    );
    // While the picture shows the chains they are not read back; stopping
    // it sends them once (from the last iteration: the session is paused).
    s.send(Command::Step);
    s.send(Command::ShowPicture(None));
    let seen = wait_for(&s, "chains", |u| matches!(u, Update::Chains { .. }));
    let chains = seen.iter().filter(|u| matches!(u, Update::Chains { .. })).count();
    let iterations = seen.iter().filter(|u| matches!(u, Update::Iteration(_))).count();
    assert_eq!((iterations, chains), (1, 1), "{seen:?}");
    let Some(Update::Chains { iteration: 2, states }) = seen.last().cloned() else {
        panic!("no chains of iteration 2: {seen:?}")
    };
    assert_picture_shows(&gpu, &texture, &layout, &states, "after the iteration");

    s.send(Command::ShowPicture(Some(PictureSource::Data)));
    let seen = wait_for(&s, "picture", |u| matches!(u, Update::Picture { .. }));
    assert!(
        matches!(seen.last(), Some(Update::Picture { source: PictureSource::Data, size, .. })
        if *size == [GridLayout::new(4, [1, 32, 32]).unwrap().width, GridLayout::new(4, [1, 32, 32]).unwrap().height])
    );
}

/// Reset and Load give the session another trainer, with other buffers: a
/// picture asked for again then shows the new run's chains, pixel for pixel
/// (what the window does after either), not the old run's.
#[test]
fn a_picture_asked_for_after_a_reset_or_a_load_shows_the_new_run() {
    use ebmscope::kernels::picture::GridLayout;
    use ebmscope::train::PictureSource;
    let gpu = Arc::new(common::gpu());
    let dir = common::fresh_dir("session-picture-reload");
    std::fs::create_dir_all(&dir).unwrap();
    let checkpoint = dir.join("checkpoint.safetensors");
    let s = Session::start(gpu.clone(), small_images()).unwrap();
    let layout = GridLayout::new(5, [1, 32, 32]).unwrap();
    let size = [layout.width, layout.height];
    let picture = |s: &Session| {
        s.send(Command::ShowPicture(Some(PictureSource::Chains)));
        match wait_for(s, "picture", |u| matches!(u, Update::Picture { .. })).pop() {
            Some(Update::Picture {
                texture, size: got, ..
            }) if got == size => texture,
            other => panic!("a picture of {size:?} was asked for, got {other:?}"),
        }
    };
    let chains_of = |seen: Vec<Update>, iteration: u64| match seen.last() {
        Some(Update::Chains { iteration: i, states }) if *i == iteration => states.clone(),
        _ => panic!("no chains of iteration {iteration} among {} updates", seen.len()),
    };

    // The first run, saved at iteration 1 with its picture shown.
    s.send(Command::Step);
    let saved_chains = chains_of(wait_for(&s, "chains", |u| matches!(u, Update::Chains { .. })), 1);
    s.send(Command::Save(checkpoint.clone()));
    wait_for(&s, "save", |u| matches!(u, Update::Saved(_)));
    let old = picture(&s);
    assert_picture_shows(&gpu, &old, &layout, &saved_chains, "in the first run's picture");

    // Started over and two iterations on: the new picture shows them (it
    // comes with the first: the new run has no chains before).
    s.send(Command::Reset);
    wait_for(&s, "reset", |u| matches!(u, Update::Reset));
    s.send(Command::ShowPicture(Some(PictureSource::Chains)));
    s.send(Command::Step);
    let seen = wait_for(&s, "picture", |u| matches!(u, Update::Picture { .. }));
    let after_reset = match &seen[..] {
        [
            Update::Iteration(e),
            Update::Picture {
                texture, size: got, ..
            },
        ] if e.iteration == 1 && *got == size => texture.clone(),
        _ => panic!(
            "{} updates before the new run's picture, not its first iteration alone",
            seen.len() - 1
        ),
    };
    s.send(Command::Step);
    s.send(Command::ShowPicture(None));
    let reset_chains = chains_of(wait_for(&s, "chains", |u| matches!(u, Update::Chains { .. })), 2);
    assert!(reset_chains != saved_chains, "the test needs runs that differ");
    let what = "after a reset and two iterations";
    assert_picture_shows(&gpu, &after_reset, &layout, &reset_chains, what);

    // Loaded: the picture shows the checkpoint's chains at once.
    s.send(Command::Load(checkpoint.clone()));
    let loaded_chains = chains_of(wait_for(&s, "chains", |u| matches!(u, Update::Chains { .. })), 1);
    assert!(
        loaded_chains == saved_chains,
        "the chains sent on load are not the checkpoint's"
    );
    let after_load = picture(&s);
    assert_picture_shows(&gpu, &after_load, &layout, &saved_chains, "after a load");

    // A checkpoint from before checkpoints kept the chains: none are sent,
    // on the load or when its picture stops (a new trainer's zeros are no
    // chains), until the next iteration's.
    let older = dir.join("older.safetensors");
    let mut ck = ebmscope::train::Checkpoint::load(&checkpoint).unwrap();
    ck.chains = None;
    ck.save(&older).unwrap();
    s.send(Command::Load(older));
    let mut seen = wait_for(&s, "load", |u| matches!(u, Update::Loaded { .. }));
    s.send(Command::ShowPicture(Some(PictureSource::Chains)));
    s.send(Command::ShowPicture(None));
    s.send(Command::Step);
    seen.extend(wait_for(&s, "the next iteration's chains", |u| {
        matches!(u, Update::Chains { .. })
    }));
    let sent: Vec<u64> = seen
        .iter()
        .filter_map(|u| match u {
            Update::Chains { iteration, .. } => Some(*iteration),
            _ => None,
        })
        .collect();
    assert_eq!(
        sent,
        [2],
        "iterations of the chains sent after loading a checkpoint without them"
    );
    assert!(
        !seen.iter().any(|u| matches!(u, Update::Picture { .. })),
        "a picture of no chains was sent"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A long run from the current model reports its progress ten times and
/// ends at the asked step, with the run's long-run chains and (toy data)
/// the TV of their KDE to q, as `sample` scores them.
#[test]
fn the_session_runs_a_long_run_from_the_current_model() {
    use ebmscope::data::toy::{KdeScore, Toy};
    let gpu = Arc::new(common::gpu());
    let config = small(&["eval.longrun_chains=7"]);
    let score = KdeScore::new(&Toy::new(&config.data).unwrap(), &config.eval, 7);
    let s = Session::start(gpu, config).unwrap();
    s.send(Command::Step);
    s.send(Command::LongRun(LongRunAsk::langevin(20)));
    let seen = wait_for(
        &s,
        "long run end",
        |u| matches!(u, Update::LongRun { row, .. } if row.step == 20),
    );
    let reports: Vec<(u64, u64, usize)> = seen
        .iter()
        .filter_map(|u| match u {
            Update::LongRun {
                iteration,
                row,
                tv,
                states,
                ..
            } => {
                assert!(row.mean_energy.is_finite());
                assert_eq!(*tv, Some(score.score(states).1), "at step {}", row.step);
                Some((*iteration, row.step, states.len()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(reports.len(), 11, "steps 0, 2, …, 20: {reports:?}");
    assert!(reports.iter().all(|&(it, _, len)| it == 1 && len == 7 * 2));

    // From the bank (30 states here), more chains than it holds are
    // refused, named by the run's settings, as training's checks name them.
    let from_bank = [
        "eval.longrun_every=0",
        "eval.longrun_init=bank",
        "eval.longrun_chains=31",
    ];
    let s = Session::start(Arc::new(common::gpu()), small(&from_bank)).unwrap();
    s.send(Command::LongRun(LongRunAsk::langevin(2)));
    let seen = wait_for(&s, "the refusal", |u| matches!(u, Update::WorkEnded(_)));
    assert!(
        matches!(seen.last(), Some(Update::WorkEnded(w)) if w.starts_with(
            "the long run failed: configuration: `eval.longrun_chains`: the window's long runs (at \
             most 100 chains) start from 31 of the bank's states, but it holds 30"
        )),
        "{:?}",
        seen.last()
    );
}

/// Long work stops when asked, between two submissions, or fails, and
/// says so (`WorkEnded`) without touching training: a running trainer goes
/// on running. A stop covers the jobs sent before it, even one not begun
/// yet, and no later one. A session dropped during long work ends within
/// seconds, not after the work: closing the window must not hang.
#[test]
fn long_work_stops_when_asked_and_when_the_session_ends() {
    use ebmscope::train::landscape::LandscapeOptions;
    let ended = |u: &Update| matches!(u, Update::WorkEnded(_));
    let gpu = Arc::new(common::gpu());
    let config = small(&["eval.longrun_chains=7", "iterations=1000000"]);
    let s = Session::start(gpu.clone(), config).unwrap();
    s.send(Command::Run);
    wait_for(&s, "an iteration", |u| matches!(u, Update::Iteration(_)));
    s.send(Command::LongRun(LongRunAsk::langevin(1_000_000_000)));
    let mut seen = wait_for(&s, "first long-run report", |u| {
        matches!(u, Update::LongRun { .. })
    });
    s.stop_work();
    seen.extend(wait_for(&s, "the stop", ended));
    assert!(matches!(seen.last(), Some(Update::WorkEnded(w)) if w == "the long run stopped"));
    for _ in 0..3 {
        seen.extend(wait_for(&s, "iterations after the stop", |u| {
            matches!(u, Update::Iteration(_))
        }));
    }
    // A failed map ends the same way: training still runs.
    let from_a_bank_too_small = LandscapeOptions {
        starts: 31,
        from: ebmscope::train::longrun::ChainStart::Fresh(ebmscope::train::longrun::LongRunInit::Bank),
        ..Default::default()
    };
    s.send(Command::Landscape(from_a_bank_too_small));
    seen.extend(wait_for(&s, "the failure", ended));
    assert!(
        matches!(seen.last(), Some(Update::WorkEnded(w)) if w.starts_with("the landscape map failed: ") && w.contains("fewer than")),
        "{:?}",
        seen.last()
    );
    seen.extend(wait_for(&s, "an iteration after the failure", |u| {
        matches!(u, Update::Iteration(_))
    }));
    assert!(
        !seen
            .iter()
            .any(|u| matches!(u, Update::Running(false) | Update::Failed(_))),
        "training was stopped: {seen:?}"
    );
    s.send(Command::Pause);
    wait_for(&s, "pause", |u| matches!(u, Update::Running(false)));

    // Stopped before it begins (still queued), the first map ends at once;
    // the second, sent after the stop, is mapped.
    s.send(Command::Landscape(LandscapeOptions::default()));
    s.stop_work();
    s.send(Command::Landscape(LandscapeOptions {
        starts: 4,
        descent_steps: 50,
        ad_steps: 50,
        ..Default::default()
    }));
    let seen = wait_for(&s, "the second map", |u| matches!(u, Update::Landscape(_)));
    let ends: Vec<&Update> = seen.iter().filter(|u| ended(u)).collect();
    assert!(
        matches!(ends[..], [Update::WorkEnded(w)] if w == "the landscape map stopped"),
        "{ends:?}"
    );

    let s = Session::start(gpu, small(&[])).unwrap();
    s.send(Command::LongRun(LongRunAsk::langevin(1_000_000_000)));
    wait_for(&s, "first long-run report", |u| {
        matches!(u, Update::LongRun { .. })
    });
    let start = Instant::now();
    drop(s);
    let took = start.elapsed();
    assert!(took < Duration::from_secs(20), "the session took {took:?} to end");
}

/// An evaluation of the toy densities says how far its short run has come
/// and stops when asked by its number, even before it begins, or when a
/// Pause, Reset or Load is sent while it runs or before it begins, within
/// a slice or two of its steps; nothing is kept of a stopped one (and a
/// new run's start's, so stopped, stops its first iteration too). A stop
/// aimed at one stops no later one, and ending the session stops one
/// under way. (Here 2 000 chains × 100 000 steps, many minutes on lavapipe.)
#[test]
fn an_evaluation_stops_when_asked_and_when_the_session_ends() {
    // (A persistent run's evaluation starts from its bank: as large.)
    let endless = [
        "langevin.steps=100000",
        "langevin.bank_size=2000",
        "eval.kde_samples=2000",
        "eval.grid=24",
    ];
    let gpu = Arc::new(common::gpu());
    let s = Session::start(gpu.clone(), small(&endless)).unwrap();
    // (In slices of 50 000 chain-steps: 25 steps of 2 000 chains.)
    let going =
        |u: &Update| matches!(u, Update::Evaluating { what, .. } if what.ends_with("… step 25 of 100000"));
    let answered = |u: &Update| matches!(u, Update::ToyRefused { .. } | Update::Toy { .. });
    let was_stopped = |seen: &[Update]| matches!(seen.last(), Some(Update::ToyRefused { iteration: 0, why }) if why == "the evaluation stopped");
    let said = "evaluating the densities: 2000 chains × 100000 steps (eval.kde_samples) …";
    // Stopped by its number before it begins: at its first slice.
    s.stop_evaluation(1);
    s.send(Command::EvaluateToy);
    let seen = wait_for(&s, "the first evaluation's stop", answered);
    assert!(
        matches!(&seen[0], Update::Evaluating { number: 1, what } if what == said),
        "{seen:?}"
    );
    assert!(was_stopped(&seen), "{seen:?}");
    // Stopped while it runs, by the number it said.
    s.send(Command::EvaluateToy);
    let seen = wait_for(&s, "the second evaluation's progress", going);
    let Some(Update::Evaluating { number: 2, .. }) = seen.last() else {
        panic!("{seen:?}")
    };
    s.stop_evaluation(2);
    assert!(was_stopped(&wait_for(&s, "the second's stop", answered)));
    // A Pause sent behind it stops it (training has nothing to wait for).
    s.send(Command::EvaluateToy);
    s.send(Command::Pause);
    assert!(was_stopped(&wait_for(&s, "the Pause's stop", answered)));
    // A stop aimed at the one before stops not this one, which ends.
    s.stop_evaluation(3);
    s.send(Command::Apply(Change::Steps(4)));
    s.send(Command::EvaluateToy);
    let seen = wait_for(&s, "an evaluation to its end", answered);
    assert!(
        matches!(seen.last(), Some(Update::Toy { iteration: 0, .. })),
        "{seen:?}"
    );
    // Only the evaluation that ended is kept.
    let dir = common::fresh_dir("session-stopped-evaluation");
    let path = dir.join("stopped-window.safetensors");
    s.send(Command::Save(path.clone()));
    wait_for(&s, "save", |u| matches!(u, Update::Saved(_)));
    let rows = load_with_history(&s, &path).toy.clone().unwrap();
    assert_eq!(rows.iter().map(|r| r.iteration).collect::<Vec<_>>(), [0]);
    // A Reset and a Load sent behind one stop it too.
    s.send(Command::Apply(Change::Steps(100_000)));
    s.send(Command::EvaluateToy);
    s.send(Command::Reset);
    assert!(was_stopped(&wait_for(&s, "the Reset's stop", answered)));
    wait_for(&s, "the reset", |u| matches!(u, Update::Reset));
    s.send(Command::EvaluateToy);
    s.send(Command::Load(path.clone()));
    assert!(was_stopped(&wait_for(&s, "the Load's stop", answered)));
    wait_for(&s, "the load", |u| matches!(u, Update::Loaded { .. }));
    let _ = std::fs::remove_dir_all(&dir);
    // A Pause behind a new run's start's evaluation stops it and the
    // iteration it came before: paused at the start, which the next Step
    // evaluates again, then iterates.
    let fresh = Session::start(gpu.clone(), small(&endless)).unwrap();
    fresh.send(Command::Step);
    fresh.send(Command::Pause);
    assert!(was_stopped(&wait_for(&fresh, "the start's stop", answered)));
    fresh.send(Command::Apply(Change::Steps(4)));
    fresh.send(Command::Step);
    let seen = wait_for(&fresh, "the first iteration", |u| {
        matches!(u, Update::Iteration(_))
    });
    let toy = seen
        .iter()
        .position(|u| matches!(u, Update::Toy { iteration: 0, .. }));
    assert!(
        toy.is_some() && matches!(seen.last(), Some(Update::Iteration(e)) if e.iteration == 1),
        "{seen:?}"
    );
    drop(fresh);

    s.send(Command::Apply(Change::Steps(100_000)));
    s.send(Command::EvaluateToy);
    wait_for(&s, "the last evaluation's progress", going);
    let start = Instant::now();
    drop(s);
    let took = start.elapsed();
    assert!(took < Duration::from_secs(20), "the session took {took:?} to end");
}

/// A diverged iteration pauses the run, and the model holds its step: Save,
/// a long run and a landscape map refuse it, saying what to do, and leave a
/// file in the way as it was (and no folder made for a new one); after a
/// Load, Save works again.
#[test]
fn a_diverged_model_is_neither_saved_nor_sampled_from() {
    use ebmscope::train::landscape::LandscapeOptions;
    let gpu = Arc::new(common::gpu());
    let dir = common::fresh_dir("session-diverged");
    std::fs::create_dir_all(&dir).unwrap();
    let s = Session::start(gpu, small(&["optimizer.lr=1e9", "optimizer.lr_min=1e9"])).unwrap();
    s.send(Command::Step);
    wait_for(&s, "iteration", |u| matches!(u, Update::Iteration(_)));
    let good = dir.join("good.safetensors");
    s.send(Command::Save(good.clone()));
    wait_for(&s, "save", |u| matches!(u, Update::Saved(_)));
    let kept = std::fs::read(&good).unwrap();

    s.send(Command::Run);
    let seen = wait_for(
        &s,
        "divergence",
        |u| matches!(u, Update::Failed(why) if why.starts_with("learning diverged at iteration")),
    );
    let Some(Update::Failed(why)) = seen.last() else {
        unreachable!()
    };
    let at = why["learning diverged at iteration ".len()..]
        .split(':')
        .next()
        .unwrap()
        .to_string();
    assert!(seen.contains(&Update::Running(false)), "the run pauses: {seen:?}");
    let refusal = format!("the model holds the step of iteration {at}, which diverged");

    let elsewhere = dir.join("new-folder").join("diverged.safetensors");
    for path in [&good, &elsewhere] {
        s.send(Command::Save(path.clone()));
        let seen = wait_for(&s, "refused save", |u| matches!(u, Update::Failed(_)));
        assert!(
            matches!(seen.last(), Some(Update::Failed(w)) if w.contains(&refusal) && w.contains("Load a checkpoint or start over (Reset)")),
            "{seen:?}"
        );
    }
    assert_eq!(
        std::fs::read(&good).unwrap(),
        kept,
        "the saved checkpoint was changed"
    );
    assert!(!dir.join("new-folder").exists(), "a refused save made its folder");

    // Nor are the toy densities evaluated on it: refused once, at this iteration.
    s.send(Command::EvaluateToy);
    let seen = wait_for(&s, "refused densities", |u| {
        matches!(u, Update::ToyRefused { .. })
    });
    assert!(
        matches!(seen.last(), Some(Update::ToyRefused { why, .. }) if why.contains(&refusal)),
        "{seen:?}"
    );

    s.send(Command::LongRun(LongRunAsk::langevin(10)));
    s.send(Command::Landscape(LandscapeOptions::default()));
    for what in ["the long run", "the landscape map"] {
        let seen = wait_for(&s, what, |u| matches!(u, Update::WorkEnded(_)));
        assert!(
            matches!(seen.last(), Some(Update::WorkEnded(w)) if w.starts_with(&format!("{what} failed: {refusal}"))),
            "{seen:?}"
        );
    }

    s.send(Command::Load(good.clone()));
    wait_for(&s, "load", |u| matches!(u, Update::Loaded { iteration: 1, .. }));
    s.send(Command::Save(elsewhere.clone()));
    wait_for(&s, "save after the load", |u| matches!(u, Update::Saved(_)));
    assert_eq!(
        ebmscope::train::Checkpoint::load(&elsewhere).unwrap().iteration,
        1
    );
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A resumed run and a run opened in the window go on watching for
/// divergence from the run's own history: a history of tiny d_st (forged
/// here, as no short run makes one) makes the next iteration's ordinary
/// d_st a runaway, which only a watch that has the history can see (with
/// none, the first 100 iterations are its warm-up).
#[test]
fn a_resumed_or_loaded_run_watches_for_divergence_from_its_history() {
    use ebmscope::train::Checkpoint;
    let dir = common::fresh_dir("session-watch-history");
    let out = common::train_small_toy(&dir, 1, &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let path = dir.join("checkpoint.safetensors");
    let mut ck = Checkpoint::load(&path).unwrap();
    let past = 150u64;
    ck.iteration = past;
    // (The d_st of its iteration, as the history written below has it.)
    ck.d_st = Some(1e-12);
    ck.save(&path).unwrap();
    let mut metrics = String::from("iteration,d_st,r_t,mean_u_data,mean_u_samples,lr,wall_time,phase\n");
    for i in 1..=past {
        metrics.push_str(&format!("{i},1e-12,0.5,0,0,0.1,{i},contraction\n"));
    }
    std::fs::write(dir.join("metrics.csv"), &metrics).unwrap();
    let runaway = format!("learning diverged at iteration {}: d_st ran away", past + 1);

    let out = common::resume_train(&dir, Some(past + 1), &[]);
    common::assert_refused(&out, &runaway);

    // Loaded in a window, the checkpoint brings its history of `past`
    // iterations, and the next step is a runaway.
    let loaded_runs_away = |checkpoint: std::path::PathBuf| {
        let s = Session::start(Arc::new(common::gpu()), small(&[])).unwrap();
        s.send(Command::Load(checkpoint));
        let seen = wait_for(&s, "load", |u| matches!(u, Update::Loaded { .. }));
        assert!(
            matches!(seen.last(), Some(Update::Loaded { history: Ok(Some(h)), .. }) if h.events.len() == past as usize),
            "{seen:?}"
        );
        s.send(Command::Step);
        let seen = wait_for(&s, "the divergence", |u| {
            matches!(u, Update::Failed(_) | Update::Iteration(_))
        });
        assert!(
            matches!(seen.last(), Some(Update::Failed(why)) if why.starts_with(&runaway)),
            "{seen:?}"
        );
    };
    loaded_runs_away(path.clone());

    // The same history kept in a window's checkpoint (its Save) rather
    // than in a run folder.
    use ebmscope::train::SavedHistory;
    let window = dir.join("forged-window.safetensors");
    let history = SavedHistory {
        metrics,
        changes: "iteration,setting,from,to\n".into(),
        toy: None,
    };
    let ck = Checkpoint::load(&path).unwrap();
    Checkpoint {
        history: Some(history),
        ..ck
    }
    .save(&window)
    .unwrap();
    loaded_runs_away(window);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The window's Save keeps the run's history in the checkpoint: a Load, in
/// this window or another, shows its curves (d_st, r_t, wall times, the
/// changes and the ε of each iteration) and its divergence watch goes on
/// from them, as a run folder's checkpoint with its metrics.csv does.
/// After a Load of a checkpoint without its history, Save keeps none
/// rather than a history missing its start.
#[test]
fn the_windows_checkpoint_keeps_the_runs_history() {
    use ebmscope::train::Checkpoint;
    let gpu = Arc::new(common::gpu());
    let dir = common::fresh_dir("session-saved-history");
    let s = Session::start(gpu.clone(), small(&[])).unwrap();
    let mut events = Vec::new();
    for i in 0..3 {
        if i == 2 {
            s.send(Command::Apply(Change::Epsilon(0.1)));
            wait_for(&s, "applied", |u| matches!(u, Update::Applied { .. }));
        }
        s.send(Command::Step);
        let seen = wait_for(&s, "iteration", |u| matches!(u, Update::Iteration(_)));
        let Some(Update::Iteration(e)) = seen.last() else {
            unreachable!()
        };
        events.push(*e);
    }
    let path = dir.join("run-window.safetensors");
    s.send(Command::Save(path.clone()));
    wait_for(&s, "save", |u| matches!(u, Update::Saved(_)));
    drop(s);

    let s = Session::start(gpu.clone(), small(&[])).unwrap();
    let h = load_with_history(&s, &path);
    let d_st = |e: &[ebmscope::train::IterationEvent]| {
        e.iter().map(|e| (e.iteration, e.d_st, e.r_t)).collect::<Vec<_>>()
    };
    assert_eq!(d_st(&h.events), d_st(&events));
    // Wall times as metrics.csv keeps them, to the millisecond.
    for (kept, seen) in h.events.iter().zip(&events) {
        assert!(
            (kept.wall_time - seen.wall_time).abs() <= 5e-4 + 1e-9,
            "{kept:?} {seen:?}"
        );
    }
    let epsilons: Vec<f64> = h.events.iter().map(|e| e.epsilon).collect();
    assert_eq!(epsilons, [0.125, 0.125, 0.1]);
    assert_eq!(h.changes, [(2, Change::Epsilon(0.125), Change::Epsilon(0.1))]);
    // Saved again from the loaded run, with one more iteration: the whole of it.
    s.send(Command::Step);
    wait_for(&s, "iteration", |u| matches!(u, Update::Iteration(_)));
    s.send(Command::Save(path.clone()));
    wait_for(&s, "save", |u| matches!(u, Update::Saved(_)));
    let ck = Checkpoint::load(&path).unwrap();
    let h = ebmscope::train::run::run_history(&path, &ck, "its curves are not shown")
        .unwrap()
        .unwrap();
    assert_eq!(h.events.len(), 4);
    assert_eq!(d_st(&h.events[..3]), d_st(&events));

    // A checkpoint without its history, loaded and saved again: none kept.
    let bare = dir.join("bare-window.safetensors");
    Checkpoint { history: None, ..ck }.save(&bare).unwrap();
    s.send(Command::Load(bare.clone()));
    let seen = wait_for(&s, "load", |u| matches!(u, Update::Loaded { .. }));
    assert!(
        matches!(
            seen.last(),
            Some(Update::Loaded {
                history: Ok(None),
                ..
            })
        ),
        "{seen:?}"
    );
    s.send(Command::Step);
    wait_for(&s, "iteration", |u| matches!(u, Update::Iteration(_)));
    s.send(Command::Save(bare.clone()));
    wait_for(&s, "save", |u| matches!(u, Update::Saved(_)));
    assert_eq!(Checkpoint::load(&bare).unwrap().history, None);
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}
