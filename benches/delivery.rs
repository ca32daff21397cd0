//! Delivery benchmark: publish through the HTTP API of a running `switchboard run` (release
//! build) and count deliveries at a local sink that answers 200 at once.
//!
//! Measures (1) deliveries/s end to end, publish and delivery together, with fan-out 1 and 10,
//! and (2) publish-to-delivery latency p50/p99 at a fixed publish rate. Run with
//! `cargo bench --bench delivery` (it runs the `switchboard` binary cargo builds alongside,
//! in the bench profile); set `SWITCHBOARD_BIN` to use another binary,
//! `SWITCHBOARD_TEST_POSTGRES_URL` to add PostgreSQL runs (each case in a database it creates
//! and drops) and `BENCH_CASE` to pick cases.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::routing::post;

const TOKEN: &str = "bench-token";

#[derive(Default)]
struct Sink {
    count: AtomicU64,
    latencies_us: Mutex<Vec<u64>>,
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

/// The publisher's send time out of a delivered body: the digits after `"sent_us":` (the
/// publishers write it first in `data`), found without parsing the whole body, so the sink
/// costs the machine little more than answering.
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
    let app = Router::new().route(
        "/hook",
        post(move |body: Bytes| {
            let sink = sink.clone();
            async move {
                sink.count.fetch_add(1, Ordering::Relaxed);
                if let Some(sent) = sent_us(&body) {
                    sink.latencies_us
                        .lock()
                        .unwrap()
                        .push(now_us().saturating_sub(sent));
                }
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// Writes the publisher Secret and `fanout` subscriptions of namespace `ns`.
fn manifests(dir: &Path, ns: &str, sink: SocketAddr, fanout: usize) {
    let mut yaml = format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: publisher, namespace: {ns}, labels: {{switchboard.dev/publisher-token: \"true\"}}}}\nstringData: {{token: {TOKEN}}}\n"
    );
    for i in 0..fanout {
        yaml.push_str(&format!(
            "---\napiVersion: switchboard.dev/v1alpha1\nkind: WebhookSubscription\nmetadata: {{name: sub-{i}, namespace: {ns}}}\nspec:\n  url: http://{sink}/hook\n  eventTypes: [\"bench.*\"]\n  signing: {{scheme: StandardWebhooks}}\n"
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

async fn start_server(
    manifests: &Path,
    data: &Path,
    store: Option<&str>,
    port: u16,
    admin: u16,
) -> Server {
    let bin = std::env::var("SWITCHBOARD_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_switchboard").to_owned());
    let mut cmd = std::process::Command::new(bin);
    cmd.args(["run", "--manifests"])
        .arg(manifests)
        .arg("--data-dir")
        .arg(data);
    cmd.args([
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--admin-listen",
        &format!("127.0.0.1:{admin}"),
        "--allow-private-destinations",
    ]);
    if let Some(url) = store {
        cmd.args(["--store", url]);
    }
    // `BENCH_LOG=<filter>` shows the server's log with that filter.
    match std::env::var("BENCH_LOG") {
        Ok(filter) => cmd.env("RUST_LOG", filter),
        Err(_) => cmd
            .env("RUST_LOG", "warn")
            .stderr(std::process::Stdio::null()),
    };
    let server = Server(cmd.spawn().expect("run `cargo build --release` first"));
    let client = reqwest::Client::new();
    for _ in 0..200 {
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

async fn publish_all(url: &str, n: u64, concurrency: u64, rate: Option<u64>) {
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (next, url) = (next.clone(), url.to_owned());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return;
                    }
                    if let Some(rate) = rate {
                        let due = started + Duration::from_micros(i * 1_000_000 / rate);
                        tokio::time::sleep_until(due.into()).await;
                    }
                    let body = format!(
                        r#"{{"type":"bench.event","data":{{"sent_us":{},"pad":"{}"}}}}"#,
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
    sorted[((sorted.len() as f64 - 1.0) * p) as usize] as f64 / 1000.0
}

async fn run_case(label: &str, store: Option<&str>, fanout: usize, events: u64, rate: Option<u64>) {
    // `BENCH_CASE=fanout10` (a substring of "<label> fanout<N>") runs only the matching cases.
    if let Ok(only) = std::env::var("BENCH_CASE")
        && !format!("{label} fanout{fanout}").contains(&only)
    {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let sink = Arc::new(Sink::default());
    let addr = start_sink(sink.clone()).await;
    let ns = format!("bench-{}", now_us());
    manifests(&tmp.path().join("m"), &ns, addr, fanout);
    // On PostgreSQL, a database of its own: the server is killed once the sink has counted
    // every delivery, so a shared one would hand the next run the last attempts' unrecorded
    // leases, to expire and be claimed (and released, unroutable) in the middle of it.
    let fresh = match store {
        Some(url) => Some(FreshDatabase::create(url, &ns.replace('-', "_")).await),
        None => None,
    };
    let (port, admin) = (free_port(), free_port());
    let server = start_server(
        &tmp.path().join("m"),
        &tmp.path().join("d"),
        fresh.as_ref().map(|f| f.url.as_str()),
        port,
        admin,
    )
    .await;
    let url = format!("http://127.0.0.1:{port}/v1/namespaces/{ns}/events");
    let expected = events * fanout as u64;
    let cpu_before = (cpu_seconds(server.0.id()), cpu_seconds(std::process::id()));
    let started = Instant::now();
    publish_all(&url, events, 64, rate).await;
    let published = started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(300);
    let trace = std::env::var_os("BENCH_TRACE").is_some();
    let mut last_trace = Instant::now();
    while sink.count.load(Ordering::Relaxed) < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
        if trace && last_trace.elapsed() >= Duration::from_millis(250) {
            last_trace = Instant::now();
            let at = started.elapsed().as_secs_f64();
            eprintln!("{at:.2}s delivered {}", sink.count.load(Ordering::Relaxed));
        }
    }
    let total = started.elapsed();
    let server_cpu = cpu_seconds(server.0.id()) - cpu_before.0;
    let bench_cpu = cpu_seconds(std::process::id()) - cpu_before.1;
    let got = sink.count.load(Ordering::Relaxed);
    let mut lat = sink.latencies_us.lock().unwrap().clone();
    lat.sort_unstable();
    println!(
        "RESULT {label}: fanout={fanout} events={events} deliveries={got}/{expected} published_in={:.2}s all_delivered_in={:.2}s deliveries_per_s={:.0} latency_p50_ms={:.1} p99_ms={:.1} cpu_us_per_delivery: server={:.1} publisher_and_sink={:.1}",
        published.as_secs_f64(),
        total.as_secs_f64(),
        got as f64 / total.as_secs_f64(),
        percentile(&lat, 0.50),
        percentile(&lat, 0.99),
        server_cpu * 1e6 / got.max(1) as f64,
        bench_cpu * 1e6 / got.max(1) as f64,
    );
    drop(server);
    if let Some(fresh) = fresh {
        fresh.drop_after().await;
    }
}

/// A PostgreSQL database created for one case (dropped by `drop_after`).
struct FreshDatabase {
    admin: sqlx::PgPool,
    name: String,
    url: String,
}

impl FreshDatabase {
    /// Creates database `name` on the server of `url`.
    async fn create(url: &str, name: &str) -> Self {
        let admin = sqlx::PgPool::connect(url)
            .await
            .expect("connect to PostgreSQL");
        // The name is the case's namespace: letters, digits and underscores.
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&admin)
            .await
            .expect("create the case's database");
        let (base, query) = url.split_once('?').map_or((url, ""), |(b, q)| (b, q));
        let base = base.rsplit_once('/').map_or(base, |(server, _)| server);
        let url = match query {
            "" => format!("{base}/{name}"),
            q => format!("{base}/{name}?{q}"),
        };
        Self {
            admin,
            name: name.to_owned(),
            url,
        }
    }

    /// Drops the database (forcing off what the killed server left connected).
    async fn drop_after(self) {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        )))
        .execute(&self.admin)
        .await;
    }
}

/// CPU seconds (user + system) a process has used so far, from `/proc` (0 where unreadable):
/// steadier than rates on a shared machine.
fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks: f64 = fields
        .get(11..13)
        .into_iter()
        .flatten()
        .filter_map(|f| f.parse::<f64>().ok())
        .sum();
    ticks / 100.0 // USER_HZ is 100 on Linux
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return; // `cargo test --all-targets` runs benches as tests: nothing to do here.
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let pg = std::env::var("SWITCHBOARD_TEST_POSTGRES_URL").ok();
    rt.block_on(async {
        run_case("sqlite throughput", None, 1, 20_000, None).await;
        run_case("sqlite throughput", None, 10, 10_000, None).await;
        run_case(
            "sqlite latency at 1000 events/s",
            None,
            1,
            10_000,
            Some(1000),
        )
        .await;
        if let Some(url) = pg.as_deref() {
            run_case("postgres throughput", Some(url), 1, 20_000, None).await;
            run_case("postgres throughput", Some(url), 10, 10_000, None).await;
        }
    });
}
