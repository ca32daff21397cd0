//! Suite: the admin listing (newest first, status filter, cursor) and counters.

use std::time::Duration;

use super::{Harness, acceptance, attempt, now, sub};
use crate::store::{DeliveryCounts, DeliveryStatus, Outcome};

/// Deliveries list newest first, page by cursor, and filter by status.
pub(crate) async fn list_is_newest_first_with_cursor_and_filter(h: &Harness) {
    let store = h.open().await;
    let t0 = now();
    for id in ["e1", "e2", "e3", "e4", "e5"] {
        store
            .accept(vec![acceptance(id, t0, &[sub("a"), sub("b")])])
            .await
            .expect("accept");
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = store
            .list_deliveries(
                &sub("a"),
                &crate::store::DeliveryFilter::default(),
                2,
                cursor.as_deref(),
            )
            .await
            .expect("list");
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 2);
        seen.extend(page.iter().map(|d| d.event_id.clone()));
        cursor = page.last().map(|d| d.id.clone());
    }
    assert_eq!(seen, ["e5", "e4", "e3", "e2", "e1"]);

    let claimed = store
        .claim_due(t0, 10, Duration::from_secs(30), &[sub("b")])
        .await
        .expect("claim");
    let e2 = claimed.iter().find(|c| c.event.id == "e2").expect("e2");
    store
        .complete(&e2.id, attempt(t0, Some(200)), Outcome::Delivered)
        .await
        .expect("complete");
    let delivered = store
        .list_deliveries(
            &sub("a"),
            &crate::store::DeliveryFilter::status(Some(DeliveryStatus::Delivered)),
            10,
            None,
        )
        .await
        .expect("list");
    let ids: Vec<&str> = delivered.iter().map(|d| d.event_id.as_str()).collect();
    assert_eq!(ids, ["e2"]);
    assert_eq!(delivered[0].attempt_log.len(), 1);
    let attempts = store.attempts(&e2.id).await.expect("attempts");
    assert_eq!(attempts, delivered[0].attempt_log);
    assert!(
        store
            .attempts("no-such-delivery")
            .await
            .expect("attempts")
            .is_empty()
    );
    let delivering = store
        .list_deliveries(
            &sub("a"),
            &crate::store::DeliveryFilter::status(Some(DeliveryStatus::Delivering)),
            2,
            None,
        )
        .await
        .expect("list");
    let ids: Vec<&str> = delivering.iter().map(|d| d.event_id.as_str()).collect();
    assert_eq!(ids, ["e5", "e4"]);
    assert!(delivering.iter().all(|d| d.next_attempt_at.is_none()));
    let other = store
        .list_deliveries(
            &sub("b"),
            &crate::store::DeliveryFilter::status(Some(DeliveryStatus::Delivered)),
            10,
            None,
        )
        .await;
    assert!(other.expect("list b").is_empty());
}

/// Per-target counts and the queue depth over all targets.
pub(crate) async fn counts_and_queue_depth(h: &Harness) {
    let store = h.open().await;
    let t0 = now();
    let depth = store.queue_depth().await.expect("depth");
    assert_eq!(
        depth,
        DeliveryStatus::ALL
            .iter()
            .map(|s| (*s, 0))
            .collect::<Vec<_>>()
    );
    for id in ["e1", "e2", "e3", "e4", "e5"] {
        store
            .accept(vec![acceptance(id, t0, &[sub("a"), sub("b")])])
            .await
            .expect("accept");
    }
    let claimed = store
        .claim_due(t0, 4, Duration::from_secs(30), &[sub("b")])
        .await
        .expect("claim");
    let outcomes = [
        Outcome::Delivered,
        Outcome::Delivered,
        Outcome::Failed,
        Outcome::Dead,
    ];
    for (c, outcome) in claimed.iter().zip(outcomes) {
        store
            .complete(&c.id, attempt(t0, Some(500)), outcome)
            .await
            .expect("complete");
    }
    store
        .claim_due(t0, 1, Duration::from_secs(30), &[sub("a")])
        .await
        .expect("claim");

    let a = store.delivery_counts(&sub("a")).await.expect("a");
    assert_eq!(
        a,
        DeliveryCounts {
            pending: 1,
            delivered: 2,
            failed: 1,
            dead: 1,
            attempts: 4,
        }
    );
    let b = store.delivery_counts(&sub("b")).await.expect("b");
    assert_eq!(
        b,
        DeliveryCounts {
            pending: 5,
            ..DeliveryCounts::default()
        }
    );
    let depth = store.queue_depth().await.expect("depth");
    assert_eq!(
        depth,
        vec![
            (DeliveryStatus::Pending, 5),
            (DeliveryStatus::Delivering, 1),
            (DeliveryStatus::Delivered, 2),
            (DeliveryStatus::Failed, 1),
            (DeliveryStatus::Dead, 1),
        ]
    );
}
