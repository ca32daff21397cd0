//! Durable acceptance on SQLite: a batch of events with their deliveries and dedup keys in
//! one transaction on the writer connection.

use async_trait::async_trait;
use sqlx::{SqliteConnection, SqlitePool};

use super::us;
use crate::store::codec::{new_delivery_id, to_json};
use crate::store::{Acceptance, Accepted, BatchWriter, DeliveryStatus, StoreError};

/// Writes batches for the group committer.
pub(super) struct SqliteWriter(pub(super) SqlitePool);

#[async_trait]
impl BatchWriter for SqliteWriter {
    async fn write_batch(&self, batch: &[Acceptance]) -> Result<Vec<Accepted>, StoreError> {
        let mut tx = self
            .0
            .begin()
            .await
            .map_err(StoreError::db("starting an acceptance batch"))?;
        let mut results = Vec::with_capacity(batch.len());
        for acceptance in batch {
            results.push(accept_one(&mut tx, acceptance).await?);
        }
        tx.commit()
            .await
            .map_err(StoreError::db("committing an acceptance batch"))?;
        Ok(results)
    }
}

/// Stores one acceptance inside the batch's transaction, or nothing when it is a duplicate.
async fn accept_one(
    conn: &mut SqliteConnection,
    acceptance: &Acceptance,
) -> Result<Accepted, StoreError> {
    let event = &acceptance.event;
    let now = us(event.received_at);
    let inserted = sqlx::query(
        "INSERT INTO events (namespace, id, event_type, source, payload, received_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
    )
    .bind(&event.namespace)
    .bind(&event.id)
    .bind(&event.event_type)
    .bind(&event.source)
    .bind(to_json("event payload", &event.payload)?)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::db("storing an event"))?;
    if inserted.rows_affected() == 0 {
        return Ok(Accepted::DuplicateId);
    }
    if let Some(dedup) = &acceptance.dedup {
        // Takes the key when it is new or expired; leaves an unexpired one alone.
        let taken = sqlx::query(
            "INSERT INTO dedup_keys (namespace, scope, key, expires_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (namespace, scope, key) DO UPDATE SET expires_at = excluded.expires_at
             WHERE dedup_keys.expires_at <= ?5",
        )
        .bind(&dedup.namespace)
        .bind(&dedup.scope)
        .bind(&dedup.key)
        .bind(us(dedup.expires_at))
        .bind(now)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::db("storing a dedup key"))?;
        if taken.rows_affected() == 0 {
            sqlx::query("DELETE FROM events WHERE namespace = ?1 AND id = ?2")
                .bind(&event.namespace)
                .bind(&event.id)
                .execute(&mut *conn)
                .await
                .map_err(StoreError::db("undoing a deduplicated event"))?;
            return Ok(Accepted::DuplicateKey);
        }
    }
    for target in &acceptance.targets {
        sqlx::query(
            "INSERT INTO deliveries (id, event_namespace, event_id, target_namespace,
                target_kind, target_name, status, next_attempt_at, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
        )
        .bind(new_delivery_id())
        .bind(&event.namespace)
        .bind(&event.id)
        .bind(&target.namespace)
        .bind(target.kind.as_str())
        .bind(&target.name)
        .bind(DeliveryStatus::Pending.as_str())
        .bind(now)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::db("storing a delivery"))?;
    }
    Ok(Accepted::Stored {
        deliveries: acceptance.targets.len(),
    })
}
