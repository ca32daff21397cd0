//! Problems that travel along references: a resource that uses a Transformation that is not
//! ready is not ready either (its message names the Transformation and its problem).

use crate::api::Kind;

use super::check::Problem;
use super::snapshot::{ObjectKey, Snapshot};

/// Problems of subscriptions and endpoints whose Transformation has a problem.
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
