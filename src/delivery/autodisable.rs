//! Auto-disable: a subscription whose attempts have all failed, without one success, for a
//! configured period (and at least a number of attempts) is no longer attempted until it is
//! re-enabled; its pending deliveries wait in the store. The rule, the state of one target,
//! and its record in the store (an object of kind [`OBJECT_KIND`]), so a restart keeps it and
//! replicas sharing a PostgreSQL store see it.
//!
//! A route carries an *enable key* (the engine derives it from the spec and the re-enable
//! annotation); a record disabled under another key than the running route's is re-enabled.

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use super::health::HealthCondition;

/// The kind under which the records are kept with [`crate::store::Store::put_object`].
pub const OBJECT_KIND: &str = "AutoDisable";

/// Longest last error kept in a record.
const MAX_ERROR_CHARS: usize = 256;

/// When a target is disabled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AutoDisablePolicy {
    /// How long every attempt must have failed (from the first failure since the last
    /// success); zero never disables.
    pub after: Duration,
    /// Failed attempts (since the last success) needed as well.
    pub min_failures: u64,
}

impl Default for AutoDisablePolicy {
    fn default() -> Self {
        Self {
            after: Duration::from_secs(5 * 24 * 3600),
            min_failures: 10,
        }
    }
}

impl AutoDisablePolicy {
    /// True when a target not yet disabled with this record must be disabled at `now`.
    pub fn due(&self, record: &Record, now: DateTime<Utc>) -> bool {
        let Some(since) = record.failing_since else {
            return false;
        };
        let span = (now - since).to_std().unwrap_or_default();
        !self.after.is_zero()
            && record.disabled_at.is_none()
            && record.failures >= self.min_failures.max(1)
            && span >= self.after
    }
}

/// The failure streak of a target and whether it is disabled (as stored).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    /// The first failed attempt since the last success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<DateTime<Utc>>,
    /// Failed attempts since then (stored up to the policy's minimum).
    #[serde(default)]
    pub failures: u64,
    /// The last failed attempt's error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When it was disabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_at: Option<DateTime<Utc>>,
    /// The enable key of the route it was disabled under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_key: Option<String>,
}

impl Record {
    /// True when disabled under `key`.
    pub fn disabled_under(&self, key: &str) -> bool {
        self.disabled_at.is_some() && self.enable_key.as_deref() == Some(key)
    }

    /// True when disabled under another key than `key` (a spec change or the annotation
    /// re-enabled it).
    pub fn reenabled_by(&self, key: &str) -> bool {
        self.disabled_at.is_some() && self.enable_key.as_deref() != Some(key)
    }

    /// The Healthy condition of a disabled target.
    pub fn condition(&self) -> HealthCondition {
        let time = |t: Option<DateTime<Utc>>| {
            t.map_or_else(
                || "?".to_owned(),
                |t| t.to_rfc3339_opts(SecondsFormat::Secs, true),
            )
        };
        let span = match (self.failing_since, self.disabled_at) {
            (Some(since), Some(at)) => human((at - since).to_std().unwrap_or_default()),
            _ => "?".to_owned(),
        };
        HealthCondition::bad(
            "Disabled",
            format!(
                "disabled at {}: every delivery attempt failed for {span} (since {}, at least {} failed attempts, none succeeded; last error: {}); its pending deliveries are kept and no attempt is made until a change of spec or of the annotation {REENABLE_ANNOTATION} re-enables it",
                time(self.disabled_at),
                time(self.failing_since),
                self.failures,
                self.last_error.as_deref().unwrap_or("unknown"),
            ),
        )
    }
}

/// The annotation whose new value re-enables a disabled subscription.
pub const REENABLE_ANNOTATION: &str = "switchboard.dev/reenable";

/// A duration for a person: "5d 2h", "3h 10m", "42s".
fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {}s", s / 60, s % 60),
        3600..86400 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {}h", s / 86400, s % 86400 / 3600),
    }
}

/// What a failed attempt changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// Nothing to store.
    None,
    /// The streak to store.
    Store(Record),
    /// Disabled now: the record to store and report.
    Disabled(Record),
}

/// The auto-disable state of one target, in memory.
#[derive(Debug, Default)]
pub struct AutoState {
    record: Mutex<Record>,
}

impl AutoState {
    fn lock(&self) -> std::sync::MutexGuard<'_, Record> {
        self.record.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The record now.
    pub fn record(&self) -> Record {
        self.lock().clone()
    }

    /// True when disabled under `key`.
    pub fn disabled_under(&self, key: &str) -> bool {
        self.lock().disabled_under(key)
    }

    /// Forgets a record disabled under another key than `key` (the route changed since: a
    /// re-enable); true when it did.
    pub fn reenable(&self, key: &str) -> bool {
        let mut record = self.lock();
        if !record.reenabled_by(key) {
            return false;
        }
        *record = Record::default();
        true
    }

    /// A failed attempt at `now` on a route with `key`.
    pub fn failed(
        &self,
        policy: &AutoDisablePolicy,
        key: &str,
        now: DateTime<Utc>,
        error: &str,
    ) -> Change {
        let mut record = self.lock();
        if record.reenabled_by(key) {
            *record = Record::default();
        }
        if record.disabled_at.is_some() {
            return Change::None; // an attempt that was in flight when it was disabled
        }
        record.failing_since.get_or_insert(now);
        record.failures += 1;
        record.last_error = Some(error.chars().take(MAX_ERROR_CHARS).collect());
        if policy.due(&record, now) {
            record.disabled_at = Some(now);
            record.enable_key = Some(key.to_owned());
            return Change::Disabled(record.clone());
        }
        if record.failures <= policy.min_failures.max(1) {
            Change::Store(record.clone())
        } else {
            Change::None
        }
    }

    /// A successful attempt on a route with `key`; true when a stored record is to be
    /// deleted (the streak ended). A target disabled under `key` stays disabled.
    pub fn succeeded(&self, key: &str) -> bool {
        let mut record = self.lock();
        if record.disabled_under(key) || *record == Record::default() {
            return false;
        }
        *record = Record::default();
        true
    }

    /// Takes what the store holds for a target whose route has `key`: a record disabled
    /// under another key is dropped (re-enabled: true, delete it); one disabled under `key`,
    /// or any when nothing is known here yet (after a restart), is adopted.
    pub fn adopt(&self, stored: Record, key: &str) -> bool {
        let mut record = self.lock();
        if stored.reenabled_by(key) || record.reenabled_by(key) {
            *record = Record::default();
            return true;
        }
        if stored.disabled_at.is_some() || *record == Record::default() {
            *record = stored;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> AutoDisablePolicy {
        AutoDisablePolicy {
            after: Duration::from_secs(3600),
            min_failures: 3,
        }
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).expect("time")
    }

    #[test]
    fn one_failure_never_disables_even_after_the_period() {
        let state = AutoState::default();
        assert!(matches!(
            state.failed(&policy(), "k", at(0), "HTTP 500"),
            Change::Store(_)
        ));
        let mut record = state.record();
        assert!(!policy().due(&record, at(10 * 3600)));
        record.failures = 3;
        assert!(policy().due(&record, at(3600)));
    }

    #[test]
    fn many_failures_within_the_period_do_not_disable() {
        let state = AutoState::default();
        for i in 0..100 {
            let change = state.failed(&policy(), "k", at(i * 30), "HTTP 500");
            assert!(!matches!(change, Change::Disabled(_)), "attempt {i}");
        }
        assert_eq!(state.record().failing_since, Some(at(0)));
    }

    #[test]
    fn a_success_within_the_period_restarts_the_streak() {
        let state = AutoState::default();
        for i in 0..5 {
            state.failed(&policy(), "k", at(i * 600), "HTTP 500");
        }
        assert!(state.succeeded("k"), "the stored streak is deleted");
        assert!(!state.succeeded("k"), "nothing left to delete");
        for i in 0..5 {
            let change = state.failed(&policy(), "k", at(3000 + i * 600), "HTTP 500");
            assert!(!matches!(change, Change::Disabled(_)));
        }
        assert_eq!(state.record().failing_since, Some(at(3000)));
    }

    #[test]
    fn failures_spanning_the_period_disable_until_the_key_changes() {
        let state = AutoState::default();
        for i in 0..3 {
            state.failed(&policy(), "k", at(i * 60), "HTTP 500");
        }
        let Change::Disabled(record) = state.failed(&policy(), "k", at(3600), "HTTP 503") else {
            panic!("not disabled");
        };
        assert_eq!(record.disabled_at, Some(at(3600)));
        assert_eq!(record.failures, 4);
        assert!(state.disabled_under("k"));
        assert!(!state.succeeded("k"), "a late success does not re-enable");
        assert_eq!(state.failed(&policy(), "k", at(3700), "x"), Change::None);
        let message = record.condition().message;
        assert!(
            message.contains("1h 0m") && message.contains("pending"),
            "{message}"
        );
        // A new key (spec or annotation changed) re-enables it.
        assert!(!state.disabled_under("k2"));
        assert!(
            !state.reenable("k"),
            "not under the key it was disabled under"
        );
        assert!(state.reenable("k2"));
        assert!(!state.reenable("k2"), "once");
        assert!(matches!(
            state.failed(&policy(), "k2", at(3800), "x"),
            Change::Store(r) if r.failures == 1 && r.disabled_at.is_none()
        ));
    }

    #[test]
    fn a_stored_record_is_adopted_after_a_restart_or_dropped_when_reenabled() {
        let disabled = Record {
            failing_since: Some(at(0)),
            failures: 3,
            disabled_at: Some(at(3600)),
            enable_key: Some("k".into()),
            last_error: None,
        };
        let state = AutoState::default();
        assert!(!state.adopt(disabled.clone(), "k"));
        assert!(state.disabled_under("k"));
        let fresh = AutoState::default();
        assert!(fresh.adopt(disabled, "k2"), "re-enabled: delete the record");
        assert_eq!(fresh.record(), Record::default());
    }

    #[test]
    fn zero_never_disables() {
        let off = AutoDisablePolicy {
            after: Duration::ZERO,
            min_failures: 1,
        };
        let record = Record {
            failing_since: Some(at(0)),
            failures: 1000,
            ..Record::default()
        };
        assert!(!off.due(&record, at(365 * 86400)));
    }
}
