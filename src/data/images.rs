//! Image data sets from the formats people have on disk: IDX (MNIST,
//! Fashion-MNIST; raw or gzip), CIFAR-10 binary batches, and folders of
//! PNG/JPEG images. Every image is resized (shorter side to `size`,
//! bilinear as PIL's, byte for byte) and centre-cropped to size × size as
//! the reference's Resize + CenterCrop, converted to the configured number
//! of channels, and scaled to [−1, 1].

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};

use image::imageops::crop_imm;
use image::{DynamicImage, GrayImage, RgbImage};

use super::pil_resize::resize_bilinear;
use crate::io::shell_path;
use crate::{Error, Result};

/// Where Debian's `dataset-fashion-mnist` package puts Fashion-MNIST.
pub const DEBIAN_FASHION_MNIST: &str = "/usr/share/datasets/fashion-mnist";

/// Images as [n, channels, size, size] bytes, NCHW: byte k stands for
/// k/127.5 − 1 in [−1, 1] (the reference's ToTensor + Normalize(0.5, 0.5)),
/// held so, a quarter of f32's memory, as the GPU holds them too.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageSet {
    pub n: usize,
    pub channels: usize,
    pub size: usize,
    pub bytes: Vec<u8>,
    /// A folder's files of image formats ebmscope does not read (WebP,
    /// BMP, …), passed over: their extensions, one per file.
    pub passed_over: Vec<String>,
    /// Folders inside a folder of images that hold ebmscope's own outputs
    /// (a training run, a long run, a landscape map), passed over: their
    /// pictures are the model's, not data.
    pub outputs_passed_over: Vec<PathBuf>,
}

impl ImageSet {
    fn new(channels: usize, size: usize) -> Result<Self> {
        if !(channels == 1 || channels == 3) || size == 0 {
            return Err(Error::Shape(format!(
                "images need 1 or 3 channels and a size ≥ 1 (got {channels} channels, size {size})"
            )));
        }
        Ok(ImageSet {
            n: 0,
            channels,
            size,
            bytes: Vec::new(),
            passed_over: Vec::new(),
            outputs_passed_over: Vec::new(),
        })
    }

    /// `n` images of `values` in [−1, 1] (synthetic sets), each taken to
    /// the nearest byte value.
    pub fn from_values(n: usize, channels: usize, size: usize, values: &[f32]) -> Self {
        assert_eq!(values.len(), n * channels * size * size, "values of {n} images");
        ImageSet {
            n,
            channels,
            size,
            passed_over: Vec::new(),
            outputs_passed_over: Vec::new(),
            bytes: values
                .iter()
                .map(|&v| ((v + 1.0) * 127.5).round().clamp(0.0, 255.0) as u8)
                .collect(),
        }
    }

    /// The value byte k stands for.
    pub fn value(k: u8) -> f32 {
        f32::from(k) / 127.5 - 1.0
    }

    /// Image `i`'s values in [−1, 1] ([C·H·W]).
    pub fn image(&self, i: usize) -> impl Iterator<Item = f32> + '_ {
        let dim = self.channels * self.size * self.size;
        self.bytes[i * dim..(i + 1) * dim].iter().map(|&k| Self::value(k))
    }

    /// Every image's values in [−1, 1] ([n, C·H·W]).
    pub fn values(&self) -> Vec<f32> {
        self.bytes.iter().map(|&k| Self::value(k)).collect()
    }

    /// The images' bytes, 4 per u32 word (little-endian), as the GPU holds
    /// them.
    pub fn to_packed_bytes(&self) -> Vec<u32> {
        self.bytes
            .chunks(4)
            .map(|c| {
                let mut w = [0u8; 4];
                w[..c.len()].copy_from_slice(c);
                u32::from_le_bytes(w)
            })
            .collect()
    }

    /// Append one image after resizing, cropping and channel conversion;
    /// an image of no pixels is refused.
    fn push(&mut self, img: DynamicImage) -> std::result::Result<(), String> {
        let (w, h) = (img.width(), img.height());
        if w == 0 || h == 0 {
            return Err(format!("an image of {w}×{h} pixels has none"));
        }
        // An image longer than MAX_ASPECT:1 is first cut to its central
        // MAX_ASPECT:1 part: resized whole, a 1 × 10⁶ strip would become
        // size × 10⁶·size pixels (GBs) to keep a size × size square. The cut
        // keeps the scale and 1.5·size resized pixels either side of that
        // square, far past the filter's reach (a pixel or two), and the
        // image's centre (one pixel longer where the rest is odd; the cut
        // starts at a multiple of short / gcd(short, size) pixels, a whole
        // number of resized ones), so the square is the same up to the
        // rounding of the resized length and of the square's place in it
        // (under a pixel), and exactly where the scale is whole.
        const MAX_ASPECT: u32 = 4;
        let s = self.size as u32;
        let cut = |long: u32, short: u32| {
            let length = MAX_ASPECT * short + (long - MAX_ASPECT * short) % 2;
            let unit = short / gcd(short, s);
            ((long - length) / 2 / unit * unit, length)
        };
        let (whole_w, whole_h) = (w, h);
        let (img, cut_x, cut_y) = if w / MAX_ASPECT > h {
            let (x0, length) = cut(w, h);
            (img.crop_imm(x0, 0, length, h), x0, 0)
        } else if h / MAX_ASPECT > w {
            let (y0, length) = cut(h, w);
            (img.crop_imm(0, y0, w, length), 0, y0)
        } else {
            (img, 0, 0)
        };
        let (w, h) = (img.width(), img.height());
        // Shorter side to `size`, keeping the aspect ratio (the longer side
        // rounded down, as torchvision's Resize), then the centre square.
        // (At most MAX_ASPECT · size, or the whole image's length for
        // `place`: u64, no overflow.)
        let longer =
            |long: u32, short: u32| (u64::from(long) * u64::from(s) / u64::from(short)).max(u64::from(s));
        let (rw, rh) = if w <= h {
            (s, longer(h, w) as u32)
        } else {
            (longer(w, h) as u32, s)
        };
        let img = if (w, h) == (rw, rh) {
            img
        } else {
            DynamicImage::ImageRgb8(resize_bilinear(&img.to_rgb8(), rw, rh))
        };
        // The square's place along a side: where torchvision's CenterCrop
        // puts it in the whole image resized, int(round(excess / 2)) with
        // Python's halves to even (an excess of 3 starts at 2, not 1), less
        // the resized length of what the cut took off before it.
        let short = w.min(h);
        let place = |whole: u32, cut: u32, resized: u32| {
            let excess = longer(whole, short) - u64::from(s);
            let at =
                (excess as f64 / 2.0).round_ties_even() - f64::from(cut) * f64::from(s) / f64::from(short);
            (at.round().max(0.0) as u32).min(resized - s)
        };
        let (x0, y0) = (place(whole_w, cut_x, rw), place(whole_h, cut_y, rh));
        let rgb: RgbImage = crop_imm(&img.to_rgb8(), x0, y0, s, s).to_image();
        if self.channels == 1 {
            self.bytes.extend(rgb.pixels().map(|p| pil_luma(p.0)));
        } else {
            for c in 0..3 {
                self.bytes.extend(rgb.pixels().map(|p| p.0[c]));
            }
        }
        self.n += 1;
        Ok(())
    }
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// Grey from RGB as PIL's `convert("L")`, which torchvision's Grayscale
/// calls: ITU-R 601-2 luma (0.299, 0.587, 0.114) in PIL's fixed point. (The
/// image crate's `to_luma8` weighs by Rec. 709 instead, up to 26 levels
/// apart.) A grey pixel stays as it is: the weights sum to 2¹⁶.
fn pil_luma([r, g, b]: [u8; 3]) -> u8 {
    ((u32::from(r) * 19595 + u32::from(g) * 38470 + u32::from(b) * 7471 + 0x8000) >> 16) as u8
}

/// The first 4 bytes of an IDX image file: unsigned bytes, 3 dimensions.
pub const IDX_IMAGES_MAGIC: [u8; 4] = [0, 0, 8, 3];

/// Whether a file name is that of an IDX image file (MNIST's, or a mirror's dotted one).
pub fn is_idx_images_name(name: &str) -> bool {
    name.contains("idx3-ubyte")
}

/// The first byte of a pickle of protocol 2 or later (PROTO), as CIFAR-10's
/// python version begins.
pub const PICKLE_START: u8 = 0x80;

/// Whether a path names a PNG or JPEG file, as a folder's images are found.
pub(crate) fn is_image_name(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| ["png", "jpg", "jpeg"].contains(&e.to_ascii_lowercase().as_str()))
}

/// The extension of a file of an image format ebmscope does not read, if
/// it is one: what a folder's loader says it passed over.
fn other_image_format(path: &Path) -> Option<String> {
    const OTHERS: [&str; 11] = [
        "webp", "bmp", "gif", "tif", "tiff", "ppm", "pgm", "tga", "avif", "heic", "jxl",
    ];
    let e = path.extension()?.to_str()?.to_ascii_lowercase();
    OTHERS.contains(&e.as_str()).then_some(e)
}

/// "3 files (.webp, .bmp)": the extensions of files passed over.
pub fn passed_over_files(extensions: &[String]) -> String {
    let kinds: std::collections::BTreeSet<&str> = extensions.iter().map(String::as_str).collect();
    let kinds: Vec<String> = kinds.iter().map(|e| format!(".{e}")).collect();
    let s = if extensions.len() == 1 { "" } else { "s" };
    format!("{} file{s} ({})", extensions.len(), kinds.join(", "))
}

/// A reader of the file, ungzipped if it is gzip (and whether it is: its
/// read errors are then the gzip data's).
fn open_maybe_gz(path: &Path) -> Result<(Box<dyn Read>, bool)> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut file = std::io::BufReader::new(file);
    let gz = std::io::BufRead::fill_buf(&mut file)
        .map_err(|e| Error::io(path, e))?
        .starts_with(&[0x1f, 0x8b]);
    Ok(if gz {
        (Box::new(flate2::read::MultiGzDecoder::new(file)), true)
    } else {
        (Box::new(file), false)
    })
}

/// What --data given a PyTorch file says.
const TORCH_AS_DATA: &str = "is a PyTorch file (torch.save's), not a data set: weights go to --init-weights";

/// Whether a file's first 512 bytes (ungzipped) are those of a zip, tar,
/// xz, bzip2 or 7z archive.
fn is_archive(head: &[u8]) -> bool {
    head.starts_with(b"PK\x03\x04")
        || head.get(257..262) == Some(b"ustar")
        || head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0])
        || head.starts_with(b"BZh")
        || head.starts_with(&[b'7', b'z', 0xbc, 0xaf, 0x27, 0x1c])
}

/// Whether `path` (a file in it, or the folder) is CIFAR-100's python
/// version: its folder `cifar-100-python` holds the pickles `train`,
/// `test` and `meta` (CIFAR-10's are data_batch_*).
pub(crate) fn is_cifar100_python(path: &Path) -> bool {
    let folder = if path.is_dir() {
        path
    } else {
        path.parent().unwrap_or(path)
    };
    folder.join("cifar-100-python").is_dir()
        || folder.file_name().is_some_and(|n| n == "cifar-100-python")
        || (folder.join("train").is_file() && folder.join("meta").is_file())
}

/// What a file that is not an IDX file is, where it can be told from its
/// first 512 bytes (ungzipped, `gz`: it was gzipped) and its name, and
/// what to do.
fn not_idx_hint(path: &Path, head: &[u8], gz: bool) -> String {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    if is_image_name(path) {
        "is one image, not a data set: point --data at the folder that holds the images".into()
    } else if crate::io::is_torch_save(head) {
        TORCH_AS_DATA.into()
    } else if is_archive(head) {
        "is an archive (zip, tar, xz, bzip2 or 7z): extract it and point --data at the folder it makes".into()
    } else if name.starts_with("data_batch_") && name.contains(".bin") {
        if gz {
            "is a CIFAR-10 binary batch, compressed: unpack it (gunzip) and pass the .bin file or its folder"
        } else {
            "looks like a CIFAR-10 binary batch under another name: name it data_batch_N.bin (CIFAR-10 \
             files are told by that ending) and pass it or its folder"
        }
        .into()
    } else if head.starts_with(&[PICKLE_START]) && is_cifar100_python(path) {
        "is a Python pickle, as CIFAR-100's python version holds: pass --set data.kind=cifar100".into()
    } else if name == "batches.meta" {
        "is CIFAR-10's list of class names (batches.meta): pass the folder that holds it".into()
    } else if head.starts_with(&[PICKLE_START]) {
        "is a Python pickle, as CIFAR-10's python version holds: pass --set data.kind=cifar10".into()
    } else if name.starts_with("data_batch_") {
        "is named as CIFAR-10's batches are: pass --set data.kind=cifar10".into()
    } else {
        "not an IDX file (wrong magic number); --data takes an IDX file, a CIFAR-10 batch or \
         CIFAR-100's training file (binary or python), or a folder of either or of PNG/JPEG images"
            .into()
    }
}

/// An IDX image file (magic 0x00000803: unsigned bytes, 3 dimensions n × rows × cols);
/// with `limit`, only its first `limit` images are converted.
pub fn load_idx(path: &Path, channels: usize, size: usize, limit: Option<usize>) -> Result<ImageSet> {
    // Told apart by its first bytes before the whole (an archive of
    // gigabytes, say) is read.
    let (mut reader, gz) = open_maybe_gz(path)?;
    let read_err = |e: std::io::Error| {
        if gz {
            Error::file(path, format!("gzip data is corrupt or truncated ({e})"))
        } else {
            Error::io(path, e)
        }
    };
    let mut bytes = Vec::new();
    (&mut reader)
        .take(512)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    if bytes.is_empty() {
        return Err(Error::file(
            path,
            "is empty (0 bytes): a download or copy cut short? fetch the file again",
        ));
    }
    // (Every archive's magic starts with a byte that is not 0.)
    if bytes.len() < 4 || bytes[0] != 0 || bytes[1] != 0 {
        return Err(Error::file(path, not_idx_hint(path, &bytes, gz)));
    }
    let (dtype, dims) = (bytes[2], bytes[3] as usize);
    // (IDX's data types: unsigned and signed bytes, shorts, ints, floats, doubles.)
    if ![0x08, 0x09, 0x0b, 0x0c, 0x0d, 0x0e].contains(&dtype) {
        return Err(Error::file(path, not_idx_hint(path, &bytes, gz)));
    }
    if dtype != 0x08 {
        return Err(Error::file(
            path,
            format!("IDX data type {dtype:#04x} is not unsigned bytes (0x08)"),
        ));
    }
    if dims != 3 {
        return Err(Error::file(
            path,
            format!(
                "IDX file has {dims} dimension(s); an image file has 3 (n, rows, cols) — is this a labels file?"
            ),
        ));
    }
    if bytes.len() < 16 {
        return Err(Error::file(path, "IDX header is truncated"));
    }
    let dim = |i: usize| {
        u32::from_be_bytes([
            bytes[4 + 4 * i],
            bytes[5 + 4 * i],
            bytes[6 + 4 * i],
            bytes[7 + 4 * i],
        ]) as usize
    };
    let (n, rows, cols) = (dim(0), dim(1), dim(2));
    if rows == 0 || cols == 0 {
        return Err(Error::file(
            path,
            format!(
                "IDX header says {n} images of {rows}×{cols} pixels: an image needs at least one of each"
            ),
        ));
    }
    // Only the bytes of the images taken are read: not a file longer than
    // its header says to its end (a device such as /dev/zero has none).
    // (Checked: a corrupt header's sizes can multiply past usize.)
    let take = n.min(limit.unwrap_or(usize::MAX));
    let need = rows
        .checked_mul(cols)
        .and_then(|image| image.checked_mul(take))
        .and_then(|all| all.checked_add(16));
    if let Some(more) = need.map(|need| need.saturating_sub(bytes.len())) {
        (&mut reader)
            .take(more as u64)
            .read_to_end(&mut bytes)
            .map_err(read_err)?;
    }
    if need.is_none_or(|need| bytes.len() < need) {
        // (rows · cols fits: the header's sizes overflow only with the count.)
        let whole = bytes.len().saturating_sub(16) / rows.saturating_mul(cols);
        let fix = if whole > 0 {
            format!(
                "use a whole copy, or start a new run on the {} it holds with --set \
                 data.limit={whole}",
                crate::config::plural(whole as u64, "whole image", "whole images")
            )
        } else {
            "use a whole copy".to_string()
        };
        let need = need.map_or("more than fits in memory".to_string(), |n| format!("{n} bytes"));
        return Err(Error::file(
            path,
            format!(
                "IDX file is truncated: {take} images of {rows}×{cols} pixels need {need} (16 of header), \
                 and it has {}: {fix}",
                bytes.len()
            ),
        ));
    }
    let mut set = ImageSet::new(channels, size)?;
    for (i, pixels) in bytes[16..].chunks_exact(rows * cols).take(take).enumerate() {
        let img = GrayImage::from_raw(cols as u32, rows as u32, pixels.to_vec())
            .ok_or_else(|| Error::file(path, format!("image {i}: {rows}×{cols} is too large")))?;
        set.push(DynamicImage::ImageLuma8(img))
            .map_err(|e| Error::file(path, format!("image {i}: {e}")))?;
    }
    Ok(set)
}

/// A CIFAR image's bytes: its red, green and blue planes of 1 024 each.
const CIFAR_IMAGE: usize = 3 * 32 * 32;

/// CIFAR-10 or CIFAR-100: the two differ in their files' names, their
/// labels and their batches' sizes ([`CifarFacts`]), and are read alike
/// (the labels only checked, as EBMs learn the images alone).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cifar {
    Ten,
    Hundred,
}

/// What tells one CIFAR from the other, for reading and for messages.
struct CifarFacts {
    name: &'static str,
    /// Its data.kind.
    kind: &'static str,
    /// Label bytes before each binary record's image: CIFAR-100's coarse
    /// and fine labels, CIFAR-10's one.
    label_bytes: usize,
    /// The images of one of its training files.
    file_images: usize,
    /// Its training files, as a message names them.
    training_files: &'static str,
    /// Its classes (CIFAR-100's fine ones; its 20 coarse ones group them).
    classes: u8,
    /// The python version's key of the labels checked.
    python_labels: &'static str,
    /// What read_pickled_dict calls its files in messages, and what to ask
    /// of a file that is not one.
    python_file: &'static str,
    python_question: &'static str,
}

impl CifarFacts {
    /// A binary record's bytes: its labels, then its image.
    fn record(&self) -> usize {
        self.label_bytes + CIFAR_IMAGE
    }
}

const CIFAR_10: CifarFacts = CifarFacts {
    name: "CIFAR-10",
    kind: "cifar10",
    label_bytes: 1,
    file_images: 10_000,
    training_files: "data_batch_*.bin, or the python version's data_batch_*",
    classes: 10,
    python_labels: "labels",
    python_file: "CIFAR-10 python batch",
    python_question: "is it a CIFAR-10 python batch (data_batch_N of cifar-10-batches-py)?",
};

const CIFAR_100: CifarFacts = CifarFacts {
    name: "CIFAR-100",
    kind: "cifar100",
    label_bytes: 2,
    file_images: 50_000,
    training_files: "train.bin, or the python version's train",
    classes: 100,
    python_labels: "fine_labels",
    python_file: "CIFAR-100 python file",
    python_question: "is it CIFAR-100's python training file (train of cifar-100-python)?",
};

impl Cifar {
    fn facts(self) -> &'static CifarFacts {
        match self {
            Cifar::Ten => &CIFAR_10,
            Cifar::Hundred => &CIFAR_100,
        }
    }
    /// The other one, for the messages that tell them apart.
    fn other(self) -> Cifar {
        match self {
            Cifar::Ten => Cifar::Hundred,
            Cifar::Hundred => Cifar::Ten,
        }
    }
    /// Whether a file name is that of one of its training files (binary
    /// or python): CIFAR-10's `data_batch_N[.bin]`, CIFAR-100's `train[.bin]`.
    pub fn is_training_file(self, name: &str) -> bool {
        let stem = name.strip_suffix(".bin").unwrap_or(name);
        match self {
            Cifar::Ten => stem
                .strip_prefix("data_batch_")
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())),
            Cifar::Hundred => stem == "train",
        }
    }
    /// The one whose binary records a file of `len` bytes holds a whole
    /// number of, where only one's do (3 073 bytes for CIFAR-10's, 3 074
    /// for CIFAR-100's).
    pub fn of_records(len: u64) -> Option<Cifar> {
        let fits = |c: Cifar| len > 0 && len.is_multiple_of(c.facts().record() as u64);
        match (fits(Cifar::Ten), fits(Cifar::Hundred)) {
            (true, false) => Some(Cifar::Ten),
            (false, true) => Some(Cifar::Hundred),
            _ => None,
        }
    }
    /// What is wrong with the labels of a binary record, if they are not
    /// its classes.
    fn labels_misfit(self, labels: &[u8]) -> Option<String> {
        let last = self.facts().classes - 1;
        match (self, labels) {
            (Cifar::Ten, &[label, ..]) if label > last => {
                Some(format!("label {label} is not a CIFAR-10 class (0–{last})"))
            }
            (Cifar::Hundred, &[coarse, fine, ..]) if coarse >= 20 || fine > last => Some(format!(
                "labels {coarse} (coarse) and {fine} (fine) are not CIFAR-100's classes (0–19, 0–{last})"
            )),
            _ => None,
        }
    }
}

/// CIFAR-10's batches, in either version: see [`load_cifar`].
pub fn load_cifar10(path: &Path, channels: usize, size: usize, limit: Option<usize>) -> Result<ImageSet> {
    load_cifar(Cifar::Ten, path, channels, size, limit)
}

/// CIFAR-100's training images, in either version: see [`load_cifar`].
pub fn load_cifar100(path: &Path, channels: usize, size: usize, limit: Option<usize>) -> Result<ImageSet> {
    load_cifar(Cifar::Hundred, path, channels, size, limit)
}

/// CIFAR-10's or CIFAR-100's training images, in either version: a file,
/// or a folder whose training files (CIFAR-10's `data_batch_*.bin`, or the
/// python version's `data_batch_*`, as torchvision downloads them;
/// CIFAR-100's `train.bin` or `train`) are read in name order; with
/// `limit`, until `limit` images are read (the files after are not
/// opened). A binary file cut short (a copy stopped half-way) gives the
/// records before its cut where `limit` takes none past it, and is refused
/// otherwise, naming the limit that would do.
pub fn load_cifar(
    which: Cifar,
    path: &Path,
    channels: usize,
    size: usize,
    limit: Option<usize>,
) -> Result<ImageSet> {
    let facts = which.facts();
    let name = facts.name;
    let files: Vec<PathBuf> = if path.is_dir() {
        let mut f: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| Error::io(path, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_file()
                    && p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| which.is_training_file(n))
            })
            .collect();
        f.sort();
        if f.is_empty() {
            return Err(Error::file(
                path,
                format!("holds no {name} training files ({})", facts.training_files),
            ));
        }
        // Both versions side by side would be read twice over.
        let binary = |p: &PathBuf| p.extension().is_some_and(|e| e == "bin");
        if f.iter().any(binary) && !f.iter().all(binary) {
            return Err(Error::file(
                path,
                format!(
                    "holds {name}'s training files in both versions ({}): move one version to a \
                     folder of its own and pass that",
                    facts.training_files.replace(", or the python version's", " and")
                ),
            ));
        }
        f
    } else {
        vec![path.to_path_buf()]
    };
    let (record, file_images) = (facts.record(), facts.file_images);
    let mut set = ImageSet::new(channels, size)?;
    let limit = limit.unwrap_or(usize::MAX);
    for file in files {
        if set.n >= limit {
            break;
        }
        let bytes = std::fs::read(&file).map_err(|e| Error::io(&file, e))?;
        if bytes.is_empty() {
            return Err(Error::file(
                &file,
                "is empty (0 bytes): a download or copy cut short? fetch the file again",
            ));
        }
        if crate::io::is_torch_save(&bytes) {
            return Err(Error::file(&file, TORCH_AS_DATA));
        }
        // Each image's red, green and blue planes, 1 024 bytes each.
        let push = |set: &mut ImageSet, planes: &[u8]| {
            let img = RgbImage::from_fn(32, 32, |x, y| {
                let i = (y * 32 + x) as usize;
                image::Rgb([planes[i], planes[1024 + i], planes[2048 + i]])
            });
            set.push(DynamicImage::ImageRgb8(img))
                .map_err(|e| Error::file(&file, e))
        };
        if bytes.starts_with(&[PICKLE_START]) {
            let planes = cifar_python_file(which, &bytes).map_err(|e| Error::file(&file, e))?;
            for image in planes.chunks_exact(CIFAR_IMAGE).take(limit - set.n) {
                push(&mut set, image)?;
            }
            continue;
        }
        if bytes.starts_with(&IDX_IMAGES_MAGIC) {
            // (--data chose CIFAR by the .bin name.)
            return Err(Error::file(
                &file,
                format!("is an IDX image file, not a {name} file: pass --set data.kind=idx"),
            ));
        }
        if bytes.starts_with(&[0x1f, 0x8b]) {
            // (CIFAR's files are stored raw; MNIST's IDX files come gzipped.)
            return Err(Error::file(
                &file,
                format!(
                    "is gzip-compressed, not a {name} file (stored raw): an IDX file? pass --set \
                     data.kind=idx; {name}'s archive? unpack it (tar xzf) and pass its folder"
                ),
            ));
        }
        let other = which.other().facts();
        if bytes.len() % record != 0 && bytes.len() % other.record() == 0 {
            return Err(Error::file(
                &file,
                format!(
                    "has {}-byte records, as {}'s binary version ({} label byte{}): pass --set data.kind={}",
                    other.record(),
                    other.name,
                    other.label_bytes,
                    if other.label_bytes == 1 { "" } else { "s" },
                    other.kind
                ),
            ));
        }
        // A cut file is read as IDX's is: up to the cut, where data.limit
        // takes no record past it. (Shorter than a whole file: a longer
        // file of odd length is something else.)
        let whole = bytes.len() / record;
        let cut = bytes.len() % record != 0;
        if cut && (whole < limit - set.n || whole >= file_images) {
            let before_cut = set.n + whole;
            let fix = if before_cut > 0 && whole < file_images {
                format!(
                    ": use a whole copy, or start a new run on the {} before the cut with --set data.limit={before_cut}",
                    crate::config::plural(before_cut as u64, "whole image", "whole images")
                )
            } else {
                String::new()
            };
            return Err(Error::file(
                &file,
                format!(
                    "is not a {name} binary file: {} bytes is not a whole number of {record}-byte records (truncated?){fix}",
                    bytes.len()
                ),
            ));
        }
        for (i, rec) in bytes.chunks_exact(record).take(limit - set.n).enumerate() {
            let (labels, image) = rec.split_at(facts.label_bytes);
            if let Some(misfit) = which.labels_misfit(labels) {
                return Err(Error::file(
                    &file,
                    format!("record {}: {misfit}: not a {name} file", i + 1),
                ));
            }
            push(&mut set, image)?;
        }
    }
    Ok(set)
}

/// The images of a file of CIFAR-10's or CIFAR-100's python version (a
/// pickled dict: `data` a uint8 array of [n, 3072], each row an image's
/// red, green and blue planes, as the binary version's records after their
/// label bytes; `labels`, CIFAR-100's `fine_labels`, n classes), as one run
/// of rows. Nothing in the pickle is run: see read_pickled_dict.
fn cifar_python_file(which: Cifar, bytes: &[u8]) -> std::result::Result<std::rc::Rc<[u8]>, String> {
    use crate::io::PickledEntry;
    let facts = which.facts();
    let (name, file, not_one) = (facts.name, facts.python_file, facts.python_question);
    let entries = crate::io::read_pickled_dict(bytes, file)?;
    let get = |key: &str| entries.iter().find(|(k, _)| k == key).map(|(_, v)| v);
    let (labels_key, classes) = (facts.python_labels, i128::from(facts.classes));
    let other = which.other().facts();
    if get(labels_key).is_none() && get(other.python_labels).is_some() {
        return Err(format!(
            "is {}'s python version: pass --set data.kind={}",
            other.name, other.kind
        ));
    }
    if get("label_names").is_some() || get("fine_label_names").is_some() {
        return Err(
            "is a list of class names (CIFAR-10's batches.meta, CIFAR-100's meta), not images: pass \
             the folder that holds it"
                .into(),
        );
    }
    let keys = || {
        let keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
        keys.join(", ")
    };
    let Some(data) = get("data") else {
        return Err(format!(
            "holds a dict without `data` (its keys: {}): {not_one}",
            keys()
        ));
    };
    let data = match data {
        PickledEntry::Array(data) => data,
        PickledEntry::Ints(_) => {
            return Err(format!(
                "holds a `data` that is a list, not a NumPy array: {not_one}"
            ));
        }
        PickledEntry::Other(kind) => {
            return Err(format!(
                "holds a `data` of type {kind}, not a NumPy array of bytes: {not_one}"
            ));
        }
    };
    let n = data.shape.first().copied().unwrap_or(0);
    if !matches!(data.dtype.as_str(), "u1" | "|u1")
        || data.shape != [n, CIFAR_IMAGE]
        || (data.fortran && n > 1)
    {
        return Err(format!(
            "holds a `data` of {} elements and shape {:?}{}, where {name}'s is of bytes (u1) and \
             [images, {CIFAR_IMAGE}]: {not_one}",
            data.dtype,
            data.shape,
            if data.fortran { " (Fortran order)" } else { "" }
        ));
    }
    match get(labels_key) {
        Some(PickledEntry::Ints(labels)) if labels.len() == n => {
            if let Some(bad) = labels.iter().find(|l| !(0..classes).contains(*l)) {
                return Err(format!(
                    "label {bad} is not a {name} class (0–{}): {not_one}",
                    classes - 1
                ));
            }
        }
        Some(PickledEntry::Ints(labels)) => {
            return Err(format!("holds {} labels for {n} images: {not_one}", labels.len()));
        }
        _ => {
            return Err(format!(
                "holds no list of `{labels_key}` (its keys: {}): {not_one}",
                keys()
            ));
        }
    }
    Ok(data.bytes.clone())
}

/// Every PNG or JPEG under `path`, recursively, in path order (with
/// `limit`, the first `limit` of them: the others are not opened); a
/// folder reached twice through links is read once. A folder of
/// ebmscope's outputs (a run's, say, trained with --out inside the data's
/// folder) is passed over, and refused as `path` itself.
pub fn load_folder(path: &Path, channels: usize, size: usize, limit: Option<usize>) -> Result<ImageSet> {
    /// Images into `out`; other data sets' files (IDX images, CIFAR-10
    /// batches in either version) into `sets`, for the hint when there
    /// are no images; folders of ebmscope's outputs into `outputs`. macOS's
    /// metadata (`._name` files beside each file of an archive made on a
    /// Mac, the `__MACOSX` folder) is passed over.
    fn walk(
        dir: &Path,
        seen: &mut HashSet<PathBuf>,
        out: &mut Vec<PathBuf>,
        sets: &mut Vec<PathBuf>,
        others: &mut Vec<String>,
        outputs: &mut Vec<PathBuf>,
    ) -> Result<()> {
        let real = dir.canonicalize().map_err(|e| Error::io(dir, e))?;
        if !seen.insert(real) {
            return Ok(());
        }
        for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
            let p = entry.map_err(|e| Error::io(dir, e))?.path();
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if name.starts_with("._") || name == "__MACOSX" {
                continue;
            }
            if is_idx_images_name(name) || name.starts_with("data_batch_") {
                sets.push(p.clone());
            }
            if p.is_dir() && crate::train::run::outputs_in(&p).is_some() {
                outputs.push(p);
            } else if p.is_dir() {
                walk(&p, seen, out, sets, others, outputs)?;
            } else if is_image_name(&p) {
                out.push(p);
            } else if let Some(e) = other_image_format(&p) {
                others.push(e);
            }
        }
        Ok(())
    }
    if !path.is_dir() {
        return Err(Error::file(path, "is not a folder of images"));
    }
    // The folder itself, or one inside a run's (its pictures/, say; the
    // absolute path's parent, for `pictures` as given. Not canonicalize:
    // on Windows it names the folder as \\?\C:\….)
    let full = std::path::absolute(path).map_err(|e| Error::io(path, e))?;
    let run_above = full
        .parent()
        .filter(|up| crate::train::run::outputs_in(up) == Some("training run"));
    if let Some(what) = crate::train::run::outputs_in(path).or(run_above.map(|_| "training run")) {
        let whence = if what == "training run" {
            " (its config.toml's data.path)"
        } else {
            ""
        };
        let holds = match run_above {
            Some(run) => format!("is inside a training run of ebmscope's ({})", run.display()),
            None => format!("holds a {what} of ebmscope's"),
        };
        return Err(Error::file(
            path,
            format!(
                "{holds}: its pictures are the model's, not data; point --data at the images the \
                 model learned{whence}"
            ),
        ));
    }
    let (mut files, mut sets, mut others, mut outputs) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    walk(
        path,
        &mut HashSet::new(),
        &mut files,
        &mut sets,
        &mut others,
        &mut outputs,
    )?;
    files.sort();
    sets.sort();
    outputs.sort();
    if files.is_empty() {
        // CIFAR's archives unpack into folders of their own (these), and
        // hold a test batch beside the training ones.
        let unpacked = [
            ("CIFAR-10", "cifar-10-batches-bin"),
            ("CIFAR-10", "cifar-10-batches-py"),
            ("CIFAR-100", "cifar-100-binary"),
            ("CIFAR-100", "cifar-100-python"),
        ]
        .into_iter()
        .find(|(_, folder)| path.join(folder).is_dir());
        let hint = if let Some((name, folder)) = unpacked {
            format!(": for {name} pass --data {}", shell_path(&path.join(folder)))
        } else if path.join("train.bin").exists() || is_cifar100_python(path) {
            format!(
                ": it holds CIFAR-100's training file: pass --data {} (and data.kind = \"cifar100\", \
                 if set otherwise)",
                shell_path(path)
            )
        } else if let Some(test) = ["test_batch.bin", "test_batch"]
            .iter()
            .find(|n| path.join(n).exists())
        {
            let batches = if test.ends_with(".bin") {
                "data_batch_*.bin"
            } else {
                "data_batch_*"
            };
            format!(
                ": its {test} is CIFAR-10's test batch; training reads the {batches} files beside it \
                 in the archive"
            )
        } else if let Some(set) = sets
            .iter()
            .find(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("train-images"))
            })
            .or(sets.first())
        {
            let name = set.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if is_idx_images_name(name) {
                format!(
                    ": it holds an IDX image file: pass --data {} (and data.kind = \"idx\", if set \
                     otherwise)",
                    shell_path(set)
                )
            } else {
                let folder = set.parent().unwrap_or(path);
                format!(
                    ": it holds CIFAR-10 batches: pass --data {} (and data.kind = \"cifar10\", if \
                     set otherwise)",
                    shell_path(folder)
                )
            }
        } else {
            // (--data takes a folder as images unless it holds batches or IDX
            // files: a CIFAR or MNIST preset pointed at the wrong folder lands here.)
            "; is it the right folder? --data takes a folder of PNG or JPEG images, CIFAR-10's \
             data_batch_*.bin or python data_batch_* or CIFAR-100's train.bin or python train (a \
             file, or the folder holding them) or an IDX image file (or the folder holding \
             train-images-idx3-ubyte[.gz])"
                .to_string()
        };
        let others = if others.is_empty() {
            String::new()
        } else {
            format!(
                "; it holds {}, formats ebmscope does not read: convert them to PNG",
                passed_over_files(&others)
            )
        };
        let outputs = match outputs.first() {
            None => String::new(),
            Some(first) => format!(
                "; it holds ebmscope's outputs ({} folder{}: {}{}), passed over, as their pictures \
                 are the model's, not data",
                outputs.len(),
                if outputs.len() == 1 { "" } else { "s" },
                first.display(),
                if outputs.len() > 1 { ", …" } else { "" }
            ),
        };
        return Err(Error::file(
            path,
            format!("holds no PNG or JPEG images (searched recursively){hint}{others}{outputs}"),
        ));
    }
    files.truncate(limit.unwrap_or(usize::MAX));
    let mut set = ImageSet::new(channels, size)?;
    set.passed_over = others;
    set.outputs_passed_over = outputs;
    for f in files {
        // Decoded by content, not by name: a PNG saved as .jpg is common
        // in folders gathered from the web.
        let decode = || -> std::result::Result<image::DynamicImage, String> {
            let open = || image::io::Reader::open(&f).and_then(|r| r.with_guessed_format());
            let reader = open().map_err(|e| e.to_string())?;
            // (A whole image past the decoder's memory limit is one too
            // large, not a broken one: say its size, from its header.)
            let dims = || open().ok().and_then(|r| r.into_dimensions().ok());
            reader.decode().map_err(|e| match (&e, dims()) {
                (image::ImageError::Limits(_), Some((w, h))) => format!(
                    "is {w}×{h} pixels, past what the image decoder holds in memory ({e}): scale it \
                     down (it is resized to {size}×{size} anyway), or remove it from the folder"
                ),
                _ => format!("cannot be read as an image ({e}): remove it from the folder, or repair it"),
            })
        };
        let img = decode().map_err(|e| Error::file(&f, e))?;
        set.push(img).map_err(|e| Error::file(&f, e))?;
    }
    Ok(set)
}
