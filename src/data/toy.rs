//! The 2-D toy distributions of the reference (rings and a Gaussian mixture
//! on a circle) with their exact densities, and the grid metrics that
//! compare a learned density or a sample's KDE with the truth.

use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::config::{DataConfig, DataKind};
use crate::{Error, Result};

/// The two toy distributions of the reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ToyKind {
    /// Concentric rings of radius k·radius, k = 1 … groups.
    Rings,
    /// `groups` Gaussians evenly spaced on a circle of the given radius.
    Gmm,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Toy {
    pub kind: ToyKind,
    pub groups: usize,
    pub sd: f64,
    pub radius: f64,
}

impl Toy {
    /// The toy distribution of `c`, or an error for image data.
    pub fn new(c: &DataConfig) -> Result<Self> {
        let kind = match c.kind {
            DataKind::Rings => ToyKind::Rings,
            DataKind::Gmm => ToyKind::Gmm,
            other => {
                return Err(Error::Config(format!(
                    "{other:?} data is images, not a 2-D toy distribution"
                )));
            }
        };
        Ok(Toy {
            kind,
            groups: c.groups as usize,
            sd: c.sd,
            radius: c.radius,
        })
    }

    /// Half-width of the square shown and measured, as the reference:
    /// outer radius + 4 sd.
    pub fn extent(&self) -> f64 {
        match self.kind {
            ToyKind::Rings => self.groups as f64 * self.radius + 4.0 * self.sd,
            ToyKind::Gmm => self.radius + 4.0 * self.sd,
        }
    }

    fn gmm_mean(&self, k: usize) -> (f64, f64) {
        let a = std::f64::consts::TAU * k as f64 / self.groups as f64;
        (self.radius * a.cos(), self.radius * a.sin())
    }

    /// The exact density q(x, y) of the points `sample` draws; components
    /// have equal weights. For rings the radius is N(k·radius, sd²) and the
    /// angle uniform, so at a distance ρ from the centre
    /// q = Σ_k [N(ρ; k·radius, sd²) + N(−ρ; k·radius, sd²)] / (2πρ) / groups
    /// (a negative radius lands opposite). The reference divides by
    /// 2π·k·radius instead of 2πρ, which is not a density of its samples:
    /// it misses q by a TV of about 0.03 for its 4 rings at sd 0.15, a floor
    /// under every TV measured against it. q is infinite at the centre
    /// itself (a singularity of mass about e^(−radius²/2sd²), e^(−22) for
    /// the presets), so ρ is taken at least sd/1000 there.
    pub fn density(&self, x: f64, y: f64) -> f64 {
        let w = 1.0 / self.groups as f64;
        let s2 = self.sd * self.sd;
        match self.kind {
            ToyKind::Gmm => (0..self.groups)
                .map(|k| {
                    let (mx, my) = self.gmm_mean(k);
                    let d2 = (x - mx).powi(2) + (y - my).powi(2);
                    w * (-d2 / (2.0 * s2)).exp() / (std::f64::consts::TAU * s2)
                })
                .sum(),
            ToyKind::Rings => {
                let rho = (x * x + y * y).sqrt().max(self.sd * 1e-3);
                let normal = |d: f64| (-d * d / (2.0 * s2)).exp() / (std::f64::consts::TAU * s2).sqrt();
                (1..=self.groups)
                    .map(|k| {
                        let r = k as f64 * self.radius;
                        w * (normal(rho - r) + normal(rho + r)) / (std::f64::consts::TAU * rho)
                    })
                    .sum()
            }
        }
    }

    /// `n` samples as [n, 2], each component drawn with equal probability.
    pub fn sample(&self, n: usize, rng: &mut impl Rng) -> Vec<f32> {
        let mut out = Vec::with_capacity(2 * n);
        for _ in 0..n {
            let k = rng.random_range(0..self.groups);
            let z1: f64 = StandardNormal.sample(rng);
            let (x, y) = match self.kind {
                ToyKind::Gmm => {
                    let z2: f64 = StandardNormal.sample(rng);
                    let (mx, my) = self.gmm_mean(k);
                    (mx + self.sd * z1, my + self.sd * z2)
                }
                ToyKind::Rings => {
                    let r = (k + 1) as f64 * self.radius + self.sd * z1;
                    let a = rng.random_range(0.0..std::f64::consts::TAU);
                    (r * a.cos(), r * a.sin())
                }
            };
            out.push(x as f32);
            out.push(y as f32);
        }
        out
    }
}

/// A square grid of `res × res` points spanning [−extent, extent]² with both
/// ends included (as the reference's linspace); row-major, y outer, x inner.
#[derive(Clone, Debug, PartialEq)]
pub struct Grid {
    pub res: usize,
    pub extent: f64,
}

impl Grid {
    pub fn coord(&self, i: usize) -> f64 {
        -self.extent + 2.0 * self.extent * i as f64 / (self.res - 1) as f64
    }

    pub fn step(&self) -> f64 {
        2.0 * self.extent / (self.res - 1) as f64
    }

    /// How many of `points` ([n, 2] f32 (x, y)) lie off the grid's square
    /// (a non-finite one among them): mass a KDE of them puts off the grid,
    /// which total_variation counts as lost.
    pub fn outside(&self, points: &[f32]) -> usize {
        points
            .chunks_exact(2)
            .filter(|p| self.cell_at(f64::from(p[0]), f64::from(p[1])).is_none())
            .count()
    }

    /// Where (x, y) falls on the grid, in steps from its corner (−extent,
    /// −extent); None off it (a non-finite point too).
    fn cell_at(&self, x: f64, y: f64) -> Option<(f64, f64)> {
        let h = self.step();
        let (fx, fy) = ((x + self.extent) / h, (y + self.extent) / h);
        let last = (self.res - 1) as f64;
        (fx >= 0.0 && fy >= 0.0 && fx <= last && fy <= last).then_some((fx, fy))
    }

    /// Points as [res², 2] f32 (x, y), row-major with y outer.
    pub fn points(&self) -> Vec<f32> {
        let mut p = Vec::with_capacity(2 * self.res * self.res);
        for j in 0..self.res {
            for i in 0..self.res {
                p.push(self.coord(i) as f32);
                p.push(self.coord(j) as f32);
            }
        }
        p
    }

    /// The true density on the grid, normalised to sum 1.
    pub fn truth(&self, toy: &Toy) -> Vec<f64> {
        let mut d = Vec::with_capacity(self.res * self.res);
        for j in 0..self.res {
            for i in 0..self.res {
                d.push(toy.density(self.coord(i), self.coord(j)));
            }
        }
        normalise(d)
    }

    /// exp(−U) on the grid from energies U (one per grid point), normalised to sum 1.
    pub fn boltzmann(&self, energies: &[f64]) -> Vec<f64> {
        let min = energies.iter().copied().fold(f64::INFINITY, f64::min);
        normalise(energies.iter().map(|u| (min - u).exp()).collect())
    }

    /// Gaussian KDE of 2-D `samples` ([n, 2]) on the grid: each cell's
    /// share of the n samples' kernel mass, so that it sums to the share on
    /// the grid (1 less what lies off it: a sample off the grid, or not
    /// finite, counts wholly off it, and a kernel past an edge loses its
    /// tail). Normalising to 1 instead would measure only the chains still
    /// on the grid: chains that all flew off it would read TV 0.5, not 1.
    /// Bandwidth as scipy's gaussian_kde(bw_method = factor), of the
    /// samples on the grid: per axis, factor × their standard deviation
    /// (the toy data are symmetric, so the off-diagonal covariance is
    /// negligible and left out). Computed
    /// by linear binning onto the grid and a separable convolution, which is
    /// exact up to the binning (≪ a grid cell).
    pub fn kde(&self, samples: &[f32], factor: f64) -> Vec<f64> {
        let n = samples.len() / 2;
        let res = self.res;
        let h = self.step();
        let mut hist = vec![0.0; res * res];
        // The spread (so the bandwidth) of the samples on the grid: a few
        // chains far off it would otherwise blur the rest off it too.
        let (mut on, mut sx, mut sy, mut sxx, mut syy) = (0usize, 0.0, 0.0, 0.0, 0.0);
        for p in samples.chunks_exact(2) {
            let (x, y) = (f64::from(p[0]), f64::from(p[1]));
            let Some((fx, fy)) = self.cell_at(x, y) else {
                continue;
            };
            on += 1;
            (sx, sy, sxx, syy) = (sx + x, sy + y, sxx + x * x, syy + y * y);
            let (i, j) = (
                (fx.floor() as usize).min(res - 2),
                (fy.floor() as usize).min(res - 2),
            );
            let (tx, ty) = (fx - i as f64, fy - j as f64);
            hist[j * res + i] += (1.0 - tx) * (1.0 - ty);
            hist[j * res + i + 1] += tx * (1.0 - ty);
            hist[(j + 1) * res + i] += (1.0 - tx) * ty;
            hist[(j + 1) * res + i + 1] += tx * ty;
        }
        // (With fewer than two, no spread: a cell's width.)
        let nf = on as f64;
        let sd = |s: f64, ss: f64| {
            if on < 2 {
                h
            } else {
                ((ss - s * s / nf) / (nf - 1.0)).max(1e-12).sqrt()
            }
        };
        let bx = factor * sd(sx, sxx) / h;
        let by = factor * sd(sy, syy) / h;
        let mut smoothed = convolve_axis(&convolve_axis(&hist, res, bx, true), res, by, false);
        // Each kernel's whole mass (on the grid or not) is 1/n.
        let per_sample = 1.0 / (n.max(1) as f64 * kernel_mass(bx) * kernel_mass(by));
        for v in &mut smoothed {
            *v = if v.is_finite() { *v * per_sample } else { 0.0 };
        }
        smoothed
    }
}

/// The sum of convolve_axis's weights exp(−d²/2σ²) over every whole d, as
/// if the kernel had no end: σ√(2π) past σ = 4 (exact there to 1e-100, by
/// Poisson summation), else summed out to where the weights fall below 1e-300.
fn kernel_mass(sigma: f64) -> f64 {
    if sigma > 4.0 {
        return sigma * std::f64::consts::TAU.sqrt();
    }
    let reach = (40.0 * sigma).ceil() as i64;
    (-reach..=reach)
        .map(|d| match d {
            0 => 1.0,
            _ => (-(d as f64).powi(2) / (2.0 * sigma * sigma)).exp(),
        })
        .sum()
}

/// Gaussian blur along x (`along_x`) or y with standard deviation `sigma` cells.
/// Bounded work for any sigma: the kernel reaches 4 sigma but never past
/// the grid (chains that flew far give a huge sigma); an infinite sigma
/// blurs evenly, a vanishing one not at all.
fn convolve_axis(src: &[f64], res: usize, sigma: f64, along_x: bool) -> Vec<f64> {
    let radius = (4.0 * sigma).ceil().clamp(1.0, res as f64) as isize;
    let kernel: Vec<f64> = (-radius..=radius)
        .map(|d| match d {
            // (σ² may underflow to 0: 0/0 would be NaN.)
            0 => 1.0,
            _ => (-(d as f64).powi(2) / (2.0 * sigma * sigma)).exp(),
        })
        .collect();
    let mut out = vec![0.0; src.len()];
    for j in 0..res {
        for i in 0..res {
            let mut acc = 0.0;
            for (k, w) in kernel.iter().enumerate() {
                let d = k as isize - radius;
                let (ii, jj) = if along_x {
                    (i as isize + d, j as isize)
                } else {
                    (i as isize, j as isize + d)
                };
                if ii >= 0 && jj >= 0 && (ii as usize) < res && (jj as usize) < res {
                    acc += w * src[jj as usize * res + ii as usize];
                }
            }
            out[j * res + i] = acc;
        }
    }
    out
}

fn normalise(mut d: Vec<f64>) -> Vec<f64> {
    let total: f64 = d.iter().filter(|v| v.is_finite()).sum();
    if total > 0.0 {
        for v in &mut d {
            *v = if v.is_finite() { *v / total } else { 0.0 };
        }
    }
    d
}

/// TV to `truth` (q on `grid`) of the KDE of `n` points drawn from q
/// itself: what a KDE of `n` chains that sample q exactly scores, a floor
/// under the chains' TV. Few points resolve q only so far, and the kernel
/// blurs it: at the presets' grid and bandwidths, the 8 Gaussians' floor
/// is 0.30 for 100 points, 0.12 for 1000 and 0.08 for 10 000, and the 4
/// rings' 0.51, 0.23 and 0.17, their kernel (0.075 × the points' spread,
/// about 0.15) as wide as a ring. Seeded, so the same settings give the
/// same floor.
pub fn kde_floor(toy: &Toy, grid: &Grid, truth: &[f64], n: usize, bandwidth: f64) -> f64 {
    use rand::SeedableRng;
    let points = toy.sample(n, &mut rand_chacha::ChaCha8Rng::seed_from_u64(0));
    total_variation(&grid.kde(&points, bandwidth), truth)
}

/// A KDE's TV to q beside its floor ([`kde_floor`]) for as many
/// `points`; shown as "0.247 (q's own 1000 points: 0.120)".
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KdeTv {
    pub tv: f64,
    pub points: usize,
    pub floor: f64,
}

impl std::fmt::Display for KdeTv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let points = crate::config::plural(self.points as u64, "point", "points");
        write!(f, "{:.3} (q's own {points}: {:.3})", self.tv, self.floor)
    }
}

/// Scores KDEs of `points` chains against q on the eval grid: made once
/// per set of chains (its floor draws and smooths as many of q's points),
/// then used at each look at them.
#[derive(Clone, Debug)]
pub struct KdeScore {
    pub grid: Grid,
    pub truth: Vec<f64>,
    pub bandwidth: f64,
    pub points: usize,
    pub floor: f64,
}

impl KdeScore {
    pub fn new(toy: &Toy, eval: &crate::config::EvalConfig, points: usize) -> Self {
        let grid = Grid {
            res: eval.grid as usize,
            extent: toy.extent(),
        };
        let truth = grid.truth(toy);
        let floor = kde_floor(toy, &grid, &truth, points, eval.kde_bandwidth);
        KdeScore {
            grid,
            truth,
            bandwidth: eval.kde_bandwidth,
            points,
            floor,
        }
    }

    /// The KDE of `states` (the `points` chains, x and y each) and its TV to q.
    pub fn score(&self, states: &[f32]) -> (Vec<f64>, KdeTv) {
        debug_assert_eq!(states.len(), 2 * self.points);
        let kde = self.grid.kde(states, self.bandwidth);
        let tv = KdeTv {
            tv: total_variation(&kde, &self.truth),
            points: self.points,
            floor: self.floor,
        };
        (kde, tv)
    }
}

/// Total-variation distance of two distributions given on the same grid:
/// ½ (Σ|p − q| + |Σp − Σq|), where what each lacks of 1 lies off the
/// grid: ½ Σ|p − q| for two on the grid alone, and exact where one of
/// them is (q, the model's exp(−U) normalised on the grid), with the other
/// (a KDE of chains) partly off it.
pub fn total_variation(p: &[f64], q: &[f64]) -> f64 {
    let (on_p, on_q): (f64, f64) = (p.iter().sum(), q.iter().sum());
    0.5 * (p.iter().zip(q).map(|(a, b)| (a - b).abs()).sum::<f64>() + (on_p - on_q).abs())
}

/// KL(q ‖ p) = Σ q log(q/p) on the grid, with p floored at 1e-12 so that a
/// model that misses mass is penalised heavily but finitely.
pub fn kl(q: &[f64], p: &[f64]) -> f64 {
    q.iter()
        .zip(p)
        .filter(|(a, _)| **a > 0.0)
        .map(|(a, b)| a * (a / b.max(1e-12)).ln())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn toy(kind: ToyKind, groups: u32) -> Toy {
        Toy {
            kind,
            groups: groups as usize,
            sd: 0.15,
            radius: 1.0,
        }
    }

    /// The exact densities integrate to 1 over the reference extent (the
    /// mass beyond 4 sd is ≈ 6e-5; a 400² Riemann sum is accurate to 1e-4 here).
    #[test]
    fn densities_integrate_to_one() {
        for t in [toy(ToyKind::Rings, 4), toy(ToyKind::Gmm, 8)] {
            let g = Grid {
                res: 400,
                extent: t.extent(),
            };
            let mut total = 0.0;
            for j in 0..g.res {
                for i in 0..g.res {
                    total += t.density(g.coord(i), g.coord(j));
                }
            }
            let mass = total * g.step() * g.step();
            assert!((mass - 1.0).abs() < 2e-3, "{:?}: {mass}", t.kind);
        }
    }

    /// A KDE of many samples from q is close to q and far from another
    /// distribution; the metrics rank the two correctly. The KDE is biased by
    /// its own blur: for the rings, bandwidth 0.075 × sd(x) ≈ 0.15 widens the
    /// radial sd from 0.15 to 0.21, a TV of ≈ 0.15 by itself.
    /// Chains that flew far (a diverging run, a sampling temperature of
    /// 10⁸) and bandwidths at either end give a KDE (before, a blur as wide
    /// as the spread asked for terabytes or ran for minutes): the blur never
    /// reaches past the grid, and a bandwidth whose square underflows is
    /// no blur, not NaN.
    #[test]
    fn kde_work_is_bounded_for_any_spread() {
        let t = toy(ToyKind::Gmm, 8);
        let g = Grid {
            res: 100,
            extent: t.extent(),
        };
        let mut samples = t.sample(200, &mut rand_chacha::ChaCha8Rng::seed_from_u64(2));
        samples.extend([1e20, -1e20, f32::MAX, 3e38, f32::NAN, 0.0]);
        for factor in [1e-200, 0.075, 1e6, 1e300] {
            let kde = g.kde(&samples, factor);
            assert!(kde.iter().all(|v| v.is_finite() && *v >= 0.0), "factor {factor}");
            // The 3 far or broken chains are off the grid, and do not set
            // the others' bandwidth; nearly all of a kernel far wider than
            // the grid is off it.
            let total: f64 = kde.iter().sum();
            let expected = if factor < 1.0 { 200.0 / 203.0 } else { 0.0 };
            assert!((total - expected).abs() < 2e-3, "factor {factor}: {total}");
        }
    }

    /// Chains off the grid count as mass off it: all of them gone reads TV
    /// 1 (normalising what is left would read 0.5), half of them gone at
    /// least ½ more than the half on it alone.
    #[test]
    fn chains_off_the_grid_count_against_the_kde() {
        let t = toy(ToyKind::Gmm, 8);
        let g = Grid {
            res: 100,
            extent: t.extent(),
        };
        let truth = g.truth(&t);
        let far: Vec<f32> = (0..400).map(|i| 100.0 + i as f32).collect();
        assert!((total_variation(&g.kde(&far, 0.075), &truth) - 1.0).abs() < 1e-12);
        let near = t.sample(200, &mut rand_chacha::ChaCha8Rng::seed_from_u64(3));
        let on_grid = total_variation(&g.kde(&near, 0.075), &truth);
        let half = [&near[..], &far[..400]].concat();
        let tv_half = total_variation(&g.kde(&half, 0.075), &truth);
        assert!(tv_half >= 0.5 && tv_half > on_grid, "{tv_half} vs {on_grid}");
        // Samples of q, all on the grid, keep their whole mass but for the
        // kernels' tails past its edges (4 sd out: a little).
        let many = t.sample(20_000, &mut rand_chacha::ChaCha8Rng::seed_from_u64(4));
        let total: f64 = g.kde(&many, 0.075).iter().sum();
        assert!(total > 0.995 && total <= 1.0, "{total}");
    }

    /// A ring's radius is N(k·radius, sd²), so the mass of q between two
    /// distances from the centre is that normal's: the inner half of the
    /// first ring (0.7 … 1.0) holds a quarter of Φ(0) − Φ(−2). (Dividing by
    /// 2π·k·radius, as the reference, gives about 11 % less there.)
    #[test]
    fn a_rings_radius_has_the_sampled_normal_mass() {
        let t = toy(ToyKind::Rings, 4);
        let (a, b, steps) = (0.7, 1.0, 10_000);
        let h = (b - a) / steps as f64;
        let (mut q_mass, mut normal_mass) = (0.0, 0.0);
        for i in 0..steps {
            let rho = a + (i as f64 + 0.5) * h;
            q_mass += t.density(rho, 0.0) * std::f64::consts::TAU * rho * h;
            let z = (rho - 1.0) / t.sd;
            normal_mass += 0.25 * (-z * z / 2.0).exp() / (std::f64::consts::TAU.sqrt() * t.sd) * h;
        }
        assert!(
            (q_mass / normal_mass - 1.0).abs() < 1e-9,
            "{q_mass} vs {normal_mass}"
        );
        assert!(
            (normal_mass - 0.25 * (0.5 - 0.022_750_1)).abs() < 1e-6,
            "{normal_mass}"
        );
    }

    /// The floor falls as the points grow in number, from near 1 for one
    /// point, at the presets' grid (200) and bandwidths, towards the
    /// kernel's own blur.
    #[test]
    fn kde_floor_falls_with_the_points() {
        for (t, bandwidth) in [(toy(ToyKind::Gmm, 8), 0.1), (toy(ToyKind::Rings, 4), 0.075)] {
            let g = Grid {
                res: 200,
                extent: t.extent(),
            };
            let truth = g.truth(&t);
            let floors: Vec<f64> = [1, 10, 100, 1000, 10_000]
                .map(|n| kde_floor(&t, &g, &truth, n, bandwidth))
                .to_vec();
            assert!(floors.windows(2).all(|w| w[1] < w[0]), "{:?}: {floors:?}", t.kind);
            // (Seeded: the figures the doc comment and README give, to
            // within what another platform's libm may move them.)
            let want = match t.kind {
                ToyKind::Gmm => [0.999, 0.825, 0.297, 0.120, 0.079],
                ToyKind::Rings => [1.000, 0.887, 0.508, 0.226, 0.169],
            };
            for (got, want) in floors.iter().zip(want) {
                assert!((got - want).abs() < 1e-3, "{:?}: {floors:?}", t.kind);
            }
        }
    }

    #[test]
    fn kde_of_samples_recovers_the_density() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        for t in [toy(ToyKind::Rings, 4), toy(ToyKind::Gmm, 8)] {
            let g = Grid {
                res: 100,
                extent: t.extent(),
            };
            let truth = g.truth(&t);
            let kde = g.kde(&t.sample(20000, &mut rng), 0.075);
            let tv = total_variation(&kde, &truth);
            assert!(tv < 0.2, "{:?}: TV {tv}", t.kind);
            let other = toy(
                if t.kind == ToyKind::Gmm {
                    ToyKind::Rings
                } else {
                    ToyKind::Gmm
                },
                4,
            );
            let wrong = g.kde(&other.sample(20000, &mut rng), 0.075);
            let tv_wrong = total_variation(&wrong, &truth);
            assert!(
                tv_wrong > 2.0 * tv && tv_wrong > 0.4,
                "{:?}: TV of the wrong data {tv_wrong}",
                t.kind
            );
            assert!(kl(&truth, &kde) < kl(&truth, &wrong));
        }
    }

    #[test]
    fn boltzmann_of_exact_energy_is_the_truth() {
        let t = toy(ToyKind::Gmm, 8);
        let g = Grid {
            res: 64,
            extent: t.extent(),
        };
        let energies: Vec<f64> = (0..64 * 64)
            .map(|k| -t.density(g.coord(k % 64), g.coord(k / 64)).ln())
            .collect();
        let p = g.boltzmann(&energies);
        let truth = g.truth(&t);
        assert!(total_variation(&p, &truth) < 1e-12);
        assert!(kl(&truth, &p).abs() < 1e-9);
    }
}
