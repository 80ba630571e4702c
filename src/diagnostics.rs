//! The learning diagnostics of PAPER.md section 3: d_st, r_t, their
//! trailing-window auto- and cross-correlations (computed as the reference's
//! plot_diagnostics), the phase of each iteration, the oscillation label of
//! a run, and the divergence watch.

/// The sign of d_st decides which way the learning pendulum swings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// d_st < 0: samples have higher energy than data; the update steepens
    /// the landscape and r_t grows.
    Expansion,
    /// d_st ≥ 0: samples overshoot below the data energy; the update
    /// flattens the landscape and r_t shrinks.
    Contraction,
}

impl Phase {
    pub fn of(d_st: f64) -> Self {
        if d_st < 0.0 {
            Phase::Expansion
        } else {
            Phase::Contraction
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Phase::Expansion => "expansion",
            Phase::Contraction => "contraction",
        }
    }
    /// Its colour in every plot of d_st, the window's and the PNG's: blue
    /// for expansion, red for contraction.
    pub fn rgb(self) -> [u8; 3] {
        match self {
            Phase::Expansion => [60, 110, 230],
            Phase::Contraction => [220, 60, 60],
        }
    }
}

/// The lags of d_st's autocorrelation the oscillation verdict reads.
pub const VERDICT_LAGS: std::ops::RangeInclusive<usize> = 1..=2;

/// Where the plots draw the verdict's threshold: under its lags' bars.
pub fn verdict_lags_span() -> std::ops::Range<f64> {
    *VERDICT_LAGS.start() as f64 - 0.5..*VERDICT_LAGS.end() as f64 + 0.5
}

/// How to read the cross-correlation of d_st with r_t (k > 0: d_st k
/// iterations after r_t) for the pendulum, in the window and the PNG.
pub const PENDULUM_HINT: &str =
    "the pendulum, with strong oscillation: below 0 at k = −1 (r_t high after expansion)";

/// Correlations over the trailing window.
#[derive(Clone, Debug, PartialEq)]
pub struct Correlations {
    pub max_lag: usize,
    /// Iterations in the window.
    pub window: usize,
    /// Iterations the window was asked to hold (eval.window).
    pub window_asked: usize,
    /// Whether the window holds all the iterations asked for and starts
    /// past the run's first tenth of a window (else it holds the run's
    /// start, or the trend just after it).
    pub full: bool,
    /// Autocorrelation of d_st rescaled to unit mean square (not centred), lags 0…max_lag.
    pub d_acf: Vec<f64>,
    /// Autocorrelation of r_t standardised, lags 0…max_lag.
    pub r_acf: Vec<f64>,
    /// Σ_n d[n + k]·r[n] / (N − 1) for k = −max_lag…max_lag (numpy.correlate's convention).
    pub cross: Vec<f64>,
}

/// How strongly d_st oscillates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Oscillation {
    /// Negative autocorrelation of d_st at lag 1 or 2 beyond chance:
    /// typical of non-convergent ML, Adam and large SGD steps.
    Strong,
    /// No such structure: expected of convergent ML.
    Weak,
}

fn lagged(a: &[f64], b: &[f64], k: isize) -> f64 {
    let n = a.len() as isize;
    let denom = (n - 1).max(1) as f64;
    (0..n)
        .filter(|&i| (0..n).contains(&(i + k)))
        .map(|i| a[(i + k) as usize] * b[i as usize])
        .sum::<f64>()
        / denom
}

impl Correlations {
    /// Over the last `window` values of d_st and r_t (at least 3 needed).
    pub fn compute(d_st: &[f64], r_t: &[f64], window: usize, max_lag: usize) -> Option<Self> {
        let len = d_st.len().min(r_t.len());
        let n = len.min(window);
        if n < 3 {
            return None;
        }
        let (d, r) = (&d_st[len - n..len], &r_t[len - n..len]);
        let denom = (n - 1) as f64;
        let ms = (d.iter().map(|v| v * v).sum::<f64>() / denom).sqrt();
        let mean = r.iter().sum::<f64>() / n as f64;
        let sd = (r.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / denom).sqrt();
        let d: Vec<f64> = d.iter().map(|v| if ms > 0.0 { v / ms } else { 0.0 }).collect();
        let r: Vec<f64> = r
            .iter()
            .map(|v| if sd > 0.0 { (v - mean) / sd } else { 0.0 })
            .collect();
        let max_lag = max_lag.min(n - 1);
        let lags = 0..=max_lag as isize;
        Some(Correlations {
            max_lag,
            window: n,
            window_asked: window,
            full: len >= Self::iterations_for_verdict(window),
            d_acf: lags.clone().map(|k| lagged(&d, &d, k)).collect(),
            r_acf: lags.map(|k| lagged(&r, &r, k)).collect(),
            cross: (-(max_lag as isize)..=max_lag as isize)
                .map(|k| lagged(&d, &r, k))
                .collect(),
        })
    }

    /// How far below 0 d_st's autocorrelation at lag 1 or 2 reads as
    /// strong oscillation: max(0.1, 3/√N), white noise having standard
    /// error 1/√N there.
    pub fn threshold(&self) -> f64 {
        (3.0 / (self.window as f64).sqrt()).max(0.1)
    }

    /// Strong when the d_st autocorrelation at lag 1 or 2 is below
    /// −[`Self::threshold`].
    pub fn oscillation(&self) -> Oscillation {
        let bound = self.threshold();
        if VERDICT_LAGS
            .filter_map(|k| self.d_acf.get(k))
            .any(|&c| c < -bound)
        {
            Oscillation::Strong
        } else {
            Oscillation::Weak
        }
    }

    /// The iterations a run needs before a window of `window` counts as
    /// full: the window, and a tenth of one before it. (A window of the
    /// run's first `window` iterations, as the pictures at iteration
    /// `window` see, is still dominated by the start: its d_st, hundreds of
    /// times the later swings, sets the mean square.)
    pub fn iterations_for_verdict(window: usize) -> usize {
        window + window / 10
    }

    /// What the window can tell so far: strong as soon as d_st's
    /// anti-correlation shows, weak only once the window is full. A window
    /// that reaches back to the run's start sees its early trend (d_st of
    /// one sign for many iterations, correlated at every lag), which hides
    /// an oscillation, so it would call a non-convergent run weak.
    pub fn verdict(&self) -> Option<Oscillation> {
        match self.oscillation() {
            Oscillation::Weak if !self.full => None,
            seen => Some(seen),
        }
    }

    /// The values the verdict reads: d_st's autocorrelation at lags 1 and
    /// 2, as "… at lag 1, … at lag 2".
    pub fn verdict_lag_values(&self) -> String {
        let at = |lag: usize| self.d_acf.get(lag).map(|v| format!("{v:.3} at lag {lag}"));
        let values: Vec<String> = VERDICT_LAGS.filter_map(at).collect();
        values.join(", ")
    }

    /// What the window says, as a line for the terminal: the values the
    /// verdict reads against its threshold, and the verdict (or when one is
    /// due).
    pub fn reading(&self) -> String {
        let verdict = match self.verdict() {
            Some(Oscillation::Strong) => "strong oscillation".to_string(),
            Some(Oscillation::Weak) => "weak oscillation".to_string(),
            None => format!(
                "no verdict on the oscillation before iteration {} (eval.window = {}, and a tenth \
                 of it more)",
                Self::iterations_for_verdict(self.window_asked),
                self.window_asked
            ),
        };
        format!(
            "d_st over the last {} iterations: autocorrelation (not centred) {} (threshold {:.3}): \
             {verdict}",
            self.window,
            self.verdict_lag_values(),
            -self.threshold()
        )
    }
}

/// Watches for learning that has collapsed: a non-finite d_st or r_t, or
/// d_st running away (|d_st| above `factor` × the median |d_st| of the
/// trailing window, once the window holds at least `warmup` iterations).
#[derive(Clone, Debug)]
pub struct DivergenceWatch {
    pub factor: f64,
    pub warmup: usize,
}

impl Default for DivergenceWatch {
    fn default() -> Self {
        DivergenceWatch {
            factor: 1e4,
            warmup: 100,
        }
    }
}

impl DivergenceWatch {
    /// The d_st before the latest that the median is taken over, at most.
    pub const WINDOW: usize = 1000;

    /// Why the latest iteration counts as divergence, if it does. `history`
    /// holds the d_st before the latest one.
    pub fn check(&self, history: &[f64], d_st: f64, r_t: f64) -> Option<String> {
        if !d_st.is_finite() || !r_t.is_finite() {
            return Some(format!("non-finite values (d_st = {d_st}, r_t = {r_t})"));
        }
        if history.len() < self.warmup {
            return None;
        }
        let mut recent: Vec<f64> = history[history.len().saturating_sub(Self::WINDOW)..]
            .iter()
            .map(|v| v.abs())
            .collect();
        recent.sort_by(f64::total_cmp);
        let median = recent[recent.len() / 2];
        (median > 0.0 && d_st.abs() > self.factor * median).then(|| {
            format!(
                "d_st ran away: |d_st| = {:.3e} is over {:.0e}× the recent median {median:.3e}",
                d_st.abs(),
                self.factor
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A non-convergent run's pendulum (d_st alternating about 0) behind
    /// its start (d_st far below 0 for 100 iterations): with the start in
    /// a window that is not full, the trend makes it look weak, and no
    /// verdict is given; once the window holds only the pendulum, strong.
    #[test]
    fn a_window_holding_the_start_gives_no_weak_verdict() {
        let d: Vec<f64> = (0..400)
            .map(|i| {
                if i < 100 {
                    -4.0
                } else if i % 2 == 0 {
                    0.2
                } else {
                    -0.2
                }
            })
            .collect();
        let r = vec![1.0; d.len()];
        let c = Correlations::compute(&d, &r, 2000, 15).unwrap();
        assert_eq!((c.oscillation(), c.full), (Oscillation::Weak, false));
        assert_eq!(c.verdict(), None);
        let reading = c.reading();
        assert!(
            reading.starts_with("d_st over the last 400 iterations: autocorrelation (not centred) ")
                && reading.ends_with(
                    "(threshold -0.150): no verdict on the oscillation before iteration 2200 \
                     (eval.window = 2000, and a tenth of it more)"
                ),
            "{reading}"
        );
        let c = Correlations::compute(&d, &r, 300, 15).unwrap();
        assert_eq!(c.verdict(), Some(Oscillation::Strong));
        // A window of exactly the run's first iterations is not full: it
        // holds the start (here it also reads weak).
        let c = Correlations::compute(&d[..300], &r[..300], 300, 15).unwrap();
        assert_eq!(
            (c.oscillation(), c.full, c.verdict()),
            (Oscillation::Weak, false, None)
        );
    }

    #[test]
    fn alternating_d_st_oscillates_strongly_and_noise_does_not() {
        let d: Vec<f64> = (0..500).map(|i| if i % 2 == 0 { 1.0 } else { -1.0 }).collect();
        let r: Vec<f64> = (0..500).map(|i| (i as f64 * 0.1).sin()).collect();
        let c = Correlations::compute(&d, &r, 2000, 15).unwrap();
        assert!((c.d_acf[0] - 1.0).abs() < 1e-12, "unit mean square at lag 0");
        assert!((c.d_acf[1] + 1.0).abs() < 0.01);
        assert_eq!(c.oscillation(), Oscillation::Strong);
        // Strong shows before the window is full (500 of 2000).
        assert_eq!((c.full, c.verdict()), (false, Some(Oscillation::Strong)));
        let reading = c.reading();
        assert!(
            reading.starts_with("d_st over the last 500 iterations: autocorrelation (not centred) -")
                && reading.ends_with("(threshold -0.134): strong oscillation"),
            "{reading}"
        );
        assert_eq!(c.cross.len(), 31);
        // A pseudo-random sequence has no structure.
        let mut x = 1u64;
        // (2 200: a full window of 2 000 past the run's first 200.)
        let noise: Vec<f64> = (0..2200)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (x >> 11) as f64 / (1u64 << 53) as f64 - 0.5
            })
            .collect();
        let c = Correlations::compute(&noise, &noise, 2000, 15).unwrap();
        assert_eq!(c.oscillation(), Oscillation::Weak);
        assert_eq!((c.full, c.verdict()), (true, Some(Oscillation::Weak)));
        assert!(
            (c.r_acf[0] - 1.0).abs() < 1e-9,
            "standardised r_t: lag 0 is 1 (N−1 convention)"
        );
    }

    /// Cross-correlation lag convention: r leading d by two steps (d[i] =
    /// r[i − 2]) peaks at k = +2.
    #[test]
    fn cross_correlation_lag_sign() {
        let r: Vec<f64> = (0..300).map(|i| ((i * 7919) % 101) as f64).collect();
        let d: Vec<f64> = (0..300)
            .map(|i| if i >= 2 { r[i - 2] - 50.0 } else { 0.0 })
            .collect();
        let c = Correlations::compute(&d, &r, 2000, 5).unwrap();
        let best = (0..c.cross.len())
            .max_by(|&a, &b| c.cross[a].total_cmp(&c.cross[b]))
            .unwrap() as isize
            - 5;
        assert_eq!(best, 2);
    }

    #[test]
    fn divergence_watch() {
        let w = DivergenceWatch::default();
        assert!(w.check(&[], f64::NAN, 1.0).is_some());
        assert!(w.check(&[], 1.0, f64::INFINITY).is_some());
        let calm = vec![0.5; 200];
        assert!(w.check(&calm, -2.0, 1.0).is_none());
        assert!(w.check(&calm, -1e5, 1.0).unwrap().contains("ran away"));
        assert!(w.check(&calm[..10], -1e5, 1.0).is_none(), "not during warm-up");
        assert_eq!(Phase::of(-0.1), Phase::Expansion);
        assert_eq!(Phase::of(0.1), Phase::Contraction);
    }
}
