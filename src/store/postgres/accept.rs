//! Durable acceptance on PostgreSQL: a batch of events with their deliveries and dedup keys in
//! one transaction. Rows are written in key order so that two processes' batches lock in the
//! same order; a batch that still loses a deadlock is retried whole.

use async_trait::async_trait;
use sqlx::{PgConnection, PgPool};

use crate::store::codec::{new_delivery_id, to_json};
use crate::store::{Acceptance, Accepted, BatchWriter, StoreError};

/// Tries of a batch that PostgreSQL aborted as a deadlock or serialization failure.
const TRIES: usize = 3;

/// Writes batches for the group committer.
pub(super) struct PgWriter(pub(super) PgPool);

#[async_trait]
impl BatchWriter for PgWriter {
    async fn write_batch(&self, batch: &[Acceptance]) -> Result<Vec<Accepted>, StoreError> {
        // Ids are drawn in input order, so later acceptances list as newer.
        let ids: Vec<Vec<String>> = batch
            .iter()
            .map(|a| a.targets.iter().map(|_| new_delivery_id()).collect())
            .collect();
        let mut order: Vec<usize> = (0..batch.len()).collect();
        order.sort_by(|&a, &b| {
            let (a, b) = (&batch[a].event, &batch[b].event);
            (&a.namespace, &a.id).cmp(&(&b.namespace, &b.id))
        });
        let mut tries = 0;
        loop {
            tries += 1;
            match self.try_batch(batch, &ids, &order).await {
                Err(error) if tries < TRIES && is_conflict(&error) => continue,
                result => return result,
            }
        }
    }
}

impl PgWriter {
    /// One transaction over the batch, written in `order`; results in input order.
    async fn try_batch(
        &self,
        batch: &[Acceptance],
        ids: &[Vec<String>],
        order: &[usize],
    ) -> Result<Vec<Accepted>, StoreError> {
        let mut tx = self
            .0
            .begin()
            .await
            .map_err(StoreError::db("starting an acceptance batch"))?;
        let mut results = vec![Accepted::DuplicateId; batch.len()];
        for &i in order {
            results[i] = accept_one(&mut tx, &batch[i], &ids[i]).await?;
        }
        tx.commit()
            .await
            .map_err(StoreError::db("committing an acceptance batch"))?;
        Ok(results)
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

/// Stores one acceptance inside the batch's transaction, or nothing when it is a duplicate.
async fn accept_one(
    conn: &mut PgConnection,
    acceptance: &Acceptance,
    ids: &[String],
) -> Result<Accepted, StoreError> {
    let event = &acceptance.event;
    let inserted = sqlx::query(
        "INSERT INTO events (namespace, id, event_type, source, payload, received_at)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
    )
    .bind(&event.namespace)
    .bind(&event.id)
    .bind(&event.event_type)
    .bind(&event.source)
    .bind(to_json("event payload", &event.payload)?)
    .bind(event.received_at)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::db("storing an event"))?;
    if inserted.rows_affected() == 0 {
        return Ok(Accepted::DuplicateId);
    }
    if let Some(dedup) = &acceptance.dedup {
        // Takes the key when it is new or expired; leaves an unexpired one alone. A concurrent
        // insert of the same key waits for the other transaction and then sees its row.
        let taken = sqlx::query(
            "INSERT INTO dedup_keys (namespace, scope, key, expires_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (namespace, scope, key) DO UPDATE SET expires_at = EXCLUDED.expires_at
             WHERE dedup_keys.expires_at <= $5",
        )
        .bind(&dedup.namespace)
        .bind(&dedup.scope)
        .bind(&dedup.key)
        .bind(dedup.expires_at)
        .bind(event.received_at)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::db("storing a dedup key"))?;
        if taken.rows_affected() == 0 {
            sqlx::query("DELETE FROM events WHERE namespace = $1 AND id = $2")
                .bind(&event.namespace)
                .bind(&event.id)
                .execute(&mut *conn)
                .await
                .map_err(StoreError::db("undoing a deduplicated event"))?;
            return Ok(Accepted::DuplicateKey);
        }
    }
    if !acceptance.targets.is_empty() {
        let targets = &acceptance.targets;
        let namespaces: Vec<&str> = targets.iter().map(|t| t.namespace.as_str()).collect();
        let kinds: Vec<&str> = targets.iter().map(|t| t.kind.as_str()).collect();
        let names: Vec<&str> = targets.iter().map(|t| t.name.as_str()).collect();
        sqlx::query(
            "INSERT INTO deliveries (id, event_namespace, event_id, target_namespace,
                target_kind, target_name, status, next_attempt_at, created_at)
             SELECT t.id, $5, $6, t.namespace, t.kind, t.name, 'Pending', $7, $7
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[])
                  AS t(id, namespace, kind, name)",
        )
        .bind(ids)
        .bind(&namespaces)
        .bind(&kinds)
        .bind(&names)
        .bind(&event.namespace)
        .bind(&event.id)
        .bind(event.received_at)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::db("storing deliveries"))?;
    }
    Ok(Accepted::Stored {
        deliveries: acceptance.targets.len(),
    })
}
