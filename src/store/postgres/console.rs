//! What the console reads on PostgreSQL besides the listing: one delivery with its payload,
//! and its charts' attempt series, both through the per-target index.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::read::{RECORD_COLUMNS, attempts_of, record};
use crate::store::codec::col;
use crate::store::{DeliveryDetail, Payload, SeriesBucket, StoreError, Target, id_bound};

/// One delivery of `target` with its attempts and payload.
pub(super) async fn delivery(
    pool: &PgPool,
    target: &Target,
    id: &str,
) -> Result<Option<DeliveryDetail>, StoreError> {
    let query = sqlx::AssertSqlSafe(format!(
        "SELECT {RECORD_COLUMNS}, e.source, e.payload
         FROM deliveries d
         JOIN events e ON e.namespace = d.event_namespace AND e.id = d.event_id
         WHERE d.id = $1 AND d.target_namespace = $2 AND d.target_kind = $3
           AND d.target_name = $4"
    ));
    let Some(row) = sqlx::query(query)
        .bind(id)
        .bind(&target.namespace)
        .bind(target.kind.as_str())
        .bind(&target.name)
        .fetch_optional(pool)
        .await
        .map_err(StoreError::db("reading a delivery"))?
    else {
        return Ok(None);
    };
    let mut record = record(&row)?;
    record.attempt_log = attempts_of(pool, &[id])
        .await?
        .remove(id)
        .unwrap_or_default();
    Ok(Some(DeliveryDetail {
        record,
        source: col(&row, "source")?,
        // Written by the store from a checked payload: read back as is.
        payload: Payload::trusted(col::<_, String>(&row, "payload")?),
    }))
}

/// Attempts of `target`'s deliveries created since `since`, by bucket of their start.
pub(super) async fn attempt_series(
    pool: &PgPool,
    target: &Target,
    since: DateTime<Utc>,
    bucket: Duration,
) -> Result<Vec<SeriesBucket>, StoreError> {
    let width = bucket.as_secs_f64().max(0.001);
    let rows: Vec<(i64, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT floor(extract(epoch FROM a.started_at - $4) / $5)::bigint AS b, COUNT(*),
                SUM(CASE WHEN a.response_status BETWEEN 200 AND 299 THEN 0 ELSE 1 END)::bigint,
                SUM(a.duration_ms)::bigint, MAX(a.duration_ms)::bigint
         FROM deliveries d JOIN attempts a ON a.delivery_id = d.id
         WHERE d.target_namespace = $1 AND d.target_kind = $2 AND d.target_name = $3
           AND d.id >= $6 AND a.started_at >= $4
         GROUP BY b ORDER BY b",
    )
    .bind(&target.namespace)
    .bind(target.kind.as_str())
    .bind(&target.name)
    .bind(since)
    .bind(width)
    .bind(id_bound(since))
    .fetch_all(pool)
    .await
    .map_err(StoreError::db("reading the attempt series"))?;
    Ok(rows
        .into_iter()
        .map(|(b, attempts, failures, total, max)| SeriesBucket {
            start: since
                + chrono::Duration::from_std(bucket.saturating_mul(u32::try_from(b).unwrap_or(0)))
                    .unwrap_or_default(),
            attempts: attempts.try_into().unwrap_or(0),
            failures: failures.try_into().unwrap_or(0),
            total_ms: total.try_into().unwrap_or(0),
            max_ms: max.try_into().unwrap_or(0),
        })
        .collect())
}
