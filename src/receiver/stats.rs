//! Per-endpoint request counters, kept across rebuilds of the endpoint, and the status fields
//! they make.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

/// How a request ended, for counters and metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Verified and committed.
    Accepted,
    /// A duplicate of a recent request: answered 200, not routed again.
    Duplicate,
    /// Verified, but its event type is outside the allowlist: answered 202, not routed.
    Ignored,
    /// Refused because of the request (signature, source, size, body); the reason code.
    Rejected(&'static str),
    /// Failed inside Switchboard (store, transformation); the reason code.
    Failed(&'static str),
}

impl Outcome {
    /// The `outcome` metric label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Duplicate => "duplicate",
            Self::Ignored => "ignored",
            Self::Rejected(_) => "rejected",
            Self::Failed(_) => "failed",
        }
    }
}

/// Counters of one endpoint.
#[derive(Debug, Default)]
pub struct EndpointStats {
    received: AtomicU64,
    accepted: AtomicU64,
    rejected: AtomicU64,
    failed: AtomicU64,
    ignored: AtomicU64,
    last_received_ms: AtomicI64,
}

impl EndpointStats {
    /// Counts one request that ended with `outcome` at `at`.
    pub fn record(&self, outcome: Outcome, at: DateTime<Utc>) {
        self.received.fetch_add(1, Ordering::Relaxed);
        let counter = match outcome {
            Outcome::Accepted => &self.accepted,
            Outcome::Duplicate | Outcome::Ignored => &self.ignored,
            Outcome::Rejected(_) => &self.rejected,
            Outcome::Failed(_) => &self.failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        self.last_received_ms
            .fetch_max(at.timestamp_millis(), Ordering::Relaxed);
    }

    /// The counters as WebhookEndpoint status fields.
    pub fn fields(&self) -> Map<String, Value> {
        let get = |c: &AtomicU64| Value::from(c.load(Ordering::Relaxed));
        let mut out = Map::new();
        out.insert("received".into(), get(&self.received));
        out.insert("accepted".into(), get(&self.accepted));
        out.insert("rejected".into(), get(&self.rejected));
        out.insert("failed".into(), get(&self.failed));
        out.insert("ignored".into(), get(&self.ignored));
        let last = self.last_received_ms.load(Ordering::Relaxed);
        if let Some(at) = DateTime::<Utc>::from_timestamp_millis(last).filter(|_| last > 0) {
            out.insert(
                "lastReceivedAt".into(),
                at.to_rfc3339_opts(SecondsFormat::Secs, true).into(),
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn outcomes_land_in_their_counter() {
        let stats = EndpointStats::default();
        assert!(!stats.fields().contains_key("lastReceivedAt"));
        let at = DateTime::parse_from_rfc3339("2024-05-01T10:00:00Z")
            .unwrap()
            .to_utc();
        for o in [
            Outcome::Accepted,
            Outcome::Duplicate,
            Outcome::Ignored,
            Outcome::Rejected("bad_signature"),
            Outcome::Failed("store_unavailable"),
        ] {
            stats.record(o, at);
        }
        assert_eq!(
            Value::Object(stats.fields()),
            json!({"received": 5, "accepted": 1, "rejected": 1, "failed": 1, "ignored": 2,
                   "lastReceivedAt": "2024-05-01T10:00:00Z"})
        );
    }
}
