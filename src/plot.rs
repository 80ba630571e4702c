//! Pictures of a run, as PNG: the toy density triptych (true, learned,
//! the KDE of the samples: ToyMetrics::kde_name; density and log-density, as the reference's
//! plot_toy_density) and the diagnostics figure (d_st, r_t, the
//! cross-correlation and the two autocorrelations, as plot_diagnostics),
//! and grids of image samples (as the reference's plot_ims).

use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;
use plotters::style::colors::colormaps::ViridisRGB;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::diagnostics::{Correlations, PENDULUM_HINT, Phase};
use crate::train::compare_runs::ComparedRun;
use crate::train::run::MetricsRow;
use crate::train::{ToyMetrics, Trainer};
use crate::{Error, Result};

static FONT: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The font is compiled in; a failure here would be a build defect.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

fn draw_err<E: std::fmt::Display>(path: &Path) -> impl FnOnce(E) -> Error + '_ {
    move |e| Error::file(path, format!("could not draw: {e}"))
}

/// Write the run's pictures for its current iteration into `dir/pictures`:
/// the diagnostics; for toy data the density triptych (`metrics`); for
/// images grids of the chains X⁻ and, for persistent runs, of the bank.
/// (A name added here goes in train::run's RUN_FOLDERS too, which says what
/// resume and --force may remove.)
pub fn save_run_pictures(dir: &Path, trainer: &Trainer, metrics: Option<&ToyMetrics>) -> Result<()> {
    let pictures = dir.join("pictures");
    std::fs::create_dir_all(&pictures).map_err(|e| Error::io(&pictures, e))?;
    let it = trainer.iteration;
    if let Some(m) = metrics {
        density_triptych(&pictures.join(format!("density_{it:07}.png")), m, it)?;
    }
    if trainer.data.images().is_some() {
        let chw = trainer.data.chw();
        image_grid(
            &pictures.join(format!("samples_{it:07}.png")),
            &trainer.chains()?,
            chw,
        )?;
        if let Some(bank) = trainer.bank() {
            let k = bank.size.min(trainer.config.batch.chains as usize);
            image_grid(
                &pictures.join(format!("bank_{it:07}.png")),
                &bank.read_rows(&trainer.gpu, k)?,
                chw,
            )?;
        }
    }
    // (Before the first iteration there is no d_st to draw.)
    if trainer.d_st.is_empty() {
        return Ok(());
    }
    let c = &trainer.config.eval;
    let changed: Vec<u64> = (trainer.earlier_changes.iter().copied())
        .chain(trainer.changes.iter().map(|(it, _)| *it))
        .collect();
    diagnostics_figure(
        &pictures.join(format!("diagnostics_{it:07}.png")),
        &trainer.d_st,
        &trainer.r_t,
        &changed,
        c.window as usize,
        c.max_lag as usize,
    )
}

/// Images [n, C, S, S] with values in [−1, 1] (clipped outside) as one PNG:
/// a near-square grid with 2-pixel gaps, each image shown at ×2 when small.
pub fn image_grid(path: &Path, images: &[f32], [c, h, w]: [usize; 3]) -> Result<()> {
    let dim = c * h * w;
    if dim == 0 || images.is_empty() || !images.len().is_multiple_of(dim) || !(c == 1 || c == 3) {
        return Err(Error::Shape(format!(
            "image grid for {}: {} values are not whole [{c}, {h}, {w}] images",
            path.display(),
            images.len()
        )));
    }
    let n = images.len() / dim;
    let cols = (n as f64).sqrt().ceil() as usize;
    let rows = n.div_ceil(cols);
    let zoom = if h.max(w) <= 64 { 2 } else { 1 };
    let gap = 2;
    let (cell_w, cell_h) = (w * zoom + gap, h * zoom + gap);
    let mut img = image::RgbImage::from_pixel(
        (cols * cell_w + gap) as u32,
        (rows * cell_h + gap) as u32,
        image::Rgb([255, 255, 255]),
    );
    let byte = |v: f32| ((v.clamp(-1.0, 1.0) + 1.0) * 127.5).round() as u8;
    for (k, im) in images.chunks_exact(dim).enumerate() {
        let (x0, y0) = (gap + (k % cols) * cell_w, gap + (k / cols) * cell_h);
        for y in 0..h * zoom {
            for x in 0..w * zoom {
                let at = |ch: usize| byte(im[(ch * h + y / zoom) * w + x / zoom]);
                let px = if c == 1 {
                    let g = at(0);
                    [g, g, g]
                } else {
                    [at(0), at(1), at(2)]
                };
                img.put_pixel((x0 + x) as u32, (y0 + y) as u32, image::Rgb(px));
            }
        }
    }
    crate::io::write_png(
        path,
        [img.width(), img.height()],
        crate::io::Pixels::Rgb,
        img.as_raw(),
    )
}

/// True density, learned density exp(−U) and the KDE of the samples (top), and their
/// logarithms (bottom), each on its own colour scale as the reference (the
/// learned one −U from its 1st percentile: [`log_density_shades`]).
pub fn density_triptych(path: &Path, m: &ToyMetrics, iteration: u64) -> Result<()> {
    let title = format!(
        "iteration {iteration}   TV(p_θ, q) = {:.3}   TV(KDE, q) = {}   KL(q‖p_θ) = {:.2}   KL(q‖KDE) = {:.2}",
        m.tv_model, m.tv_kde, m.kl_model, m.kl_kde
    );
    heat_maps(path, &title, m.grid.res, &density_fields(m))
}

/// The true density, the learned one (with its energies) and the KDE of
/// `m`'s samples: the columns of the density pictures, PNG and window.
pub fn density_fields(m: &ToyMetrics) -> [HeatMap<'_>; 3] {
    [
        HeatMap::density("true density", &m.truth),
        HeatMap {
            name: "EBM density exp(−U)",
            density: &m.model,
            energies: Some(&m.energies),
        },
        HeatMap::density(m.kde_name(), &m.kde),
    ]
}

/// One column of [`heat_maps`]: a density on a res × res grid (row-major,
/// y up) and, for a learned one, its energies U, whose −U the log row
/// shades ([`log_density_shades`]).
pub struct HeatMap<'a> {
    pub name: &'a str,
    pub density: &'a [f64],
    pub energies: Option<&'a [f64]>,
}

impl<'a> HeatMap<'a> {
    /// A density without energies: its log row is log(p + 1e-10).
    pub fn density(name: &'a str, density: &'a [f64]) -> Self {
        HeatMap {
            name,
            density,
            energies: None,
        }
    }

    /// Where each grid value sits on its colour scale, in [0, 1]: of the
    /// density, or (`log`) of its logarithm, −U's for a learned one.
    pub fn shades(&self, log: bool) -> Vec<f64> {
        match (log, self.energies) {
            (true, Some(u)) => log_density_shades(u),
            _ => density_shades(self.density, log),
        }
    }
}

/// Densities on a res × res grid, one column each: the density on top, its
/// logarithm below, and under them the colour scale.
pub fn heat_maps(path: &Path, title: &str, res: usize, fields: &[HeatMap]) -> Result<()> {
    register_font();
    let cell = 300u32;
    figure(
        path,
        (fields.len() as u32 * cell, 2 * cell + 40 + SCALE_BAND),
        |root| {
            let (top, body) = root.split_vertically(40);
            let (body, scale) = body.split_vertically(2 * cell);
            fitted_title(&top, title, 16, path)?;
            colour_scale(
                &scale,
                path,
                "dark: each map's least value",
                "bright: its greatest",
            )?;
            let panels = body.split_evenly((2, fields.len()));
            for (row, log) in [(0usize, false), (1, true)] {
                for (col, field) in fields.iter().enumerate() {
                    let label = match (log, field.energies) {
                        (false, _) => field.name.to_string(),
                        (true, None) => format!("log {}", field.name),
                        (true, Some(_)) => "−U, from its 1st percentile".to_string(),
                    };
                    let shades = field.shades(log);
                    let area = panels[row * fields.len() + col]
                        .titled(&label, ("sans-serif", 14))
                        .map_err(draw_err(path))?;
                    let (w, h) = area.dim_in_pixel();
                    let side = w.min(h);
                    for py in 0..side {
                        for px in 0..side {
                            // Image rows go down, y goes up.
                            let i = (px as usize * res) / side as usize;
                            let j = res - 1 - (py as usize * res) / side as usize;
                            let color = rgb(viridis(shades[j * res + i]));
                            area.draw_pixel((((w - side) / 2 + px) as i32, py as i32), &color)
                                .map_err(draw_err(path))?;
                        }
                    }
                }
            }
            Ok(())
        },
    )
}

/// The height of [`colour_scale`]'s band.
const SCALE_BAND: u32 = 30;

/// Viridis as a bar across the middle of `area` (a band [`SCALE_BAND`]
/// high), its ends named `low` and `high`: what the maps' colours mean.
fn colour_scale(area: &Area, path: &Path, low: &str, high: &str) -> Result<()> {
    let (w, h) = area.dim_in_pixel();
    let bar = 200.min(w / 3) as i32;
    let (x0, y0) = ((w as i32 - bar) / 2, h as i32 / 2 - 6);
    for x in 0..bar {
        let colour = rgb(viridis(f64::from(x) / f64::from(bar - 1)));
        area.draw(&Rectangle::new(
            [(x0 + x, y0), (x0 + x + 1, y0 + 12)],
            colour.filled(),
        ))
        .map_err(draw_err(path))?;
    }
    let style = ("sans-serif", 14).into_font().color(&BLACK);
    let right = style.pos(Pos::new(HPos::Right, VPos::Center));
    let left = style.pos(Pos::new(HPos::Left, VPos::Center));
    area.draw(&Text::new(low, (x0 - 8, y0 + 6), right))
        .map_err(draw_err(path))?;
    area.draw(&Text::new(high, (x0 + bar + 8, y0 + 6), left))
        .map_err(draw_err(path))
}

/// Where each of a density's grid values sits on its colour scale, in
/// [0, 1]: from the smallest value to the largest, of the density or (with
/// `log`) of its logarithm, as the reference's pictures (PNG and window).
/// A value that is not a finite number (a diverged model's) takes the
/// bottom of the scale and leaves the others' scale as it is.
pub fn density_shades(p: &[f64], log: bool) -> Vec<f64> {
    let v: Vec<f64> = p
        .iter()
        .map(|&p| if log { (p + 1e-10).ln() } else { p })
        .collect();
    // (No finite value: every one takes the bottom.)
    let (lo, hi) = finite_range(v.iter().copied()).unwrap_or((0.0, 0.0));
    let span = if hi > lo { hi - lo } else { 1.0 };
    v.iter()
        .map(|&x| {
            if x.is_finite() {
                ((x - lo) / span).clamp(0.0, 1.0)
            } else {
                0.0
            }
        })
        .collect()
}

/// Where each grid point's learned log-density, −U up to its constant,
/// sits on the colour scale of a landscape map or of a density picture's
/// log EBM panel, in [0, 1]: from −U's 1st percentile (so that a few far
/// corners do not squeeze the rest) to its largest. Not log(p + 1e-10),
/// the reference's (and the other log panels'): that floors everything 23
/// nats below the top, which for a sharp model, whose U spans thousands,
/// is the whole map but its minima (and exp(−U) itself is 0 past 745
/// nats). Not a finite number: the bottom.
pub fn log_density_shades(energies: &[f64]) -> Vec<f64> {
    let mut finite: Vec<f64> = energies.iter().map(|u| -u).filter(|v| v.is_finite()).collect();
    if finite.is_empty() {
        return vec![0.0; energies.len()];
    }
    finite.sort_by(f64::total_cmp);
    let (lo, hi) = (finite[finite.len() / 100], finite[finite.len() - 1]);
    let span = if hi > lo { hi - lo } else { 1.0 };
    energies
        .iter()
        .map(|u| {
            if u.is_finite() {
                ((-u - lo) / span).clamp(0.0, 1.0)
            } else {
                0.0
            }
        })
        .collect()
}

/// Where a map's point (x, y) falls on a `side`-pixel square picture of
/// [−extent, extent]² (y up), held to its edge; and whether it lay beyond.
pub fn map_pixel(x: f64, y: f64, extent: f64, side: u32) -> ((i32, i32), bool) {
    let s = f64::from(side);
    let held = |v: f64| v.clamp(0.0, s - 1.0) as i32;
    let px = (x + extent) / (2.0 * extent) * s;
    let py = (extent - y) / (2.0 * extent) * s;
    ((held(px), held(py)), x.abs() > extent || y.abs() > extent)
}

/// The colour scale of every density picture (PNG and window), t in [0, 1]
/// (NaN as 0: plotters' scale has no colour for it).
pub fn viridis(t: f64) -> [u8; 3] {
    let c = ViridisRGB::get_color(if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) });
    [c.0, c.1, c.2]
}

/// Mean energy, gradient magnitude and (MALA) acceptance along a long run,
/// under `title` (what the chains ran). With `tv` (toy data: (step, TV of
/// the chains' KDE to q) at each row), a panel of it below.
pub fn long_run_figure(
    path: &Path,
    title: &str,
    rows: &[crate::train::longrun::LongRunRow],
    tv: &[(f64, f64)],
) -> Result<()> {
    register_font();
    let mala = rows.iter().any(|r| r.acceptance.is_some());
    let panels = 2 + usize::from(mala) + usize::from(!tv.is_empty());
    figure(path, (1000, 300 * panels as u32 + 30), |root| {
        let (top, body) = root.split_vertically(30);
        fitted_title(&top, title, 16, path)?;
        let areas = body.split_evenly((panels, 1));
        let steps: Vec<f64> = rows.iter().map(|r| r.step as f64).collect();
        // (All panels over the run's steps: a run gone on from step N starts there.)
        let span = (
            steps.first().copied().unwrap_or(0.0),
            steps.last().copied().unwrap_or(0.0),
        );
        let energy: Vec<(f64, f64)> = steps.iter().zip(rows).map(|(&s, r)| (s, r.mean_energy)).collect();
        let grad: Vec<(f64, f64)> = steps
            .iter()
            .zip(rows)
            .filter_map(|(&s, r)| Some((s, r.grad_magnitude?)))
            .collect();
        xy_series(&areas[0], "mean energy U of the chains", &energy, span, None).map_err(draw_err(path))?;
        xy_series(
            &areas[1],
            "mean Langevin gradient step ‖a∇F‖ of the chains (a = ε²/2T)",
            &grad,
            span,
            None,
        )
        .map_err(draw_err(path))?;
        // (Rates and distances in [0, 1] over all of it: fitted, an acceptance
        // of 0.892–0.897 would draw as swings.)
        if mala {
            let acc: Vec<(f64, f64)> = steps
                .iter()
                .zip(rows)
                .filter_map(|(&s, r)| Some((s, r.acceptance?)))
                .collect();
            xy_series(&areas[2], "MALA acceptance rate", &acc, span, Some((0.0, 1.0)))
                .map_err(draw_err(path))?;
        }
        if !tv.is_empty() {
            xy_series(
                &areas[panels - 1],
                "TV of the chains' KDE to the true density q",
                tv,
                span,
                Some((0.0, 1.0)),
            )
            .map_err(draw_err(path))?;
        }
        Ok(())
    })
}

/// The y range of a curve of `values` (their finite ones): from the lowest
/// to the highest, within ±[`Y_LIMIT`]; one value, a range about it of its
/// own scale; none, [−1, 1].
fn curve_span(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let finite =
        finite_range(values).map(|(lo, hi)| (lo.clamp(-Y_LIMIT, Y_LIMIT), hi.clamp(-Y_LIMIT, Y_LIMIT)));
    match finite {
        Some((lo, hi)) if hi > lo => (lo, hi),
        Some((lo, _)) if lo != 0.0 => (lo - 0.1 * lo.abs(), lo + 0.1 * lo.abs()),
        _ => (-1.0, 1.0),
    }
}

/// A curve over the steps `(first, last)`, its y axis `range` where given,
/// else fitted to it.
fn xy_series(
    area: &Area,
    title: &str,
    points: &[(f64, f64)],
    (x_start, x_end): (f64, f64),
    range: Option<(f64, f64)>,
) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let (lo, hi) = range.unwrap_or_else(|| curve_span(points.iter().map(|p| p.1)));
    let pad = 0.05 * (hi - lo);
    let curve = (BLUE, points.iter().map(|&(x, y)| [x, y]).collect());
    curves_chart(
        area,
        title,
        "step",
        &[curve],
        (x_start, x_end),
        [lo - pad, hi + pad],
        false,
        &[],
    )
}

/// r_t's colour in the diagnostics (its curve and its autocorrelation),
/// as the window's (a darker gold: on white).
const R_T_COLOR: RGBColor = RGBColor(190, 140, 20);

/// Where a setting changed, as the window's lines.
const CHANGE_COLOR: RGBColor = RGBColor(230, 130, 0);

/// The cross-correlation's bars and the verdict's threshold (as the
/// window's cross-correlation).
const CORRELATION_GREY: RGBColor = RGBColor(120, 120, 120);

/// An `[r, g, b]` colour ([`Phase::rgb`], [`viridis`]) for plotters.
fn rgb([r, g, b]: [u8; 3]) -> RGBColor {
    RGBColor(r, g, b)
}

/// d_st with its zero line and phases, r_t, and the correlations of the
/// trailing window, with reading hints; a setting changed after iteration
/// k of `changed` (the window's orange lines) marks both curves between k
/// and k + 1.
pub fn diagnostics_figure(
    path: &Path,
    d_st: &[f64],
    r_t: &[f64],
    changed: &[u64],
    window: usize,
    max_lag: usize,
) -> Result<()> {
    register_font();
    figure(path, (1000, 700), |root| {
        let areas = root.split_evenly((2, 2));
        let span = d_st_span(d_st);
        let d_st_title = if changed.is_empty() {
            "d_st: expansion (< 0, blue), contraction (> 0, red)"
        } else {
            "d_st: expansion (< 0, blue), contraction (> 0, red); orange: a setting changed"
        };
        series(&areas[0], d_st_title, d_st, span, Curve::ByPhase, changed).map_err(draw_err(path))?;
        let whole = fitted_span(r_t.iter().copied(), false).map(|span| (span, 0));
        series(
            &areas[1],
            "mean Langevin gradient magnitude r_t",
            r_t,
            whole,
            Curve::Line(R_T_COLOR),
            changed,
        )
        .map_err(draw_err(path))?;
        if let Some(c) = Correlations::compute(d_st, r_t, window, max_lag) {
            let lag = c.max_lag as f64;
            let cross: Vec<(f64, f64, RGBColor)> = c
                .cross
                .iter()
                .enumerate()
                .map(|(k, &v)| (k as f64 - lag, v, CORRELATION_GREY))
                .collect();
            bars(
                &areas[2],
                &format!(
                    "cross-correlation of d_st and r_t (last {}; k > 0: d_st k after r_t)",
                    c.window
                ),
                -lag - 1.0..lag + 1.0,
                &cross,
                0.7,
                &format!("lag k ({PENDULUM_HINT})"),
                &[],
            )
            .map_err(draw_err(path))?;
            let d_st_colour = rgb(Phase::Expansion.rgb());
            let mut acf: Vec<(f64, f64, RGBColor)> = c
                .d_acf
                .iter()
                .enumerate()
                .map(|(k, &v)| (k as f64 - 0.2, v, d_st_colour))
                .collect();
            acf.extend(
                c.r_acf
                    .iter()
                    .enumerate()
                    .map(|(k, &v)| (k as f64 + 0.2, v, R_T_COLOR)),
            );
            let verdict = match c.verdict() {
                Some(o) => format!("{o:?} oscillation"),
                None => format!(
                    "no verdict before {} iterations",
                    Correlations::iterations_for_verdict(c.window_asked)
                ),
            };
            let title = format!("autocorrelation: d_st (blue), r_t (gold) — {verdict}");
            // (Dashed, under lags 1 and 2: the threshold d_st's bar at
            // either must pass for strong.)
            let threshold = [(-c.threshold(), CORRELATION_GREY)];
            let x_desc = "lag (dashed: d_st's threshold for strong, at lag 1 or 2)";
            bars(&areas[3], &title, -0.8..lag + 0.8, &acf, 0.35, x_desc, &threshold)
                .map_err(draw_err(path))?;
        }
        Ok(())
    })
}

/// Training runs side by side ([`ComparedRun`]s, one colour each, named
/// in rows across the top, a setting changed dashed across the curves in
/// its run's colour): d_st and r_t by iteration, TV(p_θ, q) at
/// the toy runs' evaluations, and d_st's autocorrelation over each run's
/// trailing window, with its threshold for a strong verdict dashed.
pub fn runs_figure(path: &Path, runs: &[ComparedRun]) -> Result<()> {
    register_font();
    let toy = runs.iter().any(|r| !r.toy.is_empty());
    let panels = 3 + usize::from(toy);
    // (Each within a row of its own: one wider would run off the figure.)
    let widest = COMPARED_WIDTH - 2 * LEGEND_MARGIN - LEGEND_SWATCH;
    let fitted = legend_labels(&runs.iter().map(|r| r.label.as_str()).collect::<Vec<_>>(), widest);
    let labels: Vec<&str> = fitted.iter().map(String::as_str).collect();
    let rows = legend_rows(&labels, COMPARED_WIDTH);
    let legend = LEGEND_ROW * rows.len() as u32 + 8;
    figure(path, (COMPARED_WIDTH, legend + 280 * panels as u32), |root| {
        let (top, body) = root.split_vertically(legend);
        draw_legend(&top, &labels, &rows).map_err(draw_err(path))?;
        let areas = body.split_evenly((panels, 1));
        let last = runs.iter().map(|r| r.rows.len()).max().unwrap_or(1) as f64;
        // (Each run's in its colour.)
        let curves = |v: &dyn Fn(&MetricsRow) -> f64| -> Vec<(RGBColor, Vec<[f64; 2]>)> {
            (runs.iter().enumerate())
                .map(|(k, run)| {
                    let points = (run.rows.iter()).map(|r| [r.iteration as f64, v(r)]).collect();
                    (run_colour(k), thinned(points, MAX_COMPARED_POINTS))
                })
                .collect()
        };
        // (A setting changed after iteration k: between k and k + 1, as the
        // diagnostics pictures and the window mark it.)
        let marks: Vec<(f64, RGBColor)> = (runs.iter().enumerate())
            .flat_map(|(k, run)| run.changes.iter().map(move |c| (c.0 as f64 + 0.5, run_colour(k))))
            .collect();
        // d_st on each run's own fitted span, together: a run's first
        // swings would flatten every other's later ones.
        let d_spans = (runs.iter())
            .filter_map(|r| d_st_span(&r.rows.iter().map(|r| r.d_st).collect::<Vec<_>>()))
            .map(|(span, _)| span);
        let d_span = union_span(d_spans).unwrap_or([-1e-9, 1e-9]);
        let d_st = curves(&|m| m.d_st);
        let title = "d_st = mean U(X⁺) − mean U(X⁻): expansion < 0, contraction > 0 (y as each run's diagnostics \
                     fit it; values past it at the edge)";
        curves_chart(
            &areas[0],
            title,
            "iteration",
            &d_st,
            (0.0, last),
            d_span,
            true,
            &marks,
        )
        .map_err(draw_err(path))?;
        let r_t = curves(&|m| m.r_t);
        let r_span =
            fitted_span(r_t.iter().flat_map(|c| c.1.iter().map(|p| p[1])), false).unwrap_or([-1.0, 1.0]);
        let title = "r_t: mean Langevin gradient magnitude";
        curves_chart(
            &areas[1],
            title,
            "iteration",
            &r_t,
            (0.0, last),
            r_span,
            false,
            &marks,
        )
        .map_err(draw_err(path))?;
        if toy {
            let tv: Vec<(RGBColor, Vec<[f64; 2]>)> = (runs.iter().enumerate())
                .map(|(k, r)| {
                    (
                        run_colour(k),
                        r.toy.iter().map(|t| [t.iteration as f64, t.tv_model]).collect(),
                    )
                })
                .collect();
            let title = "TV(p_θ, q): the learned density against the true one, at each evaluation";
            curves_chart(
                &areas[2],
                title,
                "iteration",
                &tv,
                (0.0, last),
                [0.0, 1.0],
                false,
                &marks,
            )
            .map_err(draw_err(path))?;
        }
        run_autocorrelations(&areas[panels - 1], runs).map_err(draw_err(path))?;
        Ok(())
    })
}

/// The width of [`runs_figure`]'s figure, in pixels.
const COMPARED_WIDTH: u32 = 1200;

/// Points of a run's curve [`runs_figure`] draws at most ([`thinned`]).
const MAX_COMPARED_POINTS: usize = 4000;

/// The colour of the `k`th run compared: Tableau's ten, then plotters' palette.
fn run_colour(k: usize) -> RGBColor {
    const TEN: [(u8, u8, u8); 10] = [
        (31, 119, 180),
        (255, 127, 14),
        (44, 160, 44),
        (214, 39, 40),
        (148, 103, 189),
        (140, 86, 75),
        (227, 119, 194),
        (127, 127, 127),
        (188, 189, 34),
        (23, 190, 207),
    ];
    match TEN.get(k) {
        Some(&(r, g, b)) => RGBColor(r, g, b),
        None => {
            let [r, g, b] = basin_colour(k);
            RGBColor(r, g, b)
        }
    }
}

/// Curves (a colour and its points each) over the whole-number x axis
/// `x` (steps, iterations: `x_desc`), on the y range `y`, values past it
/// drawn at its edge; with `zero_line`, the line at 0; a dashed line
/// across at each of `marks` (an x and its colour: where a run's setting
/// changed).
#[allow(clippy::too_many_arguments)]
fn curves_chart(
    area: &Area,
    title: &str,
    x_desc: &str,
    curves: &[(RGBColor, Vec<[f64; 2]>)],
    (x_start, x_end): (f64, f64),
    [lo, hi]: [f64; 2],
    zero_line: bool,
    marks: &[(f64, RGBColor)],
) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let x_end = x_end.max(x_start + 1.0);
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 15))
        .margin(8)
        // (Room for the last tick's label, centred on the edge.)
        .margin_right(24)
        .x_label_area_size(28)
        .y_label_area_size(70)
        .build_cartesian_2d(x_start..x_end, lo..hi)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .x_labels(((x_end - x_start) as usize + 1).clamp(2, 10))
        .x_label_formatter(&whole)
        // (plotters' own labels of 0.01179 and 0.0118 both read "0.0118".)
        .y_label_formatter(&|y| tick(*y, hi - lo))
        .light_line_style(WHITE)
        .label_style(("sans-serif", 11))
        .draw()?;
    if zero_line {
        chart.draw_series(LineSeries::new(
            [(x_start, 0.0), (x_end, 0.0)],
            BLACK.stroke_width(1),
        ))?;
    }
    for &(x, colour) in marks {
        chart.draw_series(DashedLineSeries::new(
            [(x, lo), (x, hi)],
            6,
            4,
            colour.stroke_width(2),
        ))?;
    }
    for &(colour, ref points) in curves {
        let drawn = (points.iter())
            .filter(|p| p[1].is_finite())
            .map(|p| (p[0], p[1].clamp(lo, hi)));
        // (Thin where dense: a run's every iteration, over which another's shows.)
        let width = if points.len() > 200 { 1 } else { 2 };
        chart.draw_series(LineSeries::new(drawn.clone(), colour.stroke_width(width)))?;
        // (Few points, an evaluation's say: each one shown; one alone would draw nothing.)
        if points.len() <= 50 {
            chart.draw_series(drawn.map(|p| Circle::new(p, 3, colour.filled())))?;
        }
    }
    Ok(())
}

/// The runs' names, each after a swatch of its colour, laid out in rows
/// across a figure `width` pixels wide: the runs (by index) of each row,
/// with where each starts.
fn legend_rows(labels: &[&str], width: u32) -> Vec<Vec<(usize, u32)>> {
    let mut rows: Vec<Vec<(usize, u32)>> = Vec::new();
    let mut x = 0;
    for (k, label) in labels.iter().enumerate() {
        let item = LEGEND_SWATCH + legend_text_width(label);
        match rows.last_mut() {
            Some(row) if x + item <= width - LEGEND_MARGIN => row.push((k, x)),
            // (A name too long for a row still gets one of its own.)
            _ => {
                x = LEGEND_MARGIN;
                rows.push(vec![(k, x)]);
            }
        }
        x += item + LEGEND_GAP;
    }
    rows
}

/// `label`'s width in the legend's font, in pixels.
fn legend_text_width(label: &str) -> u32 {
    let font = ("sans-serif", LEGEND_FONT).into_font();
    font.box_size(label)
        .map_or(8 * label.chars().count() as u32, |(w, _)| w)
}

/// The runs' `labels` as the legend shows them, each within `width`
/// pixels ([`legend_label`]); numbered where two come out alike (told
/// apart only in the part cut), as the table lists them.
fn legend_labels(labels: &[&str], width: u32) -> Vec<String> {
    let fitted: Vec<String> = labels.iter().map(|l| legend_label(l, width)).collect();
    let distinct: std::collections::HashSet<&String> = fitted.iter().collect();
    if distinct.len() == fitted.len() {
        return fitted;
    }
    (labels.iter().enumerate())
        .map(|(k, l)| format!("{}. {}", k + 1, legend_label(l, width - 40)))
        .collect()
}

/// `label` as the legend shows it within `width` pixels: whole where it
/// fits, else its start and its end about a "…" (a third of it before:
/// what tells runs apart, [`crate::train::compare_runs::labels`]' first
/// folder, most often differs at its start or its end).
fn legend_label(label: &str, width: u32) -> String {
    if legend_text_width(label) <= width {
        return label.to_string();
    }
    let chars: Vec<char> = label.chars().collect();
    // Fewest characters dropped first: the longest that fits.
    for keep in (1..chars.len()).rev() {
        let head = keep / 3;
        let tail = keep - head;
        let shown: String = chars[..head]
            .iter()
            .chain(std::iter::once(&'…'))
            .chain(&chars[chars.len() - tail..])
            .collect();
        if legend_text_width(&shown) <= width {
            return shown;
        }
    }
    "…".to_string()
}

const LEGEND_FONT: u32 = 14;
const LEGEND_MARGIN: u32 = 20;
/// A swatch and the space after it, before the name.
const LEGEND_SWATCH: u32 = 30;
const LEGEND_GAP: u32 = 24;
const LEGEND_ROW: u32 = 24;

/// Draw [`legend_rows`]'s `rows` of `labels` on `area`.
fn draw_legend(
    area: &Area,
    labels: &[&str],
    rows: &[Vec<(usize, u32)>],
) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let font = ("sans-serif", LEGEND_FONT).into_font();
    for (r, row) in rows.iter().enumerate() {
        let y = (r as u32 * LEGEND_ROW + 6) as i32;
        for &(k, x) in row {
            let x = x as i32;
            area.draw(&Rectangle::new(
                [(x, y + 6), (x + 22, y + 10)],
                run_colour(k).filled(),
            ))?;
            let at = (x + LEGEND_SWATCH as i32, y);
            area.draw(&Text::new(labels[k], at, font.color(&BLACK)))?;
        }
    }
    Ok(())
}

/// d_st's autocorrelation by lag over each run's trailing window, the runs'
/// bars side by side at each lag, and each run's threshold for a strong
/// verdict dashed under lags 1 and 2 (its window's, 3/√N).
fn run_autocorrelations(
    area: &Area,
    runs: &[ComparedRun],
) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let n = runs.len().max(1) as f64;
    let width = 0.8 / n;
    let mut bars_drawn: Vec<(f64, f64, RGBColor)> = Vec::new();
    let mut thresholds = Vec::new();
    for (k, run) in runs.iter().enumerate() {
        let Some(c) = &run.correlations else { continue };
        let offset = (k as f64 + 0.5) * width - 0.4;
        let colour = run_colour(k);
        bars_drawn.extend((c.d_acf.iter().enumerate()).map(|(lag, &v)| (lag as f64 + offset, v, colour)));
        // (Past −1, a window of under 9 iterations', none can reach it.)
        if c.threshold() <= 1.0 {
            thresholds.push((-c.threshold(), colour));
        }
    }
    let lags = (runs.iter())
        .filter_map(|r| r.correlations.as_ref().map(|c| c.max_lag))
        .max()
        .unwrap_or(1) as f64;
    let title = "autocorrelation of d_st over each run's last eval.window iterations (dashed: its \
                 threshold for strong oscillation)";
    bars(
        area,
        title,
        -0.6..lags + 0.6,
        &bars_drawn,
        width,
        "lag",
        &thresholds,
    )
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;

/// `line` as `area`'s title, in the largest size from `largest` down to 10
/// that fits its width (a long one, a path say, would be cut at both
/// sides); `path` names the figure in errors.
fn fitted_title(area: &Area, line: &str, largest: u32, path: &Path) -> Result<()> {
    let width = area.dim_in_pixel().0;
    let size = (10..=largest)
        .rev()
        .find(|&s| {
            area.estimate_text_size(line, &TextStyle::from(("sans-serif", s).into_font()))
                .is_ok_and(|(w, _)| w + 8 <= width)
        })
        .unwrap_or(10);
    area.titled(line, ("sans-serif", size)).map_err(draw_err(path))?;
    Ok(())
}

/// At most `max` of `points` (in x order): past that, each run of
/// consecutive points gives its lowest and its highest, so that a spike or
/// a dip of one iteration still shows. (The window's curves and the PNG's
/// d_st dots: a long run's history drawn whole would slow both.)
pub fn thinned(points: Vec<[f64; 2]>, max: usize) -> Vec<[f64; 2]> {
    if points.len() <= max {
        return points;
    }
    let run = points.len().div_ceil(max / 2);
    points
        .chunks(run)
        .flat_map(|c| {
            // (Chunks are never empty.)
            let low = *c.iter().min_by(|a, b| a[1].total_cmp(&b[1])).unwrap();
            let high = *c.iter().max_by(|a, b| a[1].total_cmp(&b[1])).unwrap();
            if low[0] <= high[0] {
                [low, high]
            } else {
                [high, low]
            }
        })
        .collect()
}

/// A `size` figure, white, drawn by `draw` and written as ebmscope's PNG
/// at `path` ([`crate::io::write_png`]: whole or not at all, and marked).
fn figure(path: &Path, size: (u32, u32), draw: impl FnOnce(&Area) -> Result<()>) -> Result<()> {
    let mut pixels = vec![0u8; size.0 as usize * size.1 as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, size).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err(path))?;
        draw(&root)?;
        root.present().map_err(draw_err(path))?;
    }
    crate::io::write_png(path, [size.0, size.1], crate::io::Pixels::Rgb, &pixels)
}

/// Where the later half of a run of `len` iterations starts (its last 20
/// at least): the part d_st's plots fit their y axes to, here and in the
/// window, since its first swings, often hundreds of times the later
/// pendulum's, would flatten it into a line.
fn later_half(len: usize) -> usize {
    len - (len / 2).max(len.min(20))
}

/// The farthest from 0 a figure's y axis reaches (values past it drawn at
/// the edge): plotters' tick search never ends on a range whose width
/// overflows an f64, as a value of 1.7e308 in an edited metrics.csv made.
const Y_LIMIT: f64 = 1e300;

/// The lowest and highest of the finite `values`, if any.
fn finite_range(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    (lo <= hi).then_some((lo, hi))
}

/// A y range showing the finite `values` with a tenth of their span to
/// spare (a flat curve gets a tenth of its size, or of 1 at 0); with
/// `about_zero`, symmetric about 0, so that a sign reads at a glance.
/// None when no value is finite.
fn fitted_span(values: impl Iterator<Item = f64>, about_zero: bool) -> Option<[f64; 2]> {
    let (lo, hi) = finite_range(values)?;
    let (lo, hi) = (lo.clamp(-Y_LIMIT, Y_LIMIT), hi.clamp(-Y_LIMIT, Y_LIMIT));
    if about_zero {
        let reach = lo.abs().max(hi.abs());
        let reach = if reach > 0.0 { reach * 1.1 } else { 1.0 };
        return Some([-reach, reach]);
    }
    let spare = if hi > lo {
        (hi - lo) / 10.0
    } else {
        hi.abs().max(1.0) / 10.0
    };
    Some([lo - spare, hi + spare])
}

/// A tick label on a whole-number axis (iterations, steps, lags): "200",
/// not "200.0" (the axes ask for whole ticks; any other to 3 decimals).
fn whole(x: &f64) -> String {
    if x.fract() == 0.0 {
        format!("{}", *x as i64)
    } else {
        tick(*x, 1.0)
    }
}

/// A tick label on an axis spanning `span`: as many decimals as ticks a
/// tenth of it apart need (0.02 and 0.04 told apart), trailing zeros and
/// the sign of zero dropped.
fn tick(v: f64, span: f64) -> String {
    let decimals = (-(span / 10.0).log10().floor()).clamp(0.0, 6.0) as usize;
    let text = format!("{:.*}", decimals, if v.abs() < 1e-12 { 0.0 } else { v });
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    };
    if text == "-0" { "0".into() } else { text }
}

/// The y range holding all of `spans` (None if there are none).
pub fn union_span(spans: impl IntoIterator<Item = [f64; 2]>) -> Option<[f64; 2]> {
    spans
        .into_iter()
        .reduce(|[lo, hi], [l, h]| [lo.min(l), hi.max(h)])
}

/// What a curve fitted to its values from `start` on leaves off the scale
/// [lo, hi]: where the fit starts and how far the earlier values reach.
fn off_scale(v: &[f64], start: usize, span: [f64; 2]) -> Option<String> {
    EarlyReach::of(v, start)?.off(span)
}

/// How far a curve's finite values before the start of its fit reach:
/// what [`off_scale`] reads, kept to be read against any scale later.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EarlyReach {
    /// Where the fit starts, and the curve's length.
    start: usize,
    len: usize,
    lo: f64,
    hi: f64,
}

impl EarlyReach {
    /// Of `v` fitted from `start` on; None where no earlier value is finite.
    pub fn of(v: &[f64], start: usize) -> Option<Self> {
        let (lo, hi) = finite_range(v[..start].iter().copied())?;
        Some(EarlyReach {
            start,
            len: v.len(),
            lo,
            hi,
        })
    }

    /// What the scale `span` leaves off: where the fit starts and how far
    /// the earlier values reach (None if they all lie on it).
    pub fn off(&self, span: [f64; 2]) -> Option<String> {
        (self.lies_off(span))
            .then(|| format!("y fits {}–{}; before, {}", self.start + 1, self.len, self.reach()))
    }

    /// As [`EarlyReach::off`], shorter, for a second curve on one scale:
    /// how far the values before its fit reach.
    pub fn off_before(&self, span: [f64; 2]) -> Option<String> {
        (self.lies_off(span)).then(|| format!("before {}, {}", self.start + 1, self.reach()))
    }

    fn lies_off(&self, [lo, hi]: [f64; 2]) -> bool {
        self.lo < lo || self.hi > hi
    }

    /// How far the values reach, each to its own two digits or so (−900
    /// and 0.2).
    fn reach(&self) -> String {
        let reach = |x: f64| tick(x, x.abs());
        if self.lo == self.hi {
            reach(self.lo)
        } else {
            format!("{} to {}", reach(self.lo), reach(self.hi))
        }
    }
}

/// How many times the later half's reach the whole run's may be before
/// d_st's plots fit their axes to the later half: a run's first swings of
/// d_st are often hundreds of times the later ones.
pub const FIT_LATER_PAST: f64 = 3.0;

/// The y range d_st is shown over, in the pictures and in the window (its
/// "d_st fitted" box ticked): symmetric about 0, the later half's
/// ([`later_half`]) where the whole run's is more than [`FIT_LATER_PAST`]
/// times as wide, else the whole run's; with the index the fit starts from
/// (0 for the whole run). None when no value is finite. (r_t and the
/// energies are shown whole: r_t's climb to its level, often several times
/// its later swings, is part of what a run shows.)
pub fn d_st_span(d: &[f64]) -> Option<([f64; 2], usize)> {
    let start = later_half(d.len());
    let whole = fitted_span(d.iter().copied(), true)?;
    Some(match fitted_span(d[start..].iter().copied(), true) {
        Some(later) if whole[1] - whole[0] > FIT_LATER_PAST * (later[1] - later[0]) => (later, start),
        _ => (whole, 0),
    })
}

/// How [`series`] draws its values.
enum Curve {
    /// A line of one colour.
    Line(RGBColor),
    /// d_st's: a grey line, each iteration a dot of its phase's colour (as
    /// the window's), and the zero line between the two phases.
    ByPhase,
}

/// Dots d_st's picture draws at most (about two per pixel column; past
/// that each run of iterations gives its lowest and highest, so that the
/// dots' colours no longer count the phases).
const MAX_PHASE_DOTS: usize = 1000;

/// A learning curve over its iterations, drawn as `curve` says, on the y
/// range `span` fits it to (from its index on; [−1, 1] where no value is
/// finite); values off that scale are drawn at their edge, and the axis's
/// description says so and how far they reach.
fn series(
    area: &Area,
    title: &str,
    v: &[f64],
    span: Option<([f64; 2], usize)>,
    curve: Curve,
    changed: &[u64],
) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let ([lo, hi], start) = span.unwrap_or(([-1.0, 1.0], 0));
    let x_desc = match off_scale(v, start, [lo, hi]) {
        Some(note) => format!("iteration ({note}, drawn at the edge)"),
        None => "iteration".to_string(),
    };
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 15))
        .margin(8)
        .x_label_area_size(28)
        .y_label_area_size(60)
        .build_cartesian_2d(1f64..(v.len().max(2) as f64), lo..hi)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        // (Few iterations: ticks on whole ones, not 1.1, 1.2, …)
        .x_labels(v.len().clamp(2, 10))
        .x_label_formatter(&whole)
        .y_label_formatter(&|y| tick(*y, hi - lo))
        .light_line_style(WHITE)
        .label_style(("sans-serif", 11))
        .draw()?;
    let points = || {
        v.iter()
            .enumerate()
            .filter(|(_, y)| y.is_finite())
            .map(|(i, &y)| (i as f64 + 1.0, y.clamp(lo, hi)))
    };
    let line = match curve {
        Curve::Line(colour) => colour,
        Curve::ByPhase => RGBColor(170, 170, 170),
    };
    chart.draw_series(LineSeries::new(points(), &line))?;
    if let Curve::ByPhase = curve {
        chart.draw_series(LineSeries::new(
            [(1.0, 0.0), (v.len().max(2) as f64, 0.0)],
            BLACK.stroke_width(1),
        ))?;
        // (By the value drawn: one off the scale keeps its sign.)
        let dots = thinned(points().map(|(x, y)| [x, y]).collect(), MAX_PHASE_DOTS);
        chart.draw_series(
            dots.into_iter()
                .map(|[x, y]| Circle::new((x, y), 2, rgb(Phase::of(y).rgb()).filled())),
        )?;
    }
    for &k in changed {
        let x = k as f64 + 0.5;
        chart.draw_series(LineSeries::new([(x, lo), (x, hi)], CHANGE_COLOR.stroke_width(2)))?;
    }
    Ok(())
}

/// Bars (x, height, colour) of `width` on `x`, their axis described by
/// `x_desc`; each of `thresholds` (a height and its colour) a dashed line
/// there under the lags the oscillation verdict reads.
fn bars(
    area: &Area,
    title: &str,
    x: std::ops::Range<f64>,
    bars: &[(f64, f64, RGBColor)],
    width: f64,
    x_desc: &str,
    thresholds: &[(f64, RGBColor)],
) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let lowest = (bars.iter().map(|b| b.1))
        .chain(thresholds.iter().map(|t| t.0))
        .fold(0.0f64, f64::min);
    let lo = lowest.max(-1.05) - 0.05;
    let hi = bars.iter().map(|b| b.1).fold(0.0f64, f64::max).min(1.05) + 0.05;
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 15))
        .margin(8)
        .x_label_area_size(28)
        .y_label_area_size(60)
        .build_cartesian_2d(x.clone(), lo..hi)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        // (Ticks on whole lags, not 0.5, 1.5, …; and 0 is not "-0.0".)
        .x_labels(((x.end - x.start) as usize).clamp(2, 10))
        .x_label_formatter(&whole)
        .y_label_formatter(&|y| tick(*y, hi - lo))
        .light_line_style(WHITE)
        .label_style(("sans-serif", 11))
        .draw()?;
    chart.draw_series(
        bars.iter()
            .map(|&(k, v, c)| Rectangle::new([(k - width / 2.0, 0.0), (k + width / 2.0, v)], c.filled())),
    )?;
    chart.draw_series(LineSeries::new(
        [(x.start, 0.0), (x.end, 0.0)],
        BLACK.stroke_width(1),
    ))?;
    let span = crate::diagnostics::verdict_lags_span();
    for &(y, colour) in thresholds {
        chart.draw_series(DashedLineSeries::new(
            [(span.start, y), (span.end, y)],
            6,
            4,
            colour.stroke_width(1),
        ))?;
    }
    Ok(())
}

/// The colour of a basin in landscape pictures (the PNG's and the
/// window's), given its lowest minimum's index `k`: the same at every α,
/// so that a basin keeps its colour from panel to panel, and basins that a
/// larger α merges take the lower one's.
pub fn basin_colour(k: usize) -> [u8; 3] {
    let c = Palette99::pick(k).to_rgba();
    [c.0, c.1, c.2]
}

/// A point of [`landscape_map`]: a minimum at (x, y) in basin `basin`.
pub struct MapPoint {
    pub x: f64,
    pub y: f64,
    pub basin: usize,
    /// The index of its basin's lowest minimum among the panel's points,
    /// which colours the basin (its own index where it is the lowest).
    pub lowest: usize,
}

/// The learned log-density −U on a res × res grid over [−extent, extent]²
/// (row-major, y up; log_density_shades), one panel per (title, minima) of
/// `panels`: the minima coloured by basin, the lowest of each basin drawn
/// larger with its basin's number and joined to the basin's other minima
/// by lines; minima beyond the grid at its edge, ringed, and counted in
/// the title.
pub fn landscape_map(
    path: &Path,
    title: &str,
    grid: &crate::data::toy::Grid,
    energies: &[f64],
    panels: &[(String, Vec<MapPoint>)],
) -> Result<()> {
    register_font();
    let side = 500u32;
    // (A 46-pixel title band, then each panel's own title over its map.)
    figure(path, (side * panels.len() as u32, side + 76), |root| {
        let (top, body) = root.split_vertically(46);
        let to_pixel = |x: f64, y: f64| map_pixel(x, y, grid.extent, side).0;
        let beyond = |p: &MapPoint| map_pixel(p.x, p.y, grid.extent, side).1;
        // (Every panel has the same minima.)
        let outside = panels
            .first()
            .map_or(0, |(_, points)| points.iter().filter(|p| beyond(p)).count());
        // Two lines, each in the largest size up to 15 that fits the width (one
        // panel is 500 pixels).
        let (first, second) = top.split_vertically(23);
        let beyond_note = (outside > 0).then(|| {
            format!(
                "{outside} beyond the map's ±{:.2}, ringed at its edge",
                grid.extent
            )
        });
        for (area, line) in [(&first, Some(title.to_string())), (&second, beyond_note)] {
            if let Some(line) = line {
                fitted_title(area, &line, 15, path)?;
            }
        }
        let res = grid.res;
        let shades = log_density_shades(energies);
        for (area, (panel_title, points)) in body.split_evenly((1, panels.len())).iter().zip(panels) {
            let area = area
                .titled(panel_title, ("sans-serif", 14))
                .map_err(draw_err(path))?;
            for py in 0..side {
                for px in 0..side {
                    // Image rows go down, y goes up.
                    let i = (px as usize * res) / side as usize;
                    let j = res - 1 - (py as usize * res) / side as usize;
                    area.draw_pixel((px as i32, py as i32), &rgb(viridis(shades[j * res + i])))
                        .map_err(draw_err(path))?;
                }
            }
            // Each minimum joined to its basin's lowest by a line, under the dots.
            for (i, p) in points.iter().enumerate() {
                let Some(r) = points.get(p.lowest) else { continue };
                if p.lowest != i {
                    let line =
                        PathElement::new([to_pixel(p.x, p.y), to_pixel(r.x, r.y)], WHITE.stroke_width(2));
                    area.draw(&line).map_err(draw_err(path))?;
                }
            }
            for (i, p) in points.iter().enumerate() {
                let is_lowest = p.lowest == i;
                let at = to_pixel(p.x, p.y);
                let [r, g, b] = basin_colour(p.lowest);
                let color = RGBColor(r, g, b);
                let r = if is_lowest { 7 } else { 4 };
                if beyond(p) {
                    area.draw(&Circle::new(at, r + 4, BLACK.stroke_width(2)))
                        .map_err(draw_err(path))?;
                }
                area.draw(&Circle::new(at, r + 1, WHITE.filled()))
                    .map_err(draw_err(path))?;
                area.draw(&Circle::new(at, r, color.filled()))
                    .map_err(draw_err(path))?;
                if is_lowest {
                    // White with a black rim: legible on the map's yellow too.
                    let text = format!("{}", p.basin);
                    let (x, y) = (at.0 + 9, at.1 - 9);
                    for (dx, dy) in [
                        (-1, 0),
                        (1, 0),
                        (0, -1),
                        (0, 1),
                        (-1, -1),
                        (1, 1),
                        (-1, 1),
                        (1, -1),
                    ] {
                        let rim = ("sans-serif", 18).into_font().color(&BLACK);
                        area.draw(&Text::new(text.as_str(), (x + dx, y + dy), rim))
                            .map_err(draw_err(path))?;
                    }
                    let style = ("sans-serif", 18).into_font().color(&WHITE);
                    area.draw(&Text::new(text.as_str(), (x, y), style))
                        .map_err(draw_err(path))?;
                }
            }
        }
        Ok(())
    })
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests use std's renames and removals (clippy.toml)
mod tests {
    use super::*;

    /// The range holding several: none of none.
    #[test]
    fn a_union_span_holds_every_span() {
        assert_eq!(union_span([[-1.0, 0.5], [-0.2, 4.0]]), Some([-1.0, 4.0]));
        assert_eq!(union_span([[-0.2, 4.0]]), Some([-0.2, 4.0]));
        assert_eq!(union_span([]), None);
    }

    /// A run's name too wide for the compare figure's legend keeps its
    /// start and its end about a "…", within the width; one that fits is
    /// whole.
    #[test]
    fn a_legend_label_too_wide_keeps_its_start_and_end() {
        register_font();
        assert_eq!(legend_label("runs/gmm-lr", 400), "runs/gmm-lr");
        let long = format!("{}/run-b", "x".repeat(300));
        let shown = legend_label(&long, 400);
        assert!(legend_text_width(&shown) <= 400, "{shown}");
        assert!(
            shown.starts_with("xx") && shown.ends_with("xx/run-b") && shown.contains('…'),
            "{shown}"
        );
        // As many characters as fit: one more (an "x" of the middle's)
        // would not.
        let one_more = shown.replacen('…', "x…", 1);
        assert!(legend_text_width(&one_more) > 400, "{shown}");
        // Two told apart only in their middle: numbered, as the table lists them.
        let (a, b) = (
            format!("{0}a{0}/run", "x".repeat(150)),
            format!("{0}b{0}/run", "x".repeat(150)),
        );
        let both = legend_labels(&[&a, &b], 400);
        assert!(
            both[0].starts_with("1. xx") && both[1].starts_with("2. xx"),
            "{both:?}"
        );
        assert!(both.iter().all(|l| legend_text_width(l) <= 400), "{both:?}");
        // Told apart where it shows: not numbered.
        assert_eq!(legend_labels(&["a/run", "b/run"], 400), ["a/run", "b/run"]);
    }

    #[test]
    fn a_curve_is_fitted_to_the_runs_later_half_and_says_what_it_leaves_off() {
        // A non-convergent start (d_st far below 0), then a small pendulum.
        let d: Vec<f64> = (0..200)
            .map(|i| match i {
                0..50 => -900.0 + i as f64,
                _ if i % 2 == 0 => 0.2,
                _ => -0.1,
            })
            .collect();
        let start = later_half(d.len());
        assert_eq!(start, 100);
        let span = fitted_span(d[start..].iter().copied(), true).unwrap();
        assert!((span[1] - 0.22).abs() < 1e-12 && span[0] == -span[1]);
        assert_eq!(
            off_scale(&d, start, span).as_deref(),
            Some("y fits 101–200; before, -900 to 0.2")
        );
        // Nothing off the scale: no note; short runs are fitted whole.
        assert_eq!(off_scale(&d[100..], 50, span), None);
        assert_eq!(d_st_span(&d), Some((span, 100)));
        let (short, from) = d_st_span(&d[..10]).unwrap();
        assert!((short[1] - 990.0).abs() < 1e-9 && short[0] == -short[1] && from == 0);
        assert_eq!(d_st_span(&[f64::NAN]), None);
        assert_eq!(later_half(15), 0);
        assert_eq!(later_half(30), 10);
        assert_eq!(fitted_span([f64::NAN].into_iter(), false), None);
        assert_eq!(fitted_span([2.0, 2.0].into_iter(), false), Some([1.8, 2.2]));
        // A range whose width would overflow is cut to finite edges (an
        // edited metrics.csv's 1.7e308 hung the figure's tick search).
        for about_zero in [false, true] {
            let [lo, hi] = fitted_span([-1.7e308, 1.7e308].into_iter(), about_zero).unwrap();
            assert!((hi - lo).is_finite() && hi > lo, "{lo} {hi}");
        }
        // So are the long-run figure's curves, padded by a twentieth.
        for values in [[-1.7e308, 1.7e308], [1.7e308, 1.7e308]] {
            let (lo, hi) = curve_span(values.into_iter());
            assert!((1.1 * (hi - lo)).is_finite() && hi > lo, "{lo} {hi}");
        }
        assert_eq!(curve_span([f64::NAN].into_iter()), (-1.0, 1.0));
        assert_eq!(curve_span([2.0, 2.0].into_iter()), (1.8, 2.2));
        // Drawn: the pendulum spans the d_st panel (top left, 500 × 350),
        // not a line at the top of a scale reaching −900: in its later
        // part, expansion's blue dots below 0 (y ≈ 177), contraction's red
        // ones above, none on the wrong side.
        let path = std::env::temp_dir().join(format!("ebmscope-fitted-{}.png", std::process::id()));
        diagnostics_figure(&path, &d, &vec![1.0; 200], &[], 100, 5).unwrap();
        let picture = image::open(&path).unwrap().to_rgb8();
        let _ = std::fs::remove_file(&path);
        let dots = |phase: Phase, rows: std::ops::Range<u32>| {
            rows.flat_map(|y| (300..490).map(move |x| (x, y)))
                .filter(|&(x, y)| picture.get_pixel(x, y).0 == phase.rgb())
                .count()
        };
        let (blue_below, red_above) = (
            dots(Phase::Expansion, 190..330),
            dots(Phase::Contraction, 30..165),
        );
        assert!(
            blue_below > 100 && red_above > 100,
            "{blue_below} blue below 0, {red_above} red above"
        );
        assert_eq!(
            (
                dots(Phase::Expansion, 30..165),
                dots(Phase::Contraction, 190..330)
            ),
            (0, 0)
        );
        // The autocorrelations (bottom right, lags −0.8 to 5.8 on about
        // 430 pixels) draw the verdict's threshold dashed under lags 1 and
        // 2 alone: a row of grey dashes about 130 pixels long, gaps between.
        let dashes = (400..680)
            .map(|y| {
                (560..990)
                    .filter(|&x| picture.get_pixel(x, y).0 == [120, 120, 120])
                    .count()
            })
            .max();
        assert!(
            matches!(dashes, Some(40..=120)),
            "{dashes:?} grey pixels in a row"
        );
        // A setting changed after iteration 150: an orange line across both
        // curves' panels (top left and top right), none without it.
        let orange = |changed: &[u64]| {
            diagnostics_figure(&path, &d, &vec![1.0; 200], changed, 100, 5).unwrap();
            let picture = image::open(&path).unwrap().to_rgb8();
            let _ = std::fs::remove_file(&path);
            let count = |x0: u32| {
                (x0..x0 + 500)
                    .filter(|&x| (60..300).any(|y| picture.get_pixel(x, y).0 == [230, 130, 0]))
                    .count()
            };
            (count(0), count(500))
        };
        let (d_st_columns, r_t_columns) = orange(&[150]);
        assert!((1..=3).contains(&d_st_columns) && (1..=3).contains(&r_t_columns));
        assert_eq!(orange(&[]), (0, 0));
    }

    #[test]
    fn tick_labels_have_the_decimals_their_spacing_needs() {
        assert_eq!(tick(0.04, 0.2), "0.04");
        assert_eq!(tick(0.02, 0.2), "0.02");
        assert_eq!(tick(-1e-17, 0.2), "0");
        assert_eq!(tick(0.30000000000000004, 1.0), "0.3");
        assert_eq!(tick(200.0, 400.0), "200");
        // A long run's gradient steps, 0.011766 … 0.011848 and their spare:
        // ticks 0.00001 apart each read as themselves.
        let labels: Vec<String> = [0.01178, 0.01179, 0.0118, 0.01181]
            .iter()
            .map(|&v| tick(v, 0.0000902))
            .collect();
        assert_eq!(labels, ["0.01178", "0.01179", "0.0118", "0.01181"]);
        assert_eq!(whole(&15.0), "15");
        assert_eq!(whole(&-3.0), "-3");
        assert_eq!(whole(&2.5), "2.5");
    }

    /// A long curve is drawn from at most `max` points, in x order, its
    /// one-iteration spike and dip among them; a short one whole.
    #[test]
    fn long_curves_are_thinned_keeping_their_extremes() {
        const MAX: usize = 4000;
        let mut points: Vec<[f64; 2]> = (0..100_000).map(|i| [i as f64, (i % 7) as f64]).collect();
        points[31_337][1] = 1e6;
        points[77_777][1] = -1e6;
        let thin = thinned(points.clone(), MAX);
        assert!(thin.len() <= MAX, "{}", thin.len());
        assert!(thin.windows(2).all(|w| w[0][0] < w[1][0]), "x order");
        assert!(thin.contains(&[31_337.0, 1e6]) && thin.contains(&[77_777.0, -1e6]));
        points.truncate(MAX);
        assert_eq!(thinned(points.clone(), MAX), points);
    }

    /// A long run of one row past its start still shows its gradient and
    /// acceptance: a lone point is drawn as a dot (a line of one point
    /// draws nothing), in a range of its own scale.
    #[test]
    fn a_series_of_one_point_is_drawn() {
        use crate::train::longrun::LongRunRow;
        let rows = [0, 20].map(|step| LongRunRow {
            step,
            mean_energy: 1.0,
            grad_magnitude: (step > 0).then_some(0.0111),
            acceptance: (step > 0).then_some(0.9844),
        });
        let path = std::env::temp_dir().join(format!("ebmscope-one-row-{}.png", std::process::id()));
        long_run_figure(&path, "one row", &rows, &[]).unwrap();
        let picture = image::open(&path).unwrap().to_rgb8();
        let _ = std::fs::remove_file(&path);
        // Blue pixels in each of the gradient and acceptance panels (300
        // pixels each, under the 30-pixel title and the energy's panel).
        for (panel, top) in [("gradient", 330), ("acceptance", 630)] {
            let blue = (top..top + 300)
                .flat_map(|y| (0..picture.width()).map(move |x| (x, y)))
                .filter(|&(x, y)| picture.get_pixel(x, y).0 == [0, 0, 255])
                .count();
            assert!(blue > 10, "{panel}: {blue} blue pixels");
        }
    }

    /// A long run that went on from saved chains (its rows at steps 1 000
    /// to 1 020) is drawn over its own steps: its curve spans the panel,
    /// where an axis from 0 would leave it squeezed at the right edge. Its
    /// long title (a file's name in it) is made small enough to fit.
    #[test]
    fn a_run_gone_on_is_drawn_over_its_own_steps() {
        use crate::train::longrun::LongRunRow;
        let rows = [1000, 1010, 1020].map(|step| LongRunRow {
            step,
            mean_energy: step as f64,
            grad_magnitude: (step > 1000).then_some(0.01),
            acceptance: None,
        });
        let path = std::env::temp_dir().join(format!("ebmscope-gone-on-{}.png", std::process::id()));
        let title = "Langevin 100000 steps from longrun_from_data_100000/chains.safetensors at step 100000 \
                     on 1000 chains (checkpoint at iteration 100000), T × 1, ε 0.125 (the checkpoint's)";
        long_run_figure(&path, title, &rows, &[]).unwrap();
        let picture = image::open(&path).unwrap().to_rgb8();
        let _ = std::fs::remove_file(&path);
        // The title's band: ink, none of it in the outermost columns.
        let inked = |x: u32| (0..30).any(|y| picture.get_pixel(x, y).0.iter().all(|&c| c < 128));
        assert!((0..picture.width()).any(inked));
        assert!(
            !(0..3).chain(picture.width() - 3..picture.width()).any(inked),
            "the title is cut"
        );
        // The energy's panel: under the 30-pixel title, 300 pixels high.
        let columns: Vec<u32> = (0..picture.width())
            .filter(|&x| (30..330).any(|y| picture.get_pixel(x, y).0 == [0, 0, 255]))
            .collect();
        let (first, last) = (columns[0], *columns.last().unwrap());
        assert!(
            first < 200 && last > 800,
            "the curve spans x = {first} to {last} of 1000"
        );
    }

    /// Rates and distances are drawn on [0, 1], not on an axis fitted to
    /// them: an acceptance of 0.90–0.95 lies near the panel's top, where a
    /// fitted axis would draw it as a swing across the whole panel.
    #[test]
    fn rates_and_distances_keep_their_zero_to_one_axes() {
        use crate::train::longrun::LongRunRow;
        let rows = [0, 20, 40].map(|step| LongRunRow {
            step,
            mean_energy: 1.0 + step as f64,
            grad_magnitude: (step > 0).then_some(0.01 * step as f64),
            acceptance: (step > 0).then_some(if step == 20 { 0.90 } else { 0.95 }),
        });
        let tv = [(0.0, 0.95), (40.0, 0.90)];
        let path = std::env::temp_dir().join(format!("ebmscope-rates-{}.png", std::process::id()));
        long_run_figure(&path, "rates", &rows, &tv).unwrap();
        let picture = image::open(&path).unwrap().to_rgb8();
        let _ = std::fs::remove_file(&path);
        assert_eq!(picture.height(), 30 + 4 * 300);
        // The acceptance and TV panels (300 pixels each, under the title
        // and the energy's and gradient's panels): their curves' pixels lie
        // in the top third (0.9 is 14 % down a padded [0, 1] axis).
        for (panel, top) in [("acceptance", 630), ("TV", 930)] {
            let rows_drawn: Vec<u32> = (top..top + 300)
                .filter(|&y| (0..picture.width()).any(|x| picture.get_pixel(x, y).0 == [0, 0, 255]))
                .collect();
            assert!(!rows_drawn.is_empty(), "{panel}: no curve");
            let lowest = rows_drawn.iter().max().unwrap() - top;
            assert!(
                lowest < 100,
                "{panel}: the curve reaches {lowest} pixels down its panel"
            );
        }
    }

    /// A diverged model's densities (NaN, ±∞ beside numbers) are drawn, not
    /// a panic in the colour scale: they take its bottom, and the numbers
    /// keep their own scale.
    #[test]
    fn non_finite_densities_are_drawn() {
        let res = 4;
        let mut p: Vec<f64> = (0..res * res).map(|i| i as f64 / 120.0).collect();
        p[0] = f64::NAN;
        p[1] = f64::INFINITY;
        p[2] = f64::NEG_INFINITY;
        for log in [false, true] {
            let s = density_shades(&p, log);
            assert_eq!(&s[..3], &[0.0; 3], "log {log}");
            assert!(s.iter().all(|t| (0.0..=1.0).contains(t)), "log {log}: {s:?}");
            assert_eq!(
                s[res * res - 1],
                1.0,
                "log {log}: the largest number tops the scale"
            );
        }
        assert_eq!(viridis(f64::NAN), viridis(0.0));
        let path = std::env::temp_dir().join(format!("ebmscope-nan-heat-{}.png", std::process::id()));
        heat_maps(
            &path,
            "diverged",
            res,
            &[
                HeatMap::density("all NaN", &[f64::NAN; 16]),
                HeatMap::density("mixed", &p),
            ],
        )
        .unwrap();
        // Under the maps, the colour scale: viridis from its left end (the
        // bottom) to its right (the top), across the middle of its band.
        let picture = image::open(&path).unwrap().to_rgb8();
        assert_eq!(picture.dimensions(), (600, 640 + SCALE_BAND));
        let y = 640 + SCALE_BAND / 2;
        let (left, right) = (300 - 100, 300 + 100 - 1);
        assert_eq!(picture.get_pixel(left, y).0, viridis(0.0));
        assert_eq!(picture.get_pixel(right, y).0, viridis(1.0));
        let _ = std::fs::remove_file(&path);
    }

    /// A sharp model's energies on a 41² grid over [−2, 2]²: U rising from
    /// the centre 2 000 nats to the edges' middles (500·(x² + y²)).
    fn sharp_bowl() -> (usize, crate::data::toy::Grid, Vec<f64>) {
        let res = 41;
        let grid = crate::data::toy::Grid { res, extent: 2.0 };
        let energies = (0..res * res)
            .map(|k| {
                let (x, y) = (grid.coord(k % res), grid.coord(k / res));
                500.0 * (x * x + y * y)
            })
            .collect();
        (res, grid, energies)
    }

    /// A sharp model's density picture keeps its shape in the log EBM
    /// panel (−U's shades), where log(p + 1e-10) would be one colour but
    /// for the centre: many colours across the panel, not a few.
    #[test]
    fn a_sharp_models_log_density_panel_has_its_shape() {
        let (res, grid, energies) = sharp_bowl();
        let flat = vec![1.0 / (res * res) as f64; res * res];
        let m = ToyMetrics {
            model: grid.boltzmann(&energies),
            energies,
            truth: flat.clone(),
            kde: flat,
            samples: Vec::new(),
            persistent: false,
            grid,
            tv_model: 0.0,
            kl_model: 0.0,
            tv_kde: crate::data::toy::KdeTv {
                tv: 0.0,
                points: 0,
                floor: 0.0,
            },
            kl_kde: 0.0,
        };
        let path = std::env::temp_dir().join(format!("ebmscope-sharp-{}.png", std::process::id()));
        density_triptych(&path, &m, 1).unwrap();
        let img = image::open(&path).unwrap().to_rgb8();
        let _ = std::fs::remove_file(&path);
        // The log row's middle panel (3 panels of 300 × 300 under a 40-pixel
        // title), inside its own title.
        let colours: std::collections::HashSet<[u8; 3]> = (360..620)
            .flat_map(|y| (330..570).map(move |x| (x, y)))
            .map(|(x, y)| img.get_pixel(x, y).0)
            .collect();
        assert!(colours.len() > 30, "{} colours", colours.len());
    }

    /// A sharp model's map keeps its shape: with U rising 2 000 nats from
    /// the centre, the reference's floored log-density puts all but the
    /// centre at the bottom of the scale, −U's shades fall evenly (the
    /// corners, past the 1st percentile, held at the bottom).
    #[test]
    fn a_sharp_landscape_keeps_its_shape() {
        let (res, grid, energies) = sharp_bowl();
        let floored = density_shades(&grid.boltzmann(&energies), true);
        let at_bottom = floored.iter().filter(|&&t| t == 0.0).count();
        assert!(at_bottom > res * res * 9 / 10, "{at_bottom}");
        let shades = log_density_shades(&energies);
        let centre = res * (res / 2) + res / 2;
        assert_eq!(shades[centre], 1.0);
        // Half-way to the edge along x: U = 500, an eighth of the corners'
        // 4 000 (the scale's bottom, the 1st percentile, is a little above).
        let half_way = centre + res / 4;
        // The scale's bottom: the 17th highest U of 1 681 (3 620, not the
        // corners' 4 000), so half-way reads 3 120 / 3 620, not 3 500 / 4 000.
        let mut highest = energies.clone();
        highest.sort_by(|a, b| b.total_cmp(a));
        let floor = highest[res * res / 100];
        assert!((floor - 3620.0).abs() < 1e-9, "{floor}");
        assert!(
            (shades[half_way] - (floor - 500.0) / floor).abs() < 1e-12,
            "{}",
            shades[half_way]
        );
        // Beside a corner, U = 3 805: past the floor, at the bottom.
        assert_eq!(shades[0], 0.0);
        assert_eq!(shades[1], 0.0);
        let none = log_density_shades(&[f64::NAN, f64::INFINITY]);
        assert_eq!(none, [0.0, 0.0]);
    }

    /// Minima beyond the map are held to its edge and said to be beyond.
    #[test]
    fn map_points_beyond_the_grid_are_held_to_its_edge() {
        assert_eq!(map_pixel(0.0, 0.0, 2.0, 100), ((50, 50), false));
        assert_eq!(map_pixel(-2.0, 2.0, 2.0, 100), ((0, 0), false));
        assert_eq!(
            map_pixel(2.0, -2.0, 2.0, 100),
            ((99, 99), false),
            "the grid's far edge is on it"
        );
        assert_eq!(map_pixel(5.0, -0.5, 2.0, 100), ((99, 62), true));
        assert_eq!(map_pixel(-3.0, -9.0, 2.0, 100), ((0, 99), true));
    }
}
