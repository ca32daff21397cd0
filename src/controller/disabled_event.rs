//! The Kubernetes Events of auto-disable: a Warning `Disabled` when a WebhookSubscription's
//! Healthy condition becomes reason `Disabled` (the engine stopped attempting it), a Normal
//! `Reenabled` when it stops being so. The status writer calls [`publish`] after a write that
//! made either transition.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder};
use serde_json::Value;

use crate::api::{API_VERSION, HEALTHY, Kind};
use crate::engine::ObjectKey;
use crate::error_chain::chain;

/// The Healthy reason that says the subscription is auto-disabled.
const DISABLED: &str = "Disabled";

/// The Healthy condition of a status document, if any.
fn healthy(status: &Value) -> Option<&Value> {
    status
        .get("conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == HEALTHY))
}

/// True when a status says the subscription is auto-disabled.
pub(super) fn disabled(status: &Value) -> bool {
    healthy(status).is_some_and(|c| c["reason"] == DISABLED)
}

/// Publishes the transition from `was` to what `status` says, if it is one.
pub(super) async fn publish(
    recorder: &Recorder,
    (kind, key): (Kind, &ObjectKey),
    uid: &str,
    was: bool,
    status: &Value,
) {
    let now = disabled(status);
    if kind != Kind::WebhookSubscription || now == was {
        return;
    }
    let event = if now {
        let message = healthy(status)
            .and_then(|c| c["message"].as_str())
            .unwrap_or_default();
        Event {
            type_: EventType::Warning,
            reason: DISABLED.into(),
            note: Some(message.chars().take(1000).collect()),
            action: "AutoDisable".into(),
            secondary: None,
        }
    } else {
        Event {
            type_: EventType::Normal,
            reason: "Reenabled".into(),
            note: Some("re-enabled: its pending deliveries are attempted again".into()),
            action: "AutoDisable".into(),
            secondary: None,
        }
    };
    let reference = ObjectReference {
        api_version: Some(API_VERSION.into()),
        kind: Some(kind.as_str().into()),
        name: Some(key.name.clone()),
        namespace: Some(key.namespace.clone()),
        uid: Some(uid.to_owned()),
        ..ObjectReference::default()
    };
    if let Err(e) = recorder.publish(&event, &reference).await {
        tracing::warn!(%kind, resource = %key, error = %chain(&e), "publishing the auto-disable event failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_disabled_reason_of_healthy_counts() {
        let status = |type_: &str, reason: &str| serde_json::json!({"conditions": [{"type": type_, "status": "False", "reason": reason}]});
        assert!(disabled(&status("Healthy", "Disabled")));
        assert!(!disabled(&status("Healthy", "DeliveriesFailing")));
        assert!(!disabled(&status("Ready", "Disabled")));
        assert!(!disabled(&Value::Null));
    }
}
