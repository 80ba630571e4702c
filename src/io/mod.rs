//! Files: parameters and tensors in safetensors, interchangeable with PyTorch
//! (`safetensors.torch.save_file(model.state_dict(), …)` and `load_file`);
//! PyTorch's own state dicts (`torch.save(model.state_dict(), …)`) read too.

mod pickle;
mod png_file;
mod tensors;
mod torch_file;
mod weights;

pub(crate) use pickle::{PickledEntry, read_pickled_dict};
pub use png_file::{PNG_MARK, Pixels, png_written_by_ebmscope, write_png};
pub use tensors::{
    Tensor, WRITTEN_BY, holds_weights_alone, is_atomic_temporary, is_checkpoint, read_all, read_metadata,
    read_tensor, refuse_damaged, refuse_edited_metadata, tensor_names, write_atomically, write_tensors,
    write_tensors_with_metadata, written_by_ebmscope,
};
pub(crate) use torch_file::is_torch_save;
pub use weights::{
    ADAM_M_TENSOR, ADAM_V_TENSOR, BANK_TENSOR, CHAINS_TENSOR, fitting_net, load_params, save_params,
};

use std::path::Path;

/// Whether `e` is Windows refusing a rename or removal because another
/// program holds the file open (ERROR_ACCESS_DENIED, ERROR_SHARING_VIOLATION,
/// ERROR_LOCK_VIOLATION): a spreadsheet on metrics.csv, a viewer on a
/// picture, Python on a checkpoint, or for a moment a virus scanner,
/// indexer or sync client reading a file just written. (Other systems let
/// open files be renamed and removed.)
pub fn held_open(e: &std::io::Error) -> bool {
    cfg!(windows) && matches!(e.raw_os_error(), Some(5 | 32 | 33))
}

/// `op` (a rename or removal), tried again for up to 2 s while it is
/// [`held_open`]: a scanner's hold passes, a program's open file is still
/// named in the error then.
fn retrying<T>(mut op: impl FnMut() -> std::io::Result<T>) -> std::io::Result<T> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        match op() {
            Err(e) if held_open(&e) && std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            done => return done,
        }
    }
}

/// `std::fs::rename`, through a moment's hold on Windows ([`retrying`]).
#[allow(clippy::disallowed_methods)] // the one call of std's
pub fn rename(from: impl AsRef<Path>, to: impl AsRef<Path>) -> std::io::Result<()> {
    retrying(|| std::fs::rename(&from, &to))
}

/// `std::fs::remove_file`, through a moment's hold on Windows ([`retrying`]).
#[allow(clippy::disallowed_methods)] // the one call of std's
pub fn remove_file(path: impl AsRef<Path>) -> std::io::Result<()> {
    retrying(|| std::fs::remove_file(&path))
}

/// `std::fs::remove_dir_all`, through a moment's hold on Windows
/// ([`retrying`]): what it removed before the refusal stays removed.
#[allow(clippy::disallowed_methods)] // the one call of std's
pub fn remove_dir_all(path: impl AsRef<Path>) -> std::io::Result<()> {
    retrying(|| std::fs::remove_dir_all(&path))
}

/// The lock file in a folder a command writes (a run's, a long run's, a
/// landscape's; see [`lock_folder`]).
pub const LOCK_FILE: &str = ".ebmscope.lock";

/// Lock folder `dir` (which exists) for this process until the returned
/// file is dropped, or refuse while another process holds it: two
/// commands writing one folder would remove or overwrite each other's
/// files. The lock file stays (removing it would let a third process lock
/// a new one while the second holds the old).
pub fn lock_folder(dir: &Path) -> crate::Result<std::fs::File> {
    let path = dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io_err(&path))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(crate::Error::file(
            dir,
            "is being written by another ebmscope command right now: wait for it to finish or stop \
             it, or choose another folder",
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(crate::Error::io(&path, e)),
    }
}

/// The first few of a list, and how many it has where that is more: a
/// message names enough tensors to tell a net by, not all 26 of one.
pub(crate) fn first_of<T: std::fmt::Display>(items: impl ExactSizeIterator<Item = T>) -> String {
    const SHOWN: usize = 6;
    let n = items.len();
    let shown: Vec<String> = items.take(SHOWN).map(|t| t.to_string()).collect();
    if n > SHOWN {
        format!("{}, … ({n} in all)", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

/// A file whose presence says a set of outputs is in a folder, known by
/// its name and the start of its first line (a CSV's header; `headers`:
/// as this release writes it, then older forms): a file of that name that
/// starts otherwise is someone else's.
#[derive(Clone, Copy, Debug)]
pub struct Sign {
    pub name: &'static str,
    pub headers: &'static [&'static str],
}

impl Sign {
    /// Whether `dir` holds this sign: the file, starting with one of its
    /// headers (after a BOM a spreadsheet may have added), or shorter and
    /// the start of one, empty included (a job killed as it began it).
    fn is_in(&self, dir: &Path) -> bool {
        use std::io::Read;
        let longest = self.headers.iter().map(|h| h.len()).max().unwrap_or(0);
        let mut start = Vec::new();
        let read = std::fs::File::open(dir.join(self.name))
            .and_then(|f| f.take(longest as u64 + 3).read_to_end(&mut start));
        let start = start.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&start);
        read.is_ok()
            && self.headers.iter().any(|h| {
                let h = h.as_bytes();
                start.starts_with(h) || (start.len() < h.len() && h.starts_with(start))
            })
    }
}

/// A command's set of outputs in a folder (a long run's, a landscape's):
/// how a folder is seen to hold one, and which files are its own.
#[derive(Clone, Copy, Debug)]
pub struct OutputSet {
    /// What the set is, in messages ("long run").
    pub what: &'static str,
    /// Written last: a folder holding it holds a finished set.
    pub marker: Sign,
    /// Written first: a folder holding one (and no marker) holds an
    /// unfinished set, which the next one replaces without --force.
    pub signs: &'static [Sign],
    /// Whether a file, by name, is one of the set's (marker and signs aside).
    pub is_own: fn(&str) -> bool,
}

impl OutputSet {
    /// Whether `name` is the marker's or a sign's name.
    pub fn is_sign(&self, name: &str) -> bool {
        name == self.marker.name || self.signs.iter().any(|s| s.name == name)
    }

    /// Whether `dir` holds a set, finished or not.
    pub fn is_in(&self, dir: &Path) -> bool {
        self.is_finished_in(dir) || self.signs.iter().any(|s| s.is_in(dir))
    }

    /// Whether `dir` holds a finished set (its marker).
    pub fn is_finished_in(&self, dir: &Path) -> bool {
        self.marker.is_in(dir)
    }

    /// The set's files in `dir` (signs included).
    fn files_in(&self, dir: &Path) -> crate::Result<Vec<std::path::PathBuf>> {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
            let path = entry.map_err(io_err(dir))?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if path.is_file() && (self.is_sign(name) || (self.is_own)(name)) {
                files.push(path);
            }
        }
        Ok(files)
    }

    /// Refuse a folder `out` that holds no set but a file named as one of
    /// the set's: someone's own, not the set's to overwrite. `elsewhere`
    /// says how to choose another folder.
    fn refuse_foreign(&self, out: &Path, elsewhere: &str) -> crate::Result<()> {
        if !out.is_dir() || self.is_in(out) {
            return Ok(());
        }
        if let Some(path) = self.files_in(out)?.first() {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            let what = self.what;
            // (The marker itself is there, but not as a set of ours writes it.)
            let found = if name == self.marker.name {
                format!("holds a {name} that no {what} of ours wrote")
            } else {
                format!("holds a {name} but no {what} (no {} of ours)", self.marker.name)
            };
            return Err(crate::Error::file(
                out,
                format!(
                    "{found}, and a {what} writes its own {name}: move that file, or choose another \
                     {elsewhere}"
                ),
            ));
        }
        Ok(())
    }
}

/// Refuse an output folder `out` that is a file, that already holds a
/// finished `set` unless `replace`, or that holds none but a file named as
/// one of its own: nothing written is lost. A replacement killed during
/// its swap (the folder half old, half new) is refused so, unless
/// `replace`: [`replace_outputs`] finishes it first. Nothing is written
/// here (another process may be in its swap). `elsewhere` says, for the
/// front end at hand, how to choose another (e.g. "--out"); `replace_how`
/// how to replace one (e.g. "pass --force to replace it, or ").
pub fn check_out_folder(
    out: &Path,
    set: &OutputSet,
    replace: bool,
    replace_how: &str,
    elsewhere: &str,
) -> crate::Result<()> {
    let what = set.what;
    if out.exists() && !out.is_dir() {
        return Err(crate::Error::file(
            out,
            format!("is a file, not a folder: choose a folder for the {what} ({elsewhere})"),
        ));
    }
    if out.join(STAGING_FOLDER).join(SWAP_FILE).exists() && !replace {
        return Err(crate::Error::file(
            out,
            format!(
                "holds a {what} that was being replaced when its command stopped (the new one whole in \
                 {STAGING_FOLDER}/, part of it moved in): {replace_how}choose another {elsewhere}"
            ),
        ));
    }
    if set.is_finished_in(out) && !replace {
        return Err(crate::Error::file(
            out,
            format!("already holds a {what}: {replace_how}choose another {elsewhere}"),
        ));
    }
    set.refuse_foreign(out, elsewhere)
}

/// `s` as one word of a command line printed for the user to run: as it
/// is where it holds only characters no shell reads specially, else
/// quoted: in single quotes for POSIX shells; on Windows in double quotes,
/// which cmd and PowerShell both read (cmd passes single quotes on as part
/// of the word), and with `\` plain there, its paths' separator. (A
/// trailing `\` is doubled inside the quotes: a program's argument parser
/// reads `\"` as a quote. cmd's `%VAR%` and PowerShell's `$name` are
/// expanded inside them; no one quoting serves both.)
pub fn shell_word(s: &str) -> String {
    let plain =
        |c: char| c.is_ascii_alphanumeric() || "_./-+:@%,=".contains(c) || (cfg!(windows) && c == '\\');
    if !s.is_empty() && s.chars().all(plain) {
        s.to_string()
    } else if cfg!(windows) {
        let trailing = s.len() - s.trim_end_matches('\\').len();
        format!("\"{s}{}\"", "\\".repeat(trailing))
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// A path as one word of a printed command line ([`shell_word`]).
pub fn shell_path(path: &Path) -> String {
    shell_word(&path.display().to_string())
}

/// An io::Error at `path` as this crate's.
pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> crate::Error + '_ {
    move |e| crate::Error::io(path, e)
}

/// The folder inside an output folder where a replacing set of outputs is
/// written before it takes the old set's place (see [`replace_outputs`]).
pub const STAGING_FOLDER: &str = ".new-outputs";

/// Written into [`STAGING_FOLDER`] once the new set there is whole: the
/// old set's files that the new one does not overwrite, a name a line, to
/// remove once it is in. While it is there the swap has begun, and an
/// interrupted one is finished rather than thrown away.
const SWAP_FILE: &str = ".swap";

/// Write a command's outputs (a `set`) into `out` with `write` (given the
/// folder to write into), replacing an older set there only once the new
/// one is whole: the new files go into [`STAGING_FOLDER`] first, then move
/// in over the old ones (the marker last), then the old files the new set
/// did not overwrite go. A failure or a kill while `write` runs leaves the
/// older set as it was; one during the swap leaves it to the next call to
/// finish. An older set is one with its marker or one of its signs (files
/// written before the marker, so that an unfinished set counts too); with
/// none, `write` writes into `out` itself, so that a long job's files show
/// as they come, and a failure there takes away the files it made, the
/// marker among them, so that trying again needs no --force and finds none
/// of them (stopped on request, [`crate::Error::Stopped`], it leaves them,
/// as a kill would: an unfinished set, the next one's to replace). A
/// folder with no set but a file named as one of its own is refused
/// ([`check_out_folder`] refuses it before any work), and so is a finished
/// set unless `replace` (one may have been finished there since that
/// check). The folder is locked throughout ([`lock_folder`]): another
/// command writing it is refused.
pub fn replace_outputs<T>(
    out: &Path,
    set: &OutputSet,
    replace: bool,
    write: impl FnOnce(&Path) -> crate::Result<T>,
) -> crate::Result<T> {
    std::fs::create_dir_all(out).map_err(io_err(out))?;
    let _lock = lock_folder(out)?;
    let staging = out.join(STAGING_FOLDER);
    if staging.join(SWAP_FILE).exists() {
        // An interrupted swap: its new set was whole, and the old one partly gone.
        finish_swap(out, &staging, set.marker.name)?;
    } else if staging.exists() {
        // An interrupted replacement's, before its swap: the older set is in place.
        remove_dir_all(&staging).map_err(io_err(&staging))?;
    }
    if !replace && set.is_finished_in(out) {
        return Err(crate::Error::file(
            out,
            format!(
                "now holds a {}, finished by another command since this one began: it is kept, and \
                 this one is not written (write it into another folder, or run it again with --force \
                 to replace that one)",
                set.what
            ),
        ));
    }
    if !set.is_in(out) {
        set.refuse_foreign(out, "folder")?;
        let value = write(out);
        // (Stopped on request, what is written stays, as a kill leaves it:
        // an unfinished set, which the next one replaces without leave.)
        if value.is_err() && !matches!(value, Err(crate::Error::Stopped(_))) {
            // A set that failed is none to keep, nor to mix with the next
            // (every file of the set's here is its own: refuse_foreign);
            // the marker first, so that what a kill leaves is unfinished.
            let _ = remove_file(out.join(set.marker.name));
            for path in set.files_in(out).unwrap_or_default() {
                let _ = remove_file(path);
            }
        }
        return value;
    }
    let old = set.files_in(out)?;
    std::fs::create_dir(&staging).map_err(io_err(&staging))?;
    let value = match write(&staging) {
        Ok(value) => value,
        Err(e) => {
            let _ = remove_dir_all(&staging);
            return Err(e);
        }
    };
    // A folder where the new set has a file would stop the swap half-way.
    // (The listing is closed before the staging folder goes: Windows keeps
    // a folder that is being listed.)
    let in_the_way = std::fs::read_dir(&staging)
        .map_err(io_err(&staging))?
        .map(|entry| entry.map(|e| out.join(e.file_name())))
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(io_err(&staging))?
        .into_iter()
        .find(|to| to.is_dir());
    if let Some(to) = in_the_way {
        let _ = remove_dir_all(&staging);
        return Err(crate::Error::file(
            &to,
            "is a folder where the new outputs have a file of that name: move it away and try again",
        ));
    }
    let mut stale = Vec::new();
    for path in &old {
        let name = path.file_name().unwrap_or_default();
        if !staging.join(name).exists() {
            stale.push(name.to_string_lossy().into_owned());
        }
    }
    let swap = staging.join(SWAP_FILE);
    write_atomically(&swap, stale.join("\n").as_bytes())?;
    finish_swap(out, &staging, set.marker.name)?;
    Ok(value)
}

/// Move a whole new set from `staging` into `out` (the marker last: while
/// the swap runs, the old marker stays, so that the folder still counts as
/// holding a set), then remove the old files its [`SWAP_FILE`] lists, then
/// the staging folder. Each step may be done already: an interrupted swap
/// is finished by running it again.
fn finish_swap(out: &Path, staging: &Path, marker: &str) -> crate::Result<()> {
    let swap = staging.join(SWAP_FILE);
    let stale = std::fs::read_to_string(&swap).map_err(io_err(&swap))?;
    let mut new = Vec::new();
    for entry in std::fs::read_dir(staging).map_err(io_err(staging))? {
        let path = entry.map_err(io_err(staging))?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        // (Not the swap list, nor a temporary file write_atomically left.)
        if !name.starts_with('.') {
            new.push(path);
        }
    }
    new.sort_by_key(|p| p.file_name().is_some_and(|n| n == marker));
    for path in new {
        let to = out.join(path.file_name().unwrap_or_default());
        rename(&path, &to).map_err(io_err(&to))?;
    }
    for name in stale.lines().filter(|n| !n.is_empty()) {
        let path = out.join(name);
        if path.exists() {
            remove_file(&path).map_err(io_err(&path))?;
        }
    }
    remove_dir_all(staging).map_err(io_err(staging))
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests use std's renames and removals (clippy.toml)
mod tests {
    use super::*;

    /// On Windows, a rename over a file another program holds open goes
    /// through once the hold ends within 2 s; a hold that lasts is refused
    /// saying what to do. (Elsewhere open files are renamed over.)
    #[cfg(windows)]
    #[test]
    fn a_moments_hold_on_windows_is_waited_out() {
        use std::os::windows::fs::OpenOptionsExt;
        let out = fresh_folder("held");
        let (new, old) = (out.join("new"), out.join("old"));
        std::fs::write(&new, "new").unwrap();
        std::fs::write(&old, "old").unwrap();
        // Shared for reading and writing, not deleting: as a spreadsheet or
        // Python's open() holds a file.
        let hold = || {
            std::fs::OpenOptions::new()
                .read(true)
                .share_mode(1 | 2)
                .open(&old)
                .unwrap()
        };
        let held = hold();
        let release = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(300));
            drop(held);
        });
        rename(&new, &old).unwrap();
        release.join().unwrap();
        assert_eq!(std::fs::read_to_string(&old).unwrap(), "new");
        std::fs::write(&new, "newer").unwrap();
        let _held = hold();
        let err = crate::Error::io(&old, rename(&new, &old).unwrap_err()).to_string();
        assert!(err.contains("another program has it open"), "{err}");
    }

    /// A printed command's words run as one word each whatever the folder's
    /// name, in a POSIX shell, and on Windows in cmd and PowerShell.
    #[test]
    fn shell_words_are_quoted_where_a_shell_would_split_them() {
        assert_eq!(shell_word("runs/gmm-quick"), "runs/gmm-quick");
        if cfg!(windows) {
            assert_eq!(shell_word(r"runs\gmm-quick"), r"runs\gmm-quick");
            assert_eq!(shell_word(r"C:\My runs\it's"), "\"C:\\My runs\\it's\"");
            assert_eq!(shell_word(""), "\"\"");
            assert_eq!(shell_word(r"D:\My runs\"), r#""D:\My runs\\""#);
        } else {
            assert_eq!(shell_word(r"runs\gmm"), r"'runs\gmm'");
            assert_eq!(shell_word("my runs/it's"), r"'my runs/it'\''s'");
            assert_eq!(shell_word(""), "''");
        }
    }

    /// A new, empty folder for one test (kept: a process id is no unique
    /// name, and Wine gives ids out again).
    fn fresh_folder(name: &str) -> std::path::PathBuf {
        tempfile::Builder::new()
            .prefix(&format!("ebmscope-{name}-"))
            .tempdir()
            .unwrap()
            .keep()
    }

    /// A set of "done.csv" (marker) and "picture_*" files.
    const PICTURES: OutputSet = OutputSet {
        what: "picture set",
        // (Any first line: these tests' markers hold a word.)
        marker: Sign {
            name: "done.csv",
            headers: &[""],
        },
        signs: &[],
        is_own: |name| name.starts_with("picture_"),
    };

    /// A replacement that fails leaves the older set (and the user's files)
    /// as they were; one that succeeds swaps the sets, marker last, and
    /// leaves no staging folder.
    #[test]
    fn outputs_are_replaced_only_when_the_new_set_is_whole() {
        let out = fresh_folder("replace");
        for (name, text) in [
            ("done.csv", "old"),
            ("picture_1.png", "old"),
            ("notes.txt", "mine"),
        ] {
            std::fs::write(out.join(name), text).unwrap();
        }
        let failed: crate::Result<()> = replace_outputs(&out, &PICTURES, true, |dir| {
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
        replace_outputs(&out, &PICTURES, true, |dir| {
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

        // A swap stopped half-way (the new set whole in the staging folder,
        // its list written, one new file moved in, one old one still here)
        // is finished by the next call, not thrown away, before that call's
        // own set replaces it.
        let staging = out.join(STAGING_FOLDER);
        std::fs::create_dir(&staging).unwrap();
        for (name, text) in [("done.csv", "swapped"), ("picture_4.png", "swapped")] {
            std::fs::write(staging.join(name), text).unwrap();
        }
        std::fs::write(out.join("picture_3.png"), "swapped").unwrap();
        std::fs::write(staging.join(SWAP_FILE), "picture_2.png").unwrap();
        let seen = replace_outputs(&out, &PICTURES, true, |dir| {
            let seen = (read("done.csv"), read("picture_2.png"), read("picture_4.png"));
            std::fs::write(dir.join("done.csv"), "newest").map_err(|e| crate::Error::io(dir, e))?;
            Ok(seen)
        })
        .unwrap();
        assert_eq!(seen, (Some("swapped".into()), None, Some("swapped".into())));
        assert_eq!(read("done.csv"), Some("newest".into()));
        // A check of the folder says so, and touches nothing.
        std::fs::create_dir(&staging).unwrap();
        std::fs::write(staging.join("picture_5.png"), "swapped").unwrap();
        std::fs::write(staging.join(SWAP_FILE), "").unwrap();
        let err = check_out_folder(&out, &PICTURES, false, "pass --force to replace it, or ", "--out");
        assert!(
            err.unwrap_err()
                .to_string()
                .contains("was being replaced when its command stopped")
        );
        assert!(staging.join("picture_5.png").exists() && read("picture_5.png").is_none());
        std::fs::remove_dir_all(&staging).unwrap();
        assert!(!out.join("picture_3.png").exists() && !out.join("picture_4.png").exists());
        assert!(!staging.exists());
        assert_eq!(read("notes.txt"), Some("mine".into()));
        let _ = std::fs::remove_dir_all(&out);
    }

    /// Two commands writing one folder: while one holds it, the other is
    /// refused before it writes; a set finished there after a command's
    /// check (by another) is kept unless that command may replace one.
    #[test]
    fn a_folder_another_command_writes_is_left_to_it() {
        let out = fresh_folder("held-by-another");
        let held = lock_folder(&out).unwrap();
        let refused = replace_outputs(&out, &PICTURES, true, |_| -> crate::Result<()> {
            panic!("wrote into a folder another command holds")
        });
        let err = refused.unwrap_err().to_string();
        assert!(
            err.contains("is being written by another ebmscope command right now"),
            "{err}"
        );
        drop(held);
        std::fs::write(out.join("done.csv"), "theirs").unwrap();
        let refused = replace_outputs(&out, &PICTURES, false, |_| -> crate::Result<()> {
            panic!("replaced a set without leave")
        });
        let err = refused.unwrap_err().to_string();
        assert!(
            err.contains(
                "now holds a picture set, finished by another command since this one began: it is kept, \
                 and this one is not written"
            ),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(out.join("done.csv")).unwrap(), "theirs");
        let _ = std::fs::remove_dir_all(&out);
    }

    /// A folder where the new set has a file is refused before the swap,
    /// naming it: the older set stays whole and no staging is left.
    #[test]
    fn a_folder_in_the_way_is_refused_before_the_swap() {
        let out = fresh_folder("in-the-way");
        std::fs::create_dir(out.join("picture_2.png")).unwrap();
        std::fs::write(out.join("done.csv"), "old").unwrap();
        let refused = replace_outputs(&out, &PICTURES, true, |dir| {
            for name in ["picture_2.png", "done.csv"] {
                std::fs::write(dir.join(name), "new").map_err(|e| crate::Error::io(dir, e))?;
            }
            Ok(())
        });
        let err = refused.unwrap_err().to_string();
        assert!(
            err.contains("picture_2.png") && err.contains("is a folder"),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(out.join("done.csv")).unwrap(), "old");
        assert!(!out.join(STAGING_FOLDER).exists());
        let _ = std::fs::remove_dir_all(&out);
    }

    /// With no older set, a command writes into the folder itself; if it
    /// fails, the files it made go (its marker among them) and the files
    /// that were there before stay, so that the next run neither needs
    /// --force nor mixes its files with the failed one's.
    #[test]
    fn a_failed_first_set_leaves_nothing_of_its_own() {
        let out = fresh_folder("first-set");
        std::fs::write(out.join("notes.txt"), "mine").unwrap();
        let failed: crate::Result<()> = replace_outputs(&out, &PICTURES, true, |dir| {
            assert_eq!(dir, out);
            for name in ["done.csv", "picture_2.png", "picture_3.png"] {
                std::fs::write(dir.join(name), "failed").unwrap();
            }
            Err(crate::Error::Config("stopped".into()))
        });
        assert!(failed.is_err());
        let names = |dir: &Path| {
            let mut names: Vec<String> = std::fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        };
        assert_eq!(names(&out), [LOCK_FILE, "notes.txt"]);
        assert_eq!(std::fs::read_to_string(out.join("notes.txt")).unwrap(), "mine");
        // One stopped on request leaves what it wrote, as a kill would: an
        // unfinished set (no marker here), the next one's to replace.
        let stopped: crate::Result<()> = replace_outputs(&out, &PICTURES, false, |dir| {
            std::fs::write(dir.join("picture_1.png"), "so far").unwrap();
            Err(crate::Error::Stopped("the pictures".into()))
        });
        assert!(matches!(stopped, Err(crate::Error::Stopped(_))));
        assert_eq!(names(&out), [LOCK_FILE, "notes.txt", "picture_1.png"]);
        let _ = std::fs::remove_dir_all(&out);
    }

    /// A folder that holds no set but a file named as one of its own (the
    /// user's) is refused, up front and when writing, and the file kept; an
    /// unfinished set (a sign, no marker) is the set's own to replace.
    #[test]
    fn a_file_named_as_an_output_is_not_overwritten() {
        let out = fresh_folder("foreign-output");
        std::fs::write(out.join("picture_1.png"), "mine").unwrap();
        let says = "holds a picture_1.png but no picture set (no done.csv of ours)";
        let err = check_out_folder(&out, &PICTURES, true, "", "--out")
            .unwrap_err()
            .to_string();
        assert!(err.contains(says) && err.contains("another --out"), "{err}");
        let refused = replace_outputs(&out, &PICTURES, true, |dir| {
            std::fs::write(dir.join("picture_1.png"), "new").map_err(|e| crate::Error::io(dir, e))
        });
        assert!(refused.unwrap_err().to_string().contains(says));
        assert_eq!(
            std::fs::read_to_string(out.join("picture_1.png")).unwrap(),
            "mine"
        );
        // A marker or sign of that name that is not the set's (its first
        // line another) is someone's too, --force or not.
        let with_header = OutputSet {
            marker: Sign {
                name: "done.csv",
                headers: &["step,"],
            },
            ..PICTURES
        };
        std::fs::remove_file(out.join("picture_1.png")).unwrap();
        std::fs::write(out.join("done.csv"), "my own notes\n").unwrap();
        let err = check_out_folder(&out, &with_header, true, "", "--out")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("holds a done.csv that no picture set of ours wrote, and a picture set writes its own done.csv"),
            "{err}"
        );
        let refused = replace_outputs(&out, &with_header, true, |_| Ok(()));
        assert!(refused.unwrap_err().to_string().contains("holds a done.csv"));
        assert_eq!(
            std::fs::read_to_string(out.join("done.csv")).unwrap(),
            "my own notes\n"
        );
        // Ours, after a BOM a spreadsheet added, or cut short as it began.
        for ours in ["\u{feff}step,u\n1,2\n", "st", ""] {
            std::fs::write(out.join("done.csv"), ours).unwrap();
            let err = check_out_folder(&out, &with_header, false, "", "--out")
                .unwrap_err()
                .to_string();
            assert!(err.contains("already holds a picture set"), "{ours:?}: {err}");
        }
        std::fs::remove_file(out.join("done.csv")).unwrap();
        std::fs::write(out.join("picture_1.png"), "mine").unwrap();
        let unfinished = OutputSet {
            signs: &[Sign {
                name: "rows.partial.csv",
                headers: &["step,"],
            }],
            ..PICTURES
        };
        std::fs::write(out.join("rows.partial.csv"), "step,u\n1,2\n").unwrap();
        check_out_folder(&out, &unfinished, false, "", "--out").unwrap();
        replace_outputs(&out, &unfinished, false, |dir| {
            std::fs::write(dir.join("done.csv"), "new").map_err(|e| crate::Error::io(dir, e))
        })
        .unwrap();
        assert!(!out.join("picture_1.png").exists() && !out.join("rows.partial.csv").exists());
        let _ = std::fs::remove_dir_all(&out);
    }
}
