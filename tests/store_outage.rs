//! A PostgreSQL outage seen by two `switchboard run` processes sharing the store: the server
//! is paused (SIGSTOP, so connections hang instead of failing) for a few seconds under publish
//! load. Both answer `/readyz` 503 with the reason during it and 200 after; publishes are
//! answered 503 with `Retry-After` within a second; nothing acknowledged is lost; and every
//! stored event is delivered within seconds of the server coming back.

mod support;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::sink::Sink;
use support::{Instance, http, postgres};

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

/// How long the server stays paused.
const OUTAGE: Duration = Duration::from_secs(5);
/// Publishing clients.
const CLIENTS: usize = 8;

/// One publish and its answer.
#[derive(Clone, Debug)]
struct Sent {
    id: String,
    started: Instant,
    took: Duration,
    /// None: no answer (the client gave up after its timeout).
    status: Option<u16>,
    retry_after: bool,
}

fn readyz(inst: &Instance) -> (u16, Value) {
    match http("GET", &format!("{}/readyz", inst.admin_url), &[], None) {
        Ok((status, body)) => (status, serde_json::from_slice(&body).unwrap_or(Value::Null)),
        Err(e) => panic!("/readyz: {e}"),
    }
}

/// The event ids the sink received (each event's data holds its id).
fn delivered_ids(sink: &Sink) -> Vec<String> {
    sink.hits()
        .iter()
        .filter(|h| h.status == 200)
        .filter_map(|h| {
            let body: Value = serde_json::from_slice(&h.body).ok()?;
            body["data"]["id"].as_str().map(str::to_owned)
        })
        .collect()
}

#[test]
fn a_paused_postgres_makes_both_processes_unready_and_loses_nothing() {
    support::init_tls();
    let Some(server) = postgres::server_url() else {
        return;
    };
    let Some(postmaster) = postgres::postmaster(&server) else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "the test server is not scripts/postgres-test.sh's for this checkout"
        );
        eprintln!("skipped: the test server's postmaster is not under target/pg");
        return;
    };
    let url = postgres::fresh_database(&server, "store_outage");
    let tmp = tempfile::tempdir().unwrap();
    let sink = Sink::always(200);
    let dir = tmp.path().join("manifests");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("m.yaml"), MANIFESTS.replace("SINK_URL", &sink.url)).unwrap();
    let flags = ["--store", url.as_str(), "--allow-private-destinations"];
    let a = Instance::start(&dir, &tmp.path().join("a"), &flags);
    let b = Instance::start(&dir, &tmp.path().join("b"), &flags);
    for inst in [&a, &b] {
        assert_eq!(readyz(inst).0, 200);
    }

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let sent = Arc::new(Mutex::new(Vec::<Sent>::new()));
    let stop = tokio_util::sync::CancellationToken::new();
    let urls = [&a, &b].map(|i| format!("{}/v1/namespaces/payments/events", i.data_url));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (sent, stop, urls) = (sent.clone(), stop.clone(), urls.clone());
            rt.spawn(async move {
                let client = reqwest::Client::builder()
                    .timeout(Duration::from_secs(8))
                    .build()
                    .unwrap();
                for i in 0.. {
                    if stop.is_cancelled() {
                        return;
                    }
                    let id = format!("c{c}-{i}");
                    let body =
                        format!(r#"{{"type":"order.created","id":"{id}","data":{{"id":"{id}"}}}}"#);
                    let started = Instant::now();
                    let answer = client
                        .post(&urls[i % 2])
                        .header("authorization", "Bearer test-publisher-token")
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .await;
                    let (status, retry_after) = match &answer {
                        Ok(r) => (
                            Some(r.status().as_u16()),
                            r.headers().contains_key("retry-after"),
                        ),
                        Err(_) => (None, false),
                    };
                    sent.lock().unwrap().push(Sent {
                        id,
                        started,
                        took: started.elapsed(),
                        status,
                        retry_after,
                    });
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
        })
        .collect();

    std::thread::sleep(Duration::from_secs(1));
    let paused_at = Instant::now();
    let paused = postgres::pause(postmaster);
    // Both processes see the outage on /readyz within a couple of probes.
    let mut unready = [None, None];
    while paused_at.elapsed() < OUTAGE {
        for (n, inst) in [&a, &b].into_iter().enumerate() {
            let (status, body) = readyz(inst);
            if status == 503 && unready[n].is_none() {
                let message = body["error"]["message"].as_str().unwrap_or_default();
                assert_eq!(body["error"]["code"], "store_unavailable", "{body}");
                assert!(message.contains("store"), "{message}");
                unready[n] = Some(paused_at.elapsed());
            }
            if let Some(at) = unready[n] {
                assert_eq!(status, 503, "{n}: ready again during the outage, {at:?} in");
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let resumed_at = Instant::now();
    paused.resume();
    println!("outage seen by /readyz after {unready:?}");
    for (n, seen) in unready.iter().enumerate() {
        let seen = seen.unwrap_or_else(|| panic!("process {n} stayed ready throughout"));
        assert!(seen < Duration::from_secs(3), "process {n}: {seen:?}");
    }
    let mut ready_again = [None, None];
    while ready_again.iter().any(Option::is_none) {
        assert!(
            resumed_at.elapsed() < Duration::from_secs(10),
            "not ready after the outage: {ready_again:?}"
        );
        for (n, inst) in [&a, &b].into_iter().enumerate() {
            if ready_again[n].is_none() && readyz(inst).0 == 200 {
                ready_again[n] = Some(resumed_at.elapsed());
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    println!("ready again after {ready_again:?}");
    std::thread::sleep(Duration::from_secs(1));
    stop.cancel();
    for c in clients {
        rt.block_on(c).unwrap();
    }
    let sent = sent.lock().unwrap().clone();

    // During the outage (from two seconds in, once the probes have surely seen it): 503 at
    // once.
    let during: Vec<&Sent> = sent
        .iter()
        .filter(|s| s.started >= paused_at + Duration::from_secs(2) && s.started < resumed_at)
        .collect();
    assert!(
        during.len() > 20,
        "publishes during the outage: {}",
        during.len()
    );
    for s in &during {
        assert_eq!(s.status, Some(503), "{s:?}");
        assert!(s.retry_after, "503 without Retry-After: {s:?}");
        assert!(s.took < Duration::from_secs(1), "{s:?}");
    }
    // Those in flight when it began were answered within a second or so as well.
    let slowest = sent
        .iter()
        .filter(|s| s.started < resumed_at)
        .map(|s| s.took)
        .max()
        .unwrap();
    println!(
        "{} publishes, {} during the outage; slowest answer before the server came back: {slowest:?}",
        sent.len(),
        during.len()
    );
    assert!(slowest < Duration::from_secs(4), "{slowest:?}");

    // Nothing acknowledged is lost, and everything stored is delivered within seconds.
    let acked: BTreeSet<String> = sent
        .iter()
        .filter(|s| s.status == Some(202))
        .map(|s| s.id.clone())
        .collect();
    let unanswered = sent.iter().filter(|s| s.status != Some(202)).count();
    assert!(acked.len() > 50, "acknowledged: {}", acked.len());
    let deadline = Instant::now() + Duration::from_secs(20);
    let delivered = loop {
        let delivered: BTreeSet<String> = delivered_ids(&sink).into_iter().collect();
        if acked.is_subset(&delivered) {
            break delivered;
        }
        assert!(
            Instant::now() < deadline,
            "{} acknowledged events not delivered 20 s after the outage, e.g. {:?}\nA:\n{}\nB:\n{}",
            acked.difference(&delivered).count(),
            acked.difference(&delivered).take(5).collect::<Vec<_>>(),
            a.log_text(),
            b.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    // Events committed after their client was answered 503 (or gave up) are delivered too:
    // the hand-off does not depend on the request.
    let stored = postgres::event_ids(&url);
    let undelivered: Vec<&String> = stored.difference(&delivered).collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !undelivered.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        let delivered: BTreeSet<String> = delivered_ids(&sink).into_iter().collect();
        if stored.is_subset(&delivered) {
            break;
        }
    }
    let delivered: BTreeSet<String> = delivered_ids(&sink).into_iter().collect();
    let undelivered: Vec<&String> = stored.difference(&delivered).collect();
    assert!(
        undelivered.is_empty(),
        "stored but never delivered: {undelivered:?}"
    );
    let stored_anyway = stored.difference(&acked).count();
    println!(
        "{} acknowledged, all delivered {:?} after the outage; {unanswered} refused or unanswered, of which {stored_anyway} were stored (committed after the answer) and delivered too",
        acked.len(),
        resumed_at.elapsed()
    );
}
