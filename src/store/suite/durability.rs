//! Suite: concurrent acceptance and data that outlives the store instance.

use std::sync::Arc;

use serde_json::json;

use super::{Harness, acceptance, attempt, now, sub};
use crate::store::{Accepted, DeliveryStatus, Outcome, SyncState};

/// Callers accepting at once are all answered Stored, and everything is there afterwards.
pub(crate) async fn concurrent_accepts_are_all_durable(h: &Harness) {
    const CALLERS: usize = 32;
    const EACH: usize = 25;
    let store = h.open().await;
    let t0 = now();
    let mut tasks = tokio::task::JoinSet::new();
    for caller in 0..CALLERS {
        let store = Arc::clone(&store);
        tasks.spawn(async move {
            for n in 0..EACH {
                let id = format!("c{caller}-{n}");
                let got = store.accept(vec![acceptance(&id, t0, &[sub("a")])]).await;
                assert_eq!(
                    got.expect("accept"),
                    vec![Accepted::Stored { deliveries: 1 }]
                );
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("caller");
    }
    drop(store);
    let reopened = h.open().await;
    let counts = reopened.delivery_counts(&sub("a")).await.expect("counts");
    assert_eq!(counts.pending, (CALLERS * EACH) as u64);
}

/// Events, deliveries, attempts, sync state and objects survive closing and reopening.
pub(crate) async fn data_survives_reopen(h: &Harness) {
    let t0 = now();
    let state = SyncState {
        watermark: Some("w-1".into()),
        last_schedule_time: Some(t0),
        last_successful_time: Some(t0),
    };
    {
        let store = h.open().await;
        store
            .accept(vec![acceptance("e1", t0, &[sub("a")])])
            .await
            .expect("accept");
        store
            .accept(vec![acceptance("e2", t0, &[sub("a")])])
            .await
            .expect("accept");
        let claimed = store
            .claim_due(t0, 1, std::time::Duration::from_secs(30), &[])
            .await
            .expect("claim");
        store
            .complete(&claimed[0].id, attempt(t0, Some(200)), Outcome::Delivered)
            .await
            .expect("complete");
        store
            .put_sync_state("ns", "crm", &state)
            .await
            .expect("sync state");
        store
            .put_object("SyncJob", "ns", "j", &json!({"phase": "Running"}))
            .await
            .expect("object");
    }
    let store = h.open().await;
    let listed = store
        .list_deliveries(
            &sub("a"),
            &crate::store::DeliveryFilter::default(),
            10,
            None,
        )
        .await
        .expect("list");
    let summary: Vec<(&str, DeliveryStatus, usize)> = listed
        .iter()
        .map(|d| (d.event_id.as_str(), d.status, d.attempt_log.len()))
        .collect();
    assert_eq!(
        summary,
        [
            ("e2", DeliveryStatus::Pending, 0),
            ("e1", DeliveryStatus::Delivered, 1)
        ]
    );
    assert_eq!(
        store.sync_state("ns", "crm").await.expect("sync state"),
        state
    );
    let objects = store
        .list_objects("SyncJob", Some("ns"))
        .await
        .expect("objects");
    assert_eq!(objects, vec![json!({"phase": "Running"})]);
    let again = store
        .accept(vec![acceptance("e1", t0, &[sub("a")])])
        .await
        .expect("accept");
    assert_eq!(
        again,
        vec![Accepted::DuplicateId],
        "ids are remembered across restarts"
    );
}
