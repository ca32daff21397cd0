//! The resources as Kubernetes-shaped objects (apiVersion, kind, metadata, spec, status):
//! what the admin port's `/v1/status` serves and `switchboard get` prints, standalone.

use std::collections::BTreeMap;

use crate::api::Kind;

use super::runtime::Engine;
use super::snapshot::{Object, ObjectKey, Snapshot};

impl Engine {
    /// Every resource in the Kubernetes object shape (apiVersion, kind, metadata, spec,
    /// status), optionally of one kind: what `/v1/status` serves and `switchboard get` prints.
    pub fn resource_views(&self, kind: Option<Kind>) -> Vec<serde_json::Value> {
        let applied = self.applied.lock().unwrap_or_else(|e| e.into_inner());
        self.status()
            .list(kind)
            .into_iter()
            .map(|status| {
                let k = Kind::from_kind(&status.kind).expect("the board holds our kinds");
                let key = ObjectKey::new(&status.namespace, &status.name);
                let mut spec = spec_json(&applied, k, &key);
                if spec.is_null() && k == Kind::SyncJob {
                    let specs = self.sync_specs.lock().unwrap_or_else(|e| e.into_inner());
                    spec = specs.get(&key).cloned().unwrap_or_default();
                }
                view(status, spec)
            })
            .collect()
    }
}

fn spec_json(snap: &Snapshot, kind: Kind, key: &ObjectKey) -> serde_json::Value {
    fn get<S: serde::Serialize>(
        map: &BTreeMap<ObjectKey, Object<S>>,
        key: &ObjectKey,
    ) -> serde_json::Value {
        map.get(key)
            .and_then(|o| serde_json::to_value(&o.spec).ok())
            .unwrap_or_default()
    }
    match kind {
        Kind::ClusterIntegrationProvider => get(&snap.providers, key),
        Kind::Integration => get(&snap.integrations, key),
        Kind::WebhookEndpoint => get(&snap.endpoints, key),
        Kind::WebhookSubscription => get(&snap.subscriptions, key),
        Kind::Transformation => get(&snap.transformations, key),
        Kind::SyncSchedule => get(&snap.schedules, key),
        Kind::SyncJob => get(&snap.jobs, key),
        Kind::EventType => get(&snap.event_types, key),
    }
}

fn view(status: super::status::ResourceStatus, spec: serde_json::Value) -> serde_json::Value {
    let mut metadata = serde_json::json!({
        "name": status.name,
        "creationTimestamp": status.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    });
    if !status.namespace.is_empty() {
        metadata["namespace"] = status.namespace.clone().into();
    }
    if let Some(g) = status.observed_generation {
        metadata["generation"] = g.into();
    }
    let mut st = status.fields;
    if let Some(g) = status.observed_generation {
        st.insert("observedGeneration".into(), g.into());
    }
    st.insert(
        "conditions".into(),
        serde_json::to_value(&status.conditions).unwrap_or_default(),
    );
    serde_json::json!({
        "apiVersion": crate::api::API_VERSION,
        "kind": status.kind,
        "metadata": metadata,
        "spec": spec,
        "status": st,
    })
}
