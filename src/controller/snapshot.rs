//! The desired state from the reflector stores: every watched resource, plus the Secrets they
//! reference by name in their own namespace (and publisher-token Secrets), decoded. A
//! referenced Secret that has not opted in (`switchboard.dev/usable`) comes from the
//! metadata-only watch: its labels, never its values.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::core::PartialObjectMeta;

use crate::engine::snapshot::{
    Meta, ObjectKey, SecretObject, SecretValue, Snapshot, USABLE_LABEL, values_wanted,
};
use crate::engine::subscription::ROTATED_AT_ANNOTATION;
use crate::engine::topology::PUBLISHER_TOKEN_LABEL;

use super::kinds::Watched;
use super::stores::Stores;

/// Builds the snapshot of everything in the stores.
pub fn build(stores: &Stores) -> Snapshot {
    let mut snap = Snapshot::default();
    let mut refs = BTreeSet::new();
    add_all(&mut snap, &mut refs, &stores.providers);
    add_all(&mut snap, &mut refs, &stores.integrations);
    add_all(&mut snap, &mut refs, &stores.endpoints);
    add_all(&mut snap, &mut refs, &stores.subscriptions);
    for store in &stores.subscriptions {
        for sub in store.state() {
            if let Some(name) = super::signing::generated_name(&sub.name_any(), &sub.spec) {
                refs.insert(ObjectKey::new(&sub.namespace().unwrap_or_default(), &name));
            }
        }
    }
    add_all(&mut snap, &mut refs, &stores.transformations);
    add_all(&mut snap, &mut refs, &stores.schedules);
    add_all(&mut snap, &mut refs, &stores.jobs);
    add_all(&mut snap, &mut refs, &stores.event_types);
    for store in stores.secrets.iter().chain(&stores.publisher_tokens) {
        for secret in store.state() {
            add_secret(&mut snap, &refs, &secret);
        }
    }
    for store in &stores.secret_meta {
        for meta in store.state() {
            add_secret_meta(&mut snap, &refs, &meta);
        }
    }
    snap
}

fn add_all<K: Watched>(
    snap: &mut Snapshot,
    refs: &mut BTreeSet<ObjectKey>,
    stores: &[kube::runtime::reflector::Store<K>],
) {
    for store in stores {
        for obj in store.state() {
            add(snap, refs, obj.as_ref());
        }
    }
}

/// Adds one object (skipped while it is being deleted) and records the Secrets it references.
pub fn add<K: Watched>(snap: &mut Snapshot, refs: &mut BTreeSet<ObjectKey>, obj: &K) {
    if obj.meta().deletion_timestamp.is_some() {
        return;
    }
    let namespace = obj.namespace().unwrap_or_default();
    let key = ObjectKey::new(&namespace, &obj.name_any());
    // The spec alone: the whole object would copy its metadata and status too.
    secret_refs(&obj.spec_json(), &mut |name| {
        refs.insert(ObjectKey::new(&namespace, name));
    });
    let meta = Meta {
        generation: obj.meta().generation,
        labels: obj.labels().clone(),
        annotations: obj.annotations().clone(),
    };
    obj.insert(snap, key, meta);
}

/// Calls `f` with the name of every `secretRef` (and `*SecretRef`) anywhere in a spec.
fn secret_refs(value: &serde_json::Value, f: &mut impl FnMut(&str)) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                if (k == "secretRef" || k.ends_with("SecretRef"))
                    && let Some(name) = v.get("name").and_then(|n| n.as_str())
                {
                    f(name);
                }
                secret_refs(v, f);
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| secret_refs(v, f)),
        _ => {}
    }
}

/// Adds a Secret if a resource of its namespace references it or it is a publisher token;
/// its values only if it opted in or is a publisher token (the watches select those alone).
pub fn add_secret(snap: &mut Snapshot, refs: &BTreeSet<ObjectKey>, secret: &Secret) {
    let key = ObjectKey::new(&secret.namespace().unwrap_or_default(), &secret.name_any());
    let publisher = secret
        .labels()
        .get(PUBLISHER_TOKEN_LABEL)
        .is_some_and(|v| v == "true");
    if !publisher && !refs.contains(&key) || snap.secrets.contains_key(&key) {
        return;
    }
    let mut data: std::collections::BTreeMap<String, SecretValue> = BTreeMap::new();
    if values_wanted(secret.labels()) {
        data.extend(
            secret
                .data
                .iter()
                .flatten()
                .map(|(k, v)| (k.clone(), SecretValue(v.0.clone()))),
        );
        // stringData is write-only on a real server, but tests and fakes may set it.
        for (k, v) in secret.string_data.iter().flatten() {
            data.insert(k.clone(), SecretValue(v.clone().into_bytes()));
        }
    }
    // Only the rotation annotation: others may be large or hold values (last-applied).
    let annotations = secret
        .annotations()
        .iter()
        .filter(|(k, _)| k.as_str() == ROTATED_AT_ANNOTATION)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let meta = Meta {
        generation: None,
        labels: secret.labels().clone(),
        annotations,
    };
    snap.secrets.insert(key, SecretObject { meta, data });
}

/// Records a referenced Secret known only by its metadata (it has not opted in, or the watch
/// of values has not caught up yet): its labels, but not the opt-in, which only the watch of
/// values vouches for.
pub fn add_secret_meta(
    snap: &mut Snapshot,
    refs: &BTreeSet<ObjectKey>,
    secret: &PartialObjectMeta<Secret>,
) {
    let key = ObjectKey::new(&secret.namespace().unwrap_or_default(), &secret.name_any());
    if !refs.contains(&key) || snap.secrets.contains_key(&key) {
        return;
    }
    let mut labels = secret.labels().clone();
    labels.remove(USABLE_LABEL);
    let meta = Meta {
        generation: None,
        labels,
        annotations: BTreeMap::new(),
    };
    snap.secrets.insert(
        key,
        SecretObject {
            meta,
            data: BTreeMap::new(),
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::WebhookSubscription;

    fn subscription(ns: &str, json: serde_json::Value) -> WebhookSubscription {
        let mut obj: WebhookSubscription = serde_json::from_value(serde_json::json!({
            "apiVersion": "switchboard.dev/v1alpha1",
            "kind": "WebhookSubscription",
            "metadata": {"name": "s", "namespace": ns, "generation": 3},
            "spec": json,
        }))
        .unwrap();
        obj.metadata.uid = Some("u".into());
        obj
    }

    fn secret(ns: &str, name: &str, labels: &[(&str, &str)]) -> Secret {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "namespace": ns,
                "labels": labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<std::collections::BTreeMap<_, _>>()},
            "data": {"secret": "c2VjcmV0"},
        }))
        .unwrap()
    }

    #[test]
    fn only_referenced_secrets_of_the_same_namespace_are_added() {
        let mut snap = Snapshot::default();
        let mut refs = BTreeSet::new();
        let sub = subscription(
            "a",
            serde_json::json!({"url": "https://x.example.com", "eventTypes": ["*"],
                "signing": {"secretRef": {"name": "signing"}}}),
        );
        add(&mut snap, &mut refs, &sub);
        assert_eq!(
            snap.subscriptions[&ObjectKey::new("a", "s")]
                .meta
                .generation,
            Some(3)
        );
        let usable = [(USABLE_LABEL, "true")];
        add_secret(&mut snap, &refs, &secret("a", "signing", &usable));
        add_secret(&mut snap, &refs, &secret("b", "signing", &usable));
        add_secret(&mut snap, &refs, &secret("a", "unrelated", &usable));
        add_secret(
            &mut snap,
            &refs,
            &secret("b", "pub", &[(PUBLISHER_TOKEN_LABEL, "true")]),
        );
        let keys: Vec<_> = snap.secrets.keys().map(|k| k.to_string()).collect();
        assert_eq!(keys, ["a/signing", "b/pub"]);
        assert_eq!(
            snap.secret_value("a", "signing", "secret").unwrap().0,
            b"secret"
        );
    }

    fn meta_of(ns: &str, name: &str, labels: &[(&str, &str)]) -> PartialObjectMeta<Secret> {
        let s = secret(ns, name, labels);
        PartialObjectMeta {
            types: None,
            metadata: s.metadata,
            _phantom: std::marker::PhantomData,
        }
    }

    #[test]
    fn a_referenced_secret_without_the_opt_in_is_known_by_its_labels_only() {
        let mut snap = Snapshot::default();
        let mut refs = BTreeSet::new();
        let sub = subscription(
            "a",
            serde_json::json!({"url": "https://x.example.com", "eventTypes": ["*"],
                "auth": {"type": "Bearer", "secretRef": {"name": "creds"}},
                "signing": {"secretRef": {"name": "signing"}}}),
        );
        add(&mut snap, &mut refs, &sub);
        // A Secret that reached the data path without the label (a fake, a stale event):
        // its values are dropped all the same.
        add_secret(&mut snap, &refs, &secret("a", "creds", &[("team", "x")]));
        // Metadata says usable, but the watch of values has not delivered it: not usable yet.
        add_secret_meta(
            &mut snap,
            &refs,
            &meta_of("a", "signing", &[(USABLE_LABEL, "true")]),
        );
        add_secret_meta(&mut snap, &refs, &meta_of("a", "unrelated", &[]));
        add_secret_meta(&mut snap, &refs, &meta_of("a", "creds", &[]));
        let keys: Vec<_> = snap.secrets.keys().map(|k| k.to_string()).collect();
        assert_eq!(keys, ["a/creds", "a/signing"]);
        for name in ["creds", "signing"] {
            let s = &snap.secrets[&ObjectKey::new("a", name)];
            assert!(s.data.is_empty() && !s.usable(), "{name}: {s:?}");
            assert!(snap.secret_value("a", name, "secret").is_none());
        }
        assert_eq!(
            snap.secrets[&ObjectKey::new("a", "creds")].meta.labels["team"],
            "x"
        );
        // Once the watch of values has it, it is used.
        let mut snap2 = Snapshot::default();
        add(&mut snap2, &mut refs.clone(), &sub);
        add_secret(
            &mut snap2,
            &refs,
            &secret("a", "signing", &[(USABLE_LABEL, "true")]),
        );
        add_secret_meta(
            &mut snap2,
            &refs,
            &meta_of("a", "signing", &[(USABLE_LABEL, "true")]),
        );
        assert_eq!(
            snap2.secret_value("a", "signing", "secret").unwrap().0,
            b"secret"
        );
    }

    #[test]
    fn objects_being_deleted_are_left_out() {
        let mut snap = Snapshot::default();
        let mut sub = subscription(
            "a",
            serde_json::json!({"url": "https://x.example.com", "eventTypes": ["*"]}),
        );
        sub.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                k8s_openapi::jiff::Timestamp::now(),
            ));
        add(&mut snap, &mut BTreeSet::new(), &sub);
        assert!(snap.subscriptions.is_empty());
    }
}
