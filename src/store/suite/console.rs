//! Suite: what the console reads: the listing filtered by event type and started at a time
//! (an [`id_bound`] cursor), one delivery with its payload, and the attempt series.

use std::time::Duration;

use super::{Harness, acceptance, attempt, now, payload_text, sub};
use crate::store::{DeliveryFilter, DeliveryStatus, Outcome, id_bound};

/// The listing filters by event type, and a time's id bound starts a page at that time.
pub(crate) async fn list_filters_by_event_type_and_time(h: &Harness) {
    let store = h.open().await;
    let t0 = now();
    let mut refund = acceptance("r1", t0, &[sub("a")]);
    refund.event.event_type = "invoice.refunded".into();
    store
        .accept(vec![acceptance("e1", t0, &[sub("a")])])
        .await
        .expect("accept");
    store.accept(vec![refund]).await.expect("accept");
    tokio::time::sleep(Duration::from_millis(5)).await;
    let between = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(5)).await;
    store
        .accept(vec![acceptance("e2", t0, &[sub("a")])])
        .await
        .expect("accept");

    let by_type = |t: &str| DeliveryFilter {
        status: None,
        event_type: Some(t.into()),
    };
    let ids = |page: Vec<crate::store::DeliveryRecord>| -> Vec<String> {
        page.into_iter().map(|d| d.event_id).collect()
    };
    let paid = store
        .list_deliveries(&sub("a"), &by_type("invoice.paid"), 10, None)
        .await
        .expect("list");
    assert_eq!(ids(paid), ["e2", "e1"]);
    let refunded = store
        .list_deliveries(&sub("a"), &by_type("invoice.refunded"), 10, None)
        .await
        .expect("list");
    assert_eq!(ids(refunded), ["r1"]);
    let before = store
        .list_deliveries(
            &sub("a"),
            &DeliveryFilter::default(),
            10,
            Some(&id_bound(between)),
        )
        .await
        .expect("list");
    assert_eq!(ids(before), ["r1", "e1"]);
    let none = store
        .list_deliveries(
            &sub("a"),
            &by_type("invoice.paid"),
            10,
            Some(&id_bound(t0 - chrono::Duration::hours(1))),
        )
        .await
        .expect("list");
    assert!(none.is_empty());
}

/// One delivery comes back with its attempts and its payload exactly as stored, and only
/// for its own target.
pub(crate) async fn one_delivery_with_attempts_and_payload(h: &Harness) {
    let store = h.open().await;
    let t0 = now();
    store
        .accept(vec![acceptance("e1", t0, &[sub("a"), sub("b")])])
        .await
        .expect("accept");
    let claimed = store
        .claim_due(t0, 10, Duration::from_secs(30), &[sub("b")])
        .await
        .expect("claim");
    let id = claimed[0].id.clone();
    let retry_at = t0 + chrono::Duration::minutes(1);
    store
        .complete(&id, attempt(t0, Some(500)), Outcome::Retry { at: retry_at })
        .await
        .expect("complete");
    store
        .complete(&id, attempt(t0, Some(200)), Outcome::Delivered)
        .await
        .expect("complete");
    let detail = store
        .delivery(&sub("a"), &id)
        .await
        .expect("read")
        .expect("found");
    assert_eq!(detail.record.id, id);
    assert_eq!(detail.record.event_id, "e1");
    assert_eq!(detail.record.status, DeliveryStatus::Delivered);
    assert_eq!(detail.source, "publish-api");
    assert_eq!(detail.payload.as_str(), payload_text("e1"));
    let statuses: Vec<_> = detail
        .record
        .attempt_log
        .iter()
        .map(|a| a.response_status)
        .collect();
    assert_eq!(statuses, [Some(500), Some(200)]);
    assert!(
        store
            .delivery(&sub("b"), &id)
            .await
            .expect("read")
            .is_none()
    );
    assert!(
        store
            .delivery(&sub("a"), "nope")
            .await
            .expect("read")
            .is_none()
    );
}

/// Attempts are counted by bucket of their start, failures (no 2xx) and durations apart,
/// only for deliveries created since the series' start.
pub(crate) async fn attempt_series_buckets_attempts(h: &Harness) {
    let store = h.open().await;
    let t0 = now();
    store
        .accept(vec![
            acceptance("e1", t0, &[sub("a")]),
            acceptance("e2", t0, &[sub("a")]),
        ])
        .await
        .expect("accept");
    let claimed = store
        .claim_due(t0, 10, Duration::from_secs(30), &[])
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 2);
    let since = t0 - chrono::Duration::minutes(10);
    let mut slow = attempt(since + chrono::Duration::seconds(30), None);
    slow.duration_ms = 900;
    store
        .complete(&claimed[0].id, slow, Outcome::Retry { at: t0 })
        .await
        .expect("complete");
    store
        .complete(&claimed[0].id, attempt(t0, Some(200)), Outcome::Delivered)
        .await
        .expect("complete");
    store
        .complete(&claimed[1].id, attempt(t0, Some(410)), Outcome::Failed)
        .await
        .expect("complete");
    let series = store
        .attempt_series(&sub("a"), since, Duration::from_secs(60))
        .await
        .expect("series");
    assert_eq!(series.len(), 2, "{series:?}");
    assert_eq!(series[0].start, since);
    assert_eq!((series[0].attempts, series[0].failures), (1, 1));
    assert_eq!((series[0].total_ms, series[0].max_ms), (900, 900));
    assert_eq!(series[1].start, since + chrono::Duration::minutes(10));
    assert_eq!((series[1].attempts, series[1].failures), (2, 1));
    assert_eq!((series[1].total_ms, series[1].max_ms), (240, 120));
    let later = store
        .attempt_series(
            &sub("a"),
            t0 + chrono::Duration::hours(1),
            Duration::from_secs(60),
        )
        .await
        .expect("series");
    assert!(later.is_empty());
    let other = store
        .attempt_series(&sub("b"), since, Duration::from_secs(60))
        .await
        .expect("series");
    assert!(other.is_empty());
}
