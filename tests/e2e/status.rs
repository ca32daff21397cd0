//! The status subresource: writing status leaves `metadata.generation` alone, a spec change
//! bumps it, and status sent through the main resource is ignored; delivery counters survive
//! a controller restart.

use std::time::{Duration, Instant};

use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;
use switchboard::api::WebhookSubscription;

use crate::sink::Sink;
use crate::support::TestEnv;
use crate::support::controller::{Controller, api};
use crate::support::publish::{
    apply, publish_accepted, service_account_token, status_number,
    subscription as subscription_yaml, wait_ready, wait_status_at_least,
};

fn subscription(name: &str) -> WebhookSubscription {
    serde_json::from_value(json!({
        "apiVersion": "switchboard.dev/v1alpha1",
        "kind": "WebhookSubscription",
        "metadata": { "name": name },
        "spec": {
            "url": "https://orders.example.com/hooks",
            "eventTypes": ["order.*"],
            "signing": { "scheme": "None" }
        }
    }))
    .unwrap()
}

#[tokio::test]
async fn status_patch_keeps_generation_and_spec_patch_bumps_it() {
    let env = TestEnv::new("status").await.unwrap();
    let api: Api<WebhookSubscription> = Api::namespaced(env.client.clone(), &env.namespace);
    let created = api
        .create(&PostParams::default(), &subscription("orders"))
        .await
        .unwrap();
    assert_eq!(created.metadata.generation, Some(1));

    // Through kube's status subresource call.
    let status = json!({ "status": {
        "observedGeneration": 1,
        "delivered": 7,
        "conditions": [{
            "type": "Ready", "status": "True", "reason": "Accepted", "message": "configured",
            "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 1
        }]
    }});
    let patched = api
        .patch_status("orders", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    assert_eq!(
        patched.metadata.generation,
        Some(1),
        "status patch bumped generation"
    );
    let st = patched.status.unwrap();
    assert_eq!((st.delivered, st.observed_generation), (7, Some(1)));
    assert_eq!(st.conditions[0].type_, "Ready");

    // Through kubectl, as an operator would.
    let kubectl = env.kubectl();
    kubectl
        .ok(&[
            "patch",
            "webhooksubscription",
            "orders",
            "-n",
            &env.namespace,
            "--subresource=status",
            "--type=merge",
            "-p",
            r#"{"status":{"failed":2}}"#,
        ])
        .unwrap();
    let got = api.get("orders").await.unwrap();
    assert_eq!(got.metadata.generation, Some(1));
    assert_eq!(
        got.status.as_ref().map(|s| (s.failed, s.delivered)),
        Some((2, 7))
    );

    // Status written through the main resource is dropped; the spec part counts.
    let spec_change = json!({ "spec": { "suspend": true }, "status": { "delivered": 99 } });
    let changed = api
        .patch(
            "orders",
            &PatchParams::default(),
            &Patch::Merge(&spec_change),
        )
        .await
        .unwrap();
    assert_eq!(
        changed.metadata.generation,
        Some(2),
        "spec change must bump generation"
    );
    assert!(changed.spec.suspend);
    assert_eq!(changed.status.map(|s| s.delivered), Some(7));

    let table = kubectl
        .ok(&["get", "whs", "orders", "-n", &env.namespace, "--no-headers"])
        .unwrap();
    let columns: Vec<&str> = table.stdout.split_whitespace().collect();
    // NAME READY HEALTHY DELIVERED FAILED PENDING AGE (Healthy is unset: blank column).
    assert_eq!(columns[..2], ["orders", "True"], "{}", table.stdout);
    assert!(columns.contains(&"7"), "{}", table.stdout);
}

/// Delivered and pending counts of the `delivered` and `waiting` subscriptions.
async fn counters(whs: &Api<kube::api::DynamicObject>) -> (Option<u64>, Option<u64>) {
    (
        status_number(whs, "delivered", "delivered").await,
        status_number(whs, "waiting", "pending").await,
    )
}

#[tokio::test]
async fn delivery_counters_survive_a_controller_restart() {
    const WITHIN: Duration = Duration::from_secs(30);
    let env = TestEnv::new("status-restart").await.unwrap();
    let ns = env.namespace.clone();
    let kubectl = env.kubectl();
    // `waiting` answers 503: its deliveries wait 60 s for a retry, so they stay pending.
    let (ok, failing) = (Sink::always(200), Sink::always(503));
    let token = service_account_token(&kubectl, &ns, "publisher");
    let mut ctl = Controller::start_with(
        env.kubeconfig(),
        &[&ns],
        &["--status-interval", "2s", "--allow-private-destinations"],
    )
    .unwrap();
    apply(
        &kubectl,
        &subscription_yaml(&ns, "delivered", &ok.url, Some("{scheme: None}")),
    );
    apply(
        &kubectl,
        &subscription_yaml(&ns, "waiting", &failing.url, Some("{scheme: None}")),
    );
    let whs = api(&env.client, "WebhookSubscription", &ns);
    for name in ["delivered", "waiting"] {
        assert!(
            wait_ready(&whs, name).await,
            "{name} not Ready\n{}",
            ctl.log()
        );
    }
    for i in 0..3 {
        let event = json!({"type": "order.created", "id": format!("before-{i}"), "data": {}});
        publish_accepted(&ctl.data_url, &ns, &token, &event).await;
    }
    let delivered = wait_status_at_least(&whs, "delivered", "delivered", 3, WITHIN).await;
    let pending = wait_status_at_least(&whs, "waiting", "pending", 3, WITHIN).await;
    assert_eq!((delivered, pending), (Some(3), Some(3)), "{}", ctl.log());

    ctl.restart().unwrap();
    assert!(
        ctl.wait_applied(WITHIN).await,
        "not ready after the restart\n{}",
        ctl.log()
    );
    // Watch the counters through the restart's first status writes (several intervals), then
    // one more event must be counted on top of them.
    let watch_until = Instant::now() + Duration::from_secs(8);
    while Instant::now() < watch_until {
        let (delivered, pending) = counters(&whs).await;
        assert!(
            delivered >= Some(3) && pending >= Some(3),
            "counters went back after the restart: delivered {delivered:?}, pending {pending:?}\n{}",
            ctl.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let event = json!({"type": "order.created", "id": "after", "data": {}});
    publish_accepted(&ctl.data_url, &ns, &token, &event).await;
    let delivered = wait_status_at_least(&whs, "delivered", "delivered", 4, WITHIN).await;
    let pending = wait_status_at_least(&whs, "waiting", "pending", 4, WITHIN).await;
    assert_eq!((delivered, pending), (Some(4), Some(4)), "{}", ctl.log());
}
