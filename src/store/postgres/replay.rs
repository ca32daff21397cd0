//! Bulk retry and replay on PostgreSQL: putting a filtered set of finished deliveries back,
//! reading a namespace's events by time (index `events_time`), creating replayed deliveries
//! (at most one per replay, target and event: index `deliveries_replay`) and counting them.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::store::codec::{self, col, new_delivery_id, sql_limit};
use crate::store::{
    DeliveryCounts, EventCursor, EventRange, NewEvent, Payload, ReplayItem, RetryFilter,
    StoreError, Target,
};

/// Puts up to `limit` of the deliveries `filter` selects back to Pending, due at `now`.
/// The literal `status IN ('Failed', 'Dead')` lets the planner use `deliveries_retryable`.
pub(super) async fn retry_matching(
    pool: &PgPool,
    target: &Target,
    filter: &RetryFilter,
    limit: usize,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let statuses: Vec<&str> = filter.statuses.iter().map(|s| s.as_str()).collect();
    let done = sqlx::query(
        "UPDATE deliveries SET status = 'Pending', next_attempt_at = $8, lease_until = NULL,
            finished_at = NULL
         WHERE id IN (
            SELECT d.id FROM deliveries d
            JOIN events e ON e.namespace = d.event_namespace AND e.id = d.event_id
            WHERE d.target_namespace = $1 AND d.target_kind = $2 AND d.target_name = $3
              AND d.status IN ('Failed', 'Dead') AND d.status = ANY($4)
              AND d.created_at >= $5 AND d.created_at < $6
              AND (cardinality($7::text[]) = 0 OR e.event_type = ANY($7))
            ORDER BY d.created_at LIMIT $9
            FOR UPDATE OF d SKIP LOCKED)",
    )
    .bind(&target.namespace)
    .bind(target.kind.as_str())
    .bind(&target.name)
    .bind(&statuses)
    .bind(filter.since)
    .bind(filter.until)
    .bind(&filter.event_types)
    .bind(now)
    .bind(sql_limit(limit))
    .execute(pool)
    .await
    .map_err(StoreError::db("retrying deliveries in bulk"))?;
    Ok(done.rows_affected())
}

/// A page of the events of `range` after `after`, oldest first.
pub(super) async fn events_between(
    pool: &PgPool,
    range: &EventRange,
    after: Option<&EventCursor>,
    limit: usize,
) -> Result<Vec<NewEvent>, StoreError> {
    // From the start of the range: every id sorts after "".
    let (from_at, from_id) = match after {
        Some(c) => (c.received_at, c.id.as_str()),
        None => (range.since, ""),
    };
    let rows = sqlx::query(
        "SELECT namespace, id, event_type, source, payload, received_at, context FROM events
         WHERE namespace = $1 AND received_at >= $2 AND received_at < $3
           AND (received_at, id) > ($4, $5)
           AND (cardinality($6::text[]) = 0 OR event_type = ANY($6))
         ORDER BY received_at, id LIMIT $7",
    )
    .bind(&range.namespace)
    .bind(range.since)
    .bind(range.until)
    .bind(from_at)
    .bind(from_id)
    .bind(&range.event_types)
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
                received_at: col(row, "received_at")?,
                context: col::<_, Option<String>>(row, "context")?.map(Payload::trusted),
            })
        })
        .collect()
}

/// Creates the replayed deliveries that do not exist yet, in one statement.
pub(super) async fn enqueue_replay(
    pool: &PgPool,
    target: &Target,
    replay_id: &str,
    items: Vec<ReplayItem>,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let ids: Vec<String> = items.iter().map(|_| new_delivery_id()).collect();
    let events: Vec<&str> = items.iter().map(|i| i.event_id.as_str()).collect();
    let due: Vec<DateTime<Utc>> = items.iter().map(|i| i.due_at).collect();
    let done = sqlx::query(
        "INSERT INTO deliveries (id, event_namespace, event_id, target_namespace, target_kind,
            target_name, status, next_attempt_at, created_at, replay_id)
         SELECT i.id, e.namespace, e.id, e.namespace, $2, $3, 'Pending', i.due, $4, $5
         FROM UNNEST($6::text[], $7::text[], $8::timestamptz[]) AS i(id, event_id, due)
         JOIN events e ON e.namespace = $1 AND e.id = i.event_id
         ON CONFLICT DO NOTHING",
    )
    .bind(&target.namespace)
    .bind(target.kind.as_str())
    .bind(&target.name)
    .bind(now)
    .bind(replay_id)
    .bind(&ids)
    .bind(&events)
    .bind(&due)
    .execute(pool)
    .await
    .map_err(StoreError::db("queueing replayed deliveries"))?;
    Ok(done.rows_affected())
}

/// The replay's deliveries of `target` by status (index `deliveries_replay`).
pub(super) async fn replay_counts(
    pool: &PgPool,
    target: &Target,
    replay_id: &str,
) -> Result<DeliveryCounts, StoreError> {
    let query = sqlx::AssertSqlSafe(format!(
        "{} FROM deliveries
         WHERE target_namespace = $1 AND target_kind = $2 AND target_name = $3
           AND replay_id = $4",
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
