//! Leases are renewed while a delivery is held: with two processes on one PostgreSQL store and
//! a lease much shorter than the subscriber takes to answer, the other process never claims
//! the slow delivery, so the subscriber gets it once.

mod support;

use std::time::Duration;

use support::sink::{Reply, Sink};
use support::{Instance, http_json, postgres};

const MANIFESTS: &str = concat!(
    support::payments_publisher!(),
    r#"apiVersion: switchboard.dev/v1alpha1
kind: WebhookSubscription
metadata: {name: slow, namespace: payments}
spec:
  url: SINK_URL
  eventTypes: ["*"]
  timeout: 20s
  signing: {scheme: None}
"#
);

/// The lease: far shorter than the subscriber's answer.
const LEASE: &str = "1s";
/// How long the subscriber takes to answer.
const SLOW: Duration = Duration::from_secs(5);

#[test]
fn a_delivery_slower_than_its_lease_is_not_taken_by_another_process() {
    support::init_tls();
    let Some(server) = postgres::server_url() else {
        return;
    };
    let url = postgres::fresh_database(&server, "lease_renewal");
    let tmp = tempfile::tempdir().unwrap();
    let sink = Sink::start(|_, _| Reply::Stall(SLOW));
    let dir = tmp.path().join("manifests");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("m.yaml"), MANIFESTS.replace("SINK_URL", &sink.url)).unwrap();
    let flags = [
        "--store",
        url.as_str(),
        "--allow-private-destinations",
        "--delivery-lease",
        LEASE,
        "--delivery-poll",
        "100ms",
    ];
    let a = Instance::start(&dir, &tmp.path().join("a"), &flags);
    let b = Instance::start(&dir, &tmp.path().join("b"), &flags);

    let body = r#"{"type":"order.created","id":"slow-1","data":{}}"#;
    let (status, answer) = http_json(
        "POST",
        &format!("{}/v1/namespaces/payments/events", a.data_url),
        &[
            ("authorization", "Bearer test-publisher-token"),
            ("content-type", "application/json"),
        ],
        Some(body.as_bytes()),
    );
    assert_eq!(status, 202, "{answer}");
    assert_eq!(sink.wait_hits(1, Duration::from_secs(10)).len(), 1);
    // Five leases pass while the subscriber answers, and a little more.
    std::thread::sleep(SLOW + Duration::from_secs(2));
    let hits = sink.hits();
    assert_eq!(
        hits.len(),
        1,
        "the slow delivery was attempted again by a process that took it over\nA:\n{}\nB:\n{}",
        a.log_text(),
        b.log_text()
    );
}
