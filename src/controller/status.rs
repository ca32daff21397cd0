//! What to write into a resource's status, and when: conditions as soon as they change,
//! counters at most once per interval (coalesced), nothing when Kubernetes already has it.

use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use crate::api::{Kind, READY};
use crate::engine::ResourceStatus;

use super::kinds::normalize_status;

/// The status document for one resource, split into what is written at once and what waits.
#[derive(Clone, Debug, PartialEq)]
pub struct StatusDoc {
    /// observedGeneration and conditions: written as soon as they change.
    pub urgent: Value,
    /// Every other field (counters, timestamps, urls): written at most once per interval.
    pub counters: Map<String, Value>,
}

impl StatusDoc {
    /// The status from the engine's report, with each condition's lastTransitionTime taken
    /// from `current` (the status in Kubernetes) when its status has not changed.
    pub fn from_report(report: &ResourceStatus, current: &Value) -> Self {
        let mut conditions = serde_json::to_value(&report.conditions).unwrap_or_default();
        if let (Some(new), Some(old)) = (
            conditions.as_array_mut(),
            current.get("conditions").and_then(Value::as_array),
        ) {
            for c in new.iter_mut() {
                let same = old
                    .iter()
                    .find(|o| o["type"] == c["type"] && o["status"] == c["status"]);
                if let Some(o) = same {
                    c["lastTransitionTime"] = o["lastTransitionTime"].clone();
                }
            }
        }
        let mut urgent = Map::new();
        if let Some(g) = report.observed_generation {
            urgent.insert("observedGeneration".into(), g.into());
        }
        urgent.insert("conditions".into(), conditions);
        Self {
            urgent: Value::Object(urgent),
            counters: report.fields.clone(),
        }
    }

    /// The full status, normalized to the kind's type (counters defaulted).
    pub fn full(&self, kind: Kind) -> Value {
        let mut status = self.counters.clone();
        if let Value::Object(urgent) = &self.urgent {
            status.extend(urgent.clone());
        }
        normalize_status(kind, Value::Object(status))
    }

    /// "True", "False" or "Unknown": the Ready condition's status.
    pub fn ready(&self) -> &str {
        ready_of(&self.urgent)
    }
}

/// Status fields the engine measures again after a restart (delivery counters it reads back
/// from the store within a second or so, consecutive failures and the last-event times once
/// something happens): until the engine reports one, the value Kubernetes holds is written
/// back instead of the field's default (no `delivered 3 → 0 → 3` after a restart).
pub const CARRIED_FIELDS: &[&str] = &[
    "sent",
    "delivered",
    "failed",
    "pending",
    "consecutiveFailures",
    "lastTriggeredAt",
    "lastSuccessAt",
    "lastFailureAt",
];

/// The [`CARRIED_FIELDS`] `current` (a status in Kubernetes) has.
pub fn carried_from(current: &Value) -> Map<String, Value> {
    CARRIED_FIELDS
        .iter()
        .filter_map(|&name| {
            let value = current.get(name).filter(|v| !v.is_null())?;
            Some((name.to_owned(), value.clone()))
        })
        .collect()
}

impl StatusDoc {
    /// Adds the `carried` fields the engine does not report yet to the counters, and forgets
    /// from `carried` those it now reports (its value wins from then on).
    pub fn carry(&mut self, carried: &mut Map<String, Value>) {
        carried.retain(|name, _| !self.counters.contains_key(name));
        for (name, value) in carried.iter() {
            self.counters.insert(name.clone(), value.clone());
        }
    }
}

/// The Ready condition's status in a status JSON ("Unknown" when absent).
pub fn ready_of(status: &Value) -> &str {
    status
        .get("conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == READY))
        .and_then(|c| c["status"].as_str())
        .unwrap_or("Unknown")
}

/// What was last written for one resource.
#[derive(Clone, Debug)]
pub struct Written {
    /// The document written.
    pub doc: StatusDoc,
    /// When.
    pub at: Instant,
}

/// Whether to write a resource's status now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Write now.
    Write,
    /// Counters changed; write once this instant has passed.
    WaitUntil(Instant),
    /// Nothing changed.
    UpToDate,
}

/// Conditions change → write at once; only counters → at most once per `interval`.
pub fn decide(
    prev: Option<&Written>,
    doc: &StatusDoc,
    now: Instant,
    interval: Duration,
) -> Decision {
    let Some(prev) = prev else {
        return Decision::Write;
    };
    if prev.doc.urgent != doc.urgent {
        return Decision::Write;
    }
    if prev.doc.counters == doc.counters {
        return Decision::UpToDate;
    }
    let due = prev.at + interval;
    if now >= due {
        Decision::Write
    } else {
        Decision::WaitUntil(due)
    }
}

/// Delay before retry number `failures` (1-based) of a failed write: 1 s doubling to 5 min.
pub fn backoff(failures: u32) -> Duration {
    let secs = 1u64 << failures.saturating_sub(1).min(9);
    Duration::from_secs(secs.min(300))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::StatusBoard;
    use crate::engine::snapshot::ObjectKey;

    fn report(ok: bool, delivered: u64) -> ResourceStatus {
        let board = StatusBoard::new();
        let key = ObjectKey::new("ns", "s");
        let kind = Kind::WebhookSubscription;
        board.set_condition(kind, &key, Some(2), READY, ok, "R", "m");
        let mut fields = Map::new();
        fields.insert("delivered".into(), delivered.into());
        board.set_fields(kind, &key, fields);
        board.get(kind, &key).unwrap()
    }

    #[test]
    fn conditions_write_at_once_counters_wait_for_the_interval() {
        let t0 = Instant::now();
        let interval = Duration::from_secs(30);
        let first = StatusDoc::from_report(&report(true, 1), &Value::Null);
        assert_eq!(decide(None, &first, t0, interval), Decision::Write);
        let prev = Written {
            doc: first.clone(),
            at: t0,
        };
        assert_eq!(
            decide(Some(&prev), &first, t0, interval),
            Decision::UpToDate
        );
        let mut more = first.clone();
        more.counters.insert("delivered".into(), 5.into());
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(
            decide(Some(&prev), &more, t1, interval),
            Decision::WaitUntil(t0 + interval)
        );
        assert_eq!(
            decide(Some(&prev), &more, t0 + interval, interval),
            Decision::Write
        );
        let broken = StatusDoc::from_report(&report(false, 1), &Value::Null);
        assert_eq!(decide(Some(&prev), &broken, t1, interval), Decision::Write);
        assert_eq!(broken.ready(), "False");
    }

    #[test]
    fn transition_time_is_kept_from_kubernetes_when_status_is_unchanged() {
        let current = serde_json::json!({"conditions": [
            {"type": "Ready", "status": "True", "lastTransitionTime": "2020-01-01T00:00:00Z"}
        ]});
        let doc = StatusDoc::from_report(&report(true, 0), &current);
        assert_eq!(
            doc.urgent["conditions"][0]["lastTransitionTime"],
            "2020-01-01T00:00:00Z"
        );
        let doc = StatusDoc::from_report(&report(false, 0), &current);
        assert_ne!(
            doc.urgent["conditions"][0]["lastTransitionTime"],
            "2020-01-01T00:00:00Z"
        );
        let full = doc.full(Kind::WebhookSubscription);
        assert_eq!(full["observedGeneration"], 2);
        assert_eq!(full["failed"], 0);
    }

    #[test]
    fn counters_kubernetes_has_are_kept_until_the_engine_reports_them() {
        let current = serde_json::json!({
            "delivered": 3, "pending": 5, "sent": 9, "lastSuccessAt": "2020-01-01T00:00:00Z",
            "signingSecretRef": {"name": "old"}
        });
        let mut carried = carried_from(&current);
        assert!(!carried.contains_key("signingSecretRef"), "only counters");
        let mut report = report(true, 0);
        report.fields.remove("delivered");
        let mut doc = StatusDoc::from_report(&report, &current);
        doc.carry(&mut carried);
        let full = doc.full(Kind::WebhookSubscription);
        assert_eq!(
            (&full["delivered"], &full["pending"]),
            (&3.into(), &5.into())
        );
        assert_eq!(full["lastSuccessAt"], "2020-01-01T00:00:00Z");

        // Read from the store: the engine's values win and are no longer carried.
        let mut doc =
            StatusDoc::from_report(&report_with(&[("delivered", 4), ("pending", 0)]), &current);
        doc.carry(&mut carried);
        let full = doc.full(Kind::WebhookSubscription);
        assert_eq!(
            (&full["delivered"], &full["pending"]),
            (&4.into(), &0.into())
        );
        assert!(!carried.contains_key("pending"));
        assert_eq!(full["sent"], 9, "still carried");
    }

    fn report_with(fields: &[(&str, u64)]) -> ResourceStatus {
        let mut report = report(true, 0);
        report.fields = fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
            .collect();
        report
    }

    #[test]
    fn backoff_doubles_up_to_five_minutes() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(3), Duration::from_secs(4));
        assert_eq!(backoff(40), Duration::from_secs(300));
    }
}
