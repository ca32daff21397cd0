//! Suite: claiming under leases, completing attempts, retrying and dropping deliveries.

use std::collections::HashSet;
use std::time::Duration;

use chrono::TimeDelta;

use super::{Harness, acceptance, attempt, now, sub};
use crate::store::{DeliveryStatus, MAX_ATTEMPT_BODY_BYTES, Outcome, StoreError};

const LEASE: Duration = Duration::from_secs(30);

/// A claimed delivery is not claimed again until its lease has expired.
pub(crate) async fn claimed_deliveries_are_leased(h: &Harness) {
    let store = h.open().await;
    let t0 = now();
    for id in ["e1", "e2", "e3"] {
        store
            .accept(vec![acceptance(id, t0, &[sub("a")])])
            .await
            .expect("accept");
    }
    let first = store.claim_due(t0, 2, LEASE, &[]).await.expect("claim");
    let ids: Vec<&str> = first.iter().map(|c| c.event.id.as_str()).collect();
    assert_eq!(ids, ["e1", "e2"], "oldest due first, at most the limit");
    let rest = store.claim_due(t0, 10, LEASE, &[]).await.expect("claim");
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].event.id, "e3");
    let during = t0 + TimeDelta::seconds(29);
    assert!(
        store
            .claim_due(during, 10, LEASE, &[])
            .await
            .expect("claim")
            .is_empty()
    );

    let expired = t0 + TimeDelta::seconds(31);
    let again = store
        .claim_due(expired, 10, LEASE, &[])
        .await
        .expect("claim");
    assert_eq!(again.len(), 3, "expired leases are claimable again");
    assert!(again.iter().all(|c| c.attempts == 0));
    let counts = store.delivery_counts(&sub("a")).await.expect("counts");
    assert_eq!(counts.pending, 3, "Delivering counts as pending");
}

/// Busy targets are skipped, and deliveries due later wait.
pub(crate) async fn claim_skips_busy_targets_and_future_work(h: &Harness) {
    let store = h.open().await;
    let t0 = now();
    store
        .accept(vec![acceptance("e1", t0, &[sub("a"), sub("b")])])
        .await
        .expect("accept");
    // Due before the first claims' leases run out.
    let future = t0 + TimeDelta::seconds(20);
    store
        .accept(vec![acceptance("later", future, &[sub("b")])])
        .await
        .expect("accept");

    let claimed = store
        .claim_due(t0, 10, LEASE, &[sub("a")])
        .await
        .expect("claim");
    let targets: Vec<&str> = claimed.iter().map(|c| c.target.name.as_str()).collect();
    assert_eq!(targets, ["b"]);
    assert_eq!(claimed[0].event.id, "e1");
    let claimed = store.claim_due(t0, 10, LEASE, &[]).await.expect("claim");
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].target, sub("a"));

    let claimed = store
        .claim_due(future, 10, LEASE, &[])
        .await
        .expect("claim");
    let ids: Vec<&str> = claimed.iter().map(|c| c.event.id.as_str()).collect();
    assert_eq!(ids, ["later"]);
}

/// Each outcome leaves the delivery in its state, with the attempt recorded.
pub(crate) async fn complete_records_each_outcome(h: &Harness) {
    let store = h.open().await;
    let t0 = now();
    for id in ["ok", "retry", "failed", "dead"] {
        store
            .accept(vec![acceptance(id, t0, &[sub("a")])])
            .await
            .expect("accept");
    }
    let claimed = store.claim_due(t0, 10, LEASE, &[]).await.expect("claim");
    assert_eq!(claimed.len(), 4);
    let retry_at = t0 + TimeDelta::seconds(60);
    for c in &claimed {
        let (outcome, mut record) = match c.event.id.as_str() {
            "ok" => (Outcome::Delivered, attempt(t0, Some(200))),
            "retry" => (Outcome::Retry { at: retry_at }, attempt(t0, Some(503))),
            "failed" => (Outcome::Failed, attempt(t0, Some(410))),
            _ => (Outcome::Dead, attempt(t0, None)),
        };
        if c.event.id == "dead" {
            record.error = Some("connection refused".into());
            record.response_body = "x".repeat(MAX_ATTEMPT_BODY_BYTES + 100);
        }
        store
            .complete(&c.id, record, outcome)
            .await
            .expect("complete");
    }

    let listed = store
        .list_deliveries(
            &sub("a"),
            &crate::store::DeliveryFilter::default(),
            10,
            None,
        )
        .await
        .expect("list");
    let by_event = |id: &str| listed.iter().find(|d| d.event_id == id).expect(id);
    let ok = by_event("ok");
    assert_eq!(
        (ok.status, ok.attempts, ok.last_error.as_deref()),
        (DeliveryStatus::Delivered, 1, None)
    );
    assert_eq!(ok.attempt_log, vec![attempt(t0, Some(200))]);
    let retry = by_event("retry");
    assert_eq!(
        (retry.status, retry.next_attempt_at),
        (DeliveryStatus::Pending, Some(retry_at))
    );
    assert_eq!(retry.last_error.as_deref(), Some("HTTP 503"));
    let failed = by_event("failed");
    assert_eq!(
        (failed.status, failed.last_error.as_deref()),
        (DeliveryStatus::Failed, Some("HTTP 410"))
    );
    let dead = by_event("dead");
    assert_eq!(
        (dead.status, dead.last_error.as_deref()),
        (DeliveryStatus::Dead, Some("connection refused"))
    );
    assert_eq!(dead.attempt_log.len(), 1);
    assert_eq!(
        dead.attempt_log[0].response_body.len(),
        MAX_ATTEMPT_BODY_BYTES
    );
    assert_eq!(dead.attempt_log[0].response_status, None);

    // The retried delivery comes back when due, with its attempt counted.
    assert!(
        store
            .claim_due(t0 + TimeDelta::seconds(59), 10, LEASE, &[])
            .await
            .expect("claim")
            .is_empty()
    );
    let again = store
        .claim_due(retry_at, 10, LEASE, &[])
        .await
        .expect("claim");
    assert_eq!(again.len(), 1);
    assert_eq!(
        (again[0].event.id.as_str(), again[0].attempts),
        ("retry", 1)
    );
    store
        .complete(
            &again[0].id,
            attempt(retry_at, Some(204)),
            Outcome::Delivered,
        )
        .await
        .expect("complete");
    let listed = store
        .list_deliveries(
            &sub("a"),
            &crate::store::DeliveryFilter::default(),
            10,
            None,
        )
        .await
        .expect("list");
    let retry = listed
        .iter()
        .find(|d| d.event_id == "retry")
        .expect("retry");
    assert_eq!(
        (retry.status, retry.attempts),
        (DeliveryStatus::Delivered, 2)
    );
    let statuses: Vec<Option<u16>> = retry
        .attempt_log
        .iter()
        .map(|a| a.response_status)
        .collect();
    assert_eq!(statuses, [Some(503), Some(204)], "attempts oldest first");
}

/// Reporting an attempt for a delivery the store does not have is an error.
pub(crate) async fn complete_of_unknown_delivery_fails(h: &Harness) {
    let store = h.open().await;
    let got = store
        .complete("no-such-id", attempt(now(), Some(200)), Outcome::Delivered)
        .await;
    assert!(
        matches!(got, Err(StoreError::UnknownDelivery(ref id)) if id == "no-such-id"),
        "{got:?}"
    );
}

/// Dead and Failed deliveries go back to Pending, due at once; others are left alone.
pub(crate) async fn retry_puts_dead_and_failed_back(h: &Harness) {
    let store = h.open().await;
    let t0 = now();
    store
        .accept(vec![acceptance("e1", t0, &[sub("a")])])
        .await
        .expect("accept");
    store
        .accept(vec![acceptance("e2", t0, &[sub("a")])])
        .await
        .expect("accept");
    let claimed = store.claim_due(t0, 1, LEASE, &[]).await.expect("claim");
    let dead = &claimed[0].id;
    store
        .complete(dead, attempt(t0, Some(500)), Outcome::Dead)
        .await
        .expect("complete");
    let pending = store
        .list_deliveries(
            &sub("a"),
            &crate::store::DeliveryFilter::status(Some(DeliveryStatus::Pending)),
            10,
            None,
        )
        .await
        .expect("list");
    let pending = &pending[0].id;

    assert!(
        !store
            .retry(&sub("a"), pending)
            .await
            .expect("retry pending")
    );
    assert!(
        !store
            .retry(&sub("other"), dead)
            .await
            .expect("retry other target")
    );
    assert!(
        !store
            .retry(&sub("a"), "no-such-id")
            .await
            .expect("retry unknown")
    );
    assert!(store.retry(&sub("a"), dead).await.expect("retry dead"));

    let claimed = store.claim_due(now(), 10, LEASE, &[]).await.expect("claim");
    let ids: HashSet<&str> = claimed.iter().map(|c| c.id.as_str()).collect();
    assert!(ids.contains(dead.as_str()), "retried delivery is due again");
    let again = claimed.iter().find(|c| &c.id == dead).expect("dead");
    assert_eq!(again.attempts, 1);
}

/// Dropping a target fails its Pending deliveries only.
pub(crate) async fn drop_pending_fails_only_pending(h: &Harness) {
    let store = h.open().await;
    let t0 = now();
    for id in ["delivered", "delivering", "p1", "p2"] {
        store
            .accept(vec![acceptance(id, t0, &[sub("a"), sub("b")])])
            .await
            .expect("accept");
    }
    let claimed = store
        .claim_due(t0, 2, LEASE, &[sub("b")])
        .await
        .expect("claim");
    let delivered = claimed
        .iter()
        .find(|c| c.event.id == "delivered")
        .expect("delivered");
    store
        .complete(&delivered.id, attempt(t0, Some(200)), Outcome::Delivered)
        .await
        .expect("complete");

    assert_eq!(
        store
            .drop_pending(&sub("a"), "subscription deleted")
            .await
            .expect("drop"),
        2
    );
    let failed = store
        .list_deliveries(
            &sub("a"),
            &crate::store::DeliveryFilter::status(Some(DeliveryStatus::Failed)),
            10,
            None,
        )
        .await
        .expect("list");
    let mut events: Vec<&str> = failed.iter().map(|d| d.event_id.as_str()).collect();
    events.sort();
    assert_eq!(events, ["p1", "p2"]);
    assert!(
        failed
            .iter()
            .all(|d| d.last_error.as_deref() == Some("subscription deleted"))
    );
    let counts = store.delivery_counts(&sub("a")).await.expect("counts");
    assert_eq!((counts.pending, counts.delivered, counts.failed), (1, 1, 2));
    assert_eq!(
        store.delivery_counts(&sub("b")).await.expect("b").pending,
        4
    );
    // Dropped deliveries are no longer claimable.
    let later = t0 + TimeDelta::seconds(1);
    let claimed = store
        .claim_due(later, 10, LEASE, &[sub("b")])
        .await
        .expect("claim");
    assert!(claimed.is_empty(), "{claimed:?}");
}

/// A released delivery is Pending again at the given time, with no attempt recorded.
pub(crate) async fn release_gives_a_claim_back_unattempted(h: &Harness) {
    let store = h.open().await;
    let t0 = now();
    store
        .accept(vec![acceptance("e1", t0, &[sub("a")])])
        .await
        .expect("accept");
    let claimed = store.claim_due(t0, 10, LEASE, &[]).await.expect("claim");
    let later = t0 + TimeDelta::seconds(5);
    assert!(store.release(&claimed[0].id, later).await.expect("release"));
    assert!(
        !store.release(&claimed[0].id, later).await.expect("release"),
        "only a Delivering delivery is released"
    );
    assert!(
        store
            .claim_due(t0, 10, LEASE, &[])
            .await
            .expect("claim")
            .is_empty()
    );
    let again = store.claim_due(later, 10, LEASE, &[]).await.expect("claim");
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 0, "no attempt was recorded");
}
