//! Durable state behind one trait: events, deliveries and their attempts, dedup keys, sync
//! state. Two implementations: SQLite (embedded default) and PostgreSQL (shared by replicas).
//! [`open`] picks one from a URL; both commit acceptances through a [`GroupCommitter`].

mod batch;
mod codec;
pub mod context;
mod group_commit;
pub mod payload;
mod postgres;
pub mod replay;
mod sqlite;
#[cfg(test)]
mod suite;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Largest response body kept per attempt.
pub const MAX_ATTEMPT_BODY_BYTES: usize = 16 * 1024;

/// A store error, with the operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database reported an error.
    #[error("{op}")]
    Database {
        /// What the store was doing.
        op: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// The SQLite writer connection reported an error.
    #[error("{op}")]
    Sqlite {
        /// What the store was doing.
        op: &'static str,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// Applying the schema migrations failed.
    #[error("migrating the store")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The store URL is not understood.
    #[error("unsupported store URL {0:?}: use sqlite:///path/to/file.db or postgres://…")]
    UnsupportedUrl(String),
    /// A stored value could not be decoded.
    #[error("corrupt {what} in the store: {detail}")]
    Corrupt {
        /// What was being read.
        what: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// The store is shutting down and takes no more work.
    #[error("the store is closed")]
    Closed,
    /// The transaction of a group commit failed; every acceptance in it was rolled back.
    #[error("group commit failed, nothing in the batch was stored")]
    GroupCommit(#[source] Arc<StoreError>),
    /// An attempt was reported for a delivery the store does not have.
    #[error("unknown delivery {0:?}")]
    UnknownDelivery(String),
    /// The store did not answer in time.
    #[error("{op}: no answer within {after:?}")]
    Timeout {
        /// What the store was doing.
        op: &'static str,
        /// How long it waited.
        after: Duration,
    },
    /// The store could not be reached at its last health probe; nothing was tried.
    #[error("the store is unavailable: {reason}")]
    Unavailable {
        /// The probe's error, rendered.
        reason: String,
    },
    /// Another process has the SQLite database open: two writers would corrupt its queue.
    #[error(
        "the store {path} is in use by another Switchboard process (it holds {lock}); stop it, or give this one another --data-dir"
    )]
    InUse {
        /// The database file.
        path: String,
        /// The lock file the other process holds.
        lock: String,
    },
    /// A file of the store could not be created, locked or restricted.
    #[error("{op} {path}")]
    File {
        /// What the store was doing.
        op: &'static str,
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl StoreError {
    /// Wraps a driver error with the operation that failed (for `map_err`).
    pub(crate) fn db(op: &'static str) -> impl FnOnce(sqlx::Error) -> Self {
        move |source| Self::Database { op, source }
    }

    /// Wraps an error of the SQLite writer connection with the operation that failed.
    pub(crate) fn sqlite(op: &'static str) -> impl FnOnce(rusqlite::Error) -> Self {
        move |source| Self::Sqlite { op, source }
    }
}

pub use context::{DataEncoding, EventContext};
pub use group_commit::{BatchWriter, GroupCommitter};
pub use payload::{Payload, PayloadError};
pub use replay::{EventCursor, EventRange, ReplayItem, RetryFilter};

/// Opens the store at `url_or_path` and applies its migrations: `postgres://…` (or
/// `postgresql://…`) for PostgreSQL; `sqlite:///path/file.db`, `sqlite:path` or a plain path
/// for SQLite (the file is created when missing; its directory must exist).
pub async fn open(url_or_path: &str) -> Result<Arc<dyn Store>, StoreError> {
    if url_or_path.starts_with("postgres://") || url_or_path.starts_with("postgresql://") {
        return Ok(Arc::new(postgres::PgStore::open(url_or_path).await?));
    }
    let path = url_or_path
        .strip_prefix("sqlite://")
        .or_else(|| url_or_path.strip_prefix("sqlite:"))
        .unwrap_or(url_or_path);
    if path.is_empty() || path.contains("://") {
        return Err(StoreError::UnsupportedUrl(url_or_path.to_string()));
    }
    Ok(Arc::new(sqlite::SqliteStore::open(path.as_ref()).await?))
}

/// What a delivery delivers to: a subscription, or an endpoint's forward route.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Target {
    /// Namespace of the resource.
    pub namespace: String,
    /// `subscription` or `forward`.
    pub kind: TargetKind,
    /// Name of the WebhookSubscription or WebhookEndpoint.
    pub name: String,
}

/// What the name of a dead-letter queue ends with: the owner's name and this (no Kubernetes
/// name has a slash, so it never names a resource).
pub const DEAD_LETTER_SUFFIX: &str = "/dead-letter";

impl Target {
    /// The queue of this target's dead letters sent to a URL.
    pub fn dead_letters(&self) -> Target {
        Target {
            namespace: self.namespace.clone(),
            kind: self.kind,
            name: format!("{}{DEAD_LETTER_SUFFIX}", self.name),
        }
    }

    /// True for a dead-letter queue (no resource of its own).
    pub fn is_dead_letter_queue(&self) -> bool {
        self.name.ends_with(DEAD_LETTER_SUFFIX)
    }
}

/// Kinds of delivery target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    /// A WebhookSubscription.
    Subscription,
    /// A WebhookEndpoint's route.forward.
    Forward,
}

impl TargetKind {
    /// The kind with this stored spelling.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Subscription, Self::Forward]
            .into_iter()
            .find(|kind| kind.as_str() == s)
    }

    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Subscription => "subscription",
            Self::Forward => "forward",
        }
    }
}

/// An event to store.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewEvent {
    /// Unique per namespace (client-chosen or generated); the same id twice is stored once.
    pub id: String,
    /// Namespace the event belongs to.
    pub namespace: String,
    /// Event type ("invoice.paid").
    pub event_type: String,
    /// Who produced it ("publish-api", "endpoint/stripe-events", "sync/crm-contacts").
    pub source: String,
    /// The payload: the JSON text as received, or the transformed payload's.
    pub payload: Payload,
    /// When it was accepted.
    pub received_at: DateTime<Utc>,
    /// A CloudEvent's context (`EventContext` as JSON: its attributes and how the payload
    /// holds the data); None for an event that did not arrive as a CloudEvent.
    pub context: Option<Payload>,
}

/// A new event id: time-ordered and unique.
pub fn new_event_id() -> String {
    format!("evt_{}", uuid::Uuid::now_v7().simple())
}

/// A dedup key remembered until `expires_at`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DedupKey {
    /// Namespace.
    pub namespace: String,
    /// Scope within the namespace (e.g. "endpoint/stripe-events").
    pub scope: String,
    /// The id seen.
    pub key: String,
    /// When the key may be forgotten.
    pub expires_at: DateTime<Utc>,
}

/// One unit of durable acceptance: an event, its fan-out, and an optional dedup key, committed
/// together (or not at all).
#[derive(Clone, Debug, PartialEq)]
pub struct Acceptance {
    /// The event.
    pub event: NewEvent,
    /// One delivery per matching target, due at once.
    pub targets: Vec<Target>,
    /// Inbound dedup key; when already present and unexpired, nothing is stored.
    pub dedup: Option<DedupKey>,
}

/// What happened to an acceptance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Accepted {
    /// Stored now, with this many deliveries.
    Stored {
        /// Deliveries created.
        deliveries: usize,
    },
    /// An event with the same namespace and id was already stored; nothing was added.
    DuplicateId,
    /// The dedup key was already present; nothing was added.
    DuplicateKey,
}

/// Lifecycle of a delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DeliveryStatus {
    /// Waiting for its next attempt.
    Pending,
    /// Claimed by a worker (until its lease expires).
    Delivering,
    /// Succeeded.
    Delivered,
    /// Failed without retry (4xx, 3xx, transformation error, dropped).
    Failed,
    /// Every retry failed; replayable.
    Dead,
}

impl DeliveryStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [Self; 5] = [
        Self::Pending,
        Self::Delivering,
        Self::Delivered,
        Self::Failed,
        Self::Dead,
    ];

    /// The status with this stored spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }

    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Delivering => "Delivering",
            Self::Delivered => "Delivered",
            Self::Failed => "Failed",
            Self::Dead => "Dead",
        }
    }
}

/// A delivery claimed by a worker, with what it needs to make the attempt.
#[derive(Clone, Debug, PartialEq)]
pub struct ClaimedDelivery {
    /// Delivery id (stable across retries).
    pub id: String,
    /// Where it goes.
    pub target: Target,
    /// Attempts already made.
    pub attempts: u32,
    /// The event, shared by the deliveries of one fan-out.
    pub event: Arc<NewEvent>,
    /// The replay that created it (none for live work).
    pub replay: Option<String>,
}

/// The record of one attempt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttemptRecord {
    /// When the request started.
    pub started_at: DateTime<Utc>,
    /// Wall time of the attempt.
    pub duration_ms: u64,
    /// "POST https://host/path" (no secrets, no query string values).
    pub request: String,
    /// Response status, when a response came.
    pub response_status: Option<u16>,
    /// Response headers (lower-case names).
    pub response_headers: Vec<(String, String)>,
    /// First 16 KiB of the response body.
    pub response_body: String,
    /// Transport or processing error.
    pub error: Option<String>,
}

/// An attempt to record with the delivery's new state; completions are group-committed.
#[derive(Clone, Debug)]
pub struct Completion {
    /// The delivery attempted.
    pub delivery_id: String,
    /// The attempt.
    pub attempt: AttemptRecord,
    /// The delivery's new state.
    pub outcome: Outcome,
}

impl Completion {
    /// True when no delivery appears twice in `batch`, so one bulk statement can record it
    /// (otherwise the backends record it attempt by attempt, in order).
    pub(crate) fn all_distinct(batch: &[Completion]) -> bool {
        let ids: std::collections::HashSet<&str> =
            batch.iter().map(|c| c.delivery_id.as_str()).collect();
        ids.len() == batch.len()
    }
}

/// What becomes of a delivery after an attempt.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Done.
    Delivered,
    /// Try again at this time.
    Retry {
        /// When the next attempt is due.
        at: DateTime<Utc>,
    },
    /// No retry.
    Failed,
    /// Retries exhausted.
    Dead,
}

/// A delivery as listed by the admin API.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryRecord {
    /// Delivery id.
    pub id: String,
    /// Event id.
    pub event_id: String,
    /// Event type.
    pub event_type: String,
    /// Status.
    pub status: DeliveryStatus,
    /// Attempts made.
    pub attempts: u32,
    /// When the delivery was created.
    pub created_at: DateTime<Utc>,
    /// When the next attempt is due (Pending only).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The last error.
    pub last_error: Option<String>,
    /// The replay that created it (none for live work).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_id: Option<String>,
    /// Attempts, oldest first.
    pub attempt_log: Vec<AttemptRecord>,
}

/// Which deliveries a listing selects (besides its target and cursor).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeliveryFilter {
    /// Only deliveries of this status.
    pub status: Option<DeliveryStatus>,
    /// Only deliveries of events of this type.
    pub event_type: Option<String>,
}

impl DeliveryFilter {
    /// Deliveries of one status (or all).
    pub fn status(status: Option<DeliveryStatus>) -> Self {
        Self {
            status,
            event_type: None,
        }
    }
}

/// The smallest delivery id that sorts after every delivery created before `at` (delivery
/// ids are UUIDv7, whose first 48 bits are the creation time in milliseconds): as a listing's
/// `after` cursor it starts the page at `at`, as a lower bound it selects what came since.
pub fn id_bound(at: DateTime<Utc>) -> String {
    let ms = u64::try_from(at.timestamp_millis()).unwrap_or(0) & 0xffff_ffff_ffff;
    format!(
        "{:08x}-{:04x}-0000-0000-000000000000",
        ms >> 16,
        ms & 0xffff
    )
}

/// One delivery with what the console shows of it.
#[derive(Clone, Debug, PartialEq)]
pub struct DeliveryDetail {
    /// The delivery and its attempts.
    pub record: DeliveryRecord,
    /// Who produced its event.
    pub source: String,
    /// Its event's payload, as stored.
    pub payload: Payload,
}

/// Attempts started within one bucket of time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeriesBucket {
    /// Start of the bucket.
    pub start: DateTime<Utc>,
    /// Attempts made.
    pub attempts: u64,
    /// Attempts that failed (no 2xx response).
    pub failures: u64,
    /// Sum of their durations, in milliseconds.
    pub total_ms: u64,
    /// The longest of them, in milliseconds.
    pub max_ms: u64,
}

/// Count of deliveries of one target by status.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryCounts {
    /// Pending (including Delivering).
    pub pending: u64,
    /// Delivered.
    pub delivered: u64,
    /// Failed.
    pub failed: u64,
    /// Dead.
    pub dead: u64,
    /// Attempts made, over the deliveries still stored.
    pub attempts: u64,
}

/// Persisted state of a sync schedule.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncState {
    /// The incremental watermark of the last successful run.
    pub watermark: Option<String>,
    /// When the last run was scheduled.
    pub last_schedule_time: Option<DateTime<Utc>>,
    /// When the last successful run completed.
    pub last_successful_time: Option<DateTime<Utc>>,
}

/// Records removed by a purge.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Purged {
    /// Deliveries (with their attempts) removed.
    pub deliveries: u64,
    /// Events removed (those with no delivery left).
    pub events: u64,
    /// Dedup keys removed.
    pub dedup_keys: u64,
}

/// The durable store.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Commits acceptances together (group commit); the result for each is in input order.
    /// Returns only once everything is durable.
    async fn accept(&self, batch: Vec<Acceptance>) -> Result<Vec<Accepted>, StoreError>;

    /// Like [`Store::accept`], but the deliveries it creates are created claimed (Delivering,
    /// leased for `lease` from now) and handed back with each result, so the caller attempts
    /// them at once without a claim query. If the caller dies first they are claimed again
    /// once the lease expires, like any claim.
    async fn accept_claimed(
        &self,
        batch: Vec<Acceptance>,
        lease: Duration,
    ) -> Result<Vec<(Accepted, Vec<ClaimedDelivery>)>, StoreError>;

    /// Claims up to `limit` deliveries that are due at `now` (Pending with next_attempt_at ≤
    /// now, or Delivering with an expired lease), skipping `busy` targets; each is leased to
    /// the caller for `lease`. With several processes, a delivery is claimed by one at a time.
    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        limit: usize,
        lease: Duration,
        busy: &[Target],
    ) -> Result<Vec<ClaimedDelivery>, StoreError>;

    /// Extends to `now + lease` the leases of those of `ids` that are still Delivering (the
    /// deliveries this process holds claimed or in flight); returns how many were renewed.
    async fn renew(
        &self,
        ids: &[String],
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<u64, StoreError>;

    /// At start, before dispatching: makes the deliveries a previous process left Delivering
    /// Pending again, due at `now`, when this process is the store's only user (SQLite, whose
    /// data directory one process owns); a shared store (PostgreSQL) leaves them to their
    /// leases, which other processes may still hold. Returns how many were taken back.
    async fn reclaim_abandoned(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;

    /// One cheap round trip to the store, bounded in time (the health probe).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Records an attempt and the delivery's new state.
    async fn complete(
        &self,
        delivery_id: &str,
        attempt: AttemptRecord,
        outcome: Outcome,
    ) -> Result<(), StoreError>;

    /// Gives a claimed (Delivering) delivery back unattempted: Pending again, due at `at`,
    /// with no attempt recorded (breaker open, shutting down, target not running here).
    /// False when it is not Delivering any more.
    async fn release(&self, delivery_id: &str, at: DateTime<Utc>) -> Result<bool, StoreError>;

    /// Puts a delivery back to Pending, due now (admin retry of a Failed or Dead delivery).
    /// False when there is no such delivery of that target.
    async fn retry(&self, target: &Target, delivery_id: &str) -> Result<bool, StoreError>;

    /// Bulk retry: puts up to `limit` of the target's deliveries that `filter` selects (only
    /// Failed or Dead ones) back to Pending, due now, oldest first; returns how many.
    /// Repeating it changes nothing for those already put back (they are Pending).
    async fn retry_matching(
        &self,
        target: &Target,
        filter: &RetryFilter,
        limit: usize,
    ) -> Result<u64, StoreError>;

    /// Up to `limit` stored events of `range` after `after` (or from its start), in
    /// `(received_at, id)` order, with their payloads.
    async fn events_between(
        &self,
        range: &EventRange,
        after: Option<&EventCursor>,
        limit: usize,
    ) -> Result<Vec<NewEvent>, StoreError>;

    /// Creates a Pending delivery of `target` for each item's event (of the target's
    /// namespace), marked with `replay_id`, unless this replay already has one for that
    /// event (or the event is gone); returns how many were created.
    async fn enqueue_replay(
        &self,
        target: &Target,
        replay_id: &str,
        items: Vec<ReplayItem>,
    ) -> Result<u64, StoreError>;

    /// Counts of the deliveries one replay created for a target, by status.
    async fn replay_counts(
        &self,
        target: &Target,
        replay_id: &str,
    ) -> Result<DeliveryCounts, StoreError>;

    /// Marks every Pending delivery of a target Failed with `reason` (target deleted);
    /// returns how many were dropped.
    async fn drop_pending(&self, target: &Target, reason: &str) -> Result<u64, StoreError>;

    /// Deliveries of a target, newest first, those `filter` selects, after a cursor (a
    /// delivery id from a previous page, or [`id_bound`] of a time), with their attempts.
    async fn list_deliveries(
        &self,
        target: &Target,
        filter: &DeliveryFilter,
        limit: usize,
        after: Option<&str>,
    ) -> Result<Vec<DeliveryRecord>, StoreError>;

    /// The attempts of one delivery, oldest first (empty when there is no such delivery);
    /// a dead letter's summary is made of them.
    async fn attempts(&self, delivery_id: &str) -> Result<Vec<AttemptRecord>, StoreError>;

    /// One delivery of a target with its attempts and its event's payload; `None` when the
    /// target has no such delivery.
    async fn delivery(
        &self,
        target: &Target,
        id: &str,
    ) -> Result<Option<DeliveryDetail>, StoreError>;

    /// The attempts of the target's deliveries created since `since`, counted in buckets of
    /// `bucket` by the attempts' start (oldest bucket first, empty buckets left out): what
    /// the console's charts draw. Read through the target's index by delivery id.
    async fn attempt_series(
        &self,
        target: &Target,
        since: DateTime<Utc>,
        bucket: Duration,
    ) -> Result<Vec<SeriesBucket>, StoreError>;

    /// Delivery counts of a target by status.
    async fn delivery_counts(&self, target: &Target) -> Result<DeliveryCounts, StoreError>;

    /// Count of deliveries by status over all targets (for metrics).
    async fn queue_depth(&self) -> Result<Vec<(DeliveryStatus, u64)>, StoreError>;

    /// Stored state of a sync schedule.
    async fn sync_state(&self, namespace: &str, schedule: &str) -> Result<SyncState, StoreError>;

    /// Replaces the stored state of a sync schedule.
    async fn put_sync_state(
        &self,
        namespace: &str,
        schedule: &str,
        state: &SyncState,
    ) -> Result<(), StoreError>;

    /// Removes Delivered/Failed/Dead deliveries finished before `before`, events left without
    /// deliveries and older than `before`, and expired dedup keys.
    async fn purge(&self, before: DateTime<Utc>) -> Result<Purged, StoreError>;

    /// Stores a standalone-mode object (e.g. a SyncJob with its status) as JSON, replacing
    /// the previous one of the same kind, namespace and name.
    async fn put_object(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
        value: &serde_json::Value,
    ) -> Result<(), StoreError>;

    /// Objects of a kind, in one namespace or all, ordered by namespace and name.
    async fn list_objects(
        &self,
        kind: &str,
        namespace: Option<&str>,
    ) -> Result<Vec<serde_json::Value>, StoreError>;

    /// Deletes an object; false when there was none.
    async fn delete_object(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Result<bool, StoreError>;
}
