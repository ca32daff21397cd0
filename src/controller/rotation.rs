//! Signing-secret rotation, kept in the Secret itself so it survives restarts and every
//! replica signs alike. Before each apply, the new snapshot is compared with what the engine
//! signs with now: when a subscription's signing value changed (someone edited the Secret),
//! the value it replaced is carried into the snapshot under the key `previous` with the
//! annotation `switchboard.dev/rotated-at`, so the engine signs with both at once (two
//! signatures, space-separated) for 24 hours; the leader writes the same into the Secret,
//! and removes them again once the 24 hours are over.
//!
//! A change made while no replica was running is not seen: there is no old value to keep.

use std::collections::HashMap;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use serde_json::json;

use crate::api::SigningScheme;
use crate::engine::ObjectKey;
use crate::engine::snapshot::{SecretObject, SecretValue, Snapshot};
use crate::engine::subscription::{
    PREVIOUS_SIGNING_KEY, ROTATED_AT_ANNOTATION, ROTATION_OVERLAP, generated_secret_name,
};
use crate::engine::topology::Topology;
use crate::error_chain::chain;

/// A signing secret: the Secret and the key a subscription signs with.
pub type SigningKey = (ObjectKey, String);

/// A write the leader makes to a Secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// Keep `old` as the previous value, rotated at `at`.
    Record {
        /// The replaced value.
        old: Vec<u8>,
        /// When the change was seen.
        at: DateTime<Utc>,
    },
    /// The overlap is over: remove the previous value and the annotation.
    Expire,
}

/// A rotation seen by this replica and not yet visible in the Secret.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Carried {
    old: Vec<u8>,
    at: DateTime<Utc>,
}

/// Rotations this replica has seen, carried into every snapshot until the Secret shows them.
#[derive(Debug, Default)]
pub struct Rotations {
    carried: HashMap<SigningKey, Carried>,
}

/// The signing secret of every signing subscription of a snapshot, by subscription.
fn signing_keys(snap: &Snapshot) -> Vec<(ObjectKey, SigningKey)> {
    snap.subscriptions
        .iter()
        .filter(|(_, obj)| obj.spec.signing.scheme != SigningScheme::None)
        .filter_map(|(key, obj)| {
            let (name, data_key) = match &obj.spec.signing.secret_ref {
                Some(r) => (r.name.clone(), r.key_or("secret").to_owned()),
                None => (generated_secret_name(&key.name), "secret".to_owned()),
            };
            (data_key != PREVIOUS_SIGNING_KEY).then(|| {
                (
                    key.clone(),
                    (ObjectKey::new(&key.namespace, &name), data_key),
                )
            })
        })
        .collect()
}

fn rotated_at(secret: &SecretObject) -> Option<DateTime<Utc>> {
    let at = secret.meta.annotations.get(ROTATED_AT_ANNOTATION)?;
    DateTime::parse_from_rfc3339(at)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

impl Rotations {
    /// Carries seen rotations into `snap` (compared with what `running` signs with) and
    /// returns the writes the leader should make to the Secrets.
    pub fn prepare(
        &mut self,
        snap: &mut Snapshot,
        running: &Topology,
        now: DateTime<Utc>,
    ) -> Vec<(ObjectKey, Change)> {
        let overlap = chrono::Duration::from_std(ROTATION_OVERLAP).unwrap_or_default();
        let keys = signing_keys(snap);
        for (sub, key) in &keys {
            let current = snap.secret_value(&key.0.namespace, &key.0.name, &key.1);
            let signing = running
                .subscriptions
                .get(sub)
                .and_then(|p| p.inputs.secrets.get("signing"));
            if let (Some(old), Some(new)) = (signing, current)
                && old != new
                && !self.carried.contains_key(key)
            {
                self.carried.insert(
                    key.clone(),
                    Carried {
                        old: old.0.clone(),
                        at: now,
                    },
                );
            }
        }
        let live: std::collections::HashSet<&SigningKey> = keys.iter().map(|(_, k)| k).collect();
        self.carried
            .retain(|k, c| live.contains(k) && now < c.at + overlap);
        let mut changes = Vec::new();
        let mut persisted = Vec::new();
        for (key, carried) in &self.carried {
            let Some(secret) = snap.secrets.get_mut(&key.0).filter(|s| s.usable()) else {
                continue;
            };
            let shows_it = rotated_at(secret).is_some()
                && secret
                    .data
                    .get(PREVIOUS_SIGNING_KEY)
                    .is_some_and(|v| v.0 == carried.old);
            if shows_it {
                persisted.push(key.clone());
                continue;
            }
            secret.data.insert(
                PREVIOUS_SIGNING_KEY.to_owned(),
                SecretValue(carried.old.clone()),
            );
            secret.meta.annotations.insert(
                ROTATED_AT_ANNOTATION.to_owned(),
                carried
                    .at
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            );
            changes.push((
                key.0.clone(),
                Change::Record {
                    old: carried.old.clone(),
                    at: carried.at,
                },
            ));
        }
        // The Secret carries these now.
        for key in persisted {
            self.carried.remove(&key);
        }
        let mut expired: Vec<&ObjectKey> = keys
            .iter()
            .map(|(_, k)| &k.0)
            .filter(|k| {
                snap.secrets
                    .get(*k)
                    .and_then(rotated_at)
                    .is_some_and(|at| now >= at + overlap)
            })
            .collect();
        expired.sort();
        expired.dedup();
        changes.extend(expired.into_iter().map(|k| (k.clone(), Change::Expire)));
        changes
    }
}

/// Patches one Secret for a change (JSON merge patch; values are never logged).
pub async fn write(client: &Client, key: &ObjectKey, change: &Change) -> Result<(), kube::Error> {
    let api: Api<Secret> = Api::namespaced(client.clone(), &key.namespace);
    let patch = match change {
        Change::Record { old, at } => json!({
            "metadata": {"annotations": {
                ROTATED_AT_ANNOTATION: at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            }},
            "data": {PREVIOUS_SIGNING_KEY: base64::engine::general_purpose::STANDARD.encode(old)},
        }),
        Change::Expire => json!({
            "metadata": {"annotations": {ROTATED_AT_ANNOTATION: null}},
            "data": {PREVIOUS_SIGNING_KEY: null},
        }),
    };
    api.patch(&key.name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    let what = match change {
        Change::Record { .. } => "rotated: the previous value keeps signing for 24h",
        Change::Expire => "rotation overlap over: the previous value was removed",
    };
    tracing::info!(secret = %key, "signing secret {what}");
    Ok(())
}

/// Makes the writes in the background (leader only); failures are retried at the next apply.
pub fn spawn_writes(client: &Client, changes: Vec<(ObjectKey, Change)>) {
    for (key, change) in changes {
        let client = client.clone();
        tokio::spawn(async move {
            if let Err(e) = write(&client, &key, &change).await {
                tracing::warn!(secret = %key, error = %chain(&e), "recording a signing secret rotation failed; retrying at the next apply");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::snapshot::{Meta, Object, USABLE_LABEL};
    use crate::engine::subscription::{BuildContext, SubscriptionPiece, desired};
    use std::sync::Arc;

    fn snapshot(value: &str, extra: Option<(&str, DateTime<Utc>)>) -> Snapshot {
        let mut snap = Snapshot::default();
        let spec = serde_json::from_value(serde_json::json!({
            "url": "https://x.example.com/hooks", "eventTypes": ["*"]
        }))
        .unwrap();
        snap.subscriptions.insert(
            ObjectKey::new("ns", "s"),
            Object {
                meta: Meta::default(),
                spec,
            },
        );
        let mut secret = SecretObject {
            meta: Meta {
                labels: [(USABLE_LABEL.to_owned(), "true".to_owned())].into(),
                ..Meta::default()
            },
            data: [("secret".to_owned(), SecretValue(value.as_bytes().to_vec()))].into(),
        };
        if let Some((previous, at)) = extra {
            secret.data.insert(
                PREVIOUS_SIGNING_KEY.into(),
                SecretValue(previous.as_bytes().to_vec()),
            );
            secret
                .meta
                .annotations
                .insert(ROTATED_AT_ANNOTATION.into(), at.to_rfc3339());
        }
        snap.secrets
            .insert(ObjectKey::new("ns", "s-signing"), secret);
        snap
    }

    fn running(snap: &Snapshot) -> Topology {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let ctx = BuildContext {
            external_signing_secrets: true,
            ..BuildContext::default()
        };
        let mut topology = Topology::default();
        for (key, obj) in desired(snap) {
            let piece = SubscriptionPiece::from_inputs(&obj, &ctx).unwrap();
            topology.subscriptions.insert(key, Arc::new(piece));
        }
        topology
    }

    #[test]
    fn an_edit_is_carried_into_the_snapshot_until_the_secret_shows_it() {
        let (a, b) = (
            crate::signature::standard_webhooks::generate_secret(),
            crate::signature::standard_webhooks::generate_secret(),
        );
        let mut rotations = Rotations::default();
        let now = Utc::now();
        let before = running(&snapshot(&a, None));
        let mut edited = snapshot(&b, None);
        let changes = rotations.prepare(&mut edited, &before, now);
        let secret_key = ObjectKey::new("ns", "s-signing");
        assert_eq!(
            changes,
            [(
                secret_key.clone(),
                Change::Record {
                    old: a.clone().into_bytes(),
                    at: now
                }
            )]
        );
        // The engine signs with both at once.
        let after = running(&edited);
        let piece = &after.subscriptions[&ObjectKey::new("ns", "s")];
        assert_eq!(
            piece.route.destination.signer,
            crate::delivery::Signer::StandardWebhooks(vec![b.clone(), a.clone()])
        );
        // Not yet in the Secret: carried again; once it is, nothing more to do.
        let mut again = snapshot(&b, None);
        assert_eq!(rotations.prepare(&mut again, &after, now).len(), 1);
        let mut persisted = snapshot(&b, Some((&a, now)));
        assert!(rotations.prepare(&mut persisted, &after, now).is_empty());
        // After 24 hours the leader removes it.
        let later = now + chrono::Duration::hours(24);
        let mut old = snapshot(&b, Some((&a, now)));
        assert_eq!(
            rotations.prepare(&mut old, &after, later),
            [(secret_key, Change::Expire)]
        );
    }
}
