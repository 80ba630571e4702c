//! Image loaders on small files the tests write, their refusals, and the real
//! Fashion-MNIST that Debian's `dataset-fashion-mnist` package ships (CI
//! installs it).
#![allow(clippy::disallowed_methods)] // tests may rename and remove with std's calls (clippy.toml)

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};

use ebmscope::data::images::{DEBIAN_FASHION_MNIST, load_cifar10, load_cifar100, load_folder, load_idx};
use ebmscope::data::pil_resize::resize_bilinear;

/// A grey image resized as the loaders resize (PIL's bilinear, on RGB).
fn resize_grey(img: &image::GrayImage, width: u32, height: u32) -> image::GrayImage {
    let rgb = image::DynamicImage::ImageLuma8(img.clone()).to_rgb8();
    image::DynamicImage::ImageRgb8(resize_bilinear(&rgb, width, height)).to_luma8()
}

fn dir(name: &str) -> PathBuf {
    common::scratch_dir(&format!("images-{name}"))
}

fn idx_bytes(n: u32, rows: u32, cols: u32, pixel: impl Fn(u32, u32, u32) -> u8) -> Vec<u8> {
    let mut b = vec![0, 0, 8, 3];
    for d in [n, rows, cols] {
        b.extend_from_slice(&d.to_be_bytes());
    }
    for i in 0..n {
        for y in 0..rows {
            for x in 0..cols {
                b.push(pixel(i, y, x));
            }
        }
    }
    b
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// Same-size images pass through exactly: 0 → −1, 255 → 1, (x, y) layout kept.
#[test]
fn idx_raw_and_gzip_round_trip() {
    let d = dir("idx");
    let bytes = idx_bytes(3, 4, 4, |i, y, x| ((i * 16 + y * 4 + x) * 5) as u8);
    std::fs::write(d.join("raw-idx3-ubyte"), &bytes).unwrap();
    std::fs::write(d.join("gz-idx3-ubyte.gz"), gzip(&bytes)).unwrap();
    let raw = load_idx(&d.join("raw-idx3-ubyte"), 1, 4, None).unwrap();
    assert_eq!((raw.n, raw.channels, raw.size), (3, 1, 4));
    assert_eq!(raw, load_idx(&d.join("gz-idx3-ubyte.gz"), 1, 4, None).unwrap());
    let want = |i: usize, y: usize, x: usize| ((i * 16 + y * 4 + x) * 5) as f32 / 127.5 - 1.0;
    assert_eq!(raw.values()[16 + 2 * 4 + 3], want(1, 2, 3));
    // Gray to 3 channels replicates; resizing to 8 keeps [−1, 1] and the mean roughly.
    let rgb = load_idx(&d.join("raw-idx3-ubyte"), 3, 8, None).unwrap();
    assert_eq!(rgb.values().len(), 3 * 3 * 64);
    assert_eq!(rgb.values()[..64], rgb.values()[64..128]);
    assert!(rgb.values().iter().all(|v| (-1.0..=1.0).contains(v)));
}

#[test]
fn idx_refusals_name_the_file_and_the_problem() {
    let d = dir("idx-bad");
    let good = idx_bytes(2, 3, 3, |_, _, _| 7);
    // A header alone (whatever its sizes), then `pixels` bytes.
    let header = |dims: [u32; 3], pixels: usize| {
        let mut b = vec![0, 0, 8, 3];
        b.extend(dims.iter().flat_map(|d| d.to_be_bytes()));
        b.extend(vec![0; pixels]);
        b
    };
    let cases: [(&str, Vec<u8>, &str); 8] = [
        ("magic", vec![1, 2, 3, 4, 0, 0, 0, 0], "magic"),
        // One byte short of its second image: the first is whole, and the
        // fix says how to train on it.
        (
            "truncated",
            good[..good.len() - 1].to_vec(),
            "truncated: 2 images of 3×3 pixels need 34 bytes (16 of header), and it has 33: use a whole \
             copy, or start a new run on the 1 whole image it holds with --set data.limit=1",
        ),
        ("cut-in-header", good[..10].to_vec(), "IDX header is truncated"),
        ("zero-bytes", Vec::new(), "is empty (0 bytes)"),
        ("labels", vec![0, 0, 8, 1, 0, 0, 0, 2, 3, 4], "labels"),
        ("gz", gzip(&good)[..20].to_vec(), "gzip"),
        // Sizes that multiply past 64 bits.
        ("overflow", header([1 << 22, 1 << 21, 1 << 21], 64), "truncated"),
        // 4 billion images of no pixels: refused at once, not looped over.
        ("empty", header([u32::MAX, 0, 0], 0), "needs at least one"),
    ];
    for (name, bytes, says) in cases {
        let p = d.join(name);
        std::fs::write(&p, bytes).unwrap();
        let err = load_idx(&p, 1, 3, None).unwrap_err().to_string();
        assert!(err.contains(name) && err.contains(says), "{name}: {err}");
    }
    // Its header is read first, and then only the bytes of its images: a
    // device with no end is refused at once, not read into memory; a file
    // longer than its header says still gives its images.
    let err = load_idx(std::path::Path::new("/dev/zero"), 1, 3, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("not an IDX file"), "{err}");
    let mut longer = good.clone();
    longer.extend(vec![9u8; 1 << 20]);
    std::fs::write(d.join("longer"), &longer).unwrap();
    assert_eq!(load_idx(&d.join("longer"), 1, 3, None).unwrap().n, 2);
    // What the file is instead, from its first bytes (ungzipped) and name.
    // (A tar's first header: the first entry's name, then "ustar" at 257.)
    let mut tar = vec![0u8; 512];
    tar[..21].copy_from_slice(b"cifar-10-batches-bin/");
    tar[257..262].copy_from_slice(b"ustar");
    let cases: [(&str, Vec<u8>, &str); 6] = [
        ("archive.zip", b"PK\x03\x04 and the rest".to_vec(), "extract it"),
        ("archive.tgz", gzip(&tar), "extract it"),
        (
            "data_batch_1",
            vec![0x80, 2, b'}', b'q'],
            "CIFAR-10's python version holds: pass --set data.kind=cifar10",
        ),
        // (Records: a label byte, then 3 072 pixels.)
        ("data_batch_1.bin.gz", gzip(&[3u8; 3073]), "compressed: unpack it"),
        (
            "data_batch_1.bin.bak",
            vec![3u8; 3073],
            "name it data_batch_N.bin",
        ),
        ("picture.PNG", vec![0x89, b'P', b'N', b'G'], "one image"),
    ];
    for (name, bytes, says) in cases {
        let p = d.join(name);
        std::fs::write(&p, bytes).unwrap();
        let err = load_idx(&p, 1, 3, None).unwrap_err().to_string();
        assert!(err.contains(name) && err.contains(says), "{name}: {err}");
    }
    // MNIST's files under the dotted names some mirrors use.
    let mirror = dir("idx-mirror");
    std::fs::write(mirror.join("train-images.idx3-ubyte"), &good).unwrap();
    let set = ebmscope::data::Dataset::load(&ebmscope::config::DataConfig {
        kind: ebmscope::config::DataKind::Idx,
        path: mirror.to_string_lossy().into_owned(),
        noise: 0.0,
        groups: 8,
        sd: 0.15,
        radius: 1.0,
        channels: 1,
        size: 3,
        limit: 0,
    });
    assert!(set.is_ok(), "{:?}", set.err().map(|e| e.to_string()));
    // A folder with the test set's file alone names it.
    let test_only = dir("idx-test-only");
    std::fs::write(test_only.join("t10k-images-idx3-ubyte.gz"), gzip(&good)).unwrap();
    let refusal = || {
        ebmscope::data::Dataset::load(&ebmscope::config::DataConfig {
            path: test_only.to_string_lossy().into_owned(),
            ..ebmscope::config::Config::preset("fashion-mnist-quick")
                .unwrap()
                .data
        })
        .err()
        .unwrap()
        .to_string()
    };
    let err = refusal();
    assert!(
        err.contains("holds no train-images-idx3-ubyte[.gz]; it holds t10k-images-idx3-ubyte.gz: to train on it, pass --data"),
        "{err}"
    );
    // Beside a file named as one that is not (first by name), the one
    // that begins as IDX images is named.
    std::fs::write(test_only.join("a-images-idx3-ubyte"), b"not idx").unwrap();
    let err = refusal();
    assert!(err.contains("it holds t10k-images-idx3-ubyte.gz"), "{err}");
    assert!(
        load_idx(&d.join("absent"), 1, 3, None)
            .unwrap_err()
            .to_string()
            .contains("absent")
    );
}

fn cifar_record(label: u8, rgb: [u8; 3]) -> Vec<u8> {
    let mut r = vec![label];
    for c in rgb {
        r.extend(std::iter::repeat_n(c, 1024));
    }
    r
}

#[test]
fn cifar10_batches_load_in_order_and_bad_ones_are_refused() {
    let d = dir("cifar");
    std::fs::write(
        d.join("data_batch_1.bin"),
        [cifar_record(3, [255, 0, 0]), cifar_record(9, [0, 255, 0])].concat(),
    )
    .unwrap();
    std::fs::write(d.join("data_batch_2.bin"), cifar_record(0, [0, 0, 255])).unwrap();
    std::fs::write(d.join("test_batch.bin"), cifar_record(1, [9, 9, 9])).unwrap();
    let set = load_cifar10(&d, 3, 32, None).unwrap();
    assert_eq!(set.n, 3, "training batches only");
    let px = |i: usize, c: usize| set.values()[(i * 3 + c) * 1024];
    assert_eq!((px(0, 0), px(0, 1), px(1, 1), px(2, 2)), (1.0, -1.0, 1.0, 1.0));
    let gray = load_cifar10(&d.join("data_batch_2.bin"), 1, 16, None).unwrap();
    assert_eq!((gray.n, gray.values().len()), (1, 256));

    let bad = d.join("short.bin");
    std::fs::write(&bad, &cifar_record(1, [0; 3])[..3000]).unwrap();
    let err = load_cifar10(&bad, 3, 32, None).unwrap_err().to_string();
    assert!(err.contains("short.bin") && err.contains("truncated"), "{err}");
    // CIFAR-100's binary version (a coarse and a fine label byte) says so.
    let cifar100 = d.join("train100.bin");
    std::fs::write(&cifar100, vec![1u8; 2 * 3074]).unwrap();
    let err = load_cifar10(&cifar100, 3, 32, None).unwrap_err().to_string();
    assert!(
        err.contains("train100.bin")
            && err.contains("has 3074-byte records, as CIFAR-100's binary version (2 label bytes)")
            && err.contains("data.kind=cifar100"),
        "{err}"
    );
    // … which --data tells by the records' size, and reads.
    let kind = ebmscope::data::infer_image_kind(&cifar100);
    assert_eq!(kind, ebmscope::config::DataKind::Cifar100);
    assert_eq!(load_cifar100(&cifar100, 3, 32, None).unwrap().n, 2);
    // A fine label past 99 is no CIFAR-100 record.
    std::fs::write(&cifar100, [vec![1u8, 100], vec![0; 3072]].concat()).unwrap();
    let err = load_cifar100(&cifar100, 3, 32, None).unwrap_err().to_string();
    let says = "record 1: labels 1 (coarse) and 100 (fine) are not CIFAR-100's classes (0–19, 0–99)";
    assert!(err.contains(says), "{err}");
    // An IDX file named .bin (chosen as CIFAR-10 by its name) says what it is.
    let idx = d.join("images.bin");
    std::fs::write(&idx, idx_bytes(1, 2, 2, |_, _, _| 0)).unwrap();
    let err = load_cifar10(&idx, 3, 32, None).unwrap_err().to_string();
    assert!(err.contains("data.kind=idx"), "{err}");
    // So does a gzipped one (MNIST's files come so).
    let gz = d.join("images-gz.bin");
    std::fs::write(&gz, gzip(&idx_bytes(1, 2, 2, |_, _, _| 0))).unwrap();
    let err = load_cifar10(&gz, 3, 32, None).unwrap_err().to_string();
    assert!(
        err.contains("gzip-compressed") && err.contains("data.kind=idx"),
        "{err}"
    );
    // … and --data takes it for what it is.
    assert_eq!(
        ebmscope::data::infer_image_kind(&idx),
        ebmscope::config::DataKind::Idx
    );
    assert_eq!(
        ebmscope::data::infer_image_kind(&bad),
        ebmscope::config::DataKind::Cifar10
    );
    // data.path set to CIFAR-10's batches with an IDX preset's kind: the
    // refusal says which kind they look like (--data would have told).
    let err = refused_as_idx(&d);
    assert!(
        err.contains("holds no train-images-idx3-ubyte")
            && err
                .contains("(data.kind is \"idx\", and this looks like \"cifar10\" data: set data.kind to it"),
        "{err}"
    );
    let empty = dir("cifar-empty");
    assert!(
        load_cifar10(&empty, 3, 32, None)
            .unwrap_err()
            .to_string()
            .contains("data_batch_")
    );
}

/// CIFAR-10's python version (as torchvision downloads it), in the form
/// Python 2 wrote its files and as Python 3 with NumPy 1 and 2 pickles the
/// same batches at protocols 2 to 5 (tests/data/cifar-python, from
/// scripts/cifar_python_fixtures.py), reads the same images as the binary
/// version; what is not CIFAR-10's is refused, saying what it is.
#[test]
fn cifar10_python_batches_read_as_the_binary_ones() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/cifar-python");
    let binary = load_cifar10(&fixtures.join("bin"), 3, 32, None).unwrap();
    assert_eq!(binary.n, 4);
    let versions = [
        "py2",
        "np1-proto2",
        "np1-proto3",
        "np1-proto4",
        "np1-proto5",
        "np2-proto2",
        "np2-proto3",
        "np2-proto4",
        "np2-proto5",
    ];
    for version in versions {
        let folder = fixtures.join(version);
        let set = load_cifar10(&folder, 3, 32, None).unwrap_or_else(|e| panic!("{version}: {e}"));
        assert_eq!(set.n, 4, "{version}");
        assert!(set.values() == binary.values(), "{version}: other pixels");
        // --data picks the version from the folder, and from a batch alone.
        let kind = ebmscope::data::infer_image_kind;
        assert_eq!(kind(&folder), ebmscope::config::DataKind::Cifar10, "{version}");
        let batch = folder.join("data_batch_2");
        assert_eq!(kind(&batch), ebmscope::config::DataKind::Cifar10, "{version}");
        let one = load_cifar10(&batch, 1, 16, None).unwrap();
        assert_eq!((one.n, one.values().len()), (1, 256), "{version}");
    }
    // data.limit stops within a batch.
    let limited = load_cifar10(&fixtures.join("py2"), 3, 32, Some(2)).unwrap();
    assert_eq!(limited.n, 2);
    assert!(limited.values() == binary.values()[..2 * 3 * 1024]);

    let err = |path: &Path| load_cifar10(path, 3, 32, None).unwrap_err().to_string();
    let e = err(&fixtures.join("floats/data_batch_1"));
    assert!(
        e.contains("holds a `data` of f4 elements and shape [1, 3072]") && e.contains("u1"),
        "{e}"
    );
    // A batch cut short (a download stopped half-way) says so.
    let d = dir("cifar-python");
    let whole = std::fs::read(fixtures.join("py2/data_batch_1")).unwrap();
    let cut = d.join("data_batch_1");
    std::fs::write(&cut, &whole[..whole.len() / 2]).unwrap();
    let e = err(&cut);
    assert!(
        e.contains("is not a whole CIFAR-10 python batch (its pickle ends early)"),
        "{e}"
    );
    // The archive's list of class names, and a batch fetched empty.
    let meta = d.join("batches.meta");
    let names = [&b"\x80\x02}(X\x0b\x00\x00\x00label_names]"[..], b"u."].concat();
    std::fs::write(&meta, names).unwrap();
    let e = err(&meta);
    assert!(
        e.contains("is a list of class names (CIFAR-10's batches.meta"),
        "{e}"
    );
    let empty = d.join("empty").join("data_batch_1");
    std::fs::create_dir_all(empty.parent().unwrap()).unwrap();
    std::fs::write(&empty, b"").unwrap();
    let e = err(&empty);
    assert!(e.contains("is empty (0 bytes)"), "{e}");
    // PyTorch's files are pickles too (the older form), or zips: --data
    // given one says what it is.
    for name in [
        "vanilla-legacy.pth",
        "vanilla-legacy-p4.pth",
        "vanilla-zip.pth",
        "vanilla-zip-p4.pth",
    ] {
        let weights = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/torch")
            .join(name);
        let kind = ebmscope::data::infer_image_kind(&weights);
        assert_eq!(kind, ebmscope::config::DataKind::Idx, "{name}");
        let e = load_idx(&weights, 3, 32, None).unwrap_err().to_string();
        assert!(
            e.contains("is a PyTorch file") && e.contains("--init-weights"),
            "{name}: {e}"
        );
        // Named .bin (as Hugging Face names its weights), it goes to
        // CIFAR-10, which says the same.
        let bin = d.join("pytorch_model.bin");
        std::fs::copy(&weights, &bin).unwrap();
        let e = err(&bin);
        assert!(
            e.contains("is a PyTorch file") && e.contains("--init-weights"),
            "{name}: {e}"
        );
    }
    // Both versions in one folder would be read twice over: refused.
    let both = dir("cifar-both");
    for (from, name) in [("bin", "data_batch_1.bin"), ("py2", "data_batch_1")] {
        std::fs::copy(fixtures.join(from).join(name), both.join(name)).unwrap();
    }
    let e = err(&both);
    assert!(e.contains("in both versions"), "{e}");
    // A folder holding the unpacked archive's folder names it.
    let above = dir("cifar-above");
    std::fs::create_dir_all(above.join("cifar-10-batches-py")).unwrap();
    let e = load_folder(&above, 3, 32, None).unwrap_err().to_string();
    assert!(
        e.contains("for CIFAR-10 pass --data") && e.contains("cifar-10-batches-py"),
        "{e}"
    );
}

/// CIFAR-100's training file, in both versions (holding CIFAR-10's batch
/// 1's images, from scripts/cifar_python_fixtures.py), reads as those
/// images, as a file and as its folder, which --data tells apart from
/// CIFAR-10's; each CIFAR's files read as the other's say which kind to pass.
#[test]
fn cifar100_reads_in_both_versions() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/cifar-python");
    let err = |path: &Path| load_cifar10(path, 3, 32, None).unwrap_err().to_string();
    // CIFAR-100's training file, in both versions, holds batch 1's images:
    // read as CIFAR-100 (--data tells it, as a file and as its folder),
    // and said to be CIFAR-100's where CIFAR-10 is asked for.
    let first = load_cifar10(&fixtures.join("bin/data_batch_1.bin"), 3, 32, None).unwrap();
    for (folder, file) in [("cifar100-py", "train"), ("cifar100-bin", "train.bin")] {
        for path in [fixtures.join(folder), fixtures.join(folder).join(file)] {
            let kind = ebmscope::data::infer_image_kind(&path);
            assert_eq!(kind, ebmscope::config::DataKind::Cifar100, "{}", path.display());
            let set = load_cifar100(&path, 3, 32, None).unwrap_or_else(|e| panic!("{e}"));
            assert!(set.n == 3 && set.values() == first.values(), "{}", path.display());
        }
        let e = err(&fixtures.join(folder).join(file));
        assert!(
            e.contains("CIFAR-100's") && e.contains("pass --set data.kind=cifar100"),
            "{e}"
        );
    }
    // What is named as CIFAR-100's is not taken for it where its contents
    // say otherwise: CIFAR-10's records in a train.bin, a folder of images
    // beside a file named train (not CIFAR-100's pickle with its meta).
    let named = dir("cifar-named");
    let ten_as_train = named.join("train.bin");
    std::fs::copy(fixtures.join("bin/data_batch_1.bin"), &ten_as_train).unwrap();
    let kind = ebmscope::data::infer_image_kind(&ten_as_train);
    assert_eq!(kind, ebmscope::config::DataKind::Cifar10);
    let pictures = dir("cifar-named-pictures");
    image::RgbImage::new(4, 4).save(pictures.join("a.png")).unwrap();
    std::fs::write(pictures.join("train"), b"notes").unwrap();
    let kind = ebmscope::data::infer_image_kind(&pictures);
    assert_eq!(kind, ebmscope::config::DataKind::Folder);
    // … and the other way round; CIFAR-100's class names are no images.
    let e = load_cifar100(&fixtures.join("py2/data_batch_1"), 3, 32, None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("is CIFAR-10's python version: pass --set data.kind=cifar10"),
        "{e}"
    );
    let e = load_cifar100(&fixtures.join("cifar100-py/meta"), 3, 32, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("is a list of class names"), "{e}");
}

/// The refusal of `path` set as data.path under an IDX preset's kind.
fn refused_as_idx(path: &Path) -> String {
    let sets = [format!("data.path={}", path.display())];
    let config = ebmscope::config::Config::resolve(Some("fashion-mnist-quick"), None, &sets).unwrap();
    let err = ebmscope::data::Dataset::load(&config.data).err();
    err.expect("not loaded as IDX").to_string()
}

#[test]
fn image_folders_are_read_recursively_resized_and_cropped() {
    let d = dir("folder");
    std::fs::create_dir_all(d.join("a/b")).unwrap();
    // A 40×20 image: left half black, right half white; centre crop after
    // resizing to height 10 keeps both halves.
    let img = image::RgbImage::from_fn(40, 20, |x, _| {
        if x < 20 {
            image::Rgb([0, 0, 0])
        } else {
            image::Rgb([255, 255, 255])
        }
    });
    img.save(d.join("a/b/wide.png")).unwrap();
    image::RgbImage::from_pixel(12, 12, image::Rgb([200, 100, 50]))
        .save(d.join("a/flat.jpg"))
        .unwrap();
    std::fs::write(d.join("notes.txt"), "not an image").unwrap();
    let set = load_folder(&d, 3, 10, None).unwrap();
    assert_eq!((set.n, set.size), (2, 10));
    // Set as data.path with an IDX preset's kind, the folder (images in
    // its subfolders only, as class folders hold them) is told for one.
    let err = refused_as_idx(&d);
    assert!(
        err.contains("(data.kind is \"idx\", and this looks like \"folder\" data: set data.kind to it"),
        "{err}"
    );
    // Sorted paths: a/b/wide.png comes before a/flat.jpg.
    let wide = &set.values()[..300];
    assert!(
        wide[0] < -0.9 && wide[9] > 0.9,
        "left dark, right bright: {} {}",
        wide[0],
        wide[9]
    );
    let flat = &set.values()[300..];
    assert!(
        (flat[0] - (200.0 / 127.5 - 1.0)).abs() < 0.05,
        "JPEG red ≈ 200: {}",
        flat[0]
    );

    // The longer side is rounded down, as torchvision's Resize: 23 × 10 to
    // a shorter side of 4 is 9 × 4 (9.2), then its centre 4 × 4.
    let ramp = dir("folder-ramp");
    let img = image::GrayImage::from_fn(23, 10, |x, _| image::Luma([(x * 11) as u8]));
    img.save(ramp.join("ramp.png")).unwrap();
    let set = load_folder(&ramp, 1, 4, None).unwrap();
    let centre = |width: u32| -> Vec<f32> {
        let resized = resize_grey(&img, width, 4);
        let x0 = (width - 4) / 2;
        let crop = image::imageops::crop_imm(&resized, x0, 0, 4, 4).to_image();
        crop.pixels().map(|p| f32::from(p.0[0]) / 127.5 - 1.0).collect()
    };
    assert_eq!(set.values(), centre(9));
    assert_ne!(set.values(), centre(10), "rounding up would differ");

    // The crop's place is rounded as torchvision's CenterCrop,
    // int(round(excess / 2)) with halves to even: 3 columns over (7 × 4 at
    // 4, not resized) start the square at column 2; 5 over at 2.
    for (width, first) in [(7, 2), (9, 2)] {
        let cropped = dir(&format!("folder-crop-{width}"));
        let img = image::GrayImage::from_fn(width, 4, |x, _| image::Luma([(x * 20) as u8]));
        img.save(cropped.join("ramp.png")).unwrap();
        let set = load_folder(&cropped, 1, 4, None).unwrap();
        let left = ((first * 20) as f32) / 127.5 - 1.0;
        assert_eq!(
            set.values()[0],
            left,
            "{width} wide: the square starts at column {first}"
        );
    }

    // Colour to grey as PIL's convert("L") (torchvision's Grayscale):
    // pure red, green and blue are 76, 150 and 29 (Rec. 709 would give 54,
    // 182 and 18).
    let grey_dir = dir("folder-grey");
    let colours = [[255, 0, 0], [0, 255, 0], [0, 0, 255]];
    image::RgbImage::from_fn(3, 3, |_, y| image::Rgb(colours[y as usize]))
        .save(grey_dir.join("rgb.png"))
        .unwrap();
    let set = load_folder(&grey_dir, 1, 3, None).unwrap();
    let grey: Vec<f32> = [76.0, 150.0, 29.0]
        .iter()
        .map(|v: &f32| v / 127.5 - 1.0)
        .collect();
    for (row, want) in grey.iter().enumerate() {
        assert_eq!(set.values()[3 * row], *want, "row {row}: {:?}", colours[row]);
    }

    // A PNG named .jpg is read by its content.
    let mut png = std::io::Cursor::new(Vec::new());
    image::RgbImage::from_pixel(10, 10, image::Rgb([0, 255, 0]))
        .write_to(&mut png, image::ImageOutputFormat::Png)
        .unwrap();
    std::fs::write(d.join("misnamed.jpg"), png.into_inner()).unwrap();
    let set = load_folder(&d, 3, 10, None).unwrap();
    assert_eq!(set.n, 3);
    let misnamed = &set.values()[600..];
    assert!(
        misnamed[0] < -0.99 && misnamed[100] > 0.99,
        "green: red {}, green {}",
        misnamed[0],
        misnamed[100]
    );

    // macOS's metadata beside an archive's files is passed over.
    std::fs::write(d.join("._misnamed.jpg"), b"Mac OS X metadata").unwrap();
    std::fs::create_dir_all(d.join("__MACOSX/a")).unwrap();
    std::fs::write(d.join("__MACOSX/a/._flat.jpg"), b"Mac OS X metadata").unwrap();
    std::fs::write(d.join("__MACOSX/other.png"), b"Mac OS X metadata").unwrap();
    assert_eq!(load_folder(&d, 3, 10, None).unwrap().n, 3);

    // Other image formats are passed over, and said to be; a folder of
    // them alone is refused saying what it holds.
    let others = d.join("others");
    std::fs::create_dir_all(&others).unwrap();
    for name in ["a.webp", "b.BMP", "c.webp"] {
        std::fs::write(others.join(name), b"not read").unwrap();
    }
    let err = load_folder(&others, 3, 10, None).unwrap_err().to_string();
    assert!(
        err.contains("it holds 3 files (.bmp, .webp), formats ebmscope does not read"),
        "{err}"
    );
    let set = load_folder(&d, 3, 10, None).unwrap();
    assert_eq!((set.n, set.passed_over.len()), (3, 3));
    let said = ebmscope::data::Dataset::Images(set).describe();
    assert!(
        said.ends_with(
            "; 3 files (.bmp, .webp) of formats ebmscope does not read passed over (convert them to PNG)"
        ),
        "{said}"
    );
    std::fs::remove_dir_all(&others).unwrap();

    // ebmscope's own outputs inside the folder (a run trained with --out
    // there, a long run's folder) are passed over and said to be; either
    // folder given itself is refused. (Their pictures are real PNGs.)
    let run = d.join("run");
    let long_run = d.join("long");
    for picture in [
        run.join("pictures/samples_0000001.png"),
        long_run.join("samples_00000000.png"),
    ] {
        std::fs::create_dir_all(picture.parent().unwrap()).unwrap();
        image::RgbImage::from_pixel(8, 8, image::Rgb([9, 9, 9]))
            .save(picture)
            .unwrap();
    }
    std::fs::write(
        run.join("metrics.csv"),
        "iteration,d_st,r_t,mean_u_data,mean_u_samples,lr,wall_time,phase\n",
    )
    .unwrap();
    std::fs::write(
        long_run.join(ebmscope::train::longrun::LONG_RUN_PARTIAL),
        format!("{}\n", ebmscope::train::longrun::LONG_RUN_HEADER),
    )
    .unwrap();
    let set = load_folder(&d, 3, 10, None).unwrap();
    assert_eq!(
        (set.n, &set.outputs_passed_over),
        (3, &vec![long_run.clone(), run.clone()])
    );
    let said = ebmscope::data::Dataset::Images(set).describe();
    assert!(
        said.ends_with(&format!(
            "; 2 folders of ebmscope's outputs passed over ({}, …)",
            long_run.display()
        )),
        "{said}"
    );
    for (folder, what) in [(&run, "training run"), (&long_run, "long run")] {
        let err = load_folder(folder, 3, 10, None).unwrap_err().to_string();
        assert!(
            err.contains(&format!(
                "holds a {what} of ebmscope's: its pictures are the model's, not data"
            )),
            "{err}"
        );
    }
    // So is a run's own pictures/ folder.
    let err = load_folder(&run.join("pictures"), 3, 10, None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!(
            "is inside a training run of ebmscope's ({})",
            run.display()
        )),
        "{err}"
    );
    // A folder of runs alone holds no images, and says which it passed over.
    let runs = dir("folder-runs-only");
    let inner = runs.join("run");
    std::fs::create_dir_all(&inner).unwrap();
    std::fs::copy(run.join("metrics.csv"), inner.join("metrics.csv")).unwrap();
    image::RgbImage::from_pixel(8, 8, image::Rgb([9, 9, 9]))
        .save(inner.join("samples_0000001.png"))
        .unwrap();
    let err = load_folder(&runs, 3, 10, None).unwrap_err().to_string();
    assert!(
        err.contains(&format!(
            "it holds ebmscope's outputs (1 folder: {}), passed over",
            inner.display()
        )),
        "{err}"
    );
    std::fs::remove_dir_all(&runs).unwrap();
    std::fs::remove_dir_all(&run).unwrap();
    std::fs::remove_dir_all(&long_run).unwrap();

    std::fs::write(d.join("broken.png"), b"not really a png").unwrap();
    let err = load_folder(&d, 3, 10, None).unwrap_err().to_string();
    assert!(err.contains("broken.png") && err.contains("remove it"), "{err}");
    std::fs::remove_file(d.join("broken.png")).unwrap();
    // A whole image too large for the decoder is named by its size, not
    // called broken: a 1×1 PNG whose header says 30 000 × 30 000 (its
    // IHDR's width and height, then its CRC, rewritten).
    let mut png = Vec::new();
    image::RgbImage::new(1, 1)
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let (ihdr, data) = (12, 16);
    png[data..data + 4].copy_from_slice(&30_000u32.to_be_bytes());
    png[data + 4..data + 8].copy_from_slice(&30_000u32.to_be_bytes());
    let crc = crc32fast::hash(&png[ihdr..data + 13]);
    png[data + 13..data + 17].copy_from_slice(&crc.to_be_bytes());
    std::fs::write(d.join("huge.png"), &png).unwrap();
    let err = load_folder(&d, 3, 10, None).unwrap_err().to_string();
    assert!(
        err.contains("huge.png: is 30000×30000 pixels") && err.contains("scale it down"),
        "{err}"
    );
    std::fs::remove_file(d.join("huge.png")).unwrap();
    // An empty folder (a CIFAR preset's --data pointed at the wrong one,
    // say) is told what --data takes.
    let empty = dir("folder-empty");
    let err = load_folder(&empty, 1, 8, None).unwrap_err().to_string();
    assert!(
        err.contains("no PNG or JPEG")
            && err.contains("is it the right folder?")
            && err.contains("data_batch_*.bin"),
        "{err}"
    );
    // A folder holding CIFAR-10's unpacked archive, or only its test batch,
    // or CIFAR-100's binary version, says so.
    let cifar100 = dir("folder-cifar-100");
    std::fs::write(cifar100.join("train.bin"), [0u8; 3074]).unwrap();
    let err = load_folder(&cifar100, 1, 8, None).unwrap_err().to_string();
    let pass = format!(
        "it holds CIFAR-100's training file: pass --data {}",
        cifar100.display()
    );
    assert!(err.contains(&pass), "{err}");
    std::fs::create_dir_all(empty.join("cifar-10-batches-bin")).unwrap();
    let err = load_folder(&empty, 1, 8, None).unwrap_err().to_string();
    assert!(
        err.contains("for CIFAR-10 pass --data") && err.contains("cifar-10-batches-bin"),
        "{err}"
    );
    let test_only = dir("folder-cifar-test");
    std::fs::write(test_only.join("test_batch.bin"), [0u8; 3073]).unwrap();
    let err = load_folder(&test_only, 1, 8, None).unwrap_err().to_string();
    assert!(err.contains("data_batch_*.bin"), "{err}");
    // A folder with another data set's files deeper in (torchvision's
    // MNIST/raw/, CIFAR-10's batches, its python version) names them.
    let nested = dir("folder-nested-sets");
    std::fs::create_dir_all(nested.join("MNIST/raw")).unwrap();
    let idx = nested.join("MNIST").join("raw").join("train-images-idx3-ubyte");
    std::fs::write(&idx, idx_bytes(1, 2, 2, |_, _, _| 0)).unwrap();
    // (The test images beside them sort first: the training ones are named.)
    let t10k = nested.join("MNIST/raw/t10k-images-idx3-ubyte");
    std::fs::write(t10k, idx_bytes(1, 2, 2, |_, _, _| 0)).unwrap();
    let err = load_folder(&nested, 1, 8, None).unwrap_err().to_string();
    assert!(err.contains(&format!("pass --data {}", idx.display())), "{err}");
    let batches = dir("folder-nested-bin");
    std::fs::create_dir_all(batches.join("inner")).unwrap();
    std::fs::write(batches.join("inner/data_batch_1.bin"), [0u8; 3073]).unwrap();
    let err = load_folder(&batches, 1, 8, None).unwrap_err().to_string();
    let inner = batches.join("inner");
    assert!(err.contains(&format!("pass --data {}", inner.display())), "{err}");
    let pickled = dir("folder-cifar-py");
    std::fs::write(pickled.join("data_batch_1"), [0x80u8, 2]).unwrap();
    let err = load_folder(&pickled, 1, 8, None).unwrap_err().to_string();
    let pass = format!("it holds CIFAR-10 batches: pass --data {}", pickled.display());
    assert!(err.contains(&pass), "{err}");
    // CIFAR-100's python version (pickles train, test, meta in
    // cifar-100-python/) is CIFAR-100's, as a folder and as its file.
    let cifar100 = dir("folder-cifar100-py").join("cifar-100-python");
    std::fs::create_dir_all(&cifar100).unwrap();
    for name in ["train", "test", "meta"] {
        std::fs::write(cifar100.join(name), [0x80u8, 3]).unwrap();
    }
    let err = load_folder(&cifar100, 1, 8, None).unwrap_err().to_string();
    assert!(err.contains("it holds CIFAR-100's training file"), "{err}");
    let err = load_idx(&cifar100.join("train"), 1, 8, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("as CIFAR-100's python version holds"), "{err}");
    // Links are followed, each folder once: a link back up the tree is no
    // loop, and a folder reached only through a link is read. (Unix's:
    // Windows makes links for administrators only.)
    #[cfg(unix)]
    links_are_followed_each_folder_once();
}

#[cfg(unix)]
fn links_are_followed_each_folder_once() {
    let looped = dir("folder-loop");
    let elsewhere = dir("folder-elsewhere");
    std::fs::create_dir_all(looped.join("sub")).unwrap();
    let gray = image::GrayImage::from_pixel(4, 4, image::Luma([9]));
    gray.save(looped.join("one.png")).unwrap();
    gray.save(elsewhere.join("two.png")).unwrap();
    std::os::unix::fs::symlink("..", looped.join("sub/up")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, looped.join("linked")).unwrap();
    assert_eq!(load_folder(&looped, 1, 4, None).unwrap().n, 2);
}

/// A very elongated image is cut to its centre before it is resized: the
/// square kept is the one resizing it whole gives, and a 1 × 10⁷ strip,
/// whole a 64 × 64·10⁷ resize (120 GB), loads at once.
#[test]
fn elongated_images_are_cut_before_they_are_resized() {
    let pattern = |x: u32, y: u32| image::Luma([((x * 7 + y * 13) % 256) as u8]);
    let whole_then_square = |img: &image::GrayImage, size: u32| -> Vec<f32> {
        let (w, h) = img.dimensions();
        let (rw, rh) = if w >= h {
            (w * size / h, size)
        } else {
            (size, h * size / w)
        };
        let resized = resize_grey(img, rw, rh);
        // torchvision's CenterCrop: int(round(excess / 2)), halves to even.
        let offset = |length: u32| (f64::from(length - size) / 2.0).round_ties_even() as u32;
        let square = image::imageops::crop_imm(&resized, offset(rw), offset(rh), size, size);
        square
            .to_image()
            .pixels()
            .map(|p| f32::from(p.0[0]) / 127.5 - 1.0)
            .collect()
    };
    // Where the scale is a whole number of pixels, the same values; wide
    // and tall alike. (102 × 10 too: its central 4:1 part would start at
    // an odd pixel, half a resized one, so the cut starts a pixel earlier.)
    for (w, h) in [(100, 10), (10, 100), (102, 10), (10, 102)] {
        let d = dir(&format!("elongated-{w}x{h}"));
        let img = image::GrayImage::from_fn(w, h, pattern);
        img.save(d.join("strip.png")).unwrap();
        let set = load_folder(&d, 1, 5, None).unwrap();
        assert_eq!(set.values(), whole_then_square(&img, 5), "{w}×{h}");
    }
    // The largest difference of the loaded square from resizing whole.
    let worst_against_whole = |name: &str, img: &image::GrayImage, size: u32| -> f32 {
        let d = dir(name);
        img.save(d.join("strip.png")).unwrap();
        let set = load_folder(&d, 1, size as usize, None).unwrap();
        let whole = whole_then_square(img, size);
        set.values()
            .iter()
            .zip(whole)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max)
    };
    // Elsewhere within the cut's rounding: a smooth pattern differs by
    // its change over a pixel or less (here under 0.02 of the [−1, 1] range).
    let wave = |at: u32, period: f32| image::Luma([(128.0 + 100.0 * (at as f32 / period).sin()) as u8]);
    let img = image::GrayImage::from_fn(1001, 7, |x, _| wave(x, 300.0));
    let worst = worst_against_whole("elongated-odd", &img, 6);
    assert!(worst < 0.02, "{worst}");
    // A short side far below the size, and an odd rest past the 4:1 part
    // (3 × 101 at 32: half a source pixel is 5 of the square's): the cut
    // keeps the centre, the square within a pixel (0.03 here).
    let img = image::GrayImage::from_fn(3, 101, |_, y| wave(y, 5.0));
    let worst = worst_against_whole("elongated-upscaled", &img, 32);
    assert!(worst < 0.03, "{worst}");
    let d = dir("elongated-extreme");
    image::GrayImage::from_fn(1, 10_000_000, |_, y| image::Luma([(y / 1000 % 2 * 255) as u8]))
        .save(d.join("strip.png"))
        .unwrap();
    let set = load_folder(&d, 1, 64, None).unwrap();
    assert_eq!((set.n, set.size), (1, 64));
}

/// The real data set: all 10 000 Fashion-MNIST test images, resized to 32×32.
/// Fashion-MNIST is mostly black background: its mean pixel is 0.286 of 255
/// (→ −0.43 in [−1, 1]); resizing barely moves the mean.
#[test]
fn debian_fashion_mnist_loads() {
    let path = Path::new(DEBIAN_FASHION_MNIST).join("t10k-images-idx3-ubyte.gz");
    assert!(
        path.exists(),
        "{} is missing: install Debian's dataset-fashion-mnist (CI does)",
        path.display()
    );
    let set = load_idx(&path, 1, 32, None).unwrap();
    assert_eq!(
        (set.n, set.channels, set.size, set.values().len()),
        (10000, 1, 32, 10000 * 1024)
    );
    let mean = set.values().iter().map(|&v| f64::from(v)).sum::<f64>() / set.values().len() as f64;
    assert!((mean - (2.0 * 0.286 - 1.0)).abs() < 0.03, "mean {mean}");
    assert!(set.values().iter().all(|v| (-1.0..=1.0).contains(v)));
}

/// `data.limit` reads only the first images: the same values as a whole
/// load's first, and images after the limit are never opened (a broken
/// file there goes unnoticed, where a whole load names it).
#[test]
fn a_limit_reads_only_the_first_images() {
    let d = dir("limit");
    let idx = d.join("raw-idx3-ubyte");
    std::fs::write(&idx, idx_bytes(3, 4, 4, |i, y, x| (i * 40 + y * 4 + x) as u8)).unwrap();
    let all = load_idx(&idx, 1, 4, None).unwrap();
    let two = load_idx(&idx, 1, 4, Some(2)).unwrap();
    assert_eq!((two.n, &two.values()[..]), (2, &all.values()[..2 * 16]));
    assert_eq!(
        load_idx(&idx, 1, 4, Some(5)).unwrap(),
        all,
        "a limit past the set"
    );

    let cifar = dir("limit-cifar");
    std::fs::write(
        cifar.join("data_batch_1.bin"),
        [cifar_record(3, [255, 0, 0]), cifar_record(9, [0, 255, 0])].concat(),
    )
    .unwrap();
    std::fs::write(cifar.join("data_batch_2.bin"), &cifar_record(1, [0; 3])[..3000]).unwrap();
    let err = load_cifar10(&cifar, 3, 32, None).unwrap_err().to_string();
    assert!(
        err.contains("data_batch_2.bin")
            && err
                .contains("or start a new run on the 2 whole images before the cut with --set data.limit=2"),
        "{err}"
    );
    // A cut batch gives the records before its cut, as an IDX file does,
    // where the limit takes none past it.
    let cut = cifar.join("data_batch_1.bin");
    let mut bytes = std::fs::read(&cut).unwrap();
    bytes.truncate(3073 + 100);
    std::fs::write(&cut, &bytes).unwrap();
    assert_eq!(load_cifar10(&cut, 3, 32, Some(1)).unwrap().n, 1);
    let err = load_cifar10(&cut, 3, 32, Some(2)).unwrap_err().to_string();
    assert!(
        err.contains("the 1 whole image before the cut with --set data.limit=1"),
        "{err}"
    );
    std::fs::write(
        &cut,
        [cifar_record(3, [255, 0, 0]), cifar_record(9, [0, 255, 0])].concat(),
    )
    .unwrap();
    // Cut in a later file: the limit counts the earlier files' images too.
    let later = cifar.join("data_batch_2.bin");
    let one_and_a_cut = [cifar_record(1, [0; 3]), cifar_record(2, [0; 3])[..3000].to_vec()].concat();
    std::fs::write(&later, one_and_a_cut).unwrap();
    assert_eq!(load_cifar10(&cifar, 3, 32, Some(3)).unwrap().n, 3);
    let err = load_cifar10(&cifar, 3, 32, Some(4)).unwrap_err().to_string();
    assert!(
        err.contains("data_batch_2.bin") && err.contains("--set data.limit=3"),
        "{err}"
    );
    std::fs::write(&later, &cifar_record(1, [0; 3])[..3000]).unwrap();
    let one = load_cifar10(&cifar, 3, 32, Some(1)).unwrap();
    let two = load_cifar10(&cifar, 3, 32, Some(2)).unwrap();
    assert_eq!((one.n, two.n), (1, 2));
    assert_eq!(one.values()[..], two.values()[..3 * 1024]);

    let folder = dir("limit-folder");
    image::GrayImage::from_pixel(4, 4, image::Luma([10]))
        .save(folder.join("a.png"))
        .unwrap();
    image::GrayImage::from_pixel(4, 4, image::Luma([20]))
        .save(folder.join("b.png"))
        .unwrap();
    std::fs::write(folder.join("z.png"), b"not really a png").unwrap();
    let err = load_folder(&folder, 1, 4, None).unwrap_err().to_string();
    assert!(err.contains("z.png"), "{err}");
    let two = load_folder(&folder, 1, 4, Some(2)).unwrap();
    assert_eq!(two.n, 2);
    assert_eq!(
        (two.values()[0], two.values()[16]),
        (10.0 / 127.5 - 1.0, 20.0 / 127.5 - 1.0)
    );
}

/// A pipe as data (`--data <(cat file)`) is refused as one, not read as
/// a file with the wrong magic number (its first bytes went to the guess
/// of its format); a device too.
#[cfg(unix)]
#[test]
fn a_pipe_or_device_as_data_is_refused_as_such() {
    let d = dir("pipe");
    let fifo = d.join("images.fifo");
    let name = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a NUL-terminated path, and a mode.
    assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
    for path in [fifo.to_str().unwrap(), "/dev/zero"] {
        let set = vec![format!("data.path={}", toml::Value::String(path.into()))];
        let config = ebmscope::config::Config::resolve(Some("fashion-mnist-quick"), None, &set).unwrap();
        let err = ebmscope::data::Dataset::load(&config.data)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("is not a file or a folder (a pipe or a device)"),
            "{path}: {err}"
        );
    }
}
