//! Durable acceptance on PostgreSQL: a batch of events with their deliveries and dedup keys in
//! one transaction. Events and deliveries are inserted with one statement each for the whole
//! batch (`UNNEST` of arrays), in key order so that two processes' batches lock rows in the
//! same order; dedup keys row by row. A batch that still loses a deadlock is retried whole.

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use crate::store::batch::{AcceptedWork, Accepting, EventKey, claimed, key_order, owners};
use crate::store::codec::new_delivery_id;
use crate::store::{
    Acceptance, Accepted, BatchWriter, ClaimedDelivery, DedupKey, Payload, StoreError,
};

/// Tries of a batch that PostgreSQL aborted as a deadlock or serialization failure.
const TRIES: usize = 3;

/// Writes batches for the group committer.
pub(super) struct PgWriter(pub(super) PgPool);

#[async_trait]
impl BatchWriter for PgWriter {
    type Item = Accepting;
    type Output = AcceptedWork;

    async fn write_batch(&self, batch: Vec<Accepting>) -> Result<Vec<AcceptedWork>, StoreError> {
        let mut tries = 0;
        loop {
            tries += 1;
            match self.try_batch(&batch).await {
                Err(error) if tries < TRIES && is_conflict(&error) => continue,
                result => return result,
            }
        }
    }
}

impl PgWriter {
    /// One transaction over the batch; results in input order.
    async fn try_batch(&self, batch: &[Accepting]) -> Result<Vec<AcceptedWork>, StoreError> {
        let mut tx = self
            .0
            .begin()
            .await
            .map_err(StoreError::db("starting an acceptance batch"))?;
        let inserted = insert_events(&mut tx, batch).await?;
        let mut results = Vec::with_capacity(batch.len());
        for (accepting, owner) in batch.iter().zip(owners(batch, inserted)) {
            let acceptance = &accepting.acceptance;
            results.push(match (owner, &acceptance.dedup) {
                (false, _) => Accepted::DuplicateId,
                (true, Some(key)) if !take_key(&mut tx, acceptance, key).await? => {
                    Accepted::DuplicateKey
                }
                (true, _) => Accepted::Stored {
                    deliveries: acceptance.targets.len(),
                },
            });
        }
        let claims = insert_deliveries(&mut tx, batch, &results).await?;
        tx.commit()
            .await
            .map_err(StoreError::db("committing an acceptance batch"))?;
        Ok(results.into_iter().zip(claims).collect())
    }
}

/// Whether PostgreSQL aborted the transaction for a deadlock or a serialization failure.
fn is_conflict(error: &StoreError) -> bool {
    let StoreError::Database { source, .. } = error else {
        return false;
    };
    source
        .as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "40P01" || code == "40001")
}

/// Inserts the batch's events in key order, skipping ids already stored; returns the keys
/// inserted.
async fn insert_events(
    conn: &mut PgConnection,
    batch: &[Accepting],
) -> Result<HashSet<EventKey>, StoreError> {
    let order = key_order(batch);
    let events = || order.iter().map(|&i| &batch[i].acceptance.event);
    let namespaces: Vec<&str> = events().map(|e| e.namespace.as_str()).collect();
    let ids: Vec<&str> = events().map(|e| e.id.as_str()).collect();
    let types: Vec<&str> = events().map(|e| e.event_type.as_str()).collect();
    let sources: Vec<&str> = events().map(|e| e.source.as_str()).collect();
    let received: Vec<DateTime<Utc>> = events().map(|e| e.received_at).collect();
    // The payload's text as received: written as is, no serialization.
    let payloads: Vec<&str> = events().map(|e| e.payload.as_str()).collect();
    let contexts: Vec<Option<&str>> = events()
        .map(|e| e.context.as_ref().map(Payload::as_str))
        .collect();
    let inserted: Vec<EventKey> = sqlx::query_as(
        "INSERT INTO events (namespace, id, event_type, source, payload, received_at, context)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                              $6::timestamptz[], $7::text[])
         ON CONFLICT DO NOTHING
         RETURNING namespace, id",
    )
    .bind(namespaces)
    .bind(ids)
    .bind(types)
    .bind(sources)
    .bind(payloads)
    .bind(received)
    .bind(contexts)
    .fetch_all(&mut *conn)
    .await
    .map_err(StoreError::db("storing events"))?;
    Ok(inserted.into_iter().collect())
}

/// Takes the dedup key for the acceptance's (just inserted) event when the key is new or
/// expired; otherwise removes the event again and returns false. A concurrent insert of the
/// same key waits for the other transaction and then sees its row.
async fn take_key(
    conn: &mut PgConnection,
    acceptance: &Acceptance,
    key: &DedupKey,
) -> Result<bool, StoreError> {
    let event = &acceptance.event;
    let taken = sqlx::query(
        "INSERT INTO dedup_keys (namespace, scope, key, expires_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (namespace, scope, key) DO UPDATE SET expires_at = EXCLUDED.expires_at
         WHERE dedup_keys.expires_at <= $5",
    )
    .bind(&key.namespace)
    .bind(&key.scope)
    .bind(&key.key)
    .bind(key.expires_at)
    .bind(event.received_at)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::db("storing a dedup key"))?;
    if taken.rows_affected() > 0 {
        return Ok(true);
    }
    sqlx::query("DELETE FROM events WHERE namespace = $1 AND id = $2")
        .bind(&event.namespace)
        .bind(&event.id)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::db("undoing a deduplicated event"))?;
    Ok(false)
}

/// Inserts one delivery per target of every stored acceptance, due at once: Pending, or
/// Delivering under its lease when the acceptance asked for that. Ids are drawn in input
/// order, so later acceptances list as newer. Returns, per acceptance, the deliveries created
/// claimed.
async fn insert_deliveries(
    conn: &mut PgConnection,
    batch: &[Accepting],
    results: &[Accepted],
) -> Result<Vec<Vec<ClaimedDelivery>>, StoreError> {
    let mut rows = DeliveryRows::default();
    let mut claims = Vec::with_capacity(batch.len());
    for (accepting, result) in batch.iter().zip(results) {
        let a = &accepting.acceptance;
        let mut ids = Vec::new();
        if matches!(result, Accepted::Stored { .. }) {
            for t in &a.targets {
                let id = new_delivery_id();
                if accepting.lease_until.is_some() {
                    ids.push(id.clone());
                }
                rows.ids.push(id);
                rows.event_namespaces.push(&a.event.namespace);
                rows.event_ids.push(&a.event.id);
                rows.namespaces.push(&t.namespace);
                rows.kinds.push(t.kind.as_str());
                rows.names.push(&t.name);
                rows.due.push(a.event.received_at);
                rows.statuses.push(match accepting.lease_until {
                    Some(_) => "Delivering",
                    None => "Pending",
                });
                rows.leases.push(accepting.lease_until);
            }
        }
        claims.push(claimed(
            Arc::new(a.event.clone()),
            a.targets.iter().cloned(),
            ids,
        ));
    }
    if rows.ids.is_empty() {
        return Ok(claims);
    }
    sqlx::query(
        "INSERT INTO deliveries (id, event_namespace, event_id, target_namespace, target_kind,
            target_name, status, next_attempt_at, created_at, lease_until)
         SELECT r.id, r.event_namespace, r.event_id, r.namespace, r.kind, r.name, r.status,
                r.due, r.due, r.lease_until
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                     $7::timestamptz[], $8::text[], $9::timestamptz[])
              AS r(id, event_namespace, event_id, namespace, kind, name, due, status,
                   lease_until)",
    )
    .bind(rows.ids)
    .bind(rows.event_namespaces)
    .bind(rows.event_ids)
    .bind(rows.namespaces)
    .bind(rows.kinds)
    .bind(rows.names)
    .bind(rows.due)
    .bind(rows.statuses)
    .bind(rows.leases)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::db("storing deliveries"))?;
    Ok(claims)
}

/// Columns of the deliveries to insert, one array per column.
#[derive(Default)]
struct DeliveryRows<'a> {
    ids: Vec<String>,
    event_namespaces: Vec<&'a str>,
    event_ids: Vec<&'a str>,
    namespaces: Vec<&'a str>,
    kinds: Vec<&'a str>,
    names: Vec<&'a str>,
    due: Vec<DateTime<Utc>>,
    statuses: Vec<&'static str>,
    leases: Vec<Option<DateTime<Utc>>>,
}
