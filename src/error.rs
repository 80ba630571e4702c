//! Typed errors of the library. Every message says what was wrong and what to do.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no GPU adapter found by wgpu{backends}.\n{}{see_info}", no_adapter_fix(.gl))]
    NoAdapter {
        backends: String,
        /// Whether the backend asked for was GL alone (its drivers are others).
        gl: bool,
        /// " `ebmscope info` lists what wgpu sees." where that is news.
        see_info: &'static str,
    },

    #[error(
        "no GPU adapter matches `{wanted}`; wgpu sees: {available}.\n\
         Pass part of one of these names to --adapter (or EBMSCOPE_ADAPTER), or leave it unset."
    )]
    AdapterNotFound { wanted: String, available: String },

    #[error(
        "unknown backend `{0}` (--backend or EBMSCOPE_BACKEND): use {here} (or leave both unset)",
        here = BACKENDS_HERE
    )]
    UnknownBackend(String),

    #[error(
        "backend `{backend}` (--backend or EBMSCOPE_BACKEND) is {maker}'s, not on {os}: leave both \
         unset for the best adapter here, or choose {here}",
        here = BACKENDS_HERE
    )]
    BackendNotHere {
        backend: &'static str,
        maker: &'static str,
        os: &'static str,
    },

    #[error("adapter `{adapter}` cannot run ebmscope's compute shaders: {reason}")]
    AdapterUnsuitable { adapter: String, reason: String },

    #[error(
        "could not open a device on adapter `{adapter}`: {reason} (choose another with --adapter NAME \
         or --backend; `ebmscope info` lists them)"
    )]
    Device { adapter: String, reason: String },

    #[error("shader `{shader}` failed to compile on this adapter: {reason}")]
    Shader { shader: String, reason: String },

    #[error("the GPU (`{adapter}`) ran out of memory making {what}: {fix}")]
    OutOfMemory {
        what: String,
        adapter: String,
        fix: String,
    },

    #[error("wgpu refused {what}: {reason}")]
    Refused { what: String, reason: String },

    #[error("GPU readback failed: {0}")]
    Readback(String),

    #[error("{0}")]
    Shape(String),

    #[error(
        "learning diverged at iteration {iteration}: {why}. The last checkpoint written before it, if any, is kept; \
         try a smaller learning rate or step size (--set optimizer.lr=…, --set langevin.epsilon=…)"
    )]
    Diverged { iteration: u64, why: String },

    #[error(
        "the model holds the step of iteration {iteration}, which diverged ({why}): it is neither saved \
         nor sampled from. Load a checkpoint or start over (Reset) first (or Step on with a smaller \
         learning rate or ε until an iteration passes)"
    )]
    HoldsDivergedStep { iteration: u64, why: String },

    #[error("{}", settings_said(.0))]
    Config(String),

    /// Long work (a long run, a landscape map) or an evaluation stopped on request.
    #[error("{0} stopped")]
    Stopped(String),

    #[error("{path}: {reason}")]
    File { path: PathBuf, reason: String },

    // The I/O error is part of the message, not a source as well: printed
    // with its chain, it would appear twice.
    #[error("{path}: {error}{}", io_hint(.error))]
    Io { path: PathBuf, error: std::io::Error },
}

/// A settings error says so; one of a command's option (`--steps 0`)
/// names the option alone: no configuration file or `--set` is involved.
fn settings_said(message: &str) -> String {
    if message.starts_with("--") {
        message.to_string()
    } else {
        format!("configuration: {message}")
    }
}

/// The backends wgpu builds on this system (Metal for Apple's systems only,
/// DX12 for Windows only).
pub const BACKENDS_HERE: &str = if cfg!(windows) {
    "dx12, vulkan or gl"
} else if cfg!(target_vendor = "apple") {
    "metal"
} else {
    "vulkan or gl"
};

/// How to get an adapter where wgpu found none (`gl`: for the GL backend
/// alone), on this system; first, a driver-list variable set that may hide
/// the drivers installed (a stale one is a common cause).
fn no_adapter_fix(gl: &bool) -> String {
    let hiding: Vec<String> = [
        "VK_ICD_FILENAMES",
        "VK_DRIVER_FILES",
        "VK_ADD_DRIVER_FILES",
        "__EGL_VENDOR_LIBRARY_FILENAMES",
    ]
    .iter()
    .filter_map(|key| {
        let value = std::env::var(key).ok().filter(|v| !v.is_empty())?;
        Some(format!("{key}={value}"))
    })
    .collect();
    let hiding = match hiding.len() {
        0 => String::new(),
        1 => format!(
            "{} is set, and may hide the drivers installed: unset it and try again. ",
            hiding[0]
        ),
        _ => format!(
            "{} are set, and may hide the drivers installed: unset them and try again. ",
            hiding.join(" and ")
        ),
    };
    let get = if *gl {
        "To get one for GL: install Mesa's EGL and GL drivers (Debian/Ubuntu: `sudo apt-get install \
         libegl1 libegl-mesa0 libgl1-mesa-dri`), or leave --backend (and EBMSCOPE_BACKEND) unset \
         for the other backends."
    } else if cfg!(target_vendor = "apple") {
        "Metal needs a Mac whose GPU has it (a virtual machine often has none): run on the Mac \
         itself, or update macOS."
    } else if cfg!(windows) {
        "To get one: install your GPU's driver from its maker (NVIDIA, AMD or Intel); wgpu tries \
         DX12, Vulkan and GL."
    } else {
        "To get one: install your GPU's Vulkan driver, or without a GPU Mesa's software Vulkan \
         driver (Debian/Ubuntu: `sudo apt-get install mesa-vulkan-drivers`, Fedora: `sudo dnf \
         install mesa-vulkan-drivers`)."
    };
    format!("{hiding}{get}")
}

/// What to do about an I/O error where the system's words leave it unsaid:
/// a path through a file (`--out notes.txt/run`), or on Windows a file
/// another program may hold open (ERROR_ACCESS_DENIED, 5, may also be a
/// read-only file or a folder not to write in).
fn io_hint(error: &std::io::Error) -> &'static str {
    if error.kind() == std::io::ErrorKind::NotADirectory {
        " (a folder on this path is a file: choose another path)"
    } else if error.kind() == std::io::ErrorKind::PermissionDenied && !crate::io::held_open(error) {
        " (this user may not read or write there: choose a path in a folder of yours, or change the \
         folder's permissions)"
    } else if !crate::io::held_open(error) {
        ""
    } else if error.raw_os_error() == Some(5) {
        " (if another program has it open, a spreadsheet, an image viewer or Python, close it; \
         else check that it is not read-only and that you may write there; then try again)"
    } else {
        " (another program has it open, a spreadsheet, an image viewer or Python: close it, then \
         try again)"
    }
}

impl Error {
    pub fn file(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::File {
            path: path.into(),
            reason: reason.into(),
        }
    }

    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            error: source,
        }
    }

    /// A file's error with `after` (what the caller does without it, or
    /// what to do) at the end of its reason; others as they are.
    pub fn with_fix(self, after: &str) -> Self {
        match self {
            Error::File { path, reason } => Error::File {
                path,
                reason: reason + after,
            },
            e => e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_options_error_names_the_option_alone() {
        let setting = Error::Config("`langevin.epsilon`: must be a finite number > 0".into());
        assert_eq!(
            setting.to_string(),
            "configuration: `langevin.epsilon`: must be a finite number > 0"
        );
        let option = Error::Config("--every must be at least 1".into());
        assert_eq!(option.to_string(), "--every must be at least 1");
    }

    /// A folder this user may not write in says so, and what to do (the
    /// system says only "Permission denied").
    #[test]
    fn a_path_this_user_may_not_write_says_what_to_do() {
        let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let err = Error::io("ro/run", denied).to_string();
        assert!(err.contains("this user may not read or write there"), "{err}");
    }

    /// A path through a file is said to be one (the system says only "Not
    /// a directory"; Windows says "path not found", which has other causes).
    #[cfg(unix)]
    #[test]
    fn a_path_through_a_file_is_named_so() {
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path();
        let file = dir.join("notes.txt");
        std::fs::write(&file, "x").unwrap();
        let past = file.join("run");
        let err = Error::io(&past, std::fs::create_dir_all(&past).unwrap_err()).to_string();
        assert!(
            err.ends_with("(a folder on this path is a file: choose another path)"),
            "{err}"
        );
    }
}
