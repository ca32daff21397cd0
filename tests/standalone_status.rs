//! Status a person can trust, on a real `switchboard run` over loopback: Healthy follows what
//! deliveries and filters actually do, a suspended subscription says so, Transformation tests
//! are counted, a missing Secret key is named, `localhost` URLs are the SSRF policy's call, a
//! resource that cannot be read is still listed with Ready=False, and the delivery log of a
//! subscription that does not exist is a 404.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};

use serde_json::Value;
use support::sink::{Reply, Sink};
use support::{Instance, http_json, wait_until};

const TOKEN: &str = "Bearer status-token";

/// The namespace's publisher token and a Secret without the key `secret`.
const SECRETS: &str = r#"
apiVersion: v1
kind: Secret
metadata:
  name: publisher
  namespace: shop
  labels: {switchboard.dev/publisher-token: "true"}
stringData: {token: status-token}
---
apiVersion: v1
kind: Secret
metadata: {name: signing, namespace: shop, labels: {switchboard.dev/usable: "true"}}
stringData: {other: x}
"#;

fn subscription(name: &str, url: &str, extra: &str) -> String {
    let signing = if extra.contains("signing:") {
        ""
    } else {
        "  signing: {scheme: None}\n"
    };
    format!(
        "---\napiVersion: switchboard.dev/v1alpha1\nkind: WebhookSubscription\nmetadata: {{name: {name}, namespace: shop}}\nspec:\n  url: {url}\n  eventTypes: [\"*\"]\n{signing}{extra}"
    )
}

fn write(dir: &std::path::Path, text: &str) -> std::path::PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("all.yaml"), text).unwrap();
    dir.to_owned()
}

fn publish(inst: &Instance, body: &str) {
    let (code, answer) = http_json(
        "POST",
        &format!("{}/v1/namespaces/shop/events", inst.data_url),
        &[
            ("authorization", TOKEN),
            ("content-type", "application/json"),
        ],
        Some(body.as_bytes()),
    );
    assert_eq!(code, 202, "{answer}");
}

/// The status of one resource from /v1/status.
fn status(inst: &Instance, kind: &str, name: &str) -> Value {
    inst.status(kind)
        .into_iter()
        .find(|i| i["metadata"]["name"] == name)
        .map(|i| i["status"].clone())
        .unwrap_or(Value::Null)
}

/// (status, reason) of a condition.
fn condition(inst: &Instance, kind: &str, name: &str, type_: &str) -> (String, String) {
    let st = status(inst, kind, name);
    let c = st["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == type_).cloned())
        .unwrap_or(Value::Null);
    let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    (s(&c["status"]), s(&c["reason"]))
}

fn wait_condition(inst: &Instance, kind: &str, name: &str, type_: &str, want: (&str, &str)) {
    wait_until(&format!("{kind} {name} {type_}={want:?}"), inst, || {
        let got = condition(inst, kind, name, type_);
        (got.0.as_str(), got.1.as_str()) == want
    });
}

#[test]
fn healthy_follows_deliveries_circuit_and_filter_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let answer = Arc::new(AtomicU16::new(200));
    let answer_in_sink = answer.clone();
    let sink =
        Sink::start(move |_, _| Reply::Status(answer_in_sink.load(Ordering::SeqCst), vec![]));
    let manifests = [
        SECRETS.to_owned(),
        subscription(
            "orders",
            &sink.url,
            "  filter: .type != \"noise\"\n  circuitBreaker: {failureThreshold: 2, openDuration: 1h}\n",
        ),
        subscription(
            "picky",
            &sink.url,
            "  filter: (.id | startswith(\"bad\") | not) and .data.n + 1 > 2\n",
        ),
        subscription("held", &sink.url, "  suspend: true\n"),
    ]
    .concat();
    let dir = write(&tmp.path().join("m"), &manifests);
    let inst = Instance::start(
        &dir,
        &tmp.path().join("data"),
        &["--allow-private-destinations"],
    );
    let whs = "WebhookSubscription";
    assert_eq!(
        condition(&inst, whs, "orders", "Healthy"),
        ("True".into(), "NoDeliveriesYet".into())
    );
    assert_eq!(
        condition(&inst, whs, "held", "Ready"),
        ("True".into(), "Suspended".into())
    );

    // Three deliveries that succeed: Delivering (not NoDeliveriesYet).
    for i in 0..3 {
        publish(
            &inst,
            &format!(r#"{{"type": "order.created", "id": "ok-{i}", "data": {{"n": 5}}}}"#),
        );
    }
    wait_condition(&inst, whs, "orders", "Healthy", ("True", "Delivering"));

    // A failure: DeliveriesFailing; a second opens the circuit (threshold 2).
    answer.store(500, Ordering::SeqCst);
    publish(
        &inst,
        r#"{"type": "order.created", "id": "bad-1", "data": {"n": 5}}"#,
    );
    wait_condition(
        &inst,
        whs,
        "orders",
        "Healthy",
        ("False", "DeliveriesFailing"),
    );
    publish(
        &inst,
        r#"{"type": "order.created", "id": "bad-2", "data": {"n": 5}}"#,
    );
    wait_condition(&inst, whs, "orders", "Healthy", ("False", "CircuitOpen"));

    // `picky`'s filter fails on string data: counted, and a runaway is Healthy=False.
    for i in 0..10 {
        publish(
            &inst,
            &format!(r#"{{"type": "order.created", "id": "s-{i}", "data": {{"n": "x"}}}}"#),
        );
    }
    wait_condition(&inst, whs, "picky", "Healthy", ("False", "FilterErrors"));
    wait_until("filterErrors counted on the status", &inst, || {
        let st = status(&inst, whs, "picky");
        st["filterErrors"] == 10
            && st["lastFilterError"]
                .as_str()
                .is_some_and(|e| !e.is_empty())
    });
    // One good evaluation ends the runaway: its deliveries' state shows again.
    publish(
        &inst,
        r#"{"type": "order.created", "id": "n-1", "data": {"n": 1}}"#,
    );
    wait_condition(&inst, whs, "picky", "Healthy", ("True", "Delivering"));
}

#[test]
fn kinds_report_what_they_promise() {
    let tmp = tempfile::tempdir().unwrap();
    let manifests = [
        SECRETS,
        r#"
---
apiVersion: switchboard.dev/v1alpha1
kind: Transformation
metadata: {name: shape, namespace: shop}
spec:
  jq: "{a: .x}"
  tests:
    - {name: one, input: {x: 1}, expect: {a: 1}}
    - {name: two, input: {x: 2}, expect: {a: 2}}
    - {name: wrong, input: {x: 3}, expect: {a: 4}}
---
apiVersion: switchboard.dev/v1alpha1
kind: Transformation
metadata: {name: fine, namespace: shop}
spec:
  jq: "."
  tests:
    - {name: same, input: {x: 1}, expect: {x: 1}}
"#,
        &subscription(
            "keyless",
            "https://example.com/hook",
            "  signing: {scheme: StandardWebhooks, secretRef: {name: signing}}\n",
        ),
        // Refused by the schema: not in the running state, still listed.
        &subscription("broken", "ftp://example.com/hook", ""),
        &subscription("local", "http://localhost:9/hook", ""),
    ]
    .concat();
    let dir = write(&tmp.path().join("m"), &manifests);
    let inst = Instance::start(
        &dir,
        &tmp.path().join("data"),
        &["--allow-private-destinations"],
    );

    let tf = status(&inst, "Transformation", "shape");
    assert_eq!(
        (&tf["testsPassed"], &tf["testsFailed"]),
        (&2.into(), &1.into()),
        "{tf}"
    );
    let (ready, reason) = condition(&inst, "Transformation", "shape", "Ready");
    assert_eq!((ready.as_str(), reason.as_str()), ("False", "TestsFailed"));
    let fine = status(&inst, "Transformation", "fine");
    assert_eq!(
        (&fine["testsPassed"], &fine["testsFailed"]),
        (&1.into(), &0.into()),
        "{fine}"
    );

    let whs = "WebhookSubscription";
    assert_eq!(
        condition(&inst, whs, "keyless", "Ready"),
        ("False".into(), "SecretKeyNotFound".into())
    );
    let (ready, _) = condition(&inst, whs, "broken", "Ready");
    assert_eq!(ready, "False", "a resource that cannot be read is listed");
    assert_eq!(
        condition(&inst, whs, "local", "Ready"),
        ("True".into(), "Ready".into()),
        "localhost is allowed with --allow-private-destinations"
    );

    // The delivery log of a subscription that does not exist: 404 with a JSON error.
    let (code, body) = http_json(
        "GET",
        &format!(
            "{}/v1/namespaces/shop/webhooksubscriptions/nope/deliveries",
            inst.admin_url
        ),
        &[],
        None,
    );
    assert_eq!(code, 404, "{body}");
    assert_eq!(body["error"]["code"], "not_found", "{body}");
    let (code, body) = http_json(
        "GET",
        &format!(
            "{}/v1/namespaces/shop/webhooksubscriptions/local/deliveries",
            inst.admin_url
        ),
        &[],
        None,
    );
    assert_eq!(
        (code, &body["items"]),
        (200, &Value::Array(vec![])),
        "{body}"
    );

    // Text logs into a file carry no ANSI colours.
    assert!(!inst.log_text().contains('\u{1b}'), "{}", inst.log_text());
    drop(inst);

    // Without the flag, the SSRF policy refuses localhost: Ready=False, still listed.
    let inst = Instance::start(&dir, &tmp.path().join("data2"), &[]);
    let (ready, reason) = condition(&inst, whs, "local", "Ready");
    assert_eq!(
        (ready.as_str(), reason.as_str()),
        ("False", "DestinationRefused")
    );
}
