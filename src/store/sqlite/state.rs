//! Sync schedule state, standalone-mode objects and purging old records, on SQLite.

use chrono::{DateTime, Utc};
use sqlx::SqlitePool;

use super::{opt_time, us};
use crate::store::codec::{self, col, to_json};
use crate::store::{Purged, StoreError, SyncState};

/// The stored state of a sync schedule (the default when none is stored).
pub(super) async fn sync_state(
    pool: &SqlitePool,
    namespace: &str,
    schedule: &str,
) -> Result<SyncState, StoreError> {
    let row = sqlx::query(
        "SELECT watermark, last_schedule_time, last_successful_time FROM sync_state
         WHERE namespace = ?1 AND schedule = ?2",
    )
    .bind(namespace)
    .bind(schedule)
    .fetch_optional(pool)
    .await
    .map_err(StoreError::db("reading sync state"))?;
    let Some(row) = row else {
        return Ok(SyncState::default());
    };
    Ok(SyncState {
        watermark: col(&row, "watermark")?,
        last_schedule_time: opt_time(col(&row, "last_schedule_time")?)?,
        last_successful_time: opt_time(col(&row, "last_successful_time")?)?,
    })
}

/// Replaces the stored state of a sync schedule.
pub(super) async fn put_sync_state(
    pool: &SqlitePool,
    namespace: &str,
    schedule: &str,
    state: &SyncState,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO sync_state (namespace, schedule, watermark, last_schedule_time,
            last_successful_time)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (namespace, schedule) DO UPDATE SET watermark = excluded.watermark,
            last_schedule_time = excluded.last_schedule_time,
            last_successful_time = excluded.last_successful_time",
    )
    .bind(namespace)
    .bind(schedule)
    .bind(&state.watermark)
    .bind(state.last_schedule_time.map(us))
    .bind(state.last_successful_time.map(us))
    .execute(pool)
    .await
    .map_err(StoreError::db("writing sync state"))?;
    Ok(())
}

/// Removes finished deliveries older than `before` (attempts go with them), events left
/// without deliveries and older than `before`, and dedup keys expired at `now`.
pub(super) async fn purge(
    pool: &SqlitePool,
    before: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Purged, StoreError> {
    let mut tx = pool
        .begin()
        .await
        .map_err(StoreError::db("starting a purge"))?;
    let deliveries = sqlx::query(
        "DELETE FROM deliveries
         WHERE status IN ('Delivered', 'Failed', 'Dead') AND finished_at < ?1",
    )
    .bind(us(before))
    .execute(&mut *tx)
    .await
    .map_err(StoreError::db("purging deliveries"))?;
    let events = sqlx::query(
        "DELETE FROM events WHERE received_at < ?1 AND NOT EXISTS (
            SELECT 1 FROM deliveries d
            WHERE d.event_namespace = events.namespace AND d.event_id = events.id)",
    )
    .bind(us(before))
    .execute(&mut *tx)
    .await
    .map_err(StoreError::db("purging events"))?;
    let dedup_keys = sqlx::query("DELETE FROM dedup_keys WHERE expires_at <= ?1")
        .bind(us(now))
        .execute(&mut *tx)
        .await
        .map_err(StoreError::db("purging dedup keys"))?;
    tx.commit()
        .await
        .map_err(StoreError::db("committing a purge"))?;
    Ok(Purged {
        deliveries: deliveries.rows_affected(),
        events: events.rows_affected(),
        dedup_keys: dedup_keys.rows_affected(),
    })
}

/// Stores an object, replacing the one of the same kind, namespace and name.
pub(super) async fn put_object(
    pool: &SqlitePool,
    kind: &str,
    namespace: &str,
    name: &str,
    value: &serde_json::Value,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO objects (kind, namespace, name, value) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (kind, namespace, name) DO UPDATE SET value = excluded.value",
    )
    .bind(kind)
    .bind(namespace)
    .bind(name)
    .bind(to_json("object", value)?)
    .execute(pool)
    .await
    .map_err(StoreError::db("storing an object"))?;
    Ok(())
}

/// Objects of `kind`, in one namespace or all, by namespace and name.
pub(super) async fn list_objects(
    pool: &SqlitePool,
    kind: &str,
    namespace: Option<&str>,
) -> Result<Vec<serde_json::Value>, StoreError> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT value FROM objects WHERE kind = ?1 AND (?2 IS NULL OR namespace = ?2)
         ORDER BY namespace, name",
    )
    .bind(kind)
    .bind(namespace)
    .fetch_all(pool)
    .await
    .map_err(StoreError::db("listing objects"))?;
    rows.iter()
        .map(|(value,)| codec::json("object", value))
        .collect()
}

/// Deletes an object; false when there was none.
pub(super) async fn delete_object(
    pool: &SqlitePool,
    kind: &str,
    namespace: &str,
    name: &str,
) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM objects WHERE kind = ?1 AND namespace = ?2 AND name = ?3")
        .bind(kind)
        .bind(namespace)
        .bind(name)
        .execute(pool)
        .await
        .map_err(StoreError::db("deleting an object"))?;
    Ok(done.rows_affected() > 0)
}
