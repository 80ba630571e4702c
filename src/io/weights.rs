use std::path::Path;

use super::first_of;
use super::tensors::{
    Tensor, dtype_name, is_floating_point, parse, python_str, read_file, state_dict_in_python, to_f32,
    write_tensors,
};
use crate::model::{NetKind, NetSpec, ParamLayout};
use crate::{Error, Result};

/// Save a flat parameter vector under its state-dict names and shapes.
pub fn save_params(path: &Path, layout: &ParamLayout, params: &[f32]) -> Result<()> {
    if params.len() != layout.total {
        return Err(Error::Shape(format!(
            "{} parameters given for a layout of {}",
            params.len(),
            layout.total
        )));
    }
    let tensors: Vec<Tensor> = layout
        .tensors
        .iter()
        .map(|t| Tensor {
            name: t.name.clone(),
            shape: t.shape.clone(),
            data: params[t.offset..t.offset + t.len].to_vec(),
        })
        .collect();
    write_tensors(path, &tensors)
}

/// The tensors a training checkpoint holds beside the parameters: the
/// optimizer's state, the persistent chains and the last iteration's X⁻.
pub const ADAM_M_TENSOR: &str = "optimizer.adam_m";
pub const ADAM_V_TENSOR: &str = "optimizer.adam_v";
pub const BANK_TENSOR: &str = "bank";
pub const CHAINS_TENSOR: &str = "chains";
const CHECKPOINT_EXTRAS: [&str; 4] = [ADAM_M_TENSOR, ADAM_V_TENSOR, BANK_TENSOR, CHAINS_TENSOR];

/// The network a state dict at `path` is the weights of, where it is one of
/// ebmscope's: its kind and, for the image nets, channels n_c and base
/// width n_f (read off the first layer's weight, then every tensor's shape
/// checked), for the message that refuses it for another network.
pub fn fitting_net(path: &Path) -> Option<(NetKind, usize, usize)> {
    let bytes = read_file(path).ok()?;
    let st = parse(path, &bytes).ok()?;
    let shape = |name: &str| st.tensor(name).ok().map(|t| t.shape().to_vec());
    let widths = |first: &str| match shape(first).as_deref() {
        Some(&[n_f, n_c, _, _]) => Some((n_c, n_f)),
        _ => None,
    };
    // (A run's checkpoint holds its optimizer state and chains beside them.)
    let names = st
        .names()
        .into_iter()
        .filter(|n| !CHECKPOINT_EXTRAS.contains(n))
        .count();
    [
        (NetKind::Toy, Some((0, 0))),
        (NetKind::Vanilla, widths("f.0.weight")),
        (NetKind::Nonlocal, widths("convs.0.weight")),
    ]
    .into_iter()
    .find_map(|(kind, widths)| {
        let (n_c, n_f) = widths?;
        let layout = NetSpec::build(kind, n_c, n_f).ok()?.param_layout().ok()?;
        let fits = layout.tensors.len() == names
            && layout
                .tensors
                .iter()
                .all(|t| shape(&t.name).as_ref() == Some(&t.shape));
        fits.then_some((kind, n_c, n_f))
    })
}

/// Load parameters saved by ebmscope or by PyTorch (a state dict saved with
/// safetensors or torch.save), or those of a run's checkpoint (its optimizer state and
/// chains are passed over). Refuses, naming the tensor, a file with a
/// missing, extra or mis-shaped tensor; `fix` says how to choose the
/// network the file is (e.g. "wrong --net, --n-c or --n-f?"; made only for
/// such a refusal).
pub fn load_params(path: &Path, layout: &ParamLayout, fix: impl Fn() -> String) -> Result<Vec<f32>> {
    let bytes = read_file(path)?;
    let st = parse(path, &bytes)?;
    // A file ebmscope wrote (a checkpoint, a run's weights/ file) says
    // what its tensors were: one damaged since is refused, as a resume
    // refuses its checkpoint, not run or converted as if whole. (Marked
    // ours: another tool's `crc32` may be of anything.)
    if let Ok(metadata) = super::tensors::metadata_of(path, &bytes)
        && metadata.get(super::WRITTEN_BY.0).map(String::as_str) == Some(super::WRITTEN_BY.1)
    {
        super::refuse_damaged(
            path,
            &super::tensors::tensors_of(path, &st)?,
            &metadata,
            "use a copy from a backup, or another of the run's weights/ files",
        )?;
    }
    let expected = |hint: &str| {
        let list = layout.tensors.iter().map(|t| format!("{} {:?}", t.name, t.shape));
        format!("{hint}; this network expects: {}", first_of(list))
    };
    let mut extra: Vec<_> = st
        .names()
        .into_iter()
        .filter(|n| layout.get(n).is_none() && !CHECKPOINT_EXTRAS.contains(n))
        .collect();
    extra.sort();
    // A wrapped model's state dict (DataParallel's `module.`, Lightning's
    // `net.`, say): every name the network has, under a prefix; or two
    // models' (an EMA's beside its model's), each under its own.
    // (Where the names are there unwrapped too, the extras are another
    // model's beside them: listed below as tensors the net does not have.)
    let first = &layout.tensors[0].name;
    let holds = |p: &str| {
        layout
            .tensors
            .iter()
            .all(|t| st.tensor(&format!("{p}{}", t.name)).is_ok())
    };
    let prefixes: Vec<&str> = extra
        .iter()
        .filter_map(|n| n.strip_suffix(first.as_str()))
        .filter(|p| !p.is_empty() && !holds("") && holds(p))
        .collect();
    let (sd, save, out) = state_dict_in_python(path, &bytes);
    if let Some(&prefix) = prefixes.first() {
        // (The names without it left out where there are any: AveragedModel's `n_averaged`.)
        let line = |p: &str| {
            let only = st.names().into_iter().any(|n| !n.starts_with(p));
            let only = if only {
                format!(" if k.startswith({})", python_str(p))
            } else {
                String::new()
            };
            format!(
                "`{save}({{k.removeprefix({}): v for k, v in {sd}.items(){only}}}, \"{out}\")`",
                python_str(p)
            )
        };
        // What else the file holds (a step counter, say), which the line leaves out.
        let mut beside: Vec<String> = st
            .names()
            .into_iter()
            .filter(|n| !prefixes.iter().any(|p| n.starts_with(p)))
            .map(|n| format!("`{n}`"))
            .collect();
        beside.sort();
        let beside = if beside.is_empty() {
            String::new()
        } else {
            format!(" (beside them {}, which it leaves out)", first_of(beside.iter()))
        };
        if prefixes.len() > 1 {
            let under: Vec<String> = prefixes.iter().map(|p| format!("`{p}`")).collect();
            return Err(Error::file(
                path,
                format!(
                    "holds {} models' state dicts, under {}: save the one you mean alone, e.g. {}{beside}",
                    prefixes.len(),
                    under.join(", "),
                    line(prefix)
                ),
            ));
        }
        // torch.compile's wrapper keeps the model as `_orig_mod`; DataParallel's
        // and swa_utils.AveragedModel's as `module`.
        let inner = match prefix {
            "module." => {
                " (DataParallel's or AveragedModel's): save the inner model's, model.module.state_dict(), or"
            }
            "_orig_mod." => " (torch.compile's): save the inner model's, model._orig_mod.state_dict(), or",
            _ => ": save",
        };
        return Err(Error::file(
            path,
            format!(
                "its tensor names start with `{prefix}` (`{prefix}{first}`, …), a wrapped model's state \
                 dict{inner} the names without it, {}{beside}",
                line(prefix)
            ),
        ));
    }
    // Integers or bools beside the weights (a step counter): the net has
    // none, and the file is its weights once they are left out.
    let not_float: Vec<String> = extra
        .iter()
        .filter_map(|n| {
            let dtype = st.tensor(n).ok()?.dtype();
            (!is_floating_point(dtype)).then(|| format!("`{n}` ({})", dtype_name(dtype)))
        })
        .collect();
    if !extra.is_empty() && not_float.len() == extra.len() && holds("") {
        return Err(Error::file(
            path,
            format!(
                "holds tensor(s) of integers or bools beside the weights, which this network does not \
                 have: {}; leave them out, `{save}({{k: v for k, v in {sd}.items() if \
                 v.is_floating_point()}}, \"{out}\")`",
                first_of(not_float.iter()),
            ),
        ));
    }
    if !extra.is_empty() {
        return Err(Error::file(
            path,
            expected(&format!(
                "has tensor(s) this network does not have: {} ({})",
                first_of(extra.iter()),
                fix()
            )),
        ));
    }
    let mut params = vec![0.0; layout.total];
    for slot in &layout.tensors {
        let view = st
            .tensor(&slot.name)
            .map_err(|_| Error::file(path, expected(&format!("is missing tensor `{}`", slot.name))))?;
        if view.shape() != slot.shape.as_slice() {
            return Err(Error::file(
                path,
                format!(
                    "tensor `{}` has shape {:?}, this network expects {:?} ({})",
                    slot.name,
                    view.shape(),
                    slot.shape,
                    fix()
                ),
            ));
        }
        let values = to_f32(path, &slot.name, &view)?;
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(Error::file(
                path,
                format!(
                    "tensor `{}` holds {} at flat index {i}: weights of a model that diverged (no \
                     model to compute with); take an earlier save of it",
                    slot.name, values[i]
                ),
            ));
        }
        params[slot.offset..slot.offset + slot.len].copy_from_slice(&values);
    }
    Ok(params)
}
