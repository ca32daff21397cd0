//! The Kubernetes Events of a resource that needs a person: a Warning `Disabled` when a
//! WebhookSubscription's Healthy condition becomes reason `Disabled` (the engine stopped
//! attempting it), a Normal `Reenabled` when it stops being so; a Warning
//! `ReauthorizationRequired` when an Integration's OAuth2 connection was refused by the
//! provider (`invalid_grant`), a Normal `Reauthorized` once it is connected again. The status
//! writer calls [`publish`] after a write that made either transition.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder};
use serde_json::Value;

use crate::api::{API_VERSION, HEALTHY, Kind};
use crate::engine::ObjectKey;
use crate::error_chain::chain;

/// The Healthy reason that says the subscription is auto-disabled.
const DISABLED: &str = "Disabled";

/// What the events of `kind` are: the Healthy reason that needs a person, the action, and
/// the reason and note of the Normal event when it stops.
fn attention(kind: Kind) -> Option<(&'static str, &'static str, &'static str, &'static str)> {
    match kind {
        Kind::WebhookSubscription => Some((
            DISABLED,
            "AutoDisable",
            "Reenabled",
            "re-enabled: its pending deliveries are attempted again",
        )),
        Kind::Integration => Some((
            crate::engine::integrations::REAUTHORIZATION_REQUIRED,
            "Connect",
            "Reauthorized",
            "the connection was authorized again",
        )),
        _ => None,
    }
}

/// The Healthy condition of a status document, if any.
fn healthy(status: &Value) -> Option<&Value> {
    status
        .get("conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == HEALTHY))
}

/// True when a status of `kind` says it needs a person (auto-disabled, re-authorization).
pub(super) fn disabled(kind: Kind, status: &Value) -> bool {
    attention(kind)
        .is_some_and(|(reason, ..)| healthy(status).is_some_and(|c| c["reason"] == reason))
}

/// Publishes the transition from `was` to what `status` says, if it is one.
pub(super) async fn publish(
    recorder: &Recorder,
    (kind, key): (Kind, &ObjectKey),
    uid: &str,
    was: bool,
    status: &Value,
) {
    let Some((reason, action, recovered, note)) = attention(kind) else {
        return;
    };
    let now = disabled(kind, status);
    if now == was {
        return;
    }
    let event = if now {
        let message = healthy(status)
            .and_then(|c| c["message"].as_str())
            .unwrap_or_default();
        Event {
            type_: EventType::Warning,
            reason: reason.into(),
            note: Some(message.chars().take(1000).collect()),
            action: action.into(),
            secondary: None,
        }
    } else {
        Event {
            type_: EventType::Normal,
            reason: recovered.into(),
            note: Some(note.into()),
            action: action.into(),
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
        tracing::warn!(%kind, resource = %key, error = %chain(&e), "publishing an attention event failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_disabled_reason_of_healthy_counts() {
        let status = |type_: &str, reason: &str| serde_json::json!({"conditions": [{"type": type_, "status": "False", "reason": reason}]});
        let sub = Kind::WebhookSubscription;
        assert!(disabled(sub, &status("Healthy", "Disabled")));
        assert!(!disabled(sub, &status("Healthy", "DeliveriesFailing")));
        assert!(!disabled(sub, &status("Ready", "Disabled")));
        assert!(!disabled(sub, &Value::Null));
        let intg = Kind::Integration;
        assert!(disabled(
            intg,
            &status("Healthy", "ReauthorizationRequired")
        ));
        assert!(!disabled(intg, &status("Healthy", "Disabled")));
        assert!(!disabled(intg, &status("Healthy", "NotConnected")));
        assert!(!disabled(Kind::SyncJob, &status("Healthy", "Disabled")));
    }
}
