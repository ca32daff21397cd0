//! Delivery work on SQLite: claiming due deliveries under a lease, recording attempts,
//! admin retries and dropping a deleted target's queue. All on the writer thread, so claims
//! never race each other.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Transaction, params};
use sqlx::SqlitePool;

use super::writer::{Durability, WriterThread};
use super::{time, us};
use crate::store::codec::{
    self, after_attempt, attempt_end, capped_body, col, lease_until, to_json,
};
use crate::store::{
    BatchWriter, ClaimedDelivery, Completion, NewEvent, Payload, StoreError, Target,
};

/// Leases up to `limit` due deliveries of targets not in `busy` and returns them with their
/// events, oldest due first.
///
/// The lease is committed without an fsync ([`Durability::Relaxed`]): a claim lost in a
/// crash only makes the delivery due again, and every later durable commit on the writer
/// makes it durable too. Events are read afterwards from the read pool (they never change),
/// so the writer is held for one statement.
pub(super) async fn claim_due(
    writer: &WriterThread,
    reader: &SqlitePool,
    now: DateTime<Utc>,
    limit: usize,
    lease: Duration,
    busy: &[Target],
) -> Result<Vec<ClaimedDelivery>, StoreError> {
    let busy = to_json("busy targets", &codec::target_keys(busy))?;
    let lease = us(lease_until(now, lease));
    let leased = writer
        .run(Durability::Relaxed, move |conn| {
            lease_due(conn, us(now), limit, lease, &busy)
        })
        .await?;
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
            replay: lease.replay,
        });
    }
    Ok(claimed)
}

/// A delivery just leased, before its event is read.
struct Leased {
    id: String,
    target: Target,
    attempts: u32,
    replay: Option<String>,
    event_namespace: String,
    event_id: String,
}

/// Marks up to `limit` due deliveries Delivering under a lease; live work first, oldest due
/// first, replayed deliveries only in what is left and at most [`codec::replay_share`] of it.
/// Each part (live Pending and due, replayed Pending and due, Delivering with an expired
/// lease) walks its partial index in order and stops at its limit, so a claim costs the same
/// with a million rows waiting.
fn lease_due(
    conn: &mut rusqlite::Connection,
    now: i64,
    limit: usize,
    lease_until: i64,
    busy: &str,
) -> Result<Vec<Leased>, StoreError> {
    let op = "claiming due deliveries";
    let mut claim = conn
        .prepare_cached(
            "WITH busy AS (SELECT value FROM json_each(?2)),
             pending AS (
                SELECT id, next_attempt_at, 0 AS replayed FROM deliveries
                WHERE status = 'Pending' AND replay_id IS NULL AND next_attempt_at <= ?1
                  AND target_namespace || char(31) || target_kind || char(31) || target_name
                      NOT IN busy
                ORDER BY next_attempt_at LIMIT ?3),
             replays AS (
                SELECT id, next_attempt_at, 1 AS replayed FROM deliveries
                WHERE status = 'Pending' AND replay_id IS NOT NULL AND next_attempt_at <= ?1
                  AND target_namespace || char(31) || target_kind || char(31) || target_name
                      NOT IN busy
                ORDER BY next_attempt_at LIMIT ?5),
             expired AS (
                SELECT id, next_attempt_at, 0 AS replayed FROM deliveries
                WHERE status = 'Delivering' AND lease_until <= ?1
                  AND target_namespace || char(31) || target_kind || char(31) || target_name
                      NOT IN busy
                ORDER BY lease_until LIMIT ?3),
             due AS (
                SELECT id FROM (SELECT * FROM pending UNION ALL SELECT * FROM expired
                                UNION ALL SELECT * FROM replays)
                ORDER BY replayed, next_attempt_at, id LIMIT ?3)
             UPDATE deliveries SET status = 'Delivering', lease_until = ?4
             WHERE id IN (SELECT id FROM due)
             RETURNING id, event_namespace, event_id, target_namespace, target_kind,
                       target_name, attempts, next_attempt_at, replay_id",
        )
        .map_err(StoreError::sqlite(op))?;
    let mut rows = claim
        .query(params![
            now,
            busy,
            codec::sql_limit(limit),
            lease_until,
            codec::sql_limit(codec::replay_share(limit))
        ])
        .map_err(StoreError::sqlite(op))?;
    let mut leased = Vec::new();
    while let Some(row) = rows.next().map_err(StoreError::sqlite(op))? {
        let get = |i| -> Result<String, StoreError> { row.get(i).map_err(StoreError::sqlite(op)) };
        let kind = get(4)?;
        let entry = Leased {
            id: get(0)?,
            event_namespace: get(1)?,
            event_id: get(2)?,
            target: codec::target(get(3)?, &kind, get(5)?)?,
            attempts: codec::count("attempt count", row.get(6).map_err(StoreError::sqlite(op))?)?,
            replay: row.get(8).map_err(StoreError::sqlite(op))?,
        };
        let due: Option<i64> = row.get(7).map_err(StoreError::sqlite(op))?;
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
        "SELECT namespace, id, event_type, source, payload, received_at, context FROM events
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
            // Written by the store from a checked payload: read back as is.
            payload: Payload::trusted(col::<_, String>(&row, "payload")?),
            received_at: time(col(&row, "received_at")?)?,
            context: col::<_, Option<String>>(&row, "context")?.map(Payload::trusted),
        };
        events.insert((event.namespace.clone(), event.id.clone()), Arc::new(event));
    }
    Ok(events)
}

/// Records batches of attempts for the completion group committer: one transaction each,
/// committed without an fsync ([`Durability::Relaxed`]): an attempt record lost with the
/// machine only means the delivery is attempted again (at least once), while acceptances,
/// which share the writer, keep their fsync.
pub(super) struct CompletionWriter(pub(super) Arc<WriterThread>);

#[async_trait]
impl BatchWriter for CompletionWriter {
    type Item = Completion;
    /// False when the delivery does not exist (any more).
    type Output = bool;

    async fn write_batch(&self, batch: Vec<Completion>) -> Result<Vec<bool>, StoreError> {
        self.0
            .transaction(Durability::Relaxed, "recording attempts", move |tx| {
                batch.iter().map(|c| complete_one(tx, c)).collect()
            })
            .await
    }
}

/// Moves the delivery to the state its outcome names and records the attempt, numbered from
/// the delivery's new count; false when the delivery does not exist.
fn complete_one(tx: &Transaction<'_>, completion: &Completion) -> Result<bool, StoreError> {
    let Completion {
        delivery_id,
        attempt,
        outcome,
    } = completion;
    let (status, next_attempt_at) = after_attempt(outcome);
    let finished_at = (next_attempt_at.is_none()).then(|| us(attempt_end(attempt)));
    let op = "recording an attempt";
    let n: Option<i64> = tx
        .prepare_cached(
            "UPDATE deliveries SET attempts = attempts + 1, status = ?2, next_attempt_at = ?3,
                lease_until = NULL, last_error = ?4, finished_at = ?5
             WHERE id = ?1 RETURNING attempts",
        )
        .and_then(|mut update| {
            update
                .query_row(
                    params![
                        delivery_id,
                        status.as_str(),
                        next_attempt_at.map(us),
                        codec::last_error(attempt, outcome),
                        finished_at
                    ],
                    |row| row.get(0),
                )
                .optional()
        })
        .map_err(StoreError::sqlite(op))?;
    let Some(n) = n else {
        return Ok(false);
    };
    let headers = to_json("response headers", &attempt.response_headers)?;
    tx.prepare_cached(
        "INSERT INTO attempts (delivery_id, n, started_at, duration_ms, request, response_status,
            response_headers, response_body, error)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )
    .and_then(|mut insert| {
        insert.execute(params![
            delivery_id,
            n,
            us(attempt.started_at),
            i64::try_from(attempt.duration_ms).unwrap_or(i64::MAX),
            attempt.request,
            attempt.response_status,
            headers,
            capped_body(&attempt.response_body),
            attempt.error
        ])
    })
    .map_err(StoreError::sqlite(op))?;
    Ok(true)
}

/// Puts a Failed or Dead delivery of `target` back to Pending, due at `now`.
pub(super) async fn retry(
    writer: &WriterThread,
    target: &Target,
    delivery_id: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let (target, id) = (target.clone(), delivery_id.to_owned());
    writer
        .run(Durability::Full, move |conn| {
            conn.execute(
                "UPDATE deliveries SET status = 'Pending', next_attempt_at = ?5,
                    lease_until = NULL, finished_at = NULL
                 WHERE id = ?1 AND target_namespace = ?2 AND target_kind = ?3
                   AND target_name = ?4 AND status IN ('Failed', 'Dead')",
                params![
                    id,
                    target.namespace,
                    target.kind.as_str(),
                    target.name,
                    us(now)
                ],
            )
            .map_err(StoreError::sqlite("retrying a delivery"))
        })
        .await
        .map(|changed| changed > 0)
}

/// Marks every Pending delivery of `target` Failed with `reason`.
pub(super) async fn drop_pending(
    writer: &WriterThread,
    target: &Target,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let (target, reason) = (target.clone(), reason.to_owned());
    let dropped = writer
        .run(Durability::Full, move |conn| {
            conn.execute(
                "UPDATE deliveries SET status = 'Failed', next_attempt_at = NULL,
                    last_error = ?4, finished_at = ?5
                 WHERE target_namespace = ?1 AND target_kind = ?2 AND target_name = ?3
                   AND status = 'Pending'",
                params![
                    target.namespace,
                    target.kind.as_str(),
                    target.name,
                    reason,
                    us(now)
                ],
            )
            .map_err(StoreError::sqlite("dropping a target's pending deliveries"))
        })
        .await?;
    Ok(u64::try_from(dropped).unwrap_or(u64::MAX))
}

/// Puts a Delivering delivery back to Pending, due at `at`, without recording an attempt.
pub(super) async fn release(
    writer: &WriterThread,
    delivery_id: &str,
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let id = delivery_id.to_owned();
    writer
        .run(Durability::Full, move |conn| {
            conn.prepare_cached(
                "UPDATE deliveries SET status = 'Pending', next_attempt_at = ?2,
                    lease_until = NULL
                 WHERE id = ?1 AND status = 'Delivering'",
            )
            .and_then(|mut release| release.execute(params![id, us(at)]))
            .map_err(StoreError::sqlite("releasing a claimed delivery"))
        })
        .await
        .map(|changed| changed > 0)
}
