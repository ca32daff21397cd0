//! The eight kinds as the controller handles them: one trait, implemented for each CRD type,
//! that names the engine `Kind`, puts an object into a `Snapshot` and normalizes its status.

use std::fmt::Debug;

use kube::Resource;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::api::{
    ClusterIntegrationProvider, ClusterIntegrationProviderStatus, EventType, EventTypeStatus,
    Integration, IntegrationStatus, Kind, SyncJob, SyncJobStatus, SyncSchedule, SyncScheduleStatus,
    Transformation, TransformationStatus, WebhookEndpoint, WebhookEndpointStatus,
    WebhookSubscription, WebhookSubscriptionStatus,
};
use crate::engine::snapshot::{Meta, Object, ObjectKey, Snapshot};
use crate::error_chain::chain;

/// A Switchboard custom resource type the controller watches.
pub trait Watched:
    Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned + Serialize + Send + Sync + 'static
{
    /// The engine's name for the kind.
    const KIND: Kind;

    /// Adds the object to the snapshot under `key`.
    fn insert(&self, snap: &mut Snapshot, key: ObjectKey, meta: Meta);

    /// The object's status as JSON (`null` when it has none).
    fn status_json(&self) -> serde_json::Value;

    /// The object's spec as JSON.
    fn spec_json(&self) -> serde_json::Value;
}

macro_rules! watched {
    ($ty:ty, $kind:expr, $field:ident) => {
        impl Watched for $ty {
            const KIND: Kind = $kind;

            fn insert(&self, snap: &mut Snapshot, key: ObjectKey, meta: Meta) {
                let spec = self.spec.clone();
                snap.$field.insert(key, Object { meta, spec });
            }

            fn status_json(&self) -> serde_json::Value {
                self.status
                    .as_ref()
                    .and_then(|s| serde_json::to_value(s).ok())
                    .unwrap_or_default()
            }

            fn spec_json(&self) -> serde_json::Value {
                serde_json::to_value(&self.spec).unwrap_or_default()
            }
        }
    };
}

watched!(
    ClusterIntegrationProvider,
    Kind::ClusterIntegrationProvider,
    providers
);
watched!(Integration, Kind::Integration, integrations);
watched!(WebhookEndpoint, Kind::WebhookEndpoint, endpoints);
watched!(
    WebhookSubscription,
    Kind::WebhookSubscription,
    subscriptions
);
watched!(Transformation, Kind::Transformation, transformations);
watched!(SyncSchedule, Kind::SyncSchedule, schedules);
watched!(SyncJob, Kind::SyncJob, jobs);
watched!(EventType, Kind::EventType, event_types);

/// The status as the kind's typed status would write it: unknown fields dropped, counters
/// defaulted (so `kubectl get` shows 0, not `<none>`). Falls back to the input if it does not
/// fit the type.
pub fn normalize_status(kind: Kind, status: serde_json::Value) -> serde_json::Value {
    fn via<T: DeserializeOwned + Serialize>(v: serde_json::Value) -> serde_json::Value {
        match serde_json::from_value::<T>(v.clone()).and_then(|t| serde_json::to_value(t)) {
            Ok(normalized) => normalized,
            Err(e) => {
                tracing::warn!(error = %chain(&e), "status does not match its kind's type; written as is");
                v
            }
        }
    }
    match kind {
        Kind::ClusterIntegrationProvider => via::<ClusterIntegrationProviderStatus>(status),
        Kind::Integration => via::<IntegrationStatus>(status),
        Kind::WebhookEndpoint => via::<WebhookEndpointStatus>(status),
        Kind::WebhookSubscription => via::<WebhookSubscriptionStatus>(status),
        Kind::Transformation => via::<TransformationStatus>(status),
        Kind::SyncSchedule => via::<SyncScheduleStatus>(status),
        Kind::SyncJob => via::<SyncJobStatus>(status),
        Kind::EventType => via::<EventTypeStatus>(status),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscription_counters_default_to_zero() {
        let status = serde_json::json!({"observedGeneration": 2, "bogus": 1});
        let out = normalize_status(Kind::WebhookSubscription, status);
        assert_eq!(out["delivered"], 0);
        assert_eq!(out["failed"], 0);
        assert_eq!(out["observedGeneration"], 2);
        assert!(out.get("bogus").is_none());
    }
}
