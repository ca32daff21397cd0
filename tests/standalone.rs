//! `switchboard run` over real HTTP on loopback: the publish API in every format, its
//! errors, idempotency, and live reload of the manifests directory.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use support::{Instance, copy_examples, http_json};
use switchboard::store::{Target, TargetKind};

/// The examples' outbound URLs point at a closed loopback port (see `copy_examples`).
const OFFLINE: &[&str] = &["--allow-private-destinations"];

const TOKEN: &str = "Bearer dev-publisher-token-change-me";

/// A subscription that takes every event of the namespace, so fan-out is visible.
const EVERYTHING: &str = r#"
apiVersion: switchboard.dev/v1alpha1
kind: WebhookSubscription
metadata:
  name: everything
  namespace: payments
spec:
  url: http://127.0.0.1:9/events
  eventTypes: ["*"]
  signing: {scheme: None}
"#;

fn publish(
    inst: &Instance,
    ns: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, serde_json::Value) {
    http_json(
        "POST",
        &format!("{}/v1/namespaces/{ns}/events", inst.data_url),
        headers,
        Some(body),
    )
}

/// Event ids delivered (queued) to a subscription, newest first, read from the store file
/// beside the running process.
fn queued_event_ids(data_dir: &Path, subscription: &str) -> Vec<String> {
    let target = Target {
        namespace: "payments".into(),
        kind: TargetKind::Subscription,
        name: subscription.into(),
    };
    support::stored_deliveries(data_dir, &target)
        .into_iter()
        .map(|d| d.event_id)
        .collect()
}

#[test]
fn publish_api_formats_idempotency_and_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let manifests = copy_examples(&tmp.path().join("manifests"));
    std::fs::write(manifests.join("90-everything.yaml"), EVERYTHING).unwrap();
    let inst = Instance::start(&manifests, &tmp.path().join("data"), OFFLINE);
    let json_ct = ("content-type", "application/json");

    // Plain JSON with an id, twice: stored once, answered the same.
    let body = br#"{"type":"stripe.invoice.paid","id":"order-1","data":{"amount":4200}}"#;
    let first = publish(
        &inst,
        "payments",
        &[("authorization", TOKEN), json_ct],
        body,
    );
    assert_eq!(first, (202, json!({"id": "order-1"})));
    assert_eq!(
        publish(
            &inst,
            "payments",
            &[("authorization", TOKEN), json_ct],
            body
        ),
        first
    );

    // Plain JSON without an id: one is generated.
    let (code, answer) = publish(
        &inst,
        "payments",
        &[("authorization", TOKEN), json_ct],
        br#"{"type":"order.created","data":{}}"#,
    );
    assert_eq!(code, 202);
    let generated = answer["id"].as_str().unwrap().to_owned();
    assert!(generated.starts_with("evt_"), "{generated}");

    // CloudEvents, structured mode.
    let ce = br#"{"specversion":"1.0","id":"ce-1","source":"/checkout","type":"order.shipped","data":{"n":1}}"#;
    let structured = publish(
        &inst,
        "payments",
        &[
            ("authorization", TOKEN),
            ("content-type", "application/cloudevents+json"),
        ],
        ce,
    );
    assert_eq!(structured, (202, json!({"id": "ce-1"})));

    // CloudEvents, binary mode.
    let binary_headers = [
        ("authorization", TOKEN),
        json_ct,
        ("ce-specversion", "1.0"),
        ("ce-id", "bin-1"),
        ("ce-source", "/checkout"),
        ("ce-type", "order.refunded"),
    ];
    assert_eq!(
        publish(&inst, "payments", &binary_headers, br#"{"n":2}"#),
        (202, json!({"id": "bin-1"}))
    );

    // Authentication and authorization, each with a JSON error body.
    let (code, err) = publish(&inst, "payments", &[json_ct], body);
    assert_eq!(
        (code, err["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
    let (code, err) = publish(
        &inst,
        "payments",
        &[("authorization", "Bearer wrong"), json_ct],
        body,
    );
    assert_eq!(
        (code, err["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
    let (code, err) = publish(
        &inst,
        "other-team",
        &[("authorization", TOKEN), json_ct],
        body,
    );
    assert_eq!(
        (code, err["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );
    assert!(
        !err.to_string().contains("dev-publisher-token"),
        "no secret in errors: {err}"
    );

    // Size limit, malformed bodies, unsupported content.
    let big = format!(r#"{{"type":"t","data":"{}"}}"#, "x".repeat(1024 * 1024));
    let (code, err) = publish(
        &inst,
        "payments",
        &[("authorization", TOKEN), json_ct],
        big.as_bytes(),
    );
    assert_eq!(
        (code, err["error"]["code"].as_str()),
        (413, Some("payload_too_large"))
    );
    let (code, err) = publish(
        &inst,
        "payments",
        &[("authorization", TOKEN), json_ct],
        b"{not json",
    );
    assert_eq!(
        (code, err["error"]["code"].as_str()),
        (400, Some("invalid_body"))
    );
    let (code, err) = publish(
        &inst,
        "payments",
        &[("authorization", TOKEN), json_ct],
        br#"{"data":1}"#,
    );
    assert_eq!(
        (code, err["error"]["code"].as_str()),
        (400, Some("invalid_event"))
    );
    let (code, _) = publish(
        &inst,
        "payments",
        &[("authorization", TOKEN), ("content-type", "text/xml")],
        b"<x/>",
    );
    assert_eq!(code, 415);

    // Every accepted event fanned out to the catch-all subscription exactly once; the
    // invoice also reached the partner subscription, nothing else did.
    let ids: BTreeSet<String> = queued_event_ids(&inst.data_dir, "everything")
        .into_iter()
        .collect();
    let expected: BTreeSet<String> = ["order-1", generated.as_str(), "ce-1", "bin-1"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(ids, expected);
    assert_eq!(
        queued_event_ids(&inst.data_dir, "everything").len(),
        4,
        "order-1 stored once"
    );
    assert_eq!(
        queued_event_ids(&inst.data_dir, "partner-invoices"),
        ["order-1"]
    );

    // Metrics count what was accepted.
    let (_, metrics) =
        support::http("GET", &format!("{}/metrics", inst.admin_url), &[], None).unwrap();
    let metrics = String::from_utf8(metrics).unwrap();
    assert!(
        metrics.contains(r#"switchboard_events_accepted_total{namespace="payments"} 4"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"switchboard_events_duplicate_total{namespace="payments"} 1"#),
        "{metrics}"
    );
}

#[test]
fn manifests_reload_live_and_a_broken_file_keeps_the_last_good_state() {
    let tmp = tempfile::tempdir().unwrap();
    let manifests = copy_examples(&tmp.path().join("manifests"));
    let inst = Instance::start(&manifests, &tmp.path().join("data"), OFFLINE);
    assert!(
        inst.ready("webhooksubscriptions", "payments", "everything")
            .is_none()
    );

    // A new file is picked up.
    let file = manifests.join("90-everything.yaml");
    std::fs::write(&file, EVERYTHING).unwrap();
    support::wait_until("the new subscription", &inst, || {
        inst.ready("webhooksubscriptions", "payments", "everything")
            .is_some_and(|(s, _)| s == "True")
    });
    let ok = publish(
        &inst,
        "payments",
        &[("authorization", TOKEN)],
        br#"{"type":"a","id":"before-break"}"#,
    );
    assert_eq!(ok.0, 202);

    // The file breaks: the subscription reports it, and keeps receiving events.
    std::fs::write(&file, format!("{EVERYTHING}  eventTypes: [oops\n")).unwrap();
    support::wait_until("Ready=False on the broken file", &inst, || {
        inst.ready("webhooksubscriptions", "payments", "everything")
            .is_some_and(|(s, _)| s == "False")
    });
    let (_, message) = inst
        .ready("webhooksubscriptions", "payments", "everything")
        .unwrap();
    assert!(
        message.contains("90-everything.yaml:"),
        "the message locates the problem: {message}"
    );
    assert!(
        inst.log_text().contains("90-everything.yaml"),
        "the problem is logged with its file"
    );
    assert_eq!(
        publish(
            &inst,
            "payments",
            &[("authorization", TOKEN)],
            br#"{"type":"a","id":"while-broken"}"#
        )
        .0,
        202
    );

    // A schema error (unknown field) is reported the same way; the last good version serves.
    std::fs::write(&file, EVERYTHING.replace("eventTypes:", "evenTypes:")).unwrap();
    support::wait_until("Ready=False on the schema error", &inst, || {
        inst.ready("webhooksubscriptions", "payments", "everything")
            .is_some_and(|(s, m)| s == "False" && m.contains("evenTypes"))
    });
    assert_eq!(
        publish(
            &inst,
            "payments",
            &[("authorization", TOKEN)],
            br#"{"type":"a","id":"schema-broken"}"#
        )
        .0,
        202
    );

    // Fixed again: Ready, and still receiving.
    std::fs::write(&file, EVERYTHING).unwrap();
    support::wait_until("Ready=True after the fix", &inst, || {
        inst.ready("webhooksubscriptions", "payments", "everything")
            .is_some_and(|(s, _)| s == "True")
    });
    assert_eq!(
        publish(
            &inst,
            "payments",
            &[("authorization", TOKEN)],
            br#"{"type":"a","id":"after-fix"}"#
        )
        .0,
        202
    );
    let ids = queued_event_ids(&inst.data_dir, "everything");
    let ids: BTreeSet<_> = ids.iter().map(String::as_str).collect();
    assert_eq!(
        ids,
        BTreeSet::from(["before-break", "while-broken", "schema-broken", "after-fix"])
    );

    // Deleting the file removes the subscription.
    std::fs::remove_file(&file).unwrap();
    support::wait_until("the subscription to go", &inst, || {
        inst.ready("webhooksubscriptions", "payments", "everything")
            .is_none()
    });
}

#[test]
fn get_prints_a_kubectl_style_table_and_yaml() {
    let tmp = tempfile::tempdir().unwrap();
    let manifests = copy_examples(&tmp.path().join("manifests"));
    let inst = Instance::start(&manifests, &tmp.path().join("data"), OFFLINE);
    let get = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .arg("get")
            .args(args)
            .args(["--admin", &inst.admin_url])
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = get(&["whs", "-n", "payments"]);
    assert_eq!(code, Some(0), "{err}");
    let lines: Vec<_> = out.lines().collect();
    assert!(
        lines[0].starts_with("NAME")
            && lines[0].contains("READY")
            && lines[0].contains("DELIVERED")
            && lines[0].ends_with("AGE"),
        "{out}"
    );
    assert_eq!(lines.len(), 3, "two subscriptions: {out}");
    assert!(
        lines[1].starts_with("chat-pushes") && lines[1].contains("True"),
        "{out}"
    );
    assert!(lines[2].starts_with("partner-invoices"), "{out}");

    // All namespaces: a NAMESPACE column; other spellings of the kind work too.
    let (_, out, _) = get(&["webhookendpoints"]);
    assert!(out.starts_with("NAMESPACE"), "{out}");
    assert!(out.contains("stripe-events"), "{out}");
    let (_, out, _) = get(&["cip"]);
    assert!(out.contains("stripe") && out.contains("Payment"), "{out}");

    // YAML of one resource, in the Kubernetes shape.
    let (code, out, _) = get(&["tf", "github-push-summary", "-n", "payments", "-o", "yaml"]);
    assert_eq!(code, Some(0));
    let doc = &switchboard::yaml::parse_documents(&out).unwrap()[0].value;
    assert_eq!(doc["kind"], "Transformation");
    assert_eq!(doc["metadata"]["namespace"], "payments");
    assert_eq!(doc["status"]["conditions"][0]["type"], "Ready");
    assert!(doc["spec"]["jq"].as_str().unwrap().contains("ltrimstr"));

    // Errors.
    let (code, _, err) = get(&["pods"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("doesn't have a resource type"), "{err}");
    let (code, _, err) = get(&["whs", "nope", "-n", "payments"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("not found"), "{err}");
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let manifests = copy_examples(&tmp.path().join("manifests"));
    let mut inst = Instance::start(
        &manifests,
        &tmp.path().join("data"),
        &["--shutdown-timeout", "10s", OFFLINE[0]],
    );
    assert_eq!(
        publish(
            &inst,
            "payments",
            &[("authorization", TOKEN)],
            br#"{"type":"stripe.invoice.paid","id":"last"}"#
        )
        .0,
        202
    );
    let pid = inst.child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = inst.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "still running 15 s after SIGTERM; log:\n{}",
            inst.log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        status.success(),
        "exit status {status:?}; log:\n{}",
        inst.log_text()
    );
    assert!(inst.log_text().contains("stopped"), "{}", inst.log_text());
    // The accepted event is on disk after the shutdown.
    assert_eq!(
        queued_event_ids(&inst.data_dir, "partner-invoices"),
        ["last"]
    );
}
