//! PyTorch's own files: a state dict saved with `torch.save` (a `.pth`),
//! read without running any of its code. The file is a pickle (Python's
//! serialisation: a small stack machine) naming the tensors, with their
//! bytes beside it: in a zip since PyTorch 1.6, after the pickle before.
//! Only what a state dict's pickle holds is read — dicts, tuples, lists,
//! numbers, strings and tensors rebuilt by `torch._utils` — and any other
//! class or function it names is refused, as `torch.load(weights_only=True)`
//! refuses it.

use std::collections::HashMap;
use std::io::Read;

use safetensors::Dtype;

use super::tensors::{Tensor, floats_from_le};

/// torch.save's zip (a zip's local file header).
const ZIP_MAGIC: &[u8] = b"PK\x03\x04";
/// The older form's first pickle holds this number, the second this version.
const LEGACY_MAGIC: i128 = 0x1950a86a20f9469cfc6c;
const LEGACY_VERSION: i128 = 1001;

/// Whether `bytes` start as torch.save's files do: a zip, or a pickle
/// (protocol 2 to 5: 0x80 and the protocol's number).
pub(crate) fn is_torch_file(bytes: &[u8]) -> bool {
    bytes.starts_with(ZIP_MAGIC) || matches!(bytes, [0x80, 2..=5, ..])
}

/// The tensors of the state dict (names to tensors) that a torch.save file
/// holds, as f32; Err says what the file holds instead and what to do.
pub(crate) fn read_state_dict(bytes: &[u8], file_name: &str) -> Result<Vec<Tensor>, String> {
    let (root, storages) = if bytes.starts_with(ZIP_MAGIC) {
        read_zip(bytes)?
    } else {
        read_legacy(bytes)?
    };
    let Value::Dict(entries) = root else {
        return Err(format!(
            "holds a {}, not a state dict (a dict of names to tensors): save one, \
             `torch.save(model.state_dict(), \"W.pth\")`",
            root.kind()
        ));
    };
    if !is_state_dict(&entries) {
        return Err(not_a_state_dict(&entries, file_name));
    }
    entries
        .iter()
        .map(|(k, v)| match (k, v) {
            (Value::Text(name), Value::Tensor(t)) => t.to_f32(name, &storages),
            _ => unreachable!("checked above: names to tensors"),
        })
        .collect()
}

/// Whether a dict's entries are names to tensors, one or more.
fn is_state_dict(entries: &[(Value, Value)]) -> bool {
    !entries.is_empty()
        && entries
            .iter()
            .all(|(k, v)| matches!((k, v), (Value::Text(_), Value::Tensor(_))))
}

/// Why a dict is no state dict, and, where state dicts are inside it
/// (a training checkpoint's `{"model": …, "optimizer": …}`), how to save one.
fn not_a_state_dict(entries: &[(Value, Value)], file_name: &str) -> String {
    if entries.is_empty() {
        return "holds an empty dict, no tensors".into();
    }
    let keys: Vec<String> = entries.iter().map(|(k, _)| k.short()).collect();
    let inner: Vec<&str> = entries
        .iter()
        .filter_map(|(k, v)| match (k, v) {
            (Value::Text(k), Value::Dict(d)) if is_state_dict(d) => Some(k.as_str()),
            _ => None,
        })
        .collect();
    let mut message = format!(
        "holds a dict of {}, not a state dict (a dict of names to tensors)",
        keys.join(", ")
    );
    if let Some(first) = inner.first() {
        let stem = file_name.strip_suffix(".pth").unwrap_or(file_name);
        message += &format!(
            "; the dict{} under {} hold{} names to tensors: save the model's alone, \
             `torch.save(torch.load(\"{file_name}\", map_location=\"cpu\")[\"{first}\"], \"{stem}-{first}.pth\")`",
            if inner.len() > 1 { "s" } else { "" },
            inner
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", "),
            if inner.len() > 1 { "" } else { "s" },
        );
    }
    message
}

/// Each storage's bytes, by its key.
type Storages = HashMap<String, Vec<u8>>;

/// A zip: `<name>/data.pkl`, the storages as `<name>/data/<key>`.
fn read_zip(bytes: &[u8]) -> Result<(Value, Storages), String> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes))
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
            Err(e) => return Err(format!("its `{name}` cannot be read ({e})")),
        };
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
    let (root, seen) = Unpickler::new(&pickle).load()?;
    let mut storages = Storages::new();
    for key in seen.into_keys() {
        let data = entry(&format!("{folder}data/{key}"))?.ok_or_else(|| {
            format!("has no `{folder}data/{key}`, a storage its tensors use: is the file whole?")
        })?;
        storages.insert(key, data);
    }
    Ok((root, storages))
}

/// The older form: pickles of the magic number, the version, the system's
/// sizes, the object and its storages' keys; then each storage, as its
/// element count (8 bytes) and its elements.
fn read_legacy(bytes: &[u8]) -> Result<(Value, Storages), String> {
    let mut at = 0;
    let mut next = || -> Result<(Value, HashMap<String, StorageType>), String> {
        let mut unpickler = Unpickler::new(&bytes[at..]);
        let value = unpickler.load()?;
        at += unpickler.at;
        Ok(value)
    };
    // Another program's pickle (a data set's, say) fails here, at its first.
    let magic = next().map(|(v, _)| v);
    let version = next().map(|(v, _)| v);
    if magic != Ok(Value::Int(LEGACY_MAGIC)) || version != Ok(Value::Int(LEGACY_VERSION)) {
        return Err(
            "is a pickle, but not one torch.save wrote (it has no PyTorch magic number): \
                    is it the right file?"
                .into(),
        );
    }
    let (system, _) = next()?;
    if let Value::Dict(entries) = &system
        && entries
            .iter()
            .any(|(k, v)| k.is_text("little_endian") && matches!(v, Value::Bool(false)))
    {
        return Err(big_endian());
    }
    let (root, seen) = next()?;
    let (keys, _) = next()?;
    let Value::List(keys) = keys else {
        return Err("has no list of storages after its object: is the file whole?".into());
    };
    let mut storages = Storages::new();
    for key in keys {
        let Value::Text(key) = key else {
            return Err("has a storage key that is not text: is it the right file?".into());
        };
        let truncated = || format!("ends inside storage `{key}`: is the file whole?");
        let count = bytes.get(at..at + 8).ok_or_else(truncated)?;
        let count = u64::from_le_bytes(count.try_into().expect("8 bytes"));
        let size = seen
            .get(&key)
            .ok_or_else(|| {
                format!("lists storage `{key}`, which its object never uses: is it the right file?")
            })?
            .size;
        let len = usize::try_from(count)
            .ok()
            .and_then(|c| c.checked_mul(size))
            .ok_or_else(truncated)?;
        let data = bytes.get(at + 8..at + 8 + len).ok_or_else(truncated)?;
        storages.insert(key, data.to_vec());
        at += 8 + len;
    }
    Ok((root, storages))
}

fn big_endian() -> String {
    "was written on a big-endian machine; ebmscope reads little-endian files: load it there and \
     save the state dict with safetensors"
        .into()
}

/// A storage class a file names (`torch.FloatStorage`): its element's size
/// and, for the floating-point ones ebmscope reads, its type.
#[derive(Clone, Copy, Debug, PartialEq)]
struct StorageType {
    name: &'static str,
    size: usize,
    float: Option<Dtype>,
}

const STORAGE_TYPES: [StorageType; 12] = [
    storage("FloatStorage", 4, Some(Dtype::F32)),
    storage("DoubleStorage", 8, Some(Dtype::F64)),
    storage("HalfStorage", 2, Some(Dtype::F16)),
    storage("BFloat16Storage", 2, Some(Dtype::BF16)),
    storage("LongStorage", 8, None),
    storage("IntStorage", 4, None),
    storage("ShortStorage", 2, None),
    storage("CharStorage", 1, None),
    storage("ByteStorage", 1, None),
    storage("BoolStorage", 1, None),
    storage("ComplexFloatStorage", 8, None),
    storage("ComplexDoubleStorage", 16, None),
];

const fn storage(name: &'static str, size: usize, float: Option<Dtype>) -> StorageType {
    StorageType { name, size, float }
}

/// The most elements a tensor read may have (2³⁰: 4 GiB in f32).
const MAX_ELEMENTS: usize = 1 << 30;

/// A tensor the file rebuilds: a view of a storage.
#[derive(Clone, Debug, PartialEq)]
struct TensorRef {
    storage: String,
    kind: StorageType,
    offset: usize,
    shape: Vec<usize>,
    strides: Vec<usize>,
}

impl TensorRef {
    /// Its elements in row-major order, as f32.
    fn to_f32(&self, name: &str, storages: &Storages) -> Result<Tensor, String> {
        let Some(dtype) = self.kind.float else {
            return Err(format!(
                "tensor `{name}` is of {} (not floating-point); ebmscope reads state dicts of \
                 floating-point tensors (float, double, half, bfloat16): leave it out, or convert it with .float()",
                self.kind.name
            ));
        };
        let storage = &storages[&self.storage];
        let size = self.kind.size;
        let past_end = || format!("tensor `{name}` reaches past the end of its storage: is the file whole?");
        // Its last element within the storage, and its size that of a network's
        // tensor (a view's strides may be 0), before any memory is taken.
        let count = self.shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        let last = self
            .shape
            .iter()
            .zip(&self.strides)
            .try_fold(self.offset, |at, (&d, &s)| {
                at.checked_add(d.saturating_sub(1).checked_mul(s)?)
            });
        let Some(count) = count.filter(|&n| n <= MAX_ELEMENTS) else {
            return Err(format!(
                "tensor `{name}` has more elements than a network ebmscope runs has \
                 ({MAX_ELEMENTS} at most): is it the right file?"
            ));
        };
        let end = last.and_then(|l| l.checked_add(1)?.checked_mul(size));
        if count > 0 && end.is_none_or(|end| end > storage.len()) {
            return Err(past_end());
        }
        let mut bytes = Vec::with_capacity(count * size);
        let mut index = vec![0; self.shape.len()];
        for _ in 0..count {
            let at = self.offset + index.iter().zip(&self.strides).map(|(i, s)| i * s).sum::<usize>();
            let element = storage.get(at * size..(at + 1) * size).ok_or_else(past_end)?;
            bytes.extend_from_slice(element);
            // The next index, the last dimension fastest.
            for d in (0..index.len()).rev() {
                index[d] += 1;
                if index[d] < self.shape[d] {
                    break;
                }
                index[d] = 0;
            }
        }
        Ok(Tensor {
            name: name.to_string(),
            shape: self.shape.clone(),
            data: floats_from_le(dtype, &bytes).expect("a floating-point storage type"),
        })
    }
}

/// The functions and classes a state dict's pickle calls, the only ones read.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Global {
    OrderedDict,
    /// `torch._utils._rebuild_tensor` (before PyTorch 0.4) and `_v2`.
    RebuildTensor,
    /// `torch._utils._rebuild_parameter` (and `_with_state`): its tensor.
    RebuildParameter,
    Storage(StorageType),
}

impl Global {
    fn find(module: &str, name: &str) -> Result<Global, String> {
        if module == "torch"
            && let Some(storage) = STORAGE_TYPES.iter().find(|s| s.name == name)
        {
            return Ok(Global::Storage(*storage));
        }
        Ok(match (module, name) {
            ("collections", "OrderedDict") => Global::OrderedDict,
            ("torch._utils", "_rebuild_tensor" | "_rebuild_tensor_v2") => Global::RebuildTensor,
            ("torch._utils", "_rebuild_parameter" | "_rebuild_parameter_with_state") => {
                Global::RebuildParameter
            }
            // PyTorch's own, but not of a state dict of floating-point
            // tensors (`_rebuild_tensor_v3` rebuilds other types, say).
            _ if module.starts_with("torch") && !module.starts_with("torch.nn") => {
                return Err(format!(
                    "holds a pickled `{module}.{name}`, which ebmscope does not read: it reads state \
                     dicts of floating-point tensors, `torch.save({{k: v.float() for k, v in \
                     model.state_dict().items()}}, \"W.pth\")`"
                ));
            }
            _ => {
                return Err(format!(
                    "holds a pickled `{module}.{name}`, not a state dict alone (a whole model, \
                     saved with torch.save(model)?); ebmscope reads state dicts, which run no code \
                     when read: save one, `torch.save(model.state_dict(), \"W.pth\")`"
                ));
            }
        })
    }
}

/// A value on the pickle machine's stack. Dicts and lists are values, not
/// shared objects: a state dict's pickle refers back (its memo) only to
/// names, classes, storages and tensors, which never change once made.
#[derive(Clone, Debug, PartialEq)]
enum Value {
    None,
    Bool(bool),
    Int(i128),
    Float(f64),
    Text(String),
    Bytes(Vec<u8>),
    Tuple(Vec<Value>),
    List(Vec<Value>),
    Dict(Vec<(Value, Value)>),
    Global(Global),
    Storage(String, StorageType),
    Tensor(TensorRef),
}

impl Value {
    fn kind(&self) -> &'static str {
        match self {
            Value::None => "None",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Text(_) => "string",
            Value::Bytes(_) => "bytes",
            Value::Tuple(_) => "tuple",
            Value::List(_) => "list",
            Value::Dict(_) => "dict",
            Value::Global(_) => "class",
            Value::Storage(..) => "storage",
            Value::Tensor(_) => "single tensor",
        }
    }

    fn is_text(&self, text: &str) -> bool {
        matches!(self, Value::Text(t) if t == text)
    }

    /// A dict key as a message shows it.
    fn short(&self) -> String {
        match self {
            Value::Text(t) => format!("`{t}`"),
            Value::Int(i) => i.to_string(),
            other => other.kind().to_string(),
        }
    }

    fn usize(&self) -> Option<usize> {
        match self {
            Value::Int(i) => usize::try_from(*i).ok(),
            _ => None,
        }
    }

    fn usizes(&self) -> Option<Vec<usize>> {
        match self {
            Value::Tuple(v) | Value::List(v) => v.iter().map(Value::usize).collect(),
            _ => None,
        }
    }
}

/// Reads one pickle, from its PROTO to its STOP.
struct Unpickler<'a> {
    bytes: &'a [u8],
    at: usize,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: HashMap<u32, Value>,
    /// The storages the pickle refers to, by key.
    storages: HashMap<String, StorageType>,
}

fn damaged(what: &str) -> String {
    format!("is not a whole torch.save file ({what}): is it the right file, and whole?")
}

impl<'a> Unpickler<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Unpickler {
            bytes,
            at: 0,
            stack: Vec::new(),
            marks: Vec::new(),
            memo: HashMap::new(),
            storages: HashMap::new(),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let bytes = self
            .at
            .checked_add(n)
            .and_then(|end| self.bytes.get(self.at..end))
            .ok_or_else(|| damaged("its pickle ends early"))?;
        self.at += n;
        Ok(bytes)
    }

    fn uint(&mut self, n: usize) -> Result<u64, String> {
        let mut le = [0; 8];
        le[..n].copy_from_slice(self.take(n)?);
        Ok(u64::from_le_bytes(le))
    }

    fn len(&mut self, n: usize) -> Result<usize, String> {
        usize::try_from(self.uint(n)?).map_err(|_| damaged("a length past memory"))
    }

    fn line(&mut self) -> Result<String, String> {
        let rest = &self.bytes[self.at..];
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| damaged("a name without its end"))?;
        self.at += end + 1;
        Ok(String::from_utf8_lossy(&rest[..end]).into_owned())
    }

    fn text(&mut self, n: usize) -> Result<Value, String> {
        let len = self.len(n)?;
        let bytes = self.take(len)?;
        Ok(Value::Text(String::from_utf8_lossy(bytes).into_owned()))
    }

    fn bytes_value(&mut self, n: usize) -> Result<Value, String> {
        let len = self.len(n)?;
        Ok(Value::Bytes(self.take(len)?.to_vec()))
    }

    fn pop(&mut self) -> Result<Value, String> {
        self.stack
            .pop()
            .ok_or_else(|| damaged("its pickle takes from an empty stack"))
    }

    fn top(&mut self) -> Result<&mut Value, String> {
        self.stack
            .last_mut()
            .ok_or_else(|| damaged("its pickle takes from an empty stack"))
    }

    /// The values since the last MARK, taken off the stack with it.
    fn pop_mark(&mut self) -> Result<Vec<Value>, String> {
        let mark = self
            .marks
            .pop()
            .ok_or_else(|| damaged("its pickle closes a mark it never set"))?;
        if mark > self.stack.len() {
            return Err(damaged("its pickle closes a mark past its stack"));
        }
        Ok(self.stack.split_off(mark))
    }

    fn memo_get(&self, key: u32) -> Result<Value, String> {
        self.memo
            .get(&key)
            .cloned()
            .ok_or_else(|| damaged("its pickle recalls what it never kept"))
    }

    fn memo_put(&mut self, key: u32) -> Result<(), String> {
        let value = self.top()?.clone();
        self.memo.insert(key, value);
        Ok(())
    }

    fn set_items(&mut self, items: Vec<Value>) -> Result<(), String> {
        if !items.len().is_multiple_of(2) {
            return Err(damaged("a dict's key without its value"));
        }
        let Value::Dict(entries) = self.top()? else {
            return Err(damaged("items set on what is not a dict"));
        };
        let mut items = items.into_iter();
        while let (Some(k), Some(v)) = (items.next(), items.next()) {
            match entries.iter_mut().find(|(key, _)| *key == k) {
                Some(entry) => entry.1 = v,
                None => entries.push((k, v)),
            }
        }
        Ok(())
    }

    fn append(&mut self, items: Vec<Value>) -> Result<(), String> {
        match self.top()? {
            Value::List(list) => {
                list.extend(items);
                Ok(())
            }
            _ => Err(damaged("items appended to what is not a list")),
        }
    }

    /// BINPERSID's id: a storage, ('storage', class, key, location, count[, view]).
    fn persistent(&mut self, id: Value) -> Result<Value, String> {
        let Value::Tuple(id) = id else {
            return Err(damaged("a storage id that is not a tuple"));
        };
        match id.as_slice() {
            [
                kind,
                Value::Global(Global::Storage(t)),
                Value::Text(key),
                _,
                _,
                rest @ ..,
            ] if kind.is_text("storage") => {
                if matches!(rest, [view, ..] if *view != Value::None) {
                    return Err("holds a storage view, written by PyTorch before 0.4: load it in \
                                PyTorch and save its state dict anew"
                        .into());
                }
                self.storages.insert(key.clone(), *t);
                Ok(Value::Storage(key.clone(), *t))
            }
            _ => Err(damaged("a storage id ebmscope does not know")),
        }
    }

    /// REDUCE (and NEWOBJ): a call of one of the known functions.
    fn call(&mut self, callable: Value, args: Value) -> Result<Value, String> {
        let Value::Tuple(args) = args else {
            return Err(damaged("a call whose arguments are not a tuple"));
        };
        match callable {
            Value::Global(Global::OrderedDict) => match args.as_slice() {
                [] => Ok(Value::Dict(Vec::new())),
                _ => Err(damaged("an OrderedDict made from arguments")),
            },
            Value::Global(Global::RebuildTensor) => match args.as_slice() {
                [Value::Storage(key, kind), offset, shape, strides, ..] => {
                    let (offset, shape, strides) = (offset.usize(), shape.usizes(), strides.usizes());
                    match (offset, shape, strides) {
                        (Some(offset), Some(shape), Some(strides)) if shape.len() == strides.len() => {
                            Ok(Value::Tensor(TensorRef {
                                storage: key.clone(),
                                kind: *kind,
                                offset,
                                shape,
                                strides,
                            }))
                        }
                        _ => Err(damaged("a tensor's offset, shape or strides unreadable")),
                    }
                }
                _ => Err(damaged("a tensor rebuilt without its storage")),
            },
            Value::Global(Global::RebuildParameter) => match args.into_iter().next() {
                Some(tensor @ Value::Tensor(_)) => Ok(tensor),
                _ => Err(damaged("a parameter without its tensor")),
            },
            other => Err(damaged(&format!("a call of a {}", other.kind()))),
        }
    }

    /// Run the pickle to its STOP: the object, and the storages it refers to.
    fn load(&mut self) -> Result<(Value, HashMap<String, StorageType>), String> {
        loop {
            let op = self.take(1)?[0];
            // What the opcode pushes, if it pushes a new value.
            let value = match op {
                0x80 => {
                    self.take(1)?; // PROTO: its version
                    None
                }
                0x95 => {
                    self.take(8)?; // FRAME: its length; the frame's ops follow
                    None
                }
                b'.' => {
                    let value = self.pop()?;
                    return Ok((value, std::mem::take(&mut self.storages)));
                }
                b'(' => {
                    self.marks.push(self.stack.len());
                    None
                }
                b'0' => self.pop().map(|_| None)?,
                b'1' => self.pop_mark().map(|_| None)?,
                b'2' => Some(self.top()?.clone()),
                b'N' => Some(Value::None),
                0x88 => Some(Value::Bool(true)),
                0x89 => Some(Value::Bool(false)),
                b'J' => Some(Value::Int(
                    i32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")).into(),
                )),
                b'K' => Some(Value::Int(self.uint(1)?.into())),
                b'M' => Some(Value::Int(self.uint(2)?.into())),
                0x8a | 0x8b => {
                    // LONG1, LONG4: little-endian two's complement of n bytes.
                    let n = self.len(if op == 0x8a { 1 } else { 4 })?;
                    if n > 16 {
                        return Err(damaged("an integer past 128 bits"));
                    }
                    let bytes = self.take(n)?;
                    let sign = if bytes.last().is_some_and(|b| b & 0x80 != 0) {
                        0xff
                    } else {
                        0
                    };
                    let mut le = [sign; 16];
                    le[..n].copy_from_slice(bytes);
                    Some(Value::Int(i128::from_le_bytes(le)))
                }
                b'G' => Some(Value::Float(f64::from_be_bytes(
                    self.take(8)?.try_into().expect("8 bytes"),
                ))),
                // Text: BINUNICODE, BINSTRING; SHORT_BINUNICODE, SHORT_BINSTRING; BINUNICODE8.
                b'X' | b'T' => Some(self.text(4)?),
                0x8c | b'U' => Some(self.text(1)?),
                0x8d => Some(self.text(8)?),
                b'B' => Some(self.bytes_value(4)?),
                b'C' => Some(self.bytes_value(1)?),
                0x8e => Some(self.bytes_value(8)?),
                b')' => Some(Value::Tuple(Vec::new())),
                b't' => Some(Value::Tuple(self.pop_mark()?)),
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    if self.stack.len() < n {
                        return Err(damaged("its pickle takes from an empty stack"));
                    }
                    Some(Value::Tuple(self.stack.split_off(self.stack.len() - n)))
                }
                b']' => Some(Value::List(Vec::new())),
                b'l' => Some(Value::List(self.pop_mark()?)),
                b'a' => {
                    let item = self.pop()?;
                    self.append(vec![item]).map(|_| None)?
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    self.append(items).map(|_| None)?
                }
                b'}' => Some(Value::Dict(Vec::new())),
                b'd' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::Dict(Vec::new()));
                    self.set_items(items).map(|_| None)?
                }
                b's' => {
                    let value = self.pop()?;
                    let key = self.pop()?;
                    self.set_items(vec![key, value]).map(|_| None)?
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    self.set_items(items).map(|_| None)?
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    Some(Value::Global(Global::find(&module, &name)?))
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    let (Value::Text(module), Value::Text(name)) = (module, name) else {
                        return Err(damaged("a class named by what is not text"));
                    };
                    Some(Value::Global(Global::find(&module, &name)?))
                }
                // BINPUT, LONG_BINPUT, MEMOIZE; BINGET, LONG_BINGET.
                b'q' | b'r' | 0x94 => {
                    let key = match op {
                        b'q' => self.uint(1)?,
                        b'r' => self.uint(4)?,
                        _ => self.memo.len() as u64,
                    };
                    self.memo_put(key as u32).map(|_| None)?
                }
                b'h' | b'j' => {
                    let key = self.uint(if op == b'h' { 1 } else { 4 })?;
                    Some(self.memo_get(key as u32)?)
                }
                b'Q' => {
                    let id = self.pop()?;
                    Some(self.persistent(id)?)
                }
                // REDUCE, NEWOBJ.
                b'R' | 0x81 => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    Some(self.call(callable, args)?)
                }
                // BUILD: an object's state (a state dict's `_metadata`, the
                // version of each module's names): not needed.
                b'b' => self.pop().map(|_| None)?,
                other => {
                    return Err(format!(
                        "holds pickle opcode 0x{other:02x}, which a state dict's pickle does not use: \
                         save the state dict with torch.save(model.state_dict(), \"W.pth\") or with safetensors"
                    ));
                }
            };
            if let Some(value) = value {
                self.stack.push(value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pickle whose dict is built by the opcodes torch.save's protocol 2
    /// does not use (DICT, LIST, APPEND, LONG4, BINBYTES, DUP, POP).
    #[test]
    fn the_less_common_opcodes_build_what_python_builds() {
        let mut p = vec![0x80, 2, b'('];
        p.extend(b"X\x01\x00\x00\x00a");
        p.extend(b"]K\x01aK\x02a"); // [1, 2]
        p.extend(b"X\x01\x00\x00\x00b");
        p.extend([0x8b, 2, 0, 0, 0, 0xfe, 0xff]); // LONG4: -2
        p.extend(b"X\x01\x00\x00\x00c");
        p.extend(b"C\x02hi2"); // b"hi", DUP
        p.extend(b"0d."); // POP, DICT
        let (value, storages) = Unpickler::new(&p).load().unwrap();
        assert!(storages.is_empty());
        assert_eq!(
            value,
            Value::Dict(vec![
                (
                    Value::Text("a".into()),
                    Value::List(vec![Value::Int(1), Value::Int(2)])
                ),
                (Value::Text("b".into()), Value::Int(-2)),
                (Value::Text("c".into()), Value::Bytes(b"hi".to_vec())),
            ])
        );
    }

    #[test]
    fn a_pickle_that_calls_anything_else_is_refused_before_it_runs() {
        let p = b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00ls\x85R.";
        let err = Unpickler::new(p).load().unwrap_err();
        assert!(err.contains("`os.system`"), "{err}");
        assert!(err.contains("torch.save(model.state_dict()"), "{err}");
        // A function of PyTorch's that no float state dict calls.
        let p = b"\x80\x02ctorch._utils\n_rebuild_tensor_v3\n.";
        let err = Unpickler::new(p).load().unwrap_err();
        assert!(err.contains("`torch._utils._rebuild_tensor_v3`, which"), "{err}");
        assert!(err.contains("v.float()"), "{err}");
    }

    /// Another program's pickle (CIFAR-10's python batches are pickles).
    #[test]
    fn a_pickle_torch_did_not_write_is_said_to_be_none_of_its() {
        let err = read_state_dict(b"\x80\x02}q\x00X\x01\x00\x00\x00aK\x01s.", "batch").unwrap_err();
        assert!(err.contains("not one torch.save wrote"), "{err}");
    }

    /// A view past its storage's end, or too large to be a network's, is
    /// refused before any memory is taken for it.
    #[test]
    fn a_tensor_past_its_storage_is_refused() {
        let storages = Storages::from([("0".to_string(), vec![0u8; 6 * 4])]);
        let view = |offset, shape: Vec<usize>, strides| TensorRef {
            storage: "0".into(),
            kind: STORAGE_TYPES[0],
            offset,
            shape,
            strides,
        };
        let read = |t: TensorRef| t.to_f32("w", &storages).map(|t| t.data.len());
        assert_eq!(read(view(4, vec![2], vec![1])), Ok(2));
        assert_eq!(read(view(0, vec![2, 3], vec![1, 2])), Ok(6));
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
        let err = read(view(0, vec![1 << 20, 1 << 20], vec![0, 0])).unwrap_err();
        assert!(err.contains("more elements than a network"), "{err}");
    }

    #[test]
    fn a_cut_pickle_is_said_to_be_cut() {
        let p = b"\x80\x02X\x05\x00\x00\x00ab";
        let err = Unpickler::new(p).load().unwrap_err();
        assert!(err.contains("ends early"), "{err}");
    }
}
