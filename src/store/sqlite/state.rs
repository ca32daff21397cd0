//! Sync schedule state, standalone-mode objects and purging old records, on SQLite.

use chrono::{DateTime, Utc};
use rusqlite::params;
use sqlx::SqlitePool;

use super::writer::{Durability, WriterThread};
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
    writer: &WriterThread,
    namespace: &str,
    schedule: &str,
    state: &SyncState,
) -> Result<(), StoreError> {
    let (namespace, schedule) = (namespace.to_owned(), schedule.to_owned());
    let (watermark, scheduled, succeeded) = (
        state.watermark.clone(),
        state.last_schedule_time.map(us),
        state.last_successful_time.map(us),
    );
    writer
        .run(Durability::Full, move |conn| {
            conn.execute(
                "INSERT INTO sync_state (namespace, schedule, watermark, last_schedule_time,
                    last_successful_time)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (namespace, schedule) DO UPDATE SET watermark = excluded.watermark,
                    last_schedule_time = excluded.last_schedule_time,
                    last_successful_time = excluded.last_successful_time",
                params![namespace, schedule, watermark, scheduled, succeeded],
            )
            .map_err(StoreError::sqlite("writing sync state"))
        })
        .await?;
    Ok(())
}

/// Removes finished deliveries older than `before` (attempts go with them), events left
/// without deliveries and older than `before`, and dedup keys expired at `now`.
pub(super) async fn purge(
    writer: &WriterThread,
    before: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Purged, StoreError> {
    let (before, now) = (us(before), us(now));
    writer
        .transaction(Durability::Full, "purging", move |tx| {
            let delete = |sql: &str, at: i64, op: &'static str| -> Result<u64, StoreError> {
                let n = tx
                    .execute(sql, params![at])
                    .map_err(StoreError::sqlite(op))?;
                Ok(u64::try_from(n).unwrap_or(u64::MAX))
            };
            Ok(Purged {
                deliveries: delete(
                    "DELETE FROM deliveries
                     WHERE status IN ('Delivered', 'Failed', 'Dead') AND finished_at < ?1",
                    before,
                    "purging deliveries",
                )?,
                events: delete(
                    "DELETE FROM events WHERE received_at < ?1 AND NOT EXISTS (
                        SELECT 1 FROM deliveries d
                        WHERE d.event_namespace = events.namespace AND d.event_id = events.id)",
                    before,
                    "purging events",
                )?,
                dedup_keys: delete(
                    "DELETE FROM dedup_keys WHERE expires_at <= ?1",
                    now,
                    "purging dedup keys",
                )?,
            })
        })
        .await
}

/// Stores an object, replacing the one of the same kind, namespace and name.
pub(super) async fn put_object(
    writer: &WriterThread,
    kind: &str,
    namespace: &str,
    name: &str,
    value: &serde_json::Value,
) -> Result<(), StoreError> {
    let (kind, namespace, name) = (kind.to_owned(), namespace.to_owned(), name.to_owned());
    let value = to_json("object", value)?;
    writer
        .run(Durability::Full, move |conn| {
            conn.execute(
                "INSERT INTO objects (kind, namespace, name, value) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (kind, namespace, name) DO UPDATE SET value = excluded.value",
                params![kind, namespace, name, value],
            )
            .map_err(StoreError::sqlite("storing an object"))
        })
        .await?;
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
    writer: &WriterThread,
    kind: &str,
    namespace: &str,
    name: &str,
) -> Result<bool, StoreError> {
    let (kind, namespace, name) = (kind.to_owned(), namespace.to_owned(), name.to_owned());
    writer
        .run(Durability::Full, move |conn| {
            conn.execute(
                "DELETE FROM objects WHERE kind = ?1 AND namespace = ?2 AND name = ?3",
                params![kind, namespace, name],
            )
            .map_err(StoreError::sqlite("deleting an object"))
        })
        .await
        .map(|deleted| deleted > 0)
}
