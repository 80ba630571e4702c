//! Training on images end to end, at sizes a software adapter runs in
//! seconds: the real Fashion-MNIST from Debian's `dataset-fashion-mnist`
//! (CI installs it) through `train` and `sample`, NonlocalNet with a
//! persistent bank on a folder of PNG files the test writes, resuming an
//! image run exactly, the GPU-held data against the CPU images, and the
//! refusals of misconfigured image runs.
#![allow(clippy::disallowed_methods)] // tests may rename and remove with std's calls (clippy.toml)

mod common;

use common::ebmscope;
use std::path::{Path, PathBuf};
use std::process::Command;

use ebmscope::config::Config;
use ebmscope::data::image_indices;
use ebmscope::data::images::{DEBIAN_FASHION_MNIST, load_folder};
use ebmscope::train::feed::{ImageGather, ImageStore};

fn temp(name: &str) -> PathBuf {
    common::fresh_dir(&format!("imgtrain-{name}"))
}

fn ok(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The metrics.csv column `col` of every iteration.
fn column(dir: &Path, col: usize) -> Vec<f64> {
    std::fs::read_to_string(dir.join("metrics.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(col).unwrap().parse().unwrap())
        .collect()
}

/// Tiny settings: n_f = 4, 4 + 4 images, 5 Langevin steps, 500 images.
const TINY: [&str; 12] = [
    "--set",
    "net.n_f=4",
    "--set",
    "batch.data=4",
    "--set",
    "batch.chains=4",
    "--set",
    "langevin.steps=5",
    "--set",
    "data.limit=500",
    "--set",
    "output.picture_every=3",
];

#[test]
fn fashion_mnist_trains_writes_grids_samples_and_maps_its_checkpoint() {
    assert!(
        Path::new(DEBIAN_FASHION_MNIST).is_dir(),
        "{DEBIAN_FASHION_MNIST} is missing: install Debian's dataset-fashion-mnist (.ci/run does)"
    );
    let dir = temp("fashion");
    let mut args = vec![
        "train",
        "--preset",
        "fashion-mnist-quick",
        "--iters",
        "3",
        "--out",
        dir.to_str().unwrap(),
        "--set",
        "eval.longrun_every=3",
        "--set",
        "eval.longrun_steps=20",
        "--set",
        "eval.longrun_chains=4",
    ];
    args.extend_from_slice(&TINY);
    let out = ebmscope(&args);
    ok(&out);
    // The data set's 500 images of 32×32 as bytes (0.49 MiB), said with the run's memory.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("loading idx images from "), "{stderr}");
    let held = stderr
        .lines()
        .find_map(|l| {
            l.strip_prefix("GPU memory: ")?
                .strip_suffix(" MiB held for training (0.5 MiB of it the data set)")
        })
        .unwrap_or_else(|| panic!("no memory line: {stderr}"));
    assert!(
        held.parse::<f64>().unwrap() > 0.5,
        "{held} MiB held: the data set alone is 0.49"
    );
    let d_st = column(&dir, 1);
    assert_eq!(d_st.len(), 3);
    assert!(d_st.iter().all(|d| d.is_finite()), "d_st {d_st:?}");
    for f in [
        "pictures/data.png",
        "pictures/samples_0000003.png",
        "pictures/diagnostics_0000003.png",
        "longrun/samples_0000003.png",
        "longrun/longrun_0000003.png",
        "longrun/longrun_0000003.csv",
        "longrun/chains_0000003.safetensors",
        "weights/weights_0000003.safetensors",
    ] {
        assert!(dir.join(f).is_file(), "{f} was not written");
        // Every picture (grids, plotted figures) is marked as ours.
        if f.ends_with(".png") {
            assert!(
                ebmscope::io::png_written_by_ebmscope(&dir.join(f)),
                "{f} is not marked"
            );
        }
    }
    // A 4-image grid of 32×32 images at ×2 with 2-pixel gaps: 2 × 2 cells.
    let grid = image::open(dir.join("pictures/samples_0000003.png")).unwrap();
    assert_eq!((grid.width(), grid.height()), (2 + 2 * 66, 2 + 2 * 66));
    let data = image::open(dir.join("pictures/data.png")).unwrap().to_luma8();
    let (lo, hi) = data
        .pixels()
        .fold((255u8, 0u8), |(a, b), p| (a.min(p.0[0]), b.max(p.0[0])));
    assert!(hi > lo + 100, "the data grid shows images, not a flat field");
    // The long-run energy path: the start (no gradient yet), then finite records.
    let lr = std::fs::read_to_string(dir.join("longrun/longrun_0000003.csv")).unwrap();
    let lines: Vec<&str> = lr.lines().collect();
    assert!(lines.len() > 10 && lines[1].ends_with(','), "{lr}");
    assert!(
        lines[2..]
            .iter()
            .all(|l| l.split(',').all(|v| v.parse::<f64>().unwrap().is_finite())),
        "{lr}"
    );

    let ck = dir.join("checkpoint.safetensors");
    let ck_s = ck.to_str().unwrap();
    let sample = |args: &[&str]| ebmscope(&[&["sample", "--checkpoint", ck_s][..], args].concat());
    // The steps of a long run's rows, and its chains.
    let row_steps = |folder: &Path| common::csv_first_column(&folder.join("longrun.csv"));
    let chains = |file: &Path| ebmscope::io::read_tensor(file, "x").unwrap();
    for init in ["data", "uniform"] {
        ok(&sample(&[
            "--steps", "20", "--every", "10", "--chains", "6", "--init", init,
        ]));
        let folder = dir.join(format!("longrun_{init}"));
        assert_eq!(row_steps(&folder), ["0", "10", "20"]);
        // The chains at the end, as `energy --input` takes images: [B, C, H, W].
        assert_eq!(
            chains(&folder.join("chains.safetensors")).shape,
            [6, 1, 32, 32],
            "{init}"
        );
        for f in [
            "samples_00000000.png",
            "samples_00000010.png",
            "samples_00000020.png",
            "longrun.png",
        ] {
            assert!(folder.join(f).is_file(), "{init}: {f} was not written");
        }
    }
    // Going on from the chains of 10 steps, 10 more reach those of the
    // 20-step run above, bit for bit: the image net's steps, recorded in
    // runs of several, draw their noise on from the file's step as well.
    let (half, rest) = (dir.join("half"), dir.join("rest"));
    ok(&sample(&[
        "--steps",
        "10",
        "--chains",
        "6",
        "--out",
        half.to_str().unwrap(),
    ]));
    let half_chains = half.join("chains.safetensors");
    let from_half = ["--from-chains", half_chains.to_str().unwrap()];
    ok(&sample(
        &[
            &from_half[..],
            &["--steps", "10", "--out", rest.to_str().unwrap()],
        ]
        .concat(),
    ));
    assert_eq!(
        chains(&rest.join("chains.safetensors")).data,
        chains(&dir.join("longrun_data/chains.safetensors")).data
    );
    // The training's long-run check kept its final states too, at its
    // 20th step: a long run goes on from them.
    let checked = dir.join("longrun/chains_0000003.safetensors");
    assert_eq!(chains(&checked).shape, [4, 1, 32, 32]);
    assert_eq!(ebmscope::io::read_metadata(&checked).unwrap()["step"], "20");
    let on = dir.join("from_check");
    let went_on = sample(&[
        "--from-chains",
        checked.to_str().unwrap(),
        "--steps",
        "2",
        "--out",
        on.to_str().unwrap(),
        "--data",
        DEBIAN_FASHION_MNIST,
    ]);
    ok(&went_on);
    // (--data would say where the chains start from data: here they do not.)
    let said = String::from_utf8_lossy(&went_on.stderr);
    assert!(
        said.contains("note: --data is not read: the chains start from "),
        "{said}"
    );
    assert_eq!(row_steps(&on), ["20", "21", "22"]);
    // `sample` starts from the images as they are (the reference's eval.py);
    // training's long-run checks and the landscape add the run's ε_data
    // (0.03 here), as train_data.py's sample_q.
    {
        use ebmscope::train::longrun::{LongRunInit, start_states};
        let ck = ebmscope::train::Checkpoint::load(&ck).unwrap();
        let data = ebmscope::data::Dataset::load(&ck.config.data).unwrap();
        let images = data.images().unwrap();
        let dim: usize = data.chw().iter().product();
        let is_an_image = |row: &[f32]| (0..images.n).any(|i| images.image(i).eq(row.iter().copied()));
        let gpu = common::gpu();
        for noise in [false, true] {
            let x = start_states(&gpu, &ck, Some(&data), LongRunInit::Data, noise, 6, 7).unwrap();
            let clean = x.chunks(dim).filter(|row| is_an_image(row)).count();
            assert_eq!(
                clean,
                if noise { 0 } else { 6 },
                "starts with ε_data noise: {noise}"
            );
        }
    }
    // The landscape of an image model: minima as image grids, one per basin.
    let out = ebmscope(&[
        "landscape",
        "--checkpoint",
        ck.to_str().unwrap(),
        "--starts",
        "3",
        "--descent-steps",
        "4",
        "--ad-steps",
        "3",
    ]);
    ok(&out);
    let folder = dir.join("landscape");
    let minima = std::fs::read_to_string(folder.join("minima.csv")).unwrap();
    assert!(
        minima.starts_with("minimum,energy,starts,basin_alpha_1\n"),
        "{minima}"
    );
    let basins = 1 + minima
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(3).unwrap().parse::<usize>().unwrap())
        .max()
        .unwrap();
    for b in 0..basins {
        assert!(
            folder.join(format!("basin_alpha_1_{b:03}.png")).is_file(),
            "basin {b}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every file under `dir`, recursively.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// Twelve 40×36 RGB pictures with a coloured square each (resized and
/// centre-cropped to 32×32 by the loader).
fn write_pictures(dir: &Path) {
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    for i in 0..12u32 {
        let img = image::RgbImage::from_fn(40, 36, |x, y| {
            let inside = (x / 10 + y / 9 + i) % 3 == 0;
            if inside {
                image::Rgb([(40 * i) as u8, 200, 255 - (20 * i) as u8])
            } else {
                image::Rgb([10, 10, 10])
            }
        });
        let sub = if i % 2 == 0 { "" } else { "sub" };
        img.save(dir.join(sub).join(format!("p{i:02}.png"))).unwrap();
    }
}

/// flowers-convergent (NonlocalNet, one bank state per image) at a size lavapipe runs in seconds.
const FLOWERS_SMALL: [&str; 12] = [
    "--set",
    "net.n_f=2",
    "--set",
    "batch.data=3",
    "--set",
    "batch.chains=4",
    "--set",
    "langevin.steps=3",
    "--set",
    "output.checkpoint_every=2",
    "--set",
    "output.picture_every=2",
];

fn folder_run(out: &Path, pictures: &Path, iters: u64, extra: &[&str]) -> std::process::Output {
    let data = ["--data", pictures.to_str().unwrap()];
    common::train_preset(
        "flowers-convergent",
        out,
        iters,
        &[&data[..], &FLOWERS_SMALL, extra].concat(),
    )
}

/// NonlocalNet with a persistent bank of one state per image (bank_size = 0,
/// as the reference), from a folder: trains, writes X⁻ and bank grids, and a
/// run stopped at a checkpoint and resumed equals one run straight through.
#[test]
fn nonlocal_on_a_folder_resumes_exactly() {
    let base = temp("folder");
    let pictures = base.join("pictures-in");
    write_pictures(&pictures);
    let (whole, split) = (base.join("whole"), base.join("split"));
    ok(&folder_run(&whole, &pictures, 4, &[]));
    ok(&folder_run(&split, &pictures, 2, &[]));
    // The run's own settings (data folder included) carry it on.
    ok(&ebmscope(&[
        "train",
        "--out",
        split.to_str().unwrap(),
        "--resume",
        "--iters",
        "4",
    ]));
    let d_st = column(&whole, 1);
    assert_eq!(d_st.len(), 4);
    assert!(d_st.iter().all(|d| d.is_finite()));
    assert_eq!(column(&split, 1), d_st, "resumed run differs");
    assert_eq!(column(&split, 2), column(&whole, 2));
    for f in ["pictures/samples_0000004.png", "pictures/bank_0000004.png"] {
        assert!(whole.join(f).is_file(), "{f} was not written");
    }
    let ck = ebmscope::train::Checkpoint::load(&whole.join("checkpoint.safetensors")).unwrap();
    assert_eq!(
        ck.bank.as_ref().map(|b| b.len()),
        Some(12 * 3 * 32 * 32),
        "one bank state per image"
    );
    let names: Vec<String> = ebmscope::io::read_all(&whole.join("weights/weights_0000004.safetensors"))
        .unwrap()
        .0
        .into_iter()
        .map(|t| t.name)
        .collect();
    for n in [
        "convs.3.theta.weight",
        "convs.3.phi.0.weight",
        "convs.7.g.0.bias",
        "convs.7.W.weight",
        "fc.2.weight",
    ] {
        assert!(names.iter().any(|x| x == n), "{n} missing from the state dict");
    }
    // Data-initialised chains (contrastive divergence) gather images on the GPU too.
    let cd = base.join("cd");
    ok(&folder_run(&cd, &pictures, 2, &["--set", "langevin.init=data"]));
    assert!(column(&cd, 1).iter().all(|d| d.is_finite()));
    // A run in its own image folder, or in one above it, is refused
    // before anything is written: no later load would take that data.
    let listed = |d: &Path| {
        let mut names: Vec<_> = walk(d);
        names.sort();
        names
    };
    let before = listed(&base);
    for out in [&pictures, &base] {
        let refused = folder_run(out, &pictures, 1, &[]);
        common::assert_refused(&refused, "the folder of images the run learns");
        common::assert_refused(&refused, "choose another --out");
    }
    assert_eq!(listed(&base), before, "a refused run wrote nothing");
    let _ = std::fs::remove_dir_all(&base);
}

/// A run keeps its data's absolute path (given relative here), so that it
/// resumes from anywhere; data that moved is refused with the fix, which
/// `--resume --data` is; a changed image set is named as the cause when the
/// bank (one state per image) no longer fits it, or when its pixels are not
/// those the checkpoint keeps the fingerprint of.
#[test]
fn a_run_resumes_from_anywhere_and_follows_its_data_when_it_moves() {
    let base = temp("moved");
    write_pictures(&base.join("pictures-in"));
    let run = base.join("run");
    let mut args = vec!["train", "--preset", "flowers-convergent", "--data", "pictures-in"];
    args.extend(FLOWERS_SMALL);
    args.extend(["--set", "output.checkpoint_every=1"]);
    args.extend(["--iters", "1", "--out", run.to_str().unwrap()]);
    let out = Command::new(env!("CARGO_BIN_EXE_ebmscope"))
        .args(&args)
        .current_dir(&base)
        .output()
        .unwrap();
    ok(&out);
    let config = common::read_toml(&run.join("config.toml"));
    let kept = Path::new(config["data"]["path"].as_str().unwrap());
    assert!(kept.is_absolute(), "{kept:?}");
    assert_eq!(
        kept.canonicalize().unwrap(),
        base.join("pictures-in").canonicalize().unwrap()
    );

    let moved = base.join("pictures-moved");
    std::fs::rename(base.join("pictures-in"), &moved).unwrap();
    let resume = |iters: &str, data: Option<&Path>| {
        let mut args = vec![
            "train",
            "--out",
            run.to_str().unwrap(),
            "--resume",
            "--iters",
            iters,
        ];
        if let Some(d) = data {
            args.extend(["--data", d.to_str().unwrap()]);
        }
        ebmscope(&args)
    };
    common::assert_refused(&resume("2", None), "pass --data with --resume");
    // Long runs and landscape maps from the checkpoint take --data too.
    let ck = run.join("checkpoint.safetensors");
    let from_checkpoint = |command: &str, data: Option<&Path>| {
        let out = base.join(format!("{command}-out"));
        let mut args = vec![
            command,
            "--checkpoint",
            ck.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend(match command {
            "sample" => ["--steps", "2", "--chains", "2"],
            _ => ["--starts", "2", "--descent-steps", "2"],
        });
        if let Some(d) = data {
            args.extend(["--data", d.to_str().unwrap(), "--force"]);
        }
        ebmscope(&args)
    };
    for command in ["sample", "landscape"] {
        common::assert_refused(
            &from_checkpoint(command, None),
            "say where the data is with --data PATH",
        );
        let out = from_checkpoint(command, Some(&moved));
        ok(&out);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("is not the data"), "{stderr}");
    }
    // And the window: started with the moved data (gui --checkpoint C --data
    // NEW), its Load of the checkpoint takes the set where it is now.
    {
        use ebmscope::train::session::{Command, Session, Update};
        let mut config = ebmscope::train::Checkpoint::load(&ck).unwrap().config;
        config.data.path = moved.to_string_lossy().into_owned();
        let s = Session::start(std::sync::Arc::new(common::gpu()), config).unwrap();
        s.send(Command::Load(ck.clone()));
        loop {
            match s.next(std::time::Duration::from_secs(60)) {
                Some(Update::Loaded { iteration, .. }) => {
                    assert_eq!(iteration, 1);
                    break;
                }
                Some(Update::Failed(why)) => panic!("the window's Load failed: {why}"),
                Some(_) => {}
                None => panic!("no Load within 60 s"),
            }
        }
    }
    // One more image: refused as other data (its bank, one state per image
    // of the old set, would not fit either: the data is named first).
    let extra = moved.join("p99.png");
    std::fs::copy(moved.join("p00.png"), &extra).unwrap();
    common::assert_refused(
        &resume("2", Some(&moved)),
        "is not the data the checkpoint was trained on (13 images",
    );
    std::fs::remove_file(&extra).unwrap();
    // Fewer images than chains: still the changed set, not the bank's size, is named.
    let few = base.join("two-pictures");
    std::fs::create_dir_all(&few).unwrap();
    for name in ["p00.png", "p02.png"] {
        std::fs::copy(moved.join(name), few.join(name)).unwrap();
    }
    common::assert_refused(
        &resume("2", Some(&few)),
        "is not the data the checkpoint was trained on (2 images",
    );
    // A checkpoint written before fingerprints (no `data` in its header):
    // one more image is refused by its bank, of one state per image.
    let with_fingerprint = base.join("checkpoint-with-fingerprint");
    std::fs::copy(&ck, &with_fingerprint).unwrap();
    let (tensors, mut header) = ebmscope::io::read_all(&ck).unwrap();
    assert!(header.remove("data").is_some());
    ebmscope::io::write_tensors_with_metadata(&ck, &tensors, Some(header)).unwrap();
    std::fs::copy(moved.join("p00.png"), &extra).unwrap();
    common::assert_refused(
        &resume("2", Some(&moved)),
        "the checkpoint's bank holds 12 states but this run's holds 13: its data changed",
    );
    std::fs::remove_file(&extra).unwrap();
    // Fewer images than chains: the changed set too, not the bank's size
    // for the chains.
    common::assert_refused(
        &resume("2", Some(&few)),
        "the checkpoint's bank holds 12 states but this run's holds 2: its data changed",
    );
    std::fs::rename(&with_fingerprint, &ck).unwrap();
    // As many images, one of them another: refused by the set's fingerprint.
    let kept_aside = base.join("p00.png");
    std::fs::rename(moved.join("p00.png"), &kept_aside).unwrap();
    std::fs::copy(moved.join("p02.png"), moved.join("p00.png")).unwrap();
    let refused = resume("2", Some(&moved));
    common::assert_refused(&refused, "is not the data the checkpoint was trained on");
    // So is the window's (gui --checkpoint C --data OTHER), as it starts:
    // it used to open on a fresh model, the refusal in its status line.
    common::assert_refused(
        &ebmscope(&[
            "gui",
            "--checkpoint",
            ck.to_str().unwrap(),
            "--data",
            moved.to_str().unwrap(),
        ]),
        "is not the data the checkpoint was trained on",
    );
    // (And where the run read its own, as config.toml keeps it.)
    common::assert_refused(
        &refused,
        &format!(
            "go on with the run's own data (--data: it read them from {})",
            kept.display()
        ),
    );
    // A long run may start from other images (a test split, say): said, not refused.
    let out = from_checkpoint("sample", Some(&moved));
    ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("is not the data the checkpoint was trained on")
            && stderr.contains("the chains start from these images"),
        "{stderr}"
    );
    // And its longrun.toml records them.
    let settings = common::read_toml(&base.join("sample-out/longrun.toml"));
    assert_eq!(
        settings["data"]
            .as_str()
            .map(|p| Path::new(p).canonicalize().unwrap()),
        Some(moved.canonicalize().unwrap()),
        "{settings:?}"
    );
    std::fs::rename(&kept_aside, moved.join("p00.png")).unwrap();
    // Its own images, too many for an adapter: no case for data.limit (the
    // run's are fixed), as a new run's would be, but for a larger adapter.
    {
        let ck = ebmscope::train::Checkpoint::load(&ck).unwrap();
        let mut config = ck.config.clone();
        config.data.path = moved.to_string_lossy().into_owned();
        let data = ebmscope::data::Dataset::load(&config.data).unwrap();
        let mut small = common::gpu();
        small.limits.max_storage_buffer_binding_size = 1024;
        let err = ebmscope::train::Trainer::for_restore(std::sync::Arc::new(small), config, data, &ck)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("more than this adapter allows (0 MiB)")
                && err.ends_with(ebmscope::train::feed::CHECKPOINT_TOO_LARGE),
            "{err}"
        );
    }
    ok(&resume("2", Some(&moved)));
    assert_eq!(column(&run, 1).len(), 2);
    let _ = std::fs::remove_dir_all(&base);
}

/// Training with the kernels chosen by measured speed (a global flag): the
/// run says which kernels it runs and trains.
#[test]
fn training_runs_the_kernels_it_is_told() {
    let base = temp("measured");
    let pictures = base.join("pictures-in");
    write_pictures(&pictures);
    let out = folder_run(&base.join("run"), &pictures, 2, &["--conv-kernels", "measured"]);
    ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("convolutions: tiled or direct by measured speed"),
        "{stderr}"
    );
    assert!(column(&base.join("run"), 1).iter().all(|d| d.is_finite()));
    let _ = std::fs::remove_dir_all(&base);
}

/// The images the GPU gathers are the loader's, exactly (bytes on the GPU lose nothing).
#[test]
fn gpu_held_images_equal_the_loaded_ones() {
    let dir = temp("gather");
    write_pictures(&dir);
    let set = load_folder(&dir, 3, 32, None).unwrap();
    let gpu = common::gpu();
    let store = ImageStore::new(&gpu, &set).unwrap();
    let dim = 3 * 32 * 32;
    let out = gpu.storage_buffer("gathered", 5 * dim);
    let gather = ImageGather::new(&gpu, &store, &out, 5).unwrap();
    let idx = image_indices(set.n, 5, &mut rand::rng());
    gather.select(&gpu, &idx);
    gpu.run("gather", |pass| gather.record(&gpu, pass));
    let got = gpu.read_f32(&out, 0, 5 * dim).unwrap();
    for (row, &i) in idx.iter().enumerate() {
        let want: Vec<f32> = set.image(i as usize).collect();
        assert_eq!(got[row * dim..(row + 1) * dim], want, "image {i}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn misconfigured_image_runs_are_refused() {
    let dir = temp("refuse");
    let err = |args: &[&str]| {
        let out = ebmscope(args);
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let out = dir.to_str().unwrap();
    let e = err(&["train", "--preset", "cifar10-nonconvergent", "--out", out]);
    assert!(e.contains("data.path") && e.contains("--data"), "{e}");
    let e = err(&["train", "--preset", "gmm-quick", "--data", "/tmp", "--out", out]);
    assert!(e.contains("image preset"), "{e}");
    let e = err(&[
        "train",
        "--preset",
        "mnist-convergent",
        "--data",
        "/nonexistent/mnist.gz",
        "--out",
        out,
    ]);
    let shown = if cfg!(windows) {
        r"\nonexistent\mnist.gz"
    } else {
        "/nonexistent/mnist.gz"
    };
    assert!(e.contains(shown) && e.contains("does not exist"), "{e}");
    let e = err(&[
        "train",
        "--preset",
        "fashion-mnist-quick",
        "--set",
        "data.size=28",
        "--out",
        out,
    ]);
    assert!(e.contains("32×32"), "{e}");
    // --set data.kind wins over the kind --data's path suggests: a CIFAR-10
    // batch named without .bin (here cut short) is read as one.
    std::fs::create_dir_all(&dir).unwrap();
    let batch = dir.join("data_batch_1");
    std::fs::write(&batch, [3u8; 3000]).unwrap();
    let data = batch.to_str().unwrap();
    let args = [
        "train",
        "--preset",
        "fashion-mnist-quick",
        "--data",
        data,
        "--out",
        out,
    ];
    let e = err(&[&args[..], &["--set", "data.kind=cifar10"]].concat());
    assert!(e.contains("not a CIFAR-10 binary file"), "{e}");
    // --data and --set data.path both: refused (--data won without a word).
    let e = err(&[&args[..], &["--set", "data.path=/elsewhere"]].concat());
    assert!(
        e.contains("--data and --set data.path both say where the data is: give one"),
        "{e}"
    );
    // (Without it the path says IDX, and the file's name says CIFAR-10;
    // what is loaded is not called IDX first.)
    let e = err(&args);
    assert!(
        e.contains("is named as CIFAR-10's batches are: pass --set data.kind=cifar10"),
        "{e}"
    );
    assert!(
        e.contains("loading images from ") && !e.contains("idx images"),
        "{e}"
    );
    let bad = |sets: &[&str]| {
        Config::resolve(
            Some("fashion-mnist-quick"),
            None,
            &sets.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )
    };
    assert!(
        bad(&["net.kind=toy"])
            .unwrap_err()
            .to_string()
            .contains("image network")
    );
    assert!(
        bad(&["data.channels=2"])
            .unwrap_err()
            .to_string()
            .contains("data.channels")
    );
    let toy = Config::resolve(Some("gmm-quick"), None, &["net.kind=vanilla".to_string()]);
    assert!(toy.unwrap_err().to_string().contains("net.kind"));

    // A --force that cannot start (no data) leaves the existing run untouched.
    let run = dir.join("toy-run");
    let r = run.to_str().unwrap();
    let small = [
        "--set",
        "langevin.steps=2",
        "--set",
        "langevin.bank_size=100",
        "--set",
        "eval.grid=16",
    ];
    let mut args = vec!["train", "--iters", "1", "--out", r];
    args.extend_from_slice(&small);
    ok(&ebmscope(&args));
    let before = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    let e = err(&[
        "train",
        "--preset",
        "cifar10-nonconvergent",
        "--force",
        "--out",
        r,
    ]);
    assert!(e.contains("data.path"), "{e}");
    assert_eq!(std::fs::read_to_string(run.join("metrics.csv")).unwrap(), before);
    assert!(run.join("checkpoint.safetensors").is_file() && run.join("config.toml").is_file());
    // Nor does an IDX file of no images (a valid header saying 0).
    let empty = dir.join("empty-idx3-ubyte");
    std::fs::write(&empty, [0, 0, 8, 3, 0, 0, 0, 0, 0, 0, 0, 28, 0, 0, 0, 28]).unwrap();
    let e = err(&[
        "train",
        "--preset",
        "fashion-mnist-quick",
        "--data",
        empty.to_str().unwrap(),
        "--force",
        "--out",
        r,
    ]);
    assert!(e.contains("holds no images"), "{e}");
    assert_eq!(std::fs::read_to_string(run.join("metrics.csv")).unwrap(), before);
    assert!(run.join("checkpoint.safetensors").is_file());
    let _ = std::fs::remove_dir_all(&dir);
}
