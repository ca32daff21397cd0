//! What the console reads on SQLite besides the listing: one delivery with its payload, and
//! its charts' attempt series, both through the per-target index.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::SqlitePool;

use super::read::{RECORD_COLUMNS, attempts_of, record};
use super::{time, us};
use crate::store::codec::col;
use crate::store::{DeliveryDetail, Payload, SeriesBucket, StoreError, Target, id_bound};

/// One delivery of `target` with its attempts and payload.
pub(super) async fn delivery(
    pool: &SqlitePool,
    target: &Target,
    id: &str,
) -> Result<Option<DeliveryDetail>, StoreError> {
    let query = sqlx::AssertSqlSafe(format!(
        "SELECT {RECORD_COLUMNS}, e.source, e.payload
         FROM deliveries d
         JOIN events e ON e.namespace = d.event_namespace AND e.id = d.event_id
         WHERE d.id = ?1 AND d.target_namespace = ?2 AND d.target_kind = ?3
           AND d.target_name = ?4"
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
    pool: &SqlitePool,
    target: &Target,
    since: DateTime<Utc>,
    bucket: Duration,
) -> Result<Vec<SeriesBucket>, StoreError> {
    let width = i64::try_from(bucket.as_micros()).unwrap_or(i64::MAX).max(1);
    let rows: Vec<(i64, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT (a.started_at - ?4) / ?5 AS b, COUNT(*),
                SUM(CASE WHEN a.response_status BETWEEN 200 AND 299 THEN 0 ELSE 1 END),
                SUM(a.duration_ms), MAX(a.duration_ms)
         FROM deliveries d JOIN attempts a ON a.delivery_id = d.id
         WHERE d.target_namespace = ?1 AND d.target_kind = ?2 AND d.target_name = ?3
           AND d.id >= ?6 AND a.started_at >= ?4
         GROUP BY b ORDER BY b",
    )
    .bind(&target.namespace)
    .bind(target.kind.as_str())
    .bind(&target.name)
    .bind(us(since))
    .bind(width)
    .bind(id_bound(since))
    .fetch_all(pool)
    .await
    .map_err(StoreError::db("reading the attempt series"))?;
    rows.into_iter()
        .map(|(b, attempts, failures, total, max)| {
            Ok(SeriesBucket {
                start: time(us(since).saturating_add(b.saturating_mul(width)))?,
                attempts: attempts.try_into().unwrap_or(0),
                failures: failures.try_into().unwrap_or(0),
                total_ms: total.try_into().unwrap_or(0),
                max_ms: max.try_into().unwrap_or(0),
            })
        })
        .collect()
}
