//! How fast a target's deliveries drain, and so how many may wait here, claimed, for a queue
//! slot: enough that a fast subscriber never waits on a claim query, few enough that other
//! processes sharing the store are not kept from work this one will not reach soon (leases of
//! what waits here are renewed, see `lease.rs`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Claimed deliveries per unit of concurrency a target may hold at least (the depth while
/// nothing is measured yet).
pub const MIN_DEPTH: usize = 8;
/// Claimed deliveries per unit of concurrency a target may hold at most.
pub const MAX_DEPTH: usize = 64;
/// The share of the lease the deliveries waiting here must drain within at the measured pace.
const LEASE_SHARE: u32 = 4;

/// The time between a target's finished attempts, as a moving average (weight 1/8): its
/// queue's drain time per delivery, whatever slows it (the subscriber, its rate limit, its
/// concurrency, or an idle gap, which only makes the estimate more careful).
#[derive(Debug)]
pub struct Pace {
    started: Instant,
    /// When the last attempt finished, in µs since `started` (0: none yet).
    last_us: AtomicU64,
    /// Average µs between finished attempts (0: not measured yet).
    interval_us: AtomicU64,
}

impl Default for Pace {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            last_us: AtomicU64::new(0),
            interval_us: AtomicU64::new(0),
        }
    }
}

impl Pace {
    /// Notes an attempt that finished at `at`.
    pub fn finished(&self, at: Instant) {
        let now = u64::try_from(at.saturating_duration_since(self.started).as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        let last = self.last_us.swap(now, Ordering::Relaxed);
        if last == 0 {
            return;
        }
        let sample = now.saturating_sub(last);
        let old = self.interval_us.load(Ordering::Relaxed);
        // Racing updates may drop a sample; an estimate does not need them all.
        let new = if old == 0 {
            sample.max(1)
        } else {
            (old - old / 8 + sample / 8).max(1)
        };
        self.interval_us.store(new, Ordering::Relaxed);
    }

    /// How many deliveries the target may hold claimed here: those its measured pace drains
    /// within a quarter of `lease`, between [`MIN_DEPTH`] and [`MAX_DEPTH`] times
    /// `concurrency`.
    pub fn depth(&self, concurrency: usize, lease: Duration) -> usize {
        let (low, high) = (concurrency * MIN_DEPTH, concurrency * MAX_DEPTH);
        let interval = self.interval_us.load(Ordering::Relaxed);
        if interval == 0 {
            return low;
        }
        let budget = (lease / LEASE_SHARE).as_micros();
        let drains = usize::try_from(budget / u128::from(interval)).unwrap_or(usize::MAX);
        drains.clamp(low, high)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEASE: Duration = Duration::from_secs(300);

    #[test]
    fn unmeasured_targets_get_the_least_depth() {
        assert_eq!(Pace::default().depth(16, LEASE), 16 * MIN_DEPTH);
    }

    #[test]
    fn a_fast_target_gets_the_most_and_a_slow_one_the_least() {
        let pace = Pace::default();
        let t0 = Instant::now();
        for i in 1..=100 {
            pace.finished(t0 + Duration::from_millis(i)); // one a millisecond
        }
        assert_eq!(pace.depth(16, LEASE), 16 * MAX_DEPTH);

        let slow = Pace::default();
        for i in 1..=100 {
            slow.finished(t0 + Duration::from_secs(30 * i)); // one per 30 s
        }
        assert_eq!(slow.depth(16, LEASE), 16 * MIN_DEPTH);
    }

    #[test]
    fn in_between_the_depth_is_what_drains_in_a_quarter_lease() {
        let pace = Pace::default();
        let t0 = Instant::now();
        for i in 1..=200 {
            pace.finished(t0 + Duration::from_millis(250 * i)); // four a second
        }
        // 75 s at four a second.
        assert_eq!(pace.depth(16, LEASE), 300);
    }

    #[test]
    fn an_idle_gap_makes_the_estimate_careful_at_once() {
        let pace = Pace::default();
        let t0 = Instant::now();
        for i in 1..=100 {
            pace.finished(t0 + Duration::from_millis(i));
        }
        pace.finished(t0 + Duration::from_secs(600));
        assert!(pace.depth(16, LEASE) < 16 * MAX_DEPTH);
    }
}
