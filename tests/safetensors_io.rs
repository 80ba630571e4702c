//! Parameters and tensors in safetensors: round trips, files written the way
//! PyTorch writes them, and clear refusals of wrong files.

mod common;

use std::path::Path;

use ebmscope::io::{Tensor, load_params, read_tensor, save_params, write_tensors};
use ebmscope::model::{NetSpec, init_params};

/// What the refusals ask of the user (as `energy` asks it).
fn fix() -> String {
    "wrong --net, --n-c or --n-f?".into()
}

fn tmp(name: &str) -> std::path::PathBuf {
    common::scratch_dir("io").join(name)
}

/// A safetensors file assembled by hand, as `safetensors.torch.save_file`
/// writes it: 8-byte header length, JSON header with `__metadata__`, data.
/// Built without the crate's serializer so the test does not check the
/// crate against itself.
fn handmade(path: &Path, tensors: &[(&str, &str, Vec<usize>, Vec<u8>)]) {
    handmade_with(path, r#"{"format":"pt"}"#, tensors);
}

/// [`handmade`] with another `__metadata__` (JSON).
fn handmade_with(path: &Path, metadata: &str, tensors: &[(&str, &str, Vec<usize>, Vec<u8>)]) {
    let mut header = format!("{{\"__metadata__\":{metadata}");
    let mut data = Vec::new();
    for (name, dtype, shape, bytes) in tensors {
        let shape: Vec<String> = shape.iter().map(|s| s.to_string()).collect();
        header += &format!(
            ",\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":[{}],\"data_offsets\":[{},{}]}}",
            shape.join(","),
            data.len(),
            data.len() + bytes.len()
        );
        data.extend_from_slice(bytes);
    }
    header.push('}');
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut file = (header.len() as u64).to_le_bytes().to_vec();
    file.extend_from_slice(header.as_bytes());
    file.extend_from_slice(&data);
    std::fs::write(path, file).unwrap();
}

fn le_f32(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// A small VanillaNet's layout and initial weights, saved by ebmscope to
/// the scratch file `name`.
fn saved_vanilla(name: &str) -> (ebmscope::model::ParamLayout, Vec<f32>, std::path::PathBuf) {
    let spec = NetSpec::vanilla(3, 4).unwrap();
    let layout = spec.param_layout().unwrap();
    let params = init_params(&spec, 9).unwrap();
    let path = tmp(name);
    save_params(&path, &layout, &params).unwrap();
    (layout, params, path)
}

#[test]
fn params_round_trip() {
    let (layout, params, path) = saved_vanilla("round.safetensors");
    assert_eq!(load_params(&path, &layout, fix).unwrap(), params);
    let t = read_tensor(&path, "f.2.weight").unwrap();
    assert_eq!(t.shape, vec![8, 4, 4, 4]);
}

/// Weights ebmscope saved carry a CRC-32 of their tensors: a bit flipped
/// since (a finite value still) is refused, not run or converted as if
/// whole; a file without one (PyTorch's, an older release's) is read.
#[test]
fn weights_damaged_since_they_were_saved_are_refused() {
    let (layout, params, path) = saved_vanilla("flipped.safetensors");
    // A bit of the third value from the end flipped: refused.
    let refused_once_flipped = |path: &Path| {
        let mut flipped = std::fs::read(path).unwrap();
        let at = flipped.len() - 4 * 3;
        flipped[at] ^= 0x01;
        std::fs::write(path, &flipped).unwrap();
        let err = load_params(path, &layout, fix).unwrap_err().to_string();
        assert!(err.contains("their CRC-32 differs"), "{err}");
    };
    let crc = ebmscope::io::read_metadata(&path).unwrap()["crc32"].clone();
    refused_once_flipped(&path);
    // The same values without the CRC, as PyTorch writes them, load.
    let unmarked = tmp("unmarked.safetensors");
    let tensors: Vec<(&str, &str, Vec<usize>, Vec<u8>)> = layout
        .tensors
        .iter()
        .map(|t| {
            let v = &params[t.offset..t.offset + t.len];
            (t.name.as_str(), "F32", t.shape.clone(), le_f32(v))
        })
        .collect();
    handmade(&unmarked, &tensors);
    assert_eq!(load_params(&unmarked, &layout, fix).unwrap(), params);
    // One of ours from before its metadata had a CRC (`crc32` alone) loads,
    // and its tensors are still checked.
    let older = tmp("older.safetensors");
    let metadata = format!(r#"{{"written_by":"ebmscope","crc32":"{crc}"}}"#);
    handmade_with(&older, &metadata, &tensors);
    assert_eq!(load_params(&older, &layout, fix).unwrap(), params);
    refused_once_flipped(&older);
    // Another tool's `crc32` (of who knows what) is not ours to check.
    let theirs = tmp("their-crc.safetensors");
    handmade_with(&theirs, r#"{"format":"pt","crc32":"0x1A2B3C4D"}"#, &tensors);
    assert_eq!(load_params(&theirs, &layout, fix).unwrap(), params);
}

/// A PyTorch state dict (tensors in another order, f64 for one of them) loads.
#[test]
fn pytorch_style_file_loads() {
    let spec = NetSpec::toy();
    let layout = spec.param_layout().unwrap();
    let params = init_params(&spec, 3).unwrap();
    let mut tensors: Vec<(&str, &str, Vec<usize>, Vec<u8>)> = layout
        .tensors
        .iter()
        .rev()
        .map(|t| {
            (
                t.name.as_str(),
                "F32",
                t.shape.clone(),
                le_f32(&params[t.offset..t.offset + t.len]),
            )
        })
        .collect();
    // f.8.bias as F64, as torch.float64 would be saved.
    let bias = layout.get("f.8.bias").unwrap();
    tensors[0] = (
        "f.8.bias",
        "F64",
        vec![1],
        f64::from(params[bias.offset]).to_le_bytes().to_vec(),
    );
    let path = tmp("torch.safetensors");
    handmade(&path, &tensors);
    assert_eq!(load_params(&path, &layout, fix).unwrap(), params);
}

#[test]
fn wrong_shape_is_refused_naming_the_tensor() {
    let layout = NetSpec::vanilla(3, 4).unwrap().param_layout().unwrap();
    let other = NetSpec::vanilla(3, 8).unwrap();
    let path = tmp("wide.safetensors");
    save_params(
        &path,
        &other.param_layout().unwrap(),
        &init_params(&other, 1).unwrap(),
    )
    .unwrap();
    let err = load_params(&path, &layout, fix).unwrap_err().to_string();
    assert!(
        err.contains("f.0.weight") && err.contains("[8, 3, 3, 3]") && err.contains("[4, 3, 3, 3]"),
        "{err}"
    );
}

#[test]
fn missing_and_extra_tensors_are_refused() {
    let spec = NetSpec::toy();
    let layout = spec.param_layout().unwrap();
    let params = init_params(&spec, 1).unwrap();
    let keep = common::state_dict(&layout, &params, |n| (n != "f.4.bias").then(|| n.into()));
    let path = tmp("missing.safetensors");
    write_tensors(&path, &keep).unwrap();
    let err = load_params(&path, &layout, fix).unwrap_err().to_string();
    assert!(err.contains("missing tensor `f.4.bias`"), "{err}");

    let mut extra = keep.clone();
    extra.push(Tensor {
        name: "f.4.bias".into(),
        shape: vec![64],
        data: vec![0.0; 64],
    });
    extra.push(Tensor {
        name: "f.10.weight".into(),
        shape: vec![1],
        data: vec![0.0],
    });
    write_tensors(&path, &extra).unwrap();
    let err = load_params(&path, &layout, fix).unwrap_err().to_string();
    assert!(err.contains("f.10.weight"), "{err}");
    // A net of many tensors is named by its first few, and their count.
    let nonlocal = NetSpec::build(ebmscope::model::NetKind::Nonlocal, 1, 2)
        .unwrap()
        .param_layout()
        .unwrap();
    let err = load_params(&path, &nonlocal, fix).unwrap_err().to_string();
    assert!(
        err.contains("this network expects: convs.0.weight [2, 1, 3, 3], convs.0.bias [2], ")
            && err.ends_with(", … (26 in all)")
            && !err.contains("fc.2.bias"),
        "{err}"
    );

    // A DataParallel model's state dict: every name under `module.`.
    let wrapped = common::state_dict(&layout, &params, |n| Some(format!("module.{n}")));
    write_tensors(&path, &wrapped).unwrap();
    let err = load_params(&path, &layout, fix).unwrap_err().to_string();
    assert!(
        err.contains("start with `module.`")
            && err.contains("(DataParallel's or AveragedModel's)")
            && err.contains("model.module.state_dict()")
            && err.contains(&format!(
                "`save_file({{k.removeprefix(\"module.\"): v for k, v in load_file(\"{}\").items()}}, \"W.safetensors\")`",
                common::in_python_quotes(&path)
            )),
        "{err}"
    );
    // The names unwrapped and a wrapped copy beside them: no wrapped
    // model's state dict, but tensors this net does not have.
    let mut beside = common::state_dict(&layout, &params, |n| Some(n.into()));
    beside.extend(common::state_dict(&layout, &params, |n| Some(format!("ema.{n}"))));
    write_tensors(&path, &beside).unwrap();
    let err = load_params(&path, &layout, fix).unwrap_err().to_string();
    assert!(
        err.contains("has tensor(s) this network does not have: ema.") && !err.contains("start with"),
        "{err}"
    );
    // Two models' (an EMA's beside its model's): both named, one line.
    let mut two = common::state_dict(&layout, &params, |n| Some(format!("ema_model.{n}")));
    two.extend(common::state_dict(&layout, &params, |n| {
        Some(format!("online_model.{n}"))
    }));
    write_tensors(&path, &two).unwrap();
    let err = load_params(&path, &layout, fix).unwrap_err().to_string();
    assert!(
        err.contains("holds 2 models' state dicts, under `ema_model.`, `online_model.`")
            && err.contains(r#"v for k, v in load_file("#)
            && err.contains(r#".items() if k.startswith("ema_model.")}"#),
        "{err}"
    );
    // torch.compile's: under `_orig_mod.`.
    let compiled = common::state_dict(&layout, &params, |n| Some(format!("_orig_mod.{n}")));
    write_tensors(&path, &compiled).unwrap();
    let err = load_params(&path, &layout, fix).unwrap_err().to_string();
    assert!(
        err.contains("torch.compile's") && err.contains("model._orig_mod.state_dict()"),
        "{err}"
    );
}

#[test]
fn broken_files_are_refused_with_their_path() {
    let layout = NetSpec::toy().param_layout().unwrap();
    let path = tmp("garbage.safetensors");
    std::fs::write(&path, b"this is not a safetensors file").unwrap();
    let err = load_params(&path, &layout, fix).unwrap_err().to_string();
    assert!(
        err.contains("garbage.safetensors") && err.contains("not a valid safetensors"),
        "{err}"
    );

    // Starts as torch.save's files do (a zip from PyTorch 1.6 on, a pickle
    // before), then not: read as such, and said to be broken.
    for (name, start) in [
        ("net.pth", &b"PK\x03\x04"[..]),
        ("old.pt", &[0x80, 0x02][..]),
        ("protocol4.pt", &[0x80, 0x04][..]),
    ] {
        let torch_file = tmp(name);
        std::fs::write(&torch_file, [start, b"torch pickle data"].concat()).unwrap();
        let err = load_params(&torch_file, &layout, fix).unwrap_err().to_string();
        assert!(
            err.contains(name) && err.contains("is it the right file"),
            "{err}"
        );
    }

    // A NumPy array file.
    let npy = tmp("x.npy");
    std::fs::write(&npy, b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', ").unwrap();
    let err = read_tensor(&npy, "x").unwrap_err().to_string();
    assert!(
        err.contains("is a NumPy .npy file") && err.contains("np.load"),
        "{err}"
    );

    let missing = tmp("does-not-exist.safetensors");
    let err = load_params(&missing, &layout, fix).unwrap_err().to_string();
    assert!(err.contains("does-not-exist"), "{err}");

    let ints = tmp("ints.safetensors");
    handmade(&ints, &[("x", "I32", vec![2], vec![0; 8])]);
    let err = read_tensor(&ints, "x").unwrap_err().to_string();
    assert!(err.contains("is of int32") && err.contains(".float()"), "{err}");
    let err = read_tensor(&ints, "y").unwrap_err().to_string();
    assert!(err.contains("no tensor `y`") && err.contains("x"), "{err}");
}

#[test]
fn non_finite_weights_are_refused() {
    let spec = NetSpec::toy();
    let layout = spec.param_layout().unwrap();
    let mut params = init_params(&spec, 1).unwrap();
    params[5] = f32::NAN;
    let path = tmp("nan.safetensors");
    save_params(&path, &layout, &params).unwrap();
    let err = load_params(&path, &layout, fix).unwrap_err().to_string();
    assert!(
        err.contains("tensor `f.0.weight` holds NaN at flat index 5"),
        "{err}"
    );
}

/// The net a state dict is the weights of, read off its shapes: ToyNet,
/// VanillaNet or NonlocalNet with their channels and base width; none for
/// a file that is no net's whole weights.
#[test]
fn the_net_a_state_dict_fits_is_named() {
    use ebmscope::io::fitting_net;
    use ebmscope::model::NetKind;
    for (spec, want) in [
        (NetSpec::toy(), (NetKind::Toy, 0, 0)),
        (NetSpec::vanilla(1, 8).unwrap(), (NetKind::Vanilla, 1, 8)),
        (NetSpec::nonlocal(3, 4).unwrap(), (NetKind::Nonlocal, 3, 4)),
    ] {
        let path = tmp(&format!("fits-{}.safetensors", spec.name));
        save_params(
            &path,
            &spec.param_layout().unwrap(),
            &init_params(&spec, 1).unwrap(),
        )
        .unwrap();
        assert_eq!(fitting_net(&path), Some(want), "{}", spec.name);
    }
    // A layer short: no net's.
    let spec = NetSpec::vanilla(1, 8).unwrap();
    let layout = spec.param_layout().unwrap();
    let params = init_params(&spec, 1).unwrap();
    let short = common::state_dict(&layout, &params, |n| (n != "f.0.weight").then(|| n.into()));
    let path = tmp("fits-none.safetensors");
    write_tensors(&path, &short).unwrap();
    assert_eq!(fitting_net(&path), None);
    // A run's checkpoint: its optimizer state and chains beside the weights.
    let mut checkpoint = common::state_dict(&layout, &params, |n| Some(n.into()));
    for name in ["optimizer.adam_m", "optimizer.adam_v", "chains"] {
        checkpoint.push(Tensor {
            name: name.into(),
            shape: vec![2],
            data: vec![0.0; 2],
        });
    }
    let path = tmp("fits-checkpoint.safetensors");
    write_tensors(&path, &checkpoint).unwrap();
    assert_eq!(fitting_net(&path), Some((NetKind::Vanilla, 1, 8)));
}

/// A failed write leaves the existing file as it was.
#[test]
fn failed_write_keeps_the_old_file() {
    let path = tmp("keep.safetensors");
    let t = Tensor {
        name: "x".into(),
        shape: vec![2],
        data: vec![1.0, 2.0],
    };
    write_tensors(&path, std::slice::from_ref(&t)).unwrap();
    let bad = Tensor {
        name: "y".into(),
        shape: vec![3],
        data: vec![1.0],
    };
    assert!(write_tensors(&path, &[bad]).is_err());
    assert_eq!(read_tensor(&path, "x").unwrap(), t);
}

/// A state dict saved with torch.save, in each form PyTorch writes (the
/// zip, pickle protocol 2 and 4; the older pickles; parameters; views with
/// strides and shared storages), reads as the same tensors saved with
/// safetensors from the same torch tensors: bit for bit. Half precision
/// reads as it rounds.
#[test]
fn pytorch_files_read_as_their_state_dicts() {
    use ebmscope::io::{fitting_net, holds_weights_alone, is_checkpoint};
    use ebmscope::model::NetKind;
    let layout = NetSpec::vanilla(1, 2).unwrap().param_layout().unwrap();
    let want = load_params(&common::torch_fixture("vanilla.safetensors"), &layout, fix).unwrap();
    for name in [
        "vanilla-zip.pth",
        "vanilla-zip-p4.pth",
        "vanilla-legacy.pth",
        "vanilla-legacy-p4.pth",
        "vanilla-parameters.pth",
        "vanilla-views.pth",
        "vanilla-views-legacy.pth",
        // (A 21-character name: the zip's folder is named after it, and
        // its first record is then as long as the zip64 records after it.)
        "vanilla-zip-stem21chr.pth",
        // A training checkpoint, `{"model": sd, "optimizer": …, "iteration": 3}`.
        "training-state.pth",
        // One with an argparse.Namespace, a NumPy number, a torch.device,
        // Size and dtype and a set beside its state dict: named, never
        // called, passed over.
        "with-objects.pth",
    ] {
        let path = common::torch_fixture(name);
        assert_eq!(load_params(&path, &layout, fix).unwrap(), want, "{name}");
        assert!(holds_weights_alone(&path) && !is_checkpoint(&path), "{name}");
        assert_eq!(fitting_net(&path), Some((NetKind::Vanilla, 1, 2)), "{name}");
    }
    let half = load_params(&common::torch_fixture("vanilla-half.pth"), &layout, fix).unwrap();
    assert_eq!(
        half,
        load_params(&common::torch_fixture("vanilla-half.safetensors"), &layout, fix).unwrap()
    );
    assert_ne!(half, want, "rounded to half precision");
    // Another net's: refused as a safetensors state dict of it is.
    let toy = NetSpec::toy().param_layout().unwrap();
    let err = load_params(&common::torch_fixture("vanilla-zip.pth"), &toy, fix)
        .unwrap_err()
        .to_string();
    assert!(err.contains("f.0.weight") && err.contains("wrong --net"), "{err}");
}

/// A torch.save file that is no state dict is refused, saying what it
/// holds and how to save the state dict; a cut one, that it is cut.
#[test]
fn pytorch_files_that_are_no_state_dict_are_refused_saying_so() {
    let layout = NetSpec::vanilla(1, 2).unwrap().param_layout().unwrap();
    let refusal = |path: &Path| load_params(path, &layout, fix).unwrap_err().to_string();
    let err = refusal(&common::torch_fixture("whole-model.pth"));
    assert!(
        err.contains("whole-model.pth")
            && err.contains("a pickled `bench_torch.VanillaNet`")
            && err.contains("torch.save(model.state_dict(), \"W.pth\")"),
        "{err}"
    );
    // A TorchScript file: the fix line names it, as Python quotes it.
    let scripted = common::torch_fixture("torchscript.pth");
    let err = refusal(&scripted);
    let full = common::in_python_quotes(&scripted);
    assert!(
        err.contains("is a TorchScript file (torch.jit.save's; it holds `__torch__.bench_torch.VanillaNet`)")
            && err.contains(&format!(
                "`torch.save(torch.jit.load(\"{full}\").state_dict(), \"W.pth\")`"
            )),
        "{err}"
    );
    // A checkpoint holding two state dicts, `{"model": …, "ema": …, "iteration": 3}`.
    let training = common::torch_fixture("two-state-dicts.pth");
    let err = refusal(&training);
    let (full, stem) = (common::in_python_quotes(&training), training.with_extension(""));
    assert!(
        err.contains("a dict of `model`, `ema`, `iteration`")
            && err.contains("the dicts under `model`, `ema` hold names to tensors")
            && err.contains(&format!(
                "`torch.save(torch.load(\"{full}\", map_location=\"cpu\")[\"model\"], \"{}-model.pth\")`",
                common::in_python_quotes(&stem)
            )),
        "{err}"
    );
    // Lightning's: its state dict under "state_dict", its names under
    // `net.`; the line given reaches it.
    let lightning = common::torch_fixture("lightning.pth");
    let err = refusal(&lightning);
    assert!(
        err.contains(&format!(
            "`torch.save({{k.removeprefix(\"net.\"): v for k, v in torch.load(\"{}\", \
             map_location=\"cpu\")[\"state_dict\"].items()}}, \"W.pth\")`",
            common::in_python_quotes(&lightning)
        )),
        "{err}"
    );
    let err = refusal(&common::torch_fixture("numpy-arrays.pth"));
    assert!(
        err.contains("is a NumPy array or number (`numpy.") && err.contains("torch.from_numpy(v)"),
        "{err}"
    );
    // Integers beside the weights: named, with a line that leaves them out.
    let integers = common::torch_fixture("integer-tensor.pth");
    let err = refusal(&integers);
    assert!(
        err.contains(
            "integers or bools beside the weights, which this network does not have: `steps` (int64)"
        ) && err.contains(&format!(
            "`torch.save({{k: v for k, v in torch.load(\"{}\", map_location=\"cpu\").items() if \
                 v.is_floating_point()}}, \"W.pth\")`",
            common::in_python_quotes(&integers)
        )),
        "{err}"
    );
    // Averaging wrappers, each refused once for its prefixes, the integers
    // and bools beside them left out by the line given.
    let averaged = common::torch_fixture("averaged-model.pth");
    let err = refusal(&averaged);
    assert!(
        err.contains("start with `module.`")
            && err.contains(&format!(
                "`torch.save({{k.removeprefix(\"module.\"): v for k, v in torch.load(\"{}\", \
                 map_location=\"cpu\").items() if k.startswith(\"module.\")}}, \"W.pth\")`",
                common::in_python_quotes(&averaged)
            ))
            && err.ends_with("(beside them `n_averaged`, which it leaves out)"),
        "{err}"
    );
    let err = refusal(&common::torch_fixture("ema-pytorch.pth"));
    assert!(
        err.contains("2 models' state dicts, under `ema_model.`, `online_model.`")
            && err.contains("if k.startswith(\"ema_model.\")")
            && err.ends_with("(beside them `initted`, `step`, which it leaves out)"),
        "{err}"
    );
    // Cut: in the zip's directory, in a storage of the older form.
    for (name, keep) in [("vanilla-zip.pth", 0.5), ("vanilla-legacy.pth", 0.9)] {
        let bytes = std::fs::read(common::torch_fixture(name)).unwrap();
        let cut = tmp(&format!("cut-{name}"));
        std::fs::write(&cut, &bytes[..(bytes.len() as f64 * keep) as usize]).unwrap();
        let err = refusal(&cut);
        assert!(
            err.contains(&format!("cut-{name}")) && err.contains("whole?"),
            "{err}"
        );
    }
}
