//! The real window on the test adapter: `ebmscope gui --frames N
//! --screenshot FILE` under a virtual X display (Xvfb; CI installs it)
//! renders the rings preset while training and saves a PNG whose chains
//! view and plots are not blank and whose d_st plot has points; on image
//! data the chains picture (a GPU texture the trainer fills) is not blank;
//! `--landscape` maps a checkpoint's model, and `--long-run` runs its long
//! run, before the screenshot.
#![allow(clippy::disallowed_methods)] // tests may rename and remove with std's calls (clippy.toml)

mod common;

use std::path::Path;
use std::process::Command;

fn gui_command(args: &[&str]) -> Command {
    let exe = env!("CARGO_BIN_EXE_ebmscope");
    if std::env::var_os("DISPLAY").is_some() {
        let mut c = Command::new(exe);
        c.args(args);
        c
    } else {
        // No display: a virtual one. A missing xvfb-run fails the test (install xvfb).
        let mut c = Command::new("xvfb-run");
        c.args(["-a", "-s", "-screen 0 1280x800x24", exe]).args(args);
        c
    }
}

/// Run the window with `args`, then `--screenshot shot`: the picture it
/// saved, and what it wrote to stderr.
fn window_picture(args: &[&str], shot: &Path) -> (image::RgbaImage, String) {
    let mut args = args.to_vec();
    args.extend(["--screenshot", shot.to_str().unwrap()]);
    let out = gui_command(&args)
        .output()
        .expect("running the window (is xvfb-run installed? apt-get install xvfb)");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "{}\n{stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    // (Marked as ours, so that the next --screenshot may write over it.)
    assert!(ebmscope::io::png_written_by_ebmscope(shot));
    (image::open(shot).unwrap().to_rgba8(), stderr)
}

/// Standard deviation of the grey level over a rectangle of the picture.
fn spread(img: &image::RgbaImage, x0: u32, y0: u32, x1: u32, y1: u32) -> f64 {
    let mut v = Vec::new();
    for y in y0..y1.min(img.height()) {
        for x in x0..x1.min(img.width()) {
            let p = img.get_pixel(x, y).0;
            v.push((f64::from(p[0]) + f64::from(p[1]) + f64::from(p[2])) / 3.0);
        }
    }
    let m = v.iter().sum::<f64>() / v.len() as f64;
    (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / v.len() as f64).sqrt()
}

#[test]
fn the_window_renders_chains_and_plots() {
    let dir = common::scratch_dir("window");
    let shot = dir.join("window.png");
    let (img, _) = window_picture(
        &[
            "gui",
            "--preset",
            "rings-convergent",
            "--set",
            "batch.data=20",
            "--set",
            "batch.chains=50",
            "--set",
            "langevin.steps=5",
            "--set",
            "langevin.bank_size=200",
            "--run",
            "--frames",
            "60",
        ],
        &shot,
    );
    let (w, h) = (img.width(), img.height());
    assert!(w >= 800 && h >= 500, "window {w}×{h}");
    // The central area: chains on the left half, plots on the right (past the settings panel).
    let left = spread(&img, w / 4, h / 6, w / 2, h * 5 / 6);
    let right = spread(&img, w * 5 / 8, h / 8, w - 10, h * 7 / 8);
    assert!(
        left > 5.0 && right > 5.0,
        "blank regions: chains {left:.1}, plots {right:.1}"
    );
    // Axes and labels alone would pass that: the chains are red particles
    // (X⁻) in the left column, which has no other red (849 pixels measured).
    let mut particles = 0;
    for y in h / 6..h * 5 / 6 {
        for x in w / 4..w / 2 {
            let [r, g, b, _] = img.get_pixel(x, y).0;
            if r > 180 && g < 90 && b < 90 {
                particles += 1;
            }
        }
    }
    assert!(
        particles > 200,
        "no chain particles drawn ({particles} red pixels)"
    );
    // d_st points are drawn in the phase colours (blue expansion, red
    // contraction) in the top plot of the right column.
    let mut coloured = 0;
    for y in 0..h * 35 / 100 {
        for x in w * 6 / 10..w {
            let [r, g, b, _] = img.get_pixel(x, y).0;
            if (b > 180 && r < 100 && g < 140) || (r > 180 && g < 90 && b < 90) {
                coloured += 1;
            }
        }
    }
    assert!(
        coloured > 10,
        "no d_st points in the phase colours ({coloured} pixels)"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_window_shows_image_chains_from_the_gpu_texture() {
    shows_image_chains(&[], None);
}

/// On wgpu's GL backend the window cannot share the trainer's device: it
/// draws with its own and gets the pictures through the CPU. (CI installs
/// Mesa's EGL and llvmpipe; wgpu has GL adapters on Linux.)
#[cfg(target_os = "linux")]
#[test]
fn the_window_runs_on_the_gl_backend() {
    shows_image_chains(&["--backend", "gl"], Some("Gl"));
}

/// The window on a tiny Fashion-MNIST run (`first` before the subcommand)
/// shows a picture of the chains; the trainer runs on `backend` if given.
fn shows_image_chains(first: &[&str], backend: Option<&str>) {
    let dir = common::scratch_dir("window-img");
    let shot = dir.join("window.png");
    let mut args = first.to_vec();
    args.extend(["gui", "--preset", "fashion-mnist-quick"]);
    for set in [
        "net.n_f=4",
        "data.limit=100",
        "batch.data=4",
        "batch.chains=9",
        "langevin.steps=2",
    ] {
        args.extend(["--set", set]);
    }
    args.extend(["--run", "--frames", "40"]);
    let (img, stderr) = window_picture(&args, &shot);
    if let Some(backend) = backend {
        assert!(
            stderr.contains(&format!("({backend}, ")),
            "not on {backend}:\n{stderr}"
        );
    }
    let (w, h) = (img.width(), img.height());
    // The picture: a 3 × 3 grid of grey images with white borders, top left
    // of the chains column.
    let picture = spread(&img, w / 5, h / 8, w / 2, h / 2);
    assert!(picture > 20.0, "blank chains picture: spread {picture:.1}");
    let white = (w / 5..w / 2)
        .flat_map(|x| (h / 8..h / 2).map(move |y| (x, y)))
        .filter(|&(x, y)| img.get_pixel(x, y).0[..3] == [255, 255, 255])
        .count();
    assert!(white > 100, "no white grid borders ({white} pixels)");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `gui --checkpoint C --landscape` opens the landscape panel, maps the
/// checkpoint's model (or the same weights alone, with their run's
/// settings; or from a long run's chains, `--from-chains`) and waits for
/// the map before the screenshot: the lowest minimum and the learned
/// log-density are drawn.
#[test]
fn the_window_maps_a_checkpoints_landscape() {
    let dir = common::fresh_dir("window-landscape");
    // A run started from weights (its seed's own initialisation, so that
    // it learns the model a fresh run would) that are gone by the time the
    // window opens it: its checkpoint goes on from its own weights.
    let start = dir.with_extension("start.safetensors");
    let spec = ebmscope::model::NetSpec::toy();
    let seed = ebmscope::config::Config::preset("rings-convergent").unwrap().seed;
    let params = ebmscope::model::init_params(&spec, u64::from(seed)).unwrap();
    ebmscope::io::save_params(&start, &spec.param_layout().unwrap(), &params).unwrap();
    let out = common::train_small_toy(&dir, 2, &["--init-weights", start.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::remove_file(&start).unwrap();
    let ck = dir.join("checkpoint.safetensors");
    // The same model as weights alone: a run's weights/ file, which takes
    // its run's settings.
    let weights = dir.join("weights/weights_0000002.safetensors");
    let models = [vec![ck.to_str().unwrap()], vec![weights.to_str().unwrap()]];
    for (i, model) in models.into_iter().enumerate() {
        // (A picture of its own: a stale one cannot pass for it.)
        let shot = dir.join(format!("window-{i}.png"));
        let mut args = vec!["gui", "--checkpoint"];
        args.extend(model);
        args.extend(["--landscape", "--starts", "6", "--alpha", "2", "--frames", "3"]);
        let (img, _) = window_picture(&args, &shot);
        assert_map_drawn(&img);
    }
    // From a long run's chains (`landscape --from-chains`): all of its 12,
    // as the status line says. (Where this young model's descents from
    // them end, far off, its warnings push the plot down: the picture's
    // map is checked above.)
    let sampled = common::ebmscope(&[
        "sample",
        "--checkpoint",
        ck.to_str().unwrap(),
        "--steps",
        "4",
        "--chains",
        "12",
        "--out",
        dir.join("long").to_str().unwrap(),
    ]);
    assert!(
        sampled.status.success(),
        "{}",
        String::from_utf8_lossy(&sampled.stderr)
    );
    let chains = dir.join("long").join("chains.safetensors");
    let shot = dir.join("window-from-chains.png");
    let args = [
        "gui",
        "--checkpoint",
        ck.to_str().unwrap(),
        "--landscape",
        "--from-chains",
        chains.to_str().unwrap(),
        "--alpha",
        "2",
        "--frames",
        "3",
    ];
    let (_, stderr) = window_picture(&args, &shot);
    let from = format!(
        " from 12 starts of {} at step 4;",
        std::path::Path::new("long").join("chains.safetensors").display()
    );
    assert!(
        stderr.contains("(the status line said: landscape mapped: ") && stderr.contains(&from),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `gui --checkpoint C --long-run N` opens the long-run panel, runs the
/// long run as asked (MALA at T × 0.5 here) and waits for its end before
/// the screenshot: its chains are drawn, and the status line said so.
#[test]
fn the_window_runs_a_long_run_for_its_picture() {
    let dir = common::fresh_dir("window-long-run");
    let out = common::train_small_toy(&dir, 2, &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let ck = dir.join("checkpoint.safetensors");
    let ck = ck.to_str().unwrap();
    let shot = dir.join("window.png");
    let args = [
        "gui",
        "--checkpoint",
        ck,
        "--long-run",
        "20",
        "--mala",
        "--temp-factor",
        "0.5",
        "--frames",
        "1",
    ];
    let (img, stderr) = window_picture(&args, &shot);
    assert!(
        stderr.contains("(the status line said: long run of 20 steps (MALA at T × 0.5, acceptance "),
        "{stderr}"
    );
    // The long run's particles, in their orange.
    let orange = img
        .pixels()
        .filter(|p| p.0[0].abs_diff(230) < 12 && p.0[1].abs_diff(150) < 12 && p.0[2].abs_diff(20) < 12)
        .count();
    assert!(
        orange > 100,
        "no long-run particles drawn ({orange} orange pixels)"
    );
    // Work the window's run refuses (a pull past f32, which `gui` leaves to
    // the map's own check) leaves its picture, and the command fails,
    // saying why.
    let shot = dir.join("refused.png");
    let args = [
        "gui",
        "--checkpoint",
        ck,
        "--landscape",
        "--alpha",
        "1e300",
        "--frames",
        "1",
    ];
    let out = gui_command(&[&args[..], &["--screenshot", shot.to_str().unwrap()]].concat())
        .output()
        .unwrap();
    common::assert_refused(
        &out,
        "the landscape map failed: --alpha 1e300: the pull α·T·f it gives",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the screenshot shows the window as it then was"),
        "{stderr}"
    );
    assert!(shot.is_file());
    let _ = std::fs::remove_dir_all(&dir);
}

/// `gui --overlay RUN` draws another run's curves in violet behind the
/// learning plots and its bars beside the correlations' (the pictures
/// without it have none there); a run that is not there is refused before
/// the window opens, unless followed (`--follow`: waited for).
#[test]
fn the_window_draws_an_overlay_behind_its_plots() {
    let dir = common::fresh_dir("window-overlay");
    let (this, other) = (dir.join("this"), dir.join("other"));
    // (Evaluated after each iteration: the TV plot's curves.)
    for (run, lr) in [(&this, "optimizer.lr=0.5"), (&other, "optimizer.lr=0.05")] {
        let out = common::train_small_toy(run, 3, &["--set", lr, "--set", "output.picture_every=1"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let ck = this.join("checkpoint.safetensors");
    let args = ["gui", "--checkpoint", ck.to_str().unwrap(), "--frames", "3"];
    // Violet (OVERLAY_COLOR, part see-through over the dark plots) in the
    // plots' column: red above green, blue above red, as no curve of the
    // run's own is (grey, gold, red, the phases' blue).
    let is_violet = |[r, g, b]: [i32; 3]| r > g + 15 && b > r + 25;
    // (Below the labels at the top, violet too, to the status bar.)
    let violet = |img: &image::RgbaImage| count_pixels(img, 30..90, 60..100, is_violet);
    for view in ["learning", "correlations"] {
        let args = [&args[..], &["--plots", view]].concat();
        let (alone, _) = window_picture(&args, &dir.join(format!("{view}-alone.png")));
        let with = [&args[..], &["--overlay", other.to_str().unwrap(), "--follow"]].concat();
        let (overlaid, _) = window_picture(&with, &dir.join(format!("{view}-overlaid.png")));
        let (none, some) = (violet(&alone), violet(&overlaid));
        assert!(
            none < 20 && some > 400,
            "{view}: violet pixels: {none} alone, {some} with the overlay"
        );
        if view == "learning" {
            // The TV plot, last (toy data): this run's evaluations in green
            // (TV_COLOR, as no other curve), the overlay's in violet.
            let tv_band = |img, colour: &dyn Fn([i32; 3]) -> bool| count_pixels(img, 81..93, 60..100, colour);
            let green = |[r, g, b]: [i32; 3]| g > r + 60 && g > b + 60;
            let counts = [
                tv_band(&alone, &green),
                tv_band(&overlaid, &green),
                tv_band(&alone, &is_violet),
                tv_band(&overlaid, &is_violet),
            ];
            assert!(
                counts[0] > 300 && counts[1] > 300 && counts[2] == 0 && counts[3] > 200,
                "the TV plot's green alone and overlaid, its violet alone and overlaid: {counts:?}"
            );
        }
    }

    let missing = dir.join("no-such-run");
    let refused = [&args[..], &["--overlay", missing.to_str().unwrap()]].concat();
    let shot = dir.join("refused.png");
    let out = gui_command(&[&refused[..], &["--screenshot", shot.to_str().unwrap()]].concat())
        .output()
        .unwrap();
    let said = format!("--overlay {}: does not exist", missing.display());
    common::assert_refused(&out, &said);
    // --follow follows an overlay: alone, it is refused.
    let out = gui_command(&[
        "gui",
        "--follow",
        "--frames",
        "1",
        "--screenshot",
        shot.to_str().unwrap(),
    ])
    .output()
    .unwrap();
    common::assert_refused(&out, "--overlay <RUN>");
    assert!(!shot.exists(), "the window opened");
    // Followed, a run not there yet (one about to start) is waited for,
    // and the left panel says so (in egui's warning orange; the picture
    // without the overlay has none there).
    let waiting = [&refused[..], &["--follow"]].concat();
    let (img, _) = window_picture(&waiting, &dir.join("waiting.png"));
    let (alone, _) = window_picture(&args, &dir.join("alone.png"));
    let orange = |img: &image::RgbaImage| {
        count_pixels(img, 0..90, 0..25, |[r, g, b]| {
            r > 200 && (100..180).contains(&g) && b < 60
        })
    };
    let (none, said) = (orange(&alone), orange(&img));
    assert!(
        none == 0 && said > 50,
        "orange pixels: {none} alone, {said} waiting"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The pixels of `img` whose colour `colour` takes, over the hundredths
/// `rows` of its height and `cols` of its width.
fn count_pixels(
    img: &image::RgbaImage,
    rows: std::ops::Range<u32>,
    cols: std::ops::Range<u32>,
    colour: impl Fn([i32; 3]) -> bool,
) -> usize {
    let (w, h) = (img.width(), img.height());
    let mut n = 0;
    for y in h * rows.start / 100..h * rows.end / 100 {
        for x in w * cols.start / 100..w * cols.end / 100 {
            let [r, g, b, _] = img.get_pixel(x, y).0.map(i32::from);
            n += usize::from(colour([r, g, b]));
        }
    }
    n
}

/// The map's plot holds the lowest minimum and the learned log-density.
fn assert_map_drawn(img: &image::RgbaImage) {
    let (w, h) = (img.width(), img.height());
    // In the map's plot (the left column's lower part, below the basins'
    // table): the lowest minimum's dot in basin 0's colour, and the learned
    // log-density's viridis purple (a 2-iteration model's descent runs far
    // off the grid, so the density may be a small square among the dots).
    let [r0, g0, b0] = ebmscope::plot::basin_colour(0);
    let near = |v: u8, to: u8| v.abs_diff(to) < 12;
    let (mut basin0, mut purple) = (0, 0);
    for y in h * 2 / 5..h * 19 / 20 {
        for x in w / 6..w * 3 / 5 {
            let [r, g, b, _] = img.get_pixel(x, y).0;
            if near(r, r0) && near(g, g0) && near(b, b0) {
                basin0 += 1;
            }
            if r > 50 && r < 90 && g < 60 && b > 70 && b < 140 {
                purple += 1;
            }
        }
    }
    assert!(
        basin0 > 60 && purple > 200,
        "no map drawn ({basin0} pixels of basin 0's dot, {purple} of the density's purple)"
    );
}
