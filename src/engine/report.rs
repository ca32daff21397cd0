//! Ready, Healthy and the signing-secret fields reported after every apply: one place turns
//! the apply's problems into conditions, so every kind reports the same way.

use std::collections::BTreeMap;

use crate::api::{HEALTHY, Kind, READY};

use super::piece::{Pieces, Problems};
use super::snapshot::{Object, ObjectKey, Snapshot};
use super::status::StatusBoard;
use super::subscription::{self, SigningSource, SubscriptionPiece};

/// Writes Ready (and Healthy where it applies) for every resource, removes the status of
/// resources that are gone; returns how many resources are not ready.
pub fn ready(
    board: &StatusBoard,
    snap: &Snapshot,
    problems: &Problems,
    previous: &Snapshot,
) -> usize {
    let mut failed = 0;
    let mut seen = std::collections::BTreeSet::new();
    for (kind, key, generation) in resources(snap) {
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
            // A SyncJob's Ready is its run's (reported by the sync runtime).
            None if kind == Kind::SyncJob => {}
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
            board.set_condition(
                kind,
                &key,
                generation,
                HEALTHY,
                true,
                "NoDeliveriesYet",
                "no delivery has failed",
            );
        }
    }
    for (kind, key, _) in resources(previous) {
        if !seen.contains(&(kind, key.clone())) {
            board.remove(kind, &key);
        }
    }
    failed
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

/// The message of Ready=True.
fn ready_message(kind: Kind, key: &ObjectKey) -> String {
    match kind {
        Kind::WebhookEndpoint => format!("receiving at /hooks/{}/{}", key.namespace, key.name),
        _ => "configuration accepted".into(),
    }
}

/// Every resource of a snapshot with its generation, plus rejected ones not in it.
fn resources(snap: &Snapshot) -> Vec<(Kind, ObjectKey, Option<i64>)> {
    fn keys<S>(
        kind: Kind,
        map: &BTreeMap<ObjectKey, Object<S>>,
    ) -> impl Iterator<Item = (Kind, ObjectKey, Option<i64>)> + '_ {
        map.iter()
            .map(move |(k, o)| (kind, k.clone(), o.meta.generation))
    }
    keys(Kind::ClusterIntegrationProvider, &snap.providers)
        .chain(keys(Kind::Integration, &snap.integrations))
        .chain(keys(Kind::WebhookEndpoint, &snap.endpoints))
        .chain(keys(Kind::WebhookSubscription, &snap.subscriptions))
        .chain(keys(Kind::Transformation, &snap.transformations))
        .chain(keys(Kind::SyncSchedule, &snap.schedules))
        .chain(keys(Kind::SyncJob, &snap.jobs))
        .collect()
}
