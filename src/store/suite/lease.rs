//! Suite: renewing the leases a process holds, taking back a previous process's claims at
//! start, and the health probe's round trip.

use std::time::Duration;

use chrono::TimeDelta;

use super::{Harness, acceptance, attempt, now, sub};
use crate::store::Outcome;

const LEASE: Duration = Duration::from_secs(30);

/// A renewed lease runs from the renewal; only Delivering deliveries are renewed.
pub(crate) async fn renewed_leases_outlast_the_first_lease(h: &Harness) {
    let store = h.open().await;
    let t0 = now();
    for id in ["e1", "e2", "e3"] {
        store
            .accept(vec![acceptance(id, t0, &[sub("a")])])
            .await
            .expect("accept");
    }
    let claimed = store.claim_due(t0, 10, LEASE, &[]).await.expect("claim");
    let id_of = |event: &str| {
        claimed
            .iter()
            .find(|c| c.event.id == event)
            .map(|c| c.id.clone())
            .expect("claimed")
    };
    let (held, done) = (id_of("e1"), id_of("e3"));
    store
        .complete(&done, attempt(t0, Some(200)), Outcome::Delivered)
        .await
        .expect("complete");
    assert_eq!(store.renew(&[], t0, LEASE).await.expect("renew nothing"), 0);
    let renewed_at = t0 + TimeDelta::seconds(20);
    let renewed = store
        .renew(&[held.clone(), done.clone()], renewed_at, LEASE)
        .await
        .expect("renew");
    assert_eq!(renewed, 1, "only the Delivering one is renewed");

    let first_lease_over = t0 + TimeDelta::seconds(31);
    let again = store
        .claim_due(first_lease_over, 10, LEASE, &[])
        .await
        .expect("claim");
    let events: Vec<&str> = again.iter().map(|c| c.event.id.as_str()).collect();
    assert_eq!(
        events,
        ["e2"],
        "the unrenewed lease ran out, the renewed one did not"
    );
    let renewal_over = renewed_at + TimeDelta::seconds(31);
    let again = store
        .claim_due(renewal_over, 10, LEASE, &[])
        .await
        .expect("claim");
    let ids: Vec<&str> = again.iter().map(|c| c.id.as_str()).collect();
    assert!(ids.contains(&held.as_str()), "{ids:?}");
    let counts = store.delivery_counts(&sub("a")).await.expect("counts");
    assert_eq!((counts.delivered, counts.pending), (1, 2));
}

/// At start, a store one process owns (SQLite) gives back every claim a previous process
/// left, due at once; a shared store (PostgreSQL) leaves them to their leases.
pub(crate) async fn abandoned_claims_are_taken_back_only_on_an_owned_store(h: &Harness) {
    let store = h.open().await;
    store.ping().await.expect("the store answers a probe");
    let t0 = now();
    store
        .accept(vec![acceptance("e1", t0, &[sub("a")])])
        .await
        .expect("accept");
    let claimed = store.claim_due(t0, 10, LEASE, &[]).await.expect("claim");
    assert_eq!(claimed.len(), 1);
    drop(store);

    // The next process.
    let store = h.open().await;
    let restart = t0 + TimeDelta::seconds(1);
    let reclaimed = store.reclaim_abandoned(restart).await.expect("reclaim");
    let again = store
        .claim_due(restart, 10, LEASE, &[])
        .await
        .expect("claim");
    if h.url.starts_with("postgres") {
        assert_eq!(reclaimed, 0, "another replica may hold it");
        assert!(again.is_empty(), "{again:?}");
    } else {
        assert_eq!(reclaimed, 1);
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].id, claimed[0].id);
        assert_eq!(again[0].attempts, 0, "no attempt was recorded");
    }
}
