//! Reading deliveries on PostgreSQL: the admin listing with attempts, per-target counts and
//! the queue depth for metrics.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::store::codec::{self, col, sql_limit};
use crate::store::{
    AttemptRecord, DeliveryCounts, DeliveryFilter, DeliveryRecord, DeliveryStatus, StoreError,
    Target,
};

/// The columns a [`DeliveryRecord`] is read from ([`record`]), `d` the delivery and `e` its
/// event.
pub(super) const RECORD_COLUMNS: &str = "d.id, d.event_id, e.event_type, d.status, d.attempts,
    d.created_at, d.next_attempt_at, d.last_error, d.replay_id";

/// A delivery (without its attempts) from a row of [`RECORD_COLUMNS`].
pub(super) fn record(row: &sqlx::postgres::PgRow) -> Result<DeliveryRecord, StoreError> {
    let status = codec::status(col(row, "status")?)?;
    let attempts: i32 = col(row, "attempts")?;
    let next_attempt_at: Option<DateTime<Utc>> = col(row, "next_attempt_at")?;
    Ok(DeliveryRecord {
        id: col(row, "id")?,
        event_id: col(row, "event_id")?,
        event_type: col(row, "event_type")?,
        status,
        attempts: codec::count("attempt count", i64::from(attempts))?,
        created_at: col(row, "created_at")?,
        next_attempt_at: next_attempt_at.filter(|_| status == DeliveryStatus::Pending),
        last_error: col(row, "last_error")?,
        replay_id: col(row, "replay_id")?,
        attempt_log: Vec::new(),
    })
}

/// Deliveries of `target`, newest first, after the `after` cursor, with their attempts.
pub(super) async fn list_deliveries(
    pool: &PgPool,
    target: &Target,
    filter: &DeliveryFilter,
    limit: usize,
    after: Option<&str>,
) -> Result<Vec<DeliveryRecord>, StoreError> {
    let query = sqlx::AssertSqlSafe(format!(
        "SELECT {RECORD_COLUMNS}
         FROM deliveries d
         JOIN events e ON e.namespace = d.event_namespace AND e.id = d.event_id
         WHERE d.target_namespace = $1 AND d.target_kind = $2 AND d.target_name = $3
           AND ($4::text IS NULL OR d.status = $4)
           AND ($5::text IS NULL OR d.id < $5)
           AND ($7::text IS NULL OR e.event_type = $7)
         ORDER BY d.id DESC
         LIMIT $6"
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
    pool: &PgPool,
    ids: &[&str],
) -> Result<HashMap<String, Vec<AttemptRecord>>, StoreError> {
    let rows = sqlx::query(
        "SELECT delivery_id, started_at, duration_ms, request, response_status,
                response_headers, response_body, error
         FROM attempts WHERE delivery_id = ANY($1)
         ORDER BY delivery_id, n",
    )
    .bind(ids)
    .fetch_all(pool)
    .await
    .map_err(StoreError::db("listing attempts"))?;
    let mut by_delivery: HashMap<String, Vec<AttemptRecord>> = HashMap::new();
    for row in rows {
        let status: Option<i32> = col(&row, "response_status")?;
        let headers: sqlx::types::Json<Vec<(String, String)>> = col(&row, "response_headers")?;
        let attempt = AttemptRecord {
            started_at: col(&row, "started_at")?,
            duration_ms: codec::count("attempt duration", col(&row, "duration_ms")?)?,
            request: col(&row, "request")?,
            response_status: status
                .map(|s| codec::count("response status", i64::from(s)))
                .transpose()?,
            response_headers: headers.0,
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
    pool: &PgPool,
    target: &Target,
) -> Result<DeliveryCounts, StoreError> {
    let query = sqlx::AssertSqlSafe(format!(
        "{} FROM deliveries
         WHERE target_namespace = $1 AND target_kind = $2 AND target_name = $3",
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
pub(super) async fn queue_depth(pool: &PgPool) -> Result<Vec<(DeliveryStatus, u64)>, StoreError> {
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, COUNT(*) FROM deliveries GROUP BY status")
            .fetch_all(pool)
            .await
            .map_err(StoreError::db("measuring the queue depth"))?;
    codec::depth(rows)
}
