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

/// Label that marks a Secret as holding a publisher token (key `token`).
pub const PUBLISHER_TOKEN_LABEL: &str = "switchboard.dev/publisher-token";

/// Ready reason of a resource naming a Secret that exists but has not opted in to use by
/// Switchboard (see [`USABLE_LABEL`]).
pub const SECRET_NOT_USABLE: &str = "SecretNotUsable";

/// Label by which a Secret opts in to being used by Switchboard resources (value `"true"`),
/// set by whoever may manage the Secret. Without it no resource may send, sign or verify with
/// the Secret, so a tenant who may edit Switchboard resources but not read Secrets cannot make
/// Switchboard send a Secret's value to a server of their choosing.
pub const USABLE_LABEL: &str = "switchboard.dev/usable";

/// True when `labels` hold `key: "true"`.
fn labelled(labels: &BTreeMap<String, String>, key: &str) -> bool {
    labels.get(key).is_some_and(|v| v == "true")
}

/// True when a Secret with these labels may have its values read by a front-end: it opted in
/// to use by resources ([`USABLE_LABEL`]) or it holds a publisher token
/// ([`PUBLISHER_TOKEN_LABEL`], only ever compared, never sent). Front-ends
/// keep only the labels of any other Secret, never its values.
pub fn values_wanted(labels: &BTreeMap<String, String>) -> bool {
    labelled(labels, USABLE_LABEL) || labelled(labels, PUBLISHER_TOKEN_LABEL)
}

/// The message of a reference to a Secret that exists but has not opted in: which Secret,
/// which label, the command and who may run it.
pub fn not_usable_message(namespace: &str, name: &str) -> String {
    format!(
        "Secret {name:?} in namespace {namespace:?} has not opted in to use by Switchboard: \
         someone allowed to manage Secrets in {namespace:?} must add the label \
         {USABLE_LABEL}: \"true\" to it (kubectl label secret {name} -n {namespace} \
         {USABLE_LABEL}=true, or in its manifest)"
    )
}

/// A Secret: its keys and values (decoded). A Secret that has not opted in (see
/// [`USABLE_LABEL`]) is present with its labels and no values, so a reference to it is told
/// apart from a reference to a missing Secret.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecretObject {
    /// Metadata (labels mark publisher tokens and the opt-in).
    pub meta: Meta,
    /// Key to decoded value.
    pub data: BTreeMap<String, SecretValue>,
}

impl SecretObject {
    /// True when the Secret opted in to use by resources ([`USABLE_LABEL`]).
    pub fn usable(&self) -> bool {
        labelled(&self.meta.labels, USABLE_LABEL)
    }
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
    /// Secrets referenced by the resources (values only of those that opted in, see
    /// [`SecretObject`]) and publisher-token Secrets.
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

    /// Secret `name` of `namespace`, if it exists and opted in to use by resources.
    pub fn usable_secret(&self, namespace: &str, name: &str) -> Option<&SecretObject> {
        self.secrets
            .get(&ObjectKey::new(namespace, name))
            .filter(|s| s.usable())
    }

    /// The value of `key` in Secret `name` of `namespace`, if that Secret opted in to use by
    /// resources (the only way a resource reads a Secret).
    pub fn secret_value(&self, namespace: &str, name: &str, key: &str) -> Option<&SecretValue> {
        self.usable_secret(namespace, name)?.data.get(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(labels: &[(&str, &str)]) -> SecretObject {
        let mut s = SecretObject::default();
        for (k, v) in labels {
            s.meta.labels.insert((*k).into(), (*v).into());
        }
        s.data.insert("token".into(), SecretValue(b"t".to_vec()));
        s
    }

    #[test]
    fn only_secrets_labelled_usable_true_are_read_for_resources() {
        let mut snap = Snapshot::default();
        let cases = [
            ("opted", vec![(USABLE_LABEL, "true")]),
            ("unlabelled", vec![]),
            ("false", vec![(USABLE_LABEL, "false")]),
            ("publisher", vec![(super::PUBLISHER_TOKEN_LABEL, "true")]),
        ];
        for (name, labels) in &cases {
            snap.secrets
                .insert(ObjectKey::new("ns", name), secret(labels));
        }
        assert!(snap.secret_value("ns", "opted", "token").is_some());
        for name in ["unlabelled", "false", "publisher", "missing"] {
            assert!(snap.secret_value("ns", name, "token").is_none(), "{name}");
            assert!(snap.usable_secret("ns", name).is_none(), "{name}");
        }
        assert!(snap.secret_value("other", "opted", "token").is_none());
        let wanted: Vec<_> = cases
            .iter()
            .filter(|(_, labels)| {
                values_wanted(
                    &labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                )
            })
            .map(|(name, _)| *name)
            .collect();
        assert_eq!(wanted, ["opted", "publisher"]);
    }

    #[test]
    fn the_not_usable_message_names_the_secret_the_label_and_the_command() {
        let m = not_usable_message("team-a", "creds");
        assert!(m.contains("\"creds\"") && m.contains("\"team-a\""), "{m}");
        assert!(
            m.contains("kubectl label secret creds -n team-a switchboard.dev/usable=true"),
            "{m}"
        );
        assert!(m.contains("manage Secrets"), "{m}");
    }
}
