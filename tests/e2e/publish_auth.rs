//! Publish API authentication in a cluster: a ServiceAccount token (TokenRequest, as
//! `kubectl create token` does) publishes to its own namespace (202) and nowhere else (403).

use std::time::Duration;

use crate::support::controller::{Controller, eventually};
use crate::support::{TestEnv, unique_name};

/// Publishes an `order.created` event; the answer's status (None when unreachable).
async fn publish(url: &str, namespace: &str, token: &str) -> Option<u16> {
    let event = serde_json::json!({"type": "order.created", "data": {"id": 1}});
    crate::support::publish::publish(url, namespace, token, &event).await
}

#[tokio::test]
async fn service_account_tokens_publish_to_their_own_namespace_only() {
    let env = TestEnv::new("publish-auth").await.unwrap();
    let ns = env.namespace.clone();
    let other = unique_name("publish-auth-other");
    let kubectl = env.kubectl();
    kubectl.ok(&["create", "namespace", &other]).unwrap();
    kubectl
        .ok(&[
            "label",
            "namespace",
            &other,
            "switchboard.dev/e2e=publish-auth",
        ])
        .unwrap();
    for n in [&ns, &other] {
        kubectl
            .ok(&["create", "serviceaccount", "publisher", "-n", n])
            .unwrap();
    }
    let token = |n: &str| {
        kubectl
            .ok(&["create", "token", "publisher", "-n", n])
            .unwrap()
            .stdout
            .trim()
            .to_owned()
    };
    let (own, foreign) = (token(&ns), token(&other));
    let ctl = Controller::start(env.kubeconfig(), &[&ns]).unwrap();

    let status = eventually(Duration::from_secs(30), || {
        publish(&ctl.data_url, &ns, &own)
    })
    .await;
    assert_eq!(status, Some(202), "own namespace\n{}", ctl.log());
    // Cached now; still accepted.
    assert_eq!(publish(&ctl.data_url, &ns, &own).await, Some(202));
    assert_eq!(
        publish(&ctl.data_url, &ns, &foreign).await,
        Some(403),
        "token of another namespace"
    );
    assert_eq!(
        publish(&ctl.data_url, &ns, "not-a-token").await,
        Some(401),
        "invalid token"
    );
}
