//! The time a long job has left, for its progress bar and lines.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The time left at the mean rate since a bar's first advance: a job's
/// first step (a run's first iteration, a long run's first slice of steps)
/// holds the kernels' compilation and warm-up, which indicatif's estimate,
/// a smoothed rate from zero, carries for seconds (a toy run of 20 s read
/// "about 2 minutes to go" 2 s in). Until a second advance, the mean rate
/// since the start. Starts again where the length changes or the position
/// goes back (a landscape's next stage). Shared: a bar's style reads it on
/// another thread.
#[derive(Clone, Debug, Default)]
pub struct TimeLeft(Arc<Mutex<Seen>>);

#[derive(Debug, Default)]
struct Seen {
    length: u64,
    position: u64,
    /// When the position was first seen, and what it was.
    start: Option<(Instant, u64)>,
    /// When the first advance was seen, and to where.
    advanced: Option<(Instant, u64)>,
}

impl TimeLeft {
    /// The time left at `position` of `length`, seen now.
    pub fn at(&self, position: u64, length: u64) -> Option<Duration> {
        self.seen_at(position, length, Instant::now())
    }

    /// As [`TimeLeft::at`], seen at `now`; None before an advance.
    pub fn seen_at(&self, position: u64, length: u64, now: Instant) -> Option<Duration> {
        let mut seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let Some(start) = seen
            .start
            .filter(|_| length == seen.length && position >= seen.position)
        else {
            *seen = Seen {
                length,
                position,
                start: Some((now, position)),
                advanced: None,
            };
            return None;
        };
        seen.position = position;
        if seen.advanced.is_none() && position > start.1 {
            seen.advanced = Some((now, position));
        }
        let (since, from) = match seen.advanced {
            Some(advanced) if position > advanced.1 => advanced,
            _ if position > start.1 => start,
            _ => return None,
        };
        let per_step = now.saturating_duration_since(since).as_secs_f64() / (position - from) as f64;
        Duration::try_from_secs_f64(per_step * length.saturating_sub(position) as f64).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_time_left_leaves_out_the_first_advance() {
        let t0 = Instant::now();
        let s = |seconds: f64| t0 + Duration::from_secs_f64(seconds);
        let left = TimeLeft::default();
        assert_eq!(left.seen_at(0, 100, s(0.0)), None);
        assert_eq!(left.seen_at(0, 100, s(5.0)), None);
        // The first iteration took 10 s (compilation): 99 more at that rate.
        assert_eq!(left.seen_at(1, 100, s(10.0)), Some(Duration::from_secs(990)));
        // Then 10 in 1 s: 89 more at 0.1 s each, the first one's 10 s left out.
        let got = left.seen_at(11, 100, s(11.0)).unwrap().as_secs_f64();
        assert!((got - 8.9).abs() < 1e-6, "{got}");
        let got = left.seen_at(21, 100, s(13.0)).unwrap().as_secs_f64();
        assert!((got - 79.0 * 0.15).abs() < 1e-6, "{got}");
        assert_eq!(left.seen_at(100, 100, s(20.0)), Some(Duration::ZERO));
        // A new stage (another length, or back to 0) starts again.
        assert_eq!(left.seen_at(0, 50, s(21.0)), None);
        assert_eq!(left.seen_at(5, 50, s(22.0)), Some(Duration::from_secs(9)));
        assert_eq!(left.seen_at(2, 50, s(23.0)), None);
    }
}
