//! The window's *Overlay*: another run, read from its folder or checkpoint
//! as `ebmscope compare` reads it, drawn in violet with this run's
//! learning plots and correlations; with *follow*, read again every 2 s
//! while its files change (a run `train` is writing elsewhere).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use eframe::egui;

use super::{RunCurves, TvPoints};
use crate::Result;
use crate::train::compare_runs::ComparedRun;
use crate::train::run::{CHANGES_FILE, CONFIG_FILE, METRICS_FILE, TOY_METRICS_FILE};

/// The overlay's curves and bars: one colour no curve of the run's own has,
/// part see-through, so that this run's stay in front.
pub(super) const OVERLAY_COLOR: egui::Color32 =
    egui::Color32::from_rgba_unmultiplied_const(150, 105, 225, 190);

/// How often a followed run's files are looked at (and read if changed).
const FOLLOW_EVERY: Duration = Duration::from_secs(2);

/// The label of the *follow* box.
pub const FOLLOW_LABEL: &str = "follow: read it again as it changes";

/// Another run, as far as it had got when read.
pub struct Overlay {
    /// Where it was read from (and is read again, followed).
    pub path: PathBuf,
    pub run: ComparedRun,
    /// Its curves and d_st's fit, made as this run's are.
    pub(super) curves: RunCurves,
    /// Its TV curves (toy data; empty for images).
    pub(super) tv: TvPoints,
    /// Its files as they were when read: a followed run is read again
    /// only once they change.
    files: FilesStamp,
}

/// The lengths and modification times of the files a run is read from
/// (a folder's metrics.csv, changes.csv, toy_metrics.csv and config.toml,
/// or the checkpoint), None for one that is not there.
type FilesStamp = Vec<Option<(u64, Option<SystemTime>)>>;

fn files_stamp(path: &Path) -> FilesStamp {
    let files = if path.is_dir() {
        [METRICS_FILE, CHANGES_FILE, TOY_METRICS_FILE, CONFIG_FILE]
            .map(|f| path.join(f))
            .to_vec()
    } else {
        // (Its history is as long as its iteration: a run folder's
        // metrics.csv beside it grows past it, and is read only to it.)
        vec![path.to_path_buf()]
    };
    (files.iter())
        .map(|f| std::fs::metadata(f).ok().map(|m| (m.len(), m.modified().ok())))
        .collect()
}

impl Overlay {
    /// The run at `path`, a run's folder or checkpoint ([`ComparedRun::read`]).
    pub fn read(path: PathBuf) -> Result<Self> {
        // (Stamped first: a file changed while it is read is read again.)
        let files = files_stamp(&path);
        let run = ComparedRun::read(&path)?;
        Ok(Self::of(path, run, files))
    }

    pub(super) fn of(path: PathBuf, run: ComparedRun, files: FilesStamp) -> Self {
        Overlay {
            path,
            curves: RunCurves::of(run.rows.iter().copied()),
            tv: TvPoints::of(&run.toy),
            run,
            files,
        }
    }

    /// What the overlay is: its path, how far it goes, its verdict and,
    /// for toy data, its last evaluation (as `compare`'s table ends).
    pub fn summary(&self) -> String {
        let run = &self.run;
        let last = run.rows.last().map_or(0, |r| r.iteration);
        let cut = if run.cut {
            " (a last line cut short, left out)"
        } else {
            ""
        };
        let tv = run.toy.last().map_or(String::new(), |t| {
            format!(
                "; TV(p_θ, q) {:.3}, TV(KDE, q) {:.3} at iteration {}",
                t.tv_model, t.tv_kde, t.iteration
            )
        });
        format!(
            "{}: {last} iterations{cut}; oscillation {}{tv}",
            run.label,
            run.verdict_text()
        )
    }
}

/// A run being read off the UI thread: asked for by *Show overlay* (or
/// `gui --overlay`), or (`followed`) read again by *follow*.
struct Reading {
    followed: bool,
    path: PathBuf,
    handle: std::thread::JoinHandle<Result<Overlay>>,
}

/// The *Overlay* controls' state and the run they show.
#[derive(Default)]
pub struct OverlayPanel {
    /// The run's folder or checkpoint (text as typed).
    pub field: String,
    /// The run shown, if any.
    pub shown: Option<Overlay>,
    /// Why the last *Show overlay* was refused (the run shown before stays);
    /// cleared by the next one that reads, or Hide.
    pub refused: Option<String>,
    /// Why the followed run could not be read the last time it was looked
    /// at (the curves shown are as last read), or, with none shown yet,
    /// why the run waited for cannot be read yet.
    pub follow_error: Option<String>,
    /// A run followed before it could be read (one not started yet): read
    /// every 2 s until it is, whatever is typed in the field meanwhile.
    waiting: Option<PathBuf>,
    reading: Option<Reading>,
    /// Read the run again every 2 s while its files change.
    pub follow: bool,
    /// When the followed run's files were last looked at.
    looked_at: Option<Instant>,
}

impl OverlayPanel {
    /// Whether a run is being read.
    pub fn reading(&self) -> bool {
        self.reading.is_some()
    }

    /// Take in the run `gui --overlay PATH [--follow]` read before the
    /// window opened; with `follow`, one that could not be read yet (a run
    /// not started) is waited for, and why is said.
    pub fn open(&mut self, read: std::result::Result<Overlay, (PathBuf, crate::Error)>, follow: bool) {
        self.follow = follow;
        self.looked_at = Some(Instant::now());
        match read {
            Ok(overlay) => {
                self.field = overlay.run.label.clone();
                self.put(overlay);
            }
            Err((path, e)) => self.wait_for(path, e.to_string()),
        }
    }

    /// Follow the run at `path`, which cannot be read yet (`why`).
    fn wait_for(&mut self, path: PathBuf, why: String) {
        self.field = path.display().to_string();
        self.waiting = Some(path);
        self.follow_error = Some(why);
    }

    /// Show `overlay` in place of the run before; whether the plots should
    /// fit again: another run's, or the same folder's holding another run
    /// now (replaced, or cut back by a resume), not the same run grown.
    fn put(&mut self, overlay: Overlay) -> bool {
        let grown = self.shown.as_ref().is_some_and(|o| {
            let (before, now) = (&o.run.rows, &overlay.run.rows);
            o.path == overlay.path && now.len() >= before.len() && now.first() == before.first()
        });
        self.shown = Some(overlay);
        self.waiting = None;
        self.refused = None;
        self.follow_error = None;
        !grown
    }

    fn read(&mut self, path: PathBuf, followed: bool, ctx: &egui::Context) {
        let ctx = ctx.clone();
        let reads = path.clone();
        let handle = std::thread::spawn(move || {
            let read = Overlay::read(reads);
            // (The window takes it in at its next frame: now, not when idle.)
            ctx.request_repaint();
            read
        });
        self.reading = Some(Reading {
            followed,
            path,
            handle,
        });
    }

    /// *Show overlay*: read the run the field names, in place of a
    /// followed run's read under way.
    fn show(&mut self, ctx: &egui::Context) {
        let typed = self.field.trim().to_string();
        if typed.is_empty() {
            self.refused = Some(
                "type a run's folder (as `ebmscope train --out DIR` writes one) or a checkpoint to show \
                 with this run"
                    .into(),
            );
        } else if self.reading.as_ref().is_none_or(|r| r.followed) {
            self.read(PathBuf::from(typed), false, ctx);
        }
    }

    /// Hide the run shown, and stop following it (a read under way is
    /// dropped): the panel as new, but for what is typed in its field.
    fn hide(&mut self) {
        let field = std::mem::take(&mut self.field);
        *self = OverlayPanel {
            field,
            ..Default::default()
        };
    }

    /// Each frame: take in a read that has ended and, following, look at
    /// the run's files every 2 s and read it again where they changed (or,
    /// with none shown yet, try the run waited for). Whether the plots
    /// should fit again.
    pub(super) fn update(&mut self, ctx: &egui::Context) -> bool {
        let refit = self.finish();
        let due = self.looked_at.is_none_or(|t| t.elapsed() >= FOLLOW_EVERY);
        if self.follow && due && self.reading.is_none() {
            self.looked_at = Some(Instant::now());
            match (&self.shown, &self.waiting) {
                (Some(o), _) if files_stamp(&o.path) != o.files => self.read(o.path.clone(), true, ctx),
                (None, Some(path)) => self.read(path.clone(), true, ctx),
                _ => {}
            }
        }
        refit
    }

    /// Take in a read that has ended: its run, or why not. Whether the
    /// plots should fit again.
    fn finish(&mut self) -> bool {
        if !(self.reading.as_ref()).is_some_and(|r| r.handle.is_finished()) {
            return false;
        }
        let Some(Reading {
            followed,
            path,
            handle,
        }) = self.reading.take()
        else {
            return false;
        };
        // (Unticked since: what it read is not wanted.)
        if followed && !self.follow {
            return false;
        }
        let read = match handle.join() {
            Ok(read) => read.map_err(|e| e.to_string()),
            Err(_) => Err("reading the run panicked".to_string()),
        };
        match (followed, read) {
            // Read again (or at last): the field, which may be being typed
            // in, and a Show's refusal left as they are.
            (true, Ok(overlay)) => {
                let refused = self.refused.take();
                let refit = self.put(overlay);
                self.refused = refused;
                refit
            }
            (false, Ok(overlay)) => {
                self.field = overlay.run.label.clone();
                self.put(overlay)
            }
            (true, Err(e)) => {
                self.follow_error = Some(e);
                false
            }
            // Followed and nothing shown: a run not started yet, waited for.
            (false, Err(e)) if self.follow && self.shown.is_none() => {
                self.wait_for(path, e);
                false
            }
            (false, Err(e)) => {
                self.refused = Some(e);
                false
            }
        }
    }

    /// The field naming the run, its Show and Hide buttons, the *follow*
    /// box, and what the run shown is. Whether the plots should fit again.
    pub(super) fn controls(&mut self, ui: &mut egui::Ui) -> bool {
        let mut refit = false;
        ui.heading("Overlay");
        let label = ui.label("another run's folder or checkpoint, drawn in violet with the plots");
        let edit = ui
            .add(
                egui::TextEdit::singleline(&mut self.field)
                    .desired_width(180.0)
                    .hint_text("runs/gmm-quick"),
            )
            .labelled_by(label.id);
        let enter = edit.lost_focus() && ui.input(|inp| inp.key_pressed(egui::Key::Enter));
        ui.horizontal(|ui| {
            // (A followed run's read under way gives way to a Show.)
            let asked = self.reading.as_ref().is_some_and(|r| !r.followed);
            let show = ui
                .add_enabled(!asked, egui::Button::new("Show overlay"))
                .on_hover_text("read as it is now (a run still training, as far as it has got): press again to read it again, or tick follow");
            if show.clicked() || (enter && !asked) {
                self.show(ui.ctx());
            }
            if self.shown.is_some() && ui.button("Hide overlay").clicked() {
                self.hide();
                refit = true;
            }
            if asked {
                ui.label("reading …");
            }
        });
        if let Some(why) = &self.refused {
            ui.colored_label(ui.visuals().error_fg_color, why);
        }
        let ticked = ui.checkbox(&mut self.follow, FOLLOW_LABEL).on_hover_text(
            "every 2 s, its files are looked at, and it is read again if they changed: a run training \
             elsewhere (`ebmscope train` in a terminal) grows as it writes its rows (one not started yet, \
             shown with follow ticked and no overlay shown, is waited for)",
        );
        if ticked.changed() && !self.follow {
            self.follow_error = None;
            self.waiting = None;
        }
        if let Some(why) = &self.follow_error {
            let said = if self.shown.is_some() {
                format!("not read again: {why} (the curves shown are as last read)")
            } else {
                format!("waiting for the run: {why}")
            };
            ui.colored_label(ui.visuals().warn_fg_color, said);
        }
        if let Some(o) = &self.shown {
            ui.colored_label(OVERLAY_COLOR, o.summary());
        }
        refit
    }
}
