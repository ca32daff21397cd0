//! Circuit breaker of one destination: after `threshold` consecutive failures it opens for
//! `open_for`, then lets one probe through at a time; `close_after` consecutive successful
//! probes (default 1) close it, a failed one opens it again. While open, the destination's
//! deliveries wait in the store. Integrations use the same breaker for their calls.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The breaker's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    /// Sending normally.
    Closed,
    /// Not sending until this instant.
    Open {
        /// When a probe may go.
        until: Instant,
    },
    /// One probe may go; `probing` while it is in flight.
    HalfOpen {
        /// A probe is in flight.
        probing: bool,
    },
}

/// What the breaker says to one attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Go ahead.
    Go,
    /// Go ahead as the one probe of a half-open breaker.
    Probe,
    /// Do not send before this instant.
    Wait(Instant),
}

/// A transition worth reporting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerChange {
    /// The breaker opened after this many consecutive failures.
    Opened(u32),
    /// A probe succeeded; the breaker closed.
    Closed,
}

/// A thread-safe circuit breaker.
#[derive(Debug)]
pub struct Breaker {
    threshold: u32,
    open_for: Duration,
    close_after: u32,
    inner: Mutex<Inner>,
}

/// How long an attempt waits while another one probes a half-open breaker.
const PROBE_WAIT: Duration = Duration::from_secs(1);

#[derive(Debug)]
struct Inner {
    state: BreakerState,
    consecutive_failures: u32,
    probe_successes: u32,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(threshold: u32, open_for: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            open_for,
            close_after: 1,
            inner: Mutex::new(Inner {
                state: BreakerState::Closed,
                consecutive_failures: 0,
                probe_successes: 0,
            }),
        }
    }

    /// The same breaker, closing only after `successes` consecutive successful probes.
    pub fn closing_after(mut self, successes: u32) -> Self {
        self.close_after = successes.max(1);
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current state.
    pub fn state(&self) -> BreakerState {
        self.lock().state
    }

    /// Admits one attempt at `now`: an expired open period lets exactly one probe through.
    pub fn admit(&self, now: Instant) -> Admission {
        let mut inner = self.lock();
        match inner.state {
            BreakerState::Closed => Admission::Go,
            BreakerState::Open { until } if now < until => Admission::Wait(until),
            BreakerState::Open { .. } | BreakerState::HalfOpen { probing: false } => {
                inner.state = BreakerState::HalfOpen { probing: true };
                Admission::Probe
            }
            BreakerState::HalfOpen { probing: true } => {
                Admission::Wait(now + PROBE_WAIT.min(self.open_for))
            }
        }
    }

    /// True when nothing may be sent at `now` (open, or a probe in flight).
    pub fn blocked(&self, now: Instant) -> bool {
        match self.lock().state {
            BreakerState::Closed | BreakerState::HalfOpen { probing: false } => false,
            BreakerState::Open { until } => now < until,
            BreakerState::HalfOpen { probing: true } => true,
        }
    }

    /// Failed attempts since the last success.
    pub fn consecutive_failures(&self) -> u32 {
        self.lock().consecutive_failures
    }

    /// Records a successful attempt.
    pub fn success(&self) -> Option<BreakerChange> {
        let mut inner = self.lock();
        inner.consecutive_failures = 0;
        if let BreakerState::HalfOpen { .. } = inner.state {
            inner.probe_successes = inner.probe_successes.saturating_add(1);
            if inner.probe_successes < self.close_after {
                inner.state = BreakerState::HalfOpen { probing: false };
                return None;
            }
        }
        inner.probe_successes = 0;
        let was = std::mem::replace(&mut inner.state, BreakerState::Closed);
        (was != BreakerState::Closed).then_some(BreakerChange::Closed)
    }

    /// Records a failed attempt at `now`.
    pub fn failure(&self, now: Instant) -> Option<BreakerChange> {
        let mut inner = self.lock();
        inner.consecutive_failures = inner.consecutive_failures.saturating_add(1);
        let trips = match inner.state {
            BreakerState::HalfOpen { .. } => true,
            BreakerState::Closed => inner.consecutive_failures >= self.threshold,
            BreakerState::Open { .. } => false,
        };
        if trips {
            inner.probe_successes = 0;
            inner.state = BreakerState::Open {
                until: now + self.open_for,
            };
            return Some(BreakerChange::Opened(inner.consecutive_failures));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_probes_once_and_closes_on_success() {
        let b = Breaker::new(3, Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(b.failure(t0), None);
        assert_eq!(b.failure(t0), None);
        assert_eq!(b.admit(t0), Admission::Go);
        assert_eq!(b.failure(t0), Some(BreakerChange::Opened(3)));
        let until = t0 + Duration::from_secs(10);
        assert_eq!(b.admit(t0 + Duration::from_secs(5)), Admission::Wait(until));
        assert!(b.blocked(t0));
        assert!(!b.blocked(until));
        assert_eq!(b.admit(until), Admission::Probe);
        // Only one probe at a time.
        assert!(matches!(b.admit(until), Admission::Wait(_)));
        assert!(b.blocked(until));
        // The probe fails: open again for a full period.
        let t1 = t0 + Duration::from_secs(11);
        assert_eq!(b.failure(t1), Some(BreakerChange::Opened(4)));
        assert!(matches!(
            b.admit(t1 + Duration::from_secs(9)),
            Admission::Wait(_)
        ));
        assert_eq!(b.admit(t1 + Duration::from_secs(10)), Admission::Probe);
        assert_eq!(b.success(), Some(BreakerChange::Closed));
        assert_eq!(b.admit(t1), Admission::Go);
        assert_eq!(b.success(), None);
        assert_eq!(b.consecutive_failures(), 0);
    }

    #[test]
    fn closes_only_after_enough_successful_probes() {
        let b = Breaker::new(1, Duration::from_secs(1)).closing_after(3);
        let t0 = Instant::now();
        assert_eq!(b.failure(t0), Some(BreakerChange::Opened(1)));
        let later = t0 + Duration::from_secs(1);
        for _ in 0..2 {
            assert_eq!(b.admit(later), Admission::Probe);
            assert_eq!(b.success(), None);
            assert_eq!(b.state(), BreakerState::HalfOpen { probing: false });
        }
        assert_eq!(b.admit(later), Admission::Probe);
        assert_eq!(b.success(), Some(BreakerChange::Closed));
        assert_eq!(b.state(), BreakerState::Closed);
        // A failed probe resets the count.
        assert_eq!(b.failure(later), Some(BreakerChange::Opened(1)));
        let again = later + Duration::from_secs(1);
        assert_eq!(b.admit(again), Admission::Probe);
        assert_eq!(b.success(), None);
        assert_eq!(b.admit(again), Admission::Probe);
        assert_eq!(b.failure(again), Some(BreakerChange::Opened(1)));
        assert_eq!(b.admit(again + Duration::from_secs(1)), Admission::Probe);
        assert_eq!(b.success(), None, "the count started over");
    }
}
