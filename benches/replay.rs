//! Replay benchmark: 100,000 stored events replayed to a subscription created after them,
//! while live traffic (500 events/s to another subscription) runs; measures the replay's rate
//! and the live deliveries' publish-to-delivery p50/p99 before and during the replay. Runs the
//! `switchboard` binary cargo builds alongside (bench profile), or `SWITCHBOARD_BIN`;
//! `REPLAY_RATE` sets `--replay-rate` (default 1000), `REPLAY_EVENTS` the stored events.
//! Run with `cargo bench --bench replay`.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::routing::post;
use chrono::{SecondsFormat, Utc};

const TOKEN: &str = "bench-token";
const NS: &str = "bench";
/// Live events per second, before and during the replay.
const LIVE_RATE: u64 = 500;

#[derive(Default)]
struct Sink {
    live: AtomicU64,
    replayed: AtomicU64,
    latencies_us: Mutex<Vec<u64>>,
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

fn sent_us(body: &[u8]) -> Option<u64> {
    const KEY: &[u8] = b"\"sent_us\":";
    let at = body.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let digits = body[at..].iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&body[at..at + digits])
        .ok()?
        .parse()
        .ok()
}

async fn start_sink(sink: Arc<Sink>) -> SocketAddr {
    let live = sink.clone();
    let app = Router::new()
        .route(
            "/live",
            post(move |body: Bytes| {
                let sink = live.clone();
                async move {
                    sink.live.fetch_add(1, Ordering::Relaxed);
                    if let Some(sent) = sent_us(&body) {
                        sink.latencies_us
                            .lock()
                            .unwrap()
                            .push(now_us().saturating_sub(sent));
                    }
                    "ok"
                }
            }),
        )
        .route(
            "/replay",
            post(move || {
                let sink = sink.clone();
                async move {
                    sink.replayed.fetch_add(1, Ordering::Relaxed);
                    "ok"
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn manifests(dir: &Path, sink: SocketAddr, with_replayed: bool) {
    let mut yaml = format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: publisher, namespace: {NS}, labels: {{switchboard.dev/publisher-token: \"true\"}}}}\nstringData: {{token: {TOKEN}}}\n---\napiVersion: switchboard.dev/v1alpha1\nkind: WebhookSubscription\nmetadata: {{name: live, namespace: {NS}}}\nspec:\n  url: http://{sink}/live\n  eventTypes: [\"live.*\"]\n  signing: {{scheme: StandardWebhooks}}\n"
    );
    if with_replayed {
        yaml.push_str(&format!(
            "---\napiVersion: switchboard.dev/v1alpha1\nkind: WebhookSubscription\nmetadata: {{name: replayed, namespace: {NS}}}\nspec:\n  url: http://{sink}/replay\n  eventTypes: [\"seed.*\"]\n  signing: {{scheme: StandardWebhooks}}\n"
        ));
    }
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("bench.yaml"), yaml).unwrap();
}

struct Server(std::process::Child);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start_server(manifests: &Path, data: &Path, port: u16, admin: u16, rate: &str) -> Server {
    let bin = std::env::var("SWITCHBOARD_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_switchboard").to_owned());
    let mut cmd = std::process::Command::new(bin);
    cmd.args(["run", "--manifests"])
        .arg(manifests)
        .arg("--data-dir")
        .arg(data)
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--admin-listen",
            &format!("127.0.0.1:{admin}"),
            "--allow-private-destinations",
            "--reload-debounce",
            "100ms",
            "--replay-rate",
            rate,
        ])
        .env("RUST_LOG", "warn")
        .stderr(std::process::Stdio::null());
    let server = Server(cmd.spawn().expect("the switchboard binary"));
    let client = reqwest::Client::new();
    for _ in 0..400 {
        if client
            .get(format!("http://127.0.0.1:{admin}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("switchboard did not become ready");
}

/// Publishes events of `ty` (n of them, or until `stop`) at `rate` per second (None: as fast
/// as 64 connections go).
async fn publish(url: &str, ty: &'static str, n: u64, rate: Option<u64>, stop: Arc<AtomicBool>) {
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let (next, url, stop) = (next.clone(), url.to_owned(), stop.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n || stop.load(Ordering::Relaxed) {
                        return;
                    }
                    if let Some(rate) = rate {
                        let due = started + Duration::from_micros(i * 1_000_000 / rate);
                        tokio::time::sleep_until(due.into()).await;
                    }
                    let body = format!(
                        r#"{{"type":"{ty}","data":{{"sent_us":{},"pad":"{}"}}}}"#,
                        now_us(),
                        "x".repeat(900)
                    );
                    let r = client
                        .post(&url)
                        .bearer_auth(TOKEN)
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 202);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p) as usize] as f64 / 1000.0
}

/// The live latencies recorded so far, emptied.
fn take_latencies(sink: &Sink) -> Vec<u64> {
    let mut lat = std::mem::take(&mut *sink.latencies_us.lock().unwrap());
    lat.sort_unstable();
    lat
}

fn rfc3339(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

async fn run() {
    let events: u64 = std::env::var("REPLAY_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let rate = std::env::var("REPLAY_RATE").unwrap_or_else(|_| "1000".into());
    let tmp = tempfile::tempdir().unwrap();
    let sink = Arc::new(Sink::default());
    let addr = start_sink(sink.clone()).await;
    let dir = tmp.path().join("m");
    manifests(&dir, addr, false);
    let (port, admin) = (free_port(), free_port());
    let server = start_server(&dir, &tmp.path().join("d"), port, admin, &rate).await;
    let url = format!("http://127.0.0.1:{port}/v1/namespaces/{NS}/events");
    let never = Arc::new(AtomicBool::new(false));

    // The stored events, taken by no subscription yet.
    let since = Utc::now();
    let seeded = Instant::now();
    publish(&url, "seed.event", events, None, never.clone()).await;
    let until = Utc::now();
    println!(
        "seeded {events} events in {:.1}s",
        seeded.elapsed().as_secs_f64()
    );

    // Live traffic alone.
    publish(
        &url,
        "live.event",
        LIVE_RATE * 20,
        Some(LIVE_RATE),
        never.clone(),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = take_latencies(&sink);

    // The subscription created after the events, then the replay, with live traffic on.
    manifests(&dir, addr, true);
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{admin}/v1/namespaces/{NS}/webhooksubscriptions/replayed");
    let body = serde_json::json!({"since": rfc3339(since), "until": rfc3339(until)});
    let started = loop {
        let r = client
            .post(format!("{base}/replays"))
            .json(&body)
            .send()
            .await
            .unwrap();
        if r.status() == 202 {
            break Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(100)).await; // not applied yet: 404
    };
    let stop = Arc::new(AtomicBool::new(false));
    let live = tokio::spawn({
        let (url, stop) = (url.clone(), stop.clone());
        async move { publish(&url, "live.event", u64::MAX, Some(LIVE_RATE), stop).await }
    });
    let deadline = Instant::now() + Duration::from_secs(1800);
    while sink.replayed.load(Ordering::Relaxed) < events && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let took = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    live.await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let during = take_latencies(&sink);
    let got = sink.replayed.load(Ordering::Relaxed);
    println!(
        "RESULT replay: events={events} replayed={got} in {:.1}s replay_per_s={:.0} (--replay-rate {rate}) live_{LIVE_RATE}/s before: n={} p50_ms={:.1} p99_ms={:.1} during: n={} p50_ms={:.1} p99_ms={:.1}",
        took.as_secs_f64(),
        got as f64 / took.as_secs_f64(),
        before.len(),
        percentile(&before, 0.5),
        percentile(&before, 0.99),
        during.len(),
        percentile(&during, 0.5),
        percentile(&during, 0.99),
    );
    drop(server);
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}
