//! The desired state: every resource of every kind, typed, keyed by namespace and name.

use std::collections::BTreeMap;
use std::fmt;

use crate::api::{
    ClusterIntegrationProviderSpec, EventTypeSpec, IntegrationSpec, Kind, SyncJobSpec,
    SyncScheduleSpec, TransformationSpec, WebhookEndpointSpec, WebhookSubscriptionSpec,
};

/// Namespace and name of a resource; the namespace is empty for cluster-scoped kinds.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    /// Namespace ("" for cluster-scoped resources).
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl ObjectKey {
    /// A namespaced key.
    pub fn new(namespace: &str, name: &str) -> Self {
        Self {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }
    }

    /// A cluster-scoped key.
    pub fn cluster(name: &str) -> Self {
        Self::new("", name)
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            f.write_str(&self.name)
        } else {
            write!(f, "{}/{}", self.namespace, self.name)
        }
    }
}

/// The metadata the engine uses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Meta {
    /// metadata.generation, when the front-end has one.
    pub generation: Option<i64>,
    /// metadata.labels.
    pub labels: BTreeMap<String, String>,
    /// metadata.annotations.
    pub annotations: BTreeMap<String, String>,
}

/// A resource of the desired state: its metadata and spec.
#[derive(Clone, Debug, PartialEq)]
pub struct Object<S> {
    /// Metadata.
    pub meta: Meta,
    /// The spec as written (defaults applied by deserialization).
    pub spec: S,
}

/// Secret bytes whose Debug output never shows the value.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(pub Vec<u8>);

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} bytes redacted>", self.0.len())
    }
}

/// A Secret: its keys and values (decoded).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecretObject {
    /// Metadata (labels mark publisher tokens).
    pub meta: Meta,
    /// Key to decoded value.
    pub data: BTreeMap<String, SecretValue>,
}

/// Every resource the engine should run, by kind.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    /// ClusterIntegrationProviders (namespace "").
    pub providers: BTreeMap<ObjectKey, Object<ClusterIntegrationProviderSpec>>,
    /// Integrations.
    pub integrations: BTreeMap<ObjectKey, Object<IntegrationSpec>>,
    /// WebhookEndpoints.
    pub endpoints: BTreeMap<ObjectKey, Object<WebhookEndpointSpec>>,
    /// WebhookSubscriptions.
    pub subscriptions: BTreeMap<ObjectKey, Object<WebhookSubscriptionSpec>>,
    /// Transformations.
    pub transformations: BTreeMap<ObjectKey, Object<TransformationSpec>>,
    /// SyncSchedules.
    pub schedules: BTreeMap<ObjectKey, Object<SyncScheduleSpec>>,
    /// SyncJobs.
    pub jobs: BTreeMap<ObjectKey, Object<SyncJobSpec>>,
    /// EventTypes (the namespaces' event catalogs).
    pub event_types: BTreeMap<ObjectKey, Object<EventTypeSpec>>,
    /// Secrets referenced by the resources.
    pub secrets: BTreeMap<ObjectKey, SecretObject>,
}

/// A resource document that could not be added to a snapshot.
#[derive(Debug, thiserror::Error)]
pub enum InsertError {
    /// The document does not match its kind's types.
    #[error("{kind} {key}")]
    Decode {
        /// Kind of the document.
        kind: Kind,
        /// Its key.
        key: ObjectKey,
        /// The decoding error.
        #[source]
        source: serde_json::Error,
    },
    /// A resource with the same kind, namespace and name is already present.
    #[error("{kind} {key} is defined twice")]
    Duplicate {
        /// Kind of the document.
        kind: Kind,
        /// Its key.
        key: ObjectKey,
    },
}

fn insert<S: serde::de::DeserializeOwned>(
    map: &mut BTreeMap<ObjectKey, Object<S>>,
    kind: Kind,
    key: ObjectKey,
    meta: Meta,
    spec: serde_json::Value,
) -> Result<(), InsertError> {
    if map.contains_key(&key) {
        return Err(InsertError::Duplicate { kind, key });
    }
    let spec = serde_json::from_value(spec).map_err(|source| InsertError::Decode {
        kind,
        key: key.clone(),
        source,
    })?;
    map.insert(key, Object { meta, spec });
    Ok(())
}

impl Snapshot {
    /// Adds a resource of `kind` from its spec as JSON.
    pub fn insert_json(
        &mut self,
        kind: Kind,
        key: ObjectKey,
        meta: Meta,
        spec: serde_json::Value,
    ) -> Result<(), InsertError> {
        match kind {
            Kind::ClusterIntegrationProvider => insert(&mut self.providers, kind, key, meta, spec),
            Kind::Integration => insert(&mut self.integrations, kind, key, meta, spec),
            Kind::WebhookEndpoint => insert(&mut self.endpoints, kind, key, meta, spec),
            Kind::WebhookSubscription => insert(&mut self.subscriptions, kind, key, meta, spec),
            Kind::Transformation => insert(&mut self.transformations, kind, key, meta, spec),
            Kind::SyncSchedule => insert(&mut self.schedules, kind, key, meta, spec),
            Kind::SyncJob => insert(&mut self.jobs, kind, key, meta, spec),
            Kind::EventType => insert(&mut self.event_types, kind, key, meta, spec),
        }
    }

    /// Number of resources of every kind (Secrets not counted).
    pub fn len(&self) -> usize {
        self.providers.len()
            + self.integrations.len()
            + self.endpoints.len()
            + self.subscriptions.len()
            + self.transformations.len()
            + self.schedules.len()
            + self.jobs.len()
            + self.event_types.len()
    }

    /// True when the snapshot holds no resource.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value of `key` in Secret `name` of `namespace`.
    pub fn secret_value(&self, namespace: &str, name: &str, key: &str) -> Option<&SecretValue> {
        self.secrets
            .get(&ObjectKey::new(namespace, name))?
            .data
            .get(key)
    }
}
