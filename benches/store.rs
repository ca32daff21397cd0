//! Durable acceptance throughput: accepted events/s through `Store::accept` with 1 and 64
//! concurrent callers, each acceptance a 1 KiB event with one delivery. SQLite always;
//! PostgreSQL when `SWITCHBOARD_TEST_POSTGRES_URL` is set.
//!
//! `cargo bench --bench store` measures (a few seconds per case) and prints a Markdown table
//! for BENCHMARKS.md; under `cargo test` (no `--bench` flag) it runs a short smoke pass.
//! `STORE_BENCH_CALLERS=64` measures only that many callers; `STORE_BENCH_PAYLOAD_BYTES`
//! sets the payload's size (default 1000).

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use switchboard::store::{
    Acceptance, Accepted, NewEvent, Payload, Store, Target, TargetKind, open,
};

/// How long each case runs when measuring.
const MEASURE_FOR: Duration = Duration::from_secs(5);
/// How long each case runs as a smoke test.
const SMOKE_FOR: Duration = Duration::from_millis(200);

fn main() {
    let measuring = std::env::args().any(|a| a == "--bench");
    let run_for = if measuring { MEASURE_FOR } else { SMOKE_FOR };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut backends = vec![("SQLite (WAL, synchronous=FULL)", sqlite_url(&dir))];
        match std::env::var("SWITCHBOARD_TEST_POSTGRES_URL") {
            Ok(base) if !base.is_empty() => {
                backends.push(("PostgreSQL 127.0.0.1", postgres_url(&base).await));
            }
            _ => eprintln!("SWITCHBOARD_TEST_POSTGRES_URL unset: PostgreSQL not measured"),
        }
        println!("| backend | concurrent callers | accepted events/s | events |");
        println!("|---|---:|---:|---:|");
        for (name, url) in backends {
            let store = open(&url).await.expect("open store");
            for callers in callers() {
                let (events, elapsed) = run(&store, callers, run_for).await;
                let rate = events as f64 / elapsed.as_secs_f64();
                println!("| {name} | {callers} | {rate:.0} | {events} |");
            }
        }
    });
}

/// The caller counts measured: `STORE_BENCH_CALLERS` (comma-separated) or 1 and 64.
fn callers() -> Vec<usize> {
    let given = std::env::var("STORE_BENCH_CALLERS").unwrap_or_default();
    let given: Vec<usize> = given
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    if given.is_empty() { vec![1, 64] } else { given }
}

/// A fresh SQLite file in `dir`.
fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}", dir.path().join("bench.db").display())
}

/// A fresh `bench_store` schema on the test server, first on the search path.
async fn postgres_url(base: &str) -> String {
    let admin = sqlx::PgPool::connect(base).await.expect("connect");
    for ddl in [
        "DROP SCHEMA IF EXISTS bench_store CASCADE",
        "CREATE SCHEMA bench_store",
    ] {
        sqlx::query(ddl).execute(&admin).await.expect("schema");
    }
    admin.close().await;
    let mut url = url::Url::parse(base).expect("URL");
    url.query_pairs_mut()
        .append_pair("options", "-c search_path=bench_store");
    url.into()
}

/// Runs `callers` tasks accepting one event at a time for `run_for`; events stored and time.
async fn run(store: &Arc<dyn Store>, callers: usize, run_for: Duration) -> (usize, Duration) {
    let size = std::env::var("STORE_BENCH_PAYLOAD_BYTES").ok();
    let size = size.and_then(|n| n.parse().ok()).unwrap_or(1000);
    let payload =
        Payload::from_value(&serde_json::json!({ "data": "x".repeat(size) })).expect("payload");
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for caller in 0..callers {
        let store = Arc::clone(store);
        let payload = payload.clone();
        tasks.spawn(async move {
            let mut n = 0;
            while start.elapsed() < run_for {
                let id = format!("{callers}-{caller}-{n}");
                let got = store
                    .accept(vec![acceptance(&id, payload.clone())])
                    .await
                    .expect("accept");
                assert_eq!(got, vec![Accepted::Stored { deliveries: 1 }]);
                n += 1;
            }
            n
        });
    }
    let mut events = 0;
    while let Some(done) = tasks.join_next().await {
        events += done.expect("caller");
    }
    (events, start.elapsed())
}

/// One event with a 1 KiB payload, delivered to one subscription.
fn acceptance(id: &str, payload: Payload) -> Acceptance {
    Acceptance {
        event: NewEvent {
            id: id.to_string(),
            namespace: "bench".into(),
            event_type: "bench.event".into(),
            source: "bench".into(),
            payload,
            received_at: Utc::now(),
            context: None,
        },
        targets: vec![Target {
            namespace: "bench".into(),
            kind: TargetKind::Subscription,
            name: "sink".into(),
        }],
        dedup: None,
    }
}
