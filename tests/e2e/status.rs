//! The status subresource: writing status leaves `metadata.generation` alone, a spec change
//! bumps it, and status sent through the main resource is ignored.

use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;
use switchboard::api::WebhookSubscription;

use crate::support::TestEnv;

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
