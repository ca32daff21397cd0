//! PostgreSQL backend: several engine processes share one database. Acceptances go through a
//! group committer per process; deliveries are claimed with `FOR UPDATE SKIP LOCKED`, so each
//! is attempted by one process at a time.

mod accept;
mod console;
mod lease;
mod probe;
mod read;
mod replay;
mod state;
#[cfg(test)]
mod tests;
mod work;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use super::batch::{self, AcceptedWork, Accepting};
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
/// Connections per process.
const CONNECTIONS: u32 = 8;
/// How long to wait for a free connection (or a new one) before failing: short, so a
/// database that stopped answering turns into errors within seconds, not a long hang.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// The PostgreSQL store.
pub(crate) struct PgStore {
    pool: PgPool,
    probe: probe::Probe,
    committer: GroupCommitter<Accepting, AcceptedWork>,
    completions: GroupCommitter<Completion, bool>,
}

impl PgStore {
    /// Connects to `url` and migrates the database (migrations take an advisory lock, so
    /// processes starting together do not race).
    pub(crate) async fn open(url: &str) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect(url)
            .await
            .map_err(StoreError::db("connecting to PostgreSQL"))?;
        sqlx::migrate!("migrations/postgres").run(&pool).await?;
        let committer = GroupCommitter::spawn(accept::PgWriter(pool.clone()), MAX_BATCH);
        let completions = GroupCommitter::spawn_lingering(
            work::CompletionWriter(pool.clone()),
            MAX_BATCH,
            COMPLETION_LINGER,
        );
        Ok(Self {
            probe: probe::Probe::new(&pool),
            pool,
            committer,
            completions,
        })
    }
}

#[async_trait]
impl Store for PgStore {
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
        work::claim_due(&self.pool, now, limit, lease, busy).await
    }

    async fn renew(
        &self,
        ids: &[String],
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<u64, StoreError> {
        lease::renew(&self.pool, ids, super::codec::lease_until(now, lease)).await
    }

    /// Other processes may hold the Delivering deliveries: their leases decide.
    async fn reclaim_abandoned(&self, _now: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(0)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.probe.ping().await
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
        work::release(&self.pool, delivery_id, at).await
    }

    async fn retry(&self, target: &Target, delivery_id: &str) -> Result<bool, StoreError> {
        work::retry(&self.pool, target, delivery_id, Utc::now()).await
    }

    async fn retry_matching(
        &self,
        target: &Target,
        filter: &RetryFilter,
        limit: usize,
    ) -> Result<u64, StoreError> {
        replay::retry_matching(&self.pool, target, filter, limit, Utc::now()).await
    }

    async fn events_between(
        &self,
        range: &EventRange,
        after: Option<&EventCursor>,
        limit: usize,
    ) -> Result<Vec<NewEvent>, StoreError> {
        replay::events_between(&self.pool, range, after, limit).await
    }

    async fn enqueue_replay(
        &self,
        target: &Target,
        replay_id: &str,
        items: Vec<ReplayItem>,
    ) -> Result<u64, StoreError> {
        replay::enqueue_replay(&self.pool, target, replay_id, items, Utc::now()).await
    }

    async fn replay_counts(
        &self,
        target: &Target,
        replay_id: &str,
    ) -> Result<DeliveryCounts, StoreError> {
        replay::replay_counts(&self.pool, target, replay_id).await
    }

    async fn drop_pending(&self, target: &Target, reason: &str) -> Result<u64, StoreError> {
        work::drop_pending(&self.pool, target, reason, Utc::now()).await
    }

    async fn list_deliveries(
        &self,
        target: &Target,
        filter: &DeliveryFilter,
        limit: usize,
        after: Option<&str>,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        read::list_deliveries(&self.pool, target, filter, limit, after).await
    }

    async fn delivery(
        &self,
        target: &Target,
        id: &str,
    ) -> Result<Option<DeliveryDetail>, StoreError> {
        console::delivery(&self.pool, target, id).await
    }

    async fn attempt_series(
        &self,
        target: &Target,
        since: DateTime<Utc>,
        bucket: Duration,
    ) -> Result<Vec<SeriesBucket>, StoreError> {
        console::attempt_series(&self.pool, target, since, bucket).await
    }

    async fn attempts(&self, delivery_id: &str) -> Result<Vec<AttemptRecord>, StoreError> {
        let mut by_delivery = read::attempts_of(&self.pool, &[delivery_id]).await?;
        Ok(by_delivery.remove(delivery_id).unwrap_or_default())
    }

    async fn delivery_counts(&self, target: &Target) -> Result<DeliveryCounts, StoreError> {
        read::delivery_counts(&self.pool, target).await
    }

    async fn queue_depth(&self) -> Result<Vec<(DeliveryStatus, u64)>, StoreError> {
        read::queue_depth(&self.pool).await
    }

    async fn sync_state(&self, namespace: &str, schedule: &str) -> Result<SyncState, StoreError> {
        state::sync_state(&self.pool, namespace, schedule).await
    }

    async fn put_sync_state(
        &self,
        namespace: &str,
        schedule: &str,
        sync: &SyncState,
    ) -> Result<(), StoreError> {
        state::put_sync_state(&self.pool, namespace, schedule, sync).await
    }

    async fn purge(&self, before: DateTime<Utc>) -> Result<Purged, StoreError> {
        state::purge(&self.pool, before, Utc::now()).await
    }

    async fn put_object(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
        value: &serde_json::Value,
    ) -> Result<(), StoreError> {
        state::put_object(&self.pool, kind, namespace, name, value).await
    }

    async fn list_objects(
        &self,
        kind: &str,
        namespace: Option<&str>,
    ) -> Result<Vec<serde_json::Value>, StoreError> {
        state::list_objects(&self.pool, kind, namespace).await
    }

    async fn delete_object(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Result<bool, StoreError> {
        state::delete_object(&self.pool, kind, namespace, name).await
    }
}
