//! The desired state from the reflector stores: every watched resource, plus the Secrets they
//! reference by name in their own namespace (and publisher-token Secrets), decoded.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;

use crate::engine::snapshot::{Meta, ObjectKey, SecretObject, SecretValue, Snapshot};
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
    for store in &stores.secrets {
        for secret in store.state() {
            add_secret(&mut snap, &refs, &secret);
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

/// Adds a Secret if a resource of its namespace references it or it is a publisher token.
pub fn add_secret(snap: &mut Snapshot, refs: &BTreeSet<ObjectKey>, secret: &Secret) {
    let key = ObjectKey::new(&secret.namespace().unwrap_or_default(), &secret.name_any());
    let publisher = secret
        .labels()
        .get(PUBLISHER_TOKEN_LABEL)
        .is_some_and(|v| v == "true");
    if !publisher && !refs.contains(&key) {
        return;
    }
    let mut data: std::collections::BTreeMap<String, SecretValue> = secret
        .data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), SecretValue(v.0.clone())))
        .collect();
    // stringData is write-only on a real server, but tests and fakes may set it.
    for (k, v) in secret.string_data.iter().flatten() {
        data.insert(k.clone(), SecretValue(v.clone().into_bytes()));
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
        add_secret(&mut snap, &refs, &secret("a", "signing", &[]));
        add_secret(&mut snap, &refs, &secret("b", "signing", &[]));
        add_secret(&mut snap, &refs, &secret("a", "unrelated", &[]));
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
