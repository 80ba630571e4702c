//! A training run on disk: the run folder, metrics.csv, checkpoints,
//! resuming exactly where a checkpoint left off.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{CHECKPOINT_FILE, Change, Checkpoint, IterationEvent, Trainer, watch_rescales};
use crate::config::Config;
use crate::io::{io_err, shell_path, write_atomically};
use crate::{Error, Result};

pub const CONFIG_FILE: &str = "config.toml";

/// Where a resume that changes settings puts config.toml's new text until
/// the checkpoint that holds them is saved (then it becomes config.toml):
/// a kill between the two leaves it, and the next resume settles it
/// ([`settle_pending_config`]), so config.toml never says other than the
/// checkpoint unless someone edited it.
const PENDING_CONFIG: &str = ".config.toml.pending";
pub const METRICS_FILE: &str = "metrics.csv";
pub const TOY_METRICS_FILE: &str = "toy_metrics.csv";
/// Settings changed on resume (`--resume --set`): iteration, key, the
/// value before and after.
pub const CHANGES_FILE: &str = "changes.csv";
const CHANGES_HEADER: &str = "iteration,setting,from,to";
const METRICS_HEADER: &str = "iteration,d_st,r_t,mean_u_data,mean_u_samples,lr,wall_time,phase";
const TOY_METRICS_HEADER: &str = "iteration,tv_model,kl_model,tv_kde,kl_kde";

/// How to treat an existing run folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Existing {
    /// Refuse to touch it.
    Refuse,
    /// Continue from its checkpoint, with its settings; to `iterations` in
    /// all if given, else to its own total; reading its data from `data`
    /// if given (the data set moved); with the `key=value` overrides of
    /// `set` from there on, of the settings a run may change as it goes
    /// ([`Change::KEYS`]).
    Resume {
        iterations: Option<u64>,
        data: Option<String>,
        set: Vec<String>,
    },
    /// Start over, replacing its contents.
    Force,
}

/// An open run folder that receives one metrics row per iteration.
pub struct RunDir {
    pub dir: PathBuf,
    metrics: std::io::BufWriter<std::fs::File>,
    /// Held while the folder is open, so that a second trainer cannot write
    /// the same run (the system releases it if the process dies).
    _lock: std::fs::File,
    /// A run replaced by `--force` waits in [`REPLACED_FOLDER`] for this
    /// run's first checkpoint.
    replaced: bool,
    /// What the user should know as the run opens, each a line the CLI
    /// prints ("warning: …" or "note: …"): a config.toml edited by hand, a
    /// run an earlier `--force` set aside that this one's first checkpoint
    /// drops, what a resume's changes do beyond their settings.
    pub notes: Vec<String>,
}

/// Where `--force` keeps the run it replaces until the new run's first
/// checkpoint, so that a new run that fails before it loses nothing.
pub const REPLACED_FOLDER: &str = ".replaced-run";

/// Where `--force` gathers the old run's files before they become
/// [`REPLACED_FOLDER`] in one rename.
const GATHERING_FOLDER: &str = ".replaced-run.partial";

/// Where a replaced run goes, in one rename, to be deleted: a deletion
/// killed half-way leaves no half run in [`REPLACED_FOLDER`].
const REMOVING_FOLDER: &str = ".replaced-run.removing";

/// Where a run a --force replaced waits in `dir` with its checkpoint: how
/// to resume it instead (for a refused --resume or new run), or nothing.
fn replaced_run_hint(dir: &Path) -> String {
    if dir.join(REPLACED_FOLDER).join(CHECKPOINT_FILE).exists() {
        format!(
            " (the run a --force replaced is kept in {REPLACED_FOLDER}/: to resume that one instead, \
             `{}`, then --resume)",
            restore_command(dir)
        )
    } else {
        String::new()
    }
}

/// The command that puts the run a --force set aside in `dir` back
/// ([`restore_replaced`]).
pub fn restore_command(dir: &Path) -> String {
    format!("ebmscope train --out {} --restore-replaced", shell_path(dir))
}

/// Put back the run an unfinished `--force` replaced (kept in
/// [`REPLACED_FOLDER`]) in place of the run in `dir`, whose own files go
/// (those a --force would set aside; other files stay); returns the
/// restored run's checkpoint iteration, if it has a checkpoint.
pub fn restore_replaced(dir: &Path) -> Result<Option<u64>> {
    let aside = dir.join(REPLACED_FOLDER);
    if !holds_run(&aside) {
        return Err(Error::file(
            dir,
            format!(
                "holds no run a --force replaced ({REPLACED_FOLDER}/ with a metrics.csv or checkpoint): \
                 nothing to restore"
            ),
        ));
    }
    let _lock = lock(dir)?;
    undo_interrupted_force(dir)?;
    let held = lock_model_output_folders(dir)?;
    let own: Vec<PathBuf> = run_files(dir, None)?
        .into_iter()
        .chain(model_output_files(dir))
        .collect();
    remove_files(own)?;
    drop(held);
    remove_empty_run_folders(dir);
    move_back(&aside, dir, "was being restored from the run a --force replaced")?;
    crate::io::remove_dir_all(&aside).map_err(io_err(&aside))?;
    Ok(Checkpoint::load(&dir.join(CHECKPOINT_FILE))
        .ok()
        .map(|ck| ck.iteration))
}

/// Move the files under `from` to the same places under `to`, refusing
/// (`what` says what was under way) where one is there already.
fn move_back(from: &Path, to: &Path, what: &str) -> Result<()> {
    for entry in std::fs::read_dir(from).map_err(io_err(from))? {
        let entry = entry.map_err(io_err(from))?;
        let (path, target) = (entry.path(), to.join(entry.file_name()));
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            std::fs::create_dir_all(&target).map_err(io_err(&target))?;
            move_back(&path, &target, what)?;
        } else if target.exists() && is_file_browser_cache(&entry.file_name()) {
            // Made in both folders by browsing them: neither is the run's.
            crate::io::remove_file(&path).map_err(io_err(&path))?;
        } else if target.exists() {
            return Err(Error::file(
                &path,
                format!(
                    "{what}, and {} is there too: keep one of the two by hand, then try again",
                    target.display()
                ),
            ));
        } else {
            crate::io::rename(&path, &target).map_err(io_err(&target))?;
        }
    }
    Ok(())
}

/// A file a file browser leaves in the folders it shows: macOS Finder's
/// `.DS_Store` and `._*`, Windows Explorer's `Thumbs.db` and `desktop.ini`.
fn is_file_browser_cache(name: &std::ffi::OsStr) -> bool {
    let name = name.to_string_lossy();
    name.starts_with("._")
        || [".DS_Store", "Thumbs.db", "desktop.ini"]
            .iter()
            .any(|cache| name.eq_ignore_ascii_case(cache))
}

/// Whether the run in `dir` and the run its --force set aside in
/// [`REPLACED_FOLDER`] both have checkpoints: neither is to go unasked.
fn both_runs_have_checkpoints(dir: &Path) -> bool {
    dir.join(CHECKPOINT_FILE).exists() && dir.join(REPLACED_FOLDER).join(CHECKPOINT_FILE).exists()
}

/// Whether [`REPLACED_FOLDER`] in `dir` holds a run (its metrics.csv or
/// checkpoint), not only what is left of one moved back by hand.
fn holds_replaced_run(dir: &Path) -> bool {
    holds_run(&dir.join(REPLACED_FOLDER))
}

/// Delete `folder` by renaming it to [`REMOVING_FOLDER`] beside it first.
fn remove_replaced(dir: &Path, folder: &Path) -> Result<()> {
    let removing = dir.join(REMOVING_FOLDER);
    crate::io::rename(folder, &removing).map_err(io_err(folder))?;
    crate::io::remove_dir_all(&removing).map_err(io_err(&removing))
}

/// Put right what a `--force` killed half-way left in `dir`: a replaced run
/// half deleted ([`REMOVING_FOLDER`]) goes; an old run half set aside
/// ([`GATHERING_FOLDER`]) moves back, whole again, as if that --force had
/// not run. (Called under the folder's lock.)
fn undo_interrupted_force(dir: &Path) -> Result<()> {
    let removing = dir.join(REMOVING_FOLDER);
    if removing.exists() {
        crate::io::remove_dir_all(&removing).map_err(io_err(&removing))?;
    }
    let gathering = dir.join(GATHERING_FOLDER);
    if !gathering.exists() {
        return Ok(());
    }
    move_back(
        &gathering,
        dir,
        "was being set aside by a --force that was stopped",
    )?;
    crate::io::remove_dir_all(&gathering).map_err(io_err(&gathering))
}

/// The run a weights file (`path`) is one of, and its iteration: `path` is
/// `<run>/weights/weights_N.safetensors`, with the run's checkpoint beside
/// `weights/`. (Made absolute first: a bare name in `weights/` is one too.)
pub fn run_of_weights(path: &Path) -> Option<(PathBuf, u64)> {
    let path = std::path::absolute(path).ok()?;
    let iteration = run_file_iteration(&["weights"], &path)?;
    let weights = path
        .parent()
        .filter(|dir| dir.file_name() == Some("weights".as_ref()))?;
    let run = weights.parent()?;
    run.join(CHECKPOINT_FILE)
        .exists()
        .then(|| (run.to_path_buf(), iteration))
}

/// The weights file the run in `dir` writes at its checkpoint of
/// `iteration` (which [`run_of_weights`] reads back).
fn weights_file(dir: &Path, iteration: u64) -> PathBuf {
    dir.join("weights")
        .join(format!("weights_{iteration:07}.safetensors"))
}

/// The settings a run's weights file (`path`, see [`run_of_weights`]) was
/// trained with: its run's checkpoint's (its header alone read) with the
/// changes changes.csv records from the file's iteration on undone; and a
/// line that says so. None where `path` is no run's weights file.
pub fn settings_at_weights(path: &Path) -> Result<Option<(Config, String)>> {
    let Some((run, iteration)) = run_of_weights(path) else {
        return Ok(None);
    };
    let head = Checkpoint::head(&run.join(CHECKPOINT_FILE))?;
    let changes_path = run.join(CHANGES_FILE);
    let mut changes = if changes_path.exists() {
        read_changes(
            &changes_path,
            head.iteration,
            "move it aside to take the run's last settings",
        )?
    } else {
        Vec::new()
    };
    // (What a weights file's settings are: a change never saved is none of them.)
    let _ = drop_unsaved_changes(&mut changes, head.iteration, &head.config, head.lr);
    let mut config = head.config;
    let undone = undo_changes(&mut config, &changes, iteration);
    let mut said = format!(
        "{} are the weights of iteration {iteration} of the run in {}: their settings are its checkpoint's",
        path.display(),
        run.display()
    );
    if !undone.is_empty() {
        said += &format!(
            " as they were then, the changes made later (changes.csv) undone: {}",
            undone.join(", ")
        );
    }
    Ok(Some((config, said)))
}

/// Undo in `config` (a run's settings after all of `changes`) the changes
/// made from iteration `from` on, the latest first: the settings of
/// iteration `from` (a change made after iteration k counts from k + 1).
/// What was undone, as "key now → then".
fn undo_changes(config: &mut Config, changes: &[(u64, Change, Change)], from: u64) -> Vec<String> {
    let mut undone = Vec::new();
    for &(_, was, to) in changes.iter().rev().filter(|(at, _, _)| *at >= from) {
        was.set_in(config);
        undone.push(format!("{} {} → {}", was.key(), to.value(), was.value()));
    }
    undone
}

/// Settle config.toml's new text that a resume killed around its
/// checkpoint left ([`PENDING_CONFIG`]): it becomes config.toml if the
/// checkpoint (`saved`) holds its settings (the kill came after the
/// checkpoint), and goes if not (before).
fn settle_pending_config(dir: &Path, saved: &Config) -> Result<()> {
    let pending = dir.join(PENDING_CONFIG);
    let Ok(text) = std::fs::read_to_string(&pending) else {
        return Ok(());
    };
    let saved_there = Config::from_toml(&text).is_ok_and(|c| differing_settings(&c, saved).is_empty());
    if saved_there {
        let config = dir.join(CONFIG_FILE);
        crate::io::rename(&pending, &config).map_err(io_err(&config))
    } else {
        crate::io::remove_file(&pending).map_err(io_err(&pending))
    }
}

/// Where a run's config.toml (`path`) says other than the checkpoint it
/// resumes from (`saved`): a hand edit, which resuming would silently
/// write over. What it says and how to change a setting instead. Both are
/// read as settings and written out alike, so that a file from an older
/// release, without a setting added since (its default), or a number
/// written another way, is no edit. (The length of the run and where its
/// data lies change on resume as they should: not counted.)
fn config_edits(path: &Path, saved: &Config) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let name = path.display().to_string();
    let on_disk = match Config::resolve(None, Some((&name, &text)), &[]) {
        Ok(c) => c,
        Err(e) => {
            return Some(format!(
                "{name} is not a run's settings any more ({e}); it is written again from the checkpoint's"
            ));
        }
    };
    let moved = ["iterations", "data.path", "data.kind"];
    let differ: Vec<String> = differing_settings(&on_disk, saved)
        .into_iter()
        .filter(|(k, _, _)| !moved.contains(&k.as_str()))
        .map(|(k, there, kept)| format!("{k} = {there} there, {kept} in the checkpoint"))
        .collect();
    (!differ.is_empty()).then(|| {
        format!(
            "{} was edited since the checkpoint ({}): a run resumes with its checkpoint's settings and \
             the file is written again from them. To change a setting, pass it with --resume --set \
             KEY=VALUE ({}, or an eval.* or output.* setting), or start a new run from an edited copy \
             (--config FILE, another --out)",
            path.display(),
            differ.join("; "),
            Change::KEYS.join(", ")
        )
    })
}

/// The settings that differ between configs `a` and `b`: (key, a's value,
/// b's value), "nothing" where one has none, in key order.
fn differing_settings(a: &Config, b: &Config) -> Vec<(String, String, String)> {
    let (a, b) = (settings_of(a), settings_of(b));
    let said =
        |m: &BTreeMap<String, String>, k: &String| m.get(k).cloned().unwrap_or_else(|| "nothing".into());
    a.keys()
        .chain(b.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| (k.clone(), said(&a, k), said(&b, k)))
        .collect()
}

/// `config`'s settings as "section.key" → the value as config.toml writes it.
fn settings_of(config: &Config) -> BTreeMap<String, String> {
    let mut settings = BTreeMap::new();
    if let Ok(table) = config.to_toml().parse::<toml::Table>() {
        flatten("", &table, &mut settings);
    }
    settings
}

/// The leaves of a TOML table as "section.key" → the value as written.
fn flatten(prefix: &str, table: &toml::Table, out: &mut BTreeMap<String, String>) {
    for (key, value) in table {
        let key = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            toml::Value::Table(t) => flatten(&key, t, out),
            v => {
                out.insert(key, v.to_string());
            }
        }
    }
}

/// Where an earlier `--force` set a run aside in `dir` that this run's
/// first checkpoint will drop: say so, while it can still be kept.
fn set_aside_note(dir: &Path) -> Option<String> {
    let kept = dir.join(REPLACED_FOLDER);
    if !kept.exists() {
        None
    } else if holds_replaced_run(dir) {
        Some(format!(
            "the run an earlier --force replaced is kept in {} until this run's first checkpoint, \
             which removes it: to keep it instead, stop this run now (Ctrl-C) and put it back with \
             `{}`",
            kept.display(),
            restore_command(dir)
        ))
    } else {
        // (What is left of a run moved back by hand: not removed.)
        Some(format!(
            "{} holds files but no run (no metrics.csv or checkpoint): what is left of a run moved \
             back by hand? It is kept: move back what you want of it, or delete it",
            kept.display()
        ))
    }
}

/// The folders of a run whose files are named `<what>_<iteration>.<ext>`,
/// and the `<what>`s it writes in each (nothing else there is its own:
/// `sample`'s pictures, were one written there, nor a user's files).
const RUN_FOLDERS: [(&str, &[&str]); 3] = [
    ("weights", &["weights"]),
    ("pictures", &["density", "diagnostics", "samples", "bank"]),
    ("longrun", &["longrun", "samples", "chains"]),
];

/// Whether `line` is metrics.csv's header (trailing spaces aside).
/// (A spreadsheet's "CSV UTF-8" save puts a byte-order mark before it.)
fn is_metrics_header(line: &str) -> bool {
    line.trim_start_matches('\u{feff}').trim_end() == METRICS_HEADER
}

/// Whether `dir` holds a run: ebmscope's metrics.csv or checkpoint (a
/// safetensors file of that name with no run's settings is someone else's).
fn holds_run(dir: &Path) -> bool {
    use std::io::BufRead;
    let mut first = String::new();
    let metrics_header = std::fs::File::open(dir.join(METRICS_FILE))
        .and_then(|f| std::io::BufReader::new(f).read_line(&mut first))
        .is_ok_and(|_| is_metrics_header(&first));
    metrics_header || crate::io::is_checkpoint(&dir.join(CHECKPOINT_FILE))
}

/// What of ebmscope's outputs `dir` holds, named ("training run", "long
/// run", "landscape"), if any: pictures that an image-folder loader would
/// otherwise take for data.
pub fn outputs_in(dir: &Path) -> Option<&'static str> {
    if holds_run(dir) {
        return Some("training run");
    }
    [
        &super::longrun::LONG_RUN_OUTPUTS,
        &super::landscape::LANDSCAPE_OUTPUTS,
    ]
    .into_iter()
    .find(|set| set.is_in(dir))
    .map(|set| set.what)
}

/// Refuse `out` as the folder of another command's outputs (`what`: "long
/// run") where it holds a training run: those files would lie among the
/// run's own, and a `train --force` there would leave them beside the new
/// run. `elsewhere` says how to choose another ("--out").
pub fn refuse_run_folder(out: &Path, what: &str, elsewhere: &str) -> Result<()> {
    if holds_run(out) {
        return Err(Error::file(
            out,
            format!(
                "holds a training run, and a {what}'s files would lie among its own: choose another \
                 {elsewhere}, such as a folder inside it"
            ),
        ));
    }
    Ok(())
}

/// Refuse to resume the run in `dir` from checkpoint `ck` where its d_st
/// is not that of metrics.csv's row of its iteration (the last of `kept`):
/// a checkpoint copied in from another run, whose resume would drop this
/// run's later rows and files and mix the two runs' records. (Compared to
/// the digits the row holds: the run writes d_st whole, but a spreadsheet
/// or pandas that saved the file again may have kept fewer.)
fn refuse_other_runs_checkpoint(dir: &Path, ck: &Checkpoint, kept: &KeptMetrics) -> Result<()> {
    let (Some(saved), Some(row)) = (ck.d_st, kept.rows.last()) else {
        return Ok(());
    };
    let cell = kept.text.lines().last().and_then(|line| line.split(',').nth(1));
    let close = cell
        .and_then(cell_resolution)
        .is_some_and(|step| (saved - row.d_st).abs() <= 0.5 * step + 1e-12 * saved.abs().max(row.d_st.abs()));
    // (The last row is the checkpoint's iteration's: read_metrics reads rows 1 ..= it.)
    if close {
        return Ok(());
    }
    Err(Error::file(
        dir.join(CHECKPOINT_FILE),
        format!(
            "is not this run's checkpoint: at its iteration {} it recorded d_st = {saved:?}, and the \
             run's metrics.csv says {:?} there (a checkpoint copied in from another run, or a \
             metrics.csv edited since); nothing was changed. Put back this run's own checkpoint (a \
             backup's), or go on from that one in its own run's folder",
            ck.iteration, row.d_st
        ),
    ))
}

/// The place value of a number's last written digit (`0.031` → 0.001,
/// `3.1e-2` → 0.001, `12` → 1): how far a value written to those digits
/// may lie from the value itself, twice over.
fn cell_resolution(text: &str) -> Option<f64> {
    let text = text.trim();
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(at) => (&text[..at], text[at + 1..].parse::<i32>().ok()?),
        None => (text, 0),
    };
    let decimals = mantissa.split_once('.').map_or(0, |(_, fraction)| fraction.len()) as i32;
    Some(10f64.powi(exponent - decimals))
}

/// Refuse a new run in `dir` that is the folder of images it learns, or
/// holds it: its pictures would lie among the data, and every later load
/// of the data (a resume's, a sample's) refuses a folder holding a run, so
/// the run could not go on where it is.
fn refuse_run_over_data(dir: &Path, config: &Config) -> Result<()> {
    if config.data.kind != crate::config::DataKind::Folder {
        return Ok(());
    }
    // (As the file system names them, links and `..` resolved; the run's
    // folder may not exist yet, nor then hold the data.)
    let (Ok(out), Ok(data)) = (dir.canonicalize(), Path::new(&config.data.path).canonicalize()) else {
        return Ok(());
    };
    if data.starts_with(&out) {
        let which = if data == out { "is" } else { "holds" };
        return Err(Error::file(
            dir,
            format!(
                "{which} the folder of images the run learns ({}): the run's pictures would lie among \
                 its data, which no later load of it (a resume, a sample) takes; choose another --out, \
                 such as one beside the images",
                config.data.path
            ),
        ));
    }
    Ok(())
}

/// Whether the run in `dir` ended before its first row of metrics.csv and
/// its first checkpoint (refused at its first iteration, say): nothing of it
/// to keep, so a new run there needs no --force.
fn run_is_empty(dir: &Path) -> bool {
    use std::io::BufRead;
    if dir.join(CHECKPOINT_FILE).exists() {
        return false;
    }
    let Ok(file) = std::fs::File::open(dir.join(METRICS_FILE)) else {
        return false;
    };
    let mut lines = std::io::BufReader::new(file).lines();
    let header = lines
        .next()
        .and_then(|l| l.ok())
        .is_some_and(|l| is_metrics_header(&l));
    header && lines.all(|l| l.is_ok_and(|l| l.trim().is_empty()))
}

/// The iteration a run's numbered file is named after
/// (`samples_0000400.png` → 400), if it is one: a PNG, CSV or safetensors
/// file named `<what>_<iteration as {:07}>` for one of `whats`.
fn run_file_iteration(whats: &[&str], path: &Path) -> Option<u64> {
    let ext = path.extension()?.to_str()?;
    if !["png", "csv", "safetensors"].contains(&ext) {
        return None;
    }
    let (what, digits) = path.file_stem()?.to_str()?.rsplit_once('_')?;
    let iteration: u64 = digits.parse().ok()?;
    // (Exactly as written: not `sample`'s 8-digit steps, nor "+7".)
    (whats.contains(&what) && format!("{iteration:07}") == digits).then_some(iteration)
}

/// The run's own files in `dir`: without `after`, all of them (settings,
/// CSVs, checkpoint, data picture and the numbered files of
/// [`RUN_FOLDERS`]); with it, the numbered files of later iterations
/// (what a run that went on past its checkpoint wrote). Nothing else.
fn run_files(dir: &Path, after: Option<u64>) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    if after.is_none() {
        let own = [
            CONFIG_FILE,
            PENDING_CONFIG,
            METRICS_FILE,
            TOY_METRICS_FILE,
            CHANGES_FILE,
            CHECKPOINT_FILE,
        ];
        let data_picture = dir.join("pictures").join("data.png");
        files.extend(
            own.iter()
                .map(|name| dir.join(name))
                .chain([data_picture])
                .filter(|p| p.exists()),
        );
    }
    for (sub, whats) in RUN_FOLDERS {
        let folder = dir.join(sub);
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries {
            let path = entry.map_err(io_err(&folder))?.path();
            if run_file_iteration(whats, &path).is_some_and(|it| after.is_none_or(|a| it > a)) {
                files.push(path);
            }
        }
    }
    Ok(files)
}

/// The files of the long runs and the map that `sample` and `landscape`
/// write beside a run's checkpoint by default (in `longrun_<init>…/` and
/// `landscape/`, where those hold a set, finished or not; in their staging
/// folders too): results of the run's
/// model, which go with it on --force. Their own files only (by name, as
/// the commands themselves replace them), and no link is followed.
fn model_output_files(dir: &Path) -> Vec<PathBuf> {
    let is_dir = |e: &std::fs::DirEntry| e.file_type().is_ok_and(|t| t.is_dir());
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return files;
    };
    for entry in entries.flatten().filter(is_dir) {
        let Some(set) = model_output_set(&entry.file_name().to_string_lossy()) else {
            continue;
        };
        let folder = entry.path();
        if !set.is_in(&folder) {
            continue;
        }
        // The signs last: a --force killed half-way still finds the folder.
        let mut last = Vec::new();
        for sub in [folder.clone(), folder.join(crate::io::STAGING_FOLDER)] {
            let real_dir = std::fs::symlink_metadata(&sub).is_ok_and(|m| m.is_dir());
            let Some(entries) = real_dir.then(|| std::fs::read_dir(&sub).ok()).flatten() else {
                continue;
            };
            for e in entries.flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                if !e.file_type().is_ok_and(|t| t.is_file()) {
                    continue;
                }
                if set.is_sign(&n) {
                    last.push(e.path());
                } else if (set.is_own)(&n) {
                    files.push(e.path());
                }
            }
        }
        files.append(&mut last);
    }
    files
}

/// Lock the folders beside a run's checkpoint that `sample` and
/// `landscape` write (named as theirs), or refuse while one of those
/// commands writes one: its files are not to be moved from under it. (The
/// locks stay in their folders; [`remove_empty_run_folders`] removes one
/// that is all a folder holds, once these are dropped.)
fn lock_model_output_folders(dir: &Path) -> Result<Vec<std::fs::File>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    // (Those holding a set, or a lock: another command's, or one it left.
    // A user's folder so named gains no lock file.)
    entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| {
            model_output_set(&e.file_name().to_string_lossy())
                .is_some_and(|set| set.is_in(&e.path()) || e.path().join(crate::io::LOCK_FILE).exists())
        })
        .map(|e| crate::io::lock_folder(&e.path()))
        .collect()
}

/// The outputs of `sample` or `landscape` that a folder named `name`
/// beside a checkpoint holds, if it is one of theirs.
fn model_output_set(name: &str) -> Option<&'static crate::io::OutputSet> {
    // (landscape_<file> and longrun_<init>_<file>: those of the run's weights/ files.)
    if name == "landscape" || name.starts_with("landscape_") {
        Some(&super::landscape::LANDSCAPE_OUTPUTS)
    } else if name.starts_with("longrun_") {
        Some(&super::longrun::LONG_RUN_OUTPUTS)
    } else {
        None
    }
}

/// Remove `files`.
fn remove_files(files: Vec<PathBuf>) -> Result<()> {
    for path in files {
        crate::io::remove_file(&path).map_err(io_err(&path))?;
    }
    Ok(())
}

/// Remove the run folders of `dir` left empty (one with other files stays),
/// and the long-run and map folders of model_output_files left so.
fn remove_empty_run_folders(dir: &Path) {
    // (Each fails, and is meant to, if anything is left.)
    for (sub, _) in RUN_FOLDERS {
        let _ = std::fs::remove_dir(dir.join(sub));
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if is_dir && model_output_set(&entry.file_name().to_string_lossy()).is_some() {
            let folder = entry.path();
            let _ = std::fs::remove_dir(folder.join(crate::io::STAGING_FOLDER));
            // (A lock file alone is none of the user's: the folder is empty.)
            let only_lock = std::fs::read_dir(&folder).is_ok_and(|mut names| {
                names
                    .next()
                    .is_some_and(|n| n.is_ok_and(|n| n.file_name() == crate::io::LOCK_FILE))
                    && names.next().is_none()
            });
            if only_lock {
                let _ = crate::io::remove_file(folder.join(crate::io::LOCK_FILE));
            }
            let _ = std::fs::remove_dir(&folder);
        }
    }
}

/// `--force`: the old run's own files move into [`REPLACED_FOLDER`], to go
/// at the new run's first scheduled checkpoint. If a run is set aside
/// already: without a checkpoint here, the files here are a replacement's
/// that failed before its first checkpoint, and they go instead; with one
/// (a replacement stopped by Ctrl-C, whose checkpoint may follow a mistaken
/// --force), both runs are kept and the --force refused, unless the one set
/// aside has no checkpoint (what is left of one moved back by hand): then
/// the run here is the one to keep, and the leftovers go. The files gather
/// in a folder of their own first, which becomes [`REPLACED_FOLDER`] in one
/// step. Returns whether the run here was set aside (in place of what
/// [`REPLACED_FOLDER`] held), not removed.
fn set_aside_old_run(dir: &Path) -> Result<bool> {
    let aside = dir.join(REPLACED_FOLDER);
    if both_runs_have_checkpoints(dir) {
        return Err(Error::file(
            &aside,
            format!(
                "holds the run an earlier --force set aside, kept because the run here, which \
                 replaced it, stopped before its first scheduled checkpoint; a --force now would lose \
                 one of the two: delete that folder to let the older run go (or put it back in place of \
                 the newer run, `{}`), then try again",
                restore_command(dir)
            ),
        ));
    }
    let held = lock_model_output_folders(dir)?;
    let files = run_files(dir, None)?;
    // (A set-aside run with a failed replacement's files here: those go.)
    let set_aside = !aside.exists() || dir.join(CHECKPOINT_FILE).exists();
    if !set_aside {
        remove_files(files)?;
    } else {
        // (An interrupted set-aside's files are there already: they join.)
        let gathering = dir.join(GATHERING_FOLDER);
        // metrics.csv and the checkpoint last: a set-aside killed on its
        // way leaves a folder that still holds a run (and the next trainer
        // there moves the rest back: undo_interrupted_force).
        let (last, first): (Vec<PathBuf>, Vec<PathBuf>) = files
            .into_iter()
            .chain(model_output_files(dir))
            .partition(|p| p == &dir.join(METRICS_FILE) || p == &dir.join(CHECKPOINT_FILE));
        for path in first.into_iter().chain(last) {
            let to = gathering.join(path.strip_prefix(dir).unwrap_or(&path));
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent).map_err(io_err(parent))?;
            }
            crate::io::rename(&path, &to).map_err(io_err(&to))?;
        }
        if aside.exists() {
            remove_replaced(dir, &aside)?;
        }
        if gathering.exists() {
            crate::io::rename(&gathering, &aside).map_err(io_err(&aside))?;
        }
    }
    drop(held);
    remove_empty_run_folders(dir);
    Ok(set_aside)
}

/// The picture of iteration `it`'s long-run check in `longrun` (a run's
/// longrun/ folder): the last file the check writes.
fn long_run_picture(longrun: &Path, it: u64) -> PathBuf {
    longrun.join(format!("samples_{it:07}.png"))
}

/// Remove the temporary files of atomic writes (checkpoint, weights,
/// CSVs, settings) that a process killed before its rename left in `dir`
/// and its run folders: under the lock, no other writer's.
fn remove_stray_temporaries(dir: &Path) {
    let folders = std::iter::once(dir.to_path_buf()).chain(RUN_FOLDERS.iter().map(|(sub, _)| dir.join(sub)));
    for folder in folders {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let is_file = entry.file_type().is_ok_and(|t| t.is_file());
            if is_file && crate::io::is_atomic_temporary(&entry.file_name().to_string_lossy()) {
                let _ = crate::io::remove_file(entry.path());
            }
        }
    }
}

/// Lock run folder `dir` for this process, or refuse while another holds
/// it ([`crate::io::lock_folder`]); then clear the temporary files killed
/// writers left there.
fn lock(dir: &Path) -> Result<std::fs::File> {
    let file = crate::io::lock_folder(dir)?;
    remove_stray_temporaries(dir);
    Ok(file)
}

impl RunDir {
    /// Open `dir` for `config`. With [`Existing::Resume`] the trainer is
    /// restored from the folder's checkpoint (its config is the folder's) and
    /// metrics.csv is cut back to the checkpoint's iteration.
    pub fn open(
        dir: &Path,
        config: Config,
        existing: Existing,
        gpu: std::sync::Arc<crate::gpu::Gpu>,
    ) -> Result<(Self, Trainer)> {
        if dir.exists() && !dir.is_dir() {
            return Err(Error::file(
                dir,
                "is a file, not a folder: choose a folder for the run (--out)",
            ));
        }
        if dir.join(GATHERING_FOLDER).exists() || dir.join(REMOVING_FOLDER).exists() {
            // (Locked meanwhile: refused while another trainer writes here.)
            let _held = lock(dir)?;
            undo_interrupted_force(dir)?;
        }
        let has_run = holds_run(dir);
        // Files a run writes (its settings, CSVs, pictures, weights), there
        // before it and not a run's: not ours to overwrite.
        let foreign = if has_run {
            Vec::new()
        } else {
            run_files(dir, None)?
        };
        if let Some(path) = foreign.first() {
            let name = path.strip_prefix(dir).unwrap_or(path).display();
            let hint = if path.ends_with(CONFIG_FILE) {
                " (pass that file with --config)"
            } else {
                ""
            };
            return Err(Error::file(
                dir,
                format!(
                    "holds a {name} but no ebmscope run (no metrics.csv or checkpoint of ours), and a run \
                     writes its own {name}: choose another --out{hint}"
                ),
            ));
        }
        match (has_run, &existing) {
            (true, Existing::Refuse) if both_runs_have_checkpoints(dir) => {
                // (Where --force is refused too, rather than lose one of the two.)
                return Err(Error::file(
                    dir,
                    format!(
                        "already holds a run, and the run it replaced with --force is kept in \
                         {REPLACED_FOLDER}/: pass --resume to go on with this one (its first scheduled \
                         checkpoint lets the kept one go), or put the kept one back, `{}`",
                        restore_command(dir)
                    ),
                ));
            }
            (true, Existing::Refuse) if !run_is_empty(dir) => {
                let message = if dir.join(CHECKPOINT_FILE).exists() {
                    "already holds a run: pass --resume to continue it, --force to replace it, or choose \
                     another --out"
                } else {
                    "already holds a run that stopped before its first checkpoint (nothing to resume \
                     from): pass --force to replace it, or choose another --out"
                };
                return Err(Error::file(dir, format!("{message}{}", replaced_run_hint(dir))));
            }
            // A replacement stopped before its first row (or whose files
            // are gone), and the run its --force set aside: a new run here
            // would let that one go.
            (_, Existing::Refuse) if holds_replaced_run(dir) => {
                return Err(Error::file(
                    dir,
                    format!(
                        "holds the run an earlier --force replaced, kept in {REPLACED_FOLDER}/ because the \
                         run that replaced it stopped before its first checkpoint: to keep it, `{}`; to \
                         let it go, pass --force",
                        restore_command(dir)
                    ),
                ));
            }
            (false, Existing::Resume { .. }) => {
                return Err(Error::file(
                    dir,
                    format!(
                        "holds no run to resume (no metrics.csv or checkpoint); start one without \
                         --resume{}",
                        replaced_run_hint(dir)
                    ),
                ));
            }
            _ => {}
        }
        // Build the trainer (config checks, data loading, GPU set-up) before
        // touching the folder: a run that cannot start leaves it as it was.
        let metrics_path = dir.join(METRICS_FILE);
        // (replaced: a run set aside by --force waits for this one's first checkpoint.)
        let mut changes = Vec::new();
        let mut free = Vec::new();
        let mut notes = Vec::new();
        let (trainer, lock, replaced) = if let Existing::Resume {
            iterations,
            data,
            set,
        } = existing
        {
            // Locked before its checkpoint is read: one a trainer still writes could be stale.
            let lock = lock(dir)?;
            let ck_path = dir.join(CHECKPOINT_FILE);
            if !ck_path.exists() {
                // (A run stopped before its first row is none to keep: a
                // new one there needs no --force.)
                let how = if run_is_empty(dir) && !holds_replaced_run(dir) {
                    "start one anew without --resume"
                } else {
                    "start over with --force"
                };
                return Err(Error::file(
                    dir,
                    format!(
                        "has no checkpoint.safetensors to resume from; {how}{}",
                        replaced_run_hint(dir)
                    ),
                ));
            }
            let ck = Checkpoint::load(&ck_path)?;
            // (Refused before anything is written: taken as the total, it
            // would cut the run's planned length to where it stands.)
            if let Some(n) = iterations.filter(|&n| n < ck.iteration) {
                let (it, planned) = (ck.iteration, ck.config.iterations);
                let fix = if planned > it {
                    format!("leave it out to go on to {planned}, or pass a larger total")
                } else {
                    format!("pass a total above {it} to go on")
                };
                return Err(Error::Config(format!(
                    "--iters {n} is below the run's iteration {it} (of {planned} planned): --iters is the \
                     run's total, not a count to add; {fix}"
                )));
            }
            let changed;
            (changes, changed) = resume_changes(&ck.config, ck.lr, &set)?;
            // The run's history up to the checkpoint, and that it is this
            // checkpoint's run's, before anything is touched or loaded.
            let kept = read_metrics(
                &metrics_path,
                ck.iteration,
                &resume_needs_metrics(dir, ck.iteration),
            )?;
            refuse_other_runs_checkpoint(dir, &ck, &kept)?;
            settle_pending_config(dir, &ck.config)?;
            notes.extend(config_edits(&dir.join(CONFIG_FILE), &ck.config).map(|e| format!("warning: {e}")));
            let mut config_resumed = ck.config.clone();
            free = free_changes(&ck.config, &changed);
            if !free.is_empty() {
                notes.push(format!(
                    "note: from iteration {}: {}",
                    ck.iteration,
                    free.join(", ")
                ));
                config_resumed.eval = changed.eval;
                config_resumed.output = changed.output;
            }
            // Beside the changes and the free settings, only the length of
            // the run and where its data now lies may change on resume.
            config_resumed.iterations = iterations.unwrap_or(ck.config.iterations).max(ck.iteration);
            if let Some(path) = data {
                if config_resumed.data.kind.is_toy() {
                    return Err(Error::Config(
                        "--data with --resume: this run learns toy data, which has no files".into(),
                    ));
                }
                config_resumed.data.kind = crate::data::infer_image_kind(Path::new(&path));
                config_resumed.data.path = path;
            }
            let moved = &config_resumed.data.path;
            if !config_resumed.data.kind.is_toy() && !Path::new(moved).exists() {
                return Err(Error::file(
                    moved,
                    "the run's data is not there any more: pass --data with --resume to say where it is now",
                ));
            }
            let data = crate::data::Dataset::load(&config_resumed.data)?;
            let mut trainer = Trainer::for_restore(gpu, config_resumed, data, &ck)?;
            if !free.is_empty() {
                // (Not otherwise: a run resumed on a smaller adapter goes
                // on, its checks reported as they fail, unless it lowers them.)
                trainer.check_evaluations()?;
            }
            ck.restore(&mut trainer)?;
            let before = trainer.config.clone();
            for &(_, change) in &changes {
                trainer.apply(change)?;
            }
            let consequence = super::change_consequence(&before, &trainer.config);
            if !consequence.is_empty() {
                notes.push(format!("note: with these changes{consequence}"));
            }
            write_atomically(&metrics_path, kept.text.as_bytes())?;
            // What a run that went on past the checkpoint (and crashed) wrote
            // is not this run's (nor changes recorded past it, were the
            // checkpoint put back by hand): dropped, and said.
            let toy_dropped = cut_toy_metrics(&dir.join(TOY_METRICS_FILE), ck.iteration)?;
            let changes_path = dir.join(CHANGES_FILE);
            let past_changes = if changes_path.exists() {
                let mut kept = read_changes(&changes_path, ck.iteration, "move it aside to resume")?;
                let dropped = drop_unsaved_changes(&mut kept, ck.iteration, &ck.config, ck.lr);
                if !dropped.is_empty() {
                    let dropped: Vec<String> = dropped.iter().map(|c| c.to_string()).collect();
                    notes.push(format!(
                        "note: {} recorded in changes.csv at iteration {} never reached the checkpoint \
                         (the resume that made them stopped before saving it): dropped; give them again \
                         with --set to keep them",
                        dropped.join(", "),
                        ck.iteration
                    ));
                }
                if kept.is_empty() {
                    // (As a run that made no change: no changes.csv.)
                    crate::io::remove_file(&changes_path).map_err(io_err(&changes_path))?;
                } else {
                    write_changes(&changes_path, &kept)?;
                }
                kept
            } else {
                Vec::new()
            };
            let past_files = run_files(dir, Some(ck.iteration))?;
            let dropped = [
                (kept.past, "row(s) of metrics.csv"),
                (toy_dropped, "row(s) of toy_metrics.csv (past it or not whole)"),
                (past_files.len(), "file(s) of weights/, pictures/ or longrun/"),
            ];
            let dropped: Vec<String> = dropped
                .iter()
                .filter(|(n, _)| *n > 0)
                .map(|(n, what)| format!("{n} {what}"))
                .collect();
            if !dropped.is_empty() {
                notes.push(format!(
                    "note: the run went on past its checkpoint (iteration {}), which it resumes from: \
                     what it wrote after is dropped, {}",
                    ck.iteration,
                    dropped.join(", ")
                ));
            }
            remove_files(past_files)?;
            remove_empty_run_folders(dir);
            let rescales = watch_rescales(&trainer.config, &past_changes);
            trainer.earlier_changes = past_changes.iter().map(|(it, _, _)| *it).collect();
            notes.extend(set_aside_note(dir).map(|e| format!("warning: {e}")));
            trainer.set_history(
                kept.rows.iter().map(|r| r.d_st).collect(),
                kept.rows.iter().map(|r| r.r_t).collect(),
                rescales,
                kept.rows.last().map_or(0.0, |r| r.wall_time),
            );
            // A run set aside by the --force that started this one goes at
            // this one's next scheduled checkpoint, as it would have.
            let replaced = holds_replaced_run(dir);
            (trainer, lock, replaced)
        } else {
            refuse_run_over_data(dir, &config)?;
            let trainer = Trainer::new(gpu, config)?;
            trainer.check_evaluations()?;
            std::fs::create_dir_all(dir).map_err(io_err(dir))?;
            let lock = lock(dir)?;
            // Again under the lock: another trainer may have written a run here since.
            let has_run = holds_run(dir);
            let empty = has_run && run_is_empty(dir);
            if has_run && !empty && existing != Existing::Force {
                return Err(Error::file(dir, "already holds a run: pass --resume or --force"));
            }
            // (A run an earlier --force set aside, kept past a replacement
            // that stopped before its first checkpoint, is still the one
            // kept: set_aside_old_run refuses where both have checkpoints.)
            let earlier = set_aside_note(dir);
            // (Where this --force sets the run here aside in place of what
            // .replaced-run held, the note on that is untrue.)
            let mut set_aside_here = false;
            if empty {
                remove_files(run_files(dir, None)?)?;
                remove_empty_run_folders(dir);
            } else if has_run {
                // --force, now that the new run can start: only the old run's
                // own files, and those kept until the new one's first checkpoint.
                set_aside_here = set_aside_old_run(dir)?;
            }
            write_atomically(&metrics_path, format!("{METRICS_HEADER}\n").as_bytes())?;
            // The run set aside (by this --force, or by one whose replacement
            // made nothing) waits for this one's first checkpoint; leftovers
            // without a run are kept.
            let replaced = holds_replaced_run(dir);
            notes.extend(
                earlier
                    .filter(|_| !set_aside_here)
                    .map(|e| format!("warning: {e}")),
            );
            (trainer, lock, replaced)
        };
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(&metrics_path)
            .map_err(io_err(&metrics_path))?;
        let mut run = RunDir {
            dir: dir.to_path_buf(),
            metrics: std::io::BufWriter::new(file),
            _lock: lock,
            replaced,
            notes,
        };
        // Changes go in changes.csv, the run's record of what moves
        // training, then in the checkpoint at once, so that a later
        // --resume goes on with them (a failed save leaves the run as it
        // was, and that resume drops the record: drop_unsaved_changes);
        // then config.toml, its new text set down before the checkpoint
        // (PENDING_CONFIG).
        let config_text = trainer.config.to_toml();
        let config_path = dir.join(CONFIG_FILE);
        if !changes.is_empty() {
            run.record_changes(trainer.iteration, &changes)?;
        }
        if !changes.is_empty() || !free.is_empty() {
            let pending = dir.join(PENDING_CONFIG);
            write_atomically(&pending, config_text.as_bytes())?;
            run.checkpoint(&trainer)?;
            crate::io::rename(&pending, &config_path).map_err(io_err(&config_path))?;
        } else {
            write_atomically(&config_path, config_text.as_bytes())?;
        }
        Ok((run, trainer))
    }

    /// Add `changes` (from, to), made at `iteration`, to changes.csv.
    fn record_changes(&self, iteration: u64, changes: &[(Change, Change)]) -> Result<()> {
        let path = self.dir.join(CHANGES_FILE);
        let mut rows = if path.exists() {
            read_changes(&path, u64::MAX, "move it aside to resume")?
        } else {
            Vec::new()
        };
        rows.extend(changes.iter().map(|&(from, to)| (iteration, from, to)));
        write_changes(&path, &rows)
    }

    /// Append `trainer`'s iteration `e` to metrics.csv; its wall time is the
    /// run's (this session's clock on top of the sessions before). Written
    /// through at once, so that a notebook or `tail -f` follows the run
    /// row by row (synced to disk only with a checkpoint).
    pub fn record(&mut self, trainer: &Trainer, e: &IterationEvent) -> Result<()> {
        writeln!(self.metrics, "{}", metrics_row(&trainer.run_event(e)))
            .and_then(|()| self.metrics.flush())
            .map_err(io_err(&self.dir.join(METRICS_FILE)))
    }

    /// Save the full checkpoint (atomically) and the weights as a state dict.
    pub fn checkpoint(&mut self, trainer: &Trainer) -> Result<()> {
        // On disk before the checkpoint (which is synced too): a resume needs
        // every row up to it, also after a power cut.
        self.metrics
            .flush()
            .map_err(io_err(&self.dir.join(METRICS_FILE)))?;
        self.metrics
            .get_ref()
            .sync_data()
            .map_err(io_err(&self.dir.join(METRICS_FILE)))?;
        let ck = Checkpoint::capture(trainer)?;
        // The weights first: a run killed between the two resumes from the
        // checkpoint before, which removes them and writes them again; the
        // other way round they would be lost.
        let weights = weights_file(&self.dir, trainer.iteration);
        let folder = self.dir.join("weights");
        std::fs::create_dir_all(&folder).map_err(io_err(&folder))?;
        let layout = trainer.spec.param_layout()?;
        crate::io::save_params(&weights, &layout, &ck.params)?;
        ck.save(&self.dir.join(CHECKPOINT_FILE))
    }

    /// After a scheduled checkpoint (not the one Ctrl-C saves: that may
    /// follow a mistaken --force), the run this one replaced goes.
    pub fn release_replaced(&mut self) -> Result<()> {
        if std::mem::take(&mut self.replaced) {
            remove_replaced(&self.dir, &self.dir.join(REPLACED_FOLDER))?;
        }
        Ok(())
    }

    /// Where the run this one replaced (`--force`) waits for this run's
    /// first scheduled checkpoint, while it does.
    pub fn replaced_run(&self) -> Option<PathBuf> {
        self.replaced.then(|| self.dir.join(REPLACED_FOLDER))
    }

    pub fn flush(&mut self) -> Result<()> {
        self.metrics.flush().map_err(io_err(&self.dir.join(METRICS_FILE)))
    }

    /// Whether longrun/ holds the long-run check of iteration `it` (its
    /// picture, the last file a check writes).
    pub fn has_long_run_check(&self, it: u64) -> bool {
        long_run_picture(&self.dir.join("longrun"), it).exists()
    }

    /// The reference's log_longrun: the current model sampled for
    /// `eval.longrun_steps` Langevin steps from `eval.longrun_init` on
    /// `eval.longrun_chains` chains (the bank and the training chains are
    /// untouched). Writes into longrun/: the energy path (CSV and figure), a
    /// picture of the final states (an image grid, or for toy data the
    /// true density beside the KDE of the states) and the states themselves
    /// (chains_N.safetensors, as `sample`'s chains.safetensors). Returns the
    /// final mean U.
    /// `stop` is asked between submissions: when it says so the check ends
    /// there, [`Error::Stopped`], writing nothing.
    pub fn long_run_check(&self, trainer: &Trainer, stop: &dyn Fn() -> bool) -> Result<f64> {
        use super::longrun::{LongRunOptions, LongRunRow, long_run};
        let c = &trainer.config.eval;
        let dir = self.dir.join("longrun");
        std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let it = trainer.iteration;
        let opts = LongRunOptions {
            steps: c.longrun_steps,
            chains: c.longrun_chains as usize,
            from: super::longrun::ChainStart::Fresh(c.longrun_init),
            mala: false,
            temp_factor: 1.0,
            epsilon: None,
            every: (c.longrun_steps / 50).max(1),
            data_noise: true,
        };
        let ck = Checkpoint::capture(trainer)?;
        let mut last: Vec<f32> = Vec::new();
        let rows: Vec<LongRunRow> = long_run(
            &trainer.gpu,
            &ck,
            Some(&trainer.data),
            &opts,
            |_, states| {
                last.clear();
                last.extend_from_slice(states);
                Ok(())
            },
            &mut |_, _, _| {
                if stop() {
                    Err(Error::Stopped("the long-run check".into()))
                } else {
                    Ok(())
                }
            },
        )?;
        let csv_path = dir.join(format!("longrun_{it:07}.csv"));
        let mut csv = format!("{}\n", super::longrun::LONG_RUN_HEADER);
        for r in &rows {
            csv.push_str(&format!("{},{:?},{}\n", r.step, r.mean_energy, r.grad_text()));
        }
        write_atomically(&csv_path, csv.as_bytes())?;
        let title = opts.summary(&ck, &self.dir.join(CHECKPOINT_FILE));
        crate::plot::long_run_figure(&dir.join(format!("longrun_{it:07}.png")), &title, &rows, &[])?;
        // The final states, as `sample` keeps its chains: to map the minima
        // they lie in (landscape --from-chains) or go on sampling from them.
        super::longrun::write_chains(
            &dir.join(format!("chains_{it:07}.safetensors")),
            super::net_spec(&trainer.config)?.input,
            &last,
            rows.last().map_or(0, |r| r.step),
            &opts.made_with(&ck, &trainer.gpu),
        )?;
        let picture = long_run_picture(&dir, it);
        match trainer.data.toy() {
            Some(toy) => {
                let score = crate::data::toy::KdeScore::new(toy, &trainer.config.eval, last.len() / 2);
                let (kde, tv) = score.score(&last);
                let title = format!(
                    "iteration {it}: {} long-run steps, TV(samples, q) = {tv}",
                    c.longrun_steps
                );
                use crate::plot::HeatMap;
                let fields = [
                    HeatMap::density("true density", &score.truth),
                    HeatMap::density("KDE of the long-run states", &kde),
                ];
                crate::plot::heat_maps(&picture, &title, score.grid.res, &fields)?;
            }
            None => crate::plot::image_grid(&picture, &last, trainer.data.chw())?,
        }
        Ok(rows.last().map_or(f64::NAN, |r| r.mean_energy))
    }

    /// Whether toy_metrics.csv holds the evaluation of iteration `it`
    /// (one Ctrl-C stopped, at the checkpoint's iteration, has none). A
    /// file that does not read is taken to (a resume goes on past it, as
    /// it did before it looked).
    pub fn has_evaluation(&self, it: u64) -> bool {
        read_toy_metrics(&self.dir.join(TOY_METRICS_FILE), it)
            .map_or(true, |rows| rows.last().is_some_and(|r| r.iteration == it))
    }

    /// Append a row of toy metrics.
    pub fn record_toy(&self, iteration: u64, m: &super::ToyMetrics) -> Result<()> {
        let path = self.dir.join(TOY_METRICS_FILE);
        // (Empty, too, if a run stopped between making it and its header.)
        let new = path.metadata().map_or(true, |m| m.len() == 0);
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_err(&path))?;
        if new {
            writeln!(f, "{TOY_METRICS_HEADER}").map_err(io_err(&path))?;
        }
        writeln!(f, "{}", ToyRow::of(iteration, m).csv_line()).map_err(io_err(&path))
    }
}

pub use crate::config::set_key;

/// Refuse `--set` overrides beside `--resume` of other settings than those
/// a run may change as it goes ([`Change::KEYS`]), saying what to do.
fn check_resume_keys(set: &[String]) -> Result<()> {
    for item in set {
        let key = set_key(item);
        let instead = match key {
            _ if Change::KEYS.contains(&key) || is_free_on_resume(key) => continue,
            "iterations" => "the run's total changes with --iters N".to_string(),
            "data.path" => "where the run's data now is goes in --data PATH".to_string(),
            _ => format!("`{key}` is fixed for a run: start a new one (--force, or another --out)"),
        };
        return Err(Error::Config(format!(
            "--set {item} with --resume: a resumed run may change only {} (from its checkpoint's \
             iteration on, as the window can) and its eval.* and output.* settings; {instead}",
            Change::KEYS.join(", ")
        )));
    }
    Ok(())
}

/// Settings a resumed run may change freely, beside [`Change::KEYS`]: what
/// it draws, checks and saves along the way, which moves no training
/// number (each evaluation draws from streams of its own).
fn is_free_on_resume(key: &str) -> bool {
    key.starts_with("eval.") || key.starts_with("output.")
}

/// The changes (from, to) the `--set` overrides of a resume make to
/// `config`, the run's settings, at learning rate `lr` (decayed since the
/// start): only those of [`Change::KEYS`] may change, and those
/// [`is_free_on_resume`]; a setting given its current value is no change.
/// Also `config` with the overrides, for the free ones.
fn resume_changes(config: &Config, lr: f64, set: &[String]) -> Result<(Vec<(Change, Change)>, Config)> {
    // A setting a run keeps is refused as such first, whatever its value
    // (not "must hold at least …", then "fixed" once that is mended);
    // unknown keys and bad values then as on a new run.
    let known = settings_of(config);
    let settings: Vec<String> = set
        .iter()
        .filter(|item| known.contains_key(set_key(item)))
        .cloned()
        .collect();
    check_resume_keys(&settings)?;
    let changed = Config::resolve(None, Some(("the run's settings", &config.to_toml())), set)?;
    check_resume_keys(set)?;
    let keys: Vec<&str> = set.iter().map(|item| set_key(item)).collect();
    let changes = Change::KEYS
        .iter()
        .filter(|k| keys.contains(k))
        .filter_map(|k| Change::now(k, config, lr).zip(Change::current(k, &changed)))
        .filter(|(from, to)| from != to)
        .collect();
    Ok((changes, changed))
}

/// The free settings ([`is_free_on_resume`]) that differ between `from`
/// and `to`, as "key old → new".
fn free_changes(from: &Config, to: &Config) -> Vec<String> {
    differing_settings(from, to)
        .into_iter()
        .filter(|(key, _, _)| is_free_on_resume(key))
        .map(|(key, old, new)| format!("{key} {old} → {new}"))
        .collect()
}

/// Drop the last rows of `rows` that a checkpoint (of `iteration`, its
/// `config` and learning rate `lr`) does not hold: changes recorded at its
/// iteration by a resume whose checkpoint was not saved (killed between the
/// two, or refused by a full disk). A change recorded is one that set
/// another value, so each of those disagrees with the checkpoint. Returns
/// the changes dropped (the values they set), first recorded first.
fn drop_unsaved_changes(
    rows: &mut Vec<(u64, Change, Change)>,
    iteration: u64,
    config: &Config,
    lr: f64,
) -> Vec<Change> {
    let mut dropped = Vec::new();
    while let Some(&(at, _, to)) = rows.last() {
        if at != iteration || Change::now(to.key(), config, lr) == Some(to) {
            break;
        }
        dropped.insert(0, to);
        rows.pop();
    }
    dropped
}

/// The rows (iteration, from, to) of a changes.csv up to `upto`, in order;
/// `fix` ends the message about a row that is not one.
pub(crate) fn read_changes(path: &Path, upto: u64, fix: &str) -> Result<Vec<(u64, Change, Change)>> {
    let text = std::fs::read_to_string(path).map_err(io_err(path))?;
    parse_changes(&text, path, upto, fix)
}

/// The same from the text of a changes.csv (read from `path`).
fn parse_changes(text: &str, path: &Path, upto: u64, fix: &str) -> Result<Vec<(u64, Change, Change)>> {
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split(',').collect();
        let row = (cols.len() == 4)
            .then(|| {
                Some((
                    cols[0].parse::<u64>().ok()?,
                    Change::parse(cols[1], cols[2])?,
                    Change::parse(cols[1], cols[3])?,
                ))
            })
            .flatten();
        match row {
            Some(row) if row.0 <= upto => rows.push(row),
            // (Rows past the checkpoint are not its run's.)
            Some(_) => {}
            None => {
                return Err(Error::file(
                    path,
                    format!(
                        "line {} is not a row of `{CHANGES_HEADER}`: `{line}`: {fix}",
                        i + 1
                    ),
                ));
            }
        }
    }
    Ok(rows)
}

/// Write changes.csv with `rows` (iteration, from, to).
fn write_changes(path: &Path, rows: &[(u64, Change, Change)]) -> Result<()> {
    let text = changes_text(rows);
    write_atomically(path, text.as_bytes())
}

/// Keep toy_metrics.csv's rows up to `iteration` (if the file exists);
/// how many rows it drops.
fn cut_toy_metrics(path: &Path, iteration: u64) -> Result<usize> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(0);
    };
    // Whole rows (ended by their newline: a killed run's last row may be
    // cut short; CRLF, as a spreadsheet saves it, too) up to the
    // checkpoint's iteration.
    let kept_row = |line: &str| {
        let row = ToyRow::parse(line.trim_end_matches('\n').trim_end_matches('\r'));
        line.ends_with('\n') && row.is_some_and(|r| r.iteration <= iteration)
    };
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let kept: Vec<&str> = (lines.iter().enumerate())
        .filter(|&(i, line)| i == 0 || kept_row(line))
        .map(|(_, line)| *line)
        .collect();
    // Written back as the run writes its rows (LF, no BOM), as metrics.csv
    // is: the next rows would otherwise end otherwise than these.
    let plain: String = kept
        .iter()
        .map(|l| {
            format!(
                "{}\n",
                l.trim_start_matches('\u{feff}')
                    .trim_end_matches('\n')
                    .trim_end_matches('\r')
            )
        })
        .collect();
    write_atomically(path, plain.as_bytes())?;
    let rows = |lines: &[&str]| lines.iter().skip(1).filter(|l| !l.trim().is_empty()).count();
    Ok(rows(&lines) - rows(&kept))
}

/// A run's past up to one of its checkpoints, as the checkpoint (the
/// window's Save) or its run folder records it: an event per iteration
/// (metrics.csv), the settings changed on resume or in the window
/// (changes.csv) and, for toy data, its evaluations (toy_metrics.csv), for
/// a window opened on the checkpoint to show the run so far.
#[derive(Clone, Debug, PartialEq)]
pub struct RunHistory {
    /// Iterations 1 ..= the checkpoint's; their wall times are the run's
    /// (over its sessions), not a trainer's clock.
    pub events: Vec<IterationEvent>,
    /// (iterations completed before it, from, to), as changes.csv keeps them.
    pub changes: Vec<(u64, Change, Change)>,
    /// What the run's changes of T make the divergence watch rescale
    /// ([`super::watch_rescales`]).
    pub watch_rescales: Vec<(u64, f64)>,
    /// Its toy data's evaluations up to the checkpoint, as toy_metrics.csv
    /// keeps them (none for image data, or none made); or why the
    /// toy_metrics.csv beside a run folder's checkpoint does not read (the
    /// rest of the history stands without it).
    pub toy: std::result::Result<Vec<ToyRow>, String>,
}

/// One row of metrics.csv for iteration `e` (its wall time the run's), without the newline.
pub fn metrics_row(e: &IterationEvent) -> String {
    format!(
        "{},{:?},{:?},{:?},{:?},{:?},{:.3},{}",
        e.iteration,
        e.d_st,
        e.r_t,
        e.mean_u_data,
        e.mean_u_samples,
        e.lr,
        e.wall_time,
        e.phase.name()
    )
}

/// A metrics.csv holding `events` (iterations 1, 2, …; wall times the run's).
pub fn metrics_text(events: &[IterationEvent]) -> String {
    let mut text = format!("{METRICS_HEADER}\n");
    for e in events {
        text += &metrics_row(e);
        text.push('\n');
    }
    text
}

/// A changes.csv holding `rows` (iteration, from, to).
pub fn changes_text(rows: &[(u64, Change, Change)]) -> String {
    let mut text = format!("{CHANGES_HEADER}\n");
    for (iteration, from, to) in rows {
        text += &format!("{iteration},{},{},{}\n", to.key(), from.value(), to.value());
    }
    text
}

/// The history of the run whose checkpoint `ck` was read from `path`: the
/// one the checkpoint holds (the window's Save keeps its run's history in
/// the file), else, where `path` is a run folder's checkpoint.safetensors,
/// its metrics.csv, changes.csv and toy_metrics.csv beside it; None if
/// there is neither.
/// `fix` ends the message where they do not read (what the caller does
/// without them, or what to do).
pub fn run_history(path: &Path, ck: &Checkpoint, fix: &str) -> Result<Option<RunHistory>> {
    // (kept rows, (iteration, from, to) of each change up to the
    // checkpoint, toy evaluations)
    let (kept, mut changes, toy) = if let Some(h) = &ck.history {
        (
            parse_metrics(&h.metrics, path, ck.iteration, fix)?,
            parse_changes(&h.changes, path, ck.iteration, fix)?,
            // (Checkpoints saved before the window kept them hold none.)
            match &h.toy {
                Some(text) => Ok(parse_toy_metrics(text, path, ck.iteration, fix)?),
                None => Ok(Vec::new()),
            },
        )
    } else {
        if path.file_name().is_none_or(|name| name != CHECKPOINT_FILE) {
            return Ok(None);
        }
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let metrics = dir.join(METRICS_FILE);
        if !metrics.exists() {
            return Ok(None);
        }
        let kept = read_metrics(&metrics, ck.iteration, fix)?;
        let changes_path = dir.join(CHANGES_FILE);
        let changes = if changes_path.exists() {
            read_changes(&changes_path, ck.iteration, fix)?
        } else {
            Vec::new()
        };
        let toy = read_toy_metrics(&dir.join(TOY_METRICS_FILE), ck.iteration).map_err(|e| e.to_string());
        (kept, changes, toy)
    };
    // (Changes a resume recorded at its iteration but never saved with a
    // checkpoint, where the run was killed between the two, are not its.)
    let _ = drop_unsaved_changes(&mut changes, ck.iteration, &ck.config, ck.lr);
    // The settings of iteration 1: the checkpoint's with every change undone,
    // the latest first. (The checkpoint's settings are the run's last: a
    // change saved in it but not recorded, were changes.csv not written,
    // would show as the run's settings from its start.)
    let mut settings = ck.config.clone();
    undo_changes(&mut settings, &changes, 0);
    let mut next = changes.iter().peekable();
    let mut events = Vec::new();
    for row in &kept.rows {
        // A change made after iteration k counts from iteration k + 1.
        while let Some((_, _, to)) = next.next_if(|(at, _, _)| *at < row.iteration) {
            to.set_in(&mut settings);
        }
        events.push(IterationEvent {
            iteration: row.iteration,
            d_st: row.d_st,
            r_t: row.r_t,
            mean_u_data: row.mean_u_data,
            mean_u_samples: row.mean_u_samples,
            lr: row.lr,
            wall_time: row.wall_time,
            phase: crate::diagnostics::Phase::of(row.d_st),
            epsilon: settings.langevin.epsilon,
            steps: settings.langevin.steps,
        });
    }
    Ok(Some(RunHistory {
        events,
        watch_rescales: watch_rescales(&ck.config, &changes),
        changes,
        toy,
    }))
}

/// One row of metrics.csv (its phase is that of d_st).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MetricsRow {
    pub iteration: u64,
    pub d_st: f64,
    pub r_t: f64,
    pub mean_u_data: f64,
    pub mean_u_samples: f64,
    pub lr: f64,
    /// The run's seconds (over its sessions).
    pub wall_time: f64,
}

/// An iteration's row, as metrics.csv holds it.
impl From<&IterationEvent> for MetricsRow {
    fn from(e: &IterationEvent) -> Self {
        MetricsRow {
            iteration: e.iteration,
            d_st: e.d_st,
            r_t: e.r_t,
            mean_u_data: e.mean_u_data,
            mean_u_samples: e.mean_u_samples,
            lr: e.lr,
            wall_time: e.wall_time,
        }
    }
}

impl MetricsRow {
    /// The row a line of metrics.csv holds (its newline taken off), if it
    /// is one.
    fn parse(line: &str) -> Option<Self> {
        // (Its last column, the phase, is d_st's sign: not read.)
        let (iteration, [d_st, r_t, mean_u_data, mean_u_samples, lr, wall_time]) =
            iteration_and_numbers(line, 8)?;
        Some(MetricsRow {
            iteration,
            d_st,
            r_t,
            mean_u_data,
            mean_u_samples,
            lr,
            wall_time,
        })
    }
}

/// A CSV line of `columns` columns: its first, an iteration, and the `N`
/// numbers after it (None where it is not such a line).
fn iteration_and_numbers<const N: usize>(line: &str, columns: usize) -> Option<(u64, [f64; N])> {
    debug_assert!(N < columns, "the numbers come after the iteration");
    let cols: Vec<&str> = line.split(',').collect();
    if cols.len() != columns {
        return None;
    }
    let mut numbers = [0.0; N];
    for (x, col) in numbers.iter_mut().zip(&cols[1..]) {
        *x = col.parse().ok()?;
    }
    Some((cols[0].parse().ok()?, numbers))
}

/// The rows of the CSV file `name`'s `text` (read from `path`: the file,
/// or the checkpoint whose metadata holds it) under its `header`,
/// as (line number, line), line ends taken off and blank lines skipped,
/// as a run still writing it (or killed) leaves it: a last line without
/// its newline is one being written, left out (`cut`) unless `whole` says
/// it is whole all the same (a file saved again by a program that ends
/// without one); a file empty, or with its header alone, has no rows.
fn csv_rows<'a>(
    text: &'a str,
    path: &Path,
    name: &str,
    header: &str,
    whole: impl Fn(&str) -> bool,
) -> Result<(Vec<(usize, &'a str)>, bool)> {
    let mut lines = text.split_inclusive('\n');
    let first = lines.next().unwrap_or_default();
    let first_text = first.trim_start_matches('\u{feff}').trim_end();
    let (written, whole_header) = (header.starts_with(first_text), first_text == header);
    if !(whole_header || !first.ends_with('\n') && written) {
        return Err(Error::file(
            path,
            format!("line 1 is `{first_text}`, not {name}'s header `{header}`: not a run's {name}"),
        ));
    }
    if !first.ends_with('\n') {
        return Ok((Vec::new(), !first.is_empty()));
    }
    let mut rows = Vec::new();
    for (i, raw) in lines.enumerate() {
        let line = raw.trim_end_matches('\n').trim_end_matches('\r');
        if !raw.ends_with('\n') && !whole(line) {
            return Ok((rows, true));
        }
        if !line.trim().is_empty() {
            rows.push((i + 2, line));
        }
    }
    Ok((rows, false))
}

/// Every whole row of the metrics.csv at `path`, iterations 1, 2, … in
/// order, as a run still training (or killed) leaves it ([`csv_rows`]: a
/// last line cut short is left out, and `cut` says so).
pub fn read_all_metrics(path: &Path) -> Result<AllMetrics> {
    let text = std::fs::read_to_string(path).map_err(io_err(path))?;
    // (A last row without its newline is whole if it ends in its phase: a
    // number cut short would still parse.)
    let whole = |line: &str| {
        let phase = line.rsplit(',').next().unwrap_or_default();
        MetricsRow::parse(line).is_some() && ["expansion", "contraction"].contains(&phase)
    };
    let (lines, cut) = csv_rows(&text, path, METRICS_FILE, METRICS_HEADER, whole)?;
    let mut rows: Vec<MetricsRow> = Vec::new();
    for (number, line) in lines {
        rows.push(next_metrics_row(&rows, number, line, path, "")?);
    }
    Ok(AllMetrics { rows, cut })
}

/// Line `number` (`line`) of the metrics.csv at `path` as the row after
/// `rows`, or why it is not one (with `fix` after it).
fn next_metrics_row(
    rows: &[MetricsRow],
    number: usize,
    line: &str,
    path: &Path,
    fix: &str,
) -> Result<MetricsRow> {
    let Some(row) = MetricsRow::parse(line) else {
        return Err(Error::file(
            path,
            format!("line {number} is not a metrics row: `{line}`{fix}"),
        ));
    };
    let next = rows.len() as u64 + 1;
    if row.iteration != next {
        let not_so = if fix.is_empty() {
            ": not as a run writes it"
        } else {
            fix
        };
        return Err(Error::file(
            path,
            format!(
                "line {number} is iteration {} where {next} comes next{not_so}",
                row.iteration
            ),
        ));
    }
    Ok(row)
}

/// A run's metrics.csv as [`read_all_metrics`] reads it.
#[derive(Debug)]
pub struct AllMetrics {
    pub rows: Vec<MetricsRow>,
    /// Whether the file ended in a line cut short, left out.
    pub cut: bool,
}

/// One row of toy_metrics.csv: TV and KL of the model p_θ and of the
/// short-run samples' KDE to q, at an iteration the run evaluated.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ToyRow {
    pub iteration: u64,
    pub tv_model: f64,
    pub kl_model: f64,
    pub tv_kde: f64,
    pub kl_kde: f64,
}

impl ToyRow {
    /// The row of the evaluation `m` of iteration `iteration`'s model.
    pub fn of(iteration: u64, m: &super::ToyMetrics) -> Self {
        ToyRow {
            iteration,
            tv_model: m.tv_model,
            kl_model: m.kl_model,
            tv_kde: m.tv_kde.tv,
            kl_kde: m.kl_kde,
        }
    }

    /// Its line of toy_metrics.csv, without the newline.
    fn csv_line(&self) -> String {
        format!(
            "{},{:.6},{:.6},{:.6},{:.6}",
            self.iteration, self.tv_model, self.kl_model, self.tv_kde, self.kl_kde
        )
    }

    /// Add `row` to a run's `rows`, in iteration order: an evaluation again
    /// at the last one's iteration (the window's, of a model stopped there)
    /// replaces it.
    pub fn record(rows: &mut Vec<ToyRow>, row: ToyRow) {
        match rows.last_mut() {
            Some(last) if last.iteration == row.iteration => *last = row,
            _ => rows.push(row),
        }
    }

    /// The row a line of toy_metrics.csv holds (its line end taken off), if it is one.
    fn parse(line: &str) -> Option<Self> {
        let (iteration, [tv_model, kl_model, tv_kde, kl_kde]) = iteration_and_numbers(line, 5)?;
        Some(ToyRow {
            iteration,
            tv_model,
            kl_model,
            tv_kde,
            kl_kde,
        })
    }
}

/// The whole rows of the toy_metrics.csv at `path` up to iteration
/// `upto` (rows past it are of a run that went on past its checkpoint, or
/// whose last metrics row is being written), none if there is no such
/// file ([`csv_rows`]: a last line cut short left out; its last number
/// could be cut short and still parse, so a last line without its newline
/// always is).
pub fn read_toy_metrics(path: &Path, upto: u64) -> Result<Vec<ToyRow>> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let text = std::fs::read_to_string(path).map_err(io_err(path))?;
    parse_toy_metrics(&text, path, upto, "")
}

/// The whole rows up to iteration `upto` of the toy_metrics.csv text
/// `text`, read from `path` (the file, or the checkpoint whose metadata
/// holds it); `fix`, if any, ends the message of a text that is not one.
fn parse_toy_metrics(text: &str, path: &Path, upto: u64, fix: &str) -> Result<Vec<ToyRow>> {
    let after = if fix.is_empty() {
        String::new()
    } else {
        format!(": {fix}")
    };
    let (lines, _) = csv_rows(text, path, TOY_METRICS_FILE, TOY_METRICS_HEADER, |_| false)
        .map_err(|e| e.with_fix(&after))?;
    let mut rows = Vec::new();
    for (number, line) in lines {
        let row = ToyRow::parse(line).ok_or_else(|| {
            Error::file(
                path,
                format!("line {number} is not a toy metrics row: `{line}`{after}"),
            )
        })?;
        if row.iteration <= upto {
            rows.push(row);
        }
    }
    Ok(rows)
}

/// A toy_metrics.csv holding `rows`.
pub fn toy_metrics_text(rows: &[ToyRow]) -> String {
    let mut text = format!("{TOY_METRICS_HEADER}\n");
    for row in rows {
        text += &row.csv_line();
        text.push('\n');
    }
    text
}

/// metrics.csv up to an iteration.
pub struct KeptMetrics {
    pub rows: Vec<MetricsRow>,
    /// The file's text up to the last of them.
    pub text: String,
    /// The file's rows after them, whole or not (a run that went on past
    /// its checkpoint wrote them: what a resume drops).
    pub past: usize,
}

/// What a resume of the run in `dir` from its checkpoint at `iteration`
/// says when its metrics.csv does not hold its history: the run's history
/// up to its checkpoint (d_st, r_t, wall time) goes on in a resumed run, so
/// without it there is nothing exact to resume; the model need not be lost.
fn resume_needs_metrics(dir: &Path, iteration: u64) -> String {
    let weights = weights_file(dir, iteration);
    let keep = if weights.is_file() {
        format!(
            "; to keep the model, start a new run from its weights in another folder, --init-weights {} \
             (the optimizer and chains start afresh)",
            crate::io::shell_path(&weights)
        )
    } else {
        String::new()
    };
    format!(
        "resuming needs the run's history: restore the run's metrics.csv, or start over with --force{keep}"
    )
}

/// The rows and the text of metrics.csv up to `iteration`: rows 1, 2, …
/// in order; `fix` ends the message when they are not there.
pub fn read_metrics(path: &Path, iteration: u64, fix: &str) -> Result<KeptMetrics> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        let why = if e.kind() == std::io::ErrorKind::NotFound {
            "is missing".to_string()
        } else {
            format!("cannot be read ({e})")
        };
        Error::file(path, format!("{why}: {fix}"))
    })?;
    parse_metrics(&text, path, iteration, fix)
}

/// The same from the text of a metrics.csv (read from `path`).
fn parse_metrics(text: &str, path: &Path, iteration: u64, fix: &str) -> Result<KeptMetrics> {
    let first = text.lines().next().unwrap_or_default();
    if !is_metrics_header(first) {
        return Err(Error::file(
            path,
            format!("line 1 is `{first}`, not metrics.csv's header `{METRICS_HEADER}`: {fix}"),
        ));
    }
    let mut kept = format!("{METRICS_HEADER}\n");
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        // Rows 1 ..= iteration come first; what follows (a killed run's last
        // row may be cut short) is not read.
        if rows.len() as u64 == iteration {
            break;
        }
        // (Rows past the checkpoint came after all its own: the break above.)
        let row = next_metrics_row(&rows, i + 1, line, path, &format!(": {fix}"))?;
        rows.push(row);
        kept.push_str(line);
        kept.push('\n');
    }
    if rows.len() as u64 != iteration {
        return Err(Error::file(
            path,
            format!(
                "holds {} rows but the checkpoint is at iteration {iteration} (a checkpoint of another \
                 run, copied in? then put back this run's own): {fix}",
                rows.len()
            ),
        ));
    }
    // (The rows kept are lines 1 … rows.len(): any other line stops it above.)
    let past = (text.lines().skip(1 + rows.len()))
        .filter(|l| !l.trim().is_empty())
        .count();
    Ok(KeptMetrics {
        rows,
        text: kept,
        past,
    })
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests use std's renames and removals (clippy.toml)
mod tests {
    use super::{
        METRICS_HEADER, TOY_METRICS_HEADER, move_back, read_all_metrics, read_toy_metrics, restore_command,
    };

    /// metrics.csv and toy_metrics.csv as a run leaves them while it writes
    /// them, or as a spreadsheet saves them again: a last line cut short is
    /// left out (and said), a whole one without its newline kept; CRLF, a
    /// byte-order mark and blank lines read alike; a file empty, or with
    /// its header cut short, holds no rows.
    #[test]
    fn csv_files_are_read_as_a_run_leaves_them() {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        let row = |i: u64| format!("{i},0.5,0.1,1.0,0.5,0.1,{i}.0,contraction");
        let whole = format!("{METRICS_HEADER}\n{}\n{}\n", row(1), row(2));
        let read = |text: &str| {
            let m = read_all_metrics(&file("metrics.csv", text)).unwrap();
            (m.rows.iter().map(|r| r.iteration).collect::<Vec<u64>>(), m.cut)
        };
        assert_eq!(read(&whole), (vec![1, 2], false));
        for cut in ["3,0.5,0.1,1.0,0.5,0.1,3.0,contr", "3,0.12"] {
            assert_eq!(read(&format!("{whole}{cut}")), (vec![1, 2], true), "{cut}");
        }
        assert_eq!(read(&format!("{whole}{}", row(3))), (vec![1, 2, 3], false));
        let spreadsheet = format!("\u{feff}{}\r\n", whole.replace('\n', "\r\n"));
        assert_eq!(read(&spreadsheet), (vec![1, 2], false));
        assert_eq!(read(""), (vec![], false));
        assert_eq!(read("iteration,d_st"), (vec![], true));
        let refused = |text: &str| {
            read_all_metrics(&file("metrics.csv", text))
                .unwrap_err()
                .to_string()
        };
        assert!(refused("hello\n").contains("line 1 is `hello`, not metrics.csv's header"));
        let skipped = format!("{METRICS_HEADER}\n{}\n{}\n", row(1), row(3));
        assert!(
            refused(&skipped).ends_with("line 3 is iteration 3 where 2 comes next: not as a run writes it")
        );
        let garbled = format!("{METRICS_HEADER}\n{}\ntwo\n", row(1));
        assert!(refused(&garbled).ends_with("line 3 is not a metrics row: `two`"));

        let toy = |text: &str| {
            let rows = read_toy_metrics(&file("toy_metrics.csv", text), u64::MAX).unwrap();
            rows.iter().map(|r| r.iteration).collect::<Vec<u64>>()
        };
        // (A last number cut short would parse: a last line without its newline never counts.)
        let evaluated = format!("{TOY_METRICS_HEADER}\n0,0.9,1.0,0.8,1.0\n\n2,0.5,1.0,0.4,1.0\n");
        assert_eq!(toy(&evaluated), [0, 2]);
        assert_eq!(toy(&format!("{evaluated}4,0.3,1.0,0.3,1.0")), [0, 2]);
        assert_eq!(toy(""), [0u64; 0]);
        // As a checkpoint's metadata holds it: named as the file it is, with
        // what the caller does without it.
        let refused = |text: &str| {
            let path = std::path::Path::new("runs/r-window.safetensors");
            super::parse_toy_metrics(text, path, u64::MAX, "its curves are not shown")
                .unwrap_err()
                .to_string()
        };
        let header = refused("hello\n");
        assert!(
            header.contains("line 1 is `hello`, not toy_metrics.csv's header")
                && header.ends_with(": its curves are not shown"),
            "{header}"
        );
        let row = refused(&format!("{TOY_METRICS_HEADER}\ntwo\n"));
        assert!(
            row.ends_with("line 2 is not a toy metrics row: `two`: its curves are not shown"),
            "{row}"
        );
    }

    /// Moving a run's files back, a file browser's caches found in both
    /// folders stop nothing (the destination's stays); a file of the run's
    /// found in both does.
    #[test]
    fn a_file_browsers_caches_do_not_stop_a_move_back() {
        let base = tempfile::tempdir().unwrap();
        let (from, to) = (base.path().join("from"), base.path().join("to"));
        for dir in [&from, &to] {
            std::fs::create_dir_all(dir.join("pictures")).unwrap();
        }
        for (dir, whose) in [(&from, "kept"), (&to, "browsing")] {
            for cache in [
                ".DS_Store",
                "._metrics.csv",
                "pictures/Thumbs.db",
                "pictures/desktop.ini",
            ] {
                std::fs::write(dir.join(cache), whose).unwrap();
            }
        }
        std::fs::write(from.join("metrics.csv"), "run").unwrap();
        move_back(&from, &to, "was being restored").unwrap();
        assert_eq!(std::fs::read_to_string(to.join("metrics.csv")).unwrap(), "run");
        assert_eq!(
            std::fs::read_to_string(to.join("pictures/Thumbs.db")).unwrap(),
            "browsing"
        );
        assert!(!from.join(".DS_Store").exists());
        std::fs::write(from.join("notes.txt"), "one").unwrap();
        std::fs::write(to.join("notes.txt"), "two").unwrap();
        let err = move_back(&from, &to, "was being restored")
            .unwrap_err()
            .to_string();
        assert!(err.contains("notes.txt is there too"), "{err}");
    }

    /// The printed line runs as one command whatever the folder's name.
    #[test]
    fn the_restore_command_quotes_its_folder() {
        let quoted = if cfg!(windows) { r#""my run""# } else { "'my run'" };
        assert_eq!(
            restore_command(std::path::Path::new("my run")),
            format!("ebmscope train --out {quoted} --restore-replaced")
        );
    }
}
