//! Delivery counters of one target, kept in memory by the workers (pending, delivered and
//! failed are refreshed from the store), and the sink they are reported to.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

use super::autodisable::AutoState;
use super::health::{HealthCondition, HealthState, RUNAWAY_FILTER_ERRORS};
use crate::store::{DeliveryCounts, Target};

/// Longest filter error kept in status (an error may quote part of the event).
const MAX_FILTER_ERROR_CHARS: usize = 256;

/// Where delivery status goes (the engine's status board).
pub trait StatusSink: Send + Sync {
    /// Sets a condition ("Ready", "Healthy") of the target's resource.
    fn condition(&self, target: &Target, type_: &str, ok: bool, reason: &str, message: &str);
    /// Merges status fields into the target's resource.
    fn fields(&self, target: &Target, fields: Map<String, Value>);
}

/// Counters of one target.
#[derive(Debug)]
pub struct Stats {
    sent: AtomicU64,
    delivered: AtomicU64,
    failed: AtomicU64,
    pending: AtomicU64,
    consecutive_failures: AtomicU64,
    filter_errors: AtomicU64,
    consecutive_filter_errors: AtomicU64,
    last_filter_error: Mutex<Option<String>>,
    /// The Healthy condition shown for the target.
    pub health: HealthState,
    /// The failure streak and whether it is auto-disabled.
    pub auto: AutoState,
    /// The counters have been read from the store at least once.
    loaded: AtomicBool,
    /// An attempt was made here (consecutive failures are known).
    measured: AtomicBool,
    times: Mutex<Times>,
}

#[derive(Debug, Default)]
struct Times {
    triggered: Option<DateTime<Utc>>,
    success: Option<DateTime<Utc>>,
    failure: Option<DateTime<Utc>>,
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            sent: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            pending: AtomicU64::new(0),
            consecutive_failures: AtomicU64::new(0),
            filter_errors: AtomicU64::new(0),
            consecutive_filter_errors: AtomicU64::new(0),
            last_filter_error: Mutex::default(),
            health: HealthState::default(),
            auto: AutoState::default(),
            loaded: AtomicBool::new(false),
            measured: AtomicBool::new(false),
            times: Mutex::default(),
        }
    }
}

impl Stats {
    fn times(&self) -> std::sync::MutexGuard<'_, Times> {
        self.times.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An event matched (a delivery was created).
    pub fn triggered(&self, at: DateTime<Utc>, deliveries: u64) {
        self.pending.fetch_add(deliveries, Ordering::Relaxed);
        self.times().triggered = Some(at);
    }

    /// An attempt was made; `delivered` when it succeeded, `finished_failed` when the
    /// delivery is now Failed or Dead.
    pub fn attempted(&self, at: DateTime<Utc>, delivered: bool, finished_failed: bool) {
        self.sent.fetch_add(1, Ordering::Relaxed);
        self.measured.store(true, Ordering::Relaxed);
        if delivered {
            self.delivered.fetch_add(1, Ordering::Relaxed);
            self.consecutive_failures.store(0, Ordering::Relaxed);
            self.times().success = Some(at);
        } else {
            self.consecutive_failures.fetch_add(1, Ordering::Relaxed);
            self.times().failure = Some(at);
        }
        if delivered || finished_failed {
            let _ = self
                .pending
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |p| {
                    Some(p.saturating_sub(1))
                });
        }
        if finished_failed {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Replaces sent, pending, delivered and failed with the store's counts.
    pub fn refresh(&self, counts: &DeliveryCounts) {
        self.sent.store(counts.attempts, Ordering::Relaxed);
        self.pending.store(counts.pending, Ordering::Relaxed);
        self.delivered.store(counts.delivered, Ordering::Relaxed);
        self.failed
            .store(counts.failed + counts.dead, Ordering::Relaxed);
        self.loaded.store(true, Ordering::Relaxed);
    }

    /// True once the counters have been read from the store.
    pub fn loaded(&self) -> bool {
        self.loaded.load(Ordering::Relaxed)
    }

    /// The subscription's filter failed on an event (counted as no match); the Healthy
    /// condition to report when the errors just became a runaway.
    pub fn filter_failed(&self, message: &str) -> Option<HealthCondition> {
        self.filter_errors.fetch_add(1, Ordering::Relaxed);
        let message: String = message.chars().take(MAX_FILTER_ERROR_CHARS).collect();
        let message = message.as_str();
        *self
            .last_filter_error
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(message.to_owned());
        let streak = self
            .consecutive_filter_errors
            .fetch_add(1, Ordering::Relaxed)
            + 1;
        (streak >= RUNAWAY_FILTER_ERRORS).then(|| {
            self.health.filter(Some(HealthCondition::bad(
                "FilterErrors",
                format!(
                    "spec.filter failed on the last {streak} events it evaluated (they were not delivered); last error: {message}"
                ),
            )))
        })?
    }

    /// The subscription's filter evaluated (matched or not) after failing; the Healthy
    /// condition to report when that ends a runaway.
    pub fn filter_recovered(&self) -> Option<HealthCondition> {
        if self.consecutive_filter_errors.swap(0, Ordering::Relaxed) == 0 {
            return None;
        }
        self.health.filter(None)
    }

    /// The status fields known here: sent, delivered, failed and pending once read from the
    /// store, consecutiveFailures once an attempt was made, the last*At times (null when
    /// none was seen), and disabledAt and failingSince (null unless auto-disabled or failing).
    pub fn fields(&self) -> Map<String, Value> {
        let time = |t: Option<DateTime<Utc>>| {
            t.map_or(Value::Null, |t| {
                Value::String(t.to_rfc3339_opts(SecondsFormat::Secs, true))
            })
        };
        let times = self.times();
        let mut m = Map::new();
        let load = |a: &AtomicU64| Value::from(a.load(Ordering::Relaxed));
        if self.loaded() {
            m.insert("sent".into(), load(&self.sent));
            m.insert("delivered".into(), load(&self.delivered));
            m.insert("failed".into(), load(&self.failed));
            m.insert("pending".into(), load(&self.pending));
        }
        if self.measured.load(Ordering::Relaxed) {
            m.insert(
                "consecutiveFailures".into(),
                load(&self.consecutive_failures),
            );
        }
        m.insert("filterErrors".into(), load(&self.filter_errors));
        m.insert(
            "lastFilterError".into(),
            self.last_filter_error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone()
                .map_or(Value::Null, Value::from),
        );
        m.insert("lastTriggeredAt".into(), time(times.triggered));
        m.insert("lastSuccessAt".into(), time(times.success));
        m.insert("lastFailureAt".into(), time(times.failure));
        let auto = self.auto.record();
        m.insert("disabledAt".into(), time(auto.disabled_at));
        m.insert("failingSince".into(), time(auto.failing_since));
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_reported_once_read_from_the_store() {
        let stats = Stats::default();
        stats.triggered(Utc::now(), 1);
        let fields = stats.fields();
        for unknown in [
            "sent",
            "delivered",
            "failed",
            "pending",
            "consecutiveFailures",
        ] {
            assert!(
                !fields.contains_key(unknown),
                "{unknown} before it is known"
            );
        }
        stats.refresh(&DeliveryCounts {
            pending: 5,
            delivered: 3,
            failed: 1,
            dead: 1,
            attempts: 9,
        });
        let fields = stats.fields();
        assert_eq!(
            (
                &fields["sent"],
                &fields["delivered"],
                &fields["failed"],
                &fields["pending"]
            ),
            (
                &Value::from(9),
                &Value::from(3),
                &Value::from(2),
                &Value::from(5)
            )
        );
        assert!(!fields.contains_key("consecutiveFailures"));
        stats.attempted(Utc::now(), false, false);
        assert_eq!(stats.fields()["consecutiveFailures"], 1);
        assert_eq!(stats.fields()["sent"], 10);
    }
}
