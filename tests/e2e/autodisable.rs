//! Auto-disable through the controller: with a shortened period, a subscription whose sink
//! always fails shows its age in the DISABLED column of `kubectl get whs`, a Warning Event
//! `Disabled` is published on it, and the re-enable annotation publishes `Reenabled`.

use std::time::Duration;

use serde_json::{Value, json};

use crate::sink::Sink;
use crate::support::TestEnv;
use crate::support::controller::{Controller, api, eventually};
use crate::support::kubectl::Kubectl;
use crate::support::publish::{
    apply, publish_accepted, service_account_token, subscription, wait_ready, whs_row,
};

const WITHIN: Duration = Duration::from_secs(40);

/// The reasons of the Events on subscription `name`.
fn event_reasons(kubectl: &Kubectl, ns: &str, name: &str) -> Vec<String> {
    let out = kubectl
        .ok(&["get", "events", "-n", ns, "-o", "json"])
        .unwrap();
    let events: Value = serde_json::from_str(&out.stdout).unwrap();
    events["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["involvedObject"]["name"] == name)
        .filter_map(|e| e["reason"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn a_failing_subscription_is_disabled_in_kubectl_with_an_event_and_reenabled() {
    let env = TestEnv::new("autodisable").await.unwrap();
    let ns = env.namespace.clone();
    let kubectl = env.kubectl();
    let sink = Sink::always(500);
    let token = service_account_token(&kubectl, &ns, "publisher");
    let ctl = Controller::start_with(
        env.kubeconfig(),
        &[&ns],
        &[
            "--status-interval",
            "1s",
            "--allow-private-destinations",
            "--auto-disable-after",
            "2s",
            "--auto-disable-min-failures",
            "3",
        ],
    )
    .unwrap();
    let retries = vec!["300ms"; 30].join(", ");
    let extra = format!(
        "{{scheme: None}}\n  retry: {{schedule: [{retries}]}}\n  circuitBreaker: {{failureThreshold: 1000}}"
    );
    apply(
        &kubectl,
        &subscription(&ns, "flaky", &sink.url, Some(&extra)),
    );
    let whs = api(&env.client, "WebhookSubscription", &ns);
    assert!(wait_ready(&whs, "flaky").await, "not Ready\n{}", ctl.log());
    let event = json!({"type": "order.created", "id": "evt-disable-1", "data": {}});
    publish_accepted(&ctl.data_url, &ns, &token, &event).await;

    let disabled = eventually(WITHIN, || async {
        let row = whs_row(&kubectl, &ns, "flaky");
        let cell = row
            .iter()
            .find(|(h, _)| h == "DISABLED")
            .map(|(_, v)| v.clone());
        cell.filter(|v| !v.is_empty() && v != "<none>")
    })
    .await;
    assert!(
        disabled.is_some(),
        "no DISABLED age: {:?}\n{}",
        whs_row(&kubectl, &ns, "flaky"),
        ctl.log()
    );
    let table = kubectl.ok(&["get", "whs", "-n", &ns]).unwrap().stdout;
    eprintln!("kubectl get whs -n {ns}\n{table}");
    let row = whs_row(&kubectl, &ns, "flaky");
    let cell = |c: &str| row.iter().find(|(h, _)| h == c).map(|(_, v)| v.as_str());
    assert_eq!(
        (cell("READY"), cell("HEALTHY")),
        (Some("True"), Some("False")),
        "{row:?}"
    );
    let event = eventually(WITHIN, || async {
        let reasons = event_reasons(&kubectl, &ns, "flaky");
        reasons.iter().any(|r| r == "Disabled").then_some(reasons)
    })
    .await;
    assert!(event.is_some(), "no Disabled event\n{}", ctl.log());
    let field = "--field-selector=involvedObject.name=flaky";
    let events = kubectl.ok(&["get", "events", "-n", &ns, field]).unwrap();
    eprintln!("kubectl get events -n {ns} {field}\n{}", events.stdout);

    kubectl
        .ok(&[
            "annotate",
            "whs",
            "flaky",
            "-n",
            &ns,
            "switchboard.dev/reenable=1",
        ])
        .unwrap();
    let reenabled = eventually(WITHIN, || async {
        let reasons = event_reasons(&kubectl, &ns, "flaky");
        reasons.iter().any(|r| r == "Reenabled").then_some(reasons)
    })
    .await;
    assert!(reenabled.is_some(), "no Reenabled event\n{}", ctl.log());
}
