//! `ebmscope compare`: training runs side by side, read from their
//! folders (metrics.csv, toy_metrics.csv, config.toml) as far as each has
//! got, or from checkpoints: what each one's trailing window says of the
//! pendulum (d_st, r_t and the oscillation verdict) and, for toy data, how
//! near p_θ came to q.

use std::path::{Path, PathBuf};

use super::Change;
use super::run::{
    AllMetrics, CHANGES_FILE, CONFIG_FILE, METRICS_FILE, MetricsRow, TOY_METRICS_FILE, ToyRow,
    read_all_metrics, read_changes, read_toy_metrics,
};
use crate::config::Config;
use crate::diagnostics::{Correlations, Oscillation};
use crate::io::io_err;
use crate::{Error, Result};

/// One run, as compared.
pub struct ComparedRun {
    /// How the table and the figure name it ([`labels`]; its folder as
    /// given until then).
    pub label: String,
    pub rows: Vec<MetricsRow>,
    /// Whether its metrics.csv ended in a line cut short (one being
    /// written, or a killed run's), left out.
    pub cut: bool,
    /// toy_metrics.csv's rows (none for image data).
    pub toy: Vec<ToyRow>,
    /// Settings changed in the window or on resume: (iterations done
    /// before, from, to), as changes.csv holds them.
    pub changes: Vec<(u64, Change, Change)>,
    /// d_st's and r_t's correlations over the run's trailing `eval.window`
    /// (up to `eval.max_lag`), as its own pictures and terminal take them;
    /// None under 3 iterations.
    pub correlations: Option<Correlations>,
}

impl ComparedRun {
    /// The run in the folder `dir`, or the run of the checkpoint `dir`
    /// names ([`ComparedRun::of_checkpoint`]).
    pub fn read(dir: &Path) -> Result<Self> {
        match std::fs::metadata(dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::file(dir, "does not exist"));
            }
            Err(e) => return Err(Error::io(dir, e)),
            Ok(m) if !m.is_dir() => return Self::of_checkpoint(dir),
            Ok(_) => {}
        }
        let metrics = dir.join(METRICS_FILE);
        if !metrics.is_file() {
            return Err(Error::file(
                dir,
                "holds no metrics.csv: not a training run's folder (`ebmscope train --out DIR` writes one)",
            ));
        }
        let AllMetrics { rows, cut } = read_all_metrics(&metrics)?;
        if rows.is_empty() {
            return Err(Error::file(
                &metrics,
                "holds no iteration yet: try again once the run has done one",
            ));
        }
        let settings = dir.join(CONFIG_FILE);
        if !settings.is_file() {
            return Err(Error::file(
                dir,
                "holds no config.toml, which a run writes as it starts: not a whole run's folder (put \
                 back its config.toml, which the window reads too)",
            ));
        }
        let text = std::fs::read_to_string(&settings).map_err(io_err(&settings))?;
        let config = Config::from_toml(&text)
            .map_err(|e| Error::file(&settings, format!("is not a run's settings: {e}")))?;
        let last = rows.len() as u64;
        let toy = read_toy_metrics(&dir.join(TOY_METRICS_FILE), last)?;
        let changes_file = dir.join(CHANGES_FILE);
        let changes = if changes_file.exists() {
            let fix = "put back the run's own changes.csv, or move it aside to read the run without them";
            read_changes(&changes_file, last, fix)?
        } else {
            Vec::new()
        };
        Ok(Self::of_rows(dir, rows, cut, toy, changes, &config))
    }

    /// The run as far as the checkpoint at `path` goes: the history a
    /// checkpoint the window saved holds, or a run folder's checkpoint's
    /// (its metrics.csv, changes.csv and toy_metrics.csv beside it, to its
    /// iteration).
    fn of_checkpoint(path: &Path) -> Result<Self> {
        let no_history = |what: &str| {
            Error::file(
                path,
                format!(
                    "holds no run's history ({what}): give its run's folder, or a checkpoint the \
                     window saved"
                ),
            )
        };
        if crate::io::holds_weights_alone(path) {
            return Err(no_history("weights alone"));
        }
        if !crate::io::is_checkpoint(path) {
            return Err(Error::file(
                path,
                "is neither a run's folder nor a checkpoint: give run folders, as `ebmscope train \
                 --out DIR` writes them, or checkpoints",
            ));
        }
        let ck = super::Checkpoint::load(path)?;
        let fix = "put back the run's own metrics.csv, changes.csv and toy_metrics.csv beside it, or give \
                   its run's folder";
        let Some(history) = super::run::run_history(path, &ck, fix)? else {
            return Err(no_history(
                "a checkpoint saved without it, or moved from beside its run's metrics.csv",
            ));
        };
        let rows: Vec<MetricsRow> = history.events.iter().map(MetricsRow::from).collect();
        if rows.is_empty() {
            return Err(Error::file(
                path,
                "is of a run before its first iteration: no iteration to show",
            ));
        }
        // (Refused, as a run folder's toy_metrics.csv that does not read is.)
        let toy = history.toy.map_err(|why| {
            Error::file(
                path,
                format!("the toy_metrics.csv beside it does not read ({why}): {fix}"),
            )
        })?;
        Ok(Self::of_rows(path, rows, false, toy, history.changes, &ck.config))
    }

    /// The run of `rows` (and `toy`, `changes`), with the correlations its
    /// settings `config` take.
    pub(crate) fn of_rows(
        source: &Path,
        rows: Vec<MetricsRow>,
        cut: bool,
        toy: Vec<ToyRow>,
        changes: Vec<(u64, Change, Change)>,
        config: &Config,
    ) -> Self {
        let (d_st, r_t): (Vec<f64>, Vec<f64>) = rows.iter().map(|r| (r.d_st, r.r_t)).unzip();
        let correlations = Correlations::compute(
            &d_st,
            &r_t,
            config.eval.window as usize,
            config.eval.max_lag as usize,
        );
        ComparedRun {
            label: source.display().to_string(),
            rows,
            cut,
            toy,
            changes,
            correlations,
        }
    }

    /// Mean and standard deviation of d_st, and the mean of r_t, over the
    /// correlations' window (the run's last iterations).
    pub fn window_means(&self) -> Option<[f64; 3]> {
        let n = self.correlations.as_ref()?.window;
        let last = &self.rows[self.rows.len() - n..];
        let mean = |v: &dyn Fn(&MetricsRow) -> f64| last.iter().map(v).sum::<f64>() / n as f64;
        let d_mean = mean(&|r| r.d_st);
        let d_sd = (last.iter().map(|r| (r.d_st - d_mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt();
        Some([d_mean, d_sd, mean(&|r| r.r_t)])
    }

    /// What the oscillation verdict says: strong, weak, or why there is
    /// none (too few iterations yet, or values not finite in the window,
    /// of a metrics.csv edited since: a run stops before it writes one).
    pub fn verdict_text(&self) -> String {
        let Some(c) = &self.correlations else {
            return "none (3 iterations needed)".into();
        };
        let window = &self.rows[self.rows.len() - c.window..];
        if !window.iter().all(|r| r.d_st.is_finite() && r.r_t.is_finite()) {
            return "none (values not finite)".into();
        }
        match c.verdict() {
            Some(Oscillation::Strong) => "strong".into(),
            Some(Oscillation::Weak) => "weak".into(),
            None => format!(
                "none before iteration {}",
                Correlations::iterations_for_verdict(c.window_asked)
            ),
        }
    }
}

/// Names for the run folders or checkpoints `dirs` (that exist): each
/// one's own name, with as many of the folders above it as tell it from
/// the others' (runs/a/run and runs/b/run: a/run and b/run). One given
/// twice is refused.
pub fn labels(dirs: &[PathBuf]) -> Result<Vec<String>> {
    // (Canonical: `.` and `runs/x/..` have names, and the same folder
    // given twice shows as such.)
    let parts: Vec<Vec<String>> = dirs
        .iter()
        .map(|dir| {
            let canonical = dir.canonicalize().map_err(io_err(dir))?;
            // (Names alone: not the root's "/" nor a Windows drive.)
            Ok(canonical
                .components()
                .rev()
                .filter(|c| matches!(c, std::path::Component::Normal(_)))
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect())
        })
        .collect::<Result<_>>()?;
    for (i, p) in parts.iter().enumerate() {
        if parts[..i].contains(p) {
            return Err(Error::file(&dirs[i], "is given twice: give each run once"));
        }
    }
    let label = |p: &[String], depth: usize| {
        if p.is_empty() {
            return "/".to_string();
        }
        let shown: Vec<&str> = p[..depth.min(p.len())].iter().rev().map(String::as_str).collect();
        shown.join("/")
    };
    // (A checkpoint by its folder too: runs/x/checkpoint.safetensors as
    // x/checkpoint.safetensors, not as any run's.)
    let mut depth: Vec<usize> = dirs.iter().map(|d| if d.is_file() { 2 } else { 1 }).collect();
    loop {
        let names: Vec<String> = (parts.iter().zip(&depth)).map(|(p, &d)| label(p, d)).collect();
        let mut deeper = false;
        for i in 0..dirs.len() {
            let clash = (0..dirs.len()).any(|j| j != i && names[j] == names[i]);
            if clash && depth[i] < parts[i].len() {
                depth[i] += 1;
                deeper = true;
            }
        }
        if !deeper {
            return Ok(names);
        }
    }
}

/// What the table says of one run, as values (None where it has none).
struct Line {
    label: String,
    iterations: usize,
    window: Option<usize>,
    /// Over the window: d_st's mean and sd, r_t's mean, d_st's
    /// autocorrelation at lags 1 and 2, and the threshold of a strong verdict.
    numbers: [Option<f64>; 6],
    verdict: String,
    /// The last evaluation's iteration, TV(p_θ, q) and TV(KDE, q).
    tv: Option<(u64, f64, f64)>,
}

impl Line {
    fn of(run: &ComparedRun) -> Self {
        let c = run.correlations.as_ref();
        let means = run.window_means();
        let acf = |lag: usize| c.and_then(|c| c.d_acf.get(lag).copied());
        Line {
            label: run.label.clone(),
            iterations: run.rows.len(),
            window: c.map(|c| c.window),
            numbers: [
                means.map(|m| m[0]),
                means.map(|m| m[1]),
                means.map(|m| m[2]),
                acf(1),
                acf(2),
                c.map(|c| -c.threshold()),
            ],
            verdict: run.verdict_text(),
            tv: run.toy.last().map(|t| (t.iteration, t.tv_model, t.tv_kde)),
        }
    }
}

/// A run's settings changes, as "optimizer.lr 0.5 → 2.0 after iteration
/// 400; …" (empty if none).
fn run_changes(run: &ComparedRun) -> String {
    let changed: Vec<String> = (run.changes.iter())
        .map(|(it, from, to)| {
            format!(
                "{} {} → {} after iteration {it}",
                from.key(),
                from.value(),
                to.value()
            )
        })
        .collect();
    changed.join("; ")
}

/// The runs as a table for the terminal, one line each: iterations, and
/// over each run's trailing window d_st's mean and spread, r_t's mean,
/// d_st's autocorrelation at lags 1 and 2 against the threshold of a
/// strong verdict, the verdict, and the last TV(p_θ, q) and TV(KDE, q) of
/// a toy run, with their iteration; then a line for each run whose
/// settings changed, naming the changes.
pub fn table(runs: &[ComparedRun]) -> String {
    // (Names and words to the left, numbers to the right.)
    let header = [
        ("run", true),
        ("iterations", false),
        ("window", false),
        ("d_st mean", false),
        ("d_st sd", false),
        ("r_t mean", false),
        ("acf lag 1", false),
        ("acf lag 2", false),
        ("threshold", false),
        ("oscillation", true),
        ("TV(p_θ, q)", false),
        ("TV(KDE, q)", false),
    ];
    let none = || "–".to_string();
    let lines: Vec<Vec<String>> = runs
        .iter()
        .map(|run| {
            let line = Line::of(run);
            let mut cells = vec![
                line.label,
                line.iterations.to_string(),
                line.window.map_or_else(none, |w| w.to_string()),
            ];
            cells.extend(line.numbers.map(|v| v.map_or_else(none, |v| format!("{v:.4}"))));
            cells.push(line.verdict);
            let tv = |pick: fn(&(u64, f64, f64)) -> f64| {
                line.tv
                    .as_ref()
                    .map_or_else(none, |t| format!("{:.3} at {}", pick(t), t.0))
            };
            cells.extend([tv(|t| t.1), tv(|t| t.2)]);
            cells
        })
        .collect();
    let width = |k: usize| {
        (lines.iter().map(|l| l[k].chars().count()))
            .chain([header[k].0.chars().count()])
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..header.len()).map(width).collect();
    let cell = |k: usize, text: &str| {
        let pad = " ".repeat(widths[k] - text.chars().count());
        if header[k].1 {
            format!("{text}{pad}")
        } else {
            format!("{pad}{text}")
        }
    };
    let row = |cells: Vec<String>| {
        let cells: Vec<String> = cells.iter().enumerate().map(|(k, c)| cell(k, c)).collect();
        cells.join("  ").trim_end().to_string() + "\n"
    };
    let mut text = row(header.iter().map(|h| h.0.to_string()).collect());
    for line in lines {
        text += &row(line);
    }
    for run in runs.iter().filter(|r| !r.changes.is_empty()) {
        text += &format!("{}: {}\n", run.label, run_changes(run));
    }
    text
}

/// The same as CSV, for a spreadsheet: numbers in full, an empty cell
/// where a run has none, and each run's settings changes in a last column.
pub fn table_csv(runs: &[ComparedRun]) -> String {
    // (Quoted where a name holds a comma, a quote or a line end.)
    let quoted = |text: &str| {
        if text.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", text.replace('"', "\"\""))
        } else {
            text.to_string()
        }
    };
    let mut text = "run,iterations,window,d_st_mean,d_st_sd,r_t_mean,d_st_acf_lag1,d_st_acf_lag2,threshold,\
                    oscillation,tv_iteration,tv_model,tv_kde,changes\n"
        .to_string();
    for run in runs {
        let line = Line::of(run);
        let number = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:?}"));
        let mut cells = vec![
            quoted(&line.label),
            line.iterations.to_string(),
            line.window.map_or(String::new(), |w| w.to_string()),
        ];
        cells.extend(line.numbers.map(number));
        cells.push(quoted(&line.verdict));
        match line.tv {
            Some((it, model, kde)) => cells.extend([it.to_string(), number(Some(model)), number(Some(kde))]),
            None => cells.extend([String::new(), String::new(), String::new()]),
        }
        cells.push(quoted(&run_changes(run)));
        text += &(cells.join(",") + "\n");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(d_st: &[f64], window: usize) -> ComparedRun {
        let rows: Vec<MetricsRow> = (d_st.iter().enumerate())
            .map(|(i, &d)| MetricsRow {
                iteration: i as u64 + 1,
                d_st: d,
                r_t: 0.5 + 0.01 * i as f64,
                mean_u_data: 1.0,
                mean_u_samples: 1.0 - d,
                lr: 0.1,
                wall_time: i as f64,
            })
            .collect();
        let (d, r): (Vec<f64>, Vec<f64>) = rows.iter().map(|r| (r.d_st, r.r_t)).unzip();
        ComparedRun {
            label: "run".into(),
            correlations: Correlations::compute(&d, &r, window, 5),
            rows,
            cut: false,
            toy: Vec::new(),
            changes: Vec::new(),
        }
    }

    /// The table's numbers are those of the run's trailing window: d_st
    /// flipping sign every iteration is strong oscillation (lag 1 at −1).
    #[test]
    fn the_table_reads_each_runs_trailing_window() {
        // (A start far off, outside the window of 100.)
        let d: Vec<f64> = (0..200)
            .map(|i| {
                if i < 50 {
                    40.0
                } else if i % 2 == 0 {
                    1.0
                } else {
                    -1.0
                }
            })
            .collect();
        let flipping = run(&d, 100);
        let [mean, sd, r_mean] = flipping.window_means().unwrap();
        assert_eq!(mean, 0.0);
        // (100 values of ±1 about 0: Σ = 100 over n − 1 = 99.)
        assert!((sd - (100.0f64 / 99.0).sqrt()).abs() < 1e-12, "{sd}");
        assert!((r_mean - (0.5 + 0.01 * 149.5)).abs() < 1e-9, "{r_mean}");
        assert_eq!(flipping.verdict_text(), "strong");
        // (A metrics.csv edited since: a run stops before it writes such a row.)
        let edited = run(&[0.5, 0.1, f64::NAN, 0.3, -0.2], 3);
        assert_eq!(edited.verdict_text(), "none (values not finite)");
        let young = run(&[0.5, -0.2, 0.1, 0.3], 100);
        assert_eq!(young.verdict_text(), "none before iteration 110");
        // As CSV: numbers in full, a name with a comma quoted, none empty.
        let mut named = run(&[0.5, -0.2, 0.1, 0.3], 100);
        named.label = "lr 0.1, \"slow\"".into();
        let csv = table_csv(&[named]);
        assert_eq!(
            csv.lines().nth(1).unwrap(),
            "\"lr 0.1, \"\"slow\"\"\",4,4,0.175,0.29860788111948194,0.515,-0.2307692307692308,\
             -0.025641025641025623,-1.5,none before iteration 110,,,,"
        );
        let text = table(&[flipping, young]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        let cells: Vec<&str> = lines[1].split_whitespace().collect();
        assert_eq!(
            cells[..10],
            [
                "run", "200", "100", "0.0000", "1.0050", "1.9950", "-0.9900", "0.9800", "-0.3000", "strong"
            ]
        );
        // A run without toy metrics has no TV; columns line up under the header.
        let young: Vec<&str> = lines[2].split_whitespace().collect();
        assert_eq!(
            young[young.len() - 6..],
            ["none", "before", "iteration", "110", "–", "–"]
        );
        assert_eq!(lines[0].find("oscillation"), lines[1].find("strong"));
    }

    /// Labels take as many folders as tell runs apart; one given twice is refused.
    #[test]
    fn labels_tell_runs_apart() {
        let base = tempfile::tempdir().unwrap();
        let make = |p: &str| {
            let dir = base.path().join(p);
            std::fs::create_dir_all(&dir).unwrap();
            dir
        };
        let dirs = [make("a/run"), make("b/run"), make("c/other")];
        assert_eq!(labels(&dirs).unwrap(), ["a/run", "b/run", "other"]);
        let twice = [dirs[0].clone(), base.path().join("b/../a/run")];
        let err = labels(&twice).unwrap_err().to_string();
        assert!(err.ends_with("is given twice: give each run once"), "{err}");
    }
}
