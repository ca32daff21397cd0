//! Bulk retry and replay over real HTTP on loopback, standalone (the real binary, a real
//! SQLite store, real sinks): a bulk retry takes only what its filter names, refuses bad
//! ranges doing nothing, and repeating it requeues nothing twice; a replay delivers the stored
//! events of a range to a subscription created after them — only those of its namespace that
//! its patterns and filter take — with the original event ids as `webhook-id` and the replay
//! in `switchboard-replay-id`; two replays deliver each event once per replay, and the same
//! replay asked again delivers nothing more. The CLI does both.

mod support;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};
use support::sink::{Reply, Sink};
use support::{Instance, http_json};

const PUBLISHERS: &str = r#"
apiVersion: v1
kind: Secret
metadata:
  name: publisher
  namespace: payments
  labels: {switchboard.dev/publisher-token: "true"}
stringData:
  token: test-publisher-token
---
apiVersion: v1
kind: Secret
metadata:
  name: publisher
  namespace: shipping
  labels: {switchboard.dev/publisher-token: "true"}
stringData:
  token: shipping-publisher-token
"#;

fn subscription(ns: &str, name: &str, url: &str, extra: &str) -> String {
    format!(
        r#"---
apiVersion: switchboard.dev/v1alpha1
kind: WebhookSubscription
metadata: {{name: {name}, namespace: {ns}}}
spec:
  url: {url}
  eventTypes: ["order.*"]
  signing: {{scheme: None}}
  retry: {{schedule: []}}
{extra}
"#
    )
}

fn write(dir: &Path, docs: &[String]) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("all.yaml"),
        format!("{PUBLISHERS}\n{}", docs.join("\n")),
    )
    .unwrap();
}

fn publish(inst: &Instance, ns: &str, token: &str, ty: &str, id: &str, data: Value) {
    let body = json!({"type": ty, "id": id, "data": data}).to_string();
    let (status, answer) = http_json(
        "POST",
        &format!("{}/v1/namespaces/{ns}/events", inst.data_url),
        &[
            ("authorization", &format!("Bearer {token}")),
            ("content-type", "application/json"),
        ],
        Some(body.as_bytes()),
    );
    assert_eq!(status, 202, "publish answered {answer}");
}

fn admin(inst: &Instance, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let body = body.map(|b| b.to_string());
    http_json(
        method,
        &format!(
            "{}/v1/namespaces/payments/webhooksubscriptions/{path}",
            inst.admin_url
        ),
        &[("content-type", "application/json")],
        body.as_deref().map(str::as_bytes),
    )
}

fn deliveries(inst: &Instance, sub: &str) -> Vec<Value> {
    let (status, v) = admin(inst, "GET", &format!("{sub}/deliveries?limit=500"), None);
    assert_eq!(status, 200, "{v}");
    v["items"].as_array().cloned().unwrap_or_default()
}

fn wait_for(what: &str, inst: &Instance, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; log:\n{}",
            inst.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn rfc3339(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn cli(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .output()
        .expect("the CLI runs");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// (event id, replay id) of every request a sink received.
fn received(sink: &Sink) -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = sink
        .hits()
        .iter()
        .map(|h| (h.header("webhook-id"), h.header("switchboard-replay-id")))
        .collect();
    all.sort();
    all
}

#[test]
fn bulk_retry_requeues_what_its_filter_names_once() {
    let tmp = tempfile::tempdir().unwrap();
    let answer = Arc::new(AtomicU16::new(400));
    let status = answer.clone();
    let sink = Sink::start(move |_, _| Reply::Status(status.load(Ordering::SeqCst), vec![]));
    let manifests = tmp.path().join("manifests");
    let extra = r#"  eventTypes: ["order.*", "invoice.*"]"#;
    let mut doc = subscription("payments", "orders", &sink.url, "");
    doc = doc.replace(r#"  eventTypes: ["order.*"]"#, extra);
    write(&manifests, &[doc]);
    let inst = Instance::start(
        &manifests,
        &tmp.path().join("data"),
        &["--allow-private-destinations"],
    );
    let t0 = Utc::now() - chrono::Duration::seconds(1);
    let token = "test-publisher-token";
    publish(&inst, "payments", token, "order.created", "o-1", json!({}));
    publish(&inst, "payments", token, "order.created", "o-2", json!({}));
    publish(&inst, "payments", token, "invoice.paid", "i-1", json!({}));
    wait_for("three Failed deliveries", &inst, || {
        let list = deliveries(&inst, "orders");
        list.len() == 3 && list.iter().all(|d| d["status"] == "Failed")
    });
    answer.store(200, Ordering::SeqCst);
    let now = rfc3339(Utc::now());

    // Bad requests are refused and change nothing.
    let since = rfc3339(t0);
    for (body, what) in [
        (json!({"until": now}), "since is required"),
        (json!({"since": now, "until": since}), "inverted"),
        (json!({"since": "yesterday", "until": now}), "RFC 3339"),
        (
            json!({"since": since, "until": rfc3339(Utc::now() + chrono::Duration::hours(1))}),
            "future",
        ),
        (
            json!({"since": since, "until": now, "status": ["Pending"]}),
            "only Failed and Dead",
        ),
        (
            json!({"since": since, "until": now, "colour": "red"}),
            "unknown field",
        ),
    ] {
        let (status, answer) = admin(&inst, "POST", "orders/deliveries/retry", Some(body));
        assert_eq!(status, 400, "{what}: {answer}");
        assert!(
            answer["error"]["message"].as_str().unwrap().contains(what),
            "{what}: {answer}"
        );
    }
    let (status, answer) = admin(
        &inst,
        "POST",
        "nobody/deliveries/retry",
        Some(json!({"since": since, "until": now})),
    );
    assert_eq!(status, 404, "{answer}");
    assert!(
        deliveries(&inst, "orders")
            .iter()
            .all(|d| d["status"] == "Failed")
    );
    assert!(sink.hits().iter().all(|h| h.status == 400));

    // By type: the two orders, once however often it is asked.
    let by_type =
        json!({"since": since, "until": now, "status": ["Failed"], "types": ["order.created"]});
    let (status, answer) = admin(
        &inst,
        "POST",
        "orders/deliveries/retry",
        Some(by_type.clone()),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["requeued"], 2, "{answer}");
    assert_eq!(answer["truncated"], false, "{answer}");
    let (_, again) = admin(&inst, "POST", "orders/deliveries/retry", Some(by_type));
    assert_eq!(
        again["requeued"], 0,
        "already pending or delivered: {again}"
    );
    wait_for("the orders delivered", &inst, || {
        deliveries(&inst, "orders")
            .iter()
            .filter(|d| d["status"] == "Delivered")
            .count()
            == 2
    });
    let list = deliveries(&inst, "orders");
    let invoice = list.iter().find(|d| d["eventId"] == "i-1").unwrap();
    assert_eq!(invoice["status"], "Failed", "another type is left alone");
    let ok: Vec<String> = sink
        .hits()
        .iter()
        .filter(|h| h.status == 200)
        .map(|h| h.header("webhook-id"))
        .collect();
    assert_eq!(ok.len(), 2);
    assert!(
        ok.contains(&"o-1".into()) && ok.contains(&"o-2".into()),
        "{ok:?}"
    );

    // The CLI: the rest (the invoice), with a duration ago.
    let (success, out) = cli(&[
        "deliveries",
        "retry",
        "orders",
        "-n",
        "payments",
        "--since",
        "1h",
        "--status",
        "Failed",
        "--admin",
        &inst.admin_url,
    ]);
    assert!(success, "{out}");
    assert!(out.contains("1 deliveries requeued"), "{out}");
    wait_for("the invoice delivered", &inst, || {
        deliveries(&inst, "orders")
            .iter()
            .all(|d| d["status"] == "Delivered")
    });
    let (success, out) = cli(&[
        "deliveries",
        "retry",
        "orders",
        "-n",
        "payments",
        "--since",
        "now",
        "--admin",
        &inst.admin_url,
    ]);
    assert!(
        !success && out.contains("400"),
        "an empty range is refused: {out}"
    );
}

#[test]
fn a_replay_delivers_stored_events_to_a_later_subscription_once_per_replay() {
    let tmp = tempfile::tempdir().unwrap();
    let live = Sink::always(200);
    let late = Sink::always(200);
    let manifests = tmp.path().join("manifests");
    let orders = subscription("payments", "orders", &live.url, "");
    let shipping = subscription("shipping", "orders", &live.url, "");
    write(&manifests, &[orders.clone(), shipping.clone()]);
    let inst = Instance::start(
        &manifests,
        &tmp.path().join("data"),
        &["--allow-private-destinations"],
    );
    let t0 = Utc::now() - chrono::Duration::seconds(1);
    let token = "test-publisher-token";
    for (id, amount) in [("e-1", 5), ("e-2", 20), ("e-3", 30)] {
        publish(
            &inst,
            "payments",
            token,
            "order.created",
            id,
            json!({"amount": amount}),
        );
    }
    publish(
        &inst,
        "payments",
        token,
        "invoice.paid",
        "inv-1",
        json!({"amount": 99}),
    );
    publish(
        &inst,
        "shipping",
        "shipping-publisher-token",
        "order.created",
        "ship-1",
        json!({"amount": 99}),
    );
    wait_for("live deliveries", &inst, || live.hits().len() == 4);
    let t1 = Utc::now();

    // A subscription created after the events: orders above 10 only.
    let filtered = subscription("payments", "late", &late.url, "  filter: .data.amount > 10");
    write(&manifests, &[orders, shipping, filtered]);
    wait_for("the late subscription running", &inst, || {
        inst.ready("webhooksubscriptions", "payments", "late")
            .is_some_and(|(s, _)| s == "True")
    });
    assert!(late.hits().is_empty(), "nothing replayed by itself");
    let range = json!({"since": rfc3339(t0), "until": rfc3339(t1)});

    // Bad requests do nothing.
    for (body, code) in [
        (json!({"since": rfc3339(t1), "until": rfc3339(t0)}), 400),
        (json!({"until": rfc3339(t1)}), 400),
        (
            json!({"since": rfc3339(t0), "until": rfc3339(t1), "id": "no spaces"}),
            400,
        ),
    ] {
        let (status, answer) = admin(&inst, "POST", "late/replays", Some(body));
        assert_eq!(status, code, "{answer}");
    }
    let (status, _) = admin(&inst, "POST", "nobody/replays", Some(range.clone()));
    assert_eq!(status, 404);

    // The first replay, with an id of the client's.
    let mut first = range.clone();
    first["id"] = json!("first");
    let (status, started) = admin(&inst, "POST", "late/replays", Some(first.clone()));
    assert_eq!(status, 202, "{started}");
    assert_eq!(started["id"], "first");
    wait_for("the first replay delivered", &inst, || {
        let (_, p) = admin(&inst, "GET", "late/replays/first", None);
        p["phase"] == "Queued" && p["deliveries"]["delivered"] == 2
    });
    let (_, done) = admin(&inst, "GET", "late/replays/first", None);
    assert_eq!(
        (
            done["scanned"].as_u64(),
            done["matched"].as_u64(),
            done["queued"].as_u64()
        ),
        (Some(4), Some(2), Some(2)),
        "{done}"
    );
    assert_eq!(
        received(&late),
        [
            ("e-2".into(), "first".into()),
            ("e-3".into(), "first".into())
        ],
        "only its namespace's events its patterns and filter take, with their event ids"
    );
    let bodies: Vec<Value> = late
        .hits()
        .iter()
        .map(|h| serde_json::from_slice(&h.body).unwrap())
        .collect();
    assert!(
        bodies
            .iter()
            .all(|b| b["type"] == "order.created" && b["data"]["amount"].as_u64() > Some(10))
    );

    // The same replay again: answered, nothing queued twice.
    let (status, again) = admin(&inst, "POST", "late/replays", Some(first));
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["started"], false);
    assert_eq!(again["queued"], 2);
    assert_eq!(
        deliveries(&inst, "late").len(),
        2,
        "no duplicate deliveries"
    );
    // The same id with another range is a conflict.
    let mut other = range.clone();
    other["id"] = json!("first");
    other["types"] = json!(["order.created"]);
    let (status, conflict) = admin(&inst, "POST", "late/replays", Some(other));
    assert_eq!(status, 409, "{conflict}");

    // A second replay (id derived from the request) delivers each event once more; asking
    // for it again is the same replay.
    let (status, second) = admin(&inst, "POST", "late/replays", Some(range.clone()));
    assert_eq!(status, 202, "{second}");
    let id = second["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("rpl_"), "{id}");
    wait_for("the second replay delivered", &inst, || {
        let (_, p) = admin(&inst, "GET", &format!("late/replays/{id}"), None);
        p["phase"] == "Queued" && p["deliveries"]["delivered"] == 2
    });
    let (status, same) = admin(&inst, "POST", "late/replays", Some(range));
    assert_eq!(
        (status, same["id"].as_str()),
        (200, Some(id.as_str())),
        "{same}"
    );
    assert_eq!(deliveries(&inst, "late").len(), 4);
    let mut want = vec![
        ("e-2".to_owned(), "first".to_owned()),
        ("e-3".to_owned(), "first".to_owned()),
        ("e-2".to_owned(), id.clone()),
        ("e-3".to_owned(), id.clone()),
    ];
    want.sort();
    assert_eq!(received(&late), want, "each event once per replay");
    // The live deliveries carried the same event ids, without a replay header.
    let live_ids: Vec<(String, String)> = received(&live);
    assert!(
        live_ids.contains(&("e-2".into(), String::new())),
        "{live_ids:?}"
    );

    // The CLI, following the replay to its end.
    let (success, out) = cli(&[
        "deliveries",
        "replay",
        "late",
        "-n",
        "payments",
        "--since",
        &rfc3339(t0),
        "--until",
        &rfc3339(t1),
        "--id",
        "from-cli",
        "--follow",
        "--admin",
        &inst.admin_url,
    ]);
    assert!(success, "{out}");
    assert!(
        out.contains("replay from-cli Queued") && out.contains("delivered 2"),
        "{out}"
    );
    assert_eq!(late.hits().len(), 6);
}
