//! Twenty `kill -9`s under publish load with the default settings (the default lease; SQLite
//! in the data directory): after each restart the process takes back what the killed one had
//! claimed, so no acknowledged event is lost and every one is delivered within seconds of the
//! last restart, not a lease later. Prints the duplicates (events the sink answered 2xx more
//! than once: a kill between the subscriber's answer and its record) and the worst delay.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::Instance;
use support::sink::Sink;

const MANIFESTS: &str = concat!(
    support::payments_publisher!(),
    r#"apiVersion: switchboard.dev/v1alpha1
kind: WebhookSubscription
metadata: {name: everything, namespace: payments}
spec:
  url: SINK_URL
  eventTypes: ["*"]
  signing: {scheme: None}
"#
);

const CYCLES: usize = 20;
/// Publishing clients.
const CLIENTS: usize = 8;
/// How long each process runs under load before it is killed.
const RUN_FOR: Duration = Duration::from_millis(1500);
/// The bound the issue asks for: delivered within this long of the last restart.
const DELIVERED_WITHIN: Duration = Duration::from_secs(30);

#[test]
fn twenty_kill_9s_lose_nothing_and_deliver_within_seconds_of_the_last_restart() {
    support::init_tls();
    let tmp = tempfile::tempdir().unwrap();
    // A subscriber that takes a little time, so attempts are in flight at each kill.
    let sink = Sink::start(|_, _| support::sink::Reply::Status(200, vec![]));
    let dir = tmp.path().join("manifests");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("m.yaml"), MANIFESTS.replace("SINK_URL", &sink.url)).unwrap();
    let data = tmp.path().join("data");
    let flags = ["--allow-private-destinations"];
    let mut inst = Instance::start(&dir, &data, &flags);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let target = Arc::new(Mutex::new(events_url(&inst)));
    let acked = Arc::new(Mutex::new(BTreeMap::<String, Instant>::new()));
    let stop = tokio_util::sync::CancellationToken::new();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (target, acked, stop) = (target.clone(), acked.clone(), stop.clone());
            rt.spawn(async move {
                let client = reqwest::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .unwrap();
                for i in 0.. {
                    if stop.is_cancelled() {
                        return;
                    }
                    let id = format!("c{c}-{i}");
                    let url = target.lock().unwrap().clone();
                    let body =
                        format!(r#"{{"type":"order.created","id":"{id}","data":{{"id":"{id}"}}}}"#);
                    let answer = client
                        .post(url)
                        .header("authorization", "Bearer test-publisher-token")
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .await;
                    match answer {
                        Ok(r) if r.status() == 202 => {
                            acked.lock().unwrap().insert(id, Instant::now());
                        }
                        // Killed mid-request, or not listening yet: try again shortly.
                        _ => tokio::time::sleep(Duration::from_millis(50)).await,
                    }
                }
            })
        })
        .collect();

    let mut last_restart = Instant::now();
    for cycle in 0..CYCLES {
        std::thread::sleep(RUN_FOR);
        inst.kill9();
        inst = Instance::start(&dir, &data, &flags);
        last_restart = Instant::now();
        *target.lock().unwrap() = events_url(&inst);
        if cycle == 0 {
            assert!(!acked.lock().unwrap().is_empty(), "the load publishes");
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    stop.cancel();
    for c in clients {
        rt.block_on(c).unwrap();
    }
    let acked = acked.lock().unwrap().clone();

    let deadline = last_restart + DELIVERED_WITHIN;
    let first_delivery = loop {
        let first = first_deliveries(&sink);
        let missing: Vec<&String> = acked.keys().filter(|id| !first.contains_key(*id)).collect();
        if missing.is_empty() {
            break first;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} acknowledged events not delivered {DELIVERED_WITHIN:?} after the last restart, e.g. {:?}; log:\n{}",
            missing.len(),
            acked.len(),
            &missing[..missing.len().min(5)],
            inst.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let all_delivered_after = last_restart.elapsed();

    let oks: Vec<String> = ok_ids(&sink);
    let distinct: BTreeSet<&String> = oks.iter().collect();
    let duplicates = oks.len() - distinct.len();
    let max_delay = acked
        .iter()
        .map(|(id, at)| first_delivery[id].saturating_duration_since(*at))
        .max()
        .unwrap_or_default();
    println!(
        "crash cycles: {CYCLES} kill -9s, {} events acknowledged, 0 lost; {} subscriber 2xx for {} events: {duplicates} duplicates; slowest first delivery {max_delay:?} after its 202; all delivered {all_delivered_after:?} after the last restart",
        acked.len(),
        oks.len(),
        distinct.len()
    );
    assert!(acked.len() > 200, "acknowledged: {}", acked.len());
}

fn events_url(inst: &Instance) -> String {
    format!("{}/v1/namespaces/payments/events", inst.data_url)
}

/// The event id of every request the sink answered 2xx.
fn ok_ids(sink: &Sink) -> Vec<String> {
    sink.hits()
        .iter()
        .filter(|h| h.status == 200)
        .filter_map(|h| {
            let body: Value = serde_json::from_slice(&h.body).ok()?;
            body["data"]["id"].as_str().map(str::to_owned)
        })
        .collect()
}

/// When each event first reached the sink.
fn first_deliveries(sink: &Sink) -> BTreeMap<String, Instant> {
    let mut first = BTreeMap::new();
    for h in sink.hits().iter().filter(|h| h.status == 200) {
        let Ok(body) = serde_json::from_slice::<Value>(&h.body) else {
            continue;
        };
        if let Some(id) = body["data"]["id"].as_str() {
            first.entry(id.to_owned()).or_insert(h.at);
        }
    }
    first
}
