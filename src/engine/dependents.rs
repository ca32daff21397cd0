//! Problems that travel along references: a resource that uses a Transformation that is not
//! ready is not ready either (its message names the Transformation and its problem); nor is a
//! subscription that authenticates through an Integration whose Secret has not opted in.

use crate::api::Kind;

use super::check::{Problem, SECRET_NOT_USABLE};
use super::snapshot::{ObjectKey, Snapshot};

/// Problems of subscriptions and endpoints whose Transformation has a problem, and of
/// subscriptions whose Integration's Secret has not opted in.
pub fn problems(snap: &Snapshot, found: &[Problem]) -> Vec<Problem> {
    let broken = |ns: &str, name: &str| {
        let key = ObjectKey::new(ns, name);
        found
            .iter()
            .find(|p| p.kind == Kind::Transformation && p.key == key)
    };
    let mut out = Vec::new();
    let users = snap
        .subscriptions
        .iter()
        .map(|(k, o)| {
            (
                Kind::WebhookSubscription,
                k,
                o.spec.transformation_ref.as_ref(),
            )
        })
        .chain(
            snap.endpoints
                .iter()
                .map(|(k, o)| (Kind::WebhookEndpoint, k, o.spec.transformation_ref.as_ref())),
        );
    // A subscription authenticating through an Integration whose Secret has not opted in may
    // not use it either (and must stop if it did).
    for (key, obj) in &snap.subscriptions {
        let Some(r) = obj
            .spec
            .integration_ref
            .as_ref()
            .filter(|_| obj.spec.auth.is_none())
        else {
            continue;
        };
        let ikey = ObjectKey::new(&key.namespace, &r.name);
        if let Some(p) = found
            .iter()
            .find(|p| p.kind == Kind::Integration && p.key == ikey && p.reason == SECRET_NOT_USABLE)
        {
            out.push(Problem {
                kind: Kind::WebhookSubscription,
                key: key.clone(),
                pointer: "/spec/integrationRef/name".into(),
                message: format!("Integration {:?}: {}", r.name, p.message),
                reason: SECRET_NOT_USABLE,
            });
        }
    }
    for (kind, key, reference) in users {
        let Some(reference) = reference else { continue };
        if let Some(p) = broken(&key.namespace, &reference.name) {
            out.push(Problem {
                kind,
                key: key.clone(),
                pointer: "/spec/transformationRef/name".into(),
                message: format!(
                    "Transformation {:?} is not ready: {}",
                    reference.name, p.message
                ),
                reason: "TransformationInvalid",
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::snapshot::Meta;

    #[test]
    fn a_subscription_using_an_integration_whose_secret_is_not_usable_is_not_usable_either() {
        let mut snap = Snapshot::default();
        for (name, auth) in [("via", None), ("own", Some(true))] {
            let mut spec = serde_json::json!({"url": "https://x.example.com",
                "eventTypes": ["*"], "integrationRef": {"name": "api"}});
            if auth.is_some() {
                spec["auth"] = serde_json::json!({"type": "None"});
            }
            snap.insert_json(
                Kind::WebhookSubscription,
                ObjectKey::new("a", name),
                Meta::default(),
                spec,
            )
            .unwrap();
        }
        let found = [Problem {
            kind: Kind::Integration,
            key: ObjectKey::new("a", "api"),
            pointer: "/spec/auth/secretRef/name".into(),
            message: "label it".into(),
            reason: SECRET_NOT_USABLE,
        }];
        let out = problems(&snap, &found);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].key, ObjectKey::new("a", "via"));
        assert_eq!(out[0].reason, SECRET_NOT_USABLE);
        assert!(out[0].message.contains("label it"));
    }

    #[test]
    fn a_subscription_using_a_broken_transformation_gets_its_problem() {
        let mut snap = Snapshot::default();
        let spec = serde_json::json!({"url": "https://x.example.com", "eventTypes": ["*"],
            "transformationRef": {"name": "t"}});
        for ns in ["a", "b"] {
            snap.insert_json(
                Kind::WebhookSubscription,
                ObjectKey::new(ns, "s"),
                Meta::default(),
                spec.clone(),
            )
            .unwrap();
        }
        let found = [Problem {
            kind: Kind::Transformation,
            key: ObjectKey::new("a", "t"),
            pointer: "/spec/jq".into(),
            message: "line 1, column 3: unexpected token".into(),
            reason: "TransformationInvalid",
        }];
        let out = problems(&snap, &found);
        assert_eq!(out.len(), 1, "only namespace a's subscription");
        assert_eq!(out[0].key, ObjectKey::new("a", "s"));
        assert!(out[0].message.contains("unexpected token"));
    }
}
