//! Python's pickles, read without running them. A pickle is a program for
//! a small stack machine that rebuilds objects, calling any function it
//! names; this machine runs the binary opcodes of protocols 2 to 5 that
//! build data (others, protocol 0's text forms among them, are refused)
//! and calls nothing: it rebuilds dicts, tuples, lists, numbers, strings
//! and bytes, and reads what the few functions it knows would make —
//! PyTorch's tensors and storages ([`super::torch_file`] reads their
//! bytes), NumPy's arrays and dtypes ([`read_pickled_dict`], as CIFAR's
//! python version holds its images) and `_codecs.encode`. Any other class
//! or function is only named, what a call of it would make an opaque
//! object; a pickle naming what runs programs (`os.system`) is refused
//! outright, as are TorchScript's classes and the kinds of tensor PyTorch
//! makes that are not read, each with its fix. Whatever the pickle asks
//! for, reading it costs memory and time in proportion to the file: shared
//! objects stay shared, as Python's, and what is copied or walked of values
//! it may recall any number of times is bounded by its length.

use std::collections::HashMap;
use std::rc::Rc;

use super::torch_file::{STORAGE_TYPES, StorageType, TORCH_FILE, TensorRef};

/// The most dimensions a shape may have (PyTorch's own limit is 64).
const MAX_DIMS: usize = 64;

/// Where a fix line made while unpickling names the file (`shown`, in
/// Python's quotes), put there once the error is back with its reader.
pub(super) const FILE_IN_FIX: &str = "{file}";

/// A value of a pickled dict read by [`read_pickled_dict`].
#[derive(Debug)]
pub(crate) enum PickledEntry {
    Array(Rc<NdArray>),
    /// A list of integers (CIFAR-10's labels).
    Ints(Vec<i128>),
    /// Anything else, by its kind (`string`, `list`, …).
    Other(&'static str),
}

/// The entries of the dict a pickle holds (Python 2's or 3's, protocol 2
/// to 5), as CIFAR-10's python version holds its images (`{"data": a uint8
/// array of [n, 3072], "labels": [n ints], …}`): by key, text or bytes
/// (Python 2's str, read by Python 3 as bytes) as text. `file` names what
/// the file should be, in messages.
pub(crate) fn read_pickled_dict(
    bytes: &[u8],
    file: &'static str,
) -> Result<Vec<(String, PickledEntry)>, String> {
    // (A fix naming the file, as read_state_dict fills in, says "the file".)
    let pickled =
        (Unpickler::reading(bytes, file).load()).map_err(|e| e.replace(FILE_IN_FIX, "\"the file\""))?;
    let Some(entries) = pickled.entries(&pickled.root) else {
        return Err(format!(
            "holds a pickled {}, not a dict: is it a {file}?",
            pickled.root.kind()
        ));
    };
    // Keys and lists as their own copies: recalled for many entries, what
    // a file asks for could be the square of its length, so it is bounded
    // by it, as a file that writes each out once is.
    let copies: usize = (entries.iter())
        .map(|(key, value)| {
            let key = match key {
                Value::Text(t) => t.len(),
                Value::Bytes(b) => b.len(),
                _ => 0,
            };
            key + pickled.items(value).map_or(0, <[Value]>::len)
        })
        .fold(0, usize::saturating_add);
    if copies > bytes.len() {
        return Err(damaged_file(
            file,
            "its dict recalls its keys or lists for more entries than it holds, as a pickle made to \
             exhaust memory does",
        ));
    }
    let entry = |value: &Value| match value {
        Value::Array(a) => PickledEntry::Array(a.clone()),
        Value::List(_) => {
            let items = pickled.items(value).unwrap_or_default();
            let ints: Option<Vec<i128>> = (items.iter())
                .map(|v| match v {
                    Value::Int(i) => Some(*i),
                    _ => None,
                })
                .collect();
            ints.map_or(PickledEntry::Other("list"), PickledEntry::Ints)
        }
        Value::Object(class) if &**class == "numpy.ndarray" => {
            PickledEntry::Other("NumPy array of elements ebmscope does not read")
        }
        other => PickledEntry::Other(other.kind()),
    };
    Ok(entries
        .iter()
        .map(|(key, value)| {
            let key = match key {
                Value::Text(t) => t.to_string(),
                Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
                other => other.short(),
            };
            (key, entry(value))
        })
        .collect())
}

/// The functions and classes the machine reads (what a call of each would
/// make), a state dict's and NumPy's; any other is only named.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Global {
    OrderedDict,
    /// `torch._utils._rebuild_tensor` (before PyTorch 0.4) and `_v2`.
    RebuildTensor,
    /// `torch._utils._rebuild_parameter` (and `_with_state`): its tensor.
    RebuildParameter,
    Storage(StorageType),
    /// NumPy's `_reconstruct` (an array whose BUILD gives its state),
    /// `_frombuffer` (an array from its bytes: protocol 5) and `dtype`.
    NumpyReconstruct,
    NumpyFromBuffer,
    NumpyDtype,
    /// `_codecs.encode(text, "latin1")`: bytes, as Python 3 pickles them at
    /// protocol 2.
    CodecsEncode,
    /// Any other class or function (`argparse.Namespace`, a model's class,
    /// NumPy's): never called, only named. What a call of it makes is an
    /// [`Value::Object`], so that a checkpoint holding such objects beside
    /// a state dict is read, and a whole model is refused as one.
    Other(Rc<str>),
}

/// Modules and built-ins that run programs or reach the system: what a
/// harmful pickle calls, and no model, data set or PyTorch pickles.
const HARMFUL_MODULES: [&str; 12] = [
    "os",
    "posix",
    "nt",
    "subprocess",
    "sys",
    "runpy",
    "shutil",
    "socket",
    "importlib",
    "pty",
    "webbrowser",
    "code",
];
const HARMFUL_BUILTINS: [&str; 9] = [
    "eval",
    "exec",
    "compile",
    "open",
    "getattr",
    "setattr",
    "__import__",
    "globals",
    "breakpoint",
];

impl Global {
    fn find(module: &str, name: &str) -> Result<Global, String> {
        if module == "torch"
            && let Some(storage) = STORAGE_TYPES.iter().find(|s| s.name == name)
        {
            return Ok(Global::Storage(*storage));
        }
        let called = format!("`{module}.{name}`");
        let top = module.split('.').next().unwrap_or(module);
        let builtin = matches!(module, "builtins" | "__builtin__");
        Err(match (module, name) {
            ("collections", "OrderedDict") => return Ok(Global::OrderedDict),
            ("torch._utils", "_rebuild_tensor" | "_rebuild_tensor_v2") => return Ok(Global::RebuildTensor),
            ("torch._utils", "_rebuild_parameter" | "_rebuild_parameter_with_state") => {
                return Ok(Global::RebuildParameter);
            }
            // (NumPy 2 names its core `numpy._core`.)
            ("numpy.core.multiarray" | "numpy._core.multiarray", "_reconstruct") => {
                return Ok(Global::NumpyReconstruct);
            }
            ("numpy.core.numeric" | "numpy._core.numeric", "_frombuffer") => {
                return Ok(Global::NumpyFromBuffer);
            }
            ("numpy", "dtype") => return Ok(Global::NumpyDtype),
            ("_codecs", "encode") => return Ok(Global::CodecsEncode),
            _ if HARMFUL_MODULES.contains(&top) || (builtin && HARMFUL_BUILTINS.contains(&name)) => {
                format!(
                    "calls {called}, which no model, data set or PyTorch pickles: refused, and not run. \
                     The file may be harmful: do not load it in Python (torch.load, pickle.load)"
                )
            }
            _ if top == "__torch__" => format!(
                "is a TorchScript file (torch.jit.save's; it holds {called}): save its state dict, \
                 `torch.save(torch.jit.load({FILE_IN_FIX}).state_dict(), \"W.pth\")`"
            ),
            ("torch._utils", "_rebuild_tensor_v3") => format!(
                "holds tensors of a type ebmscope does not read ({called}: float8, uint16, …): save \
                 them as float, `torch.save({{k: v.float() for k, v in sd.items()}}, \"W.pth\")`"
            ),
            // PyTorch's other ways of making a tensor; its other names (torch.device,
            // torch.Size, a module's class) are objects like any other.
            ("torch._utils" | "torch._tensor", _) => format!(
                "holds {called}, a kind of tensor ebmscope does not read (sparse, quantized or \
                 subclassed, say): save the state dict's tensors as plain float tensors"
            ),
            _ => return Ok(Global::Other(format!("{module}.{name}").into())),
        })
    }
}

/// A value on the pickle machine's stack. Tuples, lists and dicts are
/// indices into the unpickler's ([`Pickled`]'s) tables, and text and
/// tensors are shared: a value refers to others as Python's do, so that a
/// copy (the memo's, DUP's) is as cheap as in Python.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Value {
    None,
    Bool(bool),
    Int(i128),
    Float(f64),
    Text(Rc<str>),
    Bytes(Rc<[u8]>),
    Tuple(usize),
    List(usize),
    Dict(usize),
    Global(Global),
    Storage(Rc<str>, StorageType),
    Tensor(Rc<TensorRef>),
    /// A NumPy array, and one `_reconstruct` made before its BUILD gives
    /// its shape, dtype and bytes.
    Array(Rc<NdArray>),
    Unbuilt(usize),
    /// A NumPy dtype by its name (`u1`, `f4`; `>f4` big-endian).
    Dtype(Rc<str>, usize),
    /// What a call of a [`Global::Other`] would make, by its class's name:
    /// opaque (its state and items are passed over).
    Object(Rc<str>),
}

impl Value {
    pub(super) fn kind(&self) -> &'static str {
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
            Value::Object(_) => "object",
            Value::Storage(..) => "storage",
            Value::Tensor(_) => "single tensor",
            Value::Array(_) => "NumPy array",
            Value::Unbuilt(_) => "NumPy array without its state",
            Value::Dtype(..) => "NumPy dtype",
        }
    }

    pub(super) fn is_text(&self, text: &str) -> bool {
        matches!(self, Value::Text(t) if &**t == text)
    }

    /// A dict key as a message shows it (a long one cut).
    pub(super) fn short(&self) -> String {
        match self {
            Value::Text(t) if t.chars().count() > 40 => {
                format!("`{}…`", t.chars().take(40).collect::<String>())
            }
            Value::Text(t) => format!("`{t}`"),
            Value::Int(i) => i.to_string(),
            other => other.kind().to_string(),
        }
    }

    /// The number of a NumPy object that BUILD may still change (an
    /// array before its state, a dtype before its byte order): which one
    /// it is, as Python tells objects apart by identity.
    fn numpy_object(&self) -> Option<usize> {
        match self {
            Value::Unbuilt(n) | Value::Dtype(_, n) => Some(*n),
            _ => None,
        }
    }

    fn usize(&self) -> Option<usize> {
        match self {
            Value::Int(i) => usize::try_from(*i).ok(),
            _ => None,
        }
    }
}

/// A NumPy array's shape, element type and bytes (C order, or Fortran's
/// where `fortran`).
#[derive(Debug, PartialEq)]
pub(crate) struct NdArray {
    /// NumPy's name of the element type: `u1` for bytes, `f4`, `>f4` …
    pub dtype: String,
    pub shape: Vec<usize>,
    pub fortran: bool,
    pub bytes: Rc<[u8]>,
}

impl NdArray {
    /// The array of `shape` and `dtype` over `bytes` (which must hold its
    /// elements exactly), as a value: opaque, as other objects are, where
    /// its elements are not numbers of a size its name gives (Python
    /// objects, strings, records).
    fn value(
        dtype: &str,
        shape: Vec<usize>,
        fortran: bool,
        bytes: Rc<[u8]>,
        file: &str,
    ) -> Result<Value, String> {
        // The element's size in bytes: the digits after its kind (u1, i8,
        // f4, c8, b1); other kinds (strings, objects, records) are not read.
        let kind = dtype.trim_start_matches(['<', '>', '|', '=']);
        let size = kind
            .strip_prefix(['u', 'i', 'f', 'c', 'b'])
            .and_then(|digits| digits.parse::<usize>().ok());
        let Some(size) = size else {
            return Ok(Value::Object("numpy.ndarray".into()));
        };
        let need = shape.iter().try_fold(size, |n, &d| n.checked_mul(d));
        if need != Some(bytes.len()) {
            return Err(damaged_file(
                file,
                &format!(
                    "a NumPy array of shape {shape:?} ({dtype}) over {} bytes",
                    bytes.len()
                ),
            ));
        }
        Ok(Value::Array(Rc::new(NdArray {
            dtype: dtype.to_string(),
            shape,
            fortran,
            bytes,
        })))
    }
}

/// What one pickle made: its object, the tuples and lists (`sequences`)
/// and dicts its values index, and the storages it names.
pub(super) struct Pickled {
    pub(super) root: Value,
    sequences: Vec<Vec<Value>>,
    pub(super) dicts: Vec<Vec<(Value, Value)>>,
    pub(super) storages: HashMap<String, StorageType>,
}

impl Pickled {
    fn empty() -> Self {
        Pickled {
            root: Value::None,
            sequences: Vec::new(),
            dicts: Vec::new(),
            storages: HashMap::new(),
        }
    }

    /// A tuple's or a list's items.
    pub(super) fn items(&self, value: &Value) -> Option<&[Value]> {
        match value {
            Value::Tuple(i) | Value::List(i) => Some(&self.sequences[*i]),
            _ => None,
        }
    }

    pub(super) fn entries(&self, value: &Value) -> Option<&[(Value, Value)]> {
        match value {
            Value::Dict(i) => Some(&self.dicts[*i]),
            _ => None,
        }
    }

    /// A tuple or list of sizes (a shape, strides), of at most MAX_DIMS.
    fn usizes(&self, value: &Value) -> Option<Vec<usize>> {
        self.items(value)
            .filter(|items| items.len() <= MAX_DIMS)?
            .iter()
            .map(Value::usize)
            .collect()
    }
}

/// Reads one pickle, from its PROTO to its STOP.
pub(super) struct Unpickler<'a> {
    bytes: &'a [u8],
    /// What the file is read as, for its messages ([`TORCH_FILE`], say).
    file: &'static str,
    pub(super) at: usize,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: HashMap<u32, Value>,
    made: Pickled,
    /// NumPy arrays and dtypes made so far, numbered
    /// ([`Value::numpy_object`]), and the memo keys that keep each: where
    /// its BUILD changes it.
    numpy_objects: usize,
    numpy_kept: HashMap<usize, Vec<u32>>,
    /// What reading has copied or walked of values the pickle may recall
    /// any number of times (a text to encode, a tensor's metadata): at
    /// most the file's length, as in any file that does not recall one
    /// value for many of them ([`Unpickler::spend`]).
    spent: usize,
}

/// That a file is not a whole `file` (a kind of file, named so in
/// messages), for `what` is in it.
pub(super) fn damaged_file(file: &str, what: &str) -> String {
    format!("is not a whole {file} ({what}): is it the right file, and whole?")
}

impl<'a> Unpickler<'a> {
    /// An unpickler whose messages call the file a `file`.
    pub(super) fn reading(bytes: &'a [u8], file: &'static str) -> Self {
        Unpickler {
            bytes,
            file,
            at: 0,
            stack: Vec::new(),
            marks: Vec::new(),
            memo: HashMap::new(),
            made: Pickled::empty(),
            numpy_objects: 0,
            numpy_kept: HashMap::new(),
            spent: 0,
        }
    }

    /// Count `n` more of the copying or walking [`Unpickler::spent`] bounds:
    /// a pickle that recalls a value for each of many copies would
    /// otherwise cost the square of its length.
    fn spend(&mut self, n: usize) -> Result<(), String> {
        self.spent = self.spent.saturating_add(n);
        if self.spent > self.bytes.len() {
            return Err(self.damaged(
                "it copies more than it holds, recalling one value many times, as a pickle made to \
                 exhaust memory does",
            ));
        }
        Ok(())
    }

    fn damaged(&self, what: &str) -> String {
        damaged_file(self.file, what)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let bytes = self
            .at
            .checked_add(n)
            .and_then(|end| self.bytes.get(self.at..end))
            .ok_or_else(|| self.damaged("its pickle ends early"))?;
        self.at += n;
        Ok(bytes)
    }

    fn uint(&mut self, n: usize) -> Result<u64, String> {
        let mut le = [0; 8];
        le[..n].copy_from_slice(self.take(n)?);
        Ok(u64::from_le_bytes(le))
    }

    fn len(&mut self, n: usize) -> Result<usize, String> {
        usize::try_from(self.uint(n)?).map_err(|_| self.damaged("a length past memory"))
    }

    fn line(&mut self) -> Result<String, String> {
        let rest = &self.bytes[self.at..];
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| self.damaged("a name without its end"))?;
        self.at += end + 1;
        Ok(String::from_utf8_lossy(&rest[..end]).into_owned())
    }

    fn text(&mut self, n: usize) -> Result<Value, String> {
        let len = self.len(n)?;
        let bytes = self.take(len)?;
        Ok(Value::Text(String::from_utf8_lossy(bytes).into()))
    }

    fn bytes_value(&mut self, n: usize) -> Result<Value, String> {
        let len = self.len(n)?;
        Ok(Value::Bytes(self.take(len)?.into()))
    }

    fn pop(&mut self) -> Result<Value, String> {
        self.check_reach(1)?;
        self.stack
            .pop()
            .ok_or_else(|| self.damaged("its pickle takes from an empty stack"))
    }

    /// Refuse taking `n` values where fewer lie above the last MARK (or on
    /// the stack): Python's unpickler refuses it too.
    fn check_reach(&self, n: usize) -> Result<(), String> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() < floor + n {
            return Err(self.damaged("its pickle takes from below a mark, or from an empty stack"));
        }
        Ok(())
    }

    fn top(&self) -> Result<&Value, String> {
        self.stack
            .last()
            .ok_or_else(|| self.damaged("its pickle takes from an empty stack"))
    }

    /// The values since the last MARK, taken off the stack with it.
    fn pop_mark(&mut self) -> Result<Vec<Value>, String> {
        let mark = self
            .marks
            .pop()
            .ok_or_else(|| self.damaged("its pickle closes a mark it never set"))?;
        if mark > self.stack.len() {
            return Err(self.damaged("its pickle closes a mark past its stack"));
        }
        Ok(self.stack.split_off(mark))
    }

    fn memo_get(&self, key: u32) -> Result<Value, String> {
        self.memo
            .get(&key)
            .cloned()
            .ok_or_else(|| self.damaged("its pickle recalls what it never kept"))
    }

    fn memo_put(&mut self, key: u32) -> Result<(), String> {
        let value = self.top()?.clone();
        if let Some(n) = value.numpy_object() {
            self.numpy_kept.entry(n).or_default().push(key);
        }
        self.memo.insert(key, value);
        Ok(())
    }

    fn tuple(&mut self, items: Vec<Value>) -> Value {
        self.made.sequences.push(items);
        Value::Tuple(self.made.sequences.len() - 1)
    }

    fn list(&mut self, items: Vec<Value>) -> Value {
        self.made.sequences.push(items);
        Value::List(self.made.sequences.len() - 1)
    }

    fn dict(&mut self) -> Value {
        self.made.dicts.push(Vec::new());
        Value::Dict(self.made.dicts.len() - 1)
    }

    /// SETITEM(S): key-value pairs into the dict on top. (A key given twice
    /// stays twice: a state dict's names are refused then.)
    fn set_items(&mut self, items: Vec<Value>) -> Result<(), String> {
        if !items.len().is_multiple_of(2) {
            return Err(self.damaged("a dict's key without its value"));
        }
        let i = match *self.top()? {
            Value::Dict(i) => i,
            // (A dict subclass's items: opaque, as the object is.)
            Value::Object(_) => return Ok(()),
            _ => return Err(self.damaged("items set on what is not a dict")),
        };
        let mut items = items.into_iter();
        while let (Some(k), Some(v)) = (items.next(), items.next()) {
            self.made.dicts[i].push((k, v));
        }
        Ok(())
    }

    fn append(&mut self, items: Vec<Value>) -> Result<(), String> {
        match *self.top()? {
            Value::List(i) => {
                self.made.sequences[i].extend(items);
                Ok(())
            }
            Value::Object(_) => Ok(()),
            _ => Err(self.damaged("items appended to what is not a list")),
        }
    }

    /// BINPERSID's id: a storage, ('storage', class, key, location, count[, view]).
    fn persistent(&mut self, id: Value) -> Result<Value, String> {
        let id = self
            .made
            .items(&id)
            .ok_or_else(|| self.damaged("a storage id that is not a tuple"))?;
        match id {
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
                let (key, t) = (key.clone(), *t);
                self.made.storages.insert(key.to_string(), t);
                Ok(Value::Storage(key, t))
            }
            _ => Err(self.damaged("a storage id ebmscope does not know")),
        }
    }

    /// REDUCE (and NEWOBJ): a call of one of the known functions.
    fn call(&mut self, callable: Value, args: Value) -> Result<Value, String> {
        let args = match args {
            Value::Tuple(i) => self.made.sequences[i].as_slice(),
            _ => return Err(self.damaged("a call whose arguments are not a tuple")),
        };
        match callable {
            Value::Global(Global::OrderedDict) => match args {
                [] => Ok(self.dict()),
                _ => Err(self.damaged("an OrderedDict made from arguments")),
            },
            Value::Global(Global::RebuildTensor) => match args {
                [Value::Storage(key, kind), offset, shape, strides, rest @ ..] => {
                    let (key, kind, metadata) = (key.to_string(), *kind, rest.get(2).cloned());
                    let (offset, shape, strides) =
                        (offset.usize(), self.made.usizes(shape), self.made.usizes(strides));
                    let negated = self.tensor_metadata(metadata.as_ref())?;
                    match (offset, shape, strides) {
                        (Some(offset), Some(shape), Some(strides)) if shape.len() == strides.len() => {
                            Ok(Value::Tensor(Rc::new(TensorRef {
                                storage: key,
                                kind,
                                offset,
                                shape,
                                strides,
                                negated,
                            })))
                        }
                        _ => Err(self.damaged("a tensor's offset, shape or strides unreadable")),
                    }
                }
                _ => Err(self.damaged("a tensor rebuilt without its storage")),
            },
            Value::Global(Global::RebuildParameter) => match args.first() {
                Some(tensor @ Value::Tensor(_)) => Ok(tensor.clone()),
                _ => Err(self.damaged("a parameter without its tensor")),
            },
            // NumPy's objects: what NumPy would make, where this reader
            // reads it (else opaque, as other objects). ndarray.__reduce__:
            // `_reconstruct(ndarray, (0,), b"b")`, its state to come by BUILD.
            Value::Global(Global::NumpyReconstruct) => {
                self.numpy_objects += 1;
                Ok(Value::Unbuilt(self.numpy_objects))
            }
            // `dtype("u1", False, True)`: its byte order comes by BUILD.
            Value::Global(Global::NumpyDtype) => match args.first() {
                Some(Value::Text(name)) => {
                    self.numpy_objects += 1;
                    Ok(Value::Dtype(name.clone(), self.numpy_objects))
                }
                _ => Ok(Value::Object("numpy.dtype".into())),
            },
            // Protocol 5's arrays: `_frombuffer(bytes, dtype, shape, order)`.
            Value::Global(Global::NumpyFromBuffer) => match args {
                [
                    Value::Bytes(bytes),
                    Value::Dtype(dtype, _),
                    shape,
                    Value::Text(order),
                ] if let Some(shape) = self.made.usizes(shape) => {
                    NdArray::value(dtype, shape, &**order == "F", bytes.clone(), self.file)
                }
                _ => Ok(Value::Object("numpy.ndarray".into())),
            },
            // Bytes as text of code points 0–255, as Python 3 writes them at protocol 2.
            Value::Global(Global::CodecsEncode) => match args {
                [Value::Text(text), Value::Text(codec)]
                    if ["latin1", "latin-1", "iso-8859-1"].contains(&&**codec) =>
                {
                    let text = text.clone();
                    self.spend(text.len())?;
                    let bytes: Option<Vec<u8>> = text.chars().map(|c| u8::try_from(c).ok()).collect();
                    let bytes = bytes.ok_or_else(|| self.damaged("bytes encoded past Latin-1"))?;
                    Ok(Value::Bytes(bytes.into()))
                }
                _ => Ok(Value::Object("_codecs.encode".into())),
            },
            // Never called: an object named after its class (copyreg's
            // reconstructor makes one of the class it is given).
            Value::Global(Global::Other(name)) => Ok(Value::Object(match args.first() {
                Some(Value::Global(Global::Other(class)))
                    if name.starts_with("copyreg.") || name.starts_with("copy_reg.") =>
                {
                    class.clone()
                }
                _ => name,
            })),
            other => Err(self.damaged(&format!("a call of a {}", other.kind()))),
        }
    }

    /// `_rebuild_tensor_v2`'s metadata, a dict of the tensor's bits: whether
    /// it is a negated view (`neg`); any other bit set is refused.
    fn tensor_metadata(&mut self, metadata: Option<&Value>) -> Result<bool, String> {
        let Some(metadata) = metadata.filter(|m| **m != Value::None) else {
            return Ok(false);
        };
        let count = self.made.entries(metadata).map_or(0, <[_]>::len);
        self.spend(count)?;
        let entries = self
            .made
            .entries(metadata)
            .ok_or_else(|| self.damaged("a tensor's metadata that is not a dict"))?;
        let mut negated = false;
        for (key, set) in entries {
            match (key, set) {
                (_, Value::Bool(false)) => {}
                (k, Value::Bool(true)) if k.is_text("neg") => negated = true,
                (k, _) => {
                    return Err(format!(
                        "holds a tensor with {} set, which ebmscope does not read: save the state \
                         dict's tensors resolved, `{{k: v.resolve_conj().resolve_neg() for k, v in \
                         sd.items()}}`",
                        k.short()
                    ));
                }
            }
        }
        Ok(negated)
    }

    /// A NumPy array from its BUILD's state: (version, shape, dtype,
    /// Fortran order, bytes), the bytes as Python 2's str or 3's bytes;
    /// opaque where the state is another (an array of Python objects
    /// lists its items; a subclass may add its own).
    fn built_array(&self, state: &Value) -> Result<Value, String> {
        let opaque = Value::Object("numpy.ndarray".into());
        let items = self.made.items(state).unwrap_or_default();
        let [_, shape, Value::Dtype(dtype, _), Value::Bool(fortran), data] = items else {
            return Ok(opaque);
        };
        let bytes: Rc<[u8]> = match data {
            Value::Bytes(b) => b.clone(),
            // (A Python 2 str that is valid UTF-8 holds the same bytes:
            // shared, not copied, however often the pickle recalls it.)
            Value::Text(t) => Rc::<[u8]>::from(t.clone()),
            _ => return Ok(opaque),
        };
        match self.made.usizes(shape) {
            Some(shape) => NdArray::value(dtype, shape, *fortran, bytes, self.file),
            None => Ok(opaque),
        }
    }

    /// A NumPy dtype with its byte order from its BUILD's state (version,
    /// order, …): `>` (big-endian) marks its name; None where the state is
    /// not a dtype's.
    fn built_dtype(&self, name: &str, n: usize, state: &Value) -> Option<Value> {
        match self.made.items(state)? {
            [_, Value::Text(order), ..] if &**order == ">" => {
                Some(Value::Dtype(format!(">{name}").into(), n))
            }
            _ => None,
        }
    }

    /// Run the pickle to its STOP: what it made.
    pub(super) fn load(&mut self) -> Result<Pickled, String> {
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
                    self.made.root = self.pop()?;
                    return Ok(std::mem::replace(&mut self.made, Pickled::empty()));
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
                        return Err(self.damaged("an integer past 128 bits"));
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
                // Text: BINUNICODE, SHORT_BINUNICODE, BINUNICODE8.
                b'X' => Some(self.text(4)?),
                0x8c => Some(self.text(1)?),
                0x8d => Some(self.text(8)?),
                // Python 2's str (BINSTRING, SHORT_BINSTRING): text, or
                // bytes where it is not UTF-8 (an array's bytes).
                b'T' | b'U' => {
                    let len = self.len(if op == b'T' { 4 } else { 1 })?;
                    let bytes = self.take(len)?;
                    Some(match std::str::from_utf8(bytes) {
                        Ok(text) => Value::Text(text.into()),
                        Err(_) => Value::Bytes(bytes.into()),
                    })
                }
                // BINBYTES, SHORT_BINBYTES, BINBYTES8, BYTEARRAY8.
                b'B' => Some(self.bytes_value(4)?),
                b'C' => Some(self.bytes_value(1)?),
                0x8e | 0x96 => Some(self.bytes_value(8)?),
                b')' => Some(self.tuple(Vec::new())),
                b't' => {
                    let items = self.pop_mark()?;
                    Some(self.tuple(items))
                }
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    self.check_reach(n)?;
                    let items = self.stack.split_off(self.stack.len() - n);
                    Some(self.tuple(items))
                }
                b']' => Some(self.list(Vec::new())),
                b'l' => {
                    let items = self.pop_mark()?;
                    Some(self.list(items))
                }
                b'a' => {
                    let item = self.pop()?;
                    self.append(vec![item]).map(|_| None)?
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    self.append(items).map(|_| None)?
                }
                b'}' => Some(self.dict()),
                b'd' => {
                    let items = self.pop_mark()?;
                    let dict = self.dict();
                    self.stack.push(dict);
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
                        return Err(self.damaged("a class named by what is not text"));
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
                // NEWOBJ_EX: a class, its arguments and keyword arguments.
                0x92 => {
                    self.pop()?;
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    Some(self.call(callable, args)?)
                }
                // BUILD: an object's state. A NumPy array's (its shape,
                // dtype and bytes) and dtype's (its byte order) make them;
                // others' (a state dict's `_metadata`, the version of each
                // module's names) are not needed.
                b'b' => {
                    let state = self.pop()?;
                    let built = match self.top()? {
                        Value::Unbuilt(_) => Some(self.built_array(&state)?),
                        Value::Dtype(name, n) => self.built_dtype(name, *n, &state),
                        _ => None,
                    };
                    if let Some(built) = built {
                        // In place, as Python's BUILD: where the memo
                        // keeps the object too, it is the built one.
                        let was = self.pop()?;
                        let kept = was.numpy_object().and_then(|n| self.numpy_kept.get(&n));
                        self.spend(kept.map_or(0, Vec::len))?;
                        let keys = was.numpy_object().and_then(|n| self.numpy_kept.get(&n));
                        for key in keys.into_iter().flatten() {
                            if self.memo.get(key) == Some(&was) {
                                self.memo.insert(*key, built.clone());
                            }
                        }
                        self.stack.push(built);
                    }
                    None
                }
                // EMPTY_SET, FROZENSET; ADDITEMS: opaque, as objects are
                // (a checkpoint may hold one beside its state dict).
                0x8f => Some(Value::Object("builtins.set".into())),
                0x91 => self
                    .pop_mark()
                    .map(|_| Some(Value::Object("builtins.frozenset".into())))?,
                0x90 => {
                    self.pop_mark()?;
                    match self.top()? {
                        Value::Object(_) => None,
                        _ => return Err(self.damaged("items added to what is not a set")),
                    }
                }
                other if self.file == TORCH_FILE => {
                    return Err(format!(
                        "holds pickle opcode 0x{other:02x}, which a state dict's pickle does not use: \
                         save the state dict with torch.save(model.state_dict(), \"W.pth\") or with safetensors"
                    ));
                }
                other => {
                    return Err(format!(
                        "holds pickle opcode 0x{other:02x}, which a {} does not use: is it one?",
                        self.file
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
pub(super) mod tests {
    use super::*;

    /// Pickle text (BINUNICODE).
    pub(in crate::io) fn text(t: &str) -> Vec<u8> {
        [&b"X"[..], &(t.len() as u32).to_le_bytes(), t.as_bytes()].concat()
    }

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
        let made = Unpickler::reading(&p, "test file").load().unwrap();
        assert!(made.storages.is_empty());
        let entries = made.entries(&made.root).unwrap();
        let text = |t: &str| Value::Text(t.into());
        assert_eq!(entries[0].0, text("a"));
        assert_eq!(made.items(&entries[0].1).unwrap(), [Value::Int(1), Value::Int(2)]);
        assert_eq!(entries[1], (text("b"), Value::Int(-2)));
        assert_eq!(entries[2], (text("c"), Value::Bytes(b"hi"[..].into())));
        assert_eq!(entries.len(), 3);
    }

    /// Python's sharing kept: a list the memo recalls is the same list, so
    /// copies cost nothing (a pickle doubling a list by DUP and APPEND 40
    /// times makes 40 items, not 2⁴⁰), and an item appended through one
    /// reference shows through the other.
    #[test]
    fn shared_values_stay_shared() {
        let mut p = vec![0x80, 2, b']', b'q', 0];
        for _ in 0..40 {
            p.extend(b"2a");
        }
        // 7; the list recalled, 8 appended to it, popped; 7 appended.
        p.extend(b"K\x07h\x00K\x08a0a.");
        let made = Unpickler::reading(&p, "test file").load().unwrap();
        let items = made.items(&made.root).unwrap();
        assert_eq!(items.len(), 42);
        assert_eq!(items[40..], [Value::Int(8), Value::Int(7)]);
        assert_eq!(made.sequences.len(), 1, "one list, shared");
    }

    #[test]
    fn a_pickle_that_calls_anything_else_is_refused_before_it_runs() {
        let p = b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00ls\x85R.";
        let err = Unpickler::reading(p, "test file").load().err().unwrap();
        assert!(
            err.contains("calls `os.system`") && err.contains("not run"),
            "{err}"
        );
        // A class of someone's own (a whole model's, argparse's): named,
        // never called, what it makes opaque; so also through copyreg.
        let p = b"\x80\x02cnets\nVanillaNet\n)\x81}b.";
        let made = Unpickler::reading(p, "test file").load().unwrap();
        assert_eq!(made.root, Value::Object("nets.VanillaNet".into()));
        let p = b"\x80\x02ccopyreg\n_reconstructor\ncnets\nVanillaNet\nc__builtin__\nobject\nN\x87R.";
        let made = Unpickler::reading(p, "test file").load().unwrap();
        assert_eq!(made.root, Value::Object("nets.VanillaNet".into()));
        // A function of PyTorch's that no float state dict calls.
        let p = b"\x80\x02ctorch._utils\n_rebuild_tensor_v3\n.";
        let err = Unpickler::reading(p, "test file").load().err().unwrap();
        assert!(err.contains("`torch._utils._rebuild_tensor_v3`: float8"), "{err}");
        assert!(err.contains("v.float()"), "{err}");
    }

    /// As Python's unpickler: nothing is taken from below a MARK, and a
    /// call's arguments are a tuple.
    #[test]
    fn marks_and_calls_are_kept_as_python_keeps_them() {
        let below = b"\x80\x02K\x01(0t.";
        let err = Unpickler::reading(below, "test file").load().err().unwrap();
        assert!(err.contains("below a mark"), "{err}");
        let tuple_below = b"\x80\x02K\x01(\x85t.";
        assert!(
            Unpickler::reading(tuple_below, "test file")
                .load()
                .err()
                .unwrap()
                .contains("below a mark")
        );
        let list_args = b"\x80\x02ccollections\nOrderedDict\n]R.";
        let err = Unpickler::reading(list_args, "test file").load().err().unwrap();
        assert!(err.contains("arguments are not a tuple"), "{err}");
        let tuple_args = b"\x80\x02ccollections\nOrderedDict\n)R.";
        assert!(Unpickler::reading(tuple_args, "test file").load().is_ok());
    }

    #[test]
    fn a_cut_pickle_is_said_to_be_cut() {
        let p = b"\x80\x02X\x05\x00\x00\x00ab";
        let err = Unpickler::reading(p, "test file").load().err().unwrap();
        assert!(err.contains("ends early"), "{err}");
    }

    /// A NumPy array's ops as ndarray.__reduce__ writes them: its
    /// `_reconstruct` kept in the memo (`q\0`) before BUILD gives its state
    /// (shape `dims`, dtype `name` in byte order `order`, bytes `data`:
    /// `list` makes them a list, as an array of objects pickles them).
    pub(in crate::io) fn array_ops(dims: &[u8], name: &str, order: &str, data: &[u8], list: bool) -> Vec<u8> {
        let mut p =
            b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85C\x01b\x87Rq\x00(K\x01("
                .to_vec();
        for d in dims {
            p.extend([b'K', *d]);
        }
        p.extend(b"tcnumpy\ndtype\n");
        p.extend(text(name));
        p.extend(b"K\x00K\x01\x87R(K\x03");
        p.extend(text(order));
        p.extend(b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89");
        if list {
            p.extend(b"]");
        } else {
            p.extend([&b"B"[..], &(data.len() as u32).to_le_bytes(), data].concat());
        }
        p.extend(b"tb");
        p
    }

    /// A pickle of the array alone, recalled from the memo at the end
    /// (`h\0`) after its BUILD.
    fn array_pickle(dims: &[u8], name: &str, order: &str, data: &[u8], list: bool) -> Vec<u8> {
        [
            &b"\x80\x02"[..],
            &array_ops(dims, name, order, data, list),
            b"0h\x00.",
        ]
        .concat()
    }

    /// NumPy's arrays are rebuilt from their state, as NumPy rebuilds
    /// them, in place (the memo's copy is the built one); bytes that do
    /// not fill the shape are refused; arrays of objects stay opaque.
    #[test]
    fn numpy_arrays_are_built_from_their_state() {
        let read = |p: &[u8]| {
            let made = Unpickler::reading(p, "test file").load()?;
            Ok::<Value, String>(made.root)
        };
        let Value::Array(a) = read(&array_pickle(&[2, 1], "u1", "|", b"ab", false)).unwrap() else {
            panic!("not an array");
        };
        assert_eq!(
            (a.dtype.as_str(), &a.shape[..], &a.bytes[..]),
            ("u1", &[2, 1][..], &b"ab"[..])
        );
        let Value::Array(a) = read(&array_pickle(&[1], "f4", ">", &[0; 4], false)).unwrap() else {
            panic!("not an array");
        };
        assert_eq!(a.dtype, ">f4");
        let err = read(&array_pickle(&[3], "u1", "|", b"ab", false)).unwrap_err();
        assert!(
            err.contains("is not a whole test file (a NumPy array of shape [3] (u1) over 2 bytes)"),
            "{err}"
        );
        let objects = read(&array_pickle(&[2], "O", "|", b"", true)).unwrap();
        assert_eq!(objects, Value::Object("numpy.ndarray".into()));
    }

    /// A dtype the pickle keeps once and recalls for a later array stays
    /// the dtype it was, though another of the same name was built
    /// big-endian between (NumPy 2's pickle of float32 arrays a, b in
    /// the other byte order, and c, from scripts/cifar_python_fixtures.py).
    #[test]
    fn a_recalled_dtype_is_the_one_kept() {
        let p = include_bytes!("../../tests/data/cifar-python/dtypes/proto2.pickle");
        let entries = read_pickled_dict(p, "test file").unwrap();
        let dtypes: Vec<(&str, &str)> = (entries.iter())
            .map(|(k, v)| match v {
                PickledEntry::Array(a) => (k.as_str(), a.dtype.as_str()),
                other => panic!("{k}: {other:?}"),
            })
            .collect();
        assert_eq!(dtypes, [("a", "f4"), ("b", ">f4"), ("c", "f4")]);
    }

    /// Memo keys past 255 (LONG_BINPUT, LONG_BINGET), as a CIFAR-10 batch's
    /// 10 000 file names take.
    #[test]
    fn long_memo_keys_are_kept_and_recalled() {
        let p = [
            &b"\x80\x02"[..],
            &text("kept"),
            b"r\x00\x01\x00\x000j\x00\x01\x00\x00.",
        ]
        .concat();
        let made = Unpickler::reading(&p, "test file").load().unwrap();
        assert_eq!(made.root, Value::Text("kept".into()));
    }

    /// A storage view (before PyTorch 0.4) and a tensor's conj bit are refused.
    #[test]
    fn storage_views_and_other_bits_are_refused() {
        // (Bytes it never reads: what it may walk of values is bounded by their length.)
        let mut u = Unpickler::reading(&[0; 64], TORCH_FILE);
        let float = Value::Global(Global::Storage(STORAGE_TYPES[0]));
        let view = u.tuple(vec![Value::Text("k".into()), Value::Int(0), Value::Int(1)]);
        let id = u.tuple(vec![
            Value::Text("storage".into()),
            float,
            Value::Text("k".into()),
            Value::Text("cpu".into()),
            Value::Int(1),
            view,
        ]);
        assert!(u.persistent(id).unwrap_err().contains("storage view"));
        let bits = u.dict();
        let Value::Dict(i) = bits else { unreachable!() };
        u.made.dicts[i].push((Value::Text("conj".into()), Value::Bool(true)));
        let err = u.tensor_metadata(Some(&bits)).unwrap_err();
        assert!(
            err.contains("`conj` set") && err.contains("resolve_conj()"),
            "{err}"
        );
        u.made.dicts[i] = vec![(Value::Text("neg".into()), Value::Bool(true))];
        assert_eq!(u.tensor_metadata(Some(&bits)), Ok(true));
    }

    /// An opcode the machine does not run is refused: a torch.save file's
    /// message says how to save a state dict, another's asks what it is.
    #[test]
    fn an_opcode_not_read_is_named() {
        let p = b"\x80\x02P0\n.";
        let err = Unpickler::reading(p, "test file").load().err().unwrap();
        assert!(
            err.contains("holds pickle opcode 0x50, which a test file does not use: is it one?"),
            "{err}"
        );
        let err = Unpickler::reading(p, TORCH_FILE).load().err().unwrap();
        assert!(err.contains("torch.save(model.state_dict()"), "{err}");
    }

    /// A pickle that recalls one value for many copies (a text to encode
    /// as bytes, a list for many of a dict's entries) is refused once the
    /// copies pass its own length: its cost would be the square of it.
    #[test]
    fn recalling_a_value_for_many_copies_is_refused() {
        let text_100 = "x".repeat(100);
        let encodes: Vec<u8> = (0..100)
            .flat_map(|_| [&b"c_codecs\nencode\nh\x00"[..], &text("latin1"), b"\x86R0"].concat())
            .collect();
        let p = [&b"\x80\x02"[..], &text(&text_100), b"q\x00", &encodes, b"N."].concat();
        let err = Unpickler::reading(&p, "test file").load().err().unwrap();
        assert!(err.contains("copies more than it holds"), "{err}");
        // Each once, as a file writes them, is read.
        let once = [
            &b"\x80\x02c_codecs\nencode\n"[..],
            &text(&text_100),
            &text("latin1"),
            b"\x86R.",
        ]
        .concat();
        let made = Unpickler::reading(&once, "test file").load().unwrap();
        assert_eq!(made.root, Value::Bytes(text_100.as_bytes().into()));

        let list: Vec<u8> = [&b"]("[..], &b"K\x01".repeat(100), b"eq\x00"].concat();
        let entries: Vec<u8> = (0..50)
            .flat_map(|i| [text(&format!("k{i}")), b"h\x00s".to_vec()].concat())
            .collect();
        let dict = [&b"\x80\x02}"[..], &text("a"), &list, b"s", &entries, b"."].concat();
        let err = read_pickled_dict(&dict, "test file").err().unwrap();
        assert!(
            err.contains("recalls its keys or lists for more entries than it holds"),
            "{err}"
        );
        let one = [&b"\x80\x02}"[..], &text("a"), &list, b"s."].concat();
        let read = read_pickled_dict(&one, "test file").unwrap();
        assert!(matches!(&read[..], [(k, PickledEntry::Ints(l))] if k == "a" && l.len() == 100));
    }
}
