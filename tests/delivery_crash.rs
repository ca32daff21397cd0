//! `kill -9` during a retry storm against a flapping sink: after a restart every event ends
//! Delivered or Dead, none is missing, and none is sent again after a recorded success.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::sink::{Reply, Sink};
use support::{Instance, http_json};

const MANIFESTS: &str = concat!(
    support::payments_publisher!(),
    r#"apiVersion: switchboard.dev/v1alpha1
kind: WebhookSubscription
metadata: {name: flapping, namespace: payments}
spec:
  url: SINK_URL
  eventTypes: ["*"]
  retry: {schedule: ["100ms", "200ms", "300ms", "400ms", "500ms"]}
  circuitBreaker: {failureThreshold: 1000}
"#
);

const EVENTS: usize = 300;

fn all_deliveries(inst: &Instance) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after = String::new();
    loop {
        let (status, page) = http_json(
            "GET",
            &format!(
                "{}/v1/namespaces/payments/webhooksubscriptions/flapping/deliveries?limit=500&after={after}",
                inst.admin_url
            ),
            &[],
            None,
        );
        assert_eq!(status, 200);
        let items = page["items"].as_array().cloned().unwrap_or_default();
        out.extend(items);
        match page["next"].as_str() {
            Some(next) => after = next.to_owned(),
            None => return out,
        }
    }
}

#[test]
fn kill_9_during_a_retry_storm_loses_nothing_and_repeats_no_recorded_success() {
    let tmp = tempfile::tempdir().unwrap();
    let started = Instant::now();
    // Fails in alternate 250 ms windows.
    let sink = Sink::start(move |_, _| {
        let window = started.elapsed().as_millis() / 250;
        Reply::Status(if window.is_multiple_of(2) { 503 } else { 200 }, vec![])
    });
    let dir = tmp.path().join("manifests");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("m.yaml"), MANIFESTS.replace("SINK_URL", &sink.url)).unwrap();
    let data = tmp.path().join("data");
    let flags = ["--allow-private-destinations", "--delivery-lease", "2s"];
    let mut inst = Instance::start(&dir, &data, &flags);

    let mut acked = BTreeSet::new();
    for i in 0..EVENTS {
        let id = format!("e-{i}");
        let body = json!({"type": "order.created", "id": id, "data": {"i": i}}).to_string();
        let (status, _) = http_json(
            "POST",
            &format!("{}/v1/namespaces/payments/events", inst.data_url),
            &[("authorization", "Bearer test-publisher-token")],
            Some(body.as_bytes()),
        );
        if status == 202 {
            acked.insert(id);
        }
    }
    std::thread::sleep(Duration::from_millis(600));
    let before_kill = sink.hits().len();
    inst.kill9();
    println!("killed after {before_kill} requests to the sink");
    assert!(before_kill > 0);

    let inst = Instance::start(&dir, &data, &flags);
    let deadline = Instant::now() + Duration::from_secs(60);
    let list = loop {
        let list = all_deliveries(&inst);
        let done = list.len() >= acked.len()
            && list
                .iter()
                .all(|d| matches!(d["status"].as_str(), Some("Delivered" | "Dead")));
        if done {
            break list;
        }
        assert!(
            Instant::now() < deadline,
            "deliveries never finished:\n{}",
            inst.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let events: BTreeSet<String> = list
        .iter()
        .map(|d| d["eventId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        events, acked,
        "every acknowledged event has its delivery, none missing"
    );
    assert_eq!(list.len(), acked.len(), "one delivery per event");

    let hits = sink.hits();
    let mut by_id: BTreeMap<String, Vec<&support::sink::Hit>> = BTreeMap::new();
    for h in &hits {
        by_id.entry(h.header("webhook-id")).or_default().push(h);
    }
    let (mut delivered, mut dead, mut resent_after_unrecorded) = (0, 0, 0);
    for d in &list {
        // One delivery per event: its requests carry the event's id as webhook-id.
        let id = d["eventId"].as_str().unwrap();
        let mine = by_id.get(id).cloned().unwrap_or_default();
        match d["status"].as_str().unwrap() {
            "Delivered" => {
                delivered += 1;
                let log = d["attemptLog"].as_array().unwrap();
                let success = log.last().unwrap();
                assert!(success["response_status"].as_u64().unwrap() / 100 == 2);
                let recorded_at: chrono::DateTime<chrono::Utc> =
                    success["started_at"].as_str().unwrap().parse().unwrap();
                let recorded_end = recorded_at
                    + chrono::Duration::milliseconds(success["duration_ms"].as_i64().unwrap() + 50);
                let after: Vec<_> = mine.iter().filter(|h| h.wall > recorded_end).collect();
                assert!(
                    after.is_empty(),
                    "{id} was sent again after its recorded success"
                );
                let oks = mine.iter().filter(|h| h.status == 200).count();
                assert!(oks >= 1, "{id}: the sink never answered 200");
                if oks > 1 {
                    resent_after_unrecorded += 1;
                }
            }
            "Dead" => dead += 1,
            other => panic!("{id} ended {other}"),
        }
    }
    println!(
        "{} events: {delivered} Delivered, {dead} Dead; {} sink requests; {resent_after_unrecorded} sent twice because kill -9 hit between the 2xx and its record",
        acked.len(),
        hits.len()
    );
}
