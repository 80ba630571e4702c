use std::io::Write;
use std::path::Path;

use safetensors::{Dtype, SafeTensors, tensor::TensorView};

use super::torch_file::{self, OtherTensor};
use crate::{Error, Result};

/// A named f32 tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// Whether a file name is that of a temporary file [`write_atomically`]
/// writes (`.<name>.tmp-<process id>`), which a process killed before its
/// rename leaves behind.
pub fn is_atomic_temporary(name: &str) -> bool {
    name.starts_with('.')
        && name.rsplit_once(".tmp-").is_some_and(|(stem, pid)| {
            stem.len() > 1 && !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit())
        })
}

/// Write `bytes` to `path` through a temporary file in the same folder and a
/// rename, so a crash never leaves a half-written file in place of a good one.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| Error::file(path, "not a file path"))?;
    let tmp = dir.join(format!(".{}.tmp-{}", name.to_string_lossy(), std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        super::rename(&tmp, path)?;
        // The rename outlasts a power cut once the folder is synced too
        // (where a folder opens as a file: not on Windows).
        if let Ok(folder) = std::fs::File::open(dir) {
            let _ = folder.sync_all();
        }
        Ok(())
    };
    write().map_err(|e| {
        let _ = super::remove_file(&tmp);
        Error::io(path, e)
    })
}

/// Save tensors as one safetensors file (f32, little-endian), atomically.
pub fn write_tensors(path: &Path, tensors: &[Tensor]) -> Result<()> {
    write_tensors_with_metadata(path, tensors, None)
}

/// The `__metadata__` entry every safetensors file ebmscope writes holds:
/// what tells its own earlier outputs (weights, energies), which it writes
/// again, from a file PyTorch wrote with the same tensors, which it never
/// writes over.
pub const WRITTEN_BY: (&str, &str) = ("written_by", "ebmscope");

/// As [`write_tensors`], with string metadata in the header's
/// `__metadata__` (and [`WRITTEN_BY`]).
pub fn write_tensors_with_metadata(
    path: &Path,
    tensors: &[Tensor],
    metadata: Option<std::collections::HashMap<String, String>>,
) -> Result<()> {
    let mut metadata = metadata.unwrap_or_default();
    metadata.insert(WRITTEN_BY.0.to_string(), WRITTEN_BY.1.to_string());
    metadata.insert(CRC_KEY.to_string(), tensors_crc(tensors));
    metadata.insert(METADATA_CRC_KEY.to_string(), metadata_crc(&metadata));
    write_atomically(path, &serialize(path, tensors, &[], Some(metadata))?)
}

/// The metadata key of the CRC-32 of its tensors ([`tensors_crc`]) that
/// every safetensors file ebmscope writes holds (checkpoints since they
/// first did; weights and energies since 0.1.0's later builds).
const CRC_KEY: &str = "crc32";

/// The metadata key of the CRC-32 of the other metadata entries
/// ([`metadata_crc`]): a checkpoint's settings and iteration are as much
/// its state as its tensors (files since 0.1.0's latest builds).
const METADATA_CRC_KEY: &str = "crc32_metadata";

/// A CRC-32 of metadata entries but [`METADATA_CRC_KEY`]'s, in key order,
/// each key and value preceded by its length (so that no two sets of
/// entries run together alike), in hex.
fn metadata_crc(metadata: &std::collections::HashMap<String, String>) -> String {
    let mut entries: Vec<(&String, &String)> = metadata
        .iter()
        .filter(|(k, _)| k.as_str() != METADATA_CRC_KEY)
        .collect();
    entries.sort();
    let mut crc = crc32fast::Hasher::new();
    for (k, v) in entries {
        for s in [k, v] {
            crc.update(&(s.len() as u64).to_le_bytes());
            crc.update(s.as_bytes());
        }
    }
    format!("{:08x}", crc.finalize())
}

/// A CRC-32 of tensors' names, shapes and values, in name order (as a
/// file lists them or not), in hex: what reading a file back checks
/// ([`refuse_damaged`]), so that a bit flipped since the save (a finite value
/// still) is caught.
fn tensors_crc(tensors: &[Tensor]) -> String {
    let mut sorted: Vec<&Tensor> = tensors.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let mut crc = crc32fast::Hasher::new();
    for t in sorted {
        crc.update(t.name.as_bytes());
        for d in &t.shape {
            crc.update(&(*d as u64).to_le_bytes());
        }
        // (The values as the file stores them, little-endian, whatever the
        // machine: a file moves between machines.)
        if cfg!(target_endian = "little") {
            crc.update(bytemuck::cast_slice(&t.data));
        } else {
            crc.update(&t.data.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>());
        }
    }
    format!("{:08x}", crc.finalize())
}

/// Refuse the file at `path` where its `tensors` (all of them, as
/// [`read_all`] gives them) are not those its `metadata`'s CRC-32 was made
/// of, or its other metadata not what the metadata's own CRC-32 was made
/// of: damaged (or edited) since it was written; `then` says what to use
/// instead. (Files without them, PyTorch's and older releases', pass.)
pub fn refuse_damaged(
    path: &Path,
    tensors: &[Tensor],
    metadata: &std::collections::HashMap<String, String>,
    then: &str,
) -> Result<()> {
    if metadata
        .get(CRC_KEY)
        .is_some_and(|crc| *crc != tensors_crc(tensors))
    {
        return Err(Error::file(
            path,
            format!(
                "its tensors are not those ebmscope saved (their CRC-32 differs): the file was damaged \
                 since, by a disk or a copy, say; {then}"
            ),
        ));
    }
    refuse_edited_metadata(path, metadata, then)
}

/// Refuse the file at `path` whose `metadata` is not what its own CRC-32
/// was made of: edited or damaged since it was written; `then` says what
/// to do instead. (Its header alone is enough: a checkpoint's settings
/// read without its tensors are checked so too.)
pub fn refuse_edited_metadata(
    path: &Path,
    metadata: &std::collections::HashMap<String, String>,
    then: &str,
) -> Result<()> {
    if metadata
        .get(METADATA_CRC_KEY)
        .is_some_and(|crc| *crc != metadata_crc(metadata))
    {
        return Err(Error::file(
            path,
            format!(
                "its metadata (the settings and state beside the tensors) is not what ebmscope saved \
                 (its CRC-32 differs): the file was edited or damaged since (a setting is changed on the \
                 command line, with --set, not in the file); {then}"
            ),
        ));
    }
    Ok(())
}

/// Whether ebmscope wrote the safetensors file at `path` ([`WRITTEN_BY`]).
pub fn written_by_ebmscope(path: &Path) -> bool {
    read_metadata(path).is_ok_and(|m| m.get(WRITTEN_BY.0).map(String::as_str) == Some(WRITTEN_BY.1))
}

/// Tensors as a safetensors file's bytes (f32, and `others` in their own
/// types); `path` names the file in errors.
fn serialize(
    path: &Path,
    tensors: &[Tensor],
    others: &[OtherTensor],
    metadata: Option<std::collections::HashMap<String, String>>,
) -> Result<Vec<u8>> {
    let floats = tensors
        .iter()
        .map(|t| (&t.name, Dtype::F32, &t.shape, bytemuck::cast_slice(&t.data)));
    let others = others.iter().map(|t| (&t.name, t.dtype, &t.shape, &t.bytes[..]));
    let views = floats
        .chain(others)
        .map(|(name, dtype, shape, bytes)| {
            TensorView::new(dtype, shape.clone(), bytes)
                .map(|v| (name.clone(), v))
                .map_err(|e| Error::file(path, format!("tensor `{name}`: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    safetensors::serialize(views, metadata).map_err(|e| Error::file(path, e.to_string()))
}

/// Decode one tensor view to f32 (from F32, F64, F16 or BF16).
pub(crate) fn to_f32(path: &Path, name: &str, view: &TensorView) -> Result<Vec<f32>> {
    floats_from_le(view.dtype(), view.data()).ok_or_else(|| {
        // (Bytes are most likely pixels in [0, 255].)
        let pixels = if view.dtype() == Dtype::U8 {
            format!(" (pixels in [0, 255]: {name}.float() / 127.5 - 1 puts them in [−1, 1], as the nets take them)")
        } else {
            String::new()
        };
        Error::file(
            path,
            format!(
                "tensor `{name}` is of {}; ebmscope reads floating-point tensors (float32, float64, float16, \
                 bfloat16): convert it with .float(){pixels}",
                dtype_name(view.dtype())
            ),
        )
    })
}

/// Little-endian elements of a floating-point type (F32, F64, F16 or BF16)
/// as f32; None for any other type.
pub(crate) fn floats_from_le(dtype: Dtype, data: &[u8]) -> Option<Vec<f32>> {
    let out = match dtype {
        Dtype::F32 => data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        Dtype::F64 => data
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f32)
            .collect(),
        Dtype::BF16 => data
            .chunks_exact(2)
            .map(|c| f32::from_bits(u32::from(u16::from_le_bytes([c[0], c[1]])) << 16))
            .collect(),
        Dtype::F16 => data
            .chunks_exact(2)
            .map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]])))
            .collect(),
        _ => return None,
    };
    Some(out)
}

/// A tensor's element type as PyTorch names it (`int64`, not I64), for
/// messages: from the storage types torch.save's files name, else
/// safetensors' own name.
pub(crate) fn dtype_name(dtype: Dtype) -> String {
    torch_file::torch_dtype_name(dtype).map_or_else(|| format!("{dtype:?}").to_lowercase(), String::from)
}

/// Whether ebmscope reads a tensor of this type (as [`floats_from_le`] does).
pub(crate) fn is_floating_point(dtype: Dtype) -> bool {
    floats_from_le(dtype, &[]).is_some()
}

fn f16_to_f32(h: u16) -> f32 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((h >> 10) & 0x1f);
    let frac = f32::from(h & 0x3ff);
    match exp {
        0 => sign * frac * 2f32.powi(-24),
        31 if frac == 0.0 => sign * f32::INFINITY,
        31 => f32::NAN,
        e => sign * (1.0 + frac / 1024.0) * 2f32.powi(e - 15),
    }
}

/// A file's bytes as a safetensors file's: a PyTorch file's (torch.save's
/// `.pth`) state dict is read and laid out as one, in f32.
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    // A safetensors header's length could start as a pickle does: its own
    // header decides first.
    if SafeTensors::read_metadata(&bytes).is_err() && torch_file::is_torch_file(&bytes) {
        let shown = path.display().to_string();
        let sd = torch_file::read_state_dict(&bytes, &shown).map_err(|e| Error::file(path, e))?;
        // (Where it came from, for the lines messages give: see state_dict_in_python.)
        let source = std::collections::HashMap::from([(TORCH_KEY.to_string(), sd.key.unwrap_or_default())]);
        return serialize(path, &sd.floats, &sd.others, Some(source));
    }
    Ok(bytes)
}

/// The metadata key a `.pth` read as safetensors ([`read_file`]) carries:
/// the key of its checkpoint's dict the state dict was under ("" for a
/// state dict saved alone).
const TORCH_KEY: &str = "ebmscope.torch_key";

/// How Python reaches the state dict in the file at `path`, given the bytes
/// [`read_file`] made of it, and how it saves one of that kind (the call
/// and a file name): for the lines messages give
/// (`torch.load("F")["model"]`, `load_file("F")`).
pub(crate) fn state_dict_in_python(path: &Path, bytes: &[u8]) -> (String, &'static str, &'static str) {
    let shown = python_str(&path.display().to_string());
    let key = SafeTensors::read_metadata(bytes)
        .ok()
        .and_then(|(_, m)| m.metadata().as_ref()?.get(TORCH_KEY).cloned());
    let load = format!("torch.load({shown}, map_location=\"cpu\")");
    match key.as_deref() {
        Some("") => (load, "torch.save", "W.pth"),
        Some(k) => (format!("{load}[{}]", python_str(k)), "torch.save", "W.pth"),
        None => (format!("load_file({shown})"), "save_file", "W.safetensors"),
    }
}

/// `s` as a Python string literal, for the lines messages give: a Windows
/// path's backslashes (`"C:\Users"` would be an escape, or an error) and
/// quotes in a key escaped.
pub(crate) fn python_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub(crate) fn parse<'a>(path: &Path, bytes: &'a [u8]) -> Result<SafeTensors<'a>> {
    SafeTensors::deserialize(bytes).map_err(|e| {
        Error::file(
            path,
            if bytes.starts_with(b"\x93NUMPY") {
                "is a NumPy .npy file; ebmscope reads tensors from safetensors (or torch.save) files: \
                 `save_file({\"x\": torch.from_numpy(np.load(F)).float()}, \"x.safetensors\")`"
                    .to_string()
            } else {
                format!(
                    "not a valid safetensors file ({e}), nor a PyTorch one (torch.save's): is it the right \
                     file, and whole?"
                )
            },
        )
    })
}

/// Read tensor `name` from a safetensors file as f32.
pub fn read_tensor(path: &Path, name: &str) -> Result<Tensor> {
    let bytes = read_file(path)?;
    let st = parse(path, &bytes)?;
    let view = st.tensor(name).map_err(|_| {
        let mut names = st.names();
        names.sort();
        Error::file(
            path,
            format!("has no tensor `{name}` (it holds: {})", names.join(", ")),
        )
    })?;
    Ok(Tensor {
        name: name.to_string(),
        shape: view.shape().to_vec(),
        data: to_f32(path, name, &view)?,
    })
}

/// The names of the tensors in the safetensors file at `path`, sorted (its
/// header alone read); none for a file that is no safetensors file.
pub fn tensor_names(path: &Path) -> Vec<String> {
    let mut names: Vec<String> = header(path)
        .as_ref()
        .and_then(|h| h.as_object())
        .map(|h| h.keys().filter(|k| *k != "__metadata__").cloned().collect())
        .unwrap_or_default();
    names.sort();
    names
}

/// Whether `path` is a safetensors file with a checkpoint's metadata
/// (`config`): what no other output may be written over. Reads the header
/// alone (a safetensors header is at most 100 MB).
pub fn is_checkpoint(path: &Path) -> bool {
    holds_config(path) == Some(true)
}

/// Whether `path` is a safetensors file without a checkpoint's metadata, or
/// a zip or torch.save's pickle: a state dict, weights alone (a run's
/// `weights/` file, or a PyTorch model's), to be read as one (a zip that
/// is none is refused then). Reads the first bytes alone.
pub fn holds_weights_alone(path: &Path) -> bool {
    holds_config(path) == Some(false)
}

/// Whether the safetensors file at `path` has a checkpoint's `config`
/// metadata; None if it is no safetensors file.
fn holds_config(path: &Path) -> Option<bool> {
    header(path).map(|h| h.get("__metadata__").and_then(|m| m.get("config")).is_some())
}

/// The metadata of the safetensors file at `path` (its header alone read).
pub fn read_metadata(path: &Path) -> Result<std::collections::HashMap<String, String>> {
    let header = header(path).ok_or_else(|| {
        Error::file(
            path,
            "not a valid safetensors file: is it the right file, and whole?",
        )
    })?;
    let strings = |m: &serde_json::Map<String, serde_json::Value>| {
        m.iter()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
            .collect()
    };
    Ok(header
        .get("__metadata__")
        .and_then(|m| m.as_object())
        .map(strings)
        .unwrap_or_default())
}

/// The JSON header of a safetensors file, or None if it is not one; a
/// PyTorch file's (weights alone, to be read as a state dict) is empty.
fn header(path: &Path) -> Option<serde_json::Value> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).ok()?;
    let mut len = [0u8; 8];
    file.read_exact(&mut len).ok()?;
    let len = u64::from_le_bytes(len);
    let json = (len <= 100_000_000)
        .then(|| {
            let mut header = vec![0; len as usize];
            file.read_exact(&mut header).ok()?;
            serde_json::from_slice::<serde_json::Value>(&header).ok()
        })
        .flatten()
        .filter(|h| h.is_object());
    json.or_else(|| {
        // (A torch.save file says so in its first 23 bytes at most.)
        let mut start = Vec::new();
        std::fs::File::open(path)
            .ok()?
            .take(32)
            .read_to_end(&mut start)
            .ok()?;
        torch_file::is_torch_file(&start).then(|| serde_json::json!({}))
    })
}

/// Every tensor of a safetensors file as f32, with the header's metadata.
pub fn read_all(path: &Path) -> Result<(Vec<Tensor>, std::collections::HashMap<String, String>)> {
    let bytes = read_file(path)?;
    let st = parse(path, &bytes)?;
    Ok((tensors_of(path, &st)?, metadata_of(path, &bytes)?))
}

/// Every tensor of `st` (read from `path`) as f32.
pub(crate) fn tensors_of(path: &Path, st: &SafeTensors) -> Result<Vec<Tensor>> {
    st.tensors()
        .into_iter()
        .map(|(name, view)| {
            Ok(Tensor {
                data: to_f32(path, &name, &view)?,
                shape: view.shape().to_vec(),
                name,
            })
        })
        .collect()
}

/// The `__metadata__` of a safetensors file's `bytes` (read from `path`).
pub(crate) fn metadata_of(path: &Path, bytes: &[u8]) -> Result<std::collections::HashMap<String, String>> {
    let (_, meta) = SafeTensors::read_metadata(bytes).map_err(|e| Error::file(path, e.to_string()))?;
    Ok(meta.metadata().clone().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::{f16_to_f32, python_str};

    /// Windows paths and keys with quotes as Python reads them.
    #[test]
    fn python_strings_are_escaped() {
        assert_eq!(python_str(r"C:\Users\me\w.pth"), r#""C:\\Users\\me\\w.pth""#);
        assert_eq!(python_str("a \"b\"\n\u{1b}é"), r#""a \"b\"\n\u001bé""#);
    }

    #[test]
    fn f16_decodes_known_values() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x3555), 0.333_251_95);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
    }
}
