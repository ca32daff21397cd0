//! Ready, Healthy and the signing-secret fields reported after every apply: one place turns
//! the apply's problems into conditions, so every kind reports the same way.

use std::collections::BTreeMap;

use crate::api::{HEALTHY, Kind, READY};
use crate::delivery::{Deliveries, HealthCondition, StatusSink};

use super::check::TestCounts;
use super::piece::{Pieces, Problems};
use super::snapshot::{Object, ObjectKey, Snapshot};
use super::status::StatusBoard;
use super::subscription::{self, SigningSource, SubscriptionPiece};

/// Writes Ready (and Healthy where it applies) for every resource, removes the status of
/// resources that are gone; returns how many resources are not ready. A resource the
/// front-end could not read and that never ran is listed too, with Ready=False.
pub fn ready(
    board: &StatusBoard,
    snap: &Snapshot,
    problems: &Problems,
    previous: &Snapshot,
) -> usize {
    let mut failed = 0;
    let mut seen = std::collections::BTreeSet::new();
    for Resource {
        kind,
        key,
        generation,
        suspended,
    } in resources(snap)
    {
        seen.insert((kind, key.clone()));
        match problems.get(kind, &key) {
            Some(err) => {
                failed += 1;
                board.set_condition(
                    kind,
                    &key,
                    generation,
                    READY,
                    false,
                    err.reason,
                    &err.message,
                );
            }
            // A SyncJob's Ready is its run's (reported by the sync runtime); the generation
            // it describes is the one seen here.
            None if kind == Kind::SyncJob => board.set_generation(kind, &key, generation),
            None if suspended => board.set_condition(
                kind,
                &key,
                generation,
                READY,
                true,
                "Suspended",
                suspended_message(kind),
            ),
            None => board.set_condition(
                kind,
                &key,
                generation,
                READY,
                true,
                "Ready",
                &ready_message(kind, &key),
            ),
        }
        if kind == Kind::WebhookSubscription
            && board
                .get(kind, &key)
                .is_none_or(|s| s.condition(HEALTHY).is_none())
        {
            let shown = HealthCondition::no_deliveries_yet();
            board.set_condition(
                kind,
                &key,
                generation,
                HEALTHY,
                shown.ok,
                shown.reason,
                &shown.message,
            );
        }
    }
    for kind in Kind::ALL {
        for (key, err) in problems.of(kind) {
            if seen.insert((kind, key.clone())) {
                failed += 1;
                board.set_condition(kind, key, None, READY, false, err.reason, &err.message);
            }
        }
    }
    for (kind, key) in board.keys() {
        // Jobs the sync runtime runs have no resource in a standalone snapshot.
        let listed = kind != Kind::SyncJob || previous.jobs.contains_key(&key);
        if listed && !seen.contains(&(kind, key.clone())) {
            board.remove(kind, &key);
        }
    }
    failed
}

/// Counts filter errors on their subscriptions (status.filterErrors, lastFilterError) and
/// reports Healthy when they start or stop running away: `None` is a good evaluation of a
/// filter that had failed.
pub fn filters(board: &StatusBoard, deliveries: &Deliveries, met: &[(ObjectKey, Option<String>)]) {
    for (key, error) in met {
        let target = subscription::target_of(key);
        let stats = deliveries.stats(&target);
        let shown = match error {
            Some(message) => stats.filter_failed(message),
            None => stats.filter_recovered(),
        };
        if let Some(c) = shown {
            board.condition(&target, HEALTHY, c.ok, c.reason, &c.message);
        }
    }
}

/// Counts each Transformation's embedded tests on its status (testsPassed, testsFailed).
pub fn tests(board: &StatusBoard, snap: &Snapshot, counts: &TestCounts) {
    for key in snap.transformations.keys() {
        let (passed, failed) = counts.get(key).copied().unwrap_or_default();
        let fields = serde_json::Map::from_iter([
            ("testsPassed".to_owned(), passed.into()),
            ("testsFailed".to_owned(), failed.into()),
        ]);
        board.set_fields(Kind::Transformation, key, fields);
    }
}

/// Reports where each subscription's signing secret comes from (status.signingSecretRef;
/// standalone generated secrets also name their file in status.signingSecretFile).
pub fn signing(board: &StatusBoard, pieces: &Pieces<SubscriptionPiece>) {
    for (key, piece) in pieces {
        let mut fields = serde_json::Map::new();
        let (reference, file) = match &piece.signing {
            SigningSource::Configured => (
                piece
                    .spec()
                    .signing
                    .secret_ref
                    .as_ref()
                    .and_then(|r| serde_json::to_value(r).ok())
                    .unwrap_or_default(),
                serde_json::Value::Null,
            ),
            SigningSource::Generated(path) => (
                serde_json::json!({"name": format!("{}-signing", key.name), "key": "secret"}),
                path.as_ref()
                    .map(|p| p.display().to_string().into())
                    .unwrap_or_default(),
            ),
            SigningSource::GeneratedSecret => (
                serde_json::json!({"name": subscription::generated_secret_name(&key.name), "key": "secret"}),
                serde_json::Value::Null,
            ),
            SigningSource::Unsigned => (serde_json::Value::Null, serde_json::Value::Null),
        };
        fields.insert("signingSecretRef".into(), reference);
        fields.insert("signingSecretFile".into(), file);
        board.set_fields(Kind::WebhookSubscription, key, fields);
    }
}

/// The message of Ready=True with reason Suspended.
fn suspended_message(kind: Kind) -> &'static str {
    match kind {
        Kind::WebhookSubscription => {
            "spec.suspend is true: deliveries wait in the queue until it is false"
        }
        Kind::WebhookEndpoint => "spec.suspend is true: requests are answered 404",
        Kind::Integration => "spec.suspend is true: no calls are made",
        Kind::SyncSchedule => "spec.suspend is true: no runs are scheduled",
        _ => "spec.suspend is true",
    }
}

/// The message of Ready=True.
fn ready_message(kind: Kind, key: &ObjectKey) -> String {
    match kind {
        Kind::WebhookEndpoint => format!("receiving at /hooks/{}/{}", key.namespace, key.name),
        _ => "configuration accepted".into(),
    }
}

/// One resource of a snapshot, as Ready reports it.
struct Resource {
    kind: Kind,
    key: ObjectKey,
    generation: Option<i64>,
    suspended: bool,
}

/// Every resource of a snapshot with its generation and whether spec.suspend holds it.
fn resources(snap: &Snapshot) -> Vec<Resource> {
    fn keys<S>(
        kind: Kind,
        map: &BTreeMap<ObjectKey, Object<S>>,
        suspended: fn(&S) -> bool,
    ) -> impl Iterator<Item = Resource> + '_ {
        map.iter().map(move |(k, o)| Resource {
            kind,
            key: k.clone(),
            generation: o.meta.generation,
            suspended: suspended(&o.spec),
        })
    }
    keys(Kind::ClusterIntegrationProvider, &snap.providers, |_| false)
        .chain(keys(Kind::Integration, &snap.integrations, |s| s.suspend))
        .chain(keys(Kind::WebhookEndpoint, &snap.endpoints, |s| s.suspend))
        .chain(keys(Kind::WebhookSubscription, &snap.subscriptions, |s| {
            s.suspend
        }))
        .chain(keys(Kind::Transformation, &snap.transformations, |_| false))
        .chain(keys(Kind::SyncSchedule, &snap.schedules, |s| s.suspend))
        .chain(keys(Kind::SyncJob, &snap.jobs, |_| false))
        .chain(keys(Kind::EventType, &snap.event_types, |_| false))
        .collect()
}
