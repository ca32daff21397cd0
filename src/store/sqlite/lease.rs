//! Leases on SQLite beyond the claim: renewing those this process still holds, and taking
//! back at start the claims a previous process left behind (a SQLite store has one owner, so
//! every Delivering row at start is abandoned).

use chrono::{DateTime, Utc};
use rusqlite::params;

use super::us;
use super::writer::{Durability, WriterThread};
use crate::store::StoreError;
use crate::store::codec::to_json;

/// Sets the lease of those of `ids` still Delivering to `until`; how many were renewed.
/// Committed without an fsync, like the claim: a renewal lost in a crash only lets the lease
/// run out sooner.
pub(super) async fn renew(
    writer: &WriterThread,
    ids: &[String],
    until: DateTime<Utc>,
) -> Result<u64, StoreError> {
    if ids.is_empty() {
        return Ok(0);
    }
    let ids = to_json("renewed delivery ids", &ids)?;
    let renewed = writer
        .run(Durability::Relaxed, move |conn| {
            conn.prepare_cached(
                "UPDATE deliveries SET lease_until = ?2
                 WHERE status = 'Delivering' AND id IN (SELECT value FROM json_each(?1))",
            )
            .and_then(|mut renew| renew.execute(params![ids, us(until)]))
            .map_err(StoreError::sqlite("renewing delivery leases"))
        })
        .await?;
    Ok(u64::try_from(renewed).unwrap_or(u64::MAX))
}

/// Makes every Delivering delivery Pending again, due at `now`, without an attempt recorded.
pub(super) async fn reclaim_all(
    writer: &WriterThread,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let reclaimed = writer
        .run(Durability::Full, move |conn| {
            conn.execute(
                "UPDATE deliveries SET status = 'Pending', next_attempt_at = ?1,
                    lease_until = NULL
                 WHERE status = 'Delivering'",
                params![us(now)],
            )
            .map_err(StoreError::sqlite("reclaiming abandoned claims"))
        })
        .await?;
    Ok(u64::try_from(reclaimed).unwrap_or(u64::MAX))
}
