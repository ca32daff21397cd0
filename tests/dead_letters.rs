//! Dead letters and per-subscription auto-disable over real HTTP on loopback, standalone:
//! a delivery given up on reaches the subscription its `spec.deadLetter.subscriptionRef`
//! names (whatever that one's eventTypes) and the URL of `spec.deadLetter.url` (signed with
//! the owner's secret), with the summary of its attempts and the original event exactly as
//! stored; a dead-letter target that does not exist or is the subscription itself is
//! Ready=False; `spec.autoDisable.after` overrides `--auto-disable-after` both ways.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::sink::{Hit, Sink};
use support::standard_webhooks::verifies;
use support::{Instance, http_json};

const OPS_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const OWNER_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

fn write_manifests(dir: &Path, failing: &str, ops: &str, url_target: &str) {
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
metadata: {{name: ops-signing, namespace: payments, labels: {{switchboard.dev/usable: "true"}}}}
stringData: {{secret: "{OPS_SECRET}"}}
---
apiVersion: v1
kind: Secret
metadata: {{name: owner-signing, namespace: payments, labels: {{switchboard.dev/usable: "true"}}}}
stringData: {{secret: "{OWNER_SECRET}"}}
---
apiVersion: switchboard.dev/v1alpha1
kind: WebhookSubscription
metadata: {{name: ops, namespace: payments}}
spec:
  url: {ops}
  eventTypes: ["nothing.matches.this"]
  signing: {{secretRef: {{name: ops-signing}}}}
---
apiVersion: switchboard.dev/v1alpha1
kind: WebhookSubscription
metadata: {{name: to-subscription, namespace: payments}}
spec:
  url: {failing}
  eventTypes: ["order.*"]
  signing: {{scheme: None}}
  retry: {{schedule: ["100ms"]}}
  deadLetter: {{subscriptionRef: {{name: ops}}}}
  autoDisable: {{after: 0s}}
---
apiVersion: switchboard.dev/v1alpha1
kind: WebhookSubscription
metadata: {{name: to-url, namespace: payments}}
spec:
  url: {failing}
  eventTypes: ["invoice.*"]
  signing: {{secretRef: {{name: owner-signing}}}}
  retry: {{schedule: ["100ms"]}}
  deadLetter: {{url: {url_target}}}
  autoDisable: {{after: 0s}}
---
apiVersion: switchboard.dev/v1alpha1
kind: WebhookSubscription
metadata: {{name: plain, namespace: payments}}
spec:
  url: {failing}
  eventTypes: ["order.*"]
  signing: {{scheme: None}}
  retry: {{schedule: ["200ms", "200ms", "200ms", "200ms", "200ms", "200ms", "200ms", "200ms", "200ms", "200ms", "200ms", "200ms"]}}
  circuitBreaker: {{failureThreshold: 1000}}
---
apiVersion: switchboard.dev/v1alpha1
kind: WebhookSubscription
metadata: {{name: never, namespace: payments}}
spec:
  url: {failing}
  eventTypes: ["order.*"]
  signing: {{scheme: None}}
  retry: {{schedule: ["200ms", "200ms", "200ms", "200ms", "200ms", "200ms", "200ms", "200ms", "200ms", "200ms", "200ms", "200ms"]}}
  circuitBreaker: {{failureThreshold: 1000}}
  autoDisable: {{after: 0s}}
---
apiVersion: switchboard.dev/v1alpha1
kind: WebhookSubscription
metadata: {{name: slow, namespace: payments}}
spec:
  url: {failing}
  eventTypes: ["order.*"]
  signing: {{scheme: None}}
  retry: {{schedule: ["200ms", "200ms", "200ms", "200ms", "200ms", "200ms", "200ms", "200ms", "200ms", "200ms", "200ms", "200ms"]}}
  circuitBreaker: {{failureThreshold: 1000}}
  autoDisable: {{after: 1h}}
---
apiVersion: switchboard.dev/v1alpha1
kind: WebhookSubscription
metadata: {{name: missing-target, namespace: payments}}
spec:
  url: {failing}
  eventTypes: ["order.*"]
  signing: {{scheme: None}}
  deadLetter: {{subscriptionRef: {{name: no-such-subscription}}}}
---
apiVersion: switchboard.dev/v1alpha1
kind: WebhookSubscription
metadata: {{name: itself, namespace: payments}}
spec:
  url: {failing}
  eventTypes: ["order.*"]
  signing: {{scheme: None}}
  deadLetter: {{subscriptionRef: {{name: itself}}}}
"#
    );
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("all.yaml"), yaml).unwrap();
}

fn publish(inst: &Instance, event_type: &str, id: &str, data: &str) {
    let body = format!(r#"{{"type": "{event_type}", "id": "{id}", "data": {data}}}"#);
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

fn first_hit(inst: &Instance, sink: &Sink, what: &str) -> Hit {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(hit) = sink.hits().into_iter().next() {
            return hit;
        }
        assert!(
            Instant::now() < deadline,
            "no {what} arrived\nlog:\n{}",
            inst.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn healthy_reason(inst: &Instance, name: &str) -> String {
    inst.status("webhooksubscriptions")
        .into_iter()
        .find(|i| i["metadata"]["name"] == name)
        .and_then(|i| {
            i["status"]["conditions"]
                .as_array()?
                .iter()
                .find(|c| c["type"] == "Healthy")?["reason"]
                .as_str()
                .map(str::to_owned)
        })
        .unwrap_or_default()
}

fn check_letter(letter: &Value, owner: &str, id: &str, data: &str) {
    assert_eq!(
        letter["type"], "switchboard.delivery.dead_lettered",
        "{letter}"
    );
    let d = &letter["data"];
    assert_eq!(
        d["subject"],
        json!({"kind": "WebhookSubscription", "name": owner})
    );
    assert_eq!(d["status"], "Dead");
    assert_eq!(d["attempts"], 2);
    assert!(
        d["lastError"].as_str().unwrap().starts_with("HTTP 500"),
        "{d}"
    );
    let log = d["attemptLog"].as_array().expect("attemptLog");
    assert_eq!(log.len(), 2, "{d}");
    for attempt in log {
        assert_eq!(attempt["responseStatus"], 500);
        assert!(
            attempt["request"]
                .as_str()
                .unwrap()
                .starts_with("POST http://127.0.0.1")
        );
        assert!(attempt["startedAt"].is_string() && attempt["durationMs"].is_u64());
    }
    assert_eq!(d["event"]["id"], id);
    assert_eq!(d["event"]["source"], "publish-api");
    assert!(d["deliveryId"].is_string());
    let _ = data;
}

#[test]
fn given_up_deliveries_reach_their_dead_letter_targets_with_the_attempts_summary() {
    let tmp = tempfile::tempdir().unwrap();
    let failing = Sink::always(500);
    let ops = Sink::always(200);
    let url_target = Sink::always(200);
    let manifests = tmp.path().join("manifests");
    write_manifests(&manifests, &failing.url, &ops.url, &url_target.url);
    let inst = Instance::start(
        &manifests,
        &tmp.path().join("data"),
        &[
            "--allow-private-destinations",
            "--auto-disable-after",
            "1s",
            "--auto-disable-min-failures",
            "3",
        ],
    );

    // Bad targets are Ready=False with what to do; the others run.
    let (status, message) = inst
        .ready("webhooksubscriptions", "payments", "missing-target")
        .expect("missing-target listed");
    assert_eq!(status, "False");
    assert!(
        message.contains("no-such-subscription") && message.contains("not found"),
        "{message}"
    );
    let (status, message) = inst
        .ready("webhooksubscriptions", "payments", "itself")
        .expect("itself listed");
    assert_eq!(status, "False");
    assert!(message.contains("itself"), "{message}");
    assert_eq!(
        inst.ready("webhooksubscriptions", "payments", "to-url")
            .map(|r| r.0),
        Some("True".into())
    );

    // The data has numbers and key order a parse would change: the letter keeps them.
    let data = r#"{"z": 1, "big": 18446744073709551617, "a": 1.50}"#;
    publish(&inst, "order.created", "o-1", data);
    publish(&inst, "invoice.paid", "i-1", data);

    // To a subscription: named, not matched; signed with its own secret.
    let hit = first_hit(&inst, &ops, "dead letter at the ops subscription");
    assert!(verifies(&hit, OPS_SECRET), "signed with ops' secret");
    let letter: Value = serde_json::from_slice(&hit.body).unwrap();
    check_letter(&letter, "to-subscription", "o-1", data);
    let text = String::from_utf8_lossy(&hit.body);
    assert!(
        text.contains(&format!(r#""data":{data}"#)),
        "the original payload as stored: {text}"
    );
    assert_eq!(letter["data"]["event"]["type"], "order.created");

    // To a URL: signed with the owner's secret.
    let hit = first_hit(&inst, &url_target, "dead letter at the URL");
    assert!(
        verifies(&hit, OWNER_SECRET),
        "signed with the owner's secret"
    );
    let letter: Value = serde_json::from_slice(&hit.body).unwrap();
    check_letter(&letter, "to-url", "i-1", data);
    assert_eq!(letter["data"]["event"]["type"], "invoice.paid");

    // One letter each, and the failing sink never saw a dead letter (no chain, no loop).
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(ops.hits().len(), 1);
    assert_eq!(url_target.hits().len(), 1);
    assert!(
        failing
            .hits()
            .iter()
            .all(|h| !String::from_utf8_lossy(&h.body).contains("dead_lettered"))
    );

    // spec.autoDisable.after: the flag's 1 s disables `plain`; `never` (0s) and `slow` (1h)
    // fail just as long and stay enabled.
    let deadline = Instant::now() + Duration::from_secs(20);
    while healthy_reason(&inst, "plain") != "Disabled" {
        assert!(
            Instant::now() < deadline,
            "plain was not disabled\n{}",
            inst.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    for name in ["never", "slow"] {
        let reason = healthy_reason(&inst, name);
        assert_ne!(reason, "Disabled", "{name}");
        assert!(!reason.is_empty(), "{name} has attempted");
    }
    let counts = |name: &str| {
        let url = format!(
            "{}/v1/namespaces/payments/webhooksubscriptions/{name}/deliveries?limit=10",
            inst.admin_url
        );
        http_json("GET", &url, &[], None).1["items"][0]["attempts"]
            .as_u64()
            .unwrap_or(0)
    };
    // Both kept attempting past the point where `plain` (same schedule) was disabled.
    let deadline = Instant::now() + Duration::from_secs(20);
    while counts("never") < 5 || counts("slow") < 5 {
        assert!(Instant::now() < deadline, "never/slow stopped attempting");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_ne!(healthy_reason(&inst, "never"), "Disabled");
    assert_ne!(healthy_reason(&inst, "slow"), "Disabled");
}
