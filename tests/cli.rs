//! The `ebmscope` binary end to end: info, doctor and energy.

mod common;

use common::ebmscope;
use std::path::PathBuf;

use ebmscope::compare::compare;
use ebmscope::doctor::NET_TOL;
use ebmscope::io::{Tensor, load_params, read_tensor, write_tensors};
use ebmscope::model::{NetSpec, init_params};
use ebmscope::reference::ReferenceNet;

fn dir(name: &str) -> PathBuf {
    common::scratch_dir(&format!("cli-{name}"))
}

fn path_str(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn info_lists_an_adapter() {
    let out = ebmscope(&["info"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("[0] ") && stdout.contains("chosen: "), "{stdout}");
}

/// Output into a pipe its reader closed (`ebmscope info | head -0`) ends
/// the program quietly, not with a panic.
#[cfg(unix)]
#[test]
fn a_closed_output_pipe_ends_quietly() {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ebmscope"))
        .arg("info")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    // Ended by the pipe's signal, as `cat` would be: not a failure of its own.
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGPIPE),
        "{:?}: {stderr}",
        out.status
    );
}

#[test]
fn doctor_passes() {
    let out = ebmscope(&["doctor"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains(" passed, 0 failed: every kernel agrees with the CPU reference on this adapter"),
        "{stdout}"
    );
    // It says the family its rows run, and each row's share of its allowance.
    // (direct on CPU adapters, by-shape on GPUs.)
    let family = ["direct", "by-shape"].iter().any(|f| {
        stdout.contains(&format!(
            "\nconvolutions: {f} (rows marked [direct conv] or [tiled conv]"
        ))
    });
    assert!(family, "{stdout}");
    let used: Vec<&str> = stdout
        .lines()
        .filter(|l| l.ends_with("  pass"))
        .filter_map(|l| l.split_whitespace().rev().nth(1))
        .collect();
    assert!(
        !used.is_empty()
            && used.iter().all(|u| u
                .strip_suffix('%')
                .and_then(|n| n.parse::<u32>().ok())
                .is_some_and(|n| n <= 100)),
        "{used:?}"
    );
}

/// Where the driver-list variables point nowhere, no adapter is found:
/// the refusal names them as the likely cause, and for the GL backend
/// says GL's packages, not Vulkan's.
#[cfg(target_os = "linux")]
#[test]
fn no_adapter_names_the_variables_that_hide_the_drivers() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ebmscope"))
        .args(["--backend", " GL ", "train", "--iters", "1"])
        .env("VK_ICD_FILENAMES", "/nonexistent.json")
        .env("__EGL_VENDOR_LIBRARY_FILENAMES", "/nonexistent.json")
        .output()
        .unwrap();
    common::assert_refused(&out, "no GPU adapter found by wgpu for backend GL");
    common::assert_refused(
        &out,
        "VK_ICD_FILENAMES=/nonexistent.json and __EGL_VENDOR_LIBRARY_FILENAMES=/nonexistent.json are \
         set, and may hide the drivers installed: unset them and try again.",
    );
    common::assert_refused(&out, "sudo apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri");
    // Vulkan hidden alone, GL runs, and that is said.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ebmscope"))
        .arg("info")
        .env("VK_ICD_FILENAMES", "/nonexistent.json")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("no Vulkan, Metal or DX12 adapter found"), "{said}");
    assert!(said.contains("using GL, ebmscope's slowest path"), "{said}");
}

#[test]
fn unknown_adapter_is_refused_with_the_list() {
    let out = ebmscope(&["--adapter", "no-such-gpu-xyz", "doctor"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no-such-gpu-xyz") && stderr.contains("wgpu sees"),
        "{stderr}"
    );
    let out = ebmscope(&["--backend", "glide", "info"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown backend `glide`"));
    // Another system's backend is named as such.
    let (other, maker) = if cfg!(windows) {
        ("metal", "Apple")
    } else {
        ("dx12", "Microsoft")
    };
    let out = ebmscope(&["--backend", other, "info"]);
    common::assert_refused(
        &out,
        &format!(
            "backend `{other}` (--backend or EBMSCOPE_BACKEND) is {maker}'s, not on {}: leave both unset",
            std::env::consts::OS
        ),
    );
}

/// Energies and input gradients of the binary match the CPU reference for
/// the weights it saved, and reloading those weights gives the same numbers.
/// `batch` grey 32×32 images of values spread over [−1, 1], saved as the
/// tensor `x` at `path` (energy's input); their values.
/// `ebmscope energy` on the small VanillaNet (1 channel, n_f = 2) of the
/// PyTorch fixtures, with `args`.
fn small_vanilla_energy(args: &[&str]) -> std::process::Output {
    let net = ["energy", "--net", "vanilla", "--n-c", "1", "--n-f", "2"];
    ebmscope(&[&net[..], args].concat())
}

fn grey_images(path: &std::path::Path, batch: usize) -> Vec<f32> {
    let x: Vec<f32> = (0..batch * 32 * 32)
        .map(|i| ((i * 7919 % 2001) as f32 / 1000.0) - 1.0)
        .collect();
    let tensor = Tensor {
        name: "x".into(),
        shape: vec![batch, 1, 32, 32],
        data: x.clone(),
    };
    write_tensors(path, &[tensor]).unwrap();
    x
}

#[test]
fn energy_matches_reference_and_reloads_weights() {
    let d = dir("vanilla");
    let (input, out1, out2, weights) = (
        d.join("x.safetensors"),
        d.join("y1.safetensors"),
        d.join("y2.safetensors"),
        d.join("w.safetensors"),
    );
    let batch = 3;
    let x = grey_images(&input, batch);
    let common_args = [
        "energy",
        "--net",
        "vanilla",
        "--n-c",
        "1",
        "--n-f",
        "4",
        "--input",
        path_str(&input),
    ];
    let out = ebmscope(
        &[
            &common_args[..],
            &[
                "--seed",
                "4",
                "--save-weights",
                path_str(&weights),
                "--output",
                path_str(&out1),
                "--chunk",
                "2",
            ],
        ]
        .concat(),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = ebmscope(
        &[
            &common_args[..],
            &["--weights", path_str(&weights), "--output", path_str(&out2)],
        ]
        .concat(),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let spec = NetSpec::vanilla(1, 4).unwrap();
    let params = load_params(&weights, &spec.param_layout().unwrap(), String::new).unwrap();
    let (energy, grads) = ReferenceNet::new(&spec).unwrap().backward(
        &common::f64s(&params),
        batch,
        &common::f64s(&x),
        &[1.0; 3],
    );
    for out in [&out1, &out2] {
        let e = read_tensor(out, "energy").unwrap();
        let g = read_tensor(out, "grad_x").unwrap();
        assert_eq!(e.shape, vec![batch]);
        assert_eq!(g.shape, vec![batch, 1, 32, 32]);
        let c = compare(&e.data, &energy, NET_TOL);
        assert!(c.passed(), "energy: {c}");
        let c = compare(&g.data, &grads.input, NET_TOL);
        assert!(c.passed(), "grad_x: {c}");
    }
    // Chunks of 2 (with zero padding) and one chunk of 3 agree exactly.
    assert_eq!(
        read_tensor(&out1, "energy").unwrap(),
        read_tensor(&out2, "energy").unwrap()
    );
    // Pixels in [0, 255] (not scaled to [−1, 1]) are computed, with a note.
    let note = "none below 0: the image nets take pixels in [−1, 1]";
    assert!(!String::from_utf8_lossy(&out.stderr).contains(note));
    let raw: Vec<f32> = x.iter().map(|v| ((v + 1.0) * 127.5).round()).collect();
    let raw_input = d.join("raw.safetensors");
    let tensor = Tensor {
        name: "x".into(),
        shape: vec![batch, 1, 32, 32],
        data: raw,
    };
    write_tensors(&raw_input, &[tensor]).unwrap();
    let raw_output = d.join("raw-out.safetensors");
    let raw_args = [
        &common_args[..8],
        &[path_str(&raw_input), "--output", path_str(&raw_output)],
    ]
    .concat();
    let out = ebmscope(&raw_args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.contains("lie in [0, 255], none below 0"),
        "{stderr}"
    );
}

/// `energy --weights` takes a state dict torch.save wrote (the authors'
/// `.pth`) as it takes the same tensors saved with safetensors, and
/// `--save-weights` writes it out as safetensors.
#[test]
fn energy_reads_a_pytorch_state_dict() {
    let d = dir("pth");
    let data = common::torch_fixture("");
    let input = d.join("x.safetensors");
    grey_images(&input, 2);
    let energy = |weights: &str, extra: &[&str]| {
        let output = d.join(format!("y-{weights}.safetensors"));
        let weights = data.join(weights);
        let args = [
            "--input",
            path_str(&input),
            "--weights",
            path_str(&weights),
            "--output",
            path_str(&output),
        ];
        let out = small_vanilla_energy(&[&args[..], extra].concat());
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        (
            read_tensor(&output, "energy").unwrap(),
            read_tensor(&output, "grad_x").unwrap(),
        )
    };
    let converted = d.join("converted.safetensors");
    assert_eq!(
        energy("vanilla-legacy.pth", &["--save-weights", path_str(&converted)]),
        energy("vanilla.safetensors", &[])
    );
    let layout = NetSpec::vanilla(1, 2).unwrap().param_layout().unwrap();
    let want = load_params(&data.join("vanilla.safetensors"), &layout, String::new).unwrap();
    assert_eq!(load_params(&converted, &layout, String::new).unwrap(), want);
    // A conversion alone: --save-weights without --input and --output.
    let alone = d.join("alone.safetensors");
    let convert = |extra: &[&str]| {
        let weights = data.join("training-state.pth");
        small_vanilla_energy(&[&["--weights", path_str(&weights)][..], extra].concat())
    };
    let out = convert(&["--save-weights", path_str(&alone)]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && said.contains("saved the weights to"),
        "{said}"
    );
    assert_eq!(load_params(&alone, &layout, String::new).unwrap(), want);
    // Written again over its own earlier output; not over the images read
    // as --input another time, which are kept.
    assert!(convert(&["--save-weights", path_str(&alone)]).status.success());
    let images = std::fs::read(&input).unwrap();
    common::assert_refused(
        &convert(&["--save-weights", path_str(&input)]),
        "exists and is no earlier --save-weights output (a network's weights alone",
    );
    assert_eq!(std::fs::read(&input).unwrap(), images);
    // Nor over weights a run saved, which it names the weights of their
    // iteration (a checkpoint beside weights/ makes the folder a run's).
    let run = d.join("run");
    std::fs::create_dir_all(run.join("weights")).unwrap();
    std::fs::write(run.join("checkpoint.safetensors"), b"").unwrap();
    let saved = run.join("weights").join("weights_0000001.safetensors");
    std::fs::copy(&alone, &saved).unwrap();
    common::assert_refused(
        &convert(&["--save-weights", path_str(&saved)]),
        "exists and is no earlier --save-weights output",
    );
    // An --output over weights: refused, and they are kept.
    let out = convert(&["--input", path_str(&input), "--output", path_str(&alone)]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && said.contains("exists and is no earlier energy output"),
        "{said}"
    );
    assert_eq!(load_params(&alone, &layout, String::new).unwrap(), want);
    // Nor over a file of the same tensors that PyTorch wrote (without
    // ebmscope's mark in its header): someone's weights, or their own
    // energies, kept byte for byte.
    let as_pytorch_writes = |from: &std::path::Path, to: &std::path::Path| {
        let (tensors, _) = ebmscope::io::read_all(from).unwrap();
        let views = tensors.iter().map(|t| {
            let bytes: &[u8] = bytemuck::cast_slice(&t.data);
            let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, t.shape.clone(), bytes);
            (t.name.clone(), view.unwrap())
        });
        std::fs::write(to, safetensors::serialize(views, None).unwrap()).unwrap();
        std::fs::read(to).unwrap()
    };
    let theirs = d.join("theirs.safetensors");
    let kept = as_pytorch_writes(&alone, &theirs);
    common::assert_refused(
        &convert(&["--save-weights", path_str(&theirs)]),
        "exists and is no earlier --save-weights output (a network's weights alone that ebmscope marked as \
         its own, not in a run's weights/ folder: remove one an older release wrote, which it did not mark)",
    );
    assert_eq!(std::fs::read(&theirs).unwrap(), kept);
    let energies = d.join("energies.safetensors");
    let wrote =
        |output: &std::path::Path| convert(&["--input", path_str(&input), "--output", path_str(output)]);
    assert!(wrote(&energies).status.success() && wrote(&energies).status.success());
    let kept = as_pytorch_writes(&energies, &theirs);
    common::assert_refused(&wrote(&theirs), "exists and is no earlier energy output");
    assert_eq!(std::fs::read(&theirs).unwrap(), kept);
    // Neither: said what to give; --input without --output: clap's refusal.
    let out = convert(&[]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && said.contains("give --input X --output Y"),
        "{said}"
    );
    let out = convert(&["--input", path_str(&input)]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("--output"));
}

#[test]
fn toy_energy_takes_points() {
    let d = dir("toy");
    let (input, output) = (d.join("x.safetensors"), d.join("y.safetensors"));
    write_tensors(
        &input,
        &[Tensor {
            name: "x".into(),
            shape: vec![4, 2],
            data: vec![0.0, 0.0, 1.0, 0.0, 0.0, -1.0, 0.5, 0.5],
        }],
    )
    .unwrap();
    let out = ebmscope(&[
        "energy",
        "--net",
        "toy",
        "--input",
        path_str(&input),
        "--output",
        path_str(&output),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(read_tensor(&output, "grad_x").unwrap().shape, vec![4, 2]);
    assert_eq!(read_tensor(&output, "energy").unwrap().shape, vec![4]);
}

#[test]
fn energy_refuses_bad_input_clearly() {
    let d = dir("bad");
    let (input, output) = (d.join("x.safetensors"), d.join("y.safetensors"));
    // Zero images of `shape` as the input.
    let write_input = |shape: Vec<usize>| {
        let data = vec![0.0; shape.iter().product()];
        let x = Tensor {
            name: "x".into(),
            shape,
            data,
        };
        write_tensors(&input, &[x]).unwrap();
    };
    write_input(vec![1, 1, 28, 28]);
    let one_channel_vanilla = [
        "energy",
        "--net",
        "vanilla",
        "--n-c",
        "1",
        "--n-f",
        "4",
        "--input",
        path_str(&input),
        "--output",
        path_str(&output),
    ];
    let out = ebmscope(&one_channel_vanilla);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("32×32") && stderr.contains("[1, 28, 28]"),
        "{stderr}"
    );
    // Weights of another width: refused, saying which net they are.
    write_input(vec![1, 1, 32, 32]);
    let wider = d.join("wider.safetensors");
    let spec = NetSpec::vanilla(1, 8).unwrap();
    ebmscope::io::save_params(
        &wider,
        &spec.param_layout().unwrap(),
        &init_params(&spec, 1).unwrap(),
    )
    .unwrap();
    let out = ebmscope(&[&one_channel_vanilla[..], &["--weights", path_str(&wider)]].concat());
    common::assert_refused(&out, "they are vanilla's: --net vanilla --n-c 1 --n-f 8");
    write_input(vec![1, 1, 28, 28]);
    assert!(!output.exists(), "nothing is written on failure");
    // Another number of channels, and channels-last images, get their own fix.
    for (shape, says) in [
        (
            vec![1, 3, 32, 32],
            "built for 1 channel and these images have 3: build it for them (energy --n-c 3",
        ),
        (
            vec![1, 32, 32, 1],
            "These look channels-last (H, W, C): permute them to (C, H, W)",
        ),
    ] {
        write_input(shape);
        common::assert_refused(&ebmscope(&one_channel_vanilla), says);
    }
    write_input(vec![1, 1, 28, 28]);

    let out = ebmscope(&[
        "energy",
        "--net",
        "resnet",
        "--input",
        path_str(&input),
        "--output",
        path_str(&output),
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown network `resnet`"));

    // Weights of another width are refused naming the tensor.
    let weights = d.join("w.safetensors");
    let out = ebmscope(&[
        "energy",
        "--net",
        "toy",
        "--input",
        path_str(&input),
        "--output",
        path_str(&output),
        "--save-weights",
        path_str(&weights),
    ]);
    assert!(!out.status.success(), "toy net takes points, not images");
    assert!(!weights.exists(), "nothing is written on failure");
    let points = d.join("points.safetensors");
    let write_points = |data: Vec<f32>| {
        let x = Tensor {
            name: "x".into(),
            shape: vec![2, 2],
            data,
        };
        write_tensors(&points, &[x]).unwrap();
    };
    write_points(vec![0.0, 1.0, f32::NAN, 0.5]);
    let toy = |input: &std::path::Path, output: &std::path::Path| {
        ebmscope(&[
            "energy",
            "--net",
            "toy",
            "--input",
            path_str(input),
            "--output",
            path_str(output),
            "--save-weights",
            path_str(&weights),
        ])
    };
    let out = toy(&points, &output);
    common::assert_refused(&out, "NaN at element 2");
    assert!(
        !output.exists() && !weights.exists(),
        "nothing is written on failure"
    );
    write_points(vec![0.0, 1.0, 0.25, 0.5]);
    let kept = std::fs::read(&points).unwrap();
    let out = toy(&points, &points);
    common::assert_refused(&out, "is also --input");
    assert_eq!(
        std::fs::read(&points).unwrap(),
        kept,
        "the input is left as it was"
    );
    assert!(toy(&points, &output).status.success());
    // Weights read are not overwritten either (a run's checkpoint, say).
    let saved = std::fs::read(&weights).unwrap();
    let w = path_str(&weights);
    let toy_energy = |args: &[&str]| {
        let mut all = vec!["energy", "--net", "toy", "--input", path_str(&points)];
        all.extend_from_slice(args);
        ebmscope(&all)
    };
    let out = toy_energy(&["--output", path_str(&output), "--weights", w, "--save-weights", w]);
    common::assert_refused(&out, "--save-weights");
    common::assert_refused(&out, "is also --weights");
    // Two outputs that do not exist yet, named two ways.
    let twice = d.join("twice.safetensors");
    let also_twice = d.join(".").join("twice.safetensors");
    let out = toy_energy(&[
        "--output",
        path_str(&twice),
        "--save-weights",
        path_str(&also_twice),
    ]);
    common::assert_refused(&out, "is also --output");
    assert!(!twice.exists());
    // A PyTorch file's name for what is written as safetensors.
    let pth = d.join("w.pth");
    let out = toy_energy(&["--output", path_str(&output), "--save-weights", path_str(&pth)]);
    common::assert_refused(&out, "names a PyTorch file, but ebmscope writes safetensors");
    assert!(!pth.exists());
    // An output into a folder that is not there is refused before the
    // weights are written.
    let fresh = d.join("fresh.safetensors");
    let nowhere = d.join("no-such-folder").join("e.safetensors");
    let out = toy_energy(&["--output", path_str(&nowhere), "--save-weights", path_str(&fresh)]);
    common::assert_refused(&out, "there is no folder");
    common::assert_refused(&out, "--output");
    assert!(!fresh.exists(), "the weights wait for a good --output");
    assert_eq!(
        std::fs::read(&weights).unwrap(),
        saved,
        "the weights are left as they were"
    );
    let out = ebmscope(&[
        "energy",
        "--net",
        "vanilla",
        "--n-c",
        "1",
        "--n-f",
        "4",
        "--weights",
        path_str(&weights),
        "--input",
        path_str(&input),
        "--output",
        path_str(&output),
    ]);
    common::assert_refused(&out, "f.0.weight");
    // A net too wide to build is refused by name, not by the GPU driver.
    let out = ebmscope(&[
        "energy",
        "--n-c",
        "1",
        "--n-f",
        "1025",
        "--input",
        path_str(&input),
        "--output",
        path_str(&output),
    ]);
    common::assert_refused(&out, "n_f = 1025 is wider than ebmscope builds (n_f ≤ 1024");
}

/// The window's bank picture needs a persistent bank, its picture and toy
/// views their kind of data, and its map valid options: asked otherwise, it
/// refuses before a window opens.
#[test]
fn gui_refuses_views_the_run_cannot_show() {
    let out = ebmscope(&["gui", "--preset", "fashion-mnist-quick", "--picture", "bank"]);
    common::assert_refused(&out, "--picture bank needs a persistent bank");
    let out = ebmscope(&["gui", "--preset", "gmm-quick", "--picture", "data"]);
    common::assert_refused(&out, "use --toy-view");
    let out = ebmscope(&[
        "gui",
        "--preset",
        "fashion-mnist-quick",
        "--toy-view",
        "densities",
    ]);
    common::assert_refused(&out, "use --picture");
    // The map's options, as `landscape` refuses them; and only with --landscape.
    let out = ebmscope(&["gui", "--landscape", "--alpha", "-1"]);
    common::assert_refused(&out, "--alpha values must be numbers ≥ 0");
    let out = ebmscope(&["gui", "--landscape", "--starts", "1"]);
    common::assert_refused(&out, "--starts must be at least 2");
    let out = ebmscope(&["gui", "--temp-factor", "0.5"]);
    common::assert_refused(&out, "--landscape");
    let out = ebmscope(&[
        "gui",
        "--preset",
        "gmm-quick",
        "--from-chains",
        "chains.safetensors",
    ]);
    common::assert_refused(&out, "--landscape");
    let map_from = |file: &std::path::Path| {
        ebmscope(&[
            "gui",
            "--preset",
            "gmm-quick",
            "--landscape",
            "--from-chains",
            file.to_str().unwrap(),
        ])
    };
    let missing = dir("gui-chains").join("absent.safetensors");
    common::assert_refused(&map_from(&missing), "absent.safetensors");
    // A file of one chain, named as `landscape` names it.
    let one = dir("gui-chains").join("one.safetensors");
    std::fs::create_dir_all(one.parent().unwrap()).unwrap();
    common::write_one_chain(&one);
    common::assert_refused(
        &map_from(&one),
        "holds one chain, and a landscape starts from 2 states at least",
    );
    // A long run's, as the window refuses them; one panel's work at a time.
    for (args, says) in [
        (&["--mala"][..], "--long-run <STEPS>"),
        (
            &["--long-run", "5", "--landscape"][..],
            "the argument '--long-run <STEPS>' cannot be used with '--landscape'",
        ),
        (
            &["--long-run", "0"][..],
            "--long-run must be from 1 to 4294967295 steps (it is 0)",
        ),
        (
            &["--long-run", "5", "--temp-factor", "1e60"][..],
            "--temp-factor 1e60: the temperature T·f it gives",
        ),
        (
            &[
                "--long-run",
                "5",
                "--set",
                "langevin.init=uniform",
                "--set",
                "eval.longrun_init=bank",
            ][..],
            "the long run starts from eval.longrun_init = \"bank\", and this run keeps no bank",
        ),
    ] {
        let out = ebmscope(&[&["gui", "--preset", "gmm-quick"][..], args].concat());
        common::assert_refused(&out, says);
    }
    // Weights alone need the settings they were trained with, of their
    // net; a run's checkpoint keeps its own.
    let folder = dir("gui-weights");
    let weights = folder.join("W.safetensors");
    let spec = NetSpec::toy();
    let layout = spec.param_layout().unwrap();
    ebmscope::io::save_params(&weights, &layout, &init_params(&spec, 1).unwrap()).unwrap();
    let w = weights.to_str().unwrap();
    common::assert_refused(&ebmscope(&["gui", "--checkpoint", w]), "holds weights alone");
    let out = ebmscope(&["gui", "--checkpoint", w, "--preset", "fashion-mnist-quick"]);
    common::assert_refused(&out, "f.0.weight");
    let ck = folder.join("ck.safetensors");
    let config = std::collections::HashMap::from([("config".to_string(), "seed = 1".to_string())]);
    ebmscope::io::write_tensors_with_metadata(&ck, &[], Some(config)).unwrap();
    let out = ebmscope(&[
        "gui",
        "--checkpoint",
        ck.to_str().unwrap(),
        "--preset",
        "gmm-quick",
    ]);
    common::assert_refused(&out, "are for weights alone");
    // A --screenshot path holding a file ebmscope did not write (a PNG of
    // the user's) is refused before the window, and the file kept; one of
    // ours (an earlier screenshot) is not.
    let theirs = folder.join("theirs.png");
    image::RgbImage::new(2, 2).save(&theirs).unwrap();
    let before = std::fs::read(&theirs).unwrap();
    let shot = |path: &std::path::Path| {
        ebmscope(&[
            "gui",
            "--preset",
            "gmm-quick",
            "--frames",
            "1",
            "--screenshot",
            path_str(path),
        ])
    };
    common::assert_refused(&shot(&theirs), "a file not marked as ebmscope's is there");
    assert_eq!(std::fs::read(&theirs).unwrap(), before);
    let ours = folder.join("ours.png");
    ebmscope::io::write_png(&ours, [1, 1], ebmscope::io::Pixels::Rgb, &[0, 0, 0]).unwrap();
    // (Past the check: the window opens, or, with no display, says so.)
    let out = shot(&ours);
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success() || said.contains("the window needs a display"),
        "{said}"
    );
}

/// A --config file alone that lacks a section says how to fill it; over a
/// preset, the same file is enough.
#[test]
fn a_partial_config_file_alone_says_to_put_a_preset_under_it() {
    let d = dir("partial-config");
    let file = d.join("partial.toml");
    std::fs::write(&file, "seed = 7\n").unwrap();
    let out = d.join("run");
    let (file_s, out_s) = (path_str(&file), path_str(&out));
    let alone = ebmscope(&["train", "--config", file_s, "--iters", "1", "--out", out_s]);
    common::assert_refused(&alone, "missing field");
    common::assert_refused(&alone, "put a preset under it (--preset P --config F)");
    assert!(!out.exists());
    let small = [&["--config", file_s][..], &common::SMALL_TOY[..]].concat();
    let over = common::train_preset("rings-convergent", &out, 1, &small);
    assert!(over.status.success(), "{}", String::from_utf8_lossy(&over.stderr));
}

/// A negative or fractional count is named as such, not taken for an
/// unknown option ("-3"); the energy net's fixed widths are refused too.
#[test]
fn counts_must_be_whole_numbers() {
    for args in [
        &["sample", "--checkpoint", "x.safetensors", "--chains", "-3"][..],
        &["landscape", "--checkpoint", "x.safetensors", "--starts", "2.5"],
        &["train", "--iters", "-1"],
    ] {
        let bad = args[args.len() - 1];
        common::assert_refused(
            &ebmscope(args),
            &format!("`{bad}` is not a whole number (such as 100)"),
        );
    }
    // A whole number written otherwise is told how to write it; a real
    // number's refusal says so in words, not Rust's.
    for (args, says) in [
        (
            &["train", "--iters", "1e3"][..],
            "`1e3`: write it in plain digits, as 1000",
        ),
        (
            &["train", "--iters", "1,000"],
            "`1,000`: write it without separators, as 1000",
        ),
        (
            &["sample", "--checkpoint", "x", "--temp-factor", "abc"],
            "`abc` is not a number (such as 0.1 or 1e-3)",
        ),
    ] {
        common::assert_refused(&ebmscope(args), says);
    }
    // One past the type's range is a whole number, too large.
    common::assert_refused(
        &ebmscope(&["train", "--iters", "18446744073709551616"]),
        "`18446744073709551616` is too large a number here",
    );
    let toy = ebmscope(&[
        "energy", "--net", "toy", "--n-f", "8", "--input", "x", "--output", "y",
    ]);
    common::assert_refused(&toy, "ToyNet's widths are fixed");
}

/// A mistyped option gets the option meant and the command's usage, not a
/// usage line naming the option meant as if it were the one required
/// ("Usage: ebmscope train --iters <ITERS>", clap's own).
#[test]
fn a_mistyped_option_gets_the_commands_usage() {
    for (args, meant, usage) in [
        (
            &["train", "--iter", "5"][..],
            "'--iters'",
            "Usage: ebmscope train [OPTIONS]\n",
        ),
        (
            &["sample", "--chekpoint", "x"],
            "'--checkpoint'",
            "Usage: ebmscope sample [OPTIONS] --checkpoint <FILE>\n",
        ),
    ] {
        let out = ebmscope(args);
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.code() == Some(2)
                && said.contains(&format!("a similar argument exists: {meant}"))
                && said.contains(usage),
            "{said}"
        );
    }
    // (--help says the same.)
    let help = ebmscope(&["train", "--help"]);
    assert!(String::from_utf8_lossy(&help.stdout).contains("Usage: ebmscope train [OPTIONS]\n"));
}

/// Bytes as input, and weights holding NaN: each refused with its mend
/// (pixels scaled into [−1, 1]; an earlier save of a model that diverged).
#[test]
fn energy_says_how_to_mend_bytes_and_diverged_weights() {
    let d = dir("mend");
    let output = d.join("y.safetensors");
    let vanilla = |input: &std::path::Path, weights: &std::path::Path| {
        small_vanilla_energy(&[
            "--input",
            path_str(input),
            "--weights",
            path_str(weights),
            "--output",
            path_str(&output),
        ])
    };
    let weights = common::torch_fixture("vanilla.safetensors");
    let bytes = d.join("bytes.safetensors");
    let pixels = vec![200u8; 2 * 32 * 32];
    let view =
        safetensors::tensor::TensorView::new(safetensors::Dtype::U8, vec![2, 1, 32, 32], &pixels).unwrap();
    std::fs::write(&bytes, safetensors::serialize([("x", view)], None).unwrap()).unwrap();
    common::assert_refused(
        &vanilla(&bytes, &weights),
        "tensor `x` is of uint8; ebmscope reads floating-point tensors (float32, float64, float16, bfloat16): \
         convert it with .float() (pixels in [0, 255]: x.float() / 127.5 - 1 puts them in [−1, 1]",
    );
    let input = d.join("x.safetensors");
    grey_images(&input, 2);
    let layout = NetSpec::vanilla(1, 2).unwrap().param_layout().unwrap();
    let mut params = load_params(&weights, &layout, String::new).unwrap();
    params[3] = f32::NAN;
    let diverged = d.join("diverged.safetensors");
    ebmscope::io::save_params(&diverged, &layout, &params).unwrap();
    common::assert_refused(
        &vanilla(&input, &diverged),
        "tensor `f.0.weight` holds NaN at flat index 3: weights of a model that diverged",
    );
    assert!(!output.exists());
}

/// An input file holding more than `x` (labels beside the images, say):
/// computed, with a note naming what energy does not read.
#[test]
fn energy_names_the_input_tensors_it_does_not_read() {
    let d = dir("input-extras");
    let input = d.join("x.safetensors");
    let images = grey_images(&input, 2);
    let labels = Tensor {
        name: "labels".into(),
        shape: vec![2],
        data: vec![3.0, 7.0],
    };
    let x = Tensor {
        name: "x".into(),
        shape: vec![2, 1, 32, 32],
        data: images,
    };
    write_tensors(&input, &[labels, x]).unwrap();
    let output = d.join("y.safetensors");
    let out = small_vanilla_energy(&["--input", path_str(&input), "--output", path_str(&output)]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success()
            && said.contains("also holds `labels`, which energy does not read (it reads `x`)"),
        "{said}"
    );
}

/// A data folder or weights file whose name is not UTF-8 is refused as
/// such: a run's settings (TOML) cannot hold the name, which was kept
/// changed and then said not to exist.
#[cfg(unix)]
#[test]
fn names_that_are_not_utf8_are_refused_as_such() {
    use std::os::unix::ffi::OsStrExt;
    let d = dir("not-utf8");
    let odd = d.join(std::ffi::OsStr::from_bytes(b"bad\xffname"));
    std::fs::create_dir_all(&odd).unwrap();
    let weights = odd.join("w.safetensors");
    std::fs::write(&weights, b"").unwrap();
    let out = d.join("run");
    let run = |args: &[&std::ffi::OsStr]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_ebmscope"))
            .args(["train", "--iters", "1", "--out"])
            .arg(&out)
            .args(args)
            .output()
            .unwrap()
    };
    let data = run(&[
        "--preset".as_ref(),
        "fashion-mnist-quick".as_ref(),
        "--data".as_ref(),
        odd.as_os_str(),
    ]);
    common::assert_refused(&data, "its name is not valid UTF-8");
    let init = run(&["--init-weights".as_ref(), weights.as_os_str()]);
    common::assert_refused(&init, "its name is not valid UTF-8");
    assert!(!out.exists());
}

/// Without a display the window is refused at once, before the GPU is
/// opened (its warning and adapter line said nothing of use then).
#[cfg(target_os = "linux")]
#[test]
fn the_window_without_a_display_is_refused_first() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ebmscope"))
        .arg("gui")
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .unwrap();
    common::assert_refused(
        &out,
        "the window needs a display, and neither DISPLAY nor WAYLAND_DISPLAY is set",
    );
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!said.contains("adapter:"), "{said}");
}

/// `compare` reads run folders as far as each has got: a table on stdout,
/// one line per run named apart by its folders, with the last TV of a toy
/// run, and a figure of their curves; what is not a run is refused,
/// naming it, and a file not ebmscope's is never written over.
#[test]
fn compare_sets_runs_side_by_side() {
    let base = common::fresh_dir("cli-compare");
    let (a, b) = (base.join("a").join("run"), base.join("b").join("run"));
    // (b's correlations over its last 4 iterations, as its own settings say.)
    let window = ["--set", "eval.window=4", "--set", "eval.max_lag=2"];
    for (run, iters, extra) in [(&a, 3, &[][..]), (&b, 5, &window[..])] {
        let args = [&["--set", "output.picture_every=2"][..], extra].concat();
        let out = common::train_small_toy(run, iters, &args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    // a goes on at another learning rate: a change, named under the table.
    let out = common::resume_train(&a, Some(4), &["optimizer.lr=0.05"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // A run still writing its metrics: its last line, cut short, is left out.
    let metrics = b.join("metrics.csv");
    let whole = std::fs::read_to_string(&metrics).unwrap();
    std::fs::write(&metrics, format!("{whole}6,0.1")).unwrap();
    let figure = base.join("both.png");
    let compare = |args: &[&std::path::Path]| {
        let args: Vec<&str> = args.iter().map(|p| path_str(p)).collect();
        ebmscope(&[&["compare"][..], &args].concat())
    };
    let out = compare(&[&a, &b, std::path::Path::new("--out"), &figure]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("note: b/run: its metrics.csv ends in a line cut short"),
        "{said}"
    );
    let table = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<Vec<&str>> = table.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(lines.len(), 4, "{table}");
    assert_eq!(
        (lines[1][..3].to_vec(), lines[2][..3].to_vec()),
        (vec!["a/run", "4", "4"], vec!["b/run", "5", "4"])
    );
    assert_eq!(
        table.lines().last().unwrap(),
        "a/run: optimizer.lr 0.1 → 0.05 after iteration 3"
    );
    // (b's d_st autocorrelation at lags 1 and 2 over that window, from its metrics.csv.)
    let csv = std::fs::read_to_string(&metrics).unwrap();
    let (d, r): (Vec<f64>, Vec<f64>) = (csv.lines().skip(1).take(5))
        .map(|l| {
            let cols: Vec<f64> = l.split(',').skip(1).take(2).map(|v| v.parse().unwrap()).collect();
            (cols[0], cols[1])
        })
        .unzip();
    let c = ebmscope::diagnostics::Correlations::compute(&d, &r, 4, 2).unwrap();
    let acf = [1, 2].map(|lag| format!("{:.4}", c.d_acf[lag]));
    assert_eq!(lines[2][6..8], acf, "{table}");
    // The same as CSV for a spreadsheet: numbers in full, changes in a column.
    let out = compare(&[
        &a,
        &b,
        std::path::Path::new("--out"),
        &figure,
        std::path::Path::new("--table"),
        std::path::Path::new("csv"),
    ]);
    let csv = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<Vec<&str>> = csv.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 3, "{csv}");
    assert_eq!(rows[0][..3], ["run", "iterations", "window"]);
    assert_eq!(rows[1][..3], ["a/run", "4", "4"]);
    assert_eq!(rows[1][13], "optimizer.lr 0.1 → 0.05 after iteration 3");
    assert_eq!(
        (rows[2][6].parse::<f64>().unwrap(), rows[2][13]),
        (c.d_acf[1], "")
    );
    // (The TV of p_θ and of the KDE at the run's last evaluation.)
    let toy = std::fs::read_to_string(b.join("toy_metrics.csv")).unwrap();
    let last: Vec<&str> = toy.lines().last().unwrap().split(',').collect();
    let tv = |col: usize| format!("{:.3}", last[col].parse::<f64>().unwrap());
    let end = &lines[2][lines[2].len() - 6..];
    assert_eq!(end, [&tv(1), "at", last[0], &tv(3), "at", last[0]], "{table}");
    assert!(ebmscope::io::png_written_by_ebmscope(&figure));
    // (A row of the runs' names, and four panels: d_st, r_t, TV and the autocorrelations.)
    assert_eq!(image::image_dimensions(&figure).unwrap(), (1200, 32 + 4 * 280));
    // Each run drawn in each panel, in its colour (Tableau's first two).
    let img = image::open(&figure).unwrap().to_rgb8();
    for (k, colour) in [[31, 119, 180], [255, 127, 14]].into_iter().enumerate() {
        for panel in 0..4 {
            let rows = 32 + panel * 280..32 + (panel + 1) * 280;
            let n = rows
                .flat_map(|y| (0..1200).map(move |x| (x, y)))
                .filter(|&(x, y)| img.get_pixel(x, y).0 == colour)
                .count();
            assert!(n > 20, "run {k} in panel {panel}: {n} pixels of its colour");
        }
    }
    // Written over as ebmscope's own; another file at --out is kept.
    assert!(
        compare(&[&a, std::path::Path::new("--out"), &figure])
            .status
            .success()
    );
    let mine = base.join("mine.png");
    std::fs::write(&mine, "not ebmscope's").unwrap();
    common::assert_refused(
        &compare(&[&a, std::path::Path::new("--out"), &mine]),
        "a file not marked as ebmscope's is there",
    );
    assert_eq!(std::fs::read_to_string(&mine).unwrap(), "not ebmscope's");

    // A run's checkpoint: the run as far as it goes (its metrics beside it),
    // without a change a resume recorded there but never saved with it (a
    // run killed between the two), nor the rows of a run gone on past it
    // (its evaluations' included).
    let past = base.join("past");
    std::fs::create_dir_all(&past).unwrap();
    for file in [
        "checkpoint.safetensors",
        "config.toml",
        "metrics.csv",
        "changes.csv",
        "toy_metrics.csv",
    ] {
        std::fs::copy(a.join(file), past.join(file)).unwrap();
    }
    let metrics_text = std::fs::read_to_string(past.join("metrics.csv")).unwrap();
    let last_row = metrics_text.lines().last().unwrap().replacen("4,", "5,", 1);
    std::fs::write(past.join("metrics.csv"), format!("{metrics_text}{last_row}\n")).unwrap();
    let changes_text = std::fs::read_to_string(past.join("changes.csv")).unwrap();
    let unsaved = format!("{changes_text}4,optimizer.lr,0.05,0.2\n");
    std::fs::write(past.join("changes.csv"), unsaved).unwrap();
    let toy_text = std::fs::read_to_string(past.join("toy_metrics.csv")).unwrap();
    let at_4 = toy_text.lines().last().unwrap().to_string();
    assert!(at_4.starts_with("4,"), "{toy_text}");
    std::fs::write(past.join("toy_metrics.csv"), format!("{toy_text}6,0.9,1,0.9,1\n")).unwrap();
    let checkpoint = past.join("checkpoint.safetensors");
    let out = compare(&[&checkpoint, &past, std::path::Path::new("--out"), &figure]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let table = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = table.lines().collect();
    let first: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(first[..3], ["past/checkpoint.safetensors", "4", "4"], "{table}");
    let tv_at_4 = format!("{:.3}", at_4.split(',').nth(1).unwrap().parse::<f64>().unwrap());
    assert_eq!(
        first[first.len() - 6..first.len() - 3],
        [&tv_at_4[..], "at", "4"],
        "{table}"
    );
    assert!(lines[2].starts_with("past "), "{table}");
    assert_eq!(
        lines[3..],
        [
            "past/checkpoint.safetensors: optimizer.lr 0.1 → 0.05 after iteration 3",
            "past: optimizer.lr 0.1 → 0.05 after iteration 3; optimizer.lr 0.05 → 0.2 after iteration 4",
        ],
        "{table}"
    );
    // Its toy_metrics.csv garbled: refused, as a run folder's is.
    std::fs::write(past.join("toy_metrics.csv"), format!("{toy_text}garbled\n")).unwrap();
    common::assert_refused(
        &compare(&[&checkpoint, std::path::Path::new("--out"), &figure]),
        "checkpoint.safetensors: the toy_metrics.csv beside it does not read (",
    );

    // What is not a run, named.
    let garbled = base.join("garbled");
    std::fs::create_dir_all(&garbled).unwrap();
    for file in ["metrics.csv", "config.toml"] {
        std::fs::copy(a.join(file), garbled.join(file)).unwrap();
    }
    let text = std::fs::read_to_string(garbled.join("metrics.csv")).unwrap();
    let broken = text.replacen("\n2,", "\ntwo,", 1);
    std::fs::write(garbled.join("metrics.csv"), broken).unwrap();
    let same_a = base.join("b").join("..").join("a").join("run");
    for (runs, says) in [
        (vec![base.join("absent")], "absent: does not exist".to_string()),
        (vec![base.clone()], "holds no metrics.csv".to_string()),
        (
            vec![a.join("metrics.csv")],
            "is neither a run's folder nor a checkpoint".to_string(),
        ),
        (
            vec![a.join("weights").join("weights_0000003.safetensors")],
            "holds no run's history (weights alone".to_string(),
        ),
        (vec![a.clone(), same_a], "is given twice".to_string()),
        (
            vec![garbled.clone()],
            format!(
                "{}: line 3 is not a metrics row",
                garbled.join("metrics.csv").display()
            ),
        ),
    ] {
        let runs: Vec<&std::path::Path> = runs.iter().map(|p| p.as_path()).collect();
        common::assert_refused(&compare(&runs), &says);
    }
}
