//! Files: parameters and tensors in safetensors, interchangeable with PyTorch
//! (`safetensors.torch.save_file(model.state_dict(), …)` and `load_file`).

mod tensors;
mod weights;

pub use tensors::{
    Tensor, read_all, read_tensor, write_atomically, write_tensors, write_tensors_with_metadata,
};
pub use weights::{ADAM_M_TENSOR, ADAM_V_TENSOR, BANK_TENSOR, CHAINS_TENSOR, load_params, save_params};

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

/// The folder inside an output folder where a replacing set of outputs is
/// written before it takes the old set's place (see [`replace_outputs`]).
pub const STAGING_FOLDER: &str = ".new-outputs";

/// Write a command's outputs into `out` with `write` (given the folder to
/// write into), replacing an older set there (the files `is_old` names,
/// `marker` among them) only once the new one is whole: the new files go
/// into [`STAGING_FOLDER`] first, then the old ones are removed (the marker
/// first) and the new ones moved in (the marker last). A failure, or a kill
/// before that, leaves the older set as it was. An older set is one with
/// its marker or one of `also_signs` (files written before the marker, so
/// that an unfinished set counts too); with none, `write` writes into
/// `out` itself, so that a long job's files show as they come (a file that
/// merely shares a name with an output is not the command's to remove), and
/// a failure there takes the marker away again.
pub fn replace_outputs<T>(
    out: &Path,
    marker: &str,
    also_signs: &[&str],
    is_old: impl Fn(&str) -> bool,
    write: impl FnOnce(&Path) -> crate::Result<T>,
) -> crate::Result<T> {
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |e| crate::Error::io(p, e)
    };
    std::fs::create_dir_all(out).map_err(io(out))?;
    let staging = out.join(STAGING_FOLDER);
    if staging.exists() {
        // (An interrupted replacement's: the older set is still in place.)
        std::fs::remove_dir_all(&staging).map_err(io(&staging))?;
    }
    let outputs = |dir: &Path| -> crate::Result<Vec<std::path::PathBuf>> {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io(dir))? {
            let path = entry.map_err(io(dir))?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if path.is_file() && (name == marker || is_old(name)) {
                files.push(path);
            }
        }
        Ok(files)
    };
    if ![marker]
        .iter()
        .chain(also_signs)
        .any(|sign| out.join(sign).exists())
    {
        let value = write(out);
        if value.is_err() {
            // A set that failed is none to keep: without its marker, trying
            // again needs no --force.
            let _ = std::fs::remove_file(out.join(marker));
        }
        return value;
    }
    let old = outputs(out)?;
    std::fs::create_dir(&staging).map_err(io(&staging))?;
    let value = match write(&staging) {
        Ok(value) => value,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    let marker_at = out.join(marker);
    if marker_at.exists() {
        std::fs::remove_file(&marker_at).map_err(io(&marker_at))?;
    }
    for path in old.iter().filter(|p| p.exists()) {
        std::fs::remove_file(path).map_err(io(path))?;
    }
    let mut new = Vec::new();
    for entry in std::fs::read_dir(&staging).map_err(io(&staging))? {
        new.push(entry.map_err(io(&staging))?.path());
    }
    // The marker last.
    new.sort_by_key(|p| p.file_name().is_some_and(|n| n == marker));
    for path in new {
        let to = out.join(path.file_name().unwrap_or_default());
        std::fs::rename(&path, &to).map_err(io(&to))?;
    }
    std::fs::remove_dir(&staging).map_err(io(&staging))?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A replacement that fails leaves the older set (and the user's files)
    /// as they were; one that succeeds swaps the sets, marker last, and
    /// leaves no staging folder.
    #[test]
    fn outputs_are_replaced_only_when_the_new_set_is_whole() {
        let out = std::env::temp_dir().join(format!("ebmscope-replace-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&out);
        std::fs::create_dir_all(&out).unwrap();
        let is_old = |name: &str| name.starts_with("picture_");
        for (name, text) in [
            ("done.csv", "old"),
            ("picture_1.png", "old"),
            ("notes.txt", "mine"),
        ] {
            std::fs::write(out.join(name), text).unwrap();
        }
        let failed: crate::Result<()> = replace_outputs(&out, "done.csv", &[], is_old, |dir| {
            std::fs::write(dir.join("picture_2.png"), "new").unwrap();
            Err(crate::Error::Config("stopped".into()))
        });
        assert!(failed.is_err());
        let read = |name: &str| std::fs::read_to_string(out.join(name)).ok();
        assert_eq!(
            (read("done.csv"), read("picture_1.png")),
            (Some("old".into()), Some("old".into()))
        );
        assert!(!out.join("picture_2.png").exists() && !out.join(STAGING_FOLDER).exists());
        replace_outputs(&out, "done.csv", &[], is_old, |dir| {
            assert_eq!(dir, out.join(STAGING_FOLDER));
            for name in ["picture_2.png", "done.csv"] {
                std::fs::write(dir.join(name), "new").map_err(|e| crate::Error::io(dir, e))?;
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(
            (read("done.csv"), read("picture_2.png")),
            (Some("new".into()), Some("new".into()))
        );
        assert!(!out.join("picture_1.png").exists() && !out.join(STAGING_FOLDER).exists());
        assert_eq!(read("notes.txt"), Some("mine".into()));
        let _ = std::fs::remove_dir_all(&out);
    }
}
