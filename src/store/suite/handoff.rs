//! Suite: deliveries created claimed at acceptance (handed straight to the dispatcher), and
//! attempt records of many deliveries written in one batch.

use std::collections::HashSet;
use std::time::Duration;

use chrono::TimeDelta;

use super::{Harness, acceptance, attempt, now, sub};
use crate::store::{Accepted, DeliveryStatus, Outcome, StoreError};

const LEASE: Duration = Duration::from_secs(30);

/// Deliveries accepted claimed come back with their event, are not claimed again while the
/// lease runs, are claimable again once it expired (the process that took them died), and
/// complete as usual; duplicates and acceptances without targets hand nothing back.
pub(crate) async fn accepted_claimed_deliveries_are_leased(h: &Harness) {
    let store = h.open().await;
    let t0 = now();
    let done = store
        .accept_claimed(
            vec![
                acceptance("e1", t0, &[sub("a"), sub("b")]),
                acceptance("e2", t0, &[]),
            ],
            LEASE,
        )
        .await
        .expect("accept");
    assert_eq!(done.len(), 2);
    let (accepted, claimed) = &done[0];
    assert_eq!(*accepted, Accepted::Stored { deliveries: 2 });
    let targets: Vec<_> = claimed.iter().map(|c| c.target.clone()).collect();
    assert_eq!(targets, [sub("a"), sub("b")]);
    assert!(
        claimed
            .iter()
            .all(|c| c.attempts == 0 && c.event.id == "e1")
    );
    assert_eq!(*claimed[0].event, acceptance("e1", t0, &[]).event);
    assert_eq!(done[1], (Accepted::Stored { deliveries: 0 }, vec![]));
    let again = store
        .accept_claimed(vec![acceptance("e1", t0, &[sub("a")])], LEASE)
        .await
        .expect("accept");
    assert_eq!(again, [(Accepted::DuplicateId, vec![])]);

    let during = now() + TimeDelta::seconds(29);
    let none = store
        .claim_due(during, 10, LEASE, &[])
        .await
        .expect("claim");
    assert!(none.is_empty(), "claimed at acceptance: {none:?}");
    let counts = store.delivery_counts(&sub("a")).await.expect("counts");
    assert_eq!(counts.pending, 1, "Delivering counts as pending");

    let expired = now() + TimeDelta::seconds(31);
    let reclaimed = store
        .claim_due(expired, 10, LEASE, &[])
        .await
        .expect("claim");
    let ids = |list: &[crate::store::ClaimedDelivery]| -> HashSet<String> {
        list.iter().map(|c| c.id.clone()).collect()
    };
    assert_eq!(ids(&reclaimed), ids(claimed), "claimable after the lease");

    store
        .complete(&claimed[0].id, attempt(t0, Some(200)), Outcome::Delivered)
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
    assert_eq!(listed[0].status, DeliveryStatus::Delivered);
    assert_eq!(listed[0].attempt_log.len(), 1);
}

/// Concurrent completions share batches: each delivery gets its own attempt (numbered from
/// its own count) and state, and an unknown delivery fails alone.
pub(crate) async fn concurrent_completions_are_each_recorded(h: &Harness) {
    let store = h.open().await;
    let t0 = now();
    let targets: Vec<_> = (0..20).map(|i| sub(&format!("t{i}"))).collect();
    let done = store
        .accept_claimed(vec![acceptance("e1", t0, &targets)], LEASE)
        .await
        .expect("accept");
    let claimed = done[0].1.clone();
    assert_eq!(claimed.len(), 20);
    let outcome = move |i: usize| match i % 3 {
        0 => Outcome::Delivered,
        1 => Outcome::Retry {
            at: t0 + TimeDelta::hours(1),
        },
        _ => Outcome::Failed,
    };
    let mut tasks = tokio::task::JoinSet::new();
    for (i, delivery) in claimed.iter().enumerate() {
        let (store, id) = (store.clone(), delivery.id.clone());
        let status = Some(if i % 3 == 0 { 200 } else { 500 });
        tasks.spawn(async move { store.complete(&id, attempt(t0, status), outcome(i)).await });
    }
    let unknown = store
        .complete("no-such-id", attempt(t0, Some(200)), Outcome::Delivered)
        .await;
    assert!(
        matches!(unknown, Err(StoreError::UnknownDelivery(_))),
        "{unknown:?}"
    );
    while let Some(joined) = tasks.join_next().await {
        joined.expect("task").expect("complete");
    }
    for (i, target) in targets.iter().enumerate() {
        let listed = store
            .list_deliveries(target, &crate::store::DeliveryFilter::default(), 10, None)
            .await
            .expect("list");
        let expected = match i % 3 {
            0 => DeliveryStatus::Delivered,
            1 => DeliveryStatus::Pending,
            _ => DeliveryStatus::Failed,
        };
        assert_eq!(listed[0].status, expected, "{target:?}");
        assert_eq!(listed[0].attempts, 1);
        assert_eq!(listed[0].attempt_log.len(), 1);
    }
}
