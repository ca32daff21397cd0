//! Bulk retry and replay on SQLite: putting a filtered set of finished deliveries back,
//! reading a namespace's events by time (index `events_time`), creating replayed deliveries
//! (at most one per replay, target and event: index `deliveries_replay`) and counting them.

use chrono::{DateTime, Utc};
use rusqlite::params;
use sqlx::SqlitePool;

use super::writer::{Durability, WriterThread};
use super::{time, us};
use crate::store::codec::{self, col, new_delivery_id, sql_limit, to_json};
use crate::store::{
    DeliveryCounts, EventCursor, EventRange, NewEvent, Payload, ReplayItem, RetryFilter,
    StoreError, Target,
};

/// Puts up to `limit` of the deliveries `filter` selects back to Pending, due at `now`.
/// The literal `status IN ('Failed', 'Dead')` lets the planner walk `deliveries_retryable`.
pub(super) async fn retry_matching(
    writer: &WriterThread,
    target: &Target,
    filter: &RetryFilter,
    limit: usize,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let statuses: Vec<&str> = filter.statuses.iter().map(|s| s.as_str()).collect();
    let statuses = to_json("statuses", &statuses)?;
    let types = to_json("event types", &filter.event_types)?;
    let (target, since, until) = (target.clone(), us(filter.since), us(filter.until));
    let changed = writer
        .run(Durability::Full, move |conn| {
            conn.prepare_cached(
                "UPDATE deliveries SET status = 'Pending', next_attempt_at = ?8,
                    lease_until = NULL, finished_at = NULL
                 WHERE id IN (
                    SELECT d.id FROM deliveries d
                    JOIN events e ON e.namespace = d.event_namespace AND e.id = d.event_id
                    WHERE d.target_namespace = ?1 AND d.target_kind = ?2 AND d.target_name = ?3
                      AND d.status IN ('Failed', 'Dead')
                      AND d.status IN (SELECT value FROM json_each(?4))
                      AND d.created_at >= ?5 AND d.created_at < ?6
                      AND (json_array_length(?7) = 0
                           OR e.event_type IN (SELECT value FROM json_each(?7)))
                    ORDER BY d.created_at LIMIT ?9)",
            )
            .and_then(|mut update| {
                update.execute(params![
                    target.namespace,
                    target.kind.as_str(),
                    target.name,
                    statuses,
                    since,
                    until,
                    types,
                    us(now),
                    sql_limit(limit)
                ])
            })
            .map_err(StoreError::sqlite("retrying deliveries in bulk"))
        })
        .await?;
    Ok(u64::try_from(changed).unwrap_or(u64::MAX))
}

/// A page of the events of `range` after `after`, oldest first.
pub(super) async fn events_between(
    pool: &SqlitePool,
    range: &EventRange,
    after: Option<&EventCursor>,
    limit: usize,
) -> Result<Vec<NewEvent>, StoreError> {
    // From the start of the range: every id sorts after "".
    let (from_at, from_id) = match after {
        Some(c) => (us(c.received_at), c.id.as_str()),
        None => (us(range.since), ""),
    };
    let rows = sqlx::query(
        "SELECT namespace, id, event_type, source, payload, received_at, context FROM events
         WHERE namespace = ?1 AND received_at >= ?2 AND received_at < ?3
           AND (received_at, id) > (?4, ?5)
           AND (json_array_length(?6) = 0 OR event_type IN (SELECT value FROM json_each(?6)))
         ORDER BY received_at, id LIMIT ?7",
    )
    .bind(&range.namespace)
    .bind(us(range.since))
    .bind(us(range.until))
    .bind(from_at)
    .bind(from_id)
    .bind(to_json("event types", &range.event_types)?)
    .bind(sql_limit(limit))
    .fetch_all(pool)
    .await
    .map_err(StoreError::db("reading events to replay"))?;
    rows.iter()
        .map(|row| {
            Ok(NewEvent {
                id: col(row, "id")?,
                namespace: col(row, "namespace")?,
                event_type: col(row, "event_type")?,
                source: col(row, "source")?,
                // Written by the store from a checked payload: read back as is.
                payload: Payload::trusted(col::<_, String>(row, "payload")?),
                received_at: time(col(row, "received_at")?)?,
                context: col::<_, Option<String>>(row, "context")?.map(Payload::trusted),
            })
        })
        .collect()
}

/// Creates the replayed deliveries that do not exist yet, in one transaction.
pub(super) async fn enqueue_replay(
    writer: &WriterThread,
    target: &Target,
    replay_id: &str,
    items: Vec<ReplayItem>,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let (target, replay_id) = (target.clone(), replay_id.to_owned());
    writer
        .transaction(
            Durability::Full,
            "queueing replayed deliveries",
            move |tx| {
                let op = "queueing replayed deliveries";
                let mut insert = tx
                    .prepare_cached(
                        "INSERT INTO deliveries (id, event_namespace, event_id, target_namespace,
                        target_kind, target_name, status, next_attempt_at, created_at, replay_id)
                     SELECT ?1, namespace, id, namespace, ?3, ?4, 'Pending', ?5, ?6, ?7
                     FROM events WHERE namespace = ?2 AND id = ?8
                     ON CONFLICT DO NOTHING",
                    )
                    .map_err(StoreError::sqlite(op))?;
                let mut created = 0u64;
                for item in &items {
                    created += insert
                        .execute(params![
                            new_delivery_id(),
                            target.namespace,
                            target.kind.as_str(),
                            target.name,
                            us(item.due_at),
                            us(now),
                            replay_id,
                            item.event_id
                        ])
                        .map_err(StoreError::sqlite(op))? as u64;
                }
                Ok(created)
            },
        )
        .await
}

/// The replay's deliveries of `target` by status (index `deliveries_replay`).
pub(super) async fn replay_counts(
    pool: &SqlitePool,
    target: &Target,
    replay_id: &str,
) -> Result<DeliveryCounts, StoreError> {
    let query = sqlx::AssertSqlSafe(format!(
        "{} FROM deliveries
         WHERE target_namespace = ?1 AND target_kind = ?2 AND target_name = ?3
           AND replay_id = ?4",
        codec::TARGET_COUNTS
    ));
    let row: (i64, i64, i64, i64, i64) = sqlx::query_as(query)
        .bind(&target.namespace)
        .bind(target.kind.as_str())
        .bind(&target.name)
        .bind(replay_id)
        .fetch_one(pool)
        .await
        .map_err(StoreError::db("counting a replay's deliveries"))?;
    codec::counts(row)
}
