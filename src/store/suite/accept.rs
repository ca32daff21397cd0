//! Suite: durable acceptance, duplicate ids and dedup keys.

use chrono::TimeDelta;

use super::{Harness, acceptance, now, payload_text, sub};
use crate::store::{Accepted, DedupKey, DeliveryStatus, Target, TargetKind};

/// An event fans out to one Pending delivery per target, and a claim returns it intact.
pub(crate) async fn accept_stores_event_and_deliveries(h: &Harness) {
    let store = h.open().await;
    let at = now();
    let forward = Target {
        namespace: "ns".into(),
        kind: TargetKind::Forward,
        name: "stripe".into(),
    };
    let got = store
        .accept(vec![acceptance("e1", at, &[sub("a"), forward.clone()])])
        .await
        .expect("accept");
    assert_eq!(got, vec![Accepted::Stored { deliveries: 2 }]);

    for target in [sub("a"), forward] {
        let listed = store
            .list_deliveries(&target, &crate::store::DeliveryFilter::default(), 10, None)
            .await
            .expect("list");
        assert_eq!(listed.len(), 1, "{target:?}");
        let d = &listed[0];
        assert_eq!(
            (d.event_id.as_str(), d.event_type.as_str()),
            ("e1", "invoice.paid")
        );
        assert_eq!((d.status, d.attempts), (DeliveryStatus::Pending, 0));
        assert_eq!((d.created_at, d.next_attempt_at), (at, Some(at)));
    }
    let claimed = store
        .claim_due(at, 10, std::time::Duration::from_secs(30), &[])
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 2);
    let expected = acceptance("e1", at, &[]).event;
    assert!(claimed.iter().all(|c| *c.event == expected), "{claimed:?}");
    // The payload is read back as the very text written: numbers, key order, whitespace.
    assert_eq!(claimed[0].event.payload.as_str(), payload_text("e1"));
}

/// A CloudEvent's context is stored with its event and read back by a claim as written;
/// an event without one reads back without one.
pub(crate) async fn accept_keeps_the_cloudevent_context(h: &Harness) {
    let store = h.open().await;
    let at = now();
    let context = crate::store::Payload::trusted(
        r#"{"attributes":{"id":"e1","source":"/s","tenant":"acme","n":3},"encoding":"base64"}"#,
    );
    let mut with = acceptance("e1", at, &[sub("a")]);
    with.event.context = Some(context.clone());
    let without = acceptance("e2", at, &[sub("a")]);
    store.accept(vec![with, without]).await.expect("accept");
    let claimed = store
        .claim_due(at, 10, std::time::Duration::from_secs(30), &[])
        .await
        .expect("claim");
    let context_of = |id: &str| {
        claimed
            .iter()
            .find(|c| c.event.id == id)
            .map(|c| c.event.context.clone())
    };
    assert_eq!(context_of("e1"), Some(Some(context)));
    assert_eq!(context_of("e2"), Some(None));
}

/// The same (namespace, id) twice is stored once; other namespaces are independent.
pub(crate) async fn duplicate_ids_are_stored_once(h: &Harness) {
    let store = h.open().await;
    let at = now();
    let first = store.accept(vec![acceptance("e1", at, &[sub("a")])]).await;
    assert_eq!(
        first.expect("first"),
        vec![Accepted::Stored { deliveries: 1 }]
    );
    let again = store
        .accept(vec![acceptance("e1", at, &[sub("a"), sub("b")])])
        .await;
    assert_eq!(again.expect("again"), vec![Accepted::DuplicateId]);

    let mut elsewhere = acceptance("e1", at, &[sub("c")]);
    elsewhere.event.namespace = "other".into();
    let got = store
        .accept(vec![elsewhere])
        .await
        .expect("other namespace");
    assert_eq!(got, vec![Accepted::Stored { deliveries: 1 }]);

    assert_eq!(
        store.delivery_counts(&sub("a")).await.expect("a").pending,
        1
    );
    assert_eq!(
        store.delivery_counts(&sub("b")).await.expect("b").pending,
        0
    );
    assert_eq!(
        store.delivery_counts(&sub("c")).await.expect("c").pending,
        1
    );
}

/// Within one batch, the first of two equal ids is stored and the second is a duplicate.
pub(crate) async fn duplicate_ids_within_one_batch(h: &Harness) {
    let store = h.open().await;
    let at = now();
    let got = store
        .accept(vec![
            acceptance("e1", at, &[sub("a")]),
            acceptance("e1", at, &[sub("a")]),
            acceptance("e2", at, &[sub("a")]),
        ])
        .await
        .expect("accept");
    assert_eq!(
        got,
        vec![
            Accepted::Stored { deliveries: 1 },
            Accepted::DuplicateId,
            Accepted::Stored { deliveries: 1 },
        ]
    );
    assert_eq!(
        store
            .delivery_counts(&sub("a"))
            .await
            .expect("counts")
            .pending,
        2
    );
}

/// An unexpired dedup key refuses the event (storing nothing); an expired one is taken over.
pub(crate) async fn dedup_keys_block_until_they_expire(h: &Harness) {
    let store = h.open().await;
    let t0 = now();
    let with_key = |id: &str, at| {
        let mut a = acceptance(id, at, &[sub("a")]);
        a.dedup = Some(DedupKey {
            namespace: "ns".into(),
            scope: "endpoint/stripe".into(),
            key: "evt_1".into(),
            expires_at: at + TimeDelta::seconds(60),
        });
        a
    };
    let got = store.accept(vec![with_key("e1", t0)]).await.expect("first");
    assert_eq!(got, vec![Accepted::Stored { deliveries: 1 }]);

    let later = t0 + TimeDelta::seconds(10);
    let got = store
        .accept(vec![with_key("e2", later), with_key("e3", later)])
        .await
        .expect("within the window");
    assert_eq!(got, vec![Accepted::DuplicateKey, Accepted::DuplicateKey]);
    // Nothing of e2 was kept: the same id without a key is new.
    let got = store
        .accept(vec![acceptance("e2", later, &[sub("a")])])
        .await;
    assert_eq!(got.expect("e2"), vec![Accepted::Stored { deliveries: 1 }]);

    let expired = t0 + TimeDelta::seconds(61);
    let got = store
        .accept(vec![with_key("e4", expired), with_key("e5", expired)])
        .await
        .expect("after expiry");
    assert_eq!(
        got,
        vec![Accepted::Stored { deliveries: 1 }, Accepted::DuplicateKey]
    );
    assert_eq!(
        store
            .delivery_counts(&sub("a"))
            .await
            .expect("counts")
            .pending,
        3
    );
}
