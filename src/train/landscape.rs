//! Mapping a model's energy landscape (PAPER.md, "What the paper shows", 4):
//! local minima reached by gradient descent from many states, grouped into
//! basins by attraction–diffusion. With U = F/T the model's energy, a chain
//! started at one minimum a samples exp(−U/f − α‖x − b‖) toward a lower
//! minimum b (Langevin with the model's gradient step and noise ε√f, the
//! pull added by [`Attracted`]); if it comes within the radius of b, a and
//! b share a basin: the barrier between them is one the chain can cross at
//! temperature f with the pull α. Basins are the connected groups, each
//! named after its lowest minimum. A small α at a low f crosses only low
//! barriers (many basins); a large α merges everything into one.

use super::longrun::{ChainStart, LongRunInit, check_temp_factor};
use super::{Checkpoint, Progress, net_spec, step_size};
use std::path::{Path, PathBuf};

use crate::config::{plural, rounded, short};
use crate::data::Dataset;
use crate::data::toy::Grid;
use crate::gpu::{Gpu, SLICE_STEPS};
use crate::io::{OutputSet, Sign, replace_outputs, write_atomically};
use crate::model::GpuNet;
use crate::plot::MapPoint;
use crate::sampler::{Attracted, EnergyField, Langevin, StepSize, Track};
use crate::{Error, Result};

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct LandscapeOptions {
    /// States gradient descent starts from.
    pub starts: usize,
    /// Where they are: fresh, or a long run's chains (recorded in
    /// landscape.toml by [`ChainStart::settings`]).
    #[serde(skip)]
    pub from: ChainStart,
    /// Steps of gradient descent x ← x − a∇F, in slices of 50 steps: a
    /// slice that starts with n steps to go uses a = (ε²/2T)·n/descent_steps
    /// (the model's Langevin step, falling linearly).
    pub descent_steps: u64,
    /// Langevin steps of every attraction–diffusion chain.
    pub ad_steps: u64,
    /// The pulls α to map at (log-density per unit of distance ‖x − b‖),
    /// each with the same chains and noise.
    pub alphas: Vec<f64>,
    /// f: attraction–diffusion samples exp(−U/f) (U = F/T, the model's energy).
    pub temp_factor: f64,
    /// Two states within this root-mean-square distance per element are one
    /// minimum; a chain this close to its goal has reached it.
    pub radius: f64,
    /// Attraction–diffusion chains per GPU submission (memory bound).
    pub chunk: usize,
}

/// The defaults of `ebmscope landscape` and of the window's map.
impl Default for LandscapeOptions {
    fn default() -> Self {
        LandscapeOptions {
            starts: 64,
            from: ChainStart::Fresh(LongRunInit::Data),
            descent_steps: 2000,
            ad_steps: 1000,
            alphas: vec![1.0],
            temp_factor: 1.0,
            radius: 0.05,
            chunk: 512,
        }
    }
}

impl LandscapeOptions {
    /// Refuse options a mapping cannot use, naming the one at fault.
    pub fn validate(&self) -> Result<()> {
        let positive = |v: f64| v > 0.0 && v.is_finite();
        for (flag, value, least) in [
            ("--starts", self.starts as u64, 2),
            ("--descent-steps", self.descent_steps, 1),
            ("--ad-steps", self.ad_steps, 1),
            ("--chunk", self.chunk as u64, 1),
        ] {
            if value < least {
                return Err(Error::Config(format!("{flag} must be at least {least}")));
            }
        }
        // (The noise counter tells steps apart up to MAX_COUNTED.)
        for (flag, value) in [
            ("--descent-steps", self.descent_steps),
            ("--ad-steps", self.ad_steps),
        ] {
            if value > crate::sampler::MAX_COUNTED {
                return Err(Error::Config(format!(
                    "{flag} must be at most {}",
                    crate::sampler::MAX_COUNTED
                )));
            }
        }
        if self.alphas.is_empty() {
            return Err(Error::Config("--alpha needs at least one value".into()));
        }
        if let Some(a) = self.alphas.iter().find(|a| !(**a >= 0.0 && a.is_finite())) {
            return Err(Error::Config(format!(
                "--alpha values must be numbers ≥ 0 (one is {a})"
            )));
        }
        for (i, a) in self.alphas.iter().enumerate() {
            if self.alphas[..i].contains(a) {
                return Err(Error::Config(format!(
                    "--alpha lists {a} twice: give each value once"
                )));
            }
        }
        for (flag, v) in [("--temp-factor", self.temp_factor), ("--radius", self.radius)] {
            if !positive(v) {
                return Err(Error::Config(format!(
                    "{flag} must be a positive number (it is {v})"
                )));
            }
        }
        Ok(())
    }

    /// Everything that can be refused before any work.
    pub fn check(&self, ck: &Checkpoint) -> Result<()> {
        self.validate()?;
        check_temp_factor(&ck.config, self.temp_factor, "--temp-factor")?;
        // The pull the chains are given (see `landscape`), and the step it
        // makes (pull_scale in attraction_state.wgsl), must be f32s.
        let temperature = ck.config.temperature();
        let per_alpha = self.step_per_alpha(ck);
        if let Some(a) = self.alphas.iter().find(|&&a| {
            !((a * temperature * self.temp_factor) as f32).is_finite()
                || !((a * per_alpha) as f32).is_finite()
        }) {
            return Err(Error::Config(format!(
                "--alpha {a:e}: the pull α·T·f it gives ({:e}) or its step α·f·ε²/2 ({:e}) is past what \
                 the GPU's f32 holds: use a smaller --alpha or --temp-factor",
                a * temperature * self.temp_factor,
                a * per_alpha
            )));
        }
        self.from.check(ck, self.starts, "--starts")
    }

    /// How far one Langevin step's pull moves a chain toward its goal, per
    /// unit of α, at checkpoint `ck`'s ε: a·T·f = f·ε²/2 (a = ε²/2T, as
    /// the temperature factor leaves it).
    fn step_per_alpha(&self, ck: &Checkpoint) -> f64 {
        self.temp_factor * ck.config.langevin.epsilon.powi(2) / 2.0
    }

    /// Warnings for each α whose pull moves a chain, in one step of
    /// checkpoint `ck`'s Langevin (α·f·ε²/2), more than twice the reach
    /// within which it counts as arrived (radius·√dims). Such chains cross
    /// between minima in a few long steps, or in one where their goal is
    /// nearer than a step (the smoothed pull lands them on it), so the
    /// energy between is hardly visited: they join minima whatever the
    /// barrier, and the barriers they record are too low.
    pub fn coarse_pulls(&self, ck: &Checkpoint) -> Result<Vec<String>> {
        let dim: usize = net_spec(&ck.config)?.input.iter().product();
        let reach = self.radius * (dim as f64).sqrt();
        let per_alpha = self.step_per_alpha(ck);
        Ok(self
            .alphas
            .iter()
            .filter(|&&a| a * per_alpha > 2.0 * reach)
            .map(|&a| {
                format!(
                    "at α = {}, one step's pull moves a chain up to α·f·ε²/2 = {} toward its goal, more \
                     than twice the {} within which it counts as there (--radius × √dims): chains cross \
                     between minima in a few long steps (or one, landing on a goal nearer than that), \
                     hardly visiting the energy between, so they join minima whatever the barrier and \
                     record barriers too low; α up to {} keeps the steps within it",
                    alpha_label(a),
                    rounded(a * per_alpha),
                    rounded(reach),
                    rounded(2.0 * reach / per_alpha)
                )
            })
            .collect())
    }
}

/// A local minimum: the lowest of the descent end points within the radius.
#[derive(Clone, Debug, PartialEq)]
pub struct Minimum {
    pub state: Vec<f32>,
    /// U = F/T of the model.
    pub energy: f64,
    /// Descent starts that ended here.
    pub starts: usize,
}

/// One attraction–diffusion chain, from minimum `from` toward the lower `to`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Attempt {
    pub from: usize,
    pub to: usize,
    pub reached: bool,
    /// The closest it came to `to`, root-mean-square per element.
    pub closest: f64,
    /// The highest U = F/T it passed before it first came within the radius
    /// of `to` (for a chain that never did: on its whole way).
    pub barrier: f64,
}

/// The basins at one pull α.
#[derive(Clone, Debug, PartialEq)]
pub struct Basins {
    pub alpha: f64,
    pub attempts: Vec<Attempt>,
    /// The basin of every minimum. Basins are numbered by their lowest
    /// minimum, so basin 0 holds minimum 0, the lowest found.
    pub of: Vec<usize>,
}

impl Basins {
    pub fn count(&self) -> usize {
        self.of.iter().max().map_or(0, |b| b + 1)
    }

    /// The minima of basin `b`, lowest energy first.
    pub fn members(&self, b: usize) -> impl Iterator<Item = usize> + '_ {
        (0..self.of.len()).filter(move |&i| self.of[i] == b)
    }

    /// The lowest minimum of basin `b`: what colours the basin
    /// (plot::basin_colour), the same at every α, where its number is its
    /// rank at this α. (Every basin holds one: its number is a minimum's.)
    pub fn lowest(&self, b: usize) -> usize {
        self.members(b).next().unwrap_or(0)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Landscape {
    /// Lowest energy first.
    pub minima: Vec<Minimum>,
    /// One per α, in the order of the options.
    pub basins: Vec<Basins>,
    /// How far the descent's states still moved over its last
    /// `late_descent_steps` (its second half), the farthest of them,
    /// root-mean-square per element:
    /// near 0 where each had settled into a minimum, growing with the
    /// steps where they still run down a slope. (Not the last step's move:
    /// the step falls to nothing by the end, settled or not.)
    pub late_descent_move: f64,
    /// How far U fell over those steps, the most of any state: a minimum's
    /// falls by far less than 1 (its exp(−U) changes by far less than
    /// e-fold), a state on a slope by as much as it likes (an image model's
    /// by about 100 over 100 steps) while moving little per element.
    pub late_energy_fall: f64,
    pub late_descent_steps: u64,
    /// The largest |value| of the starts: minima far beyond it are where
    /// descent stopped on an energy that falls without bound.
    pub start_extent: f64,
}

impl Landscape {
    /// "8 minima from 64 starts; attraction–diffusion at T × 1, 1000 steps"
    /// ("from 64 starts of longrun_data/chains.safetensors at step 1000" from chains).
    pub fn title(&self, opts: &LandscapeOptions) -> String {
        format!(
            "{} from {} starts{}; attraction–diffusion at T × {}, {} steps",
            plural(self.minima.len() as u64, "minimum", "minima"),
            opts.starts,
            match &opts.from {
                ChainStart::Saved(_) => format!(" of {}", opts.from.text()),
                ChainStart::Fresh(_) => String::new(),
            },
            short(opts.temp_factor),
            opts.ad_steps
        )
    }

    /// Values per state.
    pub fn dim(&self) -> usize {
        self.minima[0].state.len()
    }

    /// Whether, over the descent's second half, the states moved less than
    /// half the grouping radius and their energy U fell by less than 1; if
    /// not, more descent steps may change the minima. (A state that rocks
    /// across a kink of a LeakyReLU net's energy moves by about a step,
    /// which the second half makes small: the README's toy model's fell by
    /// 0.009 at most.)
    pub fn descent_settled(&self, radius: f64) -> bool {
        self.late_descent_move <= 0.5 * radius && self.late_energy_fall <= 1.0
    }

    /// The largest |value| of any minimum.
    pub fn minima_extent(&self) -> f64 {
        max_abs(self.minima.iter().flat_map(|m| &m.state))
    }

    /// Whether the minima lie far outside the starts (a value beyond 10
    /// times the starts' largest |value|): descent then ran down an energy
    /// that falls away from the data, as a non-convergent model's often does.
    pub fn ran_away(&self) -> bool {
        self.minima_extent() > 10.0 * self.start_extent
    }

    /// What a reader of the map must be told beside it (the CLI and the
    /// window say the same).
    pub fn warnings(&self, radius: f64) -> Vec<String> {
        let mut said = Vec::new();
        if !self.descent_settled(radius) {
            said.push(format!(
                "descent had not settled: over its last {} the states still moved up to {:.1e} per \
                 element (root mean square; minima are grouped within {radius}) and their energy U \
                 fell by up to {} (a minimum's by far less than 1), so more descent steps \
                 (--descent-steps) may move the minima",
                plural(self.late_descent_steps, "step", "steps"),
                self.late_descent_move,
                rounded(self.late_energy_fall),
            ));
        }
        if self.ran_away() {
            said.push(format!(
                "the minima lie far outside the starts (values up to {:.3e}, the starts' up to {:.3}): \
                 the model's energy falls without bound away from its data, so these are where descent \
                 stopped, not minima (a non-convergent model may have no landscape to map)",
                self.minima_extent(),
                self.start_extent
            ));
        }
        said
    }
}

/// The largest |v| of `values` (0 for none).
fn max_abs<'a>(values: impl IntoIterator<Item = &'a f32>) -> f64 {
    values.into_iter().fold(0.0, |e, &v| e.max(f64::from(v).abs()))
}

/// α as file names and CSV headers show it: short, without exponents
/// of hundreds of digits (1e-7 as "1e-7", not "0.0000001").
pub fn alpha_label(alpha: f64) -> String {
    if alpha == 0.0 {
        // (−0 too.)
        "0".into()
    } else if (1e-4..1e6).contains(&alpha) {
        format!("{alpha}")
    } else {
        format!("{alpha:e}")
    }
}

/// Map the landscape of the energy `make_field(batch)` (a field of that many
/// chains) from `starts` ([n, dim]): descent, grouping into minima,
/// attraction–diffusion between every minimum and each lower one at each α
/// (the same chains and noise for all), basins.
/// `size` is the model's Langevin step (ε, T): descent takes its gradient
/// part (shrinking), attraction–diffusion samples at T × temp_factor with
/// the same gradient step and τ = 1.
pub fn map_landscape<F: EnergyField>(
    gpu: &Gpu,
    make_field: impl Fn(usize) -> Result<F>,
    starts: &[f32],
    size: StepSize,
    seed: u32,
    opts: &LandscapeOptions,
    progress: Progress,
) -> Result<Landscape> {
    opts.validate()?;
    let mut descent = Langevin::new(gpu, make_field(opts.starts)?, seed, StepSize { tau: 0.0, ..size })?;
    let (n, dim) = (descent.field.chains(), descent.field.dim());
    if starts.len() != n * dim {
        return Err(Error::Shape(format!(
            "landscape: {} start values for {n} starts of {dim}",
            starts.len()
        )));
    }
    gpu.write_f32(descent.field.input(), 0, starts);
    descent.begin(gpu, 0);
    // Where the states are, and F there.
    let read_states = |descent: &Langevin<F>| -> Result<(Vec<f32>, Vec<f32>)> {
        gpu.run("descent energies", |pass| descent.field.record_eval(gpu, pass));
        Ok((
            gpu.read_f32(descent.field.input(), 0, n * dim)?,
            gpu.read_f32(descent.field.energy(), 0, n)?,
        ))
    };
    // The step falls linearly, slice by slice: a LeakyReLU net's energy is
    // piecewise smooth and its minima often sit on kinks, across which a
    // fixed step keeps jumping (measured on a ToyNet: moves of 0.02 per
    // element after 2 000 steps as after 10 000).
    let total = opts.descent_steps;
    // The first half, then (the states as the second begins read) the
    // second, in slices: a slice that starts at step `at` takes the
    // factor (total − at)/total.
    let half = total / 2;
    let (mut halfway, mut f_half) = (Vec::new(), Vec::new());
    for (from, steps) in [(0, half), (half, total - half)] {
        gpu.run_in_slices(
            steps,
            SLICE_STEPS,
            |done, slice| {
                let factor = (total - from - done) as f64 / total as f64;
                let epsilon = size.epsilon * factor.sqrt() as f32;
                descent.set_step_size(
                    gpu,
                    StepSize {
                        epsilon,
                        tau: 0.0,
                        ..size
                    },
                );
                gpu.run("descent", |pass| descent.record_steps(gpu, pass, slice as usize))
            },
            |done| progress("descent", from + done, total),
        )?;
        if from == 0 {
            (halfway, f_half) = read_states(&descent)?;
        }
    }
    let (ends, f) = read_states(&descent)?;
    drop(descent);
    let temperature = f64::from(size.temperature);
    let late_descent_steps = total - half;
    let late_descent_move = ends
        .chunks_exact(dim)
        .zip(halfway.chunks_exact(dim))
        .map(|(end, half)| {
            let squares: f64 = end.iter().zip(half).map(|(e, h)| f64::from(e - h).powi(2)).sum();
            (squares / dim as f64).sqrt()
        })
        .fold(0.0, f64::max);
    let late_energy_fall = f_half
        .iter()
        .zip(&f)
        .map(|(h, e)| f64::from(h - e) / temperature)
        .fold(0.0, f64::max);
    if let Some(i) = f.iter().position(|v| !v.is_finite()) {
        return Err(Error::Shape(format!(
            "landscape: descent from start {i} ended at energy {}: the model's gradient step ε²/2T \
             diverges here (a non-convergent model's landscape may have no minima to map)",
            f[i]
        )));
    }
    let energies: Vec<f64> = f.iter().map(|&v| f64::from(v) / temperature).collect();
    let minima = group_minima(&ends, &energies, dim, opts.radius);

    // Every minimum toward each lower one (minima are sorted by energy).
    let pairs: Vec<(usize, usize)> = (0..minima.len())
        .flat_map(|i| (0..i).map(move |j| (i, j)))
        .collect();
    let reach = (opts.radius * (dim as f64).sqrt()) as f32;
    // One set of chains for every α: only the pull changes between them.
    let mut sampler = if pairs.is_empty() {
        None
    } else {
        let field = Attracted::new(gpu, make_field(opts.chunk.min(pairs.len()))?, 0.0, reach)?;
        let ad_size = StepSize { tau: 1.0, ..size }.tempered(opts.temp_factor as f32);
        Some(Langevin::new(gpu, field, seed, ad_size)?)
    };
    let mut basins = Vec::with_capacity(opts.alphas.len());
    for &alpha in &opts.alphas {
        let mut attempts = Vec::with_capacity(pairs.len());
        if let Some(sampler) = &mut sampler {
            // exp(−F/(T·f) − α‖x − b‖) = exp(−(F + α·T·f·‖x − b‖)/(T·f)).
            let pull = alpha * temperature * opts.temp_factor;
            sampler.field.set_pull(gpu, pull as f32)?;
            let stage = format!("attraction–diffusion, α = {}", alpha_label(alpha));
            let tracks = attract(
                gpu,
                sampler,
                &minima,
                &pairs,
                opts.ad_steps,
                &mut |done, total| progress(&stage, done, total),
            )?;
            for (&(from, to), t) in pairs.iter().zip(&tracks) {
                attempts.push(Attempt {
                    from,
                    to,
                    // The kernel's own test, in f32: where its barrier stops.
                    reached: t.closest < reach,
                    closest: f64::from(t.closest) / (dim as f64).sqrt(),
                    barrier: f64::from(t.highest) / temperature,
                });
            }
        }
        basins.push(Basins {
            alpha,
            of: basin_of(minima.len(), &attempts),
            attempts,
        });
    }
    Ok(Landscape {
        minima,
        basins,
        late_descent_move,
        late_energy_fall,
        late_descent_steps,
        start_extent: max_abs(starts),
    })
}

/// `steps` attraction–diffusion steps of every pair (from, to) of `pairs`,
/// as many at a time as `sampler` has chains; the track of each pair.
/// `progress(chain steps done, in all)` after every slice (its error stops it).
fn attract<F: EnergyField>(
    gpu: &Gpu,
    sampler: &Langevin<Attracted<F>>,
    minima: &[Minimum],
    pairs: &[(usize, usize)],
    steps: u64,
    progress: &mut dyn FnMut(u64, u64) -> Result<()>,
) -> Result<Vec<Track>> {
    let chunk = sampler.field.chains();
    let total = pairs.len() as u64 * steps;
    let mut tracks = Vec::with_capacity(pairs.len());
    for (c, group) in pairs.chunks(chunk).enumerate() {
        gpu.write_f32(
            sampler.field.input(),
            0,
            &chunk_rows(minima, group, chunk, |p| p.0),
        );
        sampler
            .field
            .write_goals(gpu, &chunk_rows(minima, group, chunk, |p| p.1))?;
        sampler.field.reset_track(gpu);
        sampler.begin(gpu, c as u32);
        gpu.run_in_slices(
            steps,
            SLICE_STEPS,
            |_, n| gpu.run("attraction", |pass| sampler.record_steps(gpu, pass, n as usize)),
            |done| progress((c * chunk) as u64 * steps + group.len() as u64 * done, total),
        )?;
        // The track sees the state each step starts from; this adds the last.
        gpu.run("attraction end", |pass| sampler.field.record_eval(gpu, pass));
        let end = gpu.read_f32(sampler.field.energy(), 0, group.len())?;
        if let Some(k) = end.iter().position(|f| !f.is_finite()) {
            let (from, to) = group[k];
            return Err(Error::Shape(format!(
                "landscape: the attraction–diffusion chain from minimum {from} toward {to} diverged \
                 (energy {}): lower --alpha or --temp-factor (or the model itself diverges there)",
                end[k]
            )));
        }
        tracks.extend(sampler.field.read_track(gpu)?.into_iter().take(group.len()));
    }
    Ok(tracks)
}

/// The states `pick` names (the start or the goal) of each pair of `group`,
/// as `chunk` rows: a short last group is padded with its first pair, whose
/// results are then ignored.
fn chunk_rows(
    minima: &[Minimum],
    group: &[(usize, usize)],
    chunk: usize,
    pick: fn(&(usize, usize)) -> usize,
) -> Vec<f32> {
    (0..chunk)
        .flat_map(|k| minima[pick(group.get(k).unwrap_or(&group[0]))].state.clone())
        .collect()
}

/// The distinct minima among descent end points `ends` ([n, dim], energies
/// U): lowest first, each end point joining the first lower one within
/// `radius` (root-mean-square per element), so minima are at least that far
/// apart.
pub fn group_minima(ends: &[f32], energies: &[f64], dim: usize, radius: f64) -> Vec<Minimum> {
    let mut order: Vec<usize> = (0..energies.len()).collect();
    order.sort_by(|&i, &j| energies[i].total_cmp(&energies[j]));
    let mut minima: Vec<Minimum> = Vec::new();
    let limit = radius * radius * dim as f64;
    for i in order {
        let x = &ends[i * dim..(i + 1) * dim];
        let near = minima.iter_mut().find(|m| {
            let d2: f64 = m.state.iter().zip(x).map(|(a, b)| f64::from(a - b).powi(2)).sum();
            d2 < limit
        });
        match near {
            Some(m) => m.starts += 1,
            None => minima.push(Minimum {
                state: x.to_vec(),
                energy: energies[i],
                starts: 1,
            }),
        }
    }
    minima
}

/// The basin of each of `n` minima: those of every reached attempt joined
/// (union–find), the groups numbered by their lowest minimum (minima are
/// sorted by energy, so basin 0 holds the global minimum found).
pub fn basin_of(n: usize, attempts: &[Attempt]) -> Vec<usize> {
    let mut parent: Vec<usize> = (0..n).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    for a in attempts.iter().filter(|a| a.reached) {
        let (x, y) = (root(&mut parent, a.from), root(&mut parent, a.to));
        // The lower index (lower energy) stays the root.
        parent[x.max(y)] = x.min(y);
    }
    let mut numbers = vec![usize::MAX; n];
    let mut basins = 0;
    (0..n)
        .map(|i| {
            let r = root(&mut parent, i);
            if numbers[r] == usize::MAX {
                numbers[r] = basins;
                basins += 1;
            }
            numbers[r]
        })
        .collect()
}

/// Map the landscape of a checkpoint's model (see [`map_landscape`]),
/// starting from `opts.from`'s states. `data` is needed only to start from data.
pub fn landscape(
    gpu: &Gpu,
    ck: &Checkpoint,
    data: Option<&Dataset>,
    opts: &LandscapeOptions,
    progress: Progress,
) -> Result<Landscape> {
    opts.check(ck)?;
    let spec = net_spec(&ck.config)?;
    let seed = ck.config.seed ^ 0x004c_414e;
    // (From data with the run's ε_data noise: a few starts off the images.)
    let starts = opts.from.states(gpu, ck, data, true, opts.starts, seed)?;
    let make_field = |batch: usize| -> Result<GpuNet> {
        let net = GpuNet::new(gpu, &spec, batch)?;
        net.write_params(gpu, &ck.params)?;
        net.as_field(gpu)
    };
    map_landscape(
        gpu,
        make_field,
        &starts,
        step_size(&ck.config),
        seed,
        opts,
        progress,
    )
}

/// The file whose presence marks a finished landscape in a folder (written last).
pub const LANDSCAPE_MARKER: &str = "minima.csv";
/// The options a landscape was made with, beside it.
pub const LANDSCAPE_SETTINGS: &str = "landscape.toml";
/// A landscape's outputs in its folder (attempts.csv written first).
pub const LANDSCAPE_OUTPUTS: OutputSet = OutputSet {
    what: "landscape",
    // (With the headers of the first landscape releases.)
    marker: Sign {
        name: LANDSCAPE_MARKER,
        headers: &[MINIMA_HEADER, "minimum,basin,energy,starts"],
    },
    signs: &[Sign {
        name: "attempts.csv",
        headers: &[ATTEMPTS_HEADER, "from,to,reached,closest,barrier"],
    }],
    is_own: is_landscape_file,
};
const ATTEMPTS_HEADER: &str = "alpha,from,to,reached,closest,barrier";
/// How minima.csv starts (its columns of basins and coordinates follow).
const MINIMA_HEADER: &str = "minimum,energy,starts";

/// Whether `name` is one of a landscape's files other than its marker and
/// attempts.csv: named as it names them (`basin_alpha_<α>_NNN.png`, α a
/// number: as [`alpha_label`] writes it, or as earlier releases did), so
/// that a user's `basin_alpha_7_notes.png` beside them is not taken for one.
fn is_landscape_file(name: &str) -> bool {
    let is_basin_picture = || {
        let Some((alpha, k)) = name
            .strip_prefix("basin_alpha_")
            .and_then(|n| n.strip_suffix(".png"))
            .and_then(|n| n.rsplit_once('_'))
        else {
            return false;
        };
        k.len() >= 3
            && k.bytes().all(|b| b.is_ascii_digit())
            && alpha.parse::<f64>().is_ok_and(f64::is_finite)
    };
    name == LANDSCAPE_SETTINGS || name == "landscape.png" || is_basin_picture()
}

/// What a landscape's pictures are drawn over.
#[derive(Clone, Debug, PartialEq)]
pub enum Backdrop {
    /// 2-D toy data: the model's U on the evaluation grid (landscape.png
    /// shows the learned log-density −U, the minima over it).
    Toy(Grid, Vec<f64>),
    /// Images of this [C, H, W]: a grid of each basin's minima.
    Images([usize; 3]),
}

impl Backdrop {
    /// The backdrop of a map of `ck`'s model: toy data's U on the
    /// evaluation grid (`eval.grid` points a side), or the image shape.
    pub fn of_checkpoint(gpu: &Gpu, ck: &Checkpoint) -> Result<Backdrop> {
        let spec = net_spec(&ck.config)?;
        let Ok(toy) = crate::data::toy::Toy::new(&ck.config.data) else {
            return Ok(Backdrop::Images(spec.input));
        };
        let grid = Grid {
            res: ck.config.eval.grid as usize,
            extent: toy.extent(),
        };
        let net = GpuNet::new(gpu, &spec, grid.res * grid.res)?;
        net.write_params(gpu, &ck.params)?;
        let energies = super::grid_energies(gpu, &net, &grid, ck.config.temperature())?;
        Ok(Backdrop::Toy(grid, energies))
    }
}

impl Basins {
    /// "α = 1: 7 basins".
    pub fn title(&self) -> String {
        format!(
            "α = {}: {}",
            alpha_label(self.alpha),
            plural(self.count() as u64, "basin", "basins")
        )
    }

    /// Attraction–diffusion chains that reached their lower minimum.
    pub fn reached(&self) -> usize {
        self.attempts.iter().filter(|a| a.reached).count()
    }
}

/// The model a map was made of, as landscape.toml records it beside the
/// options: its U's scale and so what α and f mean.
#[derive(Clone, Debug)]
pub struct MapModel {
    /// Its checkpoint or weights file; None for the window's current model.
    pub file: Option<String>,
    /// The run's iteration of the model; None for weights alone not of a run.
    pub iteration: Option<u64>,
    /// Its settings: net, Langevin step, data.
    pub settings: crate::config::Config,
}

impl MapModel {
    /// The model of a command's checkpoint or weights alone at `file`.
    pub fn of(ck: &Checkpoint, file: &Path) -> Result<Self> {
        Ok(MapModel {
            file: Some(crate::config::absolute_path_shown(file)?),
            iteration: ck.iteration_of(file),
            settings: ck.config.clone(),
        })
    }

    /// As landscape.toml's `[model]` table (`settings` a table of its own).
    fn table(&self) -> Result<toml::Table> {
        let mut table = toml::Table::new();
        if let Some(file) = &self.file {
            table.insert("file".into(), file.clone().into());
        }
        if let Some(iteration) = self.iteration {
            table.insert("iteration".into(), toml::Value::Integer(iteration as i64));
        }
        let settings = self
            .settings
            .to_toml()
            .parse::<toml::Table>()
            .map_err(|e| Error::Config(format!("landscape settings: {e}")))?;
        table.insert("settings".into(), settings.into());
        Ok(table)
    }
}

/// Write `map` into the folder `out` (made if missing): `minima.csv`
/// (minimum, energy U, starts, its basin at each α, and the coordinates of
/// states of at most 8 numbers), `attempts.csv` (alpha, from, to, reached,
/// closest, barrier), `landscape.toml` (`opts` and `model`) and the pictures over `backdrop`: `landscape.png` (a
/// panel per α) for toy data, `basin_alpha_<α>_NNN.png` for images. An
/// older landscape's files there (only those) are replaced once the new
/// ones are all written ([`replace_outputs`]; a finished one only where
/// `replace`); the marker comes last. Returns the pictures written.
pub fn save_landscape(
    out: &Path,
    replace: bool,
    map: &Landscape,
    opts: &LandscapeOptions,
    model: &MapModel,
    backdrop: &Backdrop,
) -> Result<Vec<PathBuf>> {
    // attempts.csv is written first: with it, an unfinished map is an older one.
    let pictures = replace_outputs(out, &LANDSCAPE_OUTPUTS, replace, |dir| {
        write_landscape(dir, map, opts, model, backdrop)
    })?;
    // (Written in a staging folder when replacing: named where they are now.)
    Ok(pictures
        .iter()
        .map(|p| out.join(p.file_name().unwrap_or_default()))
        .collect())
}

/// The files of [`save_landscape`], written into `out`.
fn write_landscape(
    out: &Path,
    map: &Landscape,
    opts: &LandscapeOptions,
    model: &MapModel,
    backdrop: &Backdrop,
) -> Result<Vec<PathBuf>> {
    let mut attempts = format!("{ATTEMPTS_HEADER}\n");
    for b in &map.basins {
        for a in &b.attempts {
            attempts += &format!(
                "{},{},{},{},{:?},{:?}\n",
                alpha_label(b.alpha),
                a.from,
                a.to,
                a.reached,
                a.closest,
                a.barrier
            );
        }
    }
    write_atomically(&out.join("attempts.csv"), attempts.as_bytes())?;
    let settings_err = |e: &dyn std::fmt::Display| Error::Config(format!("landscape settings: {e}"));
    let mut settings = toml::Table::try_from(opts).map_err(|e| settings_err(&e))?;
    settings.extend(opts.from.settings()?);
    settings.insert("model".into(), model.table()?.into());
    let settings = toml::to_string(&settings).map_err(|e| settings_err(&e))?;
    let settings =
        format!("# ebmscope landscape: the options this map was made with, and its model\n{settings}");
    write_atomically(&out.join(LANDSCAPE_SETTINGS), settings.as_bytes())?;

    let mut pictures = Vec::new();
    match backdrop {
        Backdrop::Toy(grid, energies) => {
            let panels: Vec<(String, Vec<MapPoint>)> = map
                .basins
                .iter()
                .map(|b| {
                    let points = map
                        .minima
                        .iter()
                        .enumerate()
                        .map(|(i, m)| {
                            let lowest = b.lowest(b.of[i]);
                            MapPoint {
                                x: f64::from(m.state[0]),
                                y: f64::from(m.state[1]),
                                basin: b.of[i],
                                lowest,
                            }
                        })
                        .collect();
                    (b.title(), points)
                })
                .collect();
            let path = out.join("landscape.png");
            crate::plot::landscape_map(&path, &map.title(opts), grid, energies, &panels)?;
            pictures.push(path);
        }
        Backdrop::Images(chw) => {
            for b in &map.basins {
                for k in 0..b.count() {
                    let images: Vec<f32> = b.members(k).flat_map(|i| map.minima[i].state.clone()).collect();
                    let path = out.join(format!("basin_alpha_{}_{k:03}.png", alpha_label(b.alpha)));
                    crate::plot::image_grid(&path, &images, *chw)?;
                    pictures.push(path);
                }
            }
        }
    }

    // Coordinates only where a state is a few numbers (the toy's points).
    let coords = map.dim() <= 8;
    let mut minima = MINIMA_HEADER.to_string();
    for b in &map.basins {
        minima += &format!(",basin_alpha_{}", alpha_label(b.alpha));
    }
    if coords {
        minima.extend((0..map.dim()).map(|i| format!(",x{i}")));
    }
    minima.push('\n');
    for (i, m) in map.minima.iter().enumerate() {
        minima += &format!("{i},{:?},{}", m.energy, m.starts);
        minima.extend(map.basins.iter().map(|b| format!(",{}", b.of[i])));
        if coords {
            minima.extend(m.state.iter().map(|v| format!(",{v:?}")));
        }
        minima.push('\n');
    }
    write_atomically(&out.join(LANDSCAPE_MARKER), minima.as_bytes())?;
    Ok(pictures)
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests use std's renames and removals (clippy.toml)
mod tests {
    use super::*;

    fn attempt(from: usize, to: usize, reached: bool) -> Attempt {
        Attempt {
            from,
            to,
            reached,
            closest: 0.0,
            barrier: 0.0,
        }
    }

    #[test]
    fn end_points_within_the_radius_are_one_minimum_named_by_the_lowest() {
        // 1-D end points: 0.0 and 0.01 together, 1.0 apart, 1.02 with 1.0.
        let ends = [1.02, 0.01, 1.0, 0.0];
        let energies = [0.5, 2.0, 0.4, 3.0];
        let m = group_minima(&ends, &energies, 1, 0.05);
        assert_eq!(m.len(), 2);
        assert_eq!((m[0].state[0], m[0].energy, m[0].starts), (1.0, 0.4, 2));
        assert_eq!((m[1].state[0], m[1].energy, m[1].starts), (0.01, 2.0, 2));
        // The radius is per element: two elements each 0.04 apart are within 0.05.
        let m = group_minima(&[0.0, 0.0, 0.04, 0.04], &[0.0, 1.0], 2, 0.05);
        assert_eq!(m.len(), 1);
    }

    #[test]
    fn basins_join_reached_minima_and_are_numbered_by_their_lowest() {
        // 4 → 1 and 3 → 4 (so 3 joins 1 through 4); 2 → 0 not reached.
        let attempts = [attempt(4, 1, true), attempt(3, 4, true), attempt(2, 0, false)];
        assert_eq!(basin_of(5, &attempts), [0, 1, 2, 1, 1]);
        // 2 → 0 and 4 → 2 join {0, 2, 4}; 1 and 3 stay alone.
        let attempts = [attempt(2, 0, true), attempt(4, 2, true)];
        assert_eq!(basin_of(5, &attempts), [0, 1, 0, 2, 0]);
        assert_eq!(basin_of(3, &[]), [0, 1, 2]);
        // Coloured by their lowest minimum: minimum 3 is basin 2 here and
        // basin 3 where nothing joins, minimum 3's colour in both.
        let basins = |attempts: &[Attempt]| Basins {
            alpha: 1.0,
            attempts: attempts.to_vec(),
            of: basin_of(5, attempts),
        };
        let (joined, alone) = (basins(&attempts), basins(&[]));
        let lowest = |b: &Basins| (0..5).map(|i| b.lowest(b.of[i])).collect::<Vec<_>>();
        assert_eq!(lowest(&joined), [0, 1, 0, 3, 0]);
        assert_eq!(lowest(&alone), [0, 1, 2, 3, 4]);
    }

    #[test]
    fn chunk_rows_pad_a_short_group_with_its_first_pair() {
        let minima: Vec<Minimum> = (0..4)
            .map(|i| Minimum {
                state: vec![i as f32, 10.0 + i as f32],
                energy: i as f64,
                starts: 1,
            })
            .collect();
        let group = [(3, 1), (2, 0)];
        assert_eq!(
            chunk_rows(&minima, &group, 3, |p| p.0),
            [3.0, 13.0, 2.0, 12.0, 3.0, 13.0]
        );
        assert_eq!(
            chunk_rows(&minima, &group, 3, |p| p.1),
            [1.0, 11.0, 0.0, 10.0, 1.0, 11.0]
        );
    }

    /// The files of `ebmscope landscape`, written last the marker; an older
    /// landscape's files go (the marker first), other files stay, and a
    /// folder with no landscape loses nothing.
    #[test]
    fn a_saved_landscape_replaces_only_an_older_one() {
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path();
        let map = Landscape {
            minima: vec![
                Minimum {
                    state: vec![0.5, 0.0],
                    energy: 1.0,
                    starts: 3,
                },
                Minimum {
                    state: vec![-0.5, 0.0],
                    energy: 2.0,
                    starts: 1,
                },
            ],
            basins: vec![Basins {
                alpha: 3.0,
                attempts: vec![attempt(1, 0, true)],
                of: vec![0, 0],
            }],
            late_descent_move: 0.0,
            late_energy_fall: 0.0,
            late_descent_steps: 1000,
            start_extent: 1.0,
        };
        let opts = LandscapeOptions::default();
        let model = MapModel {
            file: None,
            iteration: Some(7),
            settings: crate::config::Config::preset("gmm-quick").unwrap(),
        };
        let grid = Grid { res: 4, extent: 1.0 };
        let backdrop = Backdrop::Toy(grid, vec![0.0; 16]);
        let write = |name: &str| std::fs::write(dir.join(name), "mine").unwrap();
        // No landscape here, but a file named as one of its own (a picture,
        // or a marker or sign whose header is not ours): someone else's,
        // refused and kept.
        write("notes.txt");
        for name in ["basin_alpha_1_000.png", "attempts.csv", LANDSCAPE_MARKER] {
            write(name);
            let refused = save_landscape(dir, false, &map, &opts, &model, &backdrop)
                .unwrap_err()
                .to_string();
            let found = if name == LANDSCAPE_MARKER {
                format!("holds a {name} that no landscape of ours wrote")
            } else {
                format!("holds a {name} but no landscape (no {LANDSCAPE_MARKER} of ours)")
            };
            assert!(refused.contains(&found), "{refused}");
            assert_eq!(std::fs::read_to_string(dir.join(name)).unwrap(), "mine");
            std::fs::remove_file(dir.join(name)).unwrap();
        }
        let pictures = save_landscape(dir, false, &map, &opts, &model, &backdrop).unwrap();
        assert_eq!(pictures, [dir.join("landscape.png")]);
        let minima = std::fs::read_to_string(dir.join(LANDSCAPE_MARKER)).unwrap();
        assert_eq!(
            minima,
            "minimum,energy,starts,basin_alpha_3,x0,x1\n0,1.0,3,0,0.5,0.0\n1,2.0,1,0,-0.5,0.0\n"
        );
        let attempts = std::fs::read_to_string(dir.join("attempts.csv")).unwrap();
        assert_eq!(
            attempts,
            "alpha,from,to,reached,closest,barrier\n3,1,0,true,0.0,0.0\n"
        );
        // The options it was made with, beside it.
        let settings: toml::Table = std::fs::read_to_string(dir.join(LANDSCAPE_SETTINGS))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(settings["starts"].as_integer(), Some(opts.starts as i64));
        assert_eq!(settings["init"].as_str(), Some("data"));
        assert_eq!(settings["alphas"].as_array().unwrap().len(), opts.alphas.len());
        assert_eq!(settings["temp_factor"].as_float(), Some(opts.temp_factor));
        // And the model's iteration and settings.
        let recorded = settings["model"].as_table().unwrap();
        assert_eq!(recorded["iteration"].as_integer(), Some(7));
        assert!(recorded.get("file").is_none());
        assert_eq!(recorded["settings"]["net"]["kind"].as_str(), Some("toy"));
        // Now there is one: its pictures go (an older map's among them),
        // other files stay, named like them or not.
        write("basin_alpha_1_000.png");
        write("basin_alpha_1_notes.png");
        save_landscape(dir, true, &map, &opts, &model, &Backdrop::Images([1, 1, 2])).unwrap();
        assert!(!dir.join("landscape.png").exists() && !dir.join("basin_alpha_1_000.png").exists());
        assert!(dir.join("basin_alpha_3_000.png").exists() && dir.join("notes.txt").exists());
        assert_eq!(
            std::fs::read_to_string(dir.join("basin_alpha_1_notes.png")).unwrap(),
            "mine"
        );
        // An unfinished one (its attempts.csv, no marker) is an older map too.
        std::fs::remove_file(dir.join(LANDSCAPE_MARKER)).unwrap();
        write("basin_alpha_3_009.png");
        save_landscape(dir, false, &map, &opts, &model, &Backdrop::Images([1, 1, 2])).unwrap();
        assert!(!dir.join("basin_alpha_3_009.png").exists() && dir.join(LANDSCAPE_MARKER).exists());
        assert!(dir.join("notes.txt").exists());
    }

    /// Settled takes both: states that move little per element may still
    /// run down a slope (an image model's U fell by about 100 over 100
    /// steps, its pixels moving by less than the radius).
    #[test]
    fn descent_settles_only_where_the_states_stop_and_their_energy_too() {
        let map = |late_descent_move: f64, late_energy_fall: f64| Landscape {
            minima: Vec::new(),
            basins: Vec::new(),
            late_descent_move,
            late_energy_fall,
            late_descent_steps: 100,
            start_extent: 1.0,
        };
        let radius = 0.05;
        assert!(map(0.0, 0.009).descent_settled(radius));
        assert!(!map(0.0, 103.4).descent_settled(radius));
        assert!(!map(0.03, 0.0).descent_settled(radius));
    }

    #[test]
    fn alpha_labels_are_short() {
        let labels: Vec<String> = [0.0, -0.0, 1.0, 0.5, 30.0, 1e-7, 1e300].map(alpha_label).into();
        assert_eq!(labels, ["0", "0", "1", "0.5", "30", "1e-7", "1e300"]);
    }

    #[test]
    fn options_are_refused_by_name() {
        let good = LandscapeOptions {
            starts: 10,
            from: ChainStart::Fresh(LongRunInit::Data),
            descent_steps: 10,
            ad_steps: 10,
            alphas: vec![0.0, 1.0],
            temp_factor: 1.0,
            radius: 0.05,
            chunk: 64,
        };
        good.validate().unwrap();
        let refused = |change: fn(&mut LandscapeOptions), says: &str| {
            let mut o = good.clone();
            change(&mut o);
            let e = o.validate().unwrap_err().to_string();
            assert!(e.contains(says), "{e}");
        };
        refused(|o| o.starts = 1, "--starts must be at least 2");
        refused(|o| o.ad_steps = 0, "--ad-steps must be at least 1");
        refused(
            |o| o.alphas = vec![1.0, -1.0],
            "--alpha values must be numbers ≥ 0 (one is -1)",
        );
        refused(|o| o.alphas.clear(), "--alpha needs at least one value");
        refused(|o| o.alphas = vec![1.0, 3.0, 1.0], "--alpha lists 1 twice");
        refused(|o| o.radius = 0.0, "--radius");
        refused(|o| o.temp_factor = f64::NAN, "--temp-factor");
    }
}
