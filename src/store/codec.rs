//! What both backends compute the same way: ids, leases, outcome → status, stored spellings.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::{
    AttemptRecord, DeliveryCounts, DeliveryStatus, MAX_ATTEMPT_BODY_BYTES, Outcome, StoreError,
    Target, TargetKind,
};

/// A new delivery id: a UUIDv7, so ids sort by creation time (within a process, strictly).
pub(crate) fn new_delivery_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// When a lease taken at `now` for `lease` runs out.
pub(crate) fn lease_until(now: DateTime<Utc>, lease: Duration) -> DateTime<Utc> {
    TimeDelta::from_std(lease)
        .ok()
        .and_then(|lease| now.checked_add_signed(lease))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The status a delivery takes after an attempt, and when it is next due.
pub(crate) fn after_attempt(outcome: &Outcome) -> (DeliveryStatus, Option<DateTime<Utc>>) {
    match outcome {
        Outcome::Delivered => (DeliveryStatus::Delivered, None),
        Outcome::Retry { at } => (DeliveryStatus::Pending, Some(*at)),
        Outcome::Failed => (DeliveryStatus::Failed, None),
        Outcome::Dead => (DeliveryStatus::Dead, None),
    }
}

/// The delivery's `last_error` after an attempt: none on success, else the attempt's error or
/// its HTTP status.
pub(crate) fn last_error(attempt: &AttemptRecord, outcome: &Outcome) -> Option<String> {
    if *outcome == Outcome::Delivered {
        return None;
    }
    attempt.error.clone().or_else(|| {
        attempt
            .response_status
            .map(|status| format!("HTTP {status}"))
    })
}

/// When the attempt ended (its start plus its duration).
pub(crate) fn attempt_end(attempt: &AttemptRecord) -> DateTime<Utc> {
    i64::try_from(attempt.duration_ms)
        .ok()
        .and_then(TimeDelta::try_milliseconds)
        .and_then(|d| attempt.started_at.checked_add_signed(d))
        .unwrap_or(attempt.started_at)
}

/// The response body cut to [`MAX_ATTEMPT_BODY_BYTES`] on a character boundary.
pub(crate) fn capped_body(body: &str) -> &str {
    if body.len() <= MAX_ATTEMPT_BODY_BYTES {
        return body;
    }
    let mut end = MAX_ATTEMPT_BODY_BYTES;
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    &body[..end]
}

/// Decodes a stored delivery status.
pub(crate) fn status(stored: &str) -> Result<DeliveryStatus, StoreError> {
    DeliveryStatus::parse(stored).ok_or_else(|| StoreError::Corrupt {
        what: "delivery status",
        detail: format!("unknown status {stored:?}"),
    })
}

/// Rebuilds a target from its stored columns.
pub(crate) fn target(namespace: String, kind: &str, name: String) -> Result<Target, StoreError> {
    let kind = TargetKind::parse(kind).ok_or_else(|| StoreError::Corrupt {
        what: "delivery target",
        detail: format!("unknown target kind {kind:?}"),
    })?;
    Ok(Target {
        namespace,
        kind,
        name,
    })
}

/// One string per busy target, for `NOT IN` filters (fields joined by a unit separator).
pub(crate) fn target_keys(targets: &[Target]) -> Vec<String> {
    targets
        .iter()
        .map(|t| format!("{}\u{1f}{}\u{1f}{}", t.namespace, t.kind.as_str(), t.name))
        .collect()
}

/// Parses stored JSON text.
pub(crate) fn json<T: serde::de::DeserializeOwned>(
    what: &'static str,
    text: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt {
        what,
        detail: crate::error_chain::render(&e),
    })
}

/// Serializes a value as JSON text for storage.
pub(crate) fn to_json<T: serde::Serialize>(
    what: &'static str,
    value: &T,
) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt {
        what,
        detail: crate::error_chain::render(&e),
    })
}

/// A stored count or attempt number as `u32`/`u64`.
pub(crate) fn count<T: TryFrom<i64>>(what: &'static str, stored: i64) -> Result<T, StoreError> {
    T::try_from(stored).map_err(|_| StoreError::Corrupt {
        what,
        detail: format!("{stored} is out of range"),
    })
}

/// The counts of one target from its row of [`TARGET_COUNTS`]-shaped columns: pending
/// (Delivering included), delivered, failed, dead, and attempts summed.
pub(crate) fn counts(row: (i64, i64, i64, i64, i64)) -> Result<DeliveryCounts, StoreError> {
    let (pending, delivered, failed, dead, attempts) = row;
    Ok(DeliveryCounts {
        pending: count("delivery count", pending)?,
        delivered: count("delivery count", delivered)?,
        failed: count("delivery count", failed)?,
        dead: count("delivery count", dead)?,
        attempts: count("attempt count", attempts)?,
    })
}

/// The columns of one target's counts, in one pass over its deliveries (both backends take
/// `FILTER`); followed by the backend's `FROM deliveries WHERE <target>`.
pub(crate) const TARGET_COUNTS: &str = "SELECT
        COUNT(*) FILTER (WHERE status IN ('Pending', 'Delivering')),
        COUNT(*) FILTER (WHERE status = 'Delivered'),
        COUNT(*) FILTER (WHERE status = 'Failed'),
        COUNT(*) FILTER (WHERE status = 'Dead'),
        CAST(COALESCE(SUM(attempts), 0) AS BIGINT)";

/// Folds `(status, count)` rows into one entry per status, zeros included.
pub(crate) fn depth(rows: Vec<(String, i64)>) -> Result<Vec<(DeliveryStatus, u64)>, StoreError> {
    let mut depth: Vec<(DeliveryStatus, u64)> =
        DeliveryStatus::ALL.into_iter().map(|s| (s, 0)).collect();
    for (stored, n) in rows {
        let stored = status(&stored)?;
        let n = count("delivery count", n)?;
        if let Some(slot) = depth.iter_mut().find(|(s, _)| *s == stored) {
            slot.1 = n;
        }
    }
    Ok(depth)
}

/// Reads column `name` of a row, failing (not panicking) when it does not decode.
pub(crate) fn col<'r, R, T>(row: &'r R, name: &'static str) -> Result<T, StoreError>
where
    R: sqlx::Row,
    T: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    &'static str: sqlx::ColumnIndex<R>,
{
    row.try_get(name).map_err(StoreError::db("reading a row"))
}

/// A page size or other `usize` as an SQL integer.
pub(crate) fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// How many replayed deliveries one claim of `limit` may take at most: half of it (at least
/// one), so live work due at the same time always finds room in the claim and in the
/// dispatcher's slots.
pub(crate) fn replay_share(limit: usize) -> usize {
    limit.div_ceil(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_is_cut_on_a_char_boundary() {
        let body = "é".repeat(MAX_ATTEMPT_BODY_BYTES); // 2 bytes each
        let cut = capped_body(&body);
        assert_eq!(cut.len(), MAX_ATTEMPT_BODY_BYTES);
        let odd = format!("x{body}");
        assert_eq!(capped_body(&odd).len(), MAX_ATTEMPT_BODY_BYTES - 1);
        assert_eq!(capped_body("short"), "short");
    }

    #[test]
    fn delivery_ids_sort_by_creation() {
        let ids: Vec<String> = (0..1000).map(|_| new_delivery_id()).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
    }

    #[test]
    fn huge_leases_saturate() {
        let now = Utc::now();
        assert_eq!(
            lease_until(now, Duration::from_secs(30)) - now,
            TimeDelta::seconds(30)
        );
        assert_eq!(lease_until(now, Duration::MAX), DateTime::<Utc>::MAX_UTC);
    }

    #[test]
    fn last_error_prefers_the_error_then_the_status() {
        let mut attempt = AttemptRecord {
            started_at: Utc::now(),
            duration_ms: 1500,
            request: "POST https://example.com/".into(),
            response_status: Some(503),
            response_headers: vec![],
            response_body: String::new(),
            error: None,
        };
        assert_eq!(
            last_error(&attempt, &Outcome::Dead).as_deref(),
            Some("HTTP 503")
        );
        assert_eq!(last_error(&attempt, &Outcome::Delivered), None);
        attempt.error = Some("timed out".into());
        assert_eq!(
            last_error(&attempt, &Outcome::Failed).as_deref(),
            Some("timed out")
        );
        assert_eq!(
            attempt_end(&attempt) - attempt.started_at,
            TimeDelta::milliseconds(1500)
        );
    }
}
