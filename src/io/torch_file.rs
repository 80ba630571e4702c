//! PyTorch's own files: a state dict saved with `torch.save` (a `.pth`),
//! read without running any of its code. The file is a pickle naming the
//! tensors (read by [`super::pickle`], which never calls what it names),
//! with their bytes beside it: in a zip since PyTorch 1.6, after the
//! pickle before. Only a state dict is read, names to tensors, alone or
//! under one key of a checkpoint's dict: what else a checkpoint holds is
//! passed over (its `argparse.Namespace`, a NumPy array), and a whole
//! model refused. The tensors read are bounded: each within its storage,
//! in the file, views expanded past their storages by 2²⁰ elements and all
//! by 2²⁶ at most, checked before any is read.

use std::collections::{HashMap, HashSet};
use std::io::Read;

use safetensors::Dtype;

use super::first_of;
use super::pickle::{FILE_IN_FIX, Pickled, Unpickler, Value, damaged_file};
use super::tensors::{Tensor, floats_from_le, python_str};

/// torch.save's zip (a zip's local file header).
const ZIP_MAGIC: &[u8] = b"PK\x03\x04";
/// The older form's first pickle holds this number (LONG1, 10 bytes), the
/// second this version.
const LEGACY_MAGIC: i128 = 0x1950a86a20f9469cfc6c;
const LEGACY_VERSION: i128 = 1001;

/// The most elements the tensors of one file may have in all (2²⁶: 256 MiB
/// in f32; VanillaNet at n_f = 128 has 11 million).
const MAX_ELEMENTS: usize = 1 << 26;
/// The most elements views expanded by a stride of 0 may hold beyond their
/// storages, in all (2²⁰): what the file asks for past what it holds.
const MAX_EXPANDED: usize = 1 << 20;

/// Whether `bytes` start as torch.save's files do: a zip, or the older
/// form's first pickle (protocol 2 to 5, perhaps a frame, then the magic
/// number).
pub(crate) fn is_torch_file(bytes: &[u8]) -> bool {
    let magic = [&[0x8a, 10][..], &LEGACY_MAGIC.to_le_bytes()[..10]].concat();
    let pickle = match bytes {
        [0x80, 2 | 3, rest @ ..] => rest,
        [0x80, 4 | 5, 0x95, rest @ ..] => rest.get(8..).unwrap_or_default(),
        _ => return bytes.starts_with(ZIP_MAGIC),
    };
    pickle.starts_with(&magic)
}

/// Whether a file's first bytes are surely torch.save's, as --data tells
/// a PyTorch file from data: its older form's pickle, or a zip whose first
/// entry is its pickle (`archive/data.pkl`), not any zip as
/// [`is_torch_file`] takes (which read_state_dict then reads or refuses).
pub(crate) fn is_torch_save(head: &[u8]) -> bool {
    if !head.starts_with(ZIP_MAGIC) {
        return is_torch_file(head);
    }
    // A zip's local header: the name's length at 26, the name at 30.
    let name_len = (head.get(26..28)).map_or(0, |l| usize::from(u16::from_le_bytes([l[0], l[1]])));
    head.get(30..30 + name_len)
        .is_some_and(|name| name.ends_with(b"data.pkl"))
}

/// What a torch.save file's state dict holds: its floating-point tensors as
/// f32, its others (a step counter, a mask) as they are, and the key it is
/// under where the file holds it in a checkpoint's dict.
#[derive(Debug)]
pub(crate) struct StateDict {
    pub floats: Vec<Tensor>,
    pub others: Vec<OtherTensor>,
    pub key: Option<String>,
}

/// A tensor of integers or bools, kept as its elements' bytes: so that a
/// state dict from torch.save is checked as its safetensors copy would be,
/// such a tensor beside the weights (AveragedModel's `n_averaged`) refused
/// with the rest of what the file holds, in one message.
#[derive(Debug)]
pub(crate) struct OtherTensor {
    pub name: String,
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    pub bytes: Vec<u8>,
}

/// What read_state_dict reads a file as, in its messages.
pub(super) const TORCH_FILE: &str = "torch.save file";

fn damaged(what: &str) -> String {
    damaged_file(TORCH_FILE, what)
}

/// The state dict (names to tensors) that a torch.save file holds; Err says
/// what the file holds instead and what to do. `shown` is the file as
/// messages name it.
pub(crate) fn read_state_dict(bytes: &[u8], shown: &str) -> Result<StateDict, String> {
    let read = if bytes.starts_with(ZIP_MAGIC) {
        read_zip(bytes)
    } else {
        read_legacy(bytes)
    };
    let (pickled, storages) = read.map_err(|e| e.replace(FILE_IN_FIX, &python_str(shown)))?;
    let Some(entries) = pickled.entries(&pickled.root) else {
        if let Value::Object(class) = &pickled.root {
            let file = python_str(shown);
            return Err(format!(
                "holds a pickled `{class}`, not a state dict (a whole model, saved with \
                 torch.save(model)?); ebmscope reads state dicts, which run no code when read: save \
                 one, `torch.save(model.state_dict(), \"W.pth\")` (from this file, if you trust it: \
                 `torch.save(torch.load({file}, weights_only=False).state_dict(), \"W.pth\")`)"
            ));
        }
        return Err(format!(
            "holds a {}, not a state dict (a dict of names to tensors): save one, \
             `torch.save(model.state_dict(), \"W.pth\")`",
            pickled.root.kind()
        ));
    };
    // A training checkpoint (`{"model": sd, "optimizer": …, "epoch": …}`)
    // holding one state dict is read as that state dict.
    let inner = inner_state_dicts(&pickled, entries);
    let (tensors, key) = match (state_dict(entries), &inner[..]) {
        (Some(tensors), _) => (tensors, None),
        (None, &[(key, one)]) => (
            state_dict(&pickled.dicts[one]).unwrap_or_default(),
            Some(key.to_string()),
        ),
        (None, _) => return Err(not_a_state_dict(entries, &inner, shown)),
    };
    let mut seen = HashSet::new();
    let (mut total, mut expanded) = (0usize, 0usize);
    let mut counts = Vec::with_capacity(tensors.len());
    for (name, t) in &tensors {
        if !seen.insert(name) {
            return Err(damaged(&format!("tensor `{name}` twice")));
        }
        let (count, beyond) = t.check(name, &storages)?;
        counts.push(count);
        expanded += beyond;
        if expanded > MAX_EXPANDED {
            return Err(format!(
                "tensor `{name}` is a view expanded past its storage ({count} elements), and the file's \
                 expanded views hold more than {MAX_EXPANDED} elements beyond their storages: save them \
                 whole, `.contiguous()`"
            ));
        }
        total = total
            .checked_add(count)
            .filter(|&n| n <= MAX_ELEMENTS)
            .ok_or_else(|| {
                format!(
                    "holds more than {MAX_ELEMENTS} elements, far more than a network ebmscope runs: \
                     is it the right file?"
                )
            })?;
    }
    let mut read = StateDict {
        floats: Vec::new(),
        others: Vec::new(),
        key,
    };
    for ((name, t), count) in tensors.into_iter().zip(counts) {
        let Some(dtype) = t.kind.safetensors else {
            return Err(format!(
                "tensor `{name}` is of {}, not real: ebmscope reads the weights of its networks, \
                 floating-point tensors; leave such tensors out, `{{k: v for k, v in sd.items() if \
                 v.is_floating_point()}}`",
                t.kind.dtype
            ));
        };
        match t.floats(&storages, count) {
            Some(data) => read.floats.push(Tensor {
                name: name.to_string(),
                shape: t.shape.clone(),
                data,
            }),
            None => read.others.push(OtherTensor {
                name: name.to_string(),
                dtype,
                shape: t.shape.clone(),
                bytes: t.elements(&storages, count),
            }),
        }
    }
    Ok(read)
}

/// A dict's entries as names and tensors, if it is a state dict: one or
/// more entries, each a name and a tensor.
fn state_dict(entries: &[(Value, Value)]) -> Option<Vec<(&str, &TensorRef)>> {
    if entries.is_empty() {
        return None;
    }
    entries
        .iter()
        .map(|(k, v)| match (k, v) {
            (Value::Text(name), Value::Tensor(t)) => Some((&**name, &**t)),
            _ => None,
        })
        .collect()
}

/// The keys of a dict's entries that are state dicts (a training
/// checkpoint's `"model"`), with each one's index in `pickled.dicts`.
fn inner_state_dicts<'p>(pickled: &'p Pickled, entries: &'p [(Value, Value)]) -> Vec<(&'p str, usize)> {
    // (Each dict looked at once: many keys may share one.)
    let mut looked_at = HashMap::new();
    entries
        .iter()
        .filter_map(|(k, v)| match (k, v) {
            (Value::Text(k), &Value::Dict(i)) => {
                let holds = *looked_at
                    .entry(i)
                    .or_insert_with(|| state_dict(&pickled.dicts[i]).is_some());
                holds.then_some((&**k, i))
            }
            _ => None,
        })
        .collect()
}

/// Why a dict is no state dict, and, where several state dicts are inside
/// it (`inner`: a checkpoint's `{"model": …, "ema": …}`), how to save one.
fn not_a_state_dict(entries: &[(Value, Value)], inner: &[(&str, usize)], shown: &str) -> String {
    if entries.is_empty() {
        return "holds an empty dict, no tensors".into();
    }
    let mut message = format!(
        "holds a dict of {}, not a state dict (a dict of names to tensors)",
        first_of(entries.iter().map(|(k, _)| k.short()))
    );
    // What is in the way, where most of it is names to tensors.
    let odd = entries
        .iter()
        .find(|(k, v)| !matches!((k, v), (Value::Text(_), Value::Tensor(_))));
    let numpy = |v: &Value| match v {
        Value::Array(_) | Value::Unbuilt(_) => Some("numpy.ndarray".to_string()),
        Value::Object(class) if class.starts_with("numpy.") => Some(class.to_string()),
        _ => None,
    };
    if let Some((k, v)) = odd
        && (entries.iter().any(|(_, v)| matches!(v, Value::Tensor(_)))
            || matches!(v, Value::Object(_))
            || numpy(v).is_some())
    {
        message += &match v {
            _ if let Some(class) = numpy(v) => format!(
                ": {} is a NumPy array or number (`{class}`), not a tensor: save tensors, \
                 `{{k: torch.from_numpy(v) for k, v in d.items()}}`",
                k.short()
            ),
            Value::Object(class) => format!(": {} is a pickled `{class}`, not a tensor", k.short()),
            _ => format!(": {} is not a tensor (it is of type {})", k.short(), v.kind()),
        };
    }
    // (One would have been read as the state dict.)
    if let Some((first, _)) = inner.first() {
        let stem = shown.strip_suffix(".pth").unwrap_or(shown);
        let under = first_of(inner.iter().map(|(k, _)| format!("`{k}`")));
        message += &format!(
            "; the dicts under {} hold names to tensors, and ebmscope reads a checkpoint holding one: \
             save the one you mean alone, \
             `torch.save(torch.load({}, map_location=\"cpu\")[{}], {})`",
            under,
            python_str(shown),
            python_str(first),
            python_str(&format!("{stem}-{first}.pth")),
        );
    }
    message
}

/// Each storage's bytes, by its key.
type Storages = HashMap<String, Vec<u8>>;

/// A zip: `<name>/data.pkl`, the storages as `<name>/data/<key>`.
fn read_zip(bytes: &[u8]) -> Result<(Pickled, Storages), String> {
    // The archive starts at the file's start: the zip crate's search for
    // bytes before it misreads some of PyTorch's zip64 files.
    let config = zip::read::Config {
        archive_offset: zip::read::ArchiveOffset::Known(0),
    };
    let mut zip = zip::ZipArchive::with_config(config, std::io::Cursor::new(bytes))
        .map_err(|e| format!("is a zip but not a whole one ({e}): is it the right file, and whole?"))?;
    let pickle_name = zip
        .file_names()
        .filter_map(|n| n.ok().map(|n| n.into_owned()))
        .find(|n| n.ends_with("/data.pkl") && n.matches('/').count() == 1)
        .ok_or("is a zip without a data.pkl, not a file torch.save wrote: is it the right file?")?;
    let folder = pickle_name.trim_end_matches("data.pkl").to_string();
    let mut entry = |name: &str| -> Result<Option<Vec<u8>>, String> {
        let mut file = match zip.by_name(name) {
            Ok(file) => file,
            Err(zip::result::ZipError::FileNotFound) => return Ok(None),
            Err(e) => return Err(format!("its `{name}` cannot be read ({e}): is the file whole?")),
        };
        if file.compression() != zip::CompressionMethod::Stored {
            return Err(format!(
                "its `{name}` is compressed, and torch.save stores its entries uncompressed: was the \
                 file zipped again? Save it anew with torch.save"
            ));
        }
        let mut data = Vec::new();
        file.read_to_end(&mut data)
            .map_err(|e| format!("its `{name}` cannot be read ({e}): is the file whole?"))?;
        Ok(Some(data))
    };
    if let Some(order) = entry(&format!("{folder}byteorder"))?
        && order != b"little"
    {
        return Err(big_endian());
    }
    let pickle = entry(&pickle_name)?.unwrap_or_default();
    let pickled = Unpickler::reading(&pickle, TORCH_FILE).load()?;
    let mut storages = Storages::new();
    for key in pickled.storages.keys() {
        let data = entry(&format!("{folder}data/{key}"))?.ok_or_else(|| {
            format!("has no `{folder}data/{key}`, a storage its tensors use: is the file whole?")
        })?;
        storages.insert(key.clone(), data);
    }
    Ok((pickled, storages))
}

/// The older form: pickles of the magic number, the version, the system's
/// sizes, the object and its storages' keys; then each storage, as its
/// element count (8 bytes) and its elements.
fn read_legacy(bytes: &[u8]) -> Result<(Pickled, Storages), String> {
    let mut at = 0;
    let mut next = || -> Result<Pickled, String> {
        let mut unpickler = Unpickler::reading(&bytes[at..], TORCH_FILE);
        let pickled = unpickler.load()?;
        at += unpickler.at;
        Ok(pickled)
    };
    // Another program's pickle (a data set's, say) fails here, at its first.
    let magic = next().map(|p| p.root);
    let version = next().map(|p| p.root);
    if magic != Ok(Value::Int(LEGACY_MAGIC)) || version != Ok(Value::Int(LEGACY_VERSION)) {
        return Err(
            "is a pickle, but not one torch.save wrote (it has no PyTorch magic number): \
                    is it the right file?"
                .into(),
        );
    }
    let system = next()?;
    if let Some(entries) = system.entries(&system.root)
        && entries
            .iter()
            .any(|(k, v)| k.is_text("little_endian") && *v == Value::Bool(false))
    {
        return Err(big_endian());
    }
    let object = next()?;
    let keys = next()?;
    let keys = keys
        .items(&keys.root)
        .ok_or("has no list of storages after its object: is the file whole?")?;
    let mut storages = Storages::new();
    for key in keys {
        let Value::Text(key) = key else {
            return Err("has a storage key that is not text: is it the right file?".into());
        };
        let truncated = || format!("ends inside storage `{key}`: is the file whole?");
        let size = object
            .storages
            .get(&**key)
            .ok_or_else(|| {
                format!("lists storage `{key}`, which its object never uses: is it the right file?")
            })?
            .size;
        let start = at.checked_add(8).ok_or_else(truncated)?;
        let count = bytes.get(at..start).ok_or_else(truncated)?;
        let count = u64::from_le_bytes(count.try_into().expect("8 bytes"));
        let end = usize::try_from(count)
            .ok()
            .and_then(|c| c.checked_mul(size))
            .and_then(|len| start.checked_add(len))
            .ok_or_else(truncated)?;
        storages.insert(
            key.to_string(),
            bytes.get(start..end).ok_or_else(truncated)?.to_vec(),
        );
        at = end;
    }
    Ok((object, storages))
}

fn big_endian() -> String {
    "was written on a big-endian machine; ebmscope reads little-endian files: load it there and \
     save the state dict with safetensors"
        .into()
}

/// A storage class a file names (`torch.FloatStorage`): the type of its
/// elements (as PyTorch names it), their size and their type in
/// safetensors (complex numbers have none).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct StorageType {
    pub(super) name: &'static str,
    dtype: &'static str,
    size: usize,
    safetensors: Option<Dtype>,
}

pub(super) const STORAGE_TYPES: [StorageType; 12] = [
    storage("FloatStorage", "float32", 4, Some(Dtype::F32)),
    storage("DoubleStorage", "float64", 8, Some(Dtype::F64)),
    storage("HalfStorage", "float16", 2, Some(Dtype::F16)),
    storage("BFloat16Storage", "bfloat16", 2, Some(Dtype::BF16)),
    storage("LongStorage", "int64", 8, Some(Dtype::I64)),
    storage("IntStorage", "int32", 4, Some(Dtype::I32)),
    storage("ShortStorage", "int16", 2, Some(Dtype::I16)),
    storage("CharStorage", "int8", 1, Some(Dtype::I8)),
    storage("ByteStorage", "uint8", 1, Some(Dtype::U8)),
    storage("BoolStorage", "bool", 1, Some(Dtype::BOOL)),
    storage("ComplexFloatStorage", "complex64", 8, None),
    storage("ComplexDoubleStorage", "complex128", 16, None),
];

/// PyTorch's name of the element type its files store as `dtype` in
/// safetensors, where a storage type has it.
pub(crate) fn torch_dtype_name(dtype: Dtype) -> Option<&'static str> {
    STORAGE_TYPES
        .iter()
        .find(|s| s.safetensors == Some(dtype))
        .map(|s| s.dtype)
}

const fn storage(
    name: &'static str,
    dtype: &'static str,
    size: usize,
    safetensors: Option<Dtype>,
) -> StorageType {
    StorageType {
        name,
        dtype,
        size,
        safetensors,
    }
}

/// A tensor the file rebuilds: a view of a storage, negated where PyTorch
/// saved a lazily negated view (its `neg` bit).
#[derive(Clone, Debug, PartialEq)]
pub(super) struct TensorRef {
    pub(super) storage: String,
    pub(super) kind: StorageType,
    pub(super) offset: usize,
    pub(super) shape: Vec<usize>,
    pub(super) strides: Vec<usize>,
    pub(super) negated: bool,
}

impl TensorRef {
    /// Its element count, and how many more than its storage holds (a view
    /// expanded by a stride of 0), once it is known to lie within its storage.
    fn check(&self, name: &str, storages: &Storages) -> Result<(usize, usize), String> {
        let storage = storages.get(&self.storage).ok_or_else(|| {
            format!(
                "has no storage `{}`, which tensor `{name}` uses: is the file whole?",
                self.storage
            )
        })?;
        let size = self.kind.size;
        let past_end = || format!("tensor `{name}` reaches past the end of its storage: is the file whole?");
        let count = self
            .shape
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .ok_or_else(past_end)?;
        let last = self
            .shape
            .iter()
            .zip(&self.strides)
            .try_fold(self.offset, |at, (&d, &s)| {
                at.checked_add(d.saturating_sub(1).checked_mul(s)?)
            });
        let end = last.and_then(|l| l.checked_add(1)?.checked_mul(size));
        if count > 0 && end.is_none_or(|end| end > storage.len()) {
            return Err(past_end());
        }
        Ok((count, count.saturating_sub(storage.len() / size)))
    }

    /// Its `count` elements in row-major order as f32, negated where its neg
    /// bit says, if they are floating-point (once [`TensorRef::check`]ed).
    fn floats(&self, storages: &Storages, count: usize) -> Option<Vec<f32>> {
        let mut data = floats_from_le(self.kind.safetensors?, &self.elements(storages, count))?;
        if self.negated {
            data.iter_mut().for_each(|v| *v = -*v);
        }
        Some(data)
    }

    /// The bytes of its `count` elements in row-major order, as stored (not
    /// negated), once [`TensorRef::check`] has found them within its storage.
    fn elements(&self, storages: &Storages, count: usize) -> Vec<u8> {
        let (storage, size) = (&storages[&self.storage], self.kind.size);
        let mut bytes = Vec::with_capacity(count * size);
        let mut index = vec![0; self.shape.len()];
        for _ in 0..count {
            let at = self.offset + index.iter().zip(&self.strides).map(|(i, s)| i * s).sum::<usize>();
            bytes.extend_from_slice(&storage[at * size..(at + 1) * size]);
            // The next index, the last dimension fastest.
            for d in (0..index.len()).rev() {
                index[d] += 1;
                if index[d] < self.shape[d] {
                    break;
                }
                index[d] = 0;
            }
        }
        bytes
    }
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use super::*;
    use crate::io::pickle::tests::{array_ops, text};

    /// A file in torch.save's older form, written as PyTorch writes it:
    /// a state dict of `tensors` (name, storage key, element count and
    /// stride: a 1-D view of its float storage from its start; stride 1 and
    /// the storage's count for the whole storage), the system's sizes saying
    /// `little_endian`, and `version` for the format's; then each storage
    /// of `storages` (key, f32 values).
    fn legacy_file(
        tensors: &[(&str, &str, usize, u8)],
        storages: &[(&str, Vec<f32>)],
        little_endian: bool,
        version: u16,
    ) -> Vec<u8> {
        let mut f = [&[0x80, 2, 0x8a, 10][..], &LEGACY_MAGIC.to_le_bytes()[..10], b"."].concat();
        f.extend([&[0x80, 2, b'M'][..], &version.to_le_bytes(), b"."].concat());
        f.extend(
            [
                &b"\x80\x02}"[..],
                &text("little_endian"),
                if little_endian { b"\x88" } else { b"\x89" },
                b"s.",
            ]
            .concat(),
        );
        f.extend(b"\x80\x02}(");
        for (name, key, count, stride) in tensors {
            f.extend(text(name));
            f.extend(b"ctorch._utils\n_rebuild_tensor_v2\n((");
            f.extend(text("storage"));
            f.extend(b"ctorch\nFloatStorage\n");
            f.extend(text(key));
            f.extend(text("cpu"));
            f.extend(b"J");
            f.extend((*count as u32).to_le_bytes());
            f.extend(b"NtQK\x00J");
            f.extend((*count as u32).to_le_bytes());
            f.extend([b'\x85', b'K', *stride, b'\x85', b'\x89', b')', b't', b'R']);
        }
        f.extend(b"u.\x80\x02](");
        for (key, _) in storages {
            f.extend(text(key));
        }
        f.extend(b"e.");
        for (_, values) in storages {
            f.extend((values.len() as u64).to_le_bytes());
            f.extend(values.iter().flat_map(|v| v.to_le_bytes()));
        }
        f
    }

    /// The older form read, and what its checks refuse: a name given
    /// twice, more than 2²⁶ elements in all, a big-endian machine's file,
    /// another version of the format, a storage no tensor uses.
    #[test]
    fn the_older_form_is_read_and_checked() {
        let storage = vec![("k0", vec![1.0, -2.0, 3.0])];
        let file = legacy_file(&[("w", "k0", 3, 1)], &storage, true, 1001);
        assert!(is_torch_file(&file));
        let tensors = read_state_dict(&file, "f.pth").unwrap().floats;
        assert_eq!(tensors.len(), 1);
        assert_eq!(
            (tensors[0].name.as_str(), tensors[0].data.as_slice()),
            ("w", &[1.0, -2.0, 3.0][..])
        );

        let refusal = |file: Vec<u8>| read_state_dict(&file, "f.pth").unwrap_err();
        let twice = legacy_file(&[("w", "k0", 3, 1), ("w", "k0", 3, 1)], &storage, true, 1001);
        assert!(refusal(twice).contains("tensor `w` twice"));
        let big = legacy_file(&[("w", "k0", 3, 1)], &storage, false, 1001);
        assert!(refusal(big).contains("big-endian"));
        let other = legacy_file(&[("w", "k0", 3, 1)], &storage, true, 1000);
        assert!(refusal(other).contains("not one torch.save wrote"));
        let unused = vec![("k0", vec![1.0, -2.0, 3.0]), ("k1", vec![0.0])];
        let err = refusal(legacy_file(&[("w", "k0", 3, 1)], &unused, true, 1001));
        assert!(
            err.contains("lists storage `k1`, which its object never uses"),
            "{err}"
        );
        // 65 views of one storage of 2²⁰: more than 2²⁶ elements in all.
        let n = 1 << 20;
        let names: Vec<String> = (0..65).map(|i| format!("w{i}")).collect();
        let views: Vec<_> = names.iter().map(|name| (name.as_str(), "k0", n, 1)).collect();
        let err = refusal(legacy_file(&views, &[("k0", vec![0.0; n])], true, 1001));
        assert!(err.contains("holds more than 67108864 elements"), "{err}");
        // A view expanded by a stride of 0 reads as PyTorch gives it, up to
        // 2²⁰ elements past what the file holds.
        let one = [("k0", vec![5.0])];
        let tensors = read_state_dict(&legacy_file(&[("e", "k0", 3, 0)], &one, true, 1001), "f.pth")
            .unwrap()
            .floats;
        assert_eq!(tensors[0].data, [5.0; 3]);
        let wide = legacy_file(&[("e", "k0", (1 << 20) + 2, 0)], &one, true, 1001);
        assert!(refusal(wide).contains("expanded views hold more than 1048576 elements"));
    }

    /// Another program's pickle (CIFAR-10's python batches are pickles) is
    /// no torch.save file, by its first bytes and by its first pickle.
    #[test]
    fn a_pickle_torch_did_not_write_is_said_to_be_none_of_its() {
        let batch = b"\x80\x02}q\x00X\x01\x00\x00\x00aK\x01s.";
        assert!(!is_torch_file(batch));
        let err = read_state_dict(batch, "batch").unwrap_err();
        assert!(err.contains("not one torch.save wrote"), "{err}");
        let legacy = [&[0x80, 2, 0x8a, 10][..], &LEGACY_MAGIC.to_le_bytes()[..10]].concat();
        assert!(is_torch_file(&legacy));
    }

    /// A view past its storage's end is refused before any memory is taken
    /// for it; a negated view reads negated.
    #[test]
    fn a_tensor_past_its_storage_is_refused() {
        let floats: Vec<u8> = (0..6).flat_map(|i| (i as f32).to_le_bytes()).collect();
        let storages = Storages::from([("0".to_string(), floats)]);
        let view = |offset, shape: Vec<usize>, strides| TensorRef {
            storage: "0".into(),
            kind: STORAGE_TYPES[0],
            offset,
            shape,
            strides,
            negated: false,
        };
        let read = |t: TensorRef| {
            let (count, _) = t.check("w", &storages)?;
            Ok::<_, String>(t.floats(&storages, count).expect("f32"))
        };
        assert_eq!(read(view(4, vec![2], vec![1])), Ok(vec![4.0, 5.0]));
        assert_eq!(
            read(view(0, vec![2, 3], vec![1, 2])),
            Ok(vec![0.0, 2.0, 4.0, 1.0, 3.0, 5.0])
        );
        let negated = TensorRef {
            negated: true,
            ..view(1, vec![2], vec![2])
        };
        assert_eq!(read(negated), Ok(vec![-1.0, -3.0]));
        assert!(
            read(view(5, vec![2], vec![1]))
                .unwrap_err()
                .contains("past the end")
        );
        assert!(
            read(view(0, vec![2, 3], vec![3, 2]))
                .unwrap_err()
                .contains("past the end")
        );
        // Expanded by a stride of 0 past what its storage holds.
        let expanded = read(view(0, vec![3, 2], vec![0, 1])).unwrap();
        assert_eq!(expanded, [0.0, 1.0, 0.0, 1.0, 0.0, 1.0]);
        let gone = TensorRef {
            storage: "1".into(),
            ..view(0, vec![1], vec![1])
        };
        assert!(read(gone).unwrap_err().contains("has no storage `1`"));
    }

    /// A dict of tensors but for one entry names that entry.
    #[test]
    fn a_dict_with_one_odd_entry_names_it() {
        let tensor = TensorRef {
            storage: "0".into(),
            kind: STORAGE_TYPES[0],
            offset: 0,
            shape: vec![1],
            strides: vec![1],
            negated: false,
        };
        let entries = [
            (Value::Text("w".into()), Value::Tensor(Rc::new(tensor))),
            (Value::Text("step".into()), Value::Int(3)),
        ];
        let message = not_a_state_dict(&entries, &[], "f.pth");
        assert!(
            message.ends_with("`step` is not a tensor (it is of type int)"),
            "{message}"
        );
    }

    /// A checkpoint holding a NumPy array beside its state dict (a random
    /// generator's state, say) is read as the state dict, the array passed
    /// over as other objects are; so is one whose array is of objects.
    #[test]
    fn a_numpy_array_beside_a_state_dict_is_passed_over() {
        let storage = vec![("k0", vec![1.0, -2.0, 3.0])];
        for list in [false, true] {
            let file = legacy_file(&[("w", "k0", 3, 1)], &storage, true, 1001);
            let at = |needle: &[u8]| file.windows(needle.len()).position(|w| w == needle).unwrap();
            let (open, close) = (at(b"\x80\x02}("), at(b"u.\x80\x02]("));
            let nested = [
                &file[..open + 4],
                &text("model"),
                b"}(",
                &file[open + 4..close],
                b"u",
                &text("rng"),
                &array_ops(&[2], "u1", "|", b"ab", list),
                &file[close..],
            ]
            .concat();
            let sd = read_state_dict(&nested, "f.pth").unwrap_or_else(|e| panic!("{e}"));
            assert_eq!((sd.floats.len(), sd.key.as_deref()), (1, Some("model")));
        }
    }
}
