//! Bulk retry and replay in a cluster: a tenant's ServiceAccount token is checked by
//! TokenReview and SubjectAccessReview for the verb `replay` on the subscription. A token
//! allowed to `get` and `update` it but not `replay` is refused (403, nothing done); once a
//! Role grants `replay`, the same requests are allowed and the replay delivers the stored
//! event again, with its original id.

use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::sink::Sink;
use crate::support::TestEnv;
use crate::support::controller::{Controller, api, eventually};
use crate::support::publish::{
    apply, publish_accepted, service_account_token, subscription, wait_ready,
};

async fn post(url: &str, token: &str, body: &Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(url)
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

fn role(ns: &str, name: &str, verbs: &str) -> String {
    format!(
        r#"apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: {name}, namespace: {ns}}}
rules:
  - apiGroups: [switchboard.dev]
    resources: [webhooksubscriptions]
    verbs: [{verbs}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: {name}, namespace: {ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: {name}}}
subjects:
  - {{kind: ServiceAccount, name: operator, namespace: {ns}}}
"#
    )
}

#[tokio::test]
async fn bulk_retry_and_replay_need_the_replay_verb() {
    let env = TestEnv::new("replay-auth").await.unwrap();
    let ns = env.namespace.clone();
    let kubectl = env.kubectl();
    let sink = Sink::always(200);
    let operator = service_account_token(&kubectl, &ns, "operator");
    apply(&kubectl, &role(&ns, "whs-editor", "get, update"));
    let ctl = Controller::start_with(env.kubeconfig(), &[&ns], &["--allow-private-destinations"])
        .unwrap();
    apply(
        &kubectl,
        &subscription(&ns, "orders", &sink.url, Some("{scheme: None}")),
    );
    let whs = api(&env.client, "WebhookSubscription", &ns);
    assert!(wait_ready(&whs, "orders").await, "{}", ctl.log());
    let since = Utc::now() - chrono::Duration::minutes(5);
    let event = json!({"type": "order.created", "id": "evt-replay-1", "data": {}});
    publish_accepted(&ctl.data_url, &ns, &operator, &event).await;
    eventually(Duration::from_secs(30), || async {
        (sink.hits().len() == 1).then_some(())
    })
    .await
    .unwrap_or_else(|| panic!("not delivered live\n{}", ctl.log()));
    let until = Utc::now();
    let range = json!({
        "since": since.to_rfc3339_opts(SecondsFormat::Micros, true),
        "until": until.to_rfc3339_opts(SecondsFormat::Micros, true),
    });
    let base = format!(
        "{}/v1/namespaces/{ns}/webhooksubscriptions/orders",
        ctl.admin_url
    );

    // `get` and `update` are not enough.
    let (status, body) = post(&format!("{base}/replays"), &operator, &range).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.to_string().contains("replay"), "{body}");
    let (status, body) = post(&format!("{base}/deliveries/retry"), &operator, &range).await;
    assert_eq!(status, 403, "{body}");
    let (status, _) = post(&format!("{base}/replays"), "not-a-token", &range).await;
    assert_eq!(status, 401);

    // Granted `replay`: allowed (the authorizer's cache of the refusal is per verb and
    // short-lived, so wait for RBAC and the cache).
    apply(&kubectl, &role(&ns, "whs-replayer", "replay"));
    let started = eventually(Duration::from_secs(30), || async {
        let (status, body) = post(&format!("{base}/replays"), &operator, &range).await;
        (status == 202).then_some(body)
    })
    .await
    .unwrap_or_else(|| panic!("replay never allowed\n{}", ctl.log()));
    assert!(
        started["id"].as_str().unwrap().starts_with("rpl_"),
        "{started}"
    );
    let (status, body) = post(&format!("{base}/deliveries/retry"), &operator, &range).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["requeued"], 0, "nothing failed: {body}");
    let hits = eventually(Duration::from_secs(30), || async {
        let hits = sink.hits();
        (hits.len() == 2).then_some(hits)
    })
    .await
    .unwrap_or_else(|| panic!("not replayed\n{}", ctl.log()));
    let replayed = &hits[1];
    assert_eq!(replayed.header("webhook-id"), "evt-replay-1");
    assert_eq!(
        replayed.header("switchboard-replay-id"),
        started["id"].as_str().unwrap()
    );
}
