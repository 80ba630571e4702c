//! Data sets: the 2-D toy distributions with exact densities, and image
//! data sets from IDX, CIFAR-10's and CIFAR-100's files (binary or python)
//! and image folders.

pub mod images;
pub mod pil_resize;
pub mod toy;

use std::path::{Path, PathBuf};

use rand::Rng;
use rand::seq::index::sample;

use crate::config::{DataConfig, DataKind};
use crate::{Error, Result};
use images::ImageSet;
use toy::Toy;

/// The data a run learns from.
#[derive(Clone, Debug)]
pub enum Dataset {
    Toy(Toy),
    Images(ImageSet),
}

/// The kind of image data at `path`: a folder of CIFAR-10 batches, of
/// CIFAR-100's training file or of IDX files, any other folder (images), a
/// `.bin` file or a pickle (a CIFAR batch, binary or python: CIFAR-100's
/// by its name or its records' size), or another file (IDX).
pub fn infer_image_kind(path: &Path) -> DataKind {
    use images::Cifar;
    if path.is_dir() {
        let names: Vec<String> = std::fs::read_dir(path)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        // (A folder of images may hold something named `train`: CIFAR-100's
        // is a file of its records, or a pickle with its `meta` beside it.)
        let cifar100 = names.iter().any(|n| {
            let file = path.join(n);
            Cifar::Hundred.is_training_file(n)
                && if n.ends_with(".bin") {
                    file_len(&file).and_then(Cifar::of_records) == Some(Cifar::Hundred)
                } else {
                    is_data_pickle(&file) && path.join("meta").is_file()
                }
        });
        if names.iter().any(|n| Cifar::Ten.is_training_file(n)) {
            DataKind::Cifar10
        } else if cifar100 {
            DataKind::Cifar100
        } else if names.iter().any(|n| images::is_idx_images_name(n)) {
            DataKind::Idx
        } else {
            DataKind::Folder
        }
    } else if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("bin")) && !starts_as_idx(path)
        || is_data_pickle(path)
    {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        // A binary file by its records' size where that tells (else by its
        // name); a pickle by its name (CIFAR-100's are train and test) or its folder.
        let hundred = if Cifar::Ten.is_training_file(name) {
            false
        } else if name.ends_with(".bin") {
            match file_len(path).and_then(Cifar::of_records) {
                Some(by_size) => by_size == Cifar::Hundred,
                None => ["train.bin", "test.bin"].contains(&name),
            }
        } else {
            ["train", "test"].contains(&name) || images::is_cifar100_python(path)
        };
        if hundred {
            DataKind::Cifar100
        } else {
            DataKind::Cifar10
        }
    } else {
        DataKind::Idx
    }
}

/// The kind of image data at `path` where its files say so (infer_image_kind
/// guesses IDX for any file, and images for any folder): CIFAR batches,
/// IDX images, or a folder with images in it.
pub fn recognised_kind(path: &Path) -> Option<DataKind> {
    let kind = infer_image_kind(path);
    let recognised = match kind {
        DataKind::Idx if !path.is_dir() => {
            // (Gzipped, as MNIST comes, it is told by its name.)
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            starts_as_idx(path) || images::is_idx_images_name(name)
        }
        DataKind::Folder => holds_an_image(path, &mut std::collections::HashSet::new()),
        _ => true,
    };
    recognised.then_some(kind)
}

/// Whether `dir` or a folder under it holds a PNG or JPEG that load_folder
/// reads (class folders, say; not macOS's `._` files, nor ebmscope's
/// outputs); found at the first, without reading the rest. `seen`: the
/// folders read, each once however links reach it.
fn holds_an_image(dir: &Path, seen: &mut std::collections::HashSet<PathBuf>) -> bool {
    if !dir.canonicalize().is_ok_and(|real| seen.insert(real)) {
        return false;
    }
    let entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            !name.starts_with("._") && name != "__MACOSX"
        })
        .collect();
    entries.iter().any(|p| images::is_image_name(p))
        || entries
            .iter()
            .filter(|p| p.is_dir() && crate::train::run::outputs_in(p).is_none())
            .any(|p| holds_an_image(p, seen))
}

fn file_len(path: &Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.len())
}

/// Whether the file begins as a pickle (of protocol 2 or later) that is
/// not PyTorch's: CIFAR-10's python version, unless it says otherwise.
fn is_data_pickle(path: &Path) -> bool {
    use std::io::Read;
    let mut head = Vec::new();
    let read = std::fs::File::open(path).and_then(|f| f.take(64).read_to_end(&mut head));
    read.is_ok() && head.starts_with(&[images::PICKLE_START]) && !crate::io::is_torch_save(&head)
}

/// Whether the file begins as an IDX image file does (unsigned bytes, 3
/// dimensions): such a file named .bin is not CIFAR-10.
fn starts_as_idx(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && magic == images::IDX_IMAGES_MAGIC
}

/// An IDX path may name the file or the folder holding the training images.
fn idx_file(path: &Path) -> Result<PathBuf> {
    if !path.is_dir() {
        return Ok(path.to_path_buf());
    }
    // (MNIST's own names, and the dotted ones some mirrors use.)
    [
        "train-images-idx3-ubyte.gz",
        "train-images-idx3-ubyte",
        "train-images.idx3-ubyte.gz",
        "train-images.idx3-ubyte",
    ]
    .iter()
    .map(|n| path.join(n))
    .find(|p| p.is_file())
    .ok_or_else(|| {
        // Another IDX image file there (the test set's t10k-images) is named.
        let mut others: Vec<String> = std::fs::read_dir(path)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .filter(|n| images::is_idx_images_name(n))
            .collect();
        // (Those that begin as IDX images, or are gzipped, before any that do not.)
        others.sort_by_key(|n| {
            let p = path.join(n);
            (!(starts_as_idx(&p) || n.ends_with(".gz")), n.clone())
        });
        let fix = match others.first() {
            Some(other) => format!(
                "it holds {other}: to train on it, pass --data {}",
                crate::io::shell_path(&path.join(other))
            ),
            None => "point data.path at an IDX image file".to_string(),
        };
        Error::file(path, format!("holds no train-images-idx3-ubyte[.gz]; {fix}"))
    })
}

impl Dataset {
    /// The toy distribution of `c`, or its images read from disk.
    pub fn load(c: &DataConfig) -> Result<Self> {
        if c.kind.is_toy() {
            return Toy::new(c).map(Dataset::Toy);
        }
        if c.path.is_empty() {
            return Err(Error::Config(format!(
                "`data.path`: {} data needs files: point the preset at them with --data PATH",
                crate::config::spelling(&c.kind)
            )));
        }
        let path = Path::new(&c.path);
        if !path.exists() {
            return Err(Error::file(
                path,
                "does not exist: check the path, or say where the data is with --data PATH (train, sample, landscape, gui) or data.path in a config",
            ));
        }
        // (A pipe, `<(zcat …)` say, gives its first bytes once: to the guess
        // of its format, not to the loader; and a run reads its data again
        // on resume.)
        if path.metadata().is_ok_and(|m| !m.is_file() && !m.is_dir()) {
            return Err(Error::file(
                path,
                "is not a file or a folder (a pipe or a device): a run reads its data again when it \
                 resumes, so save the data to a file and pass that",
            ));
        }
        let (channels, size) = (c.channels as usize, c.size as usize);
        // Only the first `limit` images are read and converted.
        let limit = (c.limit > 0).then_some(c.limit as usize);
        let loaded = match c.kind {
            DataKind::Idx => idx_file(path).and_then(|file| {
                let set = images::load_idx(&file, channels, size, limit)?;
                Ok((file, set))
            }),
            DataKind::Cifar10 => {
                images::load_cifar10(path, channels, size, limit).map(|s| (path.to_path_buf(), s))
            }
            DataKind::Cifar100 => {
                images::load_cifar100(path, channels, size, limit).map(|s| (path.to_path_buf(), s))
            }
            _ => images::load_folder(path, channels, size, limit).map(|s| (path.to_path_buf(), s)),
        };
        // data.path given (a config's, --set's) with the preset's kind: the
        // files may be of another, which --data would have told from them.
        let (file, set) = loaded.map_err(|e| {
            let found = recognised_kind(path).unwrap_or(c.kind);
            match e {
                Error::File { path, reason } if found != c.kind => Error::file(
                    path,
                    format!(
                        "{reason} (data.kind is \"{}\", and this looks like \"{}\" data: set data.kind \
                         to it, or leave data.kind unset and give the path as --data, which tells the \
                         format from the files)",
                        crate::config::spelling(&c.kind),
                        crate::config::spelling(&found)
                    ),
                ),
                e => e,
            }
        })?;
        if set.n == 0 {
            return Err(Error::file(
                file,
                "holds no images: point --data at a data set that has some",
            ));
        }
        Ok(Dataset::Images(set))
    }

    /// Per-example shape [C, H, W] ([2, 1, 1] for 2-D points).
    pub fn chw(&self) -> [usize; 3] {
        match self {
            Dataset::Toy(_) => [2, 1, 1],
            Dataset::Images(s) => [s.channels, s.size, s.size],
        }
    }

    pub fn toy(&self) -> Option<&Toy> {
        match self {
            Dataset::Toy(t) => Some(t),
            Dataset::Images(_) => None,
        }
    }

    pub fn images(&self) -> Option<&ImageSet> {
        match self {
            Dataset::Images(s) => Some(s),
            Dataset::Toy(_) => None,
        }
    }

    /// What tells an image set from another as loaded (after data.limit and
    /// resizing): its size, shape and a CRC-32 of its pixels, which a
    /// checkpoint keeps so that a resume on other data is refused. None for
    /// toy data, which the config alone makes.
    pub fn fingerprint(&self) -> Option<String> {
        self.images().map(|s| {
            format!(
                "{} images of {}×{}×{}, CRC-32 {:08x}",
                s.n,
                s.channels,
                s.size,
                s.size,
                crc32fast::hash(&s.bytes)
            )
        })
    }

    /// `n` examples ([n, C·H·W]): toy draws, or distinct images chosen at
    /// random (with repetition only when the set has fewer than `n`).
    pub fn sample(&self, n: usize, rng: &mut impl Rng) -> Vec<f32> {
        match self {
            Dataset::Toy(t) => t.sample(n, rng),
            Dataset::Images(s) => {
                let idx = image_indices(s.n, n, rng);
                idx.iter().flat_map(|&i| s.image(i as usize)).collect()
            }
        }
    }

    /// One line for logs: what was loaded.
    pub fn describe(&self) -> String {
        match self {
            Dataset::Toy(t) => {
                let kind = match t.kind {
                    toy::ToyKind::Rings => "rings",
                    toy::ToyKind::Gmm => "gmm",
                };
                format!("{kind} toy data, {} groups", t.groups)
            }
            Dataset::Images(s) => {
                let passed_over = if s.passed_over.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; {} of formats ebmscope does not read passed over (convert them to PNG)",
                        images::passed_over_files(&s.passed_over)
                    )
                };
                let outputs = match s.outputs_passed_over.as_slice() {
                    [] => String::new(),
                    [one] => format!("; {} passed over (ebmscope's outputs, not data)", one.display()),
                    [first, ..] => format!(
                        "; {} folders of ebmscope's outputs passed over ({}, …)",
                        s.outputs_passed_over.len(),
                        first.display()
                    ),
                };
                format!(
                    "{} image{} of {}×{}×{} ({:.1} MiB as bytes on the GPU){passed_over}{outputs}",
                    s.n,
                    if s.n == 1 { "" } else { "s" },
                    s.channels,
                    s.size,
                    s.size,
                    crate::gpu::Gpu::mib((s.n * s.channels * s.size * s.size) as u64)
                )
            }
        }
    }
}

/// `n` image indices below `count`: distinct (as the reference's randperm)
/// when the set is large enough, else drawn with repetition.
pub fn image_indices(count: usize, n: usize, rng: &mut impl Rng) -> Vec<u32> {
    if n <= count {
        sample(rng, count, n).into_iter().map(|i| i as u32).collect()
    } else {
        (0..n).map(|_| rng.random_range(0..count) as u32).collect()
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests use std's renames and removals (clippy.toml)
mod tests {
    use super::*;

    #[test]
    fn kinds_are_inferred_from_paths() {
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path();
        let cifar = dir.join("cifar");
        let idx = dir.join("idx");
        let folder = dir.join("folder");
        for d in [&cifar, &idx, &folder] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(cifar.join("data_batch_1.bin"), b"").unwrap();
        std::fs::write(idx.join("train-images-idx3-ubyte.gz"), b"").unwrap();
        assert_eq!(infer_image_kind(&cifar), DataKind::Cifar10);
        assert_eq!(infer_image_kind(&idx), DataKind::Idx);
        assert_eq!(infer_image_kind(&folder), DataKind::Folder);
        assert_eq!(
            infer_image_kind(&cifar.join("data_batch_1.bin")),
            DataKind::Cifar10
        );
        assert_eq!(
            infer_image_kind(Path::new("x/t10k-images-idx3-ubyte")),
            DataKind::Idx
        );
        assert_eq!(idx_file(&idx).unwrap(), idx.join("train-images-idx3-ubyte.gz"));
        assert!(
            idx_file(&folder)
                .unwrap_err()
                .to_string()
                .contains("train-images")
        );
    }

    #[test]
    fn indices_are_distinct_when_possible() {
        let mut rng = rand::rng();
        let mut idx = image_indices(10, 10, &mut rng);
        idx.sort();
        assert_eq!(idx, (0..10).collect::<Vec<u32>>());
        let idx = image_indices(3, 8, &mut rng);
        assert!(idx.len() == 8 && idx.iter().all(|&i| i < 3));
    }
}
