//! Lifecycle events over real HTTP on loopback, standalone: a subscription taking
//! `switchboard.*` receives, signed with its Standard Webhooks secret, every lifecycle event
//! the engine produces — a delivery failing and exhausted, the subscription disabled,
//! re-enabled and recovered, an endpoint rejecting at a high rate, an Integration unhealthy
//! and recovered, a SyncJob completed and one failed — with the documented payloads. A
//! subscription that also takes `switchboard.*` never receives the events about itself, and
//! deliveries of lifecycle events that fail produce no further lifecycle events (no loop).

mod support;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::routing::get;
use serde_json::{Value, json};
use support::sink::{Hit, Reply, Sink};
use support::{Instance, http, http_json};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

const FLAGS: &[&str] = &[
    "--allow-private-destinations",
    "--auto-disable-after",
    "1s",
    "--auto-disable-min-failures",
    "4",
    "--lifecycle-failing-after",
    "2",
    "--lifecycle-rejecting-min",
    "3",
];

/// A fake API: /health answers 503 until `healthy` is set, /items an empty page.
fn fake_api(healthy: Arc<AtomicBool>) -> String {
    let app = axum::Router::new()
        .route(
            "/health",
            get(move || {
                let ok = healthy.load(Ordering::SeqCst);
                async move {
                    if ok {
                        (axum::http::StatusCode::OK, "ok")
                    } else {
                        (axum::http::StatusCode::SERVICE_UNAVAILABLE, "down")
                    }
                }
            }),
        )
        .route("/items", get(|| async { axum::Json(json!({"items": []})) }));
    format!("http://{}", support::sink::serve_on_thread(app))
}

fn closed_port() -> u16 {
    support::free_port()
}

fn write_manifests(dir: &Path, watcher: &str, flaky: &str, api: &str, reenable: Option<&str>) {
    let annotations = reenable
        .map(|v| format!(", annotations: {{switchboard.dev/reenable: \"{v}\"}}"))
        .unwrap_or_default();
    let closed = closed_port();
    let yaml = format!(
        r#"
apiVersion: v1
kind: Secret
metadata:
  name: publisher
  namespace: payments
  labels: {{switchboard.dev/publisher-token: "true"}}
stringData:
  token: test-publisher-token
---
apiVersion: v1
kind: Secret
metadata: {{name: watcher-signing, namespace: payments, labels: {{switchboard.dev/usable: "true"}}}}
stringData:
  secret: {SECRET}
---
apiVersion: switchboard.dev/v1alpha1
kind: WebhookSubscription
metadata: {{name: watcher, namespace: payments}}
spec:
  url: {watcher}
  eventTypes: ["switchboard.*"]
  signing: {{secretRef: {{name: watcher-signing}}}}
---
apiVersion: switchboard.dev/v1alpha1
kind: WebhookSubscription
metadata: {{name: flaky, namespace: payments{annotations}}}
spec:
  url: {flaky}
  eventTypes: ["order.*", "switchboard.*"]
  signing: {{scheme: None}}
  retry: {{schedule: ["200ms", "200ms"]}}
  circuitBreaker: {{failureThreshold: 1000}}
---
apiVersion: switchboard.dev/v1alpha1
kind: WebhookEndpoint
metadata: {{name: tiny, namespace: payments}}
spec:
  verify: {{scheme: None}}
  maxBodyBytes: 16
  route: {{publish: {{eventType: tiny.received}}}}
---
apiVersion: switchboard.dev/v1alpha1
kind: Integration
metadata: {{name: upstream, namespace: payments}}
spec:
  baseUrl: {api}
  healthCheck: {{path: /health, interval: 200ms}}
---
apiVersion: switchboard.dev/v1alpha1
kind: Integration
metadata: {{name: unreachable, namespace: payments}}
spec:
  baseUrl: http://127.0.0.1:{closed}
  retry: {{maxRetries: 0}}
---
apiVersion: switchboard.dev/v1alpha1
kind: SyncJob
metadata: {{name: pull-ok, namespace: payments}}
spec:
  template:
    integrationRef: {{name: upstream}}
    entityType: item
    request: {{path: /items, itemsPath: .items}}
    sink: {{publish: {{eventType: item.synced}}}}
---
apiVersion: switchboard.dev/v1alpha1
kind: SyncJob
metadata: {{name: pull-broken, namespace: payments}}
spec:
  template:
    integrationRef: {{name: unreachable}}
    entityType: item
    request: {{path: /items, itemsPath: .items}}
    sink: {{publish: {{eventType: item.synced}}}}
"#
    );
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("all.yaml"), yaml).unwrap();
}

fn publish(inst: &Instance, id: &str) {
    let body = json!({"type": "order.created", "id": id, "data": {"id": id}}).to_string();
    let (status, answer) = http_json(
        "POST",
        &format!("{}/v1/namespaces/payments/events", inst.data_url),
        &[
            ("authorization", "Bearer test-publisher-token"),
            ("content-type", "application/json"),
        ],
        Some(body.as_bytes()),
    );
    assert_eq!(status, 202, "publish answered {answer}");
}

fn body(hit: &Hit) -> Value {
    serde_json::from_slice(&hit.body).unwrap()
}

/// Waits until the watcher received an event of `event_type` matching `pred`; returns it.
fn wait_event(
    inst: &Instance,
    sink: &Sink,
    event_type: &str,
    pred: impl Fn(&Value) -> bool,
) -> (Hit, Value) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(found) = sink
            .hits()
            .into_iter()
            .map(|h| {
                let b = body(&h);
                (h, b)
            })
            .find(|(_, b)| b["type"] == event_type && pred(&b["data"]))
        {
            return found;
        }
        let seen: Vec<Value> = sink
            .hits()
            .iter()
            .map(|h| body(h)["type"].clone())
            .collect();
        assert!(
            Instant::now() < deadline,
            "no {event_type} reached the watcher; it got {seen:?}\nlog:\n{}",
            inst.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn every_lifecycle_event_reaches_a_subscriber_signed_never_about_itself_and_without_loops() {
    let tmp = tempfile::tempdir().unwrap();
    let watcher = Sink::always(200);
    let fail = Arc::new(AtomicBool::new(true));
    let answer = fail.clone();
    let flaky = Sink::start(move |_, _| {
        Reply::Status(
            if answer.load(Ordering::SeqCst) {
                500
            } else {
                200
            },
            vec![],
        )
    });
    let healthy = Arc::new(AtomicBool::new(false));
    let api = fake_api(healthy.clone());
    let manifests = tmp.path().join("manifests");
    write_manifests(&manifests, &watcher.url, &flaky.url, &api, None);
    let inst = Instance::start(&manifests, &tmp.path().join("data"), FLAGS);

    // A delivery failing (its 2nd attempt) and then exhausted (Dead after 3).
    publish(&inst, "o-1");
    let (hit, failing) = wait_event(&inst, &watcher, "switchboard.delivery.failing", |d| {
        d["eventId"] == "o-1"
    });
    assert!(support::standard_webhooks::verifies(&hit, SECRET), "signed");
    let d = &failing["data"];
    assert_eq!(d["namespace"], "payments");
    assert_eq!(
        d["subject"],
        json!({"kind": "WebhookSubscription", "name": "flaky"})
    );
    assert_eq!(d["subscription"], "flaky");
    assert_eq!(d["eventType"], "order.created");
    assert_eq!(d["attempts"], 2);
    assert_eq!(d["status"], "Pending");
    assert_eq!(d["responseStatus"], 500);
    assert!(
        d["deliveryId"].is_string() && d["nextAttemptAt"].is_string(),
        "{d}"
    );
    let (hit, exhausted) = wait_event(&inst, &watcher, "switchboard.delivery.exhausted", |d| {
        d["eventId"] == "o-1"
    });
    assert!(support::standard_webhooks::verifies(&hit, SECRET));
    assert_eq!(exhausted["data"]["status"], "Dead");
    assert_eq!(exhausted["data"]["attempts"], 3);
    assert_eq!(exhausted["data"]["deliveryId"], d["deliveryId"]);

    // Auto-disabled once 4 attempts failed over at least 1 s.
    std::thread::sleep(Duration::from_millis(1100));
    publish(&inst, "o-2");
    let (hit, disabled) = wait_event(&inst, &watcher, "switchboard.subscription.disabled", |_| {
        true
    });
    assert!(support::standard_webhooks::verifies(&hit, SECRET));
    assert_eq!(disabled["data"]["subscription"], "flaky");
    assert_eq!(disabled["data"]["reason"], "Disabled");
    assert!(disabled["data"]["disabledAt"].is_string(), "{disabled}");

    // An endpoint rejecting: 3 requests over its 16-byte limit within the minute.
    let hook = format!("{}/hooks/payments/tiny", inst.data_url);
    for _ in 0..3 {
        let (status, _) = http(
            "POST",
            &hook,
            &[("content-type", "application/json")],
            Some(br#"{"far":"too long for tiny"}"#),
        )
        .unwrap();
        assert_eq!(status, 413);
    }
    let (hit, rejecting) = wait_event(&inst, &watcher, "switchboard.endpoint.rejecting", |_| true);
    assert!(support::standard_webhooks::verifies(&hit, SECRET));
    let d = &rejecting["data"];
    assert_eq!(
        d["subject"],
        json!({"kind": "WebhookEndpoint", "name": "tiny"})
    );
    assert_eq!(
        (d["requests"].as_u64(), d["rejected"].as_u64()),
        (Some(3), Some(3))
    );
    assert_eq!(d["windowSeconds"], 60);
    assert_eq!(
        d["byReason"]
            .as_object()
            .map(|m| m.values().filter_map(Value::as_u64).sum::<u64>()),
        Some(3),
        "{d}"
    );

    // The Integration unhealthy, then recovered.
    let (_, unhealthy) = wait_event(&inst, &watcher, "switchboard.integration.unhealthy", |d| {
        d["integration"] == "upstream"
    });
    let reason = unhealthy["data"]["reason"].as_str().unwrap_or_default();
    assert!(
        ["HealthCheckFailed", "CircuitOpen"].contains(&reason),
        "{unhealthy}"
    );
    healthy.store(true, Ordering::SeqCst);
    let (hit, recovered) = wait_event(&inst, &watcher, "switchboard.integration.recovered", |d| {
        d["integration"] == "upstream"
    });
    assert!(support::standard_webhooks::verifies(&hit, SECRET));
    assert_eq!(recovered["data"]["reason"], "HealthCheckPassed");

    // SyncJobs: one completed, one failed.
    let (_, completed) = wait_event(&inst, &watcher, "switchboard.syncjob.completed", |d| {
        d["syncJob"] == "pull-ok"
    });
    assert_eq!(completed["data"]["phase"], "Completed", "{completed}");
    let (_, failed) = wait_event(&inst, &watcher, "switchboard.syncjob.failed", |d| {
        d["syncJob"] == "pull-broken"
    });
    assert_eq!(failed["data"]["phase"], "Failed", "{failed}");
    assert!(
        failed["data"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );

    // Re-enabled by the annotation, with the subscriber fixed: re-enabled, then recovered.
    fail.store(false, Ordering::SeqCst);
    write_manifests(&manifests, &watcher.url, &flaky.url, &api, Some("fixed"));
    let (_, reenabled) = wait_event(
        &inst,
        &watcher,
        "switchboard.subscription.reenabled",
        |_| true,
    );
    assert_eq!(reenabled["data"]["subscription"], "flaky");
    let (hit, recovered) = wait_event(&inst, &watcher, "switchboard.target.recovered", |_| true);
    assert!(support::standard_webhooks::verifies(&hit, SECRET));
    assert_eq!(recovered["data"]["subscription"], "flaky");
    assert!(
        recovered["data"]["previousReason"].is_string(),
        "{recovered}"
    );

    // flaky takes switchboard.* too, but never received an event about itself; what it did
    // receive of them (about others) failed while it failed, and produced nothing more.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !flaky
        .hits()
        .iter()
        .any(|h| body(h)["data"]["id"] == "o-2" && h.status == 200)
    {
        assert!(
            Instant::now() < deadline,
            "o-2 was not delivered after the re-enable"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(1000));
    for hit in flaky.hits() {
        let b = body(&hit);
        if b["type"]
            .as_str()
            .is_some_and(|t| t.starts_with("switchboard."))
        {
            assert_ne!(
                b["data"]["subject"]["name"], "flaky",
                "an event about flaky went through flaky: {b}"
            );
        }
    }
    for hit in watcher.hits() {
        let b = body(&hit);
        if let Some(t) = b["data"]["eventType"].as_str() {
            assert!(
                !t.starts_with("switchboard."),
                "a lifecycle event about a lifecycle event: {b}"
            );
        }
        assert_ne!(b["data"]["subject"]["name"], "watcher", "{b}");
    }
    // Quiet: nothing keeps producing events once the world is still.
    let before = watcher.hits().len();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(watcher.hits().len(), before, "lifecycle events kept coming");
}
