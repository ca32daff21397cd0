//! Suite: bulk retry by filter, reading a namespace's events by time, replayed deliveries
//! (created once per replay and event, claimed after live work) and their counts.

use std::time::Duration;

use chrono::Duration as Span;

use super::{Harness, acceptance, attempt, event, now, sub};
use crate::store::{
    Acceptance, DeliveryFilter, DeliveryStatus, EventCursor, EventRange, Outcome, ReplayItem,
    RetryFilter, Target,
};

const LEASE: Duration = Duration::from_secs(30);

/// Finishes every due delivery with `outcome` (after one attempt).
async fn finish_all(
    store: &dyn crate::store::Store,
    at: chrono::DateTime<chrono::Utc>,
    outcome: Outcome,
) {
    let claimed = store.claim_due(at, 100, LEASE, &[]).await.expect("claim");
    for c in claimed {
        store
            .complete(&c.id, attempt(at, Some(500)), outcome.clone())
            .await
            .expect("complete");
    }
}

fn filter(
    statuses: &[DeliveryStatus],
    since: chrono::DateTime<chrono::Utc>,
    until: chrono::DateTime<chrono::Utc>,
    types: &[&str],
) -> RetryFilter {
    RetryFilter {
        statuses: statuses.to_vec(),
        since,
        until,
        event_types: types.iter().map(|t| t.to_string()).collect(),
    }
}

/// Bulk retry takes only Failed/Dead deliveries of the target, in the range, of the types,
/// up to the limit; repeating it puts back nothing more.
pub(crate) async fn bulk_retry_follows_its_filter_and_cap(h: &Harness) {
    let store = h.open().await;
    let t0 = now() - Span::hours(1);
    let mut accepts = Vec::new();
    for (i, ty) in [
        "invoice.paid",
        "invoice.paid",
        "order.created",
        "invoice.paid",
    ]
    .iter()
    .enumerate()
    {
        let mut a = acceptance(
            &format!("e{i}"),
            t0 + Span::minutes(i as i64),
            &[sub("a"), sub("b")],
        );
        a.event.event_type = (*ty).into();
        accepts.push(a);
    }
    store.accept(accepts).await.expect("accept");
    finish_all(&*store, t0 + Span::minutes(10), Outcome::Dead).await;
    let later = acceptance("late", t0 + Span::minutes(20), &[sub("a")]);
    store.accept(vec![later]).await.expect("accept late");
    finish_all(&*store, t0 + Span::minutes(30), Outcome::Failed).await;
    store
        .accept(vec![acceptance(
            "pending",
            t0 + Span::minutes(5),
            &[sub("a")],
        )])
        .await
        .expect("accept pending");

    let all = [DeliveryStatus::Failed, DeliveryStatus::Dead];
    let end = t0 + Span::hours(1);
    // Failed only: the one late delivery.
    let n = store
        .retry_matching(
            &sub("a"),
            &filter(&[DeliveryStatus::Failed], t0, end, &[]),
            100,
        )
        .await
        .expect("retry failed");
    assert_eq!(n, 1);
    // A type and a range: e0 and e1 (e3 is outside [t0, t0+3m)).
    let f = filter(&all, t0, t0 + Span::minutes(3), &["invoice.paid"]);
    assert_eq!(
        store
            .retry_matching(&sub("a"), &f, 100)
            .await
            .expect("retry"),
        2
    );
    assert_eq!(
        store
            .retry_matching(&sub("a"), &f, 100)
            .await
            .expect("again"),
        0,
        "idempotent"
    );
    // The cap: one of the two Dead left (e2, e3), oldest first.
    let f = filter(&all, t0, end, &[]);
    assert_eq!(
        store
            .retry_matching(&sub("a"), &f, 1)
            .await
            .expect("capped"),
        1
    );
    let pending = store
        .list_deliveries(
            &sub("a"),
            &DeliveryFilter::status(Some(DeliveryStatus::Pending)),
            100,
            None,
        )
        .await
        .expect("list");
    let mut ids: Vec<&str> = pending.iter().map(|d| d.event_id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["e0", "e1", "e2", "late", "pending"]);
    // Another target's deliveries were never touched.
    let counts = store.delivery_counts(&sub("b")).await.expect("counts b");
    assert_eq!((counts.pending, counts.dead), (0, 4));
    let other_ns = Target {
        namespace: "other".into(),
        ..sub("a")
    };
    assert_eq!(
        store
            .retry_matching(&other_ns, &f, 100)
            .await
            .expect("other ns"),
        0
    );
}

/// Events of one namespace in a range, by type, paged by cursor in (time, id) order.
pub(crate) async fn events_between_pages_in_time_order(h: &Harness) {
    let store = h.open().await;
    let t0 = now() - Span::hours(1);
    let mut accepts: Vec<Acceptance> = Vec::new();
    // Two events at the same instant (ordered by id), one of another type, one outside.
    for (id, at, ty) in [
        ("b", t0 + Span::seconds(1), "invoice.paid"),
        ("a", t0 + Span::seconds(1), "invoice.paid"),
        ("c", t0 + Span::seconds(2), "order.created"),
        ("d", t0 + Span::seconds(3), "invoice.paid"),
        ("z", t0 + Span::seconds(99), "invoice.paid"),
    ] {
        let mut e = event(id, at);
        e.event_type = ty.into();
        accepts.push(Acceptance {
            event: e,
            targets: Vec::new(),
            dedup: None,
        });
    }
    let mut foreign = event("x", t0 + Span::seconds(2));
    foreign.namespace = "other".into();
    accepts.push(Acceptance {
        event: foreign,
        targets: Vec::new(),
        dedup: None,
    });
    store.accept(accepts).await.expect("accept");
    let mut range = EventRange {
        namespace: "ns".into(),
        since: t0,
        until: t0 + Span::seconds(10),
        event_types: Vec::new(),
    };
    let mut seen = Vec::new();
    let mut cursor: Option<EventCursor> = None;
    loop {
        let page = store
            .events_between(&range, cursor.as_ref(), 2)
            .await
            .expect("page");
        let Some(last) = page.last() else { break };
        cursor = Some(EventCursor {
            received_at: last.received_at,
            id: last.id.clone(),
        });
        seen.extend(page.iter().map(|e| e.id.clone()));
    }
    assert_eq!(seen, ["a", "b", "c", "d"]);
    let first = store.events_between(&range, None, 1).await.expect("first");
    assert_eq!(
        first[0].payload.as_str(),
        event("a", t0).payload.as_str(),
        "payload as stored"
    );
    range.event_types = vec!["order.created".into()];
    let typed = store.events_between(&range, None, 10).await.expect("typed");
    assert_eq!(
        typed.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        ["c"]
    );
}

/// A replay creates one delivery per event however often it is queued; another replay
/// creates its own; they are claimed after live work, carry their replay id, and are
/// counted per replay.
pub(crate) async fn replay_deliveries_are_created_once_and_claimed_after_live_work(h: &Harness) {
    let store = h.open().await;
    let t0 = now() - Span::minutes(5);
    for id in ["e1", "e2", "e3"] {
        store
            .accept(vec![acceptance(id, t0, &[])])
            .await
            .expect("accept");
    }
    let items = |ids: &[&str]| -> Vec<ReplayItem> {
        ids.iter()
            .map(|id| ReplayItem {
                event_id: id.to_string(),
                due_at: t0,
            })
            .collect()
    };
    let new = sub("new");
    assert_eq!(
        store
            .enqueue_replay(&new, "r1", items(&["e1", "e2"]))
            .await
            .expect("r1"),
        2
    );
    assert_eq!(
        store
            .enqueue_replay(&new, "r1", items(&["e1", "e2", "e3", "gone"]))
            .await
            .expect("r1 again"),
        1,
        "only e3 is new; an unknown event is skipped"
    );
    assert_eq!(
        store
            .enqueue_replay(&new, "r2", items(&["e1"]))
            .await
            .expect("r2"),
        1
    );
    let other_ns = Target {
        namespace: "other".into(),
        ..sub("new")
    };
    assert_eq!(
        store
            .enqueue_replay(&other_ns, "r1", items(&["e1"]))
            .await
            .expect("other ns"),
        0,
        "events of another namespace are never replayed"
    );
    // Live work due later than the replays is still claimed first.
    store
        .accept(vec![acceptance(
            "live",
            t0 + Span::minutes(1),
            &[sub("live")],
        )])
        .await
        .expect("accept live");
    let claimed = store.claim_due(now(), 2, LEASE, &[]).await.expect("claim");
    assert_eq!(claimed.len(), 2);
    let live: Vec<_> = claimed.iter().filter(|c| c.replay.is_none()).collect();
    assert_eq!(live.len(), 1, "live first, replays in what is left");
    assert_eq!(live[0].event.id, "live");
    let replayed = claimed
        .iter()
        .find(|c| c.replay.is_some())
        .expect("a replay");
    assert_eq!(replayed.target, new);
    store
        .complete(&replayed.id, attempt(now(), Some(200)), Outcome::Delivered)
        .await
        .expect("complete");
    let r1 = store.replay_counts(&new, "r1").await.expect("r1 counts");
    let r2 = store.replay_counts(&new, "r2").await.expect("r2 counts");
    assert_eq!(r1.pending + r1.delivered, 3);
    assert_eq!(r2.pending + r2.delivered, 1);
    assert_eq!(r1.delivered + r2.delivered, 1);
    let listed = store
        .list_deliveries(&new, &DeliveryFilter::default(), 10, None)
        .await
        .expect("list");
    assert_eq!(listed.len(), 4);
    assert!(listed.iter().all(|d| d.replay_id.is_some()));
    // The claim of a larger batch takes the rest (replays at most half of a claim).
    let rest = store
        .claim_due(now(), 10, LEASE, &[])
        .await
        .expect("claim rest");
    assert_eq!(rest.len(), 3);
    assert!(
        rest.iter()
            .all(|c| c.replay.is_some() && c.event.namespace == "ns")
    );
}
