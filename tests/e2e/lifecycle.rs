//! Lifecycle events and dead letters through the controller: a subscription taking
//! `switchboard.*` receives, signed, the `switchboard.delivery.exhausted` event the real
//! controller's engine publishes about another subscription and the dead letter lands at the
//! dead-letter subscription; a `deadLetter` naming no subscription is Ready=False
//! `DeadLetterNotFound` on the object the controller wrote.

use std::time::Duration;

use serde_json::{Value, json};

use crate::sink::Sink;
use crate::support::TestEnv;
use crate::support::controller::{Controller, api, eventually, ready};
use crate::support::publish::{apply, publish_accepted, service_account_token, wait_ready};

const WITHIN: Duration = Duration::from_secs(40);
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn body(hit: &crate::sink::Hit) -> Value {
    serde_json::from_slice(&hit.body).unwrap_or(Value::Null)
}

#[tokio::test]
async fn the_controller_publishes_lifecycle_events_and_reports_a_missing_dead_letter_target() {
    let env = TestEnv::new("lifecycle").await.unwrap();
    let ns = env.namespace.clone();
    let kubectl = env.kubectl();
    let failing = Sink::always(500);
    let watcher = Sink::always(200);
    let token = service_account_token(&kubectl, &ns, "publisher");
    let ctl = Controller::start_with(
        env.kubeconfig(),
        &[&ns],
        &["--status-interval", "1s", "--allow-private-destinations"],
    )
    .unwrap();
    let failing_url = &failing.url;
    let watcher_url = &watcher.url;
    apply(
        &kubectl,
        &format!(
            r#"apiVersion: v1
kind: Secret
metadata: {{name: watcher-signing, namespace: {ns}, labels: {{switchboard.dev/usable: "true"}}}}
stringData: {{secret: "{SECRET}"}}
---
apiVersion: switchboard.dev/v1alpha1
kind: WebhookSubscription
metadata: {{name: watcher, namespace: {ns}}}
spec:
  url: {watcher_url}
  eventTypes: ["switchboard.*"]
  signing: {{secretRef: {{name: watcher-signing}}}}
---
apiVersion: switchboard.dev/v1alpha1
kind: WebhookSubscription
metadata: {{name: orders, namespace: {ns}}}
spec:
  url: {failing_url}
  eventTypes: ["order.*"]
  signing: {{scheme: None}}
  retry: {{schedule: ["200ms"]}}
  deadLetter: {{subscriptionRef: {{name: watcher}}}}
---
apiVersion: switchboard.dev/v1alpha1
kind: WebhookSubscription
metadata: {{name: lost, namespace: {ns}}}
spec:
  url: {failing_url}
  eventTypes: ["order.*"]
  signing: {{scheme: None}}
  deadLetter: {{subscriptionRef: {{name: nowhere}}}}
"#
        ),
    );
    let whs = api(&env.client, "WebhookSubscription", &ns);
    assert!(
        wait_ready(&whs, "watcher").await,
        "watcher not Ready\n{}",
        ctl.log()
    );
    assert!(
        wait_ready(&whs, "orders").await,
        "orders not Ready\n{}",
        ctl.log()
    );

    // The missing target: Ready=False with what to do, written by the controller.
    let lost = eventually(WITHIN, || async {
        ready(&whs, "lost").await.filter(|r| r.status == "False")
    })
    .await
    .unwrap_or_else(|| panic!("lost never Ready=False\n{}", ctl.log()));
    assert_eq!(lost.reason, "DeadLetterNotFound", "{}", lost.message);
    assert!(lost.message.contains("nowhere"), "{}", lost.message);

    let event = json!({"type": "order.created", "id": "evt-lifecycle-1", "data": {"n": 1}});
    publish_accepted(&ctl.data_url, &ns, &token, &event).await;

    let found = eventually(WITHIN, || async {
        let hits = watcher.hits();
        let exhausted = hits.iter().find(|h| {
            let b = body(h);
            b["type"] == "switchboard.delivery.exhausted"
                && b["data"]["eventId"] == "evt-lifecycle-1"
        })?;
        let letter = hits
            .iter()
            .find(|h| body(h)["type"] == "switchboard.delivery.dead_lettered")?;
        Some((exhausted.clone(), letter.clone()))
    })
    .await;
    let (exhausted, letter) = found.unwrap_or_else(|| {
        panic!(
            "the watcher got {:?}\n{}",
            watcher.hits().iter().map(body).collect::<Vec<_>>(),
            ctl.log()
        )
    });
    assert!(
        crate::standard_webhooks::verifies(&exhausted, SECRET),
        "signed"
    );
    assert!(
        crate::standard_webhooks::verifies(&letter, SECRET),
        "signed"
    );
    let e = body(&exhausted);
    assert_eq!(
        e["data"]["subject"],
        json!({"kind": "WebhookSubscription", "name": "orders"})
    );
    assert_eq!(e["data"]["status"], "Dead");
    assert_eq!(e["data"]["namespace"], ns.as_str());
    let l = body(&letter);
    assert_eq!(l["data"]["event"]["id"], "evt-lifecycle-1");
    assert_eq!(l["data"]["event"]["data"], json!({"n": 1}));
    assert_eq!(
        l["data"]["attemptLog"].as_array().map(Vec::len),
        Some(2),
        "{l}"
    );
}
