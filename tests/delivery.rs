//! Outbound delivery over real HTTP on loopback: signatures (checked by an independent
//! Standard Webhooks verifier), every outcome (2xx, 3xx, 4xx, 410, 429 + Retry-After, 5xx,
//! timeouts, dropped connections), the retry schedule, isolation, the circuit breaker, the
//! SSRF guard, filters and transformations, the admin API and the CLI.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::sink::{DropSink, Hit, Reply, Sink};
use support::standard_webhooks::{reference_signature, verifies};
use support::{Instance, http_json};

const TOKEN: &str = "Bearer test-publisher-token";
const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const ROTATED_SECRET: &str = "whsec_dGhlIG5leHQgc2lnbmluZyBzZWNyZXQgZm9yIHRlc3Q=";

/// Namespace, publisher token and signing secrets every test uses.
const BASE: &str = concat!(
    support::payments_publisher!(),
    r#"apiVersion: v1
kind: Secret
metadata: {name: signing, namespace: payments, labels: {switchboard.dev/usable: "true"}}
stringData:
  secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw whsec_dGhlIG5leHQgc2lnbmluZyBzZWNyZXQgZm9yIHRlc3Q="
---
apiVersion: v1
kind: Secret
metadata: {name: subscriber-token, namespace: payments, labels: {switchboard.dev/usable: "true"}}
stringData:
  token: subscriber-bearer-token
"#
);

#[test]
fn the_reference_verifier_matches_the_spec_test_vector() {
    assert_eq!(
        reference_signature(
            SPEC_SECRET,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "1614265330",
            br#"{"test": 2432232314}"#
        ),
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    );
}

// ---------- helpers ----------

fn subscription(name: &str, url: &str, extra: &str) -> String {
    format!(
        r#"---
apiVersion: switchboard.dev/v1alpha1
kind: WebhookSubscription
metadata: {{name: {name}, namespace: payments}}
spec:
  url: {url}
  eventTypes: ["order.*", "switchboard.test"]
{extra}
"#
    )
}

fn start(dir: &Path, manifests: &str, extra: &[&str]) -> Instance {
    let m = dir.join("manifests");
    std::fs::create_dir_all(&m).unwrap();
    std::fs::write(m.join("base.yaml"), format!("{BASE}\n{manifests}")).unwrap();
    Instance::start(&m, &dir.join("data"), extra)
}

fn start_private(dir: &Path, manifests: &str) -> Instance {
    start(dir, manifests, &["--allow-private-destinations"])
}

fn publish(inst: &Instance, event_type: &str, id: &str, data: Value) {
    let body = json!({"type": event_type, "id": id, "data": data}).to_string();
    let (status, answer) = http_json(
        "POST",
        &format!("{}/v1/namespaces/payments/events", inst.data_url),
        &[
            ("authorization", TOKEN),
            ("content-type", "application/json"),
        ],
        Some(body.as_bytes()),
    );
    assert_eq!(status, 202, "publish answered {answer}");
}

fn deliveries(inst: &Instance, sub: &str) -> Vec<Value> {
    let (status, v) = http_json(
        "GET",
        &format!(
            "{}/v1/namespaces/payments/webhooksubscriptions/{sub}/deliveries?limit=500",
            inst.admin_url
        ),
        &[],
        None,
    );
    assert_eq!(status, 200, "{v}");
    v["items"].as_array().cloned().unwrap_or_default()
}

/// Waits until every delivery of `sub` is finished (not Pending/Delivering) and there are `n`.
fn wait_finished(inst: &Instance, sub: &str, n: usize, timeout: Duration) -> Vec<Value> {
    let deadline = Instant::now() + timeout;
    loop {
        let list = deliveries(inst, sub);
        let done = list.len() >= n
            && list
                .iter()
                .all(|d| !matches!(d["status"].as_str(), Some("Pending" | "Delivering")));
        if done {
            return list;
        }
        if Instant::now() > deadline {
            panic!(
                "deliveries of {sub} not finished: {}\nlog:\n{}",
                serde_json::to_string_pretty(&list).unwrap(),
                inst.log_text()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn statuses(d: &Value) -> Vec<Option<u64>> {
    d["attemptLog"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["response_status"].as_u64())
        .collect()
}

fn subscription_status(inst: &Instance, name: &str) -> Value {
    inst.status("webhooksubscriptions")
        .into_iter()
        .find(|i| i["metadata"]["name"] == name)
        .map(|i| i["status"].clone())
        .unwrap_or(Value::Null)
}

fn condition(status: &Value, type_: &str) -> (String, String, String) {
    let c = status["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == type_).cloned())
        .unwrap_or(Value::Null);
    let s = |k: &str| c[k].as_str().unwrap_or_default().to_owned();
    (s("status"), s("reason"), s("message"))
}

fn wait_condition(inst: &Instance, sub: &str, type_: &str, want: &str, reason: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (s, r, _) = condition(&subscription_status(inst, sub), type_);
        if s == want && r == reason {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{sub} {type_} is {s}/{r}, want {want}/{reason}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn gaps(hits: &[Hit]) -> Vec<Duration> {
    hits.windows(2).map(|w| w[1].at - w[0].at).collect()
}

// ---------- tests ----------

#[test]
fn deliveries_are_signed_with_every_active_secret_and_carry_the_contract_headers() {
    let tmp = tempfile::tempdir().unwrap();
    let sink = Sink::always(200);
    let extra = r#"  signing: {scheme: StandardWebhooks, secretRef: {name: signing}}
  auth: {type: Bearer, secretRef: {name: subscriber-token}}
  headers: {X-Team: payments}"#;
    let inst = start_private(tmp.path(), &subscription("partner", &sink.url, extra));
    publish(&inst, "order.created", "o-1", json!({"amount": 42}));
    let list = wait_finished(&inst, "partner", 1, Duration::from_secs(10));
    assert_eq!(list[0]["status"], "Delivered");
    let hits = sink.wait_hits(1, Duration::from_secs(5));
    assert_eq!(hits.len(), 1, "delivered exactly once");
    let hit = &hits[0];
    // The webhook-id is the event's id (the same message for every delivery of it).
    assert_eq!(hit.header("webhook-id"), "o-1");
    assert_eq!(list[0]["eventId"], "o-1");
    assert!(
        verifies(hit, SPEC_SECRET),
        "signature with the first secret"
    );
    assert!(
        verifies(hit, ROTATED_SECRET),
        "signature with the rotated secret"
    );
    assert_eq!(hit.header("webhook-signature").split(' ').count(), 2);
    let ts: i64 = hit.header("webhook-timestamp").parse().unwrap();
    assert!((chrono::Utc::now().timestamp() - ts).abs() < 30);
    assert_eq!(
        hit.header("authorization"),
        "Bearer subscriber-bearer-token"
    );
    assert_eq!(hit.header("x-team"), "payments");
    assert_eq!(hit.header("content-type"), "application/json");
    assert!(hit.header("user-agent").starts_with("Switchboard/"));
    let body: Value = serde_json::from_slice(&hit.body).unwrap();
    assert_eq!(body["type"], "order.created");
    assert_eq!(body["data"], json!({"amount": 42}));
    assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["type", "source", "timestamp", "data"]);
    assert_eq!(body["source"], "/v1/namespaces/payments/events");
    // The status counts it.
    let deadline = Instant::now() + Duration::from_secs(5);
    while subscription_status(&inst, "partner")["delivered"] != 1 {
        assert!(
            Instant::now() < deadline,
            "status.delivered never reached 1"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let st = subscription_status(&inst, "partner");
    assert_eq!(st["sent"], 1);
    assert!(st["lastSuccessAt"].is_string() && st["lastTriggeredAt"].is_string());
    assert_eq!(st["signingSecretRef"]["name"], "signing");
}

#[test]
fn failures_are_retried_on_the_schedule_with_a_stable_id() {
    let tmp = tempfile::tempdir().unwrap();
    let sink = Sink::start(|n, _| Reply::Status(if n < 2 { 500 } else { 200 }, vec![]));
    let extra = r#"  signing: {scheme: StandardWebhooks, secretRef: {name: signing}}
  retry: {schedule: ["400ms", "800ms"]}"#;
    let inst = start_private(tmp.path(), &subscription("flaky", &sink.url, extra));
    publish(&inst, "order.created", "o-1", json!({}));
    let list = wait_finished(&inst, "flaky", 1, Duration::from_secs(15));
    let d = &list[0];
    assert_eq!(d["status"], "Delivered");
    assert_eq!(statuses(d), [Some(500), Some(500), Some(200)]);
    let hits = sink.hits();
    assert_eq!(hits.len(), 3);
    let ids: Vec<String> = hits.iter().map(|h| h.header("webhook-id")).collect();
    assert!(
        ids.iter().all(|i| i == d["eventId"].as_str().unwrap()),
        "stable webhook-id: {ids:?}"
    );
    assert!(hits.iter().all(|h| verifies(h, SPEC_SECRET)));
    let g = gaps(&hits);
    println!("schedule [400ms, 800ms]: measured gaps {g:?}");
    // ±10% jitter, plus dispatch slack (poll 250ms at worst).
    assert!(
        g[0] >= Duration::from_millis(360) && g[0] <= Duration::from_millis(440 + 350),
        "{g:?}"
    );
    assert!(
        g[1] >= Duration::from_millis(720) && g[1] <= Duration::from_millis(880 + 350),
        "{g:?}"
    );
}

#[test]
fn exhausted_retries_are_dead_and_an_admin_retry_replays_them() {
    let tmp = tempfile::tempdir().unwrap();
    let sink = Sink::always(503);
    let extra = r#"  signing: {scheme: None}
  retry: {schedule: ["100ms", "100ms"]}"#;
    let inst = start_private(tmp.path(), &subscription("down", &sink.url, extra));
    publish(&inst, "order.created", "o-1", json!({}));
    let list = wait_finished(&inst, "down", 1, Duration::from_secs(10));
    assert_eq!(list[0]["status"], "Dead");
    assert_eq!(statuses(&list[0]), [Some(503); 3]);
    assert_eq!(list[0]["lastError"], "HTTP 503 Service Unavailable");
    let id = list[0]["id"].as_str().unwrap().to_owned();
    let (status, _) = http_json(
        "POST",
        &format!(
            "{}/v1/namespaces/payments/webhooksubscriptions/down/deliveries/{id}/retry",
            inst.admin_url
        ),
        &[],
        None,
    );
    assert_eq!(status, 202);
    let deadline = Instant::now() + Duration::from_secs(10);
    while sink.hits().len() < 4 {
        assert!(Instant::now() < deadline, "the replay never arrived");
        std::thread::sleep(Duration::from_millis(20));
    }
    let list = wait_finished(&inst, "down", 1, Duration::from_secs(10));
    assert_eq!(list[0]["status"], "Dead");
    assert_eq!(list[0]["attempts"], 4);
    // Filtering by status, and a retry of an unknown delivery is a 404.
    let (_, dead) = http_json(
        "GET",
        &format!(
            "{}/v1/namespaces/payments/webhooksubscriptions/down/deliveries?status=Dead",
            inst.admin_url
        ),
        &[],
        None,
    );
    assert_eq!(dead["items"].as_array().unwrap().len(), 1);
    let (status, _) = http_json(
        "POST",
        &format!(
            "{}/v1/namespaces/payments/webhooksubscriptions/down/deliveries/nope/retry",
            inst.admin_url
        ),
        &[],
        None,
    );
    assert_eq!(status, 404);
}

#[test]
fn gone_redirects_and_client_errors_are_not_retried() {
    let tmp = tempfile::tempdir().unwrap();
    let gone = Sink::always(410);
    let redirect = Sink::start(|_, _| {
        Reply::Status(
            302,
            vec![("location", "http://127.0.0.1:1/elsewhere".into())],
        )
    });
    let bad = Sink::always(400);
    let extra = r#"  signing: {scheme: None}
  retry: {schedule: ["100ms", "100ms"]}"#;
    let manifests = [
        subscription("gone", &gone.url, extra),
        subscription("moved", &redirect.url, extra),
        subscription("bad", &bad.url, extra),
    ]
    .concat();
    let inst = start_private(tmp.path(), &manifests);
    publish(&inst, "order.created", "o-1", json!({}));
    for (sub, code) in [("gone", 410), ("moved", 302), ("bad", 400)] {
        let list = wait_finished(&inst, sub, 1, Duration::from_secs(10));
        assert_eq!(list[0]["status"], "Failed", "{sub}");
        assert_eq!(statuses(&list[0]), [Some(code)], "{sub}: one attempt only");
    }
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(gone.hits().len(), 1);
    assert_eq!(redirect.hits().len(), 1, "the redirect is not followed");
    assert_eq!(bad.hits().len(), 1);
    wait_condition(&inst, "gone", "Healthy", "False", "Gone");
}

#[test]
fn timeouts_and_dropped_connections_are_retried_then_dead() {
    let tmp = tempfile::tempdir().unwrap();
    let slow = Sink::start(|_, _| Reply::Stall(Duration::from_secs(3)));
    let dropper = DropSink::start();
    let slow_extra = r#"  signing: {scheme: None}
  timeout: 300ms
  retry: {schedule: ["100ms"]}"#;
    let drop_extra = r#"  signing: {scheme: None}
  retry: {schedule: ["100ms"]}"#;
    let manifests = [
        subscription("slow", &slow.url, slow_extra),
        subscription("dropper", &dropper.url, drop_extra),
    ]
    .concat();
    let inst = start_private(tmp.path(), &manifests);
    publish(&inst, "order.created", "o-1", json!({}));
    let list = wait_finished(&inst, "slow", 1, Duration::from_secs(10));
    assert_eq!(list[0]["status"], "Dead");
    assert_eq!(statuses(&list[0]), [None, None]);
    for a in list[0]["attemptLog"].as_array().unwrap() {
        assert!(a["error"].as_str().unwrap().contains("timed out"), "{a}");
        assert!(a["duration_ms"].as_u64().unwrap() < 1500, "{a}");
    }
    let list = wait_finished(&inst, "dropper", 1, Duration::from_secs(10));
    assert_eq!(list[0]["status"], "Dead");
    assert_eq!(statuses(&list[0]), [None, None]);
    assert!(list[0]["lastError"].as_str().unwrap().len() > 5);
    assert_eq!(
        dropper.accepted.load(std::sync::atomic::Ordering::SeqCst),
        2
    );
}

/// A loopback port nothing listens on: bound, then released.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[test]
fn an_unreachable_subscriber_is_reported_with_the_root_cause_and_without_query_secrets() {
    let tmp = tempfile::tempdir().unwrap();
    let key = "query-api-key-123";
    let manifests = format!(
        r#"---
apiVersion: v1
kind: Secret
metadata: {{name: subscriber-key, namespace: payments, labels: {{switchboard.dev/usable: "true"}}}}
stringData:
  apiKey: {key}
{}"#,
        subscription(
            "unreachable",
            &format!("http://127.0.0.1:{}/hook", closed_port()),
            r#"  signing: {scheme: None}
  auth: {type: ApiKey, queryParam: api_key, secretRef: {name: subscriber-key}}
  retry: {schedule: ["100ms"]}"#,
        )
    );
    let inst = start_private(tmp.path(), &manifests);
    publish(&inst, "order.created", "o-1", json!({}));
    let list = wait_finished(&inst, "unreachable", 1, Duration::from_secs(10));
    assert_eq!(list[0]["status"], "Dead", "{}", list[0]);
    let attempts = list[0]["attemptLog"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{}", list[0]);
    for a in attempts {
        let error = a["error"].as_str().unwrap();
        assert!(
            error.to_ascii_lowercase().contains("connection refused"),
            "{a}"
        );
        assert!(!error.contains(key), "the query's API key leaked: {a}");
    }
    let last = list[0]["lastError"].as_str().unwrap();
    assert!(!last.contains(key), "{last}");
}

#[test]
fn retry_after_is_honoured_up_to_the_step() {
    let tmp = tempfile::tempdir().unwrap();
    let sink = Sink::start(|n, _| {
        if n == 0 {
            Reply::Status(429, vec![("retry-after", "1".into())])
        } else {
            Reply::Status(200, vec![])
        }
    });
    let extra = r#"  signing: {scheme: None}
  retry: {schedule: ["6s"]}"#;
    let inst = start_private(tmp.path(), &subscription("limited", &sink.url, extra));
    publish(&inst, "order.created", "o-1", json!({}));
    let list = wait_finished(&inst, "limited", 1, Duration::from_secs(10));
    assert_eq!(list[0]["status"], "Delivered");
    let g = gaps(&sink.hits());
    println!("429 Retry-After: 1 with a 6s step: measured gap {g:?}");
    assert!(
        g[0] >= Duration::from_millis(950) && g[0] < Duration::from_millis(2500),
        "{g:?}"
    );
}

#[test]
fn a_slow_subscriber_does_not_delay_another() {
    let tmp = tempfile::tempdir().unwrap();
    let slow = Sink::start(|_, _| Reply::Stall(Duration::from_secs(4)));
    let fast = Sink::always(200);
    let extra = r#"  signing: {scheme: None}
  timeout: 10s"#;
    let manifests = [
        subscription("slow", &slow.url, extra),
        subscription("fast", &fast.url, extra),
    ]
    .concat();
    let inst = start_private(tmp.path(), &manifests);
    let started = Instant::now();
    for i in 0..40 {
        publish(&inst, "order.created", &format!("o-{i}"), json!({"i": i}));
    }
    let hits = fast.wait_hits(40, Duration::from_secs(10));
    let took = started.elapsed();
    println!("fast subscriber got 40 events in {took:?} while the slow one stalls");
    assert_eq!(hits.len(), 40);
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert!(
        slow.hits().len() <= 16,
        "the slow one is bounded by its concurrency"
    );
}

#[test]
fn a_backlog_beyond_the_hand_off_drains_without_waiting_for_the_poll() {
    // With the poll an hour away, only the dispatcher's own wake-ups (a publish, a finished
    // attempt) can drain the deliveries that wait in the store: at concurrency 1 a
    // subscription takes at most 8 fresh deliveries in memory. (The dispatcher's lost wake-up,
    // an attempt finishing while a claim query runs, is a race this does not reproduce
    // reliably; the delivery benchmark's BENCH_TRACE showed it.)
    let tmp = tempfile::tempdir().unwrap();
    let sinks: Vec<Sink> = (0..3)
        .map(|_| Sink::start(|_, _| Reply::Stall(Duration::from_millis(5))))
        .collect();
    let mut manifests: String = sinks
        .iter()
        .enumerate()
        .map(|(i, sink)| subscription(&format!("s{i}"), &sink.url, "  signing: {scheme: None}"))
        .collect();
    // One that nothing matches is never busy, so while the others are, every wake-up claims.
    manifests.push_str(
        &subscription("idle", &sinks[0].url, "  signing: {scheme: None}").replace(
            r#"eventTypes: ["order.*", "switchboard.test"]"#,
            r#"eventTypes: ["never.*"]"#,
        ),
    );
    let flags = [
        "--allow-private-destinations",
        "--delivery-poll",
        "1h",
        "--subscription-concurrency",
        "1",
    ];
    let inst = start(tmp.path(), &manifests, &flags);
    for i in 0..60 {
        publish(&inst, "order.created", &format!("o-{i}"), json!({"i": i}));
    }
    for (i, sink) in sinks.iter().enumerate() {
        let hits = sink.wait_hits(60, Duration::from_secs(30));
        assert_eq!(
            hits.len(),
            60,
            "subscription s{i}\nlog:\n{}",
            inst.log_text()
        );
    }
}

#[test]
fn a_suspended_subscription_holds_its_deliveries_until_resumed() {
    let tmp = tempfile::tempdir().unwrap();
    let held = Sink::always(200);
    let other = Sink::always(200);
    let extra = "  signing: {scheme: None}";
    let manifests = |suspend: bool| {
        [
            subscription("held", &held.url, &format!("{extra}\n  suspend: {suspend}")),
            subscription("other", &other.url, extra),
        ]
        .concat()
    };
    let inst = start_private(tmp.path(), &manifests(true));
    for i in 0..3 {
        publish(&inst, "order.created", &format!("h-{i}"), json!({"i": i}));
    }
    // The same events reached the other subscription, so the held ones had every chance.
    assert_eq!(other.wait_hits(3, Duration::from_secs(10)).len(), 3);
    let queued = deliveries(&inst, "held");
    assert_eq!(
        queued.len(),
        3,
        "suspended deliveries are queued: {queued:?}"
    );
    assert!(
        queued.iter().all(|d| d["status"] == "Pending"),
        "{queued:?}"
    );
    assert!(held.hits().is_empty(), "nothing is sent while suspended");

    let file = tmp.path().join("manifests/base.yaml");
    std::fs::write(&file, format!("{BASE}\n{}", manifests(false))).unwrap();
    assert_eq!(held.wait_hits(3, Duration::from_secs(15)).len(), 3);
    let done = wait_finished(&inst, "held", 3, Duration::from_secs(10));
    assert!(done.iter().all(|d| d["status"] == "Delivered"), "{done:?}");
}

#[test]
fn the_circuit_breaker_opens_then_recovers_and_nothing_is_dropped() {
    let tmp = tempfile::tempdir().unwrap();
    let sink = Sink::start(|n, _| Reply::Status(if n < 3 { 500 } else { 200 }, vec![]));
    let extra = r#"  signing: {scheme: None}
  retry: {schedule: ["50ms", "50ms", "50ms", "50ms", "50ms"]}
  circuitBreaker: {failureThreshold: 3, openDuration: 1500ms}"#;
    let inst = start(
        tmp.path(),
        &subscription("breaker", &sink.url, extra),
        &[
            "--allow-private-destinations",
            "--subscription-concurrency",
            "1",
        ],
    );
    publish(&inst, "order.created", "o-1", json!({}));
    wait_condition(&inst, "breaker", "Healthy", "False", "CircuitOpen");
    publish(&inst, "order.created", "o-2", json!({}));
    let list = wait_finished(&inst, "breaker", 2, Duration::from_secs(15));
    assert!(list.iter().all(|d| d["status"] == "Delivered"), "{list:?}");
    wait_condition(&inst, "breaker", "Healthy", "True", "Delivering");
    let hits = sink.hits();
    let g = gaps(&hits);
    println!("breaker (threshold 3, open 1500ms): gaps {g:?}");
    // Third failure opens it; the probe waits the open duration.
    assert!(g[2] >= Duration::from_millis(1400), "{g:?}");
    assert_eq!(
        hits.len(),
        5,
        "three failures, the probe, then the second event"
    );
    let metrics = support::http("GET", &format!("{}/metrics", inst.admin_url), &[], None)
        .unwrap()
        .1;
    let metrics = String::from_utf8(metrics).unwrap();
    let target = r#"namespace="payments",kind="subscription",name="breaker""#;
    for line in [
        format!("switchboard_delivery_attempts_total{{{target},outcome=\"retry\"}} 3"),
        format!("switchboard_delivery_attempts_total{{{target},outcome=\"delivered\"}} 2"),
        format!("switchboard_delivery_circuit_opened_total{{{target}}} 1"),
        "switchboard_delivery_attempt_seconds_count 5".to_owned(),
    ] {
        assert!(metrics.contains(&line), "{line} missing in\n{metrics}");
    }
}

#[test]
fn the_ssrf_guard_refuses_loopback_without_the_flag() {
    let tmp = tempfile::tempdir().unwrap();
    let sink = Sink::always(200);
    let port = sink
        .url
        .trim_start_matches("http://127.0.0.1:")
        .trim_end_matches("/hook");
    // A name resolved at connect time: this machine's own host name (loopback or private).
    // ("localhost" itself is refused when the subscription is built: it always is loopback.)
    let host = std::fs::read_to_string("/etc/hostname")
        .unwrap_or_default()
        .trim()
        .to_owned();
    let resolved: Vec<std::net::SocketAddr> =
        std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), 80))
            .map(|a| a.collect())
            .unwrap_or_default();
    let check_name = !host.is_empty()
        && !resolved.is_empty()
        && resolved.iter().all(|a| {
            let ip = a.ip();
            ip.is_loopback() || matches!(ip, std::net::IpAddr::V4(v4) if v4.is_private())
        });
    if !check_name {
        println!(
            "host name {host:?} does not resolve to loopback/private ({resolved:?}); only the literal case runs"
        );
    }
    let by_name = format!("http://{host}:{port}/hook");
    let extra = r#"  signing: {scheme: None}
  retry: {schedule: ["100ms"]}"#;
    let mut manifests = subscription("literal", &sink.url, extra);
    if check_name {
        manifests.push_str(&subscription("named", &by_name, extra));
    }
    let inst = start(tmp.path(), &manifests, &[]);
    let (ready, message) = inst
        .ready("webhooksubscriptions", "payments", "literal")
        .unwrap();
    assert_eq!(ready, "False");
    assert!(message.contains("SSRF guard"), "{message}");
    publish(&inst, "order.created", "o-1", json!({}));
    if check_name {
        let list = wait_finished(&inst, "named", 1, Duration::from_secs(10));
        assert_eq!(list[0]["status"], "Failed", "a refused name is not retried");
        let error = list[0]["lastError"].as_str().unwrap();
        println!("refused at connect time: {error}");
        assert!(
            error.contains("SSRF guard") && error.contains(&host),
            "{error}"
        );
        wait_condition(&inst, "named", "Ready", "False", "DestinationRefused");
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(sink.hits().is_empty(), "nothing reached the loopback sink");
    assert!(deliveries(&inst, "literal").is_empty());
}

#[test]
fn filters_and_transformations_shape_what_is_delivered() {
    let tmp = tempfile::tempdir().unwrap();
    let sink = Sink::always(200);
    let broken = Sink::always(200);
    let costly = Sink::always(200);
    let manifests = format!(
        r#"{}{}{}---
apiVersion: switchboard.dev/v1alpha1
kind: Transformation
metadata: {{name: summary, namespace: payments}}
spec:
  jq: '{{summary: "order \(.id) of \(.amount)"}}'
---
apiVersion: switchboard.dev/v1alpha1
kind: Transformation
metadata: {{name: count-big, namespace: payments}}
spec:
  jq: '{{n: ([range(50000)] | length), id: .id}}'
---
apiVersion: switchboard.dev/v1alpha1
kind: Transformation
metadata: {{name: boom, namespace: payments}}
spec:
  jq: 'error("boom")'
"#,
        subscription(
            "big-orders",
            &sink.url,
            r#"  signing: {scheme: None}
  filter: .data.amount > 100
  transformationRef: {name: summary}"#
        ),
        subscription(
            "broken",
            &broken.url,
            r#"  signing: {scheme: None}
  filter: .data.amount.nope
  transformationRef: {name: boom}"#
        ),
        // Too costly for the inline cap: matched again on a blocking thread.
        subscription(
            "costly",
            &costly.url,
            r#"  signing: {scheme: None}
  filter: ([range(50000)] | length) == 50000 and .data.amount > 100
  transformationRef: {name: count-big}"#
        ),
    );
    let inst = start_private(tmp.path(), &manifests);
    publish(
        &inst,
        "order.created",
        "small",
        json!({"id": "small", "amount": 5}),
    );
    publish(
        &inst,
        "order.created",
        "big",
        json!({"id": "big", "amount": 500}),
    );
    publish(&inst, "other.thing", "x", json!({"amount": 1000}));
    let list = wait_finished(&inst, "big-orders", 1, Duration::from_secs(10));
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["eventId"], "big");
    let hits = sink.wait_hits(1, Duration::from_secs(5));
    let body: Value = serde_json::from_slice(&hits[0].body).unwrap();
    assert_eq!(body["data"], json!({"summary": "order big of 500"}));
    let costly_list = wait_finished(&inst, "costly", 1, Duration::from_secs(10));
    assert_eq!(costly_list.len(), 1);
    assert_eq!(costly_list[0]["eventId"], "big");
    let hit = costly.wait_hits(1, Duration::from_secs(5));
    let body: Value = serde_json::from_slice(&hit[0].body).unwrap();
    assert_eq!(body["data"], json!({"n": 50000, "id": "big"}));
    // A filter error is no match (and counted); the broken subscription got nothing from it.
    // The costly filter's stop at the inline cap is not an error (the count stays 2).
    assert!(deliveries(&inst, "broken").is_empty());
    let metrics = support::http("GET", &format!("{}/metrics", inst.admin_url), &[], None)
        .unwrap()
        .1;
    let metrics = String::from_utf8(metrics).unwrap();
    assert!(
        metrics.contains("switchboard_filter_errors_total{namespace=\"payments\"} 2"),
        "{metrics}"
    );
    // A transformation error fails the delivery without retry (admin test event, no filter).
    let (status, _) = http_json(
        "POST",
        &format!(
            "{}/v1/namespaces/payments/webhooksubscriptions/broken/test",
            inst.admin_url
        ),
        &[],
        None,
    );
    assert_eq!(status, 202);
    let list = wait_finished(&inst, "broken", 1, Duration::from_secs(10));
    assert_eq!(list[0]["status"], "Failed");
    assert_eq!(list[0]["attempts"], 1);
    assert!(
        list[0]["lastError"]
            .as_str()
            .unwrap()
            .contains("transformation failed")
    );
    assert!(broken.hits().is_empty());
}

#[test]
fn a_generated_secret_is_kept_and_the_test_event_and_cli_work() {
    let tmp = tempfile::tempdir().unwrap();
    let sink = Sink::always(200);
    let manifests = subscription("generated", &sink.url, "");
    let mut inst = start_private(tmp.path(), &manifests);
    let file = tmp.path().join("data/signing-secrets/payments/generated");
    let secret = std::fs::read_to_string(&file).unwrap();
    assert!(secret.starts_with("whsec_"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let st = subscription_status(&inst, "generated");
    assert_eq!(st["signingSecretRef"]["name"], "generated-signing");
    assert!(
        st["signingSecretFile"]
            .as_str()
            .unwrap()
            .ends_with("payments/generated")
    );
    let (status, answer) = http_json(
        "POST",
        &format!(
            "{}/v1/namespaces/payments/webhooksubscriptions/generated/test",
            inst.admin_url
        ),
        &[],
        None,
    );
    assert_eq!(status, 202, "{answer}");
    let hits = sink.wait_hits(1, Duration::from_secs(10));
    assert!(verifies(&hits[0], &secret));
    let body: Value = serde_json::from_slice(&hits[0].body).unwrap();
    assert_eq!(body["type"], "switchboard.test");
    wait_finished(&inst, "generated", 1, Duration::from_secs(10));

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args([
            "deliveries",
            "generated",
            "-n",
            "payments",
            "--status",
            "Delivered",
            "--admin",
        ])
        .arg(&inst.admin_url)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    println!("{text}");
    assert!(out.status.success());
    assert!(
        text.contains("switchboard.test") && text.contains("Delivered"),
        "{text}"
    );

    // A restart keeps the same secret.
    inst.kill9();
    let inst = start_private(tmp.path(), &manifests);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), secret);
    publish(&inst, "order.created", "o-1", json!({}));
    let hits = sink.wait_hits(2, Duration::from_secs(10));
    assert!(verifies(&hits[1], &secret));
}
