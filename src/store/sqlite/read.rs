//! Reading deliveries on SQLite: the admin listing with attempts, per-target counts and the
//! queue depth for metrics.

use std::collections::HashMap;

use sqlx::SqlitePool;

use super::{opt_time, time};
use crate::store::codec::{self, col, sql_limit, to_json};
use crate::store::{
    AttemptRecord, DeliveryCounts, DeliveryFilter, DeliveryRecord, DeliveryStatus, StoreError,
    Target,
};

/// `(status, count)` rows of the deliveries a WHERE clause (or "") selects, in one pass and
/// without sorting (a GROUP BY over a million rows would sort them all).
macro_rules! by_status {
    ($filter:literal) => {
        concat!(
            "WITH c AS MATERIALIZED (SELECT
                COUNT(*) FILTER (WHERE status = 'Pending') AS pending,
                COUNT(*) FILTER (WHERE status = 'Delivering') AS delivering,
                COUNT(*) FILTER (WHERE status = 'Delivered') AS delivered,
                COUNT(*) FILTER (WHERE status = 'Failed') AS failed,
                COUNT(*) FILTER (WHERE status = 'Dead') AS dead
              FROM deliveries ",
            $filter,
            ")
             SELECT 'Pending', pending FROM c UNION ALL SELECT 'Delivering', delivering FROM c
             UNION ALL SELECT 'Delivered', delivered FROM c UNION ALL SELECT 'Failed', failed FROM c
             UNION ALL SELECT 'Dead', dead FROM c"
        )
    };
}

/// The columns a [`DeliveryRecord`] is read from ([`record`]), `d` the delivery and `e` its
/// event.
pub(super) const RECORD_COLUMNS: &str = "d.id, d.event_id, e.event_type, d.status, d.attempts,
    d.created_at, d.next_attempt_at, d.last_error, d.replay_id";

/// A delivery (without its attempts) from a row of [`RECORD_COLUMNS`].
pub(super) fn record(row: &sqlx::sqlite::SqliteRow) -> Result<DeliveryRecord, StoreError> {
    let status = codec::status(col(row, "status")?)?;
    Ok(DeliveryRecord {
        id: col(row, "id")?,
        event_id: col(row, "event_id")?,
        event_type: col(row, "event_type")?,
        status,
        attempts: codec::count("attempt count", col(row, "attempts")?)?,
        created_at: time(col(row, "created_at")?)?,
        next_attempt_at: match status {
            DeliveryStatus::Pending => opt_time(col(row, "next_attempt_at")?)?,
            _ => None,
        },
        last_error: col(row, "last_error")?,
        replay_id: col(row, "replay_id")?,
        attempt_log: Vec::new(),
    })
}

/// Deliveries of `target`, newest first, after the `after` cursor, with their attempts.
pub(super) async fn list_deliveries(
    pool: &SqlitePool,
    target: &Target,
    filter: &DeliveryFilter,
    limit: usize,
    after: Option<&str>,
) -> Result<Vec<DeliveryRecord>, StoreError> {
    let query = sqlx::AssertSqlSafe(format!(
        "SELECT {RECORD_COLUMNS}
         FROM deliveries d
         JOIN events e ON e.namespace = d.event_namespace AND e.id = d.event_id
         WHERE d.target_namespace = ?1 AND d.target_kind = ?2 AND d.target_name = ?3
           AND (?4 IS NULL OR d.status = ?4)
           AND (?5 IS NULL OR d.id < ?5)
           AND (?7 IS NULL OR e.event_type = ?7)
         ORDER BY d.id DESC
         LIMIT ?6"
    ));
    let rows = sqlx::query(query)
        .bind(&target.namespace)
        .bind(target.kind.as_str())
        .bind(&target.name)
        .bind(filter.status.map(DeliveryStatus::as_str))
        .bind(after)
        .bind(sql_limit(limit))
        .bind(filter.event_type.as_deref())
        .fetch_all(pool)
        .await
        .map_err(StoreError::db("listing deliveries"))?;
    let mut records = rows.iter().map(record).collect::<Result<Vec<_>, _>>()?;
    let ids: Vec<&str> = records.iter().map(|r| r.id.as_str()).collect();
    let mut attempts = attempts_of(pool, &ids).await?;
    for record in &mut records {
        record.attempt_log = attempts.remove(&record.id).unwrap_or_default();
    }
    Ok(records)
}

/// The attempts of the given deliveries, oldest first, by delivery id.
pub(super) async fn attempts_of(
    pool: &SqlitePool,
    ids: &[&str],
) -> Result<HashMap<String, Vec<AttemptRecord>>, StoreError> {
    let rows = sqlx::query(
        "SELECT delivery_id, started_at, duration_ms, request, response_status,
                response_headers, response_body, error
         FROM attempts WHERE delivery_id IN (SELECT value FROM json_each(?1))
         ORDER BY delivery_id, n",
    )
    .bind(to_json("delivery ids", &ids)?)
    .fetch_all(pool)
    .await
    .map_err(StoreError::db("listing attempts"))?;
    let mut by_delivery: HashMap<String, Vec<AttemptRecord>> = HashMap::new();
    for row in rows {
        let status: Option<i64> = col(&row, "response_status")?;
        let attempt = AttemptRecord {
            started_at: time(col(&row, "started_at")?)?,
            duration_ms: codec::count("attempt duration", col(&row, "duration_ms")?)?,
            request: col(&row, "request")?,
            response_status: status
                .map(|s| codec::count("response status", s))
                .transpose()?,
            response_headers: codec::json("response headers", col(&row, "response_headers")?)?,
            response_body: col(&row, "response_body")?,
            error: col(&row, "error")?,
        };
        by_delivery
            .entry(col(&row, "delivery_id")?)
            .or_default()
            .push(attempt);
    }
    Ok(by_delivery)
}

/// Deliveries of `target` by status.
pub(super) async fn delivery_counts(
    pool: &SqlitePool,
    target: &Target,
) -> Result<DeliveryCounts, StoreError> {
    let query = sqlx::AssertSqlSafe(format!(
        "{} FROM deliveries
         WHERE target_namespace = ?1 AND target_kind = ?2 AND target_name = ?3",
        codec::TARGET_COUNTS
    ));
    let row: (i64, i64, i64, i64, i64) = sqlx::query_as(query)
        .bind(&target.namespace)
        .bind(target.kind.as_str())
        .bind(&target.name)
        .fetch_one(pool)
        .await
        .map_err(StoreError::db("counting deliveries"))?;
    codec::counts(row)
}

/// Deliveries of every target by status; every status is listed, zeros included.
pub(super) async fn queue_depth(
    pool: &SqlitePool,
) -> Result<Vec<(DeliveryStatus, u64)>, StoreError> {
    let rows: Vec<(String, i64)> = sqlx::query_as(by_status!(""))
        .fetch_all(pool)
        .await
        .map_err(StoreError::db("measuring the queue depth"))?;
    codec::depth(rows)
}
