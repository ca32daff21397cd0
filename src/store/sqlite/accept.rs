//! Durable acceptance on SQLite: a batch of events with their deliveries and dedup keys in
//! one fsynced transaction, one job on the writer thread, row by row through prepared
//! statements. The first acceptance of an event id stores it; later ones in the batch, or of
//! an id already stored, are duplicates.

use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::{Transaction, params};

use super::us;
use super::writer::{Durability, WriterThread};
use crate::store::batch::{AcceptedWork, Accepting, claimed};
use crate::store::codec::new_delivery_id;
use crate::store::{Acceptance, Accepted, BatchWriter, DedupKey, NewEvent, Payload, StoreError};

/// Writes batches for the group committer.
pub(super) struct SqliteWriter(pub(super) Arc<WriterThread>);

#[async_trait]
impl BatchWriter for SqliteWriter {
    type Item = Accepting;
    type Output = AcceptedWork;

    async fn write_batch(&self, batch: Vec<Accepting>) -> Result<Vec<AcceptedWork>, StoreError> {
        self.0
            .transaction(Durability::Full, "storing an acceptance batch", |tx| {
                batch.into_iter().map(|a| accept(tx, a)).collect()
            })
            .await
    }
}

/// Stores one acceptance: its event (unless that id is stored), its dedup key, then its
/// deliveries, due at once: Pending, or Delivering under the lease it asked for.
fn accept(tx: &Transaction<'_>, accepting: Accepting) -> Result<AcceptedWork, StoreError> {
    let Accepting {
        acceptance,
        lease_until,
    } = accepting;
    let Acceptance {
        event,
        targets,
        dedup,
    } = acceptance;
    if !insert_event(tx, &event)? {
        return Ok((Accepted::DuplicateId, Vec::new()));
    }
    if let Some(key) = &dedup
        && !take_key(tx, &event, key)?
    {
        return Ok((Accepted::DuplicateKey, Vec::new()));
    }
    let lease = lease_until.map(us);
    let status = if lease.is_some() {
        "Delivering"
    } else {
        "Pending"
    };
    let at = us(event.received_at);
    let mut insert = tx
        .prepare_cached(
            "INSERT INTO deliveries (id, event_namespace, event_id, target_namespace,
                target_kind, target_name, status, next_attempt_at, created_at, lease_until)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9)",
        )
        .map_err(StoreError::sqlite("storing deliveries"))?;
    let mut ids = Vec::with_capacity(targets.len());
    for t in &targets {
        let id = new_delivery_id();
        insert
            .execute(params![
                id,
                event.namespace,
                event.id,
                t.namespace,
                t.kind.as_str(),
                t.name,
                status,
                at,
                lease
            ])
            .map_err(StoreError::sqlite("storing deliveries"))?;
        ids.push(id);
    }
    let stored = Accepted::Stored {
        deliveries: targets.len(),
    };
    if lease.is_none() {
        return Ok((stored, Vec::new()));
    }
    Ok((stored, claimed(Arc::new(event), targets, ids)))
}

/// Inserts the event; false when its id is already stored.
fn insert_event(tx: &Transaction<'_>, e: &NewEvent) -> Result<bool, StoreError> {
    let inserted = tx
        .prepare_cached(
            "INSERT INTO events (namespace, id, event_type, source, payload, received_at, context)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT DO NOTHING",
        )
        .and_then(|mut insert| {
            insert.execute(params![
                e.namespace,
                e.id,
                e.event_type,
                e.source,
                e.payload.as_str(),
                us(e.received_at),
                e.context.as_ref().map(Payload::as_str)
            ])
        })
        .map_err(StoreError::sqlite("storing an event"))?;
    Ok(inserted > 0)
}

/// Takes the dedup key for the (just inserted) event when the key is new or expired;
/// otherwise removes the event again and returns false.
fn take_key(tx: &Transaction<'_>, event: &NewEvent, key: &DedupKey) -> Result<bool, StoreError> {
    let taken = tx
        .prepare_cached(
            "INSERT INTO dedup_keys (namespace, scope, key, expires_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (namespace, scope, key) DO UPDATE SET expires_at = excluded.expires_at
             WHERE dedup_keys.expires_at <= ?5",
        )
        .and_then(|mut insert| {
            insert.execute(params![
                key.namespace,
                key.scope,
                key.key,
                us(key.expires_at),
                us(event.received_at)
            ])
        })
        .map_err(StoreError::sqlite("storing a dedup key"))?;
    if taken > 0 {
        return Ok(true);
    }
    tx.prepare_cached("DELETE FROM events WHERE namespace = ?1 AND id = ?2")
        .and_then(|mut delete| delete.execute(params![event.namespace, event.id]))
        .map_err(StoreError::sqlite("undoing a deduplicated event"))?;
    Ok(false)
}
