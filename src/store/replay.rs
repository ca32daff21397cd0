//! What bulk retry and replay ask of the store: which finished deliveries of a target to put
//! back ([`RetryFilter`]), which stored events of a namespace to read back in order
//! ([`EventRange`], paged by [`EventCursor`]), and the replayed deliveries to create
//! ([`ReplayItem`]), at most one per replay, target and event.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::DeliveryStatus;

/// Which of a target's deliveries a bulk retry puts back to Pending.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryFilter {
    /// Failed and/or Dead (only those are ever retried: Pending work is left alone).
    pub statuses: Vec<DeliveryStatus>,
    /// Created at or after this time.
    pub since: DateTime<Utc>,
    /// Created before this time.
    pub until: DateTime<Utc>,
    /// Only deliveries of events of these types (exact); empty: every type.
    pub event_types: Vec<String>,
}

/// The stored events of a namespace received in `[since, until)`, optionally of some types.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRange {
    /// The namespace (events of no other are ever read).
    pub namespace: String,
    /// Received at or after this time.
    pub since: DateTime<Utc>,
    /// Received before this time.
    pub until: DateTime<Utc>,
    /// Only these types (exact); empty: every type.
    pub event_types: Vec<String>,
}

/// Where a page of [`EventRange`] left off: the last event read, in `(received_at, id)` order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventCursor {
    /// When the last event read was received.
    pub received_at: DateTime<Utc>,
    /// Its id.
    pub id: String,
}

/// One replayed delivery to create: the event it delivers again and when it is due.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayItem {
    /// The event's id (in the target's namespace).
    pub event_id: String,
    /// When the delivery is due.
    pub due_at: DateTime<Utc>,
}
