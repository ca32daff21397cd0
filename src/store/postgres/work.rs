//! Delivery work on PostgreSQL: claiming due deliveries with `FOR UPDATE SKIP LOCKED` (so
//! processes sharing the queue never claim the same delivery), recording attempts, admin
//! retries and dropping a deleted target's queue.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use crate::store::codec::{
    self, after_attempt, attempt_end, capped_body, col, lease_until, target_keys,
};
use crate::store::{
    BatchWriter, ClaimedDelivery, Completion, NewEvent, Payload, StoreError, Target,
};

/// Leases up to `limit` due deliveries of targets not in `busy` and returns them with their
/// events: live work first, oldest due first, replayed deliveries only in what is left and at
/// most [`codec::replay_share`] of it. Each part (live Pending and due, replayed Pending and
/// due, Delivering with an expired lease) walks its partial index in order and stops at its
/// limit: one `OR` of both read and sorted
/// every due row, ≈ 120 ms a claim with 10,000 waiting.
pub(super) async fn claim_due(
    pool: &PgPool,
    now: DateTime<Utc>,
    limit: usize,
    lease: Duration,
    busy: &[Target],
) -> Result<Vec<ClaimedDelivery>, StoreError> {
    let mut tx = pool
        .begin()
        .await
        .map_err(StoreError::db("starting a claim"))?;
    // A lease need not survive a crash (a lost claim is simply due again): skip the WAL flush.
    sqlx::query("SET LOCAL synchronous_commit = off")
        .execute(&mut *tx)
        .await
        .map_err(StoreError::db("starting a claim"))?;
    let rows = sqlx::query(
        "WITH pending AS (
            SELECT id, next_attempt_at, 0 AS replayed FROM deliveries
            WHERE status = 'Pending' AND replay_id IS NULL AND next_attempt_at <= $1
              AND NOT (target_namespace || chr(31) || target_kind || chr(31) || target_name
                       = ANY($2))
            ORDER BY next_attempt_at
            LIMIT $3
            FOR UPDATE SKIP LOCKED),
         replays AS (
            SELECT id, next_attempt_at, 1 AS replayed FROM deliveries
            WHERE status = 'Pending' AND replay_id IS NOT NULL AND next_attempt_at <= $1
              AND NOT (target_namespace || chr(31) || target_kind || chr(31) || target_name
                       = ANY($2))
            ORDER BY next_attempt_at
            LIMIT $5
            FOR UPDATE SKIP LOCKED),
         expired AS (
            SELECT id, next_attempt_at, 0 AS replayed FROM deliveries
            WHERE status = 'Delivering' AND lease_until <= $1
              AND NOT (target_namespace || chr(31) || target_kind || chr(31) || target_name
                       = ANY($2))
            ORDER BY lease_until
            LIMIT $3
            FOR UPDATE SKIP LOCKED),
         due AS (
            SELECT id FROM (SELECT * FROM pending UNION ALL SELECT * FROM expired
                            UNION ALL SELECT * FROM replays) AS parts
            ORDER BY replayed, next_attempt_at, id
            LIMIT $3)
         UPDATE deliveries d SET status = 'Delivering', lease_until = $4
         FROM due, events e
         WHERE d.id = due.id AND e.namespace = d.event_namespace AND e.id = d.event_id
         RETURNING d.id, d.target_namespace, d.target_kind, d.target_name, d.attempts,
                   d.next_attempt_at, d.replay_id, e.namespace, e.id AS event_id, e.event_type, e.source,
                   e.payload, e.received_at, e.context",
    )
    .bind(now)
    .bind(target_keys(busy))
    .bind(codec::sql_limit(limit))
    .bind(lease_until(now, lease))
    .bind(codec::sql_limit(codec::replay_share(limit)))
    .fetch_all(&mut *tx)
    .await
    .map_err(StoreError::db("claiming due deliveries"))?;
    tx.commit()
        .await
        .map_err(StoreError::db("committing a claim"))?;
    let mut claimed = Vec::with_capacity(rows.len());
    for row in rows {
        let attempts: i32 = col(&row, "attempts")?;
        let delivery = ClaimedDelivery {
            id: col(&row, "id")?,
            target: codec::target(
                col(&row, "target_namespace")?,
                col(&row, "target_kind")?,
                col(&row, "target_name")?,
            )?,
            attempts: codec::count("attempt count", i64::from(attempts))?,
            event: Arc::new(NewEvent {
                id: col(&row, "event_id")?,
                namespace: col(&row, "namespace")?,
                event_type: col(&row, "event_type")?,
                source: col(&row, "source")?,
                // Written by the store from a checked payload: read back as is.
                payload: Payload::trusted(col::<_, String>(&row, "payload")?),
                received_at: col(&row, "received_at")?,
                context: col::<_, Option<String>>(&row, "context")?.map(Payload::trusted),
            }),
            replay: col(&row, "replay_id")?,
        };
        let due: Option<DateTime<Utc>> = col(&row, "next_attempt_at")?;
        claimed.push((due, delivery));
    }
    claimed.sort_by(|(a, x), (b, y)| a.cmp(b).then_with(|| x.id.cmp(&y.id)));
    Ok(claimed.into_iter().map(|(_, delivery)| delivery).collect())
}

/// Records batches of attempts for the completion group committer: one transaction each.
pub(super) struct CompletionWriter(pub(super) PgPool);

#[async_trait]
impl BatchWriter for CompletionWriter {
    type Item = Completion;
    /// False when the delivery does not exist (any more).
    type Output = bool;

    /// Committed without waiting for the WAL flush: an attempt record lost in a server crash
    /// only means the delivery is attempted again (at least once).
    async fn write_batch(&self, batch: Vec<Completion>) -> Result<Vec<bool>, StoreError> {
        let mut tx = self
            .0
            .begin()
            .await
            .map_err(StoreError::db("starting to record attempts"))?;
        sqlx::query("SET LOCAL synchronous_commit = off")
            .execute(&mut *tx)
            .await
            .map_err(StoreError::db("starting to record attempts"))?;
        let found = if Completion::all_distinct(&batch) {
            complete_all(&mut tx, &batch).await?
        } else {
            let mut found = Vec::with_capacity(batch.len());
            for completion in &batch {
                found.push(complete_one(&mut tx, completion).await?);
            }
            found
        };
        tx.commit()
            .await
            .map_err(StoreError::db("committing attempts"))?;
        Ok(found)
    }
}

/// Records attempts of distinct deliveries in one statement (`UNNEST` of arrays, rows in id
/// order so concurrent batches lock in the same order); for each, whether its delivery
/// exists.
async fn complete_all(
    conn: &mut PgConnection,
    batch: &[Completion],
) -> Result<Vec<bool>, StoreError> {
    let mut order: Vec<&Completion> = batch.iter().collect();
    order.sort_by(|a, b| a.delivery_id.cmp(&b.delivery_id));
    let mut rows = AttemptRows::default();
    for Completion {
        delivery_id,
        attempt,
        outcome,
    } in order
    {
        let (status, next_attempt_at) = after_attempt(outcome);
        rows.ids.push(delivery_id);
        rows.statuses.push(status.as_str());
        rows.next.push(next_attempt_at);
        rows.last_errors.push(codec::last_error(attempt, outcome));
        rows.finished
            .push(next_attempt_at.is_none().then(|| attempt_end(attempt)));
        rows.started.push(attempt.started_at);
        rows.durations
            .push(i64::try_from(attempt.duration_ms).unwrap_or(i64::MAX));
        rows.requests.push(&attempt.request);
        rows.response_statuses
            .push(attempt.response_status.map(i32::from));
        rows.headers
            .push(sqlx::types::Json(attempt.response_headers.clone()));
        // PostgreSQL text cannot hold NUL characters.
        rows.bodies
            .push(capped_body(&attempt.response_body).replace('\0', "\u{fffd}"));
        rows.errors.push(attempt.error.as_deref());
    }
    let recorded: Vec<(String,)> = sqlx::query_as(
        "WITH r AS (
            SELECT * FROM UNNEST($1::text[], $2::text[], $3::timestamptz[], $4::text[],
                                 $5::timestamptz[], $6::timestamptz[], $7::bigint[],
                                 $8::text[], $9::int[], $10::jsonb[], $11::text[], $12::text[])
                AS r(id, status, next_at, last_error, finished_at, started_at, duration_ms,
                     request, response_status, response_headers, response_body, error)),
         updated AS (
            UPDATE deliveries d SET attempts = d.attempts + 1, status = r.status,
                next_attempt_at = r.next_at, lease_until = NULL, last_error = r.last_error,
                finished_at = r.finished_at
            FROM r WHERE d.id = r.id
            RETURNING d.id, d.attempts)
         INSERT INTO attempts (delivery_id, n, started_at, duration_ms, request,
            response_status, response_headers, response_body, error)
         SELECT u.id, u.attempts, r.started_at, r.duration_ms, r.request, r.response_status,
                r.response_headers, r.response_body, r.error
         FROM updated u JOIN r ON r.id = u.id
         RETURNING delivery_id",
    )
    .bind(rows.ids)
    .bind(rows.statuses)
    .bind(rows.next)
    .bind(rows.last_errors)
    .bind(rows.finished)
    .bind(rows.started)
    .bind(rows.durations)
    .bind(rows.requests)
    .bind(rows.response_statuses)
    .bind(rows.headers)
    .bind(rows.bodies)
    .bind(rows.errors)
    .fetch_all(&mut *conn)
    .await
    .map_err(StoreError::db("recording attempts"))?;
    let recorded: HashSet<String> = recorded.into_iter().map(|(id,)| id).collect();
    Ok(batch
        .iter()
        .map(|c| recorded.contains(&c.delivery_id))
        .collect())
}

/// Columns of the attempts to record, one array per column.
#[derive(Default)]
struct AttemptRows<'a> {
    ids: Vec<&'a str>,
    statuses: Vec<&'static str>,
    next: Vec<Option<DateTime<Utc>>>,
    last_errors: Vec<Option<String>>,
    finished: Vec<Option<DateTime<Utc>>>,
    started: Vec<DateTime<Utc>>,
    durations: Vec<i64>,
    requests: Vec<&'a str>,
    response_statuses: Vec<Option<i32>>,
    headers: Vec<sqlx::types::Json<Vec<(String, String)>>>,
    bodies: Vec<String>,
    errors: Vec<Option<&'a str>>,
}

/// Records one attempt and moves the delivery to the state its outcome names; false when
/// the delivery does not exist.
async fn complete_one(
    conn: &mut PgConnection,
    completion: &Completion,
) -> Result<bool, StoreError> {
    let Completion {
        delivery_id,
        attempt,
        outcome,
    } = completion;
    let (status, next_attempt_at) = after_attempt(outcome);
    let finished_at = next_attempt_at.is_none().then(|| attempt_end(attempt));
    let updated = sqlx::query(
        "UPDATE deliveries SET attempts = attempts + 1, status = $2, next_attempt_at = $3,
            lease_until = NULL, last_error = $4, finished_at = $5
         WHERE id = $1 RETURNING attempts",
    )
    .bind(delivery_id)
    .bind(status.as_str())
    .bind(next_attempt_at)
    .bind(codec::last_error(attempt, outcome))
    .bind(finished_at)
    .fetch_optional(&mut *conn)
    .await
    .map_err(StoreError::db("updating a delivery after an attempt"))?;
    let Some(updated) = updated else {
        return Ok(false);
    };
    let n: i32 = col(&updated, "attempts")?;
    sqlx::query(
        "INSERT INTO attempts (delivery_id, n, started_at, duration_ms, request, response_status,
            response_headers, response_body, error)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(delivery_id)
    .bind(n)
    .bind(attempt.started_at)
    .bind(i64::try_from(attempt.duration_ms).unwrap_or(i64::MAX))
    .bind(&attempt.request)
    .bind(attempt.response_status.map(i32::from))
    .bind(sqlx::types::Json(&attempt.response_headers))
    // PostgreSQL text cannot hold NUL characters.
    .bind(capped_body(&attempt.response_body).replace('\0', "\u{fffd}"))
    .bind(&attempt.error)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::db("recording an attempt"))?;
    Ok(true)
}

/// Puts a Failed or Dead delivery of `target` back to Pending, due at `now`.
pub(super) async fn retry(
    pool: &PgPool,
    target: &Target,
    delivery_id: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE deliveries SET status = 'Pending', next_attempt_at = $5, lease_until = NULL,
            finished_at = NULL
         WHERE id = $1 AND target_namespace = $2 AND target_kind = $3 AND target_name = $4
           AND status IN ('Failed', 'Dead')",
    )
    .bind(delivery_id)
    .bind(&target.namespace)
    .bind(target.kind.as_str())
    .bind(&target.name)
    .bind(now)
    .execute(pool)
    .await
    .map_err(StoreError::db("retrying a delivery"))?;
    Ok(done.rows_affected() > 0)
}

/// Marks every Pending delivery of `target` Failed with `reason`.
pub(super) async fn drop_pending(
    pool: &PgPool,
    target: &Target,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let done = sqlx::query(
        "UPDATE deliveries SET status = 'Failed', next_attempt_at = NULL, last_error = $4,
            finished_at = $5
         WHERE target_namespace = $1 AND target_kind = $2 AND target_name = $3
           AND status = 'Pending'",
    )
    .bind(&target.namespace)
    .bind(target.kind.as_str())
    .bind(&target.name)
    .bind(reason)
    .bind(now)
    .execute(pool)
    .await
    .map_err(StoreError::db("dropping a target's pending deliveries"))?;
    Ok(done.rows_affected())
}

/// Puts a Delivering delivery back to Pending, due at `at`, without recording an attempt.
pub(super) async fn release(
    pool: &PgPool,
    delivery_id: &str,
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE deliveries SET status = 'Pending', next_attempt_at = $2, lease_until = NULL
         WHERE id = $1 AND status = 'Delivering'",
    )
    .bind(delivery_id)
    .bind(at)
    .execute(pool)
    .await
    .map_err(StoreError::db("releasing a claimed delivery"))?;
    Ok(done.rows_affected() > 0)
}
