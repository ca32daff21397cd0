//! Delivery work on SQLite: claiming due deliveries under a lease, recording attempts,
//! admin retries and dropping a deleted target's queue. All on the single writer connection,
//! so claims never race each other.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::pool::PoolConnection;
use sqlx::{Connection, Sqlite, SqliteConnection, SqlitePool};

use super::{Writer, script, time, us};
use crate::store::codec::{
    self, after_attempt, attempt_end, capped_body, col, lease_until, to_json,
};
use crate::store::{BatchWriter, ClaimedDelivery, Completion, NewEvent, StoreError, Target};

/// Leases up to `limit` due deliveries of targets not in `busy` and returns them with their
/// events, oldest due first.
///
/// The lease is committed without an fsync (`synchronous=NORMAL` for that one statement): a
/// claim lost in a crash only makes the delivery due again, and every later durable commit on
/// the writer makes it durable too. Events are read afterwards from the read pool (they never
/// change), so the single writer is held for one statement.
pub(super) async fn claim_due(
    writer: &SqlitePool,
    reader: &SqlitePool,
    now: DateTime<Utc>,
    limit: usize,
    lease: Duration,
    busy: &[Target],
) -> Result<Vec<ClaimedDelivery>, StoreError> {
    let busy = to_json("busy targets", &codec::target_keys(busy))?;
    let mut conn = writer
        .acquire()
        .await
        .map_err(StoreError::db("starting a claim"))?;
    let leased = lease_due(&mut conn, now, limit, lease, &busy).await?;
    if leased.is_empty() {
        return Ok(Vec::new());
    }
    let events = claimed_events(reader, &leased).await?;
    let mut claimed = Vec::with_capacity(leased.len());
    for lease in leased {
        let key = (lease.event_namespace, lease.event_id);
        let event = events
            .get(&key)
            .cloned()
            .ok_or_else(|| StoreError::Corrupt {
                what: "delivery",
                detail: format!("delivery {} names a missing event {}", lease.id, key.1),
            })?;
        claimed.push(ClaimedDelivery {
            id: lease.id,
            target: lease.target,
            attempts: lease.attempts,
            event,
        });
    }
    Ok(claimed)
}

/// A delivery just leased, before its event is read.
struct Leased {
    id: String,
    target: Target,
    attempts: u32,
    event_namespace: String,
    event_id: String,
}

/// The writer connection with `synchronous=NORMAL`: its commits are not fsynced, so they
/// survive a process crash but may be lost with the machine. Only for writes whose loss is
/// harmless (leases, attempt records: the delivery just runs again). Give it back with
/// [`restore`].
async fn relaxed(
    writer: &SqlitePool,
    doing: &'static str,
) -> Result<PoolConnection<Sqlite>, StoreError> {
    let mut conn = writer.acquire().await.map_err(StoreError::db(doing))?;
    set_synchronous(&mut conn, "PRAGMA synchronous = NORMAL").await?;
    Ok(conn)
}

/// Puts a [`relaxed`] connection back to `synchronous=FULL` (or closes it).
async fn restore(mut conn: PoolConnection<Sqlite>) {
    if set_synchronous(&mut conn, "PRAGMA synchronous = FULL")
        .await
        .is_err()
    {
        // Never hand a connection that skips fsync back to the pool.
        conn.close_on_drop();
    }
}

/// Runs a `PRAGMA synchronous = …` statement on the connection.
async fn set_synchronous(
    conn: &mut SqliteConnection,
    pragma: &'static str,
) -> Result<(), StoreError> {
    sqlx::query(pragma)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::db("setting the synchronous pragma"))?;
    Ok(())
}

/// Marks up to `limit` due deliveries Delivering under a lease; oldest due first. Each half
/// (Pending and due, Delivering with an expired lease) walks its partial index in order and
/// stops at `limit`, so a claim costs the same with a million rows waiting. Committed without
/// an fsync, in one round trip (see [`relaxed`]).
async fn lease_due(
    conn: &mut Writer,
    now: DateTime<Utc>,
    limit: usize,
    lease: Duration,
    busy: &str,
) -> Result<Vec<Leased>, StoreError> {
    let query = sqlx::query(
        "PRAGMA synchronous = NORMAL;
         WITH busy AS (SELECT value FROM json_each(?2)),
         pending AS (
            SELECT id, next_attempt_at FROM deliveries
            WHERE status = 'Pending' AND next_attempt_at <= ?1
              AND target_namespace || char(31) || target_kind || char(31) || target_name
                  NOT IN busy
            ORDER BY next_attempt_at LIMIT ?3),
         expired AS (
            SELECT id, next_attempt_at FROM deliveries
            WHERE status = 'Delivering' AND lease_until <= ?1
              AND target_namespace || char(31) || target_kind || char(31) || target_name
                  NOT IN busy
            ORDER BY lease_until LIMIT ?3),
         due AS (
            SELECT id FROM (SELECT * FROM pending UNION ALL SELECT * FROM expired)
            ORDER BY next_attempt_at, id LIMIT ?3)
         UPDATE deliveries SET status = 'Delivering', lease_until = ?4
         WHERE id IN (SELECT id FROM due)
         RETURNING id, event_namespace, event_id, target_namespace, target_kind, target_name,
                   attempts, next_attempt_at;
         PRAGMA synchronous = FULL",
    )
    .bind(us(now))
    .bind(busy)
    .bind(codec::sql_limit(limit))
    .bind(us(lease_until(now, lease)));
    let rows = script(conn, query, "claiming due deliveries").await?;
    let mut leased = Vec::with_capacity(rows.len());
    for row in rows {
        let due: Option<i64> = col(&row, "next_attempt_at")?;
        let entry = Leased {
            id: col(&row, "id")?,
            target: codec::target(
                col(&row, "target_namespace")?,
                col(&row, "target_kind")?,
                col(&row, "target_name")?,
            )?,
            attempts: codec::count("attempt count", col(&row, "attempts")?)?,
            event_namespace: col(&row, "event_namespace")?,
            event_id: col(&row, "event_id")?,
        };
        leased.push((due, entry));
    }
    leased.sort_by(|(a, x), (b, y)| a.cmp(b).then_with(|| x.id.cmp(&y.id)));
    Ok(leased.into_iter().map(|(_, entry)| entry).collect())
}

/// The events of leased deliveries, by (namespace, id), in one query.
async fn claimed_events(
    reader: &SqlitePool,
    leased: &[Leased],
) -> Result<HashMap<(String, String), Arc<NewEvent>>, StoreError> {
    let keys: Vec<(&str, &str)> = leased
        .iter()
        .map(|l| (l.event_namespace.as_str(), l.event_id.as_str()))
        .collect();
    let rows = sqlx::query(
        "SELECT namespace, id, event_type, source, payload, received_at FROM events
         WHERE (namespace, id) IN
               (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]')
                FROM json_each(?1))",
    )
    .bind(to_json("claimed event keys", &keys)?)
    .fetch_all(reader)
    .await
    .map_err(StoreError::db("reading claimed deliveries' events"))?;
    let mut events = HashMap::with_capacity(rows.len());
    for row in rows {
        let event = NewEvent {
            id: col(&row, "id")?,
            namespace: col(&row, "namespace")?,
            event_type: col(&row, "event_type")?,
            source: col(&row, "source")?,
            payload: codec::json("event payload", col(&row, "payload")?)?,
            received_at: time(col(&row, "received_at")?)?,
        };
        events.insert((event.namespace.clone(), event.id.clone()), Arc::new(event));
    }
    Ok(events)
}

/// Records batches of attempts for the completion group committer: one transaction each.
pub(super) struct CompletionWriter(pub(super) SqlitePool);

#[async_trait]
impl BatchWriter for CompletionWriter {
    type Item = Completion;
    /// False when the delivery does not exist (any more).
    type Output = bool;

    /// Committed without an fsync (see [`relaxed`]): an attempt record lost with the machine
    /// only means the delivery is attempted again (at least once), while acceptances, which
    /// share the writer, keep their fsync.
    async fn write_batch(&self, batch: &[Completion]) -> Result<Vec<bool>, StoreError> {
        if Completion::all_distinct(batch) {
            let mut conn = self
                .0
                .acquire()
                .await
                .map_err(StoreError::db("starting to record attempts"))?;
            return complete_all(&mut conn, batch).await;
        }
        let mut conn = relaxed(&self.0, "starting to record attempts").await?;
        let written = record_attempts(&mut conn, batch).await;
        restore(conn).await;
        written
    }
}

/// Records a batch in which a delivery appears more than once in one transaction, attempt by
/// attempt.
async fn record_attempts(
    conn: &mut SqliteConnection,
    batch: &[Completion],
) -> Result<Vec<bool>, StoreError> {
    let mut tx = conn
        .begin()
        .await
        .map_err(StoreError::db("starting to record attempts"))?;
    let mut found = Vec::with_capacity(batch.len());
    for completion in batch {
        found.push(complete_one(&mut tx, completion).await?);
    }
    tx.commit()
        .await
        .map_err(StoreError::db("committing attempts"))?;
    Ok(found)
}

/// Records attempts of distinct deliveries with one INSERT and one UPDATE (the rows passed as
/// one JSON array) in a transaction committed without an fsync (see [`relaxed`]), all in one
/// round trip; for each, whether its delivery exists.
async fn complete_all(conn: &mut Writer, batch: &[Completion]) -> Result<Vec<bool>, StoreError> {
    let mut rows = Vec::with_capacity(batch.len());
    for Completion {
        delivery_id,
        attempt,
        outcome,
    } in batch
    {
        let (status, next_attempt_at) = after_attempt(outcome);
        let finished_at = (next_attempt_at.is_none()).then(|| us(attempt_end(attempt)));
        rows.push(json!([
            delivery_id,
            status.as_str(),
            next_attempt_at.map(us),
            codec::last_error(attempt, outcome),
            finished_at,
            us(attempt.started_at),
            i64::try_from(attempt.duration_ms).unwrap_or(i64::MAX),
            attempt.request,
            attempt.response_status,
            to_json("response headers", &attempt.response_headers)?,
            capped_body(&attempt.response_body),
            attempt.error,
        ]));
    }
    // The attempt is numbered from the delivery's count before the update.
    let query = sqlx::query(
        "PRAGMA synchronous = NORMAL;
         BEGIN;
         INSERT INTO attempts (delivery_id, n, started_at, duration_ms, request, response_status,
            response_headers, response_body, error)
         SELECT d.id, d.attempts + 1, r.value ->> 5, r.value ->> 6, r.value ->> 7,
                r.value ->> 8, r.value ->> 9, r.value ->> 10, r.value ->> 11
         FROM json_each(?1) AS r JOIN deliveries AS d ON d.id = r.value ->> 0;
         UPDATE deliveries SET attempts = attempts + 1, status = r.value ->> 1,
            next_attempt_at = r.value ->> 2, lease_until = NULL, last_error = r.value ->> 3,
            finished_at = r.value ->> 4
         FROM json_each(?1) AS r WHERE deliveries.id = r.value ->> 0
         RETURNING deliveries.id;
         COMMIT;
         PRAGMA synchronous = FULL",
    )
    .bind(to_json("attempt rows", &rows)?);
    let mut updated = HashSet::with_capacity(batch.len());
    for row in script(conn, query, "recording attempts").await? {
        updated.insert(col::<_, String>(&row, "id")?);
    }
    Ok(batch
        .iter()
        .map(|c| updated.contains(&c.delivery_id))
        .collect())
}

/// Records one attempt and moves the delivery to the state its outcome names; false when
/// the delivery does not exist.
async fn complete_one(
    conn: &mut SqliteConnection,
    completion: &Completion,
) -> Result<bool, StoreError> {
    let Completion {
        delivery_id,
        attempt,
        outcome,
    } = completion;
    let (status, next_attempt_at) = after_attempt(outcome);
    let finished_at = (next_attempt_at.is_none()).then(|| us(attempt_end(attempt)));
    let updated = sqlx::query(
        "UPDATE deliveries SET attempts = attempts + 1, status = ?2, next_attempt_at = ?3,
            lease_until = NULL, last_error = ?4, finished_at = ?5
         WHERE id = ?1 RETURNING attempts",
    )
    .bind(delivery_id)
    .bind(status.as_str())
    .bind(next_attempt_at.map(us))
    .bind(codec::last_error(attempt, outcome))
    .bind(finished_at)
    .fetch_optional(&mut *conn)
    .await
    .map_err(StoreError::db("updating a delivery after an attempt"))?;
    let Some(updated) = updated else {
        return Ok(false);
    };
    let n: i64 = col(&updated, "attempts")?;
    sqlx::query(
        "INSERT INTO attempts (delivery_id, n, started_at, duration_ms, request, response_status,
            response_headers, response_body, error)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )
    .bind(delivery_id)
    .bind(n)
    .bind(us(attempt.started_at))
    .bind(i64::try_from(attempt.duration_ms).unwrap_or(i64::MAX))
    .bind(&attempt.request)
    .bind(attempt.response_status.map(i64::from))
    .bind(to_json("response headers", &attempt.response_headers)?)
    .bind(capped_body(&attempt.response_body))
    .bind(&attempt.error)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::db("recording an attempt"))?;
    Ok(true)
}

/// Puts a Failed or Dead delivery of `target` back to Pending, due at `now`.
pub(super) async fn retry(
    pool: &SqlitePool,
    target: &Target,
    delivery_id: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE deliveries SET status = 'Pending', next_attempt_at = ?5, lease_until = NULL,
            finished_at = NULL
         WHERE id = ?1 AND target_namespace = ?2 AND target_kind = ?3 AND target_name = ?4
           AND status IN ('Failed', 'Dead')",
    )
    .bind(delivery_id)
    .bind(&target.namespace)
    .bind(target.kind.as_str())
    .bind(&target.name)
    .bind(us(now))
    .execute(pool)
    .await
    .map_err(StoreError::db("retrying a delivery"))?;
    Ok(done.rows_affected() > 0)
}

/// Marks every Pending delivery of `target` Failed with `reason`.
pub(super) async fn drop_pending(
    pool: &SqlitePool,
    target: &Target,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let done = sqlx::query(
        "UPDATE deliveries SET status = 'Failed', next_attempt_at = NULL, last_error = ?4,
            finished_at = ?5
         WHERE target_namespace = ?1 AND target_kind = ?2 AND target_name = ?3
           AND status = 'Pending'",
    )
    .bind(&target.namespace)
    .bind(target.kind.as_str())
    .bind(&target.name)
    .bind(reason)
    .bind(us(now))
    .execute(pool)
    .await
    .map_err(StoreError::db("dropping a target's pending deliveries"))?;
    Ok(done.rows_affected())
}

/// Puts a Delivering delivery back to Pending, due at `at`, without recording an attempt.
pub(super) async fn release(
    pool: &SqlitePool,
    delivery_id: &str,
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE deliveries SET status = 'Pending', next_attempt_at = ?2, lease_until = NULL
         WHERE id = ?1 AND status = 'Delivering'",
    )
    .bind(delivery_id)
    .bind(us(at))
    .execute(pool)
    .await
    .map_err(StoreError::db("releasing a claimed delivery"))?;
    Ok(done.rows_affected() > 0)
}
