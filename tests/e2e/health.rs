//! Status you can trust, on objects the real controller wrote to the API server: a failing
//! subscription is Healthy=False with its reason and, with its circuit open, Degraded in the
//! Argo CD health check run on the object read back with kubectl; a suspended one says so and
//! `kubectl get whs` has a SUSPEND column; Transformation tests are counted; SyncJobs carry
//! observedGeneration, so Argo CD sees them Healthy once completed and Degraded when failed.

use std::time::Duration;

use serde_json::{Value, json};

use crate::argocd::health;
use crate::sink::Sink;
use crate::support::controller::{Controller, api, eventually};
use crate::support::publish::{apply, publish_accepted, service_account_token, whs_row};
use crate::support::{Kubectl, TestEnv};

const WITHIN: Duration = Duration::from_secs(60);

fn start(env: &TestEnv) -> Controller {
    Controller::start_with(
        env.kubeconfig(),
        &[&env.namespace],
        &["--status-interval", "2s", "--allow-private-destinations"],
    )
    .unwrap()
}

/// The object as `kubectl get -o json` shows it.
fn live(kubectl: &Kubectl, resource: &str, ns: &str, name: &str) -> Value {
    let out = kubectl
        .ok(&["get", resource, name, "-n", ns, "-o", "json"])
        .unwrap();
    serde_json::from_str(&out.stdout).unwrap()
}

/// (status, reason) of a condition of a live object.
fn condition(obj: &Value, type_: &str) -> (String, String) {
    let c = obj["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == type_).cloned())
        .unwrap_or(Value::Null);
    let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    (s(&c["status"]), s(&c["reason"]))
}

/// Waits until `check` holds on the live object; returns it (panics with the log).
async fn wait_live(
    kubectl: &Kubectl,
    ctl: &Controller,
    (resource, ns, name): (&str, &str, &str),
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let got = eventually(WITHIN, || async {
        let out = kubectl
            .run(&["get", resource, name, "-n", ns, "-o", "json"])
            .ok()?;
        let obj: Value = serde_json::from_str(&out.stdout).ok()?;
        check(&obj).then_some(obj)
    })
    .await;
    got.unwrap_or_else(|| {
        panic!(
            "{resource} {name}: {what} never held: {}\n{}",
            live(kubectl, resource, ns, name)["status"],
            ctl.log()
        )
    })
}

#[tokio::test]
async fn a_failing_subscription_is_unhealthy_and_its_open_circuit_degraded_in_argo_cd() {
    let env = TestEnv::new("health").await.unwrap();
    let ns = env.namespace.clone();
    let kubectl = env.kubectl();
    let failing = Sink::always(500);
    let token = service_account_token(&kubectl, &ns, "publisher");
    let ctl = start(&env);
    apply(
        &kubectl,
        &format!(
            "apiVersion: switchboard.dev/v1alpha1
kind: WebhookSubscription
metadata: {{name: failing, namespace: {ns}}}
spec:
  url: {url}
  eventTypes: [\"*\"]
  signing: {{scheme: None}}
  circuitBreaker: {{failureThreshold: 2, openDuration: 1h}}
---
apiVersion: switchboard.dev/v1alpha1
kind: WebhookSubscription
metadata: {{name: held, namespace: {ns}}}
spec:
  url: {url}
  eventTypes: [\"*\"]
  signing: {{scheme: None}}
  suspend: true
",
            url = failing.url
        ),
    );
    let key = |name| ("whs", ns.as_str(), name);
    let fresh = wait_live(&kubectl, &ctl, key("failing"), "Ready", |o| {
        condition(o, "Ready").0 == "True"
    })
    .await;
    assert_eq!(
        condition(&fresh, "Healthy"),
        ("True".into(), "NoDeliveriesYet".into())
    );

    let event = |id: &str| json!({"type": "order.created", "id": id, "data": {}});
    publish_accepted(&ctl.data_url, &ns, &token, &event("evt-1")).await;
    let failed = wait_live(&kubectl, &ctl, key("failing"), "DeliveriesFailing", |o| {
        condition(o, "Healthy") == ("False".into(), "DeliveriesFailing".into())
    })
    .await;
    assert_eq!(health("WebhookSubscription", &failed).0, "Degraded");
    publish_accepted(&ctl.data_url, &ns, &token, &event("evt-2")).await;
    let open = wait_live(&kubectl, &ctl, key("failing"), "CircuitOpen", |o| {
        condition(o, "Healthy") == ("False".into(), "CircuitOpen".into())
    })
    .await;
    let (status, message) = health("WebhookSubscription", &open);
    assert_eq!(status, "Degraded", "{message}");
    assert!(
        message.starts_with("CircuitOpen: circuit open"),
        "{message}"
    );

    // Suspended: its reason, the SUSPEND column, and Argo CD's Suspended.
    let held = wait_live(&kubectl, &ctl, key("held"), "Suspended", |o| {
        condition(o, "Ready") == ("True".into(), "Suspended".into())
    })
    .await;
    assert_eq!(health("WebhookSubscription", &held).0, "Suspended");
    let cell = |name: &str, column: &str| {
        whs_row(&kubectl, &ns, name)
            .into_iter()
            .find(|(h, _)| h == column)
            .map(|(_, v)| v)
            .unwrap_or_default()
    };
    assert_eq!(cell("held", "SUSPEND"), "true");
    assert_eq!(cell("failing", "SUSPEND"), "false");
    assert_eq!(cell("failing", "HEALTHY"), "False");
}

#[tokio::test]
async fn transformation_test_counts_are_on_the_live_object_and_in_kubectl_get() {
    let env = TestEnv::new("health-tf").await.unwrap();
    let ns = env.namespace.clone();
    let kubectl = env.kubectl();
    let ctl = start(&env);
    apply(
        &kubectl,
        &format!(
            r#"apiVersion: switchboard.dev/v1alpha1
kind: Transformation
metadata: {{name: shape, namespace: {ns}}}
spec:
  jq: "{{a: .x}}"
  tests:
    - {{name: one, input: {{x: 1}}, expect: {{a: 1}}}}
    - {{name: two, input: {{x: 2}}, expect: {{a: 2}}}}
    - {{name: wrong, input: {{x: 3}}, expect: {{a: 4}}}}
"#
        ),
    );
    let obj = wait_live(&kubectl, &ctl, ("tf", &ns, "shape"), "counts", |o| {
        o["status"]["testsPassed"] == 2 && o["status"]["testsFailed"] == 1
    })
    .await;
    assert_eq!(
        condition(&obj, "Ready"),
        ("False".into(), "TestsFailed".into())
    );
    let (status, message) = health("Transformation", &obj);
    assert_eq!(status, "Degraded");
    assert!(message.contains("\"wrong\""), "{message}");
    let table = kubectl
        .ok(&["get", "tf", "shape", "-n", &ns])
        .unwrap()
        .stdout;
    let row: Vec<&str> = table
        .lines()
        .nth(1)
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    // NAME READY PASSED FAILED AGE
    assert_eq!(row[..4], ["shape", "False", "2", "1"], "{table}");
}

/// A provider whose `/items` is empty (a run completes) and `/broken` answers 500.
async fn provider() -> String {
    let app = axum::Router::new()
        .route(
            "/items",
            axum::routing::get(|| async { axum::Json(json!([])) }),
        )
        .route(
            "/broken",
            axum::routing::get(|| async { axum::http::StatusCode::INTERNAL_SERVER_ERROR }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_jobs_are_healthy_in_argo_cd_once_completed_and_degraded_when_failed() {
    let env = TestEnv::new("health-sj").await.unwrap();
    let ns = env.namespace.clone();
    let kubectl = env.kubectl();
    let base_url = provider().await;
    let job = |name: &str, path: &str| {
        format!(
            "---
apiVersion: switchboard.dev/v1alpha1
kind: SyncJob
metadata: {{name: {name}, namespace: {ns}}}
spec:
  template:
    integrationRef: {{name: api}}
    entityType: item
    request: {{path: {path}}}
    sink:
      publish: {{eventType: items.synced}}
"
        )
    };
    let integration = format!(
        "apiVersion: switchboard.dev/v1alpha1
kind: Integration
metadata: {{name: api, namespace: {ns}}}
spec:
  baseUrl: {base_url}
  retry: {{maxRetries: 0}}
"
    );
    apply(
        &kubectl,
        &[integration, job("done", "/items"), job("bad", "/broken")].concat(),
    );
    let ctl = start(&env);
    let _jobs = api(&env.client, "SyncJob", &ns);
    for (name, phase, want) in [
        ("done", "Completed", "Healthy"),
        ("bad", "Failed", "Degraded"),
    ] {
        let obj = wait_live(&kubectl, &ctl, ("sj", &ns, name), phase, |o| {
            o["status"]["phase"] == phase
                && o["status"]["observedGeneration"] == o["metadata"]["generation"]
        })
        .await;
        let (status, message) = health("SyncJob", &obj);
        assert_eq!(status, want, "{name}: {message}\n{}", obj["status"]);
    }
}
