//! SQLite backend: one database file in WAL mode with `synchronous=FULL`, so an acceptance
//! survives a killed process and a power loss. Leases and attempt records are committed with
//! `synchronous=NORMAL` (they survive a killed process; losing them with the machine only makes
//! a delivery run again). One writer connection (SQLite has one writer anyway) on a thread of
//! its own ([`writer`], rusqlite), shared by the group committers and the other writes; a small
//! pool of sqlx readers beside it. Migrations run on a sqlx connection before the writer opens.

mod accept;
mod console;
mod lease;
mod lock;
mod read;
mod replay;
mod state;
#[cfg(test)]
mod tests;
mod work;
mod writer;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::batch::{self, AcceptedWork, Accepting};
use super::codec;
use super::{
    Acceptance, Accepted, AttemptRecord, ClaimedDelivery, Completion, DeliveryCounts,
    DeliveryDetail, DeliveryFilter, DeliveryRecord, DeliveryStatus, EventCursor, EventRange,
    GroupCommitter, NewEvent, Outcome, Purged, ReplayItem, RetryFilter, SeriesBucket, Store,
    StoreError, SyncState, Target,
};

/// Acceptances (or attempt records) committed per transaction at most.
const MAX_BATCH: usize = 512;
/// How long a batch of attempt records waits for more before it is committed (the attempt
/// has been made and its queue slot freed; only the record waits).
const COMPLETION_LINGER: Duration = Duration::from_millis(5);
/// Connections in the read pool.
const READERS: u32 = 4;
/// How long a health probe may take.
const PING_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a connection waits for a lock held by another process before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The SQLite store.
pub(crate) struct SqliteStore {
    /// The exclusive lock on the database file, held as long as the store is open.
    _lock: Option<lock::StoreLock>,
    writer: Arc<writer::WriterThread>,
    reader: SqlitePool,
    committer: GroupCommitter<Accepting, AcceptedWork>,
    completions: GroupCommitter<Completion, bool>,
}

impl SqliteStore {
    /// Opens (creating when missing) the database file at `path` and migrates it.
    /// Refuses (`StoreError::InUse`) while another process has it open.
    pub(crate) async fn open(path: &Path) -> Result<Self, StoreError> {
        let lock = lock::StoreLock::acquire(path)?;
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
            // temp_store stays FILE, so a large sort or temporary b-tree spills to disk instead
            // of RAM. (With MEMORY, the claim query of the time, which sorted every due row,
            // held ~80 MiB with a million pending retries; the claim now walks partial
            // indexes and MEMORY has not been measured again.)
            .foreign_keys(true);
        let migrating = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .map_err(StoreError::db("opening the SQLite database"))?;
        sqlx::migrate!("migrations/sqlite").run(&migrating).await?;
        migrating.close().await;
        let writer = Arc::new(writer::WriterThread::open(path, BUSY_TIMEOUT)?);
        // Connections are local and long-lived: no ping on every acquire.
        let reader = SqlitePoolOptions::new()
            .max_connections(READERS)
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .map_err(StoreError::db("opening the SQLite read pool"))?;
        let committer = GroupCommitter::spawn(accept::SqliteWriter(writer.clone()), MAX_BATCH);
        let completions = GroupCommitter::spawn_lingering(
            work::CompletionWriter(writer.clone()),
            MAX_BATCH,
            COMPLETION_LINGER,
        );
        Ok(Self {
            _lock: lock,
            writer,
            reader,
            committer,
            completions,
        })
    }
}

/// A time as stored: microseconds since the Unix epoch.
fn us(time: DateTime<Utc>) -> i64 {
    time.timestamp_micros()
}

/// A stored time back as a `DateTime`.
fn time(micros: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(micros).ok_or_else(|| StoreError::Corrupt {
        what: "timestamp",
        detail: format!("{micros} µs is out of range"),
    })
}

/// An optional stored time back as a `DateTime`.
fn opt_time(micros: Option<i64>) -> Result<Option<DateTime<Utc>>, StoreError> {
    micros.map(time).transpose()
}

#[async_trait]
impl Store for SqliteStore {
    async fn accept(&self, batch: Vec<Acceptance>) -> Result<Vec<Accepted>, StoreError> {
        let done = batch::submit(&self.committer, batch, None).await?;
        Ok(done.into_iter().map(|(accepted, _)| accepted).collect())
    }

    async fn accept_claimed(
        &self,
        batch: Vec<Acceptance>,
        lease: Duration,
    ) -> Result<Vec<AcceptedWork>, StoreError> {
        batch::submit(&self.committer, batch, Some(lease)).await
    }

    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        limit: usize,
        lease: Duration,
        busy: &[Target],
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        work::claim_due(&self.writer, &self.reader, now, limit, lease, busy).await
    }

    async fn renew(
        &self,
        ids: &[String],
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<u64, StoreError> {
        lease::renew(&self.writer, ids, codec::lease_until(now, lease)).await
    }

    async fn reclaim_abandoned(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        lease::reclaim_all(&self.writer, now).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        // A local file: reachable while the reader pool can run a statement.
        let probe = sqlx::query("SELECT 1").execute(&self.reader);
        match tokio::time::timeout(PING_TIMEOUT, probe).await {
            Ok(done) => done.map(drop).map_err(StoreError::db("pinging the store")),
            Err(_) => Err(StoreError::Timeout {
                op: "pinging the store",
                after: PING_TIMEOUT,
            }),
        }
    }

    async fn complete(
        &self,
        delivery_id: &str,
        attempt: AttemptRecord,
        outcome: Outcome,
    ) -> Result<(), StoreError> {
        let completion = Completion {
            delivery_id: delivery_id.to_owned(),
            attempt,
            outcome,
        };
        match self.completions.submit(vec![completion]).await?[..] {
            [true] => Ok(()),
            _ => Err(StoreError::UnknownDelivery(delivery_id.to_owned())),
        }
    }

    async fn release(&self, delivery_id: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        work::release(&self.writer, delivery_id, at).await
    }

    async fn retry(&self, target: &Target, delivery_id: &str) -> Result<bool, StoreError> {
        work::retry(&self.writer, target, delivery_id, Utc::now()).await
    }

    async fn retry_matching(
        &self,
        target: &Target,
        filter: &RetryFilter,
        limit: usize,
    ) -> Result<u64, StoreError> {
        replay::retry_matching(&self.writer, target, filter, limit, Utc::now()).await
    }

    async fn events_between(
        &self,
        range: &EventRange,
        after: Option<&EventCursor>,
        limit: usize,
    ) -> Result<Vec<NewEvent>, StoreError> {
        replay::events_between(&self.reader, range, after, limit).await
    }

    async fn enqueue_replay(
        &self,
        target: &Target,
        replay_id: &str,
        items: Vec<ReplayItem>,
    ) -> Result<u64, StoreError> {
        replay::enqueue_replay(&self.writer, target, replay_id, items, Utc::now()).await
    }

    async fn replay_counts(
        &self,
        target: &Target,
        replay_id: &str,
    ) -> Result<DeliveryCounts, StoreError> {
        replay::replay_counts(&self.reader, target, replay_id).await
    }

    async fn drop_pending(&self, target: &Target, reason: &str) -> Result<u64, StoreError> {
        work::drop_pending(&self.writer, target, reason, Utc::now()).await
    }

    async fn list_deliveries(
        &self,
        target: &Target,
        filter: &DeliveryFilter,
        limit: usize,
        after: Option<&str>,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        read::list_deliveries(&self.reader, target, filter, limit, after).await
    }

    async fn delivery(
        &self,
        target: &Target,
        id: &str,
    ) -> Result<Option<DeliveryDetail>, StoreError> {
        console::delivery(&self.reader, target, id).await
    }

    async fn attempt_series(
        &self,
        target: &Target,
        since: DateTime<Utc>,
        bucket: Duration,
    ) -> Result<Vec<SeriesBucket>, StoreError> {
        console::attempt_series(&self.reader, target, since, bucket).await
    }

    async fn attempts(&self, delivery_id: &str) -> Result<Vec<AttemptRecord>, StoreError> {
        let mut by_delivery = read::attempts_of(&self.reader, &[delivery_id]).await?;
        Ok(by_delivery.remove(delivery_id).unwrap_or_default())
    }

    async fn delivery_counts(&self, target: &Target) -> Result<DeliveryCounts, StoreError> {
        read::delivery_counts(&self.reader, target).await
    }

    async fn queue_depth(&self) -> Result<Vec<(DeliveryStatus, u64)>, StoreError> {
        read::queue_depth(&self.reader).await
    }

    async fn sync_state(&self, namespace: &str, schedule: &str) -> Result<SyncState, StoreError> {
        state::sync_state(&self.reader, namespace, schedule).await
    }

    async fn put_sync_state(
        &self,
        namespace: &str,
        schedule: &str,
        sync: &SyncState,
    ) -> Result<(), StoreError> {
        state::put_sync_state(&self.writer, namespace, schedule, sync).await
    }

    async fn purge(&self, before: DateTime<Utc>) -> Result<Purged, StoreError> {
        state::purge(&self.writer, before, Utc::now()).await
    }

    async fn put_object(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
        value: &serde_json::Value,
    ) -> Result<(), StoreError> {
        state::put_object(&self.writer, kind, namespace, name, value).await
    }

    async fn list_objects(
        &self,
        kind: &str,
        namespace: Option<&str>,
    ) -> Result<Vec<serde_json::Value>, StoreError> {
        state::list_objects(&self.reader, kind, namespace).await
    }

    async fn delete_object(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Result<bool, StoreError> {
        state::delete_object(&self.writer, kind, namespace, name).await
    }
}
