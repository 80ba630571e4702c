//! Files: parameters and tensors in safetensors, interchangeable with PyTorch
//! (`safetensors.torch.save_file(model.state_dict(), …)` and `load_file`).

mod tensors;
mod weights;

pub use tensors::{
    Tensor, read_all, read_tensor, write_atomically, write_tensors, write_tensors_with_metadata,
};
pub use weights::{ADAM_M_TENSOR, ADAM_V_TENSOR, BANK_TENSOR, load_params, save_params};

use std::path::Path;

/// Refuse an output folder `out` that is a file, or that already holds a
/// `what` (its `marker` file) unless `replace`: nothing written is lost.
/// `elsewhere` says, for the front end at hand, how to choose another
/// (e.g. "--out"); `replace_how` how to replace one (e.g. "pass --force to
/// replace it, or ").
pub fn check_out_folder(
    out: &Path,
    marker: &str,
    what: &str,
    replace: bool,
    replace_how: &str,
    elsewhere: &str,
) -> crate::Result<()> {
    if out.exists() && !out.is_dir() {
        return Err(crate::Error::file(
            out,
            format!("is a file, not a folder: choose a folder for the {what} ({elsewhere})"),
        ));
    }
    if out.join(marker).exists() && !replace {
        return Err(crate::Error::file(
            out,
            format!("already holds a {what}: {replace_how}choose another {elsewhere}"),
        ));
    }
    Ok(())
}
