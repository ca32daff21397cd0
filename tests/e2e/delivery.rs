//! Events through the controller to real loopback sinks: a ServiceAccount token publishes,
//! the delivery is signed with the generated Secret, `status.delivered`/`failed` and
//! `kubectl get whs` count it; deleting a subscription drops its pending deliveries and stops
//! its deliveries.

use std::time::Duration;

use serde_json::json;

use crate::sink::Sink;
use crate::standard_webhooks::verifies;
use crate::support::TestEnv;
use crate::support::controller::{Controller, api, eventually};
use crate::support::publish::{
    apply, publish_accepted, secret_api, service_account_token, subscription, wait_ready,
    wait_status_at_least, whs_row,
};

/// Status interval of these tests' controllers.
const STATUS_INTERVAL: &str = "2s";
/// Generous bound for anything that should happen within a few status intervals.
const WITHIN: Duration = Duration::from_secs(30);

fn start(env: &TestEnv, namespaces: &[&str]) -> Controller {
    Controller::start_with(
        env.kubeconfig(),
        namespaces,
        &[
            "--status-interval",
            STATUS_INTERVAL,
            "--allow-private-destinations",
        ],
    )
    .unwrap()
}

#[tokio::test]
async fn published_event_is_delivered_signed_and_counted_in_status_and_kubectl() {
    let env = TestEnv::new("delivery").await.unwrap();
    let ns = env.namespace.clone();
    let kubectl = env.kubectl();
    let (good, bad) = (Sink::always(200), Sink::always(400));
    let token = service_account_token(&kubectl, &ns, "publisher");
    let ctl = start(&env, &[&ns]);
    apply(&kubectl, &subscription(&ns, "good", &good.url, None));
    apply(
        &kubectl,
        &subscription(&ns, "bad", &bad.url, Some("{scheme: None}")),
    );
    let whs = api(&env.client, "WebhookSubscription", &ns);
    for name in ["good", "bad"] {
        assert!(
            wait_ready(&whs, name).await,
            "{name} not Ready\n{}",
            ctl.log()
        );
    }

    let event = json!({"type": "order.created", "id": "evt-delivery-1", "data": {"order": 42}});
    publish_accepted(&ctl.data_url, &ns, &token, &event).await;
    let hit = eventually(WITHIN, || async { good.hits().into_iter().next() })
        .await
        .unwrap_or_else(|| panic!("the good sink got nothing\n{}", ctl.log()));
    let body: serde_json::Value = serde_json::from_slice(&hit.body).unwrap();
    assert_eq!(body["type"], "order.created");
    assert_eq!(body["data"]["order"], 42);
    // Signed with the generated Secret the controller created for the subscription.
    let secret = secret_api(&env, &ns).get("good-signing").await.unwrap();
    let key = String::from_utf8(secret.data.unwrap()["secret"].0.clone()).unwrap();
    assert!(
        verifies(&hit, &key),
        "signature does not verify with good-signing"
    );

    // Counted in status within the status interval, and shown by kubectl.
    let delivered = wait_status_at_least(&whs, "good", "delivered", 1, WITHIN).await;
    assert_eq!(delivered, Some(1), "{}", ctl.log());
    let failed = wait_status_at_least(&whs, "bad", "failed", 1, WITHIN).await;
    assert_eq!(failed, Some(1), "{}", ctl.log());
    let cell = |row: &[(String, String)], column: &str| {
        row.iter()
            .find(|(h, _)| h == column)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let row = whs_row(&kubectl, &ns, "good");
    assert_eq!(
        (
            cell(&row, "READY"),
            cell(&row, "DELIVERED"),
            cell(&row, "FAILED")
        ),
        ("True".into(), "1".into(), "0".into()),
        "{row:?}"
    );
    let row = whs_row(&kubectl, &ns, "bad");
    assert_eq!(
        (
            cell(&row, "READY"),
            cell(&row, "DELIVERED"),
            cell(&row, "FAILED")
        ),
        ("True".into(), "0".into(), "1".into()),
        "{row:?}"
    );
}

#[tokio::test]
async fn deleting_a_subscription_drops_its_pending_deliveries_and_stops_delivering() {
    let env = TestEnv::new("delivery-delete").await.unwrap();
    let ns = env.namespace.clone();
    let kubectl = env.kubectl();
    // `doomed` answers 503: its delivery waits for a retry (60 s), i.e. stays Pending.
    let (doomed, witness) = (Sink::always(503), Sink::always(200));
    let token = service_account_token(&kubectl, &ns, "publisher");
    let ops = service_account_token(&kubectl, &ns, "ops");
    kubectl
        .ok(&[
            "create",
            "role",
            "whs-reader",
            "-n",
            &ns,
            "--verb=get",
            "--resource=webhooksubscriptions.switchboard.dev",
        ])
        .unwrap();
    kubectl
        .ok(&[
            "create",
            "rolebinding",
            "ops-reads",
            "-n",
            &ns,
            "--role=whs-reader",
            &format!("--serviceaccount={ns}:ops"),
        ])
        .unwrap();
    let ctl = start(&env, &[&ns]);
    apply(&kubectl, &subscription(&ns, "doomed", &doomed.url, None));
    apply(
        &kubectl,
        &subscription(&ns, "witness", &witness.url, Some("{scheme: None}")),
    );
    let whs = api(&env.client, "WebhookSubscription", &ns);
    for name in ["doomed", "witness"] {
        assert!(
            wait_ready(&whs, name).await,
            "{name} not Ready\n{}",
            ctl.log()
        );
    }
    // The generated Secret is owned by the subscription (garbage-collected with it).
    let uid = whs.get("doomed").await.unwrap().metadata.uid.unwrap();
    let secret = secret_api(&env, &ns).get("doomed-signing").await.unwrap();
    let owner = &secret.metadata.owner_references.unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str()),
        ("WebhookSubscription", uid.as_str())
    );

    let first = json!({"type": "order.created", "id": "evt-before", "data": {}});
    publish_accepted(&ctl.data_url, &ns, &token, &first).await;
    assert!(
        eventually(WITHIN, || async {
            (doomed.hits().len() == 1).then_some(())
        })
        .await
        .is_some(),
        "doomed never tried\n{}",
        ctl.log()
    );
    let deliveries_url = format!(
        "{}/v1/namespaces/{ns}/webhooksubscriptions/doomed/deliveries",
        ctl.admin_url
    );
    let statuses = || async {
        let body: serde_json::Value = reqwest::Client::new()
            .get(&deliveries_url)
            .bearer_auth(&ops)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let items = body["items"].as_array()?.clone();
        Some(
            items
                .iter()
                .map(|d| {
                    (
                        d["status"].as_str().unwrap_or_default().to_owned(),
                        d["lastError"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect::<Vec<_>>(),
        )
    };
    let pending = eventually(WITHIN, || async {
        statuses()
            .await
            .filter(|s| s.len() == 1 && s[0].0 == "Pending")
    })
    .await;
    assert!(pending.is_some(), "not Pending: {:?}", statuses().await);

    // kubectl delete waits until the object is gone, i.e. the finalizer was removed.
    kubectl
        .ok(&["delete", "whs", "doomed", "-n", &ns, "--timeout=30s"])
        .unwrap();
    assert!(whs.get_opt("doomed").await.unwrap().is_none());
    let dropped = eventually(WITHIN, || async {
        statuses()
            .await
            .filter(|s| s.len() == 1 && s[0].0 == "Failed")
    })
    .await;
    let Some(dropped) = dropped else {
        panic!("not dropped: {:?}\n{}", statuses().await, ctl.log());
    };
    assert!(dropped[0].1.contains("deleted"), "{dropped:?}");
    assert!(
        ctl.log().contains("dropped=1"),
        "the drop is not counted in the log\n{}",
        ctl.log()
    );

    // A later event reaches the witness but not the deleted subscription's sink.
    let second = json!({"type": "order.created", "id": "evt-after", "data": {}});
    publish_accepted(&ctl.data_url, &ns, &token, &second).await;
    let both = eventually(WITHIN, || async {
        (witness.hits().len() == 2).then_some(())
    })
    .await;
    assert!(both.is_some(), "witness missed an event\n{}", ctl.log());
    assert_eq!(
        doomed.hits().len(),
        1,
        "a deleted subscription was delivered to"
    );
}
