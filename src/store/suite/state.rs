//! Suite: sync state, standalone objects and purging.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;

use super::{Harness, acceptance, attempt, now, sub};
use crate::store::{Accepted, DedupKey, Outcome, Purged, SyncState};

/// Sync state reads back as written, per schedule; unknown schedules have the default.
pub(crate) async fn sync_state_round_trips(h: &Harness) {
    let store = h.open().await;
    let empty = store.sync_state("ns", "crm").await.expect("read");
    assert_eq!(empty, SyncState::default());
    let state = SyncState {
        watermark: Some("2024-05-01T00:00:00Z#1234".into()),
        last_schedule_time: Some(now()),
        last_successful_time: None,
    };
    store
        .put_sync_state("ns", "crm", &state)
        .await
        .expect("write");
    assert_eq!(store.sync_state("ns", "crm").await.expect("read"), state);
    assert_eq!(
        store.sync_state("other", "crm").await.expect("read"),
        SyncState::default()
    );

    let next = SyncState {
        watermark: None,
        last_schedule_time: Some(now()),
        last_successful_time: Some(now()),
    };
    store
        .put_sync_state("ns", "crm", &next)
        .await
        .expect("replace");
    assert_eq!(store.sync_state("ns", "crm").await.expect("read"), next);
}

/// Purge removes old finished deliveries (and their events), keeps live work, drops expired keys.
pub(crate) async fn purge_removes_old_finished_work(h: &Harness) {
    let store = h.open().await;
    let old = now() - TimeDelta::days(10);
    let recent = now();
    let key = |key: &str, expires_at: DateTime<Utc>| DedupKey {
        namespace: "ns".into(),
        scope: "endpoint/e".into(),
        key: key.into(),
        expires_at,
    };
    let mut expired = acceptance("old-done", old, &[sub("a")]);
    expired.dedup = Some(key("k-old", old + TimeDelta::hours(1)));
    let mut live = acceptance("recent-done", recent, &[sub("a")]);
    live.dedup = Some(key("k-new", recent + TimeDelta::hours(1)));
    let batch = vec![
        expired,
        acceptance("old-pending", old, &[sub("b")]),
        live,
        acceptance("old-no-targets", old, &[]),
    ];
    store.accept(batch).await.expect("accept");
    let claimed = store
        .claim_due(recent, 10, std::time::Duration::from_secs(30), &[sub("b")])
        .await
        .expect("claim");
    for c in &claimed {
        let started = if c.event.id == "old-done" {
            old
        } else {
            recent
        };
        store
            .complete(&c.id, attempt(started, Some(200)), Outcome::Delivered)
            .await
            .expect("complete");
    }

    let purged = store
        .purge(now() - TimeDelta::days(1))
        .await
        .expect("purge");
    assert_eq!(
        purged,
        Purged {
            deliveries: 1,
            events: 2,
            dedup_keys: 1
        }
    );
    let a = store
        .list_deliveries(
            &sub("a"),
            &crate::store::DeliveryFilter::default(),
            10,
            None,
        )
        .await
        .expect("list");
    let ids: Vec<&str> = a.iter().map(|d| d.event_id.as_str()).collect();
    assert_eq!(ids, ["recent-done"]);
    assert_eq!(
        store.delivery_counts(&sub("b")).await.expect("b").pending,
        1
    );
    // The purged event's id is free again; the live key still deduplicates.
    let got = store
        .accept(vec![acceptance("old-done", recent, &[])])
        .await
        .expect("accept");
    assert_eq!(got, vec![Accepted::Stored { deliveries: 0 }]);
    let mut dup = acceptance("fresh", recent, &[]);
    dup.dedup = Some(key("k-new", recent + TimeDelta::hours(1)));
    assert_eq!(
        store.accept(vec![dup]).await.expect("accept"),
        vec![Accepted::DuplicateKey]
    );
}

/// Objects are stored, replaced, listed by namespace and name, and deleted.
pub(crate) async fn objects_crud(h: &Harness) {
    let store = h.open().await;
    let job = |name: &str, phase: &str| json!({"kind": "SyncJob", "name": name, "status": {"phase": phase}});
    store
        .put_object("SyncJob", "ns", "b", &job("b", "Running"))
        .await
        .expect("put");
    store
        .put_object("SyncJob", "ns", "a", &job("a", "Running"))
        .await
        .expect("put");
    store
        .put_object("SyncJob", "other", "c", &job("c", "Running"))
        .await
        .expect("put");
    store
        .put_object("Other", "ns", "a", &json!({"x": 1}))
        .await
        .expect("put");
    store
        .put_object("SyncJob", "ns", "b", &job("b", "Succeeded"))
        .await
        .expect("replace");

    let ns = store
        .list_objects("SyncJob", Some("ns"))
        .await
        .expect("list");
    assert_eq!(ns, vec![job("a", "Running"), job("b", "Succeeded")]);
    let all = store.list_objects("SyncJob", None).await.expect("list");
    assert_eq!(
        all,
        vec![
            job("a", "Running"),
            job("b", "Succeeded"),
            job("c", "Running")
        ]
    );

    assert!(
        store
            .delete_object("SyncJob", "ns", "a")
            .await
            .expect("delete")
    );
    assert!(
        !store
            .delete_object("SyncJob", "ns", "a")
            .await
            .expect("delete again")
    );
    let ns = store
        .list_objects("SyncJob", Some("ns"))
        .await
        .expect("list");
    assert_eq!(ns, vec![job("b", "Succeeded")]);
    assert_eq!(
        store.list_objects("Other", None).await.expect("list"),
        vec![json!({"x": 1})]
    );
}
