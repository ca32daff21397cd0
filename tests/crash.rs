//! Acknowledged work survives `kill -9`: while clients publish concurrently, the process is
//! killed; after a restart on the same data directory every event that got a 202 is stored.

mod support;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::{Instance, copy_examples};
use switchboard::store::{Target, TargetKind};

/// The examples' outbound URLs point at a closed loopback port (see `copy_examples`).
const OFFLINE: &[&str] = &["--allow-private-destinations"];

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

#[test]
fn every_acknowledged_event_survives_kill_9() {
    let tmp = tempfile::tempdir().unwrap();
    let manifests = copy_examples(&tmp.path().join("manifests"));
    std::fs::write(manifests.join("90-everything.yaml"), EVERYTHING).unwrap();
    let data_dir = tmp.path().join("data");
    let mut inst = Instance::start(&manifests, &data_dir, OFFLINE);

    support::init_tls();
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let attempted = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let url = format!("{}/v1/namespaces/payments/events", inst.data_url);
    let clients: Vec<_> = (0..32)
        .map(|c| {
            let (acked, attempted, url) = (acked.clone(), attempted.clone(), url.clone());
            rt.spawn(async move {
                let client = reqwest::Client::new();
                for i in 0.. {
                    let id = format!("c{c}-{i}");
                    attempted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let body = format!(
                        r#"{{"type":"load.test","id":"{id}","data":{{"pad":"{}"}}}}"#,
                        "x".repeat(512)
                    );
                    let sent = client
                        .post(&url)
                        .header("authorization", "Bearer dev-publisher-token-change-me")
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .await;
                    match sent {
                        Ok(r) if r.status() == 202 => {
                            acked.lock().unwrap().insert(id);
                        }
                        Ok(r) => panic!("unexpected answer {}", r.status()),
                        Err(_) => return, // the server is gone
                    }
                }
            })
        })
        .collect();

    // Let the load run, then kill the process without warning.
    std::thread::sleep(Duration::from_millis(1500));
    inst.kill9();
    for c in clients {
        let _ = rt.block_on(c);
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 100,
        "the load produced acknowledged events ({})",
        acked.len()
    );

    // Restart on the same data directory, then read back what is stored.
    let inst = Instance::start(&manifests, &data_dir, OFFLINE);
    let target = Target {
        namespace: "payments".into(),
        kind: TargetKind::Subscription,
        name: "everything".into(),
    };
    // Read beside the running process (which holds the store's lock).
    let stored: BTreeSet<String> = support::stored_deliveries(&data_dir, &target)
        .into_iter()
        .map(|d| d.event_id)
        .collect();
    let missing: Vec<_> = acked.difference(&stored).collect();
    eprintln!(
        "crash test: {} requests sent, {} acknowledged with 202, {} stored after restart, {} acknowledged but missing",
        attempted.load(std::sync::atomic::Ordering::Relaxed),
        acked.len(),
        stored.len(),
        missing.len()
    );
    assert!(missing.is_empty(), "acknowledged events lost: {missing:?}");
    drop(inst);
}
