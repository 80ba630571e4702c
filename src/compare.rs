//! Comparison of computed values with the reference: |got − want| ≤
//! atol·max|want| + rtol·|want| element-wise, with a report that names how
//! many elements failed, the worst one and a few pairs.

use std::fmt;

/// An error bound with the reason it is what it is.
#[derive(Clone, Copy, Debug)]
pub struct Tolerance {
    /// Relative to each reference element.
    pub rtol: f64,
    /// Relative to the largest reference magnitude: sums of terms of mixed
    /// signs can cancel to near zero while keeping the rounding error of
    /// their largest terms.
    pub atol_of_max: f64,
    pub reason: &'static str,
}

#[derive(Clone, Debug)]
pub struct Comparison {
    pub len: usize,
    pub failed: usize,
    /// Index of the element with the largest error relative to its allowance.
    pub worst: Option<usize>,
    pub max_abs_err: f64,
    pub max_ref: f64,
    /// Largest |got − want| / allowance (≤ 1 passes).
    pub worst_ratio: f64,
    pub samples: Vec<(usize, f64, f64)>,
    pub length_mismatch: Option<(usize, usize)>,
}

impl Comparison {
    pub fn passed(&self) -> bool {
        self.failed == 0 && self.length_mismatch.is_none()
    }
}

pub fn compare(got: &[f32], want: &[f64], tol: Tolerance) -> Comparison {
    let max_ref = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let mut c = Comparison {
        len: want.len(),
        failed: 0,
        worst: None,
        max_abs_err: 0.0,
        max_ref,
        worst_ratio: 0.0,
        samples: Vec::new(),
        length_mismatch: (got.len() != want.len()).then_some((got.len(), want.len())),
    };
    let atol = tol.atol_of_max * max_ref.max(f64::MIN_POSITIVE);
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let g = f64::from(g);
        let err = (g - w).abs();
        let allowed = atol + tol.rtol * w.abs();
        // NaN or infinity in `got` fails and ranks worst.
        let ratio = if err.is_finite() {
            err / allowed
        } else {
            f64::INFINITY
        };
        if ratio > 1.0 {
            c.failed += 1;
            if c.samples.len() < 4 {
                c.samples.push((i, g, w));
            }
        }
        if c.worst.is_none() || ratio > c.worst_ratio {
            c.worst_ratio = ratio;
            c.worst = Some(i);
        }
        c.max_abs_err = c
            .max_abs_err
            .max(if err.is_finite() { err } else { f64::INFINITY });
    }
    c
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some((got, want)) = self.length_mismatch {
            return write!(f, "length mismatch: got {got} values, expected {want}");
        }
        write!(
            f,
            "{} of {} outside tolerance; max |err| {:.2e} (max |ref| {:.2e}), worst at {:?} using {:.2}× its allowance",
            self.failed, self.len, self.max_abs_err, self.max_ref, self.worst, self.worst_ratio
        )?;
        for (i, g, w) in &self.samples {
            write!(f, "; [{i}] got {g:.6e} want {w:.6e}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOL: Tolerance = Tolerance {
        rtol: 1e-3,
        atol_of_max: 1e-3,
        reason: "test",
    };

    #[test]
    fn passes_within_and_fails_outside_tolerance() {
        // Allowance: 1e-3·max|want| = 3e-3, plus 1e-3·|want|.
        let want = [1.0, -2.0, 3.0];
        assert!(compare(&[1.0, -2.0, 3.005], &want, TOL).passed());
        let c = compare(&[1.0, -2.01, 3.0], &want, TOL);
        assert_eq!((c.failed, c.worst), (1, Some(1)));
        assert!(c.to_string().contains("[1] got"), "{c}");
    }

    #[test]
    fn nan_and_length_mismatch_fail() {
        assert!(!compare(&[f32::NAN], &[1.0], TOL).passed());
        assert!(!compare(&[f32::INFINITY], &[1.0], TOL).passed());
        assert!(!compare(&[1.0], &[1.0, 2.0], TOL).passed());
    }
}
