//! Tenant isolation on the delivery path: an event published in namespace a reaches a's
//! subscriptions and never one in namespace b, and a's token cannot publish into b.

use std::time::Duration;

use serde_json::json;

use crate::sink::Sink;
use crate::support::TestEnv;
use crate::support::controller::{Controller, api, eventually};
use crate::support::publish::{
    apply, extra_namespace, publish, publish_accepted, service_account_token, subscription,
    wait_ready,
};

#[tokio::test]
async fn an_event_in_one_namespace_never_reaches_another_namespaces_subscription() {
    let env = TestEnv::new("isolation").await.unwrap();
    let a = env.namespace.clone();
    let b = extra_namespace(&env, "isolation-b").await;
    let kubectl = env.kubectl();
    let (sink_a, sink_b) = (Sink::always(200), Sink::always(200));
    let token_a = service_account_token(&kubectl, &a, "publisher");
    let token_b = service_account_token(&kubectl, &b, "publisher");
    let ctl = Controller::start_with(
        env.kubeconfig(),
        &[&a, &b],
        &["--allow-private-destinations"],
    )
    .unwrap();
    // Same name, same event types, one per namespace.
    apply(
        &kubectl,
        &subscription(&a, "orders", &sink_a.url, Some("{scheme: None}")),
    );
    apply(
        &kubectl,
        &subscription(&b, "orders", &sink_b.url, Some("{scheme: None}")),
    );
    for ns in [&a, &b] {
        let whs = api(&env.client, "WebhookSubscription", ns);
        assert!(wait_ready(&whs, "orders").await, "{ns}\n{}", ctl.log());
    }

    let in_a = json!({"type": "order.created", "id": "evt-in-a", "data": {"from": "a"}});
    publish_accepted(&ctl.data_url, &a, &token_a, &in_a).await;
    let got_a = eventually(Duration::from_secs(30), || async {
        sink_a.hits().into_iter().next()
    })
    .await
    .unwrap_or_else(|| panic!("a's subscription got nothing\n{}", ctl.log()));
    assert_eq!(from(&got_a), "a");
    // a's token may not publish into b.
    assert_eq!(publish(&ctl.data_url, &b, &token_a, &in_a).await, Some(403));

    // b's own event arrives at b (after a's, which would have come first if it leaked).
    let in_b = json!({"type": "order.created", "id": "evt-in-b", "data": {"from": "b"}});
    publish_accepted(&ctl.data_url, &b, &token_b, &in_b).await;
    let got_b = eventually(Duration::from_secs(30), || async {
        sink_b.hits().into_iter().next()
    })
    .await
    .unwrap_or_else(|| panic!("b's subscription got nothing\n{}", ctl.log()));
    assert_eq!(from(&got_b), "b");
    let senders: Vec<String> = sink_b.hits().iter().map(from).collect();
    assert_eq!(senders, ["b"], "b's sink got another namespace's event");
    let senders: Vec<String> = sink_a.hits().iter().map(from).collect();
    assert_eq!(senders, ["a"]);
}

/// `data.from` of a delivered event.
fn from(hit: &crate::sink::Hit) -> String {
    let body: serde_json::Value = serde_json::from_slice(&hit.body).unwrap_or_default();
    body["data"]["from"].as_str().unwrap_or_default().to_owned()
}
