//! Durable acceptance on SQLite: a batch of events with their deliveries and dedup keys in
//! one transaction on the writer connection. Events and deliveries are inserted with one
//! statement each for the whole batch (rows passed as a JSON array); dedup keys row by row.
//! Without dedup keys a batch takes two round trips to the connection: `BEGIN` with the
//! events, then the deliveries with `COMMIT`.

use std::collections::HashSet;

use async_trait::async_trait;
use serde_json::json;
use sqlx::SqlitePool;

use super::{Writer, script, us};
use crate::store::batch::{AcceptedWork, Accepting, EventKey, claimed, owners};
use crate::store::codec::{col, new_delivery_id, to_json};
use crate::store::{Acceptance, Accepted, BatchWriter, DedupKey, StoreError};

/// Writes batches for the group committer.
pub(super) struct SqliteWriter(pub(super) SqlitePool);

#[async_trait]
impl BatchWriter for SqliteWriter {
    type Item = Accepting;
    type Output = AcceptedWork;

    async fn write_batch(&self, batch: &[Accepting]) -> Result<Vec<AcceptedWork>, StoreError> {
        let mut conn = self
            .0
            .acquire()
            .await
            .map_err(StoreError::db("starting an acceptance batch"))?;
        let written = write(&mut conn, batch).await;
        if written.is_err() {
            // Never hand back a connection inside the batch's transaction: closing it rolls
            // the transaction back.
            conn.close_on_drop();
        }
        written
    }
}

/// The batch's transaction: events, dedup keys, deliveries, commit.
async fn write(conn: &mut Writer, batch: &[Accepting]) -> Result<Vec<AcceptedWork>, StoreError> {
    let inserted = insert_events(conn, batch).await?;
    let mut results = Vec::with_capacity(batch.len());
    for (accepting, owner) in batch.iter().zip(owners(batch, inserted)) {
        let acceptance = &accepting.acceptance;
        results.push(match (owner, &acceptance.dedup) {
            (false, _) => Accepted::DuplicateId,
            (true, Some(key)) if !take_key(conn, acceptance, key).await? => Accepted::DuplicateKey,
            (true, _) => Accepted::Stored {
                deliveries: acceptance.targets.len(),
            },
        });
    }
    let claims = insert_deliveries(conn, batch, &results).await?;
    Ok(results.into_iter().zip(claims).collect())
}

/// Opens the batch's transaction and inserts its events, skipping ids already stored;
/// returns the keys inserted.
async fn insert_events(
    conn: &mut Writer,
    batch: &[Accepting],
) -> Result<HashSet<EventKey>, StoreError> {
    let mut rows = Vec::with_capacity(batch.len());
    for a in batch {
        let e = &a.acceptance.event;
        let payload = to_json("event payload", &e.payload)?;
        rows.push(json!([
            e.namespace,
            e.id,
            e.event_type,
            e.source,
            payload,
            us(e.received_at)
        ]));
    }
    let query = sqlx::query(
        "BEGIN;
         INSERT INTO events (namespace, id, event_type, source, payload, received_at)
         SELECT r.value ->> 0, r.value ->> 1, r.value ->> 2, r.value ->> 3, r.value ->> 4,
                r.value ->> 5
         FROM json_each(?1) AS r WHERE true
         ON CONFLICT DO NOTHING
         RETURNING namespace, id",
    )
    .bind(to_json("event rows", &rows)?);
    let mut inserted = HashSet::new();
    for row in script(conn, query, "storing events").await? {
        inserted.insert((col(&row, "namespace")?, col(&row, "id")?));
    }
    Ok(inserted)
}

/// Takes the dedup key for the acceptance's (just inserted) event when the key is new or
/// expired; otherwise removes the event again and returns false.
async fn take_key(
    conn: &mut Writer,
    acceptance: &Acceptance,
    key: &DedupKey,
) -> Result<bool, StoreError> {
    let event = &acceptance.event;
    let taken = sqlx::query(
        "INSERT INTO dedup_keys (namespace, scope, key, expires_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (namespace, scope, key) DO UPDATE SET expires_at = excluded.expires_at
         WHERE dedup_keys.expires_at <= ?5",
    )
    .bind(&key.namespace)
    .bind(&key.scope)
    .bind(&key.key)
    .bind(us(key.expires_at))
    .bind(us(event.received_at))
    .execute(&mut **conn)
    .await
    .map_err(StoreError::db("storing a dedup key"))?;
    if taken.rows_affected() > 0 {
        return Ok(true);
    }
    sqlx::query("DELETE FROM events WHERE namespace = ?1 AND id = ?2")
        .bind(&event.namespace)
        .bind(&event.id)
        .execute(&mut **conn)
        .await
        .map_err(StoreError::db("undoing a deduplicated event"))?;
    Ok(false)
}

/// Inserts one delivery per target of every stored acceptance, due at once: Pending, or
/// Delivering under its lease when the acceptance asked for that, and commits the batch.
/// Returns, per acceptance, the deliveries created claimed.
async fn insert_deliveries(
    conn: &mut Writer,
    batch: &[Accepting],
    results: &[Accepted],
) -> Result<Vec<Vec<crate::store::ClaimedDelivery>>, StoreError> {
    let mut rows = Vec::new();
    let mut claims = Vec::with_capacity(batch.len());
    for (a, result) in batch.iter().zip(results) {
        if !matches!(result, Accepted::Stored { .. }) {
            claims.push(Vec::new());
            continue;
        }
        let lease = a.lease_until.map(us);
        let (e, at) = (&a.acceptance.event, us(a.acceptance.event.received_at));
        let mut ids = Vec::new();
        for t in &a.acceptance.targets {
            let id = new_delivery_id();
            rows.push(json!([
                id,
                e.namespace,
                e.id,
                t.namespace,
                t.kind.as_str(),
                t.name,
                at,
                if lease.is_some() {
                    "Delivering"
                } else {
                    "Pending"
                },
                lease,
            ]));
            if lease.is_some() {
                ids.push(id);
            }
        }
        claims.push(claimed(&a.acceptance, ids));
    }
    // An empty array inserts nothing; the script still commits.
    let query = sqlx::query(
        "INSERT INTO deliveries (id, event_namespace, event_id, target_namespace, target_kind,
            target_name, status, next_attempt_at, created_at, lease_until)
         SELECT r.value ->> 0, r.value ->> 1, r.value ->> 2, r.value ->> 3, r.value ->> 4,
                r.value ->> 5, r.value ->> 7, r.value ->> 6, r.value ->> 6, r.value ->> 8
         FROM json_each(?1) AS r;
         COMMIT",
    )
    .bind(to_json("delivery rows", &rows)?);
    script(conn, query, "storing deliveries and committing the batch").await?;
    Ok(claims)
}
