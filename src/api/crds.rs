//! The CustomResourceDefinitions of every kind, as generated from the Rust types.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

use super::{
    ClusterIntegrationProvider, EventType, Integration, SyncJob, SyncSchedule, Transformation,
    WebhookEndpoint, WebhookSubscription,
};

/// Every CRD, in a stable order.
pub fn all() -> Vec<CustomResourceDefinition> {
    vec![
        ClusterIntegrationProvider::crd(),
        EventType::crd(),
        Integration::crd(),
        SyncJob::crd(),
        SyncSchedule::crd(),
        Transformation::crd(),
        WebhookEndpoint::crd(),
        WebhookSubscription::crd(),
    ]
}

/// The CRD of a kind (as in `kind:`), if it is one of ours.
pub fn for_kind(kind: &str) -> Option<CustomResourceDefinition> {
    all().into_iter().find(|crd| crd.spec.names.kind == kind)
}

/// The file name of a CRD under `crds/`, e.g. `webhooksubscriptions.switchboard.dev.yaml`.
pub fn file_name(crd: &CustomResourceDefinition) -> String {
    format!("{}.yaml", crd.metadata.name.as_deref().unwrap_or("unnamed"))
}

/// Every CRD, tidied for the API server, as JSON values.
pub fn all_json() -> Vec<serde_json::Value> {
    all()
        .iter()
        .map(|crd| {
            let mut value = serde_json::to_value(crd).expect("CRDs serialize");
            tidy_formats(&mut value);
            value
        })
        .collect()
}

/// The openAPIV3Schema of a kind's CRD (tidied), if it is one of ours.
pub fn schema_of(kind: &str) -> Option<serde_json::Value> {
    all_json().into_iter().find_map(|crd| {
        (crd["spec"]["names"]["kind"] == kind)
            .then(|| crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone())
    })
}

/// Replaces schemars' unsigned integer formats, which Kubernetes does not know, with
/// int32/int64; schemars already adds `minimum: 0` for them.
fn tidy_formats(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            if let Some(serde_json::Value::String(format)) = map.get_mut("format") {
                match format.as_str() {
                    "uint8" | "uint16" | "uint32" | "int8" | "int16" => *format = "int32".into(),
                    "uint64" | "uint" => *format = "int64".into(),
                    _ => {}
                }
            }
            map.values_mut().for_each(tidy_formats);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(tidy_formats),
        _ => {}
    }
}
