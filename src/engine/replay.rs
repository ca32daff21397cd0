//! Replay: the stored events of a time range (optionally of some types) delivered again to a
//! subscription — one created after them included — as new deliveries marked with the
//! replay's id. A replay is idempotent: its id is the client's or derived from what it asks
//! (subscription, range, types), the store creates at most one delivery per replay and event,
//! and asking again for a replay that exists answers its progress (resuming it when this
//! process was stopped while it queued). Only events of the subscription's namespace that
//! its patterns and filter take are replayed. The queueing is paced at `--replay-rate`
//! deliveries per second ([`super::replay_run`]) and the dispatcher claims replayed
//! deliveries after live work, so a replay does not starve live traffic. This file holds the
//! types and the checks; [`super::replay_api`] the engine's entry points.

use std::collections::HashSet;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::store::{DeliveryCounts, EventCursor, StoreError};

use super::snapshot::ObjectKey;

/// Kind of the stored objects that hold replays (`Store::put_object`), named
/// `<subscription>/<replay id>` in the subscription's namespace.
pub const OBJECT_KIND: &str = "Replay";
/// Longest replay id a client may choose.
const MAX_ID_LEN: usize = 64;
/// Most event types one replay (or bulk retry) may name.
pub const MAX_TYPES: usize = 100;

/// What a replay asks for: the events received in `[since, until)`, optionally of some types.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplaySpec {
    /// Received at or after this time.
    pub since: DateTime<Utc>,
    /// Received before this time (not in the future).
    pub until: DateTime<Utc>,
    /// Only events of these types (exact); empty: every type the subscription takes.
    #[serde(default)]
    pub types: Vec<String>,
}

/// Where a replay is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReplayPhase {
    /// Reading the stored events and queueing deliveries (paced).
    Queueing,
    /// Every event of the range was read and its delivery queued; they are delivered as
    /// the counts show.
    Queued,
    /// Stopped: the subscription was deleted, or the store failed (see `error`); asking
    /// for the same replay again resumes it.
    Failed,
}

/// A replay as stored and answered by the admin API.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplayRecord {
    /// The replay's id (sent in the `switchboard-replay-id` header of its deliveries).
    pub id: String,
    /// The WebhookSubscription it delivers to.
    pub subscription: String,
    /// What it replays.
    #[serde(flatten)]
    pub spec: ReplaySpec,
    /// Deliveries queued per second at most.
    pub rate: u32,
    /// Where it is.
    pub phase: ReplayPhase,
    /// Stored events of the range read so far.
    pub scanned: u64,
    /// Of those, events the subscription takes (patterns and filter).
    pub matched: u64,
    /// Deliveries created (an event already queued by this replay is not queued again).
    pub queued: u64,
    /// The last event read (where a resumed replay goes on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<EventCursor>,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When its last event was queued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The replays running in this process, by (namespace, subscription, id).
#[derive(Debug, Default)]
pub struct RunningReplays(Mutex<HashSet<(String, String, String)>>);

impl RunningReplays {
    /// Marks a replay running; false when it already was.
    pub fn claim(&self, key: (String, String, String)) -> bool {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).insert(key)
    }

    /// Marks a replay not running.
    pub fn release(&self, key: &(String, String, String)) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
    }
}

/// A replay's record with the counts of its deliveries.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplayProgress {
    /// The stored record.
    #[serde(flatten)]
    pub record: ReplayRecord,
    /// Its deliveries by status.
    pub deliveries: DeliveryCounts,
    /// True when this request started (or resumed) it; false when it was already running
    /// or done.
    pub started: bool,
}

/// Why a replay (or bulk retry) was refused.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The request itself is wrong (400).
    #[error("{0}")]
    Invalid(String),
    /// No running subscription of that name (404).
    #[error("no running WebhookSubscription {0}")]
    NotFound(String),
    /// The id names a replay that asked for something else (409).
    #[error("replay {id:?} exists with another range or types ({existing}); choose another id")]
    Conflict {
        /// The id.
        id: String,
        /// What the existing one replays.
        existing: String,
    },
    /// The store failed (503).
    #[error("the store failed")]
    Store(#[from] StoreError),
}

/// Checks a requested time range: `since` before `until`, and `until` not in the future
/// (a replay is of stored events; a bulk retry of deliveries that exist).
pub fn check_range(
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), ReplayError> {
    if since >= until {
        return Err(ReplayError::Invalid(format!(
            "the range is empty or inverted: since {} is not before until {}",
            since.to_rfc3339(),
            until.to_rfc3339()
        )));
    }
    if until > now {
        return Err(ReplayError::Invalid(format!(
            "until {} is in the future; replay and retry take a closed range of the past",
            until.to_rfc3339()
        )));
    }
    Ok(())
}

/// Checks a list of event types: at most [`MAX_TYPES`], none empty.
pub fn check_types(types: &[String]) -> Result<(), ReplayError> {
    if types.len() > MAX_TYPES {
        return Err(ReplayError::Invalid(format!(
            "{} event types named; at most {MAX_TYPES}",
            types.len()
        )));
    }
    if types.iter().any(|t| t.trim().is_empty()) {
        return Err(ReplayError::Invalid("an event type is empty".into()));
    }
    Ok(())
}

/// The id of a replay: the client's (1 to 64 of `A-Z a-z 0-9 . _ -`), or derived from the
/// subscription and what is replayed, so the same request twice is the same replay.
pub fn replay_id(
    given: Option<&str>,
    key: &ObjectKey,
    spec: &ReplaySpec,
) -> Result<String, ReplayError> {
    if let Some(id) = given {
        let valid = !id.is_empty()
            && id.len() <= MAX_ID_LEN
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !valid {
            return Err(ReplayError::Invalid(format!(
                "replay id {id:?}: use 1 to {MAX_ID_LEN} letters, digits, '.', '_' or '-'"
            )));
        }
        return Ok(id.to_owned());
    }
    let mut types = spec.types.clone();
    types.sort();
    types.dedup();
    let mut hash = Sha256::new();
    for part in [
        key.namespace.as_str(),
        key.name.as_str(),
        &spec.since.to_rfc3339(),
        &spec.until.to_rfc3339(),
    ]
    .into_iter()
    .chain(types.iter().map(String::as_str))
    {
        hash.update(part.as_bytes());
        hash.update([0x1f]);
    }
    let digest = hash.finalize();
    Ok(format!("rpl_{}", hex::encode(&digest[..10])))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(types: &[&str]) -> ReplaySpec {
        ReplaySpec {
            since: "2026-01-01T00:00:00Z".parse().unwrap(),
            until: "2026-01-02T00:00:00Z".parse().unwrap(),
            types: types.iter().map(|t| t.to_string()).collect(),
        }
    }

    #[test]
    fn derived_ids_depend_on_what_is_replayed_only() {
        let key = ObjectKey::new("ns", "orders");
        let a = replay_id(None, &key, &spec(&["a", "b"])).unwrap();
        assert_eq!(a, replay_id(None, &key, &spec(&["b", "a", "a"])).unwrap());
        assert!(a.starts_with("rpl_") && a.len() == 24, "{a}");
        assert_ne!(a, replay_id(None, &key, &spec(&["a"])).unwrap());
        let other = ObjectKey::new("ns", "audit");
        assert_ne!(a, replay_id(None, &other, &spec(&["a", "b"])).unwrap());
        assert_eq!(
            replay_id(Some("mine-1"), &key, &spec(&[])).unwrap(),
            "mine-1"
        );
        for bad in ["", "a b", "x/y", &"x".repeat(65)] {
            assert!(matches!(
                replay_id(Some(bad), &key, &spec(&[])),
                Err(ReplayError::Invalid(_))
            ));
        }
    }

    #[test]
    fn ranges_must_be_closed_ordered_and_past() {
        let now: DateTime<Utc> = "2026-01-03T00:00:00Z".parse().unwrap();
        let s = spec(&[]);
        assert!(check_range(s.since, s.until, now).is_ok());
        assert!(check_range(s.until, s.since, now).is_err());
        assert!(check_range(s.since, s.since, now).is_err());
        assert!(check_range(s.since, now + chrono::Duration::hours(1), now).is_err());
        assert!(check_types(&[" ".into()]).is_err());
        assert!(check_types(&vec!["t".to_string(); MAX_TYPES + 1]).is_err());
    }
}
