//! The window's behaviour, driven headlessly by role and label (egui_kittest):
//! Step, Run and Pause reach the trainer; a changed ε reaches the next
//! iteration; an invalid value is refused and shown, never applied; the
//! density, correlation and Langevin-path views fill from the trainer. The
//! rendered window itself is tested in tests/gui_window.rs.
#![allow(clippy::disallowed_methods)] // tests may rename and remove with std's calls (clippy.toml)

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use ebmscope::config::Config;
use ebmscope::config::OptimizerName;
use ebmscope::gpu::Gpu;
use ebmscope::gui::{GuiApp, THIS_RUN};
use ebmscope::train::Change;
use ebmscope::train::session::{Command, Update};
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};

fn app() -> GuiApp {
    app_on(Arc::new(common::gpu()))
}

fn app_on(gpu: Arc<Gpu>) -> GuiApp {
    GuiApp::new(
        gpu,
        test_config(),
        common::scratch_dir("gui")
            .join("checkpoint.safetensors")
            .display()
            .to_string(),
    )
    .unwrap()
}

/// A small rings run.
fn test_config() -> Config {
    let sets: Vec<String> = [
        "batch.data=8",
        "batch.chains=6",
        "langevin.steps=4",
        "langevin.bank_size=30",
        "iterations=1000",
        "eval.grid=24",
        "eval.kde_samples=32",
        // (The correlation view's trailing window: the run's, not 2 000.)
        "eval.window=3",
        "eval.max_lag=2",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    Config::resolve(Some("rings-convergent"), None, &sets).unwrap()
}

fn harness(app: GuiApp) -> Harness<'static, GuiApp> {
    Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .with_context_setup(ebmscope::gui::install_fonts)
        .build_ui_state(|ui, app: &mut GuiApp| app.show(ui), app)
}

/// Step frames until `done` holds (the trainer answers on its own thread).
fn until(h: &mut Harness<'static, GuiApp>, what: &str, done: impl Fn(&GuiApp) -> bool) {
    let start = Instant::now();
    while !done(h.state()) {
        assert!(start.elapsed() < Duration::from_secs(60), "no {what} within 60 s");
        std::thread::sleep(Duration::from_millis(10));
        h.step();
    }
}

#[test]
fn step_run_and_pause_reach_the_trainer() {
    let gpu = Arc::new(common::gpu());
    let mut h = harness(app_on(gpu.clone()));
    h.step();
    h.get_by_label("Step").click();
    until(&mut h, "iteration after Step", |a| a.history.len() == 1);
    assert_eq!(h.state().history[0].iteration, 1);
    h.get_by_label("Run").click();
    until(&mut h, "running", |a| a.running && a.history.len() >= 3);
    h.step();
    let rate = |h: &Harness<'static, GuiApp>| {
        h.query_by_label_contains("it/s")
            .and_then(|n| n.accesskit_node().value())
            .expect("a rate in the status line")
    };
    assert!(!rate(&h).contains("when it last ran"), "{}", rate(&h));
    h.get_by_label("Pause").click();
    until(&mut h, "pause", |a| !a.running);
    let n = h.state().history.len();
    std::thread::sleep(Duration::from_millis(300));
    h.step();
    assert_eq!(h.state().history.len(), n, "no iterations after Pause");
    let status = format!("iteration {}", h.state().history.last().unwrap().iteration);
    assert!(
        h.query_by_label(&status).is_some(),
        "status line shows `{status}`"
    );
    // Paused, the status keeps the rate it ran at, said as such.
    let rate = rate(&h);
    assert!(
        rate.ends_with("Langevin steps×chains/s when it last ran"),
        "{rate}"
    );
    let it_s: f64 = rate.split(' ').next().unwrap().parse().unwrap();
    assert!(it_s > 0.0, "{rate}");
    // The GPU memory, read again a second on, paused: what lavapipe's
    // Vulkan allocator counts, to the 0.1 MiB shown.
    std::thread::sleep(Duration::from_millis(1100));
    h.step();
    let memory = h
        .query_by_label_contains("GPU memory")
        .and_then(|n| n.accesskit_node().value())
        .expect("GPU memory in the status line");
    let mib: f64 = memory["GPU memory ".len()..]
        .trim_end_matches(" MiB")
        .parse()
        .unwrap();
    let held = Gpu::mib(gpu.allocated_bytes().unwrap().unwrap());
    assert!(
        held > 0.0 && (mib - held).abs() <= 0.051,
        "{memory}, held {held:.3} MiB"
    );
}

/// A run that has done all its iterations offers Run on, which goes on for
/// as many again, and the run is then set to that many.
#[test]
fn a_finished_run_runs_on() {
    let mut config = test_config();
    config.iterations = 2;
    let checkpoint = common::scratch_dir("gui-run-on").join("checkpoint.safetensors");
    let app = GuiApp::new(Arc::new(common::gpu()), config, checkpoint.display().to_string());
    let mut h = harness(app.unwrap());
    h.step();
    h.get_by_label("Run").click();
    until(&mut h, "the run's 2 iterations", |a| {
        !a.running && a.history.len() == 2
    });
    h.step();
    assert!(h.query_by_label("Run").is_none(), "Run stays offered when done");
    h.get_by_label("Run on").click();
    until(&mut h, "2 iterations more", |a| {
        !a.running && a.history.len() == 4
    });
    h.step();
    assert!(h.query_by_label("done: all 4 iterations").is_some());
    // So does `gui --run` on a finished run (it trained nothing before).
    h.state().run_on();
    until(&mut h, "4 iterations more", |a| {
        !a.running && a.history.len() == 8
    });
    // Step goes past the end, and the status says so, not "done".
    step_once(&mut h);
    h.step();
    assert!(
        h.query_by_label("paused, 1 past the run's 8 iterations")
            .is_some()
    );
}

/// `gui --checkpoint C` waits for C to load: one that fails is an error
/// before the window opens (not a status line over a fresh model).
#[test]
fn a_checkpoint_that_fails_to_open_is_an_error() {
    let mut app = app();
    let gone = common::scratch_dir("gui-gone").join("gone.safetensors");
    let err = app.open_checkpoint(gone.clone()).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("{}: not opened: ", gone.display())),
        "{err}"
    );
    assert!(app.history.is_empty());
}

/// The learning plots forget a run's bounds with the run: after a Reset
/// the d_st plot spans the first iteration, not the run before's.
#[test]
fn the_learning_plots_forget_the_run_before() {
    let mut h = harness(app());
    h.step();
    for _ in 0..6 {
        step_once(&mut h);
    }
    h.step();
    let bounds = |h: &Harness<'static, GuiApp>| {
        let id = ebmscope::gui::learning_plot_id("d_st");
        let b = *egui_plot::PlotMemory::load(&h.ctx, id)
            .expect("the d_st plot drawn")
            .bounds();
        (b.min(), b.max())
    };
    // (Measured: y ±14.5 over iterations 1–6, its d_st fitted; kept
    // after the Reset before the fix.)
    let (low, high) = bounds(&h);
    assert!(high[1] > 2.0, "the test needs a wide d_st: {low:?} {high:?}");
    h.get_by_label("Reset").click();
    until(&mut h, "the reset", |a| {
        a.history.is_empty() && a.message == "started over"
    });
    h.step();
    h.step();
    let (low, high) = bounds(&h);
    assert!(
        low[0] <= 0.0 && high[0] >= 1.0 && high[0] < 2.0 && high[1] < 1.0,
        "{low:?} {high:?}"
    );
}

#[test]
fn a_changed_epsilon_reaches_the_next_iteration() {
    let mut h = harness(app());
    h.step();
    type_into(&mut h, "ε", "0.05");
    h.get_by_label("Apply ε").click();
    until(&mut h, "applied change", |a| a.changes.len() == 1);
    // T = ε²/2 falls 6.25×: U, for the same F, reads 6.25× larger; the
    // status line says so.
    let message = h.state().message.clone();
    assert!(
        message.starts_with("ε = 0.05 from iteration 1 (T = 1.250e-3 now")
            && message.ends_with("reads 6.25× larger for the same F)"),
        "{message}"
    );
    h.step();
    h.get_by_label("Step").click();
    until(&mut h, "iteration", |a| a.history.len() == 1);
    assert_eq!(h.state().history[0].epsilon, 0.05);
    // The plots' line of changes says the curves' new unit too.
    h.step();
    assert!(
        h.query_by_label_contains("ε = 0.05 (T = ε²/2 = 1.250e-3: U and d_st in its units)")
            .is_some()
    );
    // Applying the value in use changes nothing: no change, no line.
    h.get_by_label("Apply ε").click();
    until(&mut h, "answer", |a| a.message.contains("already in use"));
    assert_eq!(h.state().changes.len(), 1);
    assert_eq!(h.state().message, "ε = 0.05 is already in use: nothing changed");
}

/// An optimizer switch keeps lr and says what it now means; with a decaying
/// rate the last iteration's rate shows under the lr field.
#[test]
fn an_optimizer_switch_and_a_decaying_rate_say_what_lr_means() {
    let mut config = test_config();
    config.optimizer.lr_decay = 0.5;
    config.optimizer.lr_min = 1e-3;
    let gpu = Arc::new(common::gpu());
    let mut h = harness(GuiApp::new(gpu, config, "gui-test-decay.safetensors".into()).unwrap());
    h.step();
    step_once(&mut h);
    assert!(
        h.query_by_label_contains("last iteration's").is_none(),
        "iteration 1 ran at the rate set"
    );
    step_once(&mut h);
    h.step();
    assert!(
        h.query_by_label("last iteration's: 5.0000e-2").is_some(),
        "iteration 2 ran at half the rate"
    );
    // SGD at lr 0.1 to Adam: lr is kept, and Adam does not scale it by T.
    h.get_by_label("Adam").click();
    until(&mut h, "switch", |a| a.changes.len() == 1);
    let message = h.state().message.clone();
    assert_eq!(
        message,
        "optimizer Adam from iteration 3 (lr kept: Adam steps by lr itself, not lr·T)"
    );
    h.get_by_label("SGD").click();
    until(&mut h, "switch back", |a| a.changes.len() == 2);
    // T = 0.125²/2.
    assert!(
        h.state()
            .message
            .ends_with("(lr kept: SGD steps by lr·T, here lr × 7.812e-3)"),
        "{}",
        h.state().message
    );
}

#[test]
fn an_invalid_value_is_refused_and_shown() {
    let mut h = harness(app());
    h.step();
    let field = || egui::accesskit::Role::TextInput;
    h.get_by_role_and_label(field(), "ε")
        .set_text_value_accesskit("-1");
    h.step();
    h.get_by_label("Apply ε").click();
    until(&mut h, "refusal", |a| a.message.contains("refused"));
    h.step();
    // Shown in the status line (its message) and under the field.
    assert!(
        h.state().message.contains("langevin.epsilon"),
        "{}",
        h.state().message
    );
    assert!(
        h.query_all_by_label_contains("langevin.epsilon").count() >= 2,
        "the refusal names the setting, under the field and in the status line"
    );
    h.get_by_role_and_label(field(), "L")
        .set_text_value_accesskit("many");
    h.step();
    h.get_by_label("Apply L").click();
    h.step();
    assert!(h.query_by_label_contains("not a whole number").is_some());
    h.get_by_label("Step").click();
    until(&mut h, "iteration", |a| a.history.len() == 1);
    let e = h.state().history[0];
    assert_eq!((e.epsilon, e.steps), (0.125, 4), "nothing invalid was applied");
    assert!(h.state().changes.is_empty());
}

fn step_once(h: &mut Harness<'static, GuiApp>) {
    let n = h.state().history.len();
    h.get_by_label("Step").click();
    until(h, "iteration after Step", |a| a.history.len() == n + 1);
}

#[test]
fn the_density_correlation_and_path_views_fill() {
    use ebmscope::gui::{PlotsView, ToyView};
    let mut h = harness(app());
    h.step();
    for _ in 0..4 {
        step_once(&mut h);
    }
    h.get_by_label("Densities").click();
    // (After the run's start's, evaluated before iteration 1.)
    until(&mut h, "toy densities", |a| {
        a.toy_metrics.as_ref().is_some_and(|m| m.0 == 4)
    });
    h.step();
    assert_eq!(h.state().toy_view, ToyView::Densities);
    assert_eq!(h.state().toy_metrics.as_ref().unwrap().0, 4);
    assert!(
        h.query_by_label_contains("TV(p_θ, q)").is_some(),
        "TV and KL shown"
    );
    let points = h.state().toy_metrics.as_ref().unwrap().1.samples.len() / 2;
    assert!(
        h.query_by_label_contains(&format!("(q's own {points} points: "))
            .is_some(),
        "TV(KDE, q)'s floor shown"
    );
    // --log-scale and --whole-d-st open the boxes so.
    h.state_mut().open_views(&ebmscope::gui::Capture {
        log_scale: true,
        whole_d_st: true,
        ..Default::default()
    });
    assert!(h.state().log_densities && !h.state().fit_recent);
    h.state_mut().open_views(&ebmscope::gui::Capture::default());
    assert!(!h.state().log_densities && h.state().fit_recent);
    h.step();
    // The colour scale beside the maps, its ends named.
    assert!(
        h.query_by_label("min").is_some() && h.query_by_label("max").is_some(),
        "the colour scale's ends named"
    );
    let scale_texture = h
        .ctx
        .tex_manager()
        .read()
        .allocated()
        .any(|(_, meta)| meta.name == "colour scale");
    assert!(scale_texture, "the colour scale drawn");
    // The learned density's texture: a new one when the scale changes.
    let learned_texture = |h: &Harness<'static, GuiApp>| {
        let textures = h.ctx.tex_manager();
        let found = textures
            .read()
            .allocated()
            .find(|(_, meta)| meta.name == "EBM density exp(−U)")
            .map(|(id, _)| *id);
        found.expect("a learned-density texture")
    };
    let linear = learned_texture(&h);
    h.get_by_label("log scale").click();
    h.step();
    assert!(h.state().log_densities);
    // (The label above the box, and the pictures drawn before it, show it from the next frame.)
    h.step();
    assert!(h.query_by_label_contains("log scale, each from its").is_some());
    assert_ne!(
        learned_texture(&h),
        linear,
        "the pictures redrawn on the log scale"
    );

    h.get_by_label("Correlations").click();
    h.step();
    assert_eq!(h.state().plots_view, PlotsView::Correlations);
    // Of the 4 iterations, the run's eval.window = 3, as its PNG figure.
    assert!(h.query_by_label_contains("Over the last 3 iterations").is_some());

    h.get_by_label("Langevin path").click();
    h.step();
    assert!(
        h.query_by_label_contains("Recorded from the next iteration")
            .is_some()
    );
    step_once(&mut h);
    until(&mut h, "energy path", |a| a.energy_path.is_some());
    let (iteration, chains, u) = h.state().energy_path.clone().unwrap();
    assert_eq!((iteration, chains, u.len()), (5, 6, (4 + 1) * 6));
    // Beside the chains, the data's mean U of that iteration, dashed.
    h.step();
    assert!(
        h.query_by_label_contains("dashed: the data's mean U(X⁺): at the last step, d_st = dashed − bold")
            .is_some()
    );
    // Back to the learning plots: the path is no longer recorded.
    h.get_by_label("Learning").click();
    h.step();
    step_once(&mut h);
    std::thread::sleep(Duration::from_millis(200));
    h.step();
    assert_eq!(h.state().energy_path.as_ref().unwrap().0, 5);
}

/// Loading another run's checkpoint shows that run: its iteration, its
/// settings in the fields (and they are the ones it runs), its chains, and
/// none of the curves of the run before.
#[test]
fn a_loaded_checkpoint_shows_its_own_run() {
    let sets: Vec<String> = [
        "batch.data=8",
        "batch.chains=6",
        "langevin.steps=3",
        "langevin.bank_size=30",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain(["langevin.epsilon=0.2".to_string(), "eval.grid=24".to_string()])
    .collect();
    let other = Config::resolve(Some("rings-convergent"), None, &sets).unwrap();
    let mut trainer = ebmscope::train::Trainer::new(Arc::new(common::gpu()), other).unwrap();
    trainer.step().unwrap();
    trainer.step().unwrap();
    let path = common::scratch_dir("gui-load").join("checkpoint.safetensors");
    ebmscope::train::Checkpoint::capture(&trainer)
        .unwrap()
        .save(&path)
        .unwrap();

    let mut h = harness(app());
    h.step();
    step_once(&mut h);
    h.state()
        .send(ebmscope::train::session::Command::Load(path.clone()));
    until(&mut h, "load", |a| a.message.starts_with("loaded"));
    h.step();
    assert!(h.state().history.is_empty(), "the run before's curves went");
    assert!(
        h.query_by_label("iteration 2").is_some(),
        "the status shows the loaded iteration"
    );
    let epsilon = h.get_by_role_and_label(egui::accesskit::Role::TextInput, "ε");
    assert_eq!(epsilon.accesskit_node().value().as_deref(), Some("0.2"));
    let start = Instant::now();
    while h.query_by_label_contains("No chains yet").is_some() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the loaded chains never showed"
        );
        std::thread::sleep(Duration::from_millis(10));
        h.step();
    }
    step_once(&mut h);
    let e = h.state().history[0];
    assert_eq!(
        (e.iteration, e.steps, e.epsilon),
        (3, 3, 0.2),
        "it runs the loaded settings"
    );
    let _ = std::fs::remove_file(&path);
}

/// A training run's checkpoint opens with the run's history: its curves
/// from metrics.csv up to the checkpoint and its changes of setting from
/// changes.csv, which the next iteration continues (and which, being the
/// run's past, no training rate is measured over).
#[test]
fn a_runs_checkpoint_opens_with_the_runs_history() {
    let dir = common::fresh_dir("gui-history");
    assert!(common::train_small_toy(&dir, 2, &[]).status.success());
    // L changes twice (4 → 6 → 8) and ε once: the replay undoes them in turn.
    let resumes = [
        (4, &["langevin.steps=6"][..]),
        (6, &["langevin.steps=8", "langevin.epsilon=0.1"]),
    ];
    for (iters, set) in resumes {
        assert!(common::resume_train(&dir, Some(iters), set).status.success());
    }

    let mut h = harness(app());
    h.step();
    h.state().send(Command::Load(dir.join("checkpoint.safetensors")));
    until(&mut h, "load", |a| a.message.starts_with("loaded"));
    let app = h.state();
    assert!(
        app.message.ends_with("(iteration 6) with its run's history"),
        "{}",
        app.message
    );
    let seen: Vec<(u64, u32, f64)> = app
        .history
        .iter()
        .map(|e| (e.iteration, e.steps, e.epsilon))
        .collect();
    let want = [
        (1, 4, 0.125),
        (2, 4, 0.125),
        (3, 6, 0.125),
        (4, 6, 0.125),
        (5, 8, 0.1),
        (6, 8, 0.1),
    ];
    assert_eq!(seen, want);
    let changes = vec![
        (2, Change::Steps(6)),
        (4, Change::Epsilon(0.1)),
        (4, Change::Steps(8)),
    ];
    assert_eq!((app.past_events, app.changes.clone()), (6, changes));
    // Its evaluations from toy_metrics.csv (train's at iteration 0 and at each session's end).
    let toy = std::fs::read_to_string(dir.join("toy_metrics.csv")).unwrap();
    let rows: Vec<[f64; 3]> = (toy.lines().skip(1))
        .map(|l| {
            let v: Vec<f64> = l.split(',').map(|v| v.parse().unwrap()).collect();
            [v[0], v[1], v[3]]
        })
        .collect();
    let shown: Vec<[f64; 3]> = (app.toy_history.iter())
        .map(|t| [t.iteration as f64, t.tv_model, t.tv_kde])
        .collect();
    assert_eq!((shown.len(), &shown), (4, &rows));
    // Every learning plot spans them all, the TV plot's iteration 0 too,
    // so that an iteration sits at one x in each (each fits its own).
    h.step();
    h.step();
    let x_span = |name: &str| {
        let id = ebmscope::gui::learning_plot_id(name);
        let b = *egui_plot::PlotMemory::load(&h.ctx, id)
            .unwrap_or_else(|| panic!("the {name} plot drawn"))
            .bounds();
        [b.min()[0], b.max()[0]]
    };
    let (d_st, tv) = (x_span("d_st"), x_span("tv"));
    assert!(
        d_st[0] <= 0.0 && (d_st[0] - tv[0]).abs() < 1e-9 && (d_st[1] - tv[1]).abs() < 1e-9,
        "d_st over {d_st:?}, TV over {tv:?}"
    );
    step_once(&mut h);
    let app = h.state();
    assert_eq!(
        (app.history.len(), app.history[6].iteration, app.past_events),
        (7, 7, 6)
    );
    // A toy_metrics.csv that does not read leaves the rest of the history
    // shown, and is said.
    let toy_file = dir.join("toy_metrics.csv");
    std::fs::write(&toy_file, format!("{}\ngarbled\n", toy.lines().next().unwrap())).unwrap();
    h.state().send(Command::Load(dir.join("checkpoint.safetensors")));
    until(&mut h, "load", |a| {
        a.message.starts_with("loaded") && a.history.len() == 6
    });
    let app = h.state();
    let said = format!(
        "(iteration 6) with its run's history; its evaluations are not shown: {}: line 2 is not a toy metrics row: `garbled`",
        toy_file.display()
    );
    assert!(app.message.ends_with(&said), "{}", app.message);
    assert!(app.toy_history.is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Toy data's Learning tab ends in the TV plot: TV(p_θ, q) and TV(KDE, q)
/// at each evaluation, the trainer's at the run's start and after every
/// `output.picture_every`th iteration, and the densities view's. A Reset empties it; a Load of the
/// window's own checkpoint gives it back.
#[test]
fn the_tv_plot_keeps_every_evaluation() {
    let mut config = test_config();
    config.output.picture_every = 2;
    let dir = common::fresh_dir("gui-tv");
    let saved = dir.join("checkpoint.safetensors");
    let app = GuiApp::new(Arc::new(common::gpu()), config, saved.display().to_string());
    let mut h = harness(app.unwrap());
    h.step();
    assert!(
        h.query_by_label_contains("TV to q at each evaluation (at the start, after every 2 iterations, output.picture_every, and as the densities show) — none yet")
            .is_some(),
        "the TV plot's label, before any evaluation"
    );
    // An evaluation under way is said in the status line until its answer
    // (here the trainer's after iteration 2; said as the trainer says it).
    let said = "evaluating the densities: 30 chains × 4 steps (eval.kde_samples) …";
    h.state_mut().receive(Update::Evaluating {
        number: 2,
        what: said.into(),
    });
    h.step();
    assert!(h.query_by_label(said).is_some(), "the evaluation said");
    for _ in 0..3 {
        step_once(&mut h);
    }
    until(&mut h, "the evaluation after iteration 2", |a| {
        a.toy_history.last().is_some_and(|r| r.iteration == 2)
    });
    h.step();
    assert!(
        h.state().evaluating.is_none() && h.query_by_label(said).is_none(),
        "no longer said once answered"
    );
    let at = |h: &Harness<'static, GuiApp>| {
        h.state()
            .toy_history
            .iter()
            .map(|t| t.iteration)
            .collect::<Vec<_>>()
    };
    assert_eq!(at(&h), [0, 2]);
    let tv = h.state().toy_history[1].tv_model;
    assert_eq!(tv, h.state().toy_metrics.as_ref().unwrap().1.tv_model);
    assert!(
        h.query_by_label_contains("and as the densities show): of p_θ")
            .is_some(),
        "the TV plot's label, none yet no longer said"
    );
    let kde = h.state().toy_metrics.as_ref().unwrap().1.tv_kde;
    assert!(
        h.query_by_label_contains(&format!(
            "dotted: q's own {} points' ({:.3})",
            kde.points, kde.floor
        ))
        .is_some(),
        "TV(KDE, q)'s floor said"
    );
    // The densities view's evaluation of iteration 3 joins it.
    h.get_by_label("Densities").click();
    until(&mut h, "the densities of iteration 3", |a| {
        a.toy_metrics.as_ref().is_some_and(|m| m.0 == 3)
    });
    assert_eq!(at(&h), [0, 2, 3]);

    h.get_by_label("Save checkpoint").click();
    until(&mut h, "save", |a| a.message.starts_with("checkpoint saved"));
    h.get_by_label("Reset").click();
    until(&mut h, "reset", |a| a.message == "started over");
    assert!(
        h.state().toy_history.is_empty(),
        "the run before's evaluations went"
    );
    h.state().send(Command::Load(saved.clone()));
    until(&mut h, "load", |a| a.message.starts_with("loaded"));
    assert_eq!(at(&h), [0, 2, 3], "the saved run's evaluations back");
    assert!((h.state().toy_history[1].tv_model - tv).abs() <= 5e-7);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A long evaluation of the densities shows its progress in the status
/// line, beside a Stop that stops it: nothing kept, said, and not asked
/// again at that iteration, but after a change there, and at the next.
/// (500 chains × 100 000 steps: minutes on lavapipe.)
#[test]
fn a_long_evaluation_stops_from_the_status_line() {
    let mut config = test_config();
    // (A persistent run's evaluation starts from its bank: as large.)
    (config.langevin.bank_size, config.eval.kde_samples) = (500, 500);
    let app = GuiApp::new(Arc::new(common::gpu()), config, String::new());
    let mut h = harness(app.unwrap());
    h.step();
    // (The densities view shows chains: an iteration first, of few steps.)
    step_once(&mut h);
    h.state().send(Command::Apply(Change::Steps(100_000)));
    until(&mut h, "the change", |a| !a.changes.is_empty());
    h.get_by_label("Densities").click();
    let said = "evaluating the densities: 500 chains × 100000 steps (eval.kde_samples) … step ";
    until(&mut h, "the evaluation's progress", |a| {
        a.evaluating.as_ref().is_some_and(|(_, w)| w.starts_with(said))
    });
    h.step();
    assert!(
        h.query_by_label_contains(said).is_some()
            && h.state().evaluating.as_ref().unwrap().1.ends_with(" of 100000"),
        "its progress said"
    );
    h.get_by_label("Stop").click();
    h.step();
    assert_eq!(h.state().message, "stopping the evaluation …");
    until(&mut h, "the stop", |a| a.evaluating.is_none());
    h.step();
    let app = h.state();
    assert_eq!(app.message, "densities: the evaluation stopped");
    // (The run's start's alone, evaluated before iteration 1.)
    assert_eq!(
        app.toy_history.iter().map(|r| r.iteration).collect::<Vec<_>>(),
        [0]
    );
    assert_eq!(app.toy_metrics.as_ref().map(|m| m.0), Some(0));
    // (An ask would be said within these frames: the trainer waits for commands.)
    for _ in 0..30 {
        std::thread::sleep(Duration::from_millis(10));
        h.step();
    }
    assert!(
        h.state().evaluating.is_none() && h.query_by_label("Stop").is_none(),
        "not asked again at iteration 1"
    );
    // After a change, or at the next iteration, the view asks again.
    h.state().send(Command::Apply(Change::Steps(4)));
    until(&mut h, "the densities of iteration 1, after the change", |a| {
        a.toy_metrics.as_ref().is_some_and(|m| m.0 == 1)
    });
    step_once(&mut h);
    until(&mut h, "the densities of iteration 2", |a| {
        a.toy_metrics.as_ref().is_some_and(|m| m.0 == 2)
    });
}

/// Press "Start over with these", wait for the new run, step it once: its
/// first iteration (the history before it is gone).
fn start_over_and_step(h: &mut Harness<'static, GuiApp>) -> ebmscope::train::IterationEvent {
    h.get_by_label("Start over with these").click();
    until(h, "new run", |a| a.message.starts_with("started over"));
    assert!(h.state().history.is_empty(), "a fresh history");
    step_once(h);
    h.state().history[0]
}

#[test]
fn start_over_checks_the_settings_then_starts_a_new_run() {
    let mut h = harness(app());
    h.step();
    step_once(&mut h);
    h.state_mut().start_over.preset = "rings-convergent".into();
    // Start over with `overrides`, refused: the refusal.
    let refused = |h: &mut Harness<'static, GuiApp>, overrides: &str| {
        h.state_mut().start_over.overrides = overrides.into();
        h.step();
        h.get_by_label("Start over with these").click();
        h.step();
        h.state().start_over.error.clone().expect("refused")
    };
    let err = refused(&mut h, "batch.data=8\nlangevin.steps=0");
    assert!(err.contains("langevin.steps"), "{err}");
    assert!(
        h.query_by_label_contains("langevin.steps").is_some(),
        "the refusal is shown"
    );
    // A new run's grid too coarse for its toy (as `train` refuses it).
    let err = refused(&mut h, "data.radius=10\neval.grid=24");
    assert!(err.contains("raise eval.grid to 137 or more"), "{err}");

    h.state_mut().start_over.overrides =
        "batch.data=8\nbatch.chains=5\nlangevin.steps=3\nlangevin.bank_size=30\neval.grid=24".into();
    h.step();
    let e = start_over_and_step(&mut h);
    assert!(h.state().start_over.error.is_none());
    assert_eq!((e.iteration, e.steps), (1, 3), "the new run's settings");
}

/// "This run's settings" start over from what the window runs now (here a
/// changed ε), not from a preset, with the overrides put over them.
#[test]
fn start_over_from_this_runs_settings_keeps_the_windows_changes() {
    // (A path of its own: Save writes it.)
    let dir = common::fresh_dir("gui-this-run");
    let path = dir.join("mine.safetensors");
    let gpu = Arc::new(common::gpu());
    let mut h = harness(GuiApp::new(gpu, test_config(), path.display().to_string()).unwrap());
    h.step();
    // Saved by this window, under a name of the user's.
    h.get_by_label("Save checkpoint").click();
    until(&mut h, "save", |a| a.message.starts_with("checkpoint saved"));
    assert_eq!(
        h.state().start_over.preset,
        THIS_RUN,
        "offered first without a preset"
    );
    type_into(&mut h, "ε", "0.2");
    h.get_by_label("Apply ε").click();
    h.step();
    // Until the trainer answers, this run's settings would miss the change.
    assert!(
        h.get_by_label("Start over with these")
            .accesskit_node()
            .is_disabled(),
        "waits for ε"
    );
    until(&mut h, "ε applied", |a| a.message.starts_with("ε = 0.2"));
    h.step();
    assert!(
        !h.get_by_label("Start over with these")
            .accesskit_node()
            .is_disabled()
    );
    h.state_mut().start_over.overrides = "langevin.steps=3".into();
    h.step();
    let e = start_over_and_step(&mut h);
    assert_eq!(
        (e.iteration, e.steps, e.epsilon),
        (1, 3, 0.2),
        "ε from the window, L from the overrides"
    );
    // rings-convergent has 100 data and 100 chains; the run had 8 and 6.
    assert!(
        h.query_by_label_contains("8 data + 6 chains").is_some(),
        "the run's own batch, not the preset's"
    );
    // It saves where the run did, not to runs/custom-window.safetensors,
    // and over what the window saved there before.
    let shown = h
        .get_by_role_and_label(egui::accesskit::Role::TextInput, "checkpoint")
        .accesskit_node()
        .value()
        .unwrap();
    assert_eq!(shown, path.display().to_string());
    h.get_by_label("Save checkpoint").click();
    until(&mut h, "save", |a| {
        a.message.starts_with("checkpoint saved") || a.message.contains("not a checkpoint this window saved")
    });
    assert!(
        h.state().message.starts_with("checkpoint saved"),
        "{}",
        h.state().message
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// An optimizer switch the trainer refuses leaves its optimizer
/// highlighted, not the one clicked; another setting's refusal, arriving
/// while the switch waits, leaves the switch highlighted; an applied switch
/// is highlighted.
#[test]
fn a_refused_optimizer_switch_is_not_highlighted() {
    let mut h = harness(app());
    h.step();
    h.get_by_label("Adam").click();
    h.step();
    assert_eq!(h.state().optimizer, OptimizerName::Adam, "asked for");
    let adam = Change::Optimizer(OptimizerName::Adam);
    let refused = |change| Update::Refused {
        change,
        why: "out of memory".into(),
    };
    h.state_mut().receive(refused(Change::Epsilon(-1.0)));
    assert_eq!(h.state().optimizer, OptimizerName::Adam, "still waiting");
    h.state_mut().receive(refused(adam));
    assert_eq!(h.state().optimizer, OptimizerName::Sgd, "the trainer's");
    assert!(h.state().message.contains("out of memory"));
    h.state_mut().receive(Update::Applied {
        iteration: 0,
        change: adam,
    });
    assert_eq!(h.state().optimizer, OptimizerName::Adam, "applied");
}

/// Type `value` into the text field labelled `field`.
fn type_into(h: &mut Harness<'static, GuiApp>, field: &str, value: &str) {
    h.get_by_role_and_label(egui::accesskit::Role::TextInput, field)
        .set_text_value_accesskit(value);
    h.step();
}

/// Open the long-run panel, type `steps` and start.
fn start_long_run(h: &mut Harness<'static, GuiApp>, steps: &str) {
    h.get_by_label("Long run").click();
    h.step();
    type_into(h, "steps", steps);
    h.get_by_label("Start the long run").click();
}

#[test]
fn a_long_run_starts_from_the_window() {
    let mut h = harness(app());
    h.step();
    step_once(&mut h);
    start_long_run(&mut h, "10");
    until(&mut h, "long run", |a| {
        a.long_run.as_ref().is_some_and(|l| l.row().step == 10)
    });
    h.step();
    assert!(h.query_by_label_contains("step 10 of 10").is_some());
    // Its trace: every report of the run, with (toy data) the TV of the
    // chains' KDE to q, which the panel shows beside its floor.
    let trace_of = |h: &Harness<'static, GuiApp>| {
        let report = h.state().long_run.clone().unwrap();
        let steps: Vec<u64> = report.trace.iter().map(|(row, _)| row.step).collect();
        (steps, report)
    };
    let (steps, report) = trace_of(&h);
    assert_eq!(steps, (0..=10).collect::<Vec<u64>>());
    let tv = report.tv().expect("toy data: the chains' TV to q");
    assert!(
        h.query_by_label_contains(&format!("TV(samples, q) {tv}"))
            .is_some()
    );
    assert!(h.query_by_label("mean U of the chains").is_some());
    assert!(
        h.query_by_label(&format!("TV(samples, q); dashed: q's own {} points", tv.points))
            .is_some()
    );
    // The status line no longer says training waits for it.
    assert_eq!(
        h.state().message,
        "long run of 10 steps (Langevin at T × 1) from iteration 1 done: training goes on as it was"
    );

    // Its chains are saved as `sample` keeps them (a folder made for them),
    // never over a file; the landscape panel then maps from them.
    // (By default beside the window's checkpoint, named after the model's
    // iteration and the step.)
    assert!(
        h.state()
            .chains_file
            .ends_with("checkpoint-chains-1-10.safetensors"),
        "{}",
        h.state().chains_file
    );
    let dir = common::fresh_dir("gui-chains");
    let file = dir.join("sub").join("chains.safetensors");
    type_into(&mut h, "chains file", file.to_str().unwrap());
    h.get_by_label("Save the chains").click();
    h.step();
    assert!(
        h.state()
            .message
            .starts_with("chains of the model of iteration 1 at step 10 saved in"),
        "{}",
        h.state().message
    );
    let x = ebmscope::io::read_tensor(&file, "x").unwrap();
    let count = h.state().long_run.as_ref().unwrap().states.len() / 2;
    assert_eq!(x.shape, [count, 2]);
    assert_eq!(x.data, *h.state().long_run.as_ref().unwrap().states);
    let made = ebmscope::io::read_metadata(&file).unwrap();
    assert_eq!(
        (made["step"].as_str(), made["sampler"].as_str()),
        ("10", "langevin")
    );
    let written = std::fs::read(&file).unwrap();
    h.get_by_label("Save the chains").click();
    h.step();
    assert!(
        h.state().message.contains("exists already"),
        "{}",
        h.state().message
    );
    assert_eq!(std::fs::read(&file).unwrap(), written);
    // With the model saved as it was (the window is paused), `sample` goes
    // on from them as one longer run.
    let saved = dir.join("model.safetensors");
    h.state().send(Command::Save(saved.clone()));
    until(&mut h, "save", |a| a.message.starts_with("checkpoint saved"));
    let went_on = common::ebmscope(&[
        "sample",
        "--checkpoint",
        saved.to_str().unwrap(),
        "--from-chains",
        file.to_str().unwrap(),
        "--steps",
        "2",
        "--out",
        dir.join("went-on").to_str().unwrap(),
    ]);
    let said = String::from_utf8_lossy(&went_on.stderr);
    assert!(went_on.status.success() && !said.contains("note:"), "{said}");
    let settings = common::read_toml(&dir.join("went-on/longrun.toml"));
    assert_eq!(settings["continues_as_one_run"].as_bool(), Some(true));

    h.get_by_label("Landscape").click();
    h.step();
    assert_eq!(h.state().landscape_from, file.display().to_string());
    let too_many = (count + 1).to_string();
    type_into(&mut h, "starts", &too_many);
    h.get_by_label("Map the landscape").click();
    h.step();
    assert!(
        h.state().message.contains(&format!(
            "from chains: starts {too_many}: {} holds {count} chains; pass starts {count} or fewer",
            file.display()
        )),
        "{}",
        h.state().message
    );
    assert!(h.state().landscape_progress.is_none(), "nothing sent");
    type_into(&mut h, "starts", "4");
    h.get_by_label("Map the landscape").click();
    until(&mut h, "landscape", |a| a.landscape.is_some());
    h.step();
    let report = h.state().landscape.clone().unwrap();
    let ebmscope::train::longrun::ChainStart::Saved(saved) = &report.options.from else {
        panic!("the map started from data")
    };
    assert_eq!((saved.step, saved.count, report.options.starts), (10, count, 4));
    let starts: usize = report.map.minima.iter().map(|m| m.starts).sum();
    assert_eq!(starts, 4);
    // (In the panel's title and the status line.)
    let title = format!(
        "from 4 starts of {} at step 10",
        std::path::Path::new("sub").join("chains.safetensors").display()
    );
    assert_eq!(h.query_all_by_label_contains(&title).count(), 2);
    assert!(
        h.state().message.starts_with("landscape mapped: "),
        "{}",
        h.state().message
    );
    let _ = std::fs::remove_dir_all(&dir);

    // The same run again: its trace starts at its own first report (a
    // trace that went on from the last run's would never be shorter).
    start_long_run(&mut h, "10");
    until(&mut h, "a new trace", |a| {
        a.long_run.as_ref().is_some_and(|l| l.trace.len() < 11)
    });
    until(&mut h, "second long run", |a| {
        a.long_run.as_ref().is_some_and(|l| l.row().step == 10)
    });
    assert_eq!(trace_of(&h).0, (0..=10).collect::<Vec<u64>>());
}

/// A long run takes MALA and a temperature factor, as `sample` does: its
/// report says which, with MALA's acceptance; a factor that is no positive
/// number is refused in the window.
#[test]
fn a_mala_long_run_at_a_lower_temperature() {
    let mut h = harness(app());
    h.step();
    step_once(&mut h);
    h.get_by_label("Long run").click();
    h.step();
    let start = |h: &mut Harness<'static, GuiApp>, temp: &str| {
        for (field, value) in [("steps", "6"), ("T ×", temp)] {
            type_into(h, field, value);
        }
        h.get_by_label("Start the long run").click();
        h.step();
    };
    start(&mut h, "-2");
    assert_eq!(h.state().message, "T × must be a positive number (it is -2)");
    type_into(&mut h, "steps", "4294967296");
    h.get_by_label("Start the long run").click();
    h.step();
    assert_eq!(
        h.state().message,
        "steps must be from 1 to 4294967295 steps (it is 4294967296)"
    );
    assert!(!h.state().long_run_pending, "nothing sent");
    // (A factor the GPU's f32 cannot take, as `sample` refuses it.)
    start(&mut h, "1e60");
    assert!(
        h.state()
            .message
            .starts_with("T × 1e60: the temperature T·f it gives"),
        "{}",
        h.state().message
    );
    assert!(!h.state().long_run_pending, "nothing sent");
    h.get_by_label("MALA").click();
    h.step();
    start(&mut h, "0.5");
    until(&mut h, "long run", |a| {
        a.long_run.as_ref().is_some_and(|l| l.row().step == 6)
    });
    h.step();
    let report = h.state().long_run.clone().unwrap();
    assert_eq!(
        (
            report.ask.mala,
            report.ask.temp_factor,
            report.made_with.sampler.as_str()
        ),
        (true, 0.5, "mala")
    );
    // (As the chains were moved: the record comes from the run's own step.)
    assert_eq!(
        report.made_with.temperature,
        (test_config().temperature() * 0.5) as f32
    );
    let acceptance = report.row().acceptance.expect("MALA's acceptance");
    assert!((0.0..=1.0).contains(&acceptance), "{acceptance}");
    assert_eq!(
        h.state().message,
        format!(
            "long run of 6 steps (MALA at T × 0.5, acceptance {acceptance:.3}) from iteration 1 done: \
             training goes on as it was"
        )
    );
    assert!(
        h.state()
            .chains_file
            .ends_with("checkpoint-chains-1-6-mala-T0.5.safetensors"),
        "{}",
        h.state().chains_file
    );
    // Saved, with the options that go on from them as one longer run.
    let dir = common::fresh_dir("gui-mala-chains");
    type_into(&mut h, "chains file", dir.join("c.safetensors").to_str().unwrap());
    h.get_by_label("Save the chains").click();
    h.step();
    assert!(
        h.state()
            .message
            .ends_with("`ebmscope sample --from-chains FILE --mala --temp-factor 0.5` goes on from them"),
        "{}",
        h.state().message
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        h.query_by_label_contains(&format!(
            "MALA at T × 0.5: step 6 of 6, mean U {:.4}, acceptance {acceptance:.3}",
            report.row().mean_energy
        ))
        .is_some()
    );
}

/// The landscape panel maps the model as it is (6 starts, so that the
/// attraction–diffusion chains stay few on a software adapter) and shows
/// its basins; a value the map would refuse is refused in the window.
#[test]
fn a_landscape_is_mapped_from_the_window() {
    let mut h = harness(app());
    h.step();
    step_once(&mut h);
    h.get_by_label("Landscape").click();
    h.step();
    type_into(&mut h, "α", "-1");
    h.get_by_label("Map the landscape").click();
    h.step();
    assert!(
        h.state().message.contains("≥ 0 (one is -1)"),
        "{}",
        h.state().message
    );
    assert!(h.state().landscape_progress.is_none(), "nothing sent");
    type_into(&mut h, "α", "2,-0");
    type_into(&mut h, "starts", "6");
    type_into(&mut h, "T ×", "0.5");
    h.get_by_label("Map the landscape").click();
    until(&mut h, "landscape", |a| a.landscape.is_some());
    h.step();
    let report = h.state().landscape.clone().unwrap();
    assert_eq!(report.iteration, 1);
    // The map's colour scale: bright where U is low.
    assert!(h.query_by_label("high U").is_some() && h.query_by_label("low U").is_some());
    assert_eq!(
        (
            report.options.starts,
            report.options.alphas.clone(),
            report.options.temp_factor
        ),
        (6, vec![2.0, 0.0], 0.5)
    );
    let m = report.map.minima.len();
    // Every start ended at one minimum, the lowest first.
    let minima = &report.map.minima;
    assert_eq!(minima.iter().map(|x| x.starts).sum::<usize>(), 6);
    assert!(minima.windows(2).all(|w| w[0].energy <= w[1].energy));
    let basins = &report.map.basins[0];
    assert_eq!((basins.of.len(), basins.attempts.len()), (m, m * (m - 1) / 2));
    let ebmscope::train::landscape::Backdrop::Toy(grid, energies) = &report.backdrop else {
        panic!("toy data: the learned energies");
    };
    assert_eq!(energies.len(), grid.res * grid.res);
    assert!(h.state().landscape_progress.is_none());
    assert!(h.query_by_label_contains("Model of iteration 1").is_some());
    assert!(h.query_by_label_contains("lowest U").is_some());
    // Several α: shown one at a time (the first at first).
    assert_eq!(report.map.basins.len(), 2);
    assert!(h.query_by_label_contains("α = 2: ").is_some());
    h.get_by_label("α = 0").click();
    h.step();
    h.step();
    assert_eq!(h.state().landscape_shown, 1);
    assert!(h.query_by_label_contains("α = 0: ").is_some());

    // Saved as `ebmscope landscape` writes it; a folder holding one is refused.
    let folder = common::fresh_dir("gui-map");
    type_into(&mut h, "folder", folder.to_str().unwrap());
    h.get_by_label("Save the map").click();
    h.step();
    // Written off the UI thread (it may be done already).
    let message = &h.state().message;
    assert!(
        message.starts_with("saving the map in") || message.starts_with("map saved in"),
        "{message}"
    );
    until(&mut h, "the map saved", |a| a.message.starts_with("map saved in"));
    h.step();
    let minima = std::fs::read_to_string(folder.join("minima.csv")).unwrap();
    assert_eq!(
        minima.lines().next(),
        Some("minimum,energy,starts,basin_alpha_2,basin_alpha_0,x0,x1")
    );
    assert_eq!(minima.lines().count(), m + 1);
    let attempts = std::fs::read_to_string(folder.join("attempts.csv")).unwrap();
    assert_eq!(attempts.lines().count(), 2 * (m * (m - 1) / 2) + 1);
    let picture = folder.join("landscape.png");
    let written = std::fs::metadata(&picture).unwrap().modified().unwrap();
    h.get_by_label("Save the map").click();
    h.step();
    assert!(
        h.state().message.contains("already holds a landscape"),
        "{}",
        h.state().message
    );
    assert_eq!(std::fs::metadata(&picture).unwrap().modified().unwrap(), written);
    let _ = std::fs::remove_dir_all(&folder);
    // So is a training run's own folder (its files and the map's would mix).
    let run = common::fresh_dir("gui-map-run");
    std::fs::create_dir_all(&run).unwrap();
    let header = "iteration,d_st,r_t,mean_u_data,mean_u_samples,lr,wall_time,phase\n";
    std::fs::write(run.join("metrics.csv"), header).unwrap();
    type_into(&mut h, "folder", run.to_str().unwrap());
    h.get_by_label("Save the map").click();
    h.step();
    assert!(
        h.state().message.contains(
            "holds a training run, and a landscape's files would lie among its own: choose another folder"
        ),
        "{}",
        h.state().message
    );
    assert!(!run.join("minima.csv").exists());
    let _ = std::fs::remove_dir_all(&run);
}

/// Start a long run that only Stop ends, and wait for its first report.
fn start_endless_long_run(h: &mut Harness<'static, GuiApp>) {
    start_long_run(h, "1000000000");
    until(h, "long-run report", |a| a.long_run.is_some());
}

/// Show the long-run panel and press its Stop (the run ends on the
/// trainer's thread: wait for what should follow).
fn press_stop_on_the_long_run(h: &mut Harness<'static, GuiApp>) {
    h.state_mut().panel = ebmscope::gui::ChainsPanel::LongRun;
    h.step();
    h.get_by_label("Stop").click();
}

/// A long run and a landscape map each show a Stop button while they run;
/// pressing it stops them and says so, and training goes on.
#[test]
fn a_long_run_and_a_landscape_map_stop_from_the_window() {
    let mut h = harness(app());
    h.step();
    step_once(&mut h);
    start_endless_long_run(&mut h);
    h.step();
    // One long job at a time: Stop is for the one under way.
    h.get_by_label("Landscape").click();
    h.step();
    assert!(h.get_by_label("Map the landscape").accesskit_node().is_disabled());
    press_stop_on_the_long_run(&mut h);
    until(&mut h, "stopped long run", |a| !a.long_run_pending);
    assert_eq!(h.state().message, "the long run stopped");
    h.step();
    assert!(h.query_by_label("Stop").is_none(), "no Stop button once stopped");

    h.get_by_label("Landscape").click();
    h.step();
    h.get_by_label("Map the landscape").click();
    until(&mut h, "landscape progress", |a| {
        a.landscape_progress
            .as_ref()
            .is_some_and(|(_, done, _)| *done > 0)
    });
    h.step();
    h.get_by_label("Stop").click();
    until(&mut h, "stopped map", |a| a.landscape_progress.is_none());
    assert_eq!(h.state().message, "the landscape map stopped");
    assert!(h.state().landscape.is_none());
    step_once(&mut h);
}

/// The trainer answers a change only between its jobs: typing after Apply
/// and before the answer keeps what was typed, while the change still lands.
#[test]
fn typing_before_the_answer_is_kept() {
    let mut h = harness(app());
    h.step();
    step_once(&mut h);
    // The trainer is in a long run: the change waits for its end.
    start_endless_long_run(&mut h);
    let epsilon = |h: &Harness<'static, GuiApp>| {
        h.get_by_role_and_label(egui::accesskit::Role::TextInput, "ε")
            .accesskit_node()
            .value()
    };
    type_into(&mut h, "ε", "0.05");
    h.get_by_label("Apply ε").click();
    h.step();
    type_into(&mut h, "ε", "0.07");
    assert!(
        h.state().changes.is_empty(),
        "the change was answered during the long run"
    );
    press_stop_on_the_long_run(&mut h);
    until(&mut h, "applied change", |a| a.changes.len() == 1);
    h.step();
    assert_eq!(h.state().changes[0].1, Change::Epsilon(0.05));
    assert_eq!(
        epsilon(&h).as_deref(),
        Some("0.07"),
        "the typed text was replaced by the answer"
    );
    // With nothing typed since, the answer's value shows, as the trainer reads it.
    type_into(&mut h, "ε", "0.0700");
    h.get_by_label("Apply ε").click();
    until(&mut h, "second change", |a| a.changes.len() == 2);
    h.step();
    assert_eq!(h.state().changes[1].1, Change::Epsilon(0.07));
    assert_eq!(epsilon(&h).as_deref(), Some("0.07"));
}

/// Save makes its folder; a failed command (a Load of nothing) says so and
/// leaves training running; a loaded checkpoint's map is saved beside it.
#[test]
fn saves_and_failures_leave_training_running() {
    let base = common::fresh_dir("gui-save");
    let mut h = harness(app());
    h.step();
    h.get_by_label("Run").click();
    until(&mut h, "running", |a| a.running && a.history.len() >= 2);
    let saved = base.join("not/yet/there.safetensors");
    h.state().send(Command::Save(saved.clone()));
    until(&mut h, "save", |a| a.message.starts_with("checkpoint saved"));
    assert!(saved.is_file());
    h.state().send(Command::Load(base.join("absent.safetensors")));
    until(&mut h, "failed load", |a| a.message.starts_with("failed: "));
    let n = h.state().history.len();
    until(&mut h, "iterations after the failure", |a| {
        a.running && a.history.len() > n + 1
    });
    h.state().send(Command::Load(saved.clone()));
    until(&mut h, "load", |a| a.message.starts_with("loaded"));
    // Saved beside it from now on, never over it.
    let beside = saved.with_file_name("there-window-landscape");
    assert_eq!(h.state().landscape_folder, beside.display().to_string());
    h.get_by_label("Pause").click();
    until(&mut h, "pause", |a| !a.running);
    let _ = std::fs::remove_dir_all(&base);
}

/// The window opened from a training run's checkpoint saves beside it,
/// never over it; a window's own checkpoint is saved over, but not weights
/// alone named as one.
#[test]
fn the_window_saves_beside_a_runs_checkpoint() {
    use ebmscope::gui::window_checkpoint_beside;
    use std::path::{Path, PathBuf};
    assert_eq!(
        window_checkpoint_beside(Path::new("runs/gmm/checkpoint.safetensors")),
        PathBuf::from("runs/gmm/checkpoint-window.safetensors")
    );
    let dir = common::fresh_dir("window-beside");
    std::fs::create_dir_all(&dir).unwrap();
    let (own, weights) = (
        dir.join("gmm-quick-window.safetensors"),
        dir.join("W-window.safetensors"),
    );
    let config = std::collections::HashMap::from([("config".to_string(), "seed = 1".to_string())]);
    ebmscope::io::write_tensors_with_metadata(&own, &[], Some(config)).unwrap();
    ebmscope::io::write_tensors(&weights, &[]).unwrap();
    assert_eq!(window_checkpoint_beside(&own), own);
    assert_eq!(
        window_checkpoint_beside(&weights),
        dir.join("W-window-window.safetensors")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A training thread that stops (its device destroyed under it: wgpu
/// panics on the next submission) says so in the window, which stays
/// responsive and closes without waiting on it.
#[test]
fn a_stopped_training_thread_is_reported() {
    let gpu = Arc::new(common::gpu());
    let mut h = harness(app_on(gpu.clone()));
    h.step();
    step_once(&mut h);
    gpu.device.destroy();
    h.get_by_label("Step").click();
    until(&mut h, "the thread's end", |a| {
        a.message.starts_with("the training thread stopped")
    });
    let message = h.state().message.clone();
    assert!(message.ends_with("Start over to go on"), "{message}");
    assert!(!h.state().running);
    h.get_by_label("Run").click();
    h.step();
    assert!(!h.state().running, "Run reaches no thread");
}

/// The correlations' verdict comes as the run's PNG figure gives it: weak
/// once a window starting past the run's first tenth of one has passed
/// (the window was handed its last eval.window iterations alone, and so
/// never said weak).
#[test]
fn the_correlations_say_weak_once_the_window_is_read() {
    let mut config = test_config();
    config.eval.window = 20;
    let path = common::scratch_dir("gui-verdict").join("checkpoint.safetensors");
    let app = GuiApp::new(Arc::new(common::gpu()), config, path.display().to_string()).unwrap();
    let mut h = harness(app);
    h.state_mut()
        .set_plots_view(ebmscope::gui::PlotsView::Correlations);
    // 21 iterations of a steady d_st: one short of the 22 (20 and a tenth) a verdict waits for.
    h.state_mut().history = (1..=21).map(|i| timed_event(i, i as f64)).collect();
    h.step();
    assert!(h.query_by_label_contains("No verdict yet").is_some());
    h.state_mut().history.push(timed_event(22, 22.0));
    h.step();
    assert!(h.query_by_label_contains("Oscillation weak").is_some());
    // The values it reads, as numbers (a steady d_st: near 1 at each lag),
    // beside the threshold max(0.1, 3/√20).
    assert!(
        h.query_by_label_contains("by lag: 0.950 at lag 1, 0.900 at lag 2; the oscillation threshold -0.671")
            .is_some()
    );
}

/// An iteration event at `wall_time` on the trainer's clock.
fn timed_event(iteration: u64, wall_time: f64) -> ebmscope::train::IterationEvent {
    ebmscope::train::IterationEvent {
        iteration,
        d_st: 0.1,
        r_t: 0.01,
        mean_u_data: 1.0,
        mean_u_samples: 0.9,
        lr: 0.1,
        wall_time,
        phase: ebmscope::diagnostics::Phase::Contraction,
        epsilon: 0.125,
        steps: 4,
    }
}

/// A loaded run's past is plotted, not timed: the rate while running counts
/// this trainer's iterations alone (the past's wall times are the run's
/// clock, later than the new trainer's).
#[test]
fn the_rate_leaves_a_loaded_runs_past_out() {
    use ebmscope::train::run::RunHistory;
    let event = timed_event;
    let mut app = app();
    let events = (1..=6).map(|i| event(i, 100.0 + i as f64)).collect();
    app.receive(Update::Loaded {
        path: "runs/past/checkpoint.safetensors".into(),
        iteration: 6,
        config: Box::new(Config::preset("rings-convergent").unwrap()),
        history: Ok(Some(Arc::new(RunHistory {
            events,
            changes: Vec::new(),
            watch_rescales: Vec::new(),
            toy: Ok(Vec::new()),
        }))),
    });
    app.receive(Update::Running(true));
    app.receive(Update::Iteration(event(7, 0.5)));
    app.receive(Update::Iteration(event(8, 1.0)));
    assert_eq!((app.history.len(), app.ran_rate), (8, Some(2.0)));
}

/// The rate is timed from the latest Run, not across the pause before it:
/// 2 iterations a second, a pause of most of a minute, then 1 a second
/// reads 1 it/s (timed across the pause, it would read 2 in 59 s).
#[test]
fn the_rate_leaves_a_pause_out() {
    let mut app = app();
    app.receive(Update::Running(true));
    for (i, t) in [(1, 1.0), (2, 1.5), (3, 2.0)] {
        app.receive(Update::Iteration(timed_event(i, t)));
    }
    app.receive(Update::Running(false));
    app.receive(Update::Running(true));
    app.receive(Update::Iteration(timed_event(4, 60.0)));
    assert_eq!(
        app.ran_rate,
        Some(2.0),
        "until two iterations of the new stretch, the last rate"
    );
    app.receive(Update::Iteration(timed_event(5, 61.0)));
    assert_eq!(app.ran_rate, Some(1.0));
}

/// Once the training thread has stopped (a GPU error, say), nothing sent to
/// it would be answered: its controls and settings are off, and Start over,
/// which makes a new one, stays on.
#[test]
fn a_stopped_training_thread_leaves_start_over_on() {
    let mut h = harness(app());
    h.step();
    let disabled =
        |h: &Harness<'static, GuiApp>, label: &str| h.get_by_label(label).accesskit_node().is_disabled();
    for control in ["Run", "Step", "Apply ε"] {
        assert!(!disabled(&h, control), "{control} is on while the thread runs");
    }
    h.state_mut().receive(Update::Ended("a GPU error".into()));
    h.step();
    h.step();
    for control in ["Run", "Step", "Apply ε"] {
        assert!(disabled(&h, control), "{control} is off");
    }
    assert!(!disabled(&h, "Start over with these"), "Start over stays on");
    assert!(
        h.state().message.contains("Start over to go on"),
        "{}",
        h.state().message
    );
}

/// Without the GPU picture (no wgpu renderer, as on GL), the image view
/// reads back what it is asked to show: nothing of a new run's empty X⁻,
/// then, switched, the data batch X⁺, then the chains. (It used to show
/// the chains alone.)
#[test]
fn without_the_gpu_picture_the_image_view_shows_each_source() {
    let sets: Vec<String> = [
        "data.limit=40",
        "batch.data=4",
        "batch.chains=4",
        "langevin.steps=2",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let config = Config::resolve(Some("fashion-mnist-quick"), None, &sets).unwrap();
    let path = common::scratch_dir("gui-images").join("checkpoint.safetensors");
    let app = GuiApp::new(Arc::new(common::gpu()), config, path.display().to_string()).unwrap();
    let mut h = harness(app);
    h.step();
    // (Time for an answer, were one sent.)
    std::thread::sleep(Duration::from_millis(300));
    h.step();
    h.step();
    assert!(h.query_by_label("Chains X⁻").is_some() && !h.state().has_chains_to_show());
    assert!(h.query_by_label_contains("No picture yet").is_some());
    h.get_by_label("data X⁺").click();
    h.step();
    h.step();
    assert!(h.query_by_label("Data X⁺").is_some() && h.query_by_label("Chains X⁻").is_none());
    assert!(h.query_by_label_contains("No picture yet").is_some());
    step_once(&mut h);
    until(&mut h, "the data batch read back", |a| {
        a.rows.as_ref().is_some_and(|(source, at, rows)| {
            *source == ebmscope::train::PictureSource::Data && *at == 1 && rows.len() == 4 * 32 * 32
        })
    });
    h.step();
    assert!(h.query_by_label_contains("No picture yet").is_none());
    h.get_by_label("chains X⁻").click();
    // (The click lands in the first frame, below its heading.)
    h.step();
    h.step();
    assert!(h.query_by_label("Chains X⁻").is_some());
    until(&mut h, "the chains read back", |a| a.has_chains_to_show());
}

/// "Overlay": another run, as its folder or checkpoint holds it (read off
/// the UI thread), drawn behind this one's curves and named with its
/// verdict; its correlations beside this run's, even before this run has
/// any, and said where it has too few itself; kept over a Reset, a Start
/// over and a Load; refusals (nothing typed, a missing path) leave the
/// overlay before, and Hide takes it away.
#[test]
fn an_overlay_shows_another_run_behind_this_one() {
    let dir = common::fresh_dir("gui-overlay");
    let young = common::fresh_dir("gui-overlay-young");
    assert!(common::train_small_toy(&dir, 4, &[]).status.success());
    assert!(common::train_small_toy(&young, 2, &[]).status.success());
    let text = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    let d_st: Vec<f64> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
        .collect();
    assert_eq!(d_st.len(), 4);
    let show = |h: &mut Harness<'static, GuiApp>, path: &str| {
        type_into(h, OVERLAY_FIELD, path);
        h.get_by_label("Show overlay").click();
        h.step();
        until(h, "the overlay read", |a| !a.overlay.reading());
        h.step();
        h.step();
    };
    let mut h = harness(app());
    h.step();
    show(&mut h, "");
    let said = h.state().overlay.refused.clone().unwrap();
    assert!(said.starts_with("type a run's folder"), "{said}");
    assert!(h.state().overlay.shown.is_none());

    let folder = dir.display().to_string();
    show(&mut h, &folder);
    let app = h.state();
    assert_eq!(app.overlay.refused, None);
    let o = app.overlay.shown.as_ref().expect("the overlay is shown");
    let read: Vec<f64> = o.run.rows.iter().map(|r| r.d_st).collect();
    assert_eq!((o.run.label.as_str(), read), (folder.as_str(), d_st.clone()));
    let named = format!("in violet behind: the overlay, {folder} (its U(X⁺) dashed)");
    assert!(h.query_by_label(&named).is_some(), "{named}");
    let summary = format!("{folder}: 4 iterations; oscillation none before iteration ");
    assert!(h.query_by_label_contains(&summary).is_some(), "{summary}");

    // Its correlations (over its own window, all 4 iterations), before
    // this run has the 3 its own need.
    h.state_mut()
        .set_plots_view(ebmscope::gui::PlotsView::Correlations);
    h.step();
    assert!(
        h.query_by_label("This run's correlations need at least 3 iterations.")
            .is_some()
    );
    let overlay_said = format!("The overlay, {folder}, over its last 4 iterations: d_st ");
    assert!(h.query_by_label_contains(&overlay_said).is_some());
    for _ in 0..3 {
        step_once(&mut h);
    }
    h.step();
    assert!(h.query_by_label_contains("Over the last 3 iterations.").is_some());
    assert!(h.query_by_label_contains(&overlay_said).is_some());

    // Kept over a Reset and a Start over (to set the next run beside it).
    h.get_by_label("Reset").click();
    until(&mut h, "reset", |a| {
        a.history.is_empty() && a.message == "started over"
    });
    assert!(h.state().overlay.shown.is_some());
    h.get_by_label("Start over with these").click();
    until(&mut h, "new run", |a| a.message.starts_with("started over: "));
    h.step();
    assert_eq!(
        h.state().overlay.shown.as_ref().map(|o| o.run.label.as_str()),
        Some(folder.as_str())
    );
    assert!(h.query_by_label_contains(&overlay_said).is_some());
    let ck = dir.join("checkpoint.safetensors").display().to_string();
    type_into(&mut h, "checkpoint", &ck);
    h.get_by_label("Load checkpoint").click();
    until(&mut h, "load", |a| a.message.starts_with("loaded"));
    assert!(h.state().overlay.shown.is_some());

    // A run of 2 iterations has no correlations: said, in place of its bars.
    show(&mut h, &young.display().to_string());
    let none = format!(
        "The overlay, {}: oscillation none (3 iterations needed).",
        young.display()
    );
    assert!(h.query_by_label(&none).is_some(), "{none}");

    // Its checkpoint: the run to its iteration (the same rows).
    show(&mut h, &ck);
    let o = h.state().overlay.shown.as_ref().unwrap();
    assert_eq!(o.run.rows.iter().map(|r| r.d_st).collect::<Vec<_>>(), d_st);
    assert_eq!(o.run.label, ck);

    // A path that is not there: said, and the overlay before stays.
    let missing = dir.join("no-such-run").display().to_string();
    show(&mut h, &missing);
    let said = h.state().overlay.refused.clone().unwrap();
    assert!(said.contains("does not exist"), "{said}");
    assert_eq!(h.state().overlay.shown.as_ref().unwrap().run.label, ck);

    // (Not a pointer's click: the pointer left on Show overlay holds its
    // tooltip over the box.)
    h.get_by_label(ebmscope::gui::FOLLOW_LABEL).click_accesskit();
    h.step();
    assert!(h.state().overlay.follow);
    h.get_by_label("Hide overlay").click();
    h.step();
    h.step();
    assert!(h.state().overlay.shown.is_none());
    assert!(!h.state().overlay.follow, "Hide stops following");
    assert!(h.query_by_label("Hide overlay").is_none());
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&young);
}

/// The overlay field's label.
const OVERLAY_FIELD: &str = "another run's folder or checkpoint, drawn in violet with the plots";

/// Step the window for `seconds`.
fn step_for(h: &mut Harness<'static, GuiApp>, seconds: f64) {
    let start = Instant::now();
    while start.elapsed().as_secs_f64() < seconds {
        std::thread::sleep(Duration::from_millis(10));
        h.step();
    }
}

/// *follow* waits for a run not started yet (`gui --overlay RUN --follow`
/// on a folder `train` has not written), shows it once it is, leaves it
/// unread while its files do not change, and reads it again as it grows
/// (resumed here, as a `train` in a terminal would write it) or is
/// replaced, leaving what is typed in the field and a Show's refusal as
/// they are; Hide stops following; a Show with *follow* ticked waits too,
/// until the box is unticked.
#[test]
fn a_followed_overlay_waits_for_its_run_and_grows_with_it() {
    let dir = common::fresh_dir("gui-follow");
    let run = dir.join("run");
    let mut h = harness(app());
    h.step();
    let read = ebmscope::gui::Overlay::read(run.clone()).map_err(|e| (run.clone(), e));
    h.state_mut().overlay.open(read, true);
    h.step();
    let waiting = h.state().overlay.follow_error.clone().unwrap();
    assert!(waiting.contains("does not exist"), "{waiting}");
    assert!(h.query_by_label_contains("waiting for the run: ").is_some());
    // (What is typed meanwhile is not what is waited for.)
    type_into(&mut h, OVERLAY_FIELD, "runs/being-typed");
    assert!(common::train_small_toy(&run, 2, &[]).status.success());
    let rows = |a: &GuiApp| a.overlay.shown.as_ref().map_or(0, |o| o.run.rows.len());
    until(&mut h, "the run, once written", |a| rows(a) == 2);
    assert_eq!(h.state().overlay.follow_error, None);
    assert_eq!(h.state().overlay.field, "runs/being-typed");

    // Its files unchanged: not read again (the rows are the same ones).
    let rows_at = |h: &Harness<'static, GuiApp>| h.state().overlay.shown.as_ref().unwrap().run.rows.as_ptr();
    let before = rows_at(&h);
    step_for(&mut h, 2.5);
    assert_eq!(rows_at(&h), before, "read again with nothing changed");

    // A Show refused meanwhile stays said while the run is read again,
    // grown, then replaced (`train --force`: fewer rows).
    type_into(&mut h, OVERLAY_FIELD, "runs/no-such-run");
    h.get_by_label("Show overlay").click();
    h.step();
    until(&mut h, "the refusal", |a| a.overlay.refused.is_some());
    assert!(common::resume_train(&run, Some(4), &[]).status.success());
    until(&mut h, "the run read again", |a| rows(a) == 4);
    assert!(common::train_small_toy(&run, 3, &["--force"]).status.success());
    until(&mut h, "the run replaced", |a| rows(a) == 3);
    let app = h.state();
    assert_eq!(app.overlay.field, "runs/no-such-run");
    let said = app.overlay.refused.clone().unwrap();
    assert!(said.contains("does not exist"), "{said}");

    // Hide stops following: the run, grown again, is not shown again.
    h.get_by_label("Hide overlay").click();
    h.step();
    assert!(!h.state().overlay.follow);
    assert!(common::resume_train(&run, Some(5), &[]).status.success());
    step_for(&mut h, 2.5);
    assert!(h.state().overlay.shown.is_none());

    // Follow ticked, a Show of a run not started waits for it; unticked,
    // it waits no more; ticked and shown again, it is shown once trained.
    let later = dir.join("later").display().to_string();
    let tick = |h: &mut Harness<'static, GuiApp>| {
        h.get_by_label(ebmscope::gui::FOLLOW_LABEL).click_accesskit();
        h.step();
    };
    let show = |h: &mut Harness<'static, GuiApp>| {
        type_into(h, OVERLAY_FIELD, &later);
        h.get_by_label("Show overlay").click_accesskit();
        h.step();
        until(h, "the read", |a| !a.overlay.reading());
        h.step();
    };
    tick(&mut h);
    show(&mut h);
    assert_eq!(h.state().overlay.refused, None);
    assert!(h.query_by_label_contains("waiting for the run: ").is_some());
    tick(&mut h);
    h.step();
    assert!(!h.state().overlay.follow);
    assert_eq!(h.state().overlay.follow_error, None);
    assert!(h.query_by_label_contains("waiting for the run: ").is_none());
    tick(&mut h);
    show(&mut h);
    assert!(
        common::train_small_toy(std::path::Path::new(&later), 2, &[])
            .status
            .success()
    );
    until(&mut h, "the run waited for", |a| rows(a) == 2);
    assert_eq!(h.state().overlay.shown.as_ref().unwrap().run.label, later);
    let _ = std::fs::remove_dir_all(&dir);
}
