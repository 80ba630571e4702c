//! Shared by the integration tests.
#![allow(dead_code)]
#![allow(clippy::disallowed_methods)] // tests may rename and remove with std's calls (clippy.toml)

use std::process::{Command, Output};

use ebmscope::gpu::{AdapterChoice, Gpu};

/// The adapter the tests run on. No adapter is a failure, never a skip:
/// CI installs Mesa's software Vulkan driver (mesa-vulkan-drivers).
pub fn gpu() -> Gpu {
    match Gpu::new(&AdapterChoice::default()) {
        Ok(gpu) => gpu,
        Err(e) => panic!("GPU tests need an adapter: {e}"),
    }
}

/// `params` (laid out as `layout`) as a state dict's tensors: those
/// `rename` keeps, under the names it gives (Some(name) keeps it as is).
pub fn state_dict(
    layout: &ebmscope::model::ParamLayout,
    params: &[f32],
    rename: impl Fn(&str) -> Option<String>,
) -> Vec<ebmscope::io::Tensor> {
    layout
        .tensors
        .iter()
        .filter_map(|t| {
            Some(ebmscope::io::Tensor {
                name: rename(&t.name)?,
                shape: t.shape.clone(),
                data: params[t.offset..t.offset + t.len].to_vec(),
            })
        })
        .collect()
}

pub fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&a| f64::from(a)).collect()
}

/// Standard normal CDF, from erfc (Numerical Recipes' Chebyshev fit, |error| < 1.2e-7).
pub fn normal_cdf(x: f64) -> f64 {
    // erfc(z) = t·exp(−z² + Σ c_k t^k), t = 1/(1 + z/2). (A loop, not the
    // nested form: rustfmt takes seconds over ten nested parentheses.)
    const C: [f64; 10] = [
        -1.265_512_23,
        1.000_023_68,
        0.374_091_96,
        0.096_784_18,
        -0.186_288_06,
        0.278_868_07,
        -1.135_203_98,
        1.488_515_87,
        -0.822_152_23,
        0.170_872_77,
    ];
    let z = x.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * z);
    let series = C.iter().rev().fold(0.0, |acc, &c| acc * t + c);
    let erfc = t * (-z * z + series).exp();
    if x >= 0.0 { 1.0 - 0.5 * erfc } else { 0.5 * erfc }
}

/// Kolmogorov–Smirnov statistic of `samples` against `cdf`.
pub fn ks_statistic(samples: &[f32], cdf: impl Fn(f64) -> f64) -> f64 {
    let mut s: Vec<f64> = samples.iter().map(|&v| f64::from(v)).collect();
    s.sort_by(f64::total_cmp);
    let n = s.len() as f64;
    s.iter()
        .enumerate()
        .map(|(i, &v)| {
            let f = cdf(v);
            (f - i as f64 / n).abs().max((i as f64 + 1.0) / n - f)
        })
        .fold(0.0, f64::max)
}

pub fn mean_var(v: &[f32]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().map(|&a| f64::from(a)).sum::<f64>() / n;
    let var = v.iter().map(|&a| (f64::from(a) - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var)
}

pub fn correlation(a: &[f32], b: &[f32]) -> f64 {
    let (ma, va) = mean_var(a);
    let (mb, vb) = mean_var(b);
    let cov = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (f64::from(x) - ma) * (f64::from(y) - mb))
        .sum::<f64>()
        / (a.len() as f64 - 1.0);
    cov / (va * vb).sqrt()
}

/// The pixels of an RGBA8 texture of `w × h`, as u32 words row by row
/// (copied through a buffer whose rows are padded to 256 bytes, as wgpu asks).
pub fn read_texture(gpu: &Gpu, texture: &wgpu::Texture, [w, h]: [usize; 2]) -> Vec<u32> {
    let row_words = w.div_ceil(64) * 64;
    let back = gpu.storage_buffer("texture readback", row_words * h);
    let mut encoder = gpu.device.create_command_encoder(&Default::default());
    encoder.copy_texture_to_buffer(
        texture.as_image_copy(),
        wgpu::TexelCopyBufferInfo {
            buffer: &back,
            layout: wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some((row_words * 4) as u32),
                rows_per_image: Some(h as u32),
            },
        },
        texture.size(),
    );
    gpu.submit(encoder.finish());
    gpu.read_f32(&back, 0, row_words * h)
        .unwrap()
        .chunks_exact(row_words)
        .flat_map(|row| row[..w].iter().map(|v| v.to_bits()).collect::<Vec<_>>())
        .collect()
}

/// The command failed, and its stderr says `says`.
pub fn assert_refused(out: &std::process::Output, says: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains(says),
        "expected a failure saying `{says}`:\n{stderr}"
    );
}

/// The ebmscope binary run with `args`, to the end.
pub fn ebmscope(args: &[&str]) -> Output {
    let run = || Command::new(env!("CARGO_BIN_EXE_ebmscope")).args(args).output();
    // (Under Wine, starting a process now and then fails before it runs,
    // "Internal error" (Windows' 1359): started once more, as
    // .ci/windows/wine-runner starts a test binary. A start that failed
    // ran nothing, so nothing is done twice.)
    run()
        .or_else(|e| {
            eprintln!("starting ebmscope failed ({e}): once more");
            run()
        })
        .unwrap()
}

/// `train --resume` of the run in `out`, to `iters` in all if given, with
/// `--set` for each of `set`.
pub fn resume_train(out: &std::path::Path, iters: Option<u64>, set: &[&str]) -> Output {
    let iters = iters.map(|n| n.to_string());
    let mut args = vec!["train", "--out", out.to_str().unwrap(), "--resume"];
    if let Some(n) = &iters {
        args.extend(["--iters", n.as_str()]);
    }
    for s in set {
        args.extend(["--set", s]);
    }
    ebmscope(&args)
}

/// `train` on the rings preset made small ([`SMALL_TOY`]) for `iters`
/// iterations into `out`, with `extra` arguments.
pub fn train_small_toy(out: &std::path::Path, iters: u64, extra: &[&str]) -> Output {
    train_preset("rings-convergent", out, iters, &[&SMALL_TOY[..], extra].concat())
}

/// `train --preset P --iters N --out OUT ARGS`, to the end.
pub fn train_preset(preset: &str, out: &std::path::Path, iters: u64, args: &[&str]) -> Output {
    let iters = iters.to_string();
    let mut all = vec![
        "train",
        "--preset",
        preset,
        "--iters",
        &iters,
        "--out",
        out.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    ebmscope(&all)
}

/// A new, empty folder for one test, `ebmscope-NAME-` and a random tail
/// (kept after the test, for a look at a failure's files). A process id is
/// no unique name: Wine gives ids out again, and a test binary run once
/// more found its first run's outputs where it asserted there were none.
pub fn scratch_dir(name: &str) -> std::path::PathBuf {
    tempfile::Builder::new()
        .prefix(&format!("ebmscope-{name}-"))
        .tempdir()
        .unwrap()
        .keep()
}

/// A new scratch folder's path, not made yet (a run's --out, say): its
/// random name stays unique, and a test's removal at its end leaves nothing.
pub fn fresh_dir(name: &str) -> std::path::PathBuf {
    let dir = scratch_dir(name);
    std::fs::remove_dir(&dir).unwrap();
    dir
}

/// Each (what, got, want) within `tol` of the other.
pub fn assert_all_close(context: &str, pairs: &[(&str, &[f32], &[f32])], tol: ebmscope::compare::Tolerance) {
    for (what, got, want) in pairs {
        let c = ebmscope::compare::compare(got, &f64s(want), tol);
        assert!(c.passed(), "{context}{what}: {c}");
    }
}

/// Settings that make a toy run small enough for the tests.
pub const SMALL_TOY: [&str; 16] = [
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
    "--set",
    "output.checkpoint_every=2",
    "--set",
    "output.picture_every=100",
];

/// The first column of the CSV file at `path`, its header left out: the
/// iterations of a metrics.csv, the steps of a longrun.csv.
pub fn csv_first_column(path: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (text.lines().skip(1))
        .map(|l| l.split(',').next().unwrap_or_default().to_string())
        .collect()
}

/// A chains file at `path` of one 2-D chain (too few for a landscape).
pub fn write_one_chain(path: &std::path::Path) {
    let x = ebmscope::io::Tensor {
        name: "x".into(),
        shape: vec![1, 2],
        data: vec![0.3, -0.2],
    };
    ebmscope::io::write_tensors(path, &[x]).unwrap();
}

/// The TOML file at `path` (a run's config.toml, a longrun.toml, a landscape.toml).
pub fn read_toml(path: &std::path::Path) -> toml::Table {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.parse().unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A PyTorch file tests/data/torch holds, written by
/// scripts/torch_fixtures.py with PyTorch 2.15.
pub fn torch_fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("data")
        .join("torch")
        .join(name)
}

/// `path` as it reads between the quotes of a Python string literal in a
/// printed line (a Windows path's `\` doubled).
pub fn in_python_quotes(path: &std::path::Path) -> String {
    path.display().to_string().replace('\\', r"\\")
}
