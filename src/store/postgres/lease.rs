//! Renewing on PostgreSQL the leases this process still holds, so a short lease does not let
//! another replica take a delivery that is only slow.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::store::StoreError;

/// Sets the lease of those of `ids` still Delivering to `until`; how many were renewed.
/// Rows are locked in id order (like recorded attempts) and rows locked by someone else are
/// skipped (a completion about to finish them, a claim of an expired lease): a renewal never
/// waits. Committed without waiting for the WAL flush, like the claim.
pub(super) async fn renew(
    pool: &PgPool,
    ids: &[String],
    until: DateTime<Utc>,
) -> Result<u64, StoreError> {
    if ids.is_empty() {
        return Ok(0);
    }
    let mut tx = pool
        .begin()
        .await
        .map_err(StoreError::db("starting a lease renewal"))?;
    sqlx::query("SET LOCAL synchronous_commit = off")
        .execute(&mut *tx)
        .await
        .map_err(StoreError::db("starting a lease renewal"))?;
    let done = sqlx::query(
        "UPDATE deliveries d SET lease_until = $2
         FROM (SELECT id FROM deliveries
               WHERE id = ANY($1) AND status = 'Delivering'
               ORDER BY id
               FOR UPDATE SKIP LOCKED) AS held
         WHERE d.id = held.id",
    )
    .bind(ids)
    .bind(until)
    .execute(&mut *tx)
    .await
    .map_err(StoreError::db("renewing delivery leases"))?;
    tx.commit()
        .await
        .map_err(StoreError::db("committing a lease renewal"))?;
    Ok(done.rows_affected())
}
