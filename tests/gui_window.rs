//! The real window on the test adapter: `ebmscope gui --frames N
//! --screenshot FILE` under a virtual X display (Xvfb; CI installs it)
//! renders the rings preset while training and saves a PNG whose chains
//! view and plots are not blank and whose d_st plot has points; on image
//! data the chains picture (a GPU texture the trainer fills) is not blank.

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
    let dir = std::env::temp_dir().join(format!("ebmscope-window-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let shot = dir.join("window.png");
    let out = gui_command(&[
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
        "--screenshot",
        shot.to_str().unwrap(),
    ])
    .output()
    .expect("running the window (is xvfb-run installed? apt-get install xvfb)");
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(Path::new(&shot).is_file());
    let img = image::open(&shot).unwrap().to_rgba8();
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
    let dir = std::env::temp_dir().join(format!(
        "ebmscope-window-img-{}-{}",
        first.join(""),
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
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
    args.extend(["--run", "--frames", "40", "--screenshot", shot.to_str().unwrap()]);
    let out = gui_command(&args)
        .output()
        .expect("running the window (apt-get install xvfb)");
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if let Some(backend) = backend {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("({backend}, ")),
            "not on {backend}:\n{stderr}"
        );
    }
    let img = image::open(&shot).unwrap().to_rgba8();
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
