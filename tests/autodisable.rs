//! Auto-disable over real HTTP on loopback, standalone: with a shortened period, a
//! subscription whose sink always fails is disabled (Healthy=False reason Disabled, disabledAt
//! set, no more attempts, its deliveries kept Pending), stays disabled across a restart, and a
//! new value of the re-enable annotation in the manifest file delivers what was pending.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::sink::{Reply, Sink};
use support::{Instance, http_json};

const MANIFESTS: &str = r#"
apiVersion: v1
kind: Secret
metadata:
  name: publisher
  namespace: payments
  labels: {switchboard.dev/publisher-token: "true"}
stringData:
  token: test-publisher-token
"#;

/// Flags that shorten the period: disabled once attempts have failed for 2 s, 3 of them.
const FLAGS: &[&str] = &[
    "--allow-private-destinations",
    "--auto-disable-after",
    "2s",
    "--auto-disable-min-failures",
    "3",
];

fn write_manifests(dir: &Path, url: &str, reenable: Option<&str>) {
    let annotations = reenable
        .map(|v| format!(", annotations: {{switchboard.dev/reenable: \"{v}\"}}"))
        .unwrap_or_default();
    let retries = vec!["\"300ms\""; 30].join(", ");
    let subscription = format!(
        r#"---
apiVersion: switchboard.dev/v1alpha1
kind: WebhookSubscription
metadata: {{name: flaky, namespace: payments{annotations}}}
spec:
  url: {url}
  eventTypes: ["order.*"]
  signing: {{scheme: None}}
  retry: {{schedule: [{retries}]}}
  circuitBreaker: {{failureThreshold: 1000}}
"#
    );
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("base.yaml"),
        format!("{MANIFESTS}\n{subscription}"),
    )
    .unwrap();
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

fn deliveries(inst: &Instance) -> Vec<Value> {
    let url = format!(
        "{}/v1/namespaces/payments/webhooksubscriptions/flaky/deliveries?limit=100",
        inst.admin_url
    );
    let (status, v) = http_json("GET", &url, &[], None);
    assert_eq!(status, 200, "{v}");
    v["items"].as_array().cloned().unwrap_or_default()
}

fn status(inst: &Instance) -> Value {
    inst.status("webhooksubscriptions")
        .into_iter()
        .find(|i| i["metadata"]["name"] == "flaky")
        .map(|i| i["status"].clone())
        .unwrap_or(Value::Null)
}

/// The Healthy condition's (status, reason, message).
fn healthy(status: &Value) -> (String, String, String) {
    let c = status["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Healthy").cloned())
        .unwrap_or(Value::Null);
    let s = |k: &str| c[k].as_str().unwrap_or_default().to_owned();
    (s("status"), s("reason"), s("message"))
}

fn wait_healthy(inst: &Instance, want: &str, reason: &str, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let now = status(inst);
        let (s, r, _) = healthy(&now);
        if s == want && r == reason {
            return now;
        }
        assert!(
            Instant::now() < deadline,
            "Healthy is {s}/{r}, want {want}/{reason}: {now}\nlog:\n{}",
            inst.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_failing_subscription_is_disabled_kept_across_a_restart_and_reenabled_by_the_annotation() {
    let tmp = tempfile::tempdir().unwrap();
    let fail = Arc::new(AtomicBool::new(true));
    let answer = fail.clone();
    let sink = Sink::start(move |_, _| {
        let status = if answer.load(Ordering::SeqCst) {
            500
        } else {
            200
        };
        Reply::Status(status, vec![])
    });
    let manifests = tmp.path().join("manifests");
    let data = tmp.path().join("data");
    write_manifests(&manifests, &sink.url, None);
    let mut inst = Instance::start(&manifests, &data, FLAGS);
    for i in 0..3 {
        publish(&inst, &format!("o-{i}"));
    }

    // Disabled once the failures span 2 s: the condition says why and since when.
    let disabled = wait_healthy(&inst, "False", "Disabled", Duration::from_secs(20));
    let (_, _, message) = healthy(&disabled);
    assert!(
        message.contains("every delivery attempt failed") && message.contains("reenable"),
        "{message}"
    );
    assert!(disabled["disabledAt"].is_string(), "{disabled}");
    assert!(disabled["failingSince"].is_string(), "{disabled}");
    let ready = inst.ready("webhooksubscriptions", "payments", "flaky");
    assert_eq!(
        ready.map(|(s, _)| s).as_deref(),
        Some("True"),
        "Ready stays the configuration's"
    );

    // No more attempts reach the sink; the deliveries are kept, pending.
    std::thread::sleep(Duration::from_millis(500)); // attempts in flight at the disable
    let before = sink.hits().len();
    assert!(before >= 3, "{before} attempts");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(sink.hits().len(), before, "attempted while disabled");
    let kept = deliveries(&inst);
    assert_eq!(kept.len(), 3, "{kept:?}");
    assert!(kept.iter().all(|d| d["status"] == "Pending"), "{kept:?}");

    // A restart keeps it disabled.
    inst.kill9();
    let inst = Instance::start(&manifests, &data, FLAGS);
    wait_healthy(&inst, "False", "Disabled", Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(sink.hits().len(), before, "attempted after a restart");
    assert!(deliveries(&inst).iter().all(|d| d["status"] == "Pending"));

    // The subscriber recovers; a new annotation value re-enables it and what was pending
    // arrives.
    fail.store(false, Ordering::SeqCst);
    write_manifests(&manifests, &sink.url, Some("1"));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let list = deliveries(&inst);
        if list.len() == 3 && list.iter().all(|d| d["status"] == "Delivered") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not delivered after re-enabling: {list:?}\nlog:\n{}",
            inst.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let delivered = sink.hits().iter().filter(|h| h.status == 200).count();
    assert_eq!(delivered, 3);
    let enabled = wait_healthy(&inst, "True", "Delivering", Duration::from_secs(10));
    assert!(enabled["disabledAt"].is_null(), "{enabled}");
}
