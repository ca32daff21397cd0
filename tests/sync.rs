//! Sync jobs against a fake provider API (a real axum server on 127.0.0.1): the three
//! pagination styles, itemsPath, transformations, the publish sink (events reach a
//! subscriber) and the forward sink (and its SSRF guard), cancel mid-run, the watermark kept
//! across an engine restart on the same SQLite data dir, and a crash-interrupted job resumed
//! from its checkpoint (or Failed when it cannot be) on restart.

mod support;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::{Value, json};
use switchboard::api::Kind;
use switchboard::delivery::{DeliveryConfig, DestinationPolicy};
use switchboard::engine::{Engine, EngineConfig, ObjectKey};
use switchboard::manifests::watch::ManifestDir;
use tokio::sync::Notify;

const WAIT: Duration = Duration::from_secs(30);

// ---------- the fake provider ----------

#[derive(Default)]
struct Fake {
    base: Mutex<String>,
    /// "path?query" of every list request, in order.
    requests: Mutex<Vec<String>>,
    /// Bodies POSTed to /sink (subscription deliveries) and /forward.
    sunk: Mutex<Vec<(String, Value)>>,
    /// /slow page 2 waits for this.
    release: Notify,
    /// Told when /slow page 2 is waiting.
    blocked: Notify,
    /// /slow page 2 blocks the first time only.
    blocked_once: std::sync::atomic::AtomicBool,
}

type Shared = Arc<Fake>;
type Params = Query<std::collections::HashMap<String, String>>;

fn record(fake: &Fake, path: &str, q: &Params) {
    let mut pairs: Vec<_> = q.0.iter().map(|(k, v)| format!("{k}={v}")).collect();
    pairs.sort();
    fake.requests
        .lock()
        .unwrap()
        .push(format!("{path}?{}", pairs.join("&")));
}

fn items(page: u32, n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            json!({
                "id": format!("p{page}-{i}"),
                "email": format!("USER{page}{i}@Example.COM"),
                "updatedAt": format!("2026-05-0{page}T0{i}:00:00Z"),
            })
        })
        .collect()
}

async fn cursor_page(State(f): State<Shared>, q: Params) -> impl IntoResponse {
    record(&f, "/cursor/contacts", &q);
    let (page, next) = match q.get("after").map(String::as_str) {
        None => (1, Some("c2")),
        Some("c2") => (2, Some("c3")),
        Some("c3") => (3, None),
        Some(_) => return (StatusCode::BAD_REQUEST, "bad cursor").into_response(),
    };
    let paging = next.map(|n| json!({"next": {"after": n}}));
    axum::Json(json!({"results": items(page, 2), "paging": paging})).into_response()
}

async fn numbered_page(State(f): State<Shared>, q: Params) -> impl IntoResponse {
    record(&f, "/page/items", &q);
    let page: u32 = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(0);
    let n = if (1..=2).contains(&page) { 2 } else { 0 };
    axum::Json(Value::Array(items(page, n)))
}

async fn linked_page(State(f): State<Shared>, q: Params) -> impl IntoResponse {
    record(&f, "/link/items", &q);
    let page: u32 = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
    let mut headers = HeaderMap::new();
    if page < 3 {
        let base = f.base.lock().unwrap().clone();
        let link = format!(
            "<{base}/link/items?page=1>; rel=\"first\", <{base}/link/items?page={}>; rel=\"next\"",
            page + 1
        );
        headers.insert("link", link.parse().unwrap());
    }
    (headers, axum::Json(json!({"data": items(page, 1)})))
}

async fn slow_page(State(f): State<Shared>, q: Params) -> impl IntoResponse {
    record(&f, "/slow/items", &q);
    let page: u32 = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
    if page == 2
        && !f
            .blocked_once
            .swap(true, std::sync::atomic::Ordering::SeqCst)
    {
        f.blocked.notify_one();
        f.release.notified().await;
    }
    let n = if page <= 2 { 1 } else { 0 };
    axum::Json(Value::Array(items(page, n)))
}

async fn sink(State(f): State<Shared>, body: axum::body::Bytes) -> StatusCode {
    let v = serde_json::from_slice(&body).unwrap_or(Value::Null);
    f.sunk.lock().unwrap().push(("sink".into(), v));
    StatusCode::OK
}

async fn forward(State(f): State<Shared>, body: axum::body::Bytes) -> StatusCode {
    let v = serde_json::from_slice(&body).unwrap_or(Value::Null);
    f.sunk.lock().unwrap().push(("forward".into(), v));
    StatusCode::OK
}

async fn fake_provider() -> Shared {
    let fake = Shared::default();
    let app = axum::Router::new()
        .route("/cursor/contacts", get(cursor_page))
        .route("/page/items", get(numbered_page))
        .route("/link/items", get(linked_page))
        .route("/slow/items", get(slow_page))
        .route("/sink", post(sink))
        .route("/forward", post(forward))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    *fake.base.lock().unwrap() = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    fake
}

impl Fake {
    fn base(&self) -> String {
        self.base.lock().unwrap().clone()
    }
    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
    fn sunk(&self, to: &str) -> Vec<Value> {
        self.sunk
            .lock()
            .unwrap()
            .iter()
            .filter(|(k, _)| k == to)
            .map(|(_, v)| v.clone())
            .collect()
    }
    async fn wait_sunk(&self, to: &str, n: usize) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let got = self.sunk(to);
            if got.len() >= n || tokio::time::Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

// ---------- the engine ----------

struct Running {
    engine: Arc<Engine>,
    running: switchboard::engine::lifecycle::Running,
    manifests: PathBuf,
}

fn write_manifests(dir: &Path, fake: &Fake, extra: &str) -> PathBuf {
    let m = dir.join("manifests");
    std::fs::create_dir_all(&m).unwrap();
    let base = fake.base();
    std::fs::write(
        m.join("base.yaml"),
        format!(
            r#"
apiVersion: switchboard.dev/v1alpha1
kind: Integration
metadata: {{name: api, namespace: crm}}
spec:
  baseUrl: {base}
---
apiVersion: switchboard.dev/v1alpha1
kind: Transformation
metadata: {{name: slim, namespace: crm}}
spec:
  jq: '{{id: .id, email: (.email | ascii_downcase), source: $meta.source}}'
---
apiVersion: switchboard.dev/v1alpha1
kind: WebhookSubscription
metadata: {{name: sink, namespace: crm}}
spec:
  url: {base}/sink
  eventTypes: ["crm.*"]
{extra}
"#
        ),
    )
    .unwrap();
    m
}

async fn start(dir: &Path, manifests: &Path, allow_private: bool) -> Running {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let store = switchboard::store::open(data.join("switchboard.db").to_str().unwrap())
        .await
        .unwrap();
    let engine = Engine::new(
        store,
        EngineConfig {
            data_dir: Some(data),
            delivery: DeliveryConfig {
                policy: Arc::new(DestinationPolicy {
                    allow_private,
                    allowed: Vec::new(),
                }),
                poll: Duration::from_millis(50),
                ..DeliveryConfig::default()
            },
            sync_progress: Duration::from_millis(50),
            ..EngineConfig::default()
        },
    );
    let running = Running {
        engine: engine.clone(),
        running: engine.start(switchboard::engine::lifecycle::always_leader()),
        manifests: manifests.to_owned(),
    };
    running.apply();
    running
}

impl Running {
    fn apply(&self) {
        let loaded = ManifestDir::new(vec![self.manifests.clone()]).load();
        assert!(
            loaded.diagnostics.is_empty(),
            "manifest problems: {:?}",
            loaded.diagnostics
        );
        self.engine.apply(loaded.desired);
    }

    async fn stop(self) {
        self.running.stop(Some(Duration::from_secs(30))).await;
    }

    fn job(&self, name: &str) -> Option<Value> {
        self.engine
            .resource_views(Some(Kind::SyncJob))
            .into_iter()
            .find(|v| v["metadata"]["name"] == name)
    }

    /// Waits until the job's phase is `phase`; returns its view.
    async fn wait_phase(&self, name: &str, phase: &str) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let job = self.job(name);
            if job.as_ref().is_some_and(|j| j["status"]["phase"] == phase) {
                return job.unwrap();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "job {name} never reached {phase}; last seen {job:?}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    async fn wait_job_named(&self, prefix: &str, phase: &str, skip: &[String]) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let found = self
                .engine
                .resource_views(Some(Kind::SyncJob))
                .into_iter()
                .find(|v| {
                    let name = v["metadata"]["name"].as_str().unwrap_or_default();
                    name.starts_with(prefix)
                        && !skip.iter().any(|s| s == name)
                        && v["status"]["phase"] == phase
                });
            if let Some(j) = found {
                return j;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no job {prefix}* reached {phase}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

fn job_yaml(name: &str, request: &str, sink: &str, extra: &str) -> String {
    format!(
        r#"---
apiVersion: switchboard.dev/v1alpha1
kind: SyncJob
metadata: {{name: {name}, namespace: crm}}
spec:
{extra}
  template:
    integrationRef: {{name: api}}
    entityType: contact
    request:
{request}
    sink:
{sink}
"#
    )
}

const PUBLISH: &str = "      publish: {eventType: crm.contact.synced}";

// ---------- tests ----------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cursor_pages_are_transformed_and_published_to_subscribers() {
    let fake = fake_provider().await;
    let dir = tempfile::tempdir().unwrap();
    let job = job_yaml(
        "pull",
        r#"      path: /cursor/contacts
      query: {properties: email}
      itemsPath: .results
      pagination: {type: Cursor, cursorPath: .paging.next.after, cursorParam: after, pageSize: 2}"#,
        PUBLISH,
        "",
    )
    .replace(
        "    sink:",
        "    transformationRef: {name: slim}\n    sink:",
    );
    let m = write_manifests(dir.path(), &fake, &job);
    let run = start(dir.path(), &m, true).await;
    let view = run.wait_phase("pull", "Completed").await;
    let status = &view["status"];
    assert_eq!(status["pagesFetched"], 3, "{view}");
    assert_eq!(status["processedRecords"], 6);
    assert_eq!(status["succeededRecords"], 6);
    assert_eq!(status["failedRecords"], 0);
    assert!(status["startedAt"].is_string() && status["completedAt"].is_string());
    let ready = status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Ready")
        .unwrap();
    assert_eq!(ready["status"], "True");
    assert_eq!(
        fake.requests(),
        [
            "/cursor/contacts?limit=2&properties=email",
            "/cursor/contacts?after=c2&limit=2&properties=email",
            "/cursor/contacts?after=c3&limit=2&properties=email",
        ]
    );
    // Every record reaches the subscriber, transformed.
    let delivered = fake.wait_sunk("sink", 6).await;
    assert_eq!(delivered.len(), 6, "{delivered:?}");
    let first = delivered
        .iter()
        .find(|d| d["data"]["id"] == "p1-0")
        .expect("p1-0 delivered");
    assert_eq!(first["type"], "crm.contact.synced");
    assert_eq!(first["data"]["email"], "user10@example.com");
    assert_eq!(first["data"]["source"], "SyncJob/crm/pull");
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_numbers_are_forwarded_to_a_url() {
    let fake = fake_provider().await;
    let dir = tempfile::tempdir().unwrap();
    let job = job_yaml(
        "pages",
        r#"      path: /page/items
      pagination: {type: Page, pageParam: page}"#,
        &format!("      forward: {{url: \"{}/forward\"}}", fake.base()),
        "",
    );
    let m = write_manifests(dir.path(), &fake, &job);
    let run = start(dir.path(), &m, true).await;
    let view = run.wait_phase("pages", "Completed").await;
    assert_eq!(view["status"]["pagesFetched"], 3, "{view}");
    assert_eq!(view["status"]["succeededRecords"], 4);
    assert_eq!(
        fake.requests(),
        [
            "/page/items?page=1",
            "/page/items?page=2",
            "/page/items?page=3"
        ]
    );
    let forwarded = fake.sunk("forward");
    assert_eq!(forwarded.len(), 4);
    // Each record forwarded once (deliveries run concurrently, so in any order) and as the
    // record itself, not wrapped in an event.
    let mut ids: Vec<&str> = forwarded.iter().filter_map(|r| r["id"].as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 4, "{forwarded:?}");
    let first = forwarded.iter().find(|r| r["id"] == "p1-0");
    assert_eq!(first, Some(&items(1, 1)[0]), "{forwarded:?}");
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_destinations_are_refused_by_default() {
    let fake = fake_provider().await;
    let dir = tempfile::tempdir().unwrap();
    let job = job_yaml(
        "guarded",
        "      path: /page/items\n      pagination: {type: Page, pageParam: page, maxPages: 1}",
        &format!("      forward: {{url: \"{}/forward\"}}", fake.base()),
        "",
    );
    let m = write_manifests(dir.path(), &fake, &job);
    let run = start(dir.path(), &m, false).await;
    let view = run.wait_phase("guarded", "Failed").await;
    // The Integration's loopback API is refused by the same guard, so nothing is fetched
    // and nothing forwarded.
    let errors = view["status"]["errors"].to_string();
    assert!(errors.contains("integration crm/api"), "{view}");
    assert!(fake.requests().is_empty(), "{:?}", fake.requests());
    assert!(fake.sunk("forward").is_empty());
    run.stop().await;
}

/// A loopback port nothing listens on: bound, then released.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_that_refuses_the_connection_fails_the_job_with_the_root_cause() {
    let fake = fake_provider().await;
    let dir = tempfile::tempdir().unwrap();
    let unreachable = format!(
        r#"---
apiVersion: switchboard.dev/v1alpha1
kind: Integration
metadata: {{name: unreachable, namespace: crm}}
spec:
  baseUrl: http://127.0.0.1:{port}
  retry: {{maxRetries: 0}}
"#,
        port = closed_port()
    );
    let job = job_yaml("refused", "      path: /items", PUBLISH, "").replace(
        "integrationRef: {name: api}",
        "integrationRef: {name: unreachable}",
    );
    let m = write_manifests(dir.path(), &fake, &format!("{unreachable}{job}"));
    let run = start(dir.path(), &m, true).await;
    let view = run.wait_phase("refused", "Failed").await;
    let ready = view["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Ready")
        .unwrap();
    let message = ready["message"].as_str().unwrap();
    assert!(
        message.starts_with("page 1: GET /items on integration crm/unreachable"),
        "{view}"
    );
    assert!(
        message.to_ascii_lowercase().contains("connection refused"),
        "{view}"
    );
    let errors = view["status"]["errors"].as_array().unwrap();
    assert_eq!(
        errors.last().and_then(Value::as_str),
        Some(message),
        "{view}"
    );
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_headers_are_followed() {
    let fake = fake_provider().await;
    let dir = tempfile::tempdir().unwrap();
    let job = job_yaml(
        "links",
        r#"      path: /link/items
      itemsPath: .data
      pagination: {type: LinkHeader}"#,
        PUBLISH,
        "",
    );
    let m = write_manifests(dir.path(), &fake, &job);
    let run = start(dir.path(), &m, true).await;
    let view = run.wait_phase("links", "Completed").await;
    assert_eq!(view["status"]["pagesFetched"], 3, "{view}");
    assert_eq!(
        fake.requests(),
        ["/link/items?", "/link/items?page=2", "/link/items?page=3"]
    );
    assert_eq!(fake.wait_sunk("sink", 3).await.len(), 3);
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_a_job_within_one_page() {
    let fake = fake_provider().await;
    let dir = tempfile::tempdir().unwrap();
    let request = "      path: /slow/items\n      pagination: {type: Page, pageParam: page}";
    let m = write_manifests(dir.path(), &fake, &job_yaml("slow", request, PUBLISH, ""));
    let run = start(dir.path(), &m, true).await;
    tokio::time::timeout(WAIT, fake.blocked.notified())
        .await
        .expect("page 2 requested");
    run.wait_phase("slow", "Running").await;
    std::fs::write(
        m.join("base.yaml"),
        std::fs::read_to_string(m.join("base.yaml"))
            .unwrap()
            .replace("spec:\n\n  template:", "spec:\n  cancel: true\n  template:"),
    )
    .unwrap();
    run.apply();
    let view = run.wait_phase("slow", "Cancelled").await;
    assert_eq!(view["status"]["pagesFetched"], 1, "{view}");
    fake.release.notify_one();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        fake.requests(),
        ["/slow/items?page=1", "/slow/items?page=2"],
        "no page after the cancel"
    );
    run.stop().await;
}

fn incremental_schedule(requested_at: &str) -> String {
    format!(
        r#"---
apiVersion: switchboard.dev/v1alpha1
kind: SyncSchedule
metadata:
  name: contacts
  namespace: crm
  annotations: {{switchboard.dev/sync-requested-at: "{requested_at}"}}
spec:
  integrationRef: {{name: api}}
  schedule: "0 0 1 1 *"
  jobTemplate:
    jobType: Incremental
    entityType: contact
    request:
      path: /cursor/contacts
      itemsPath: .results
      pagination: {{type: Cursor, cursorPath: .paging.next.after, cursorParam: after}}
      incremental: {{param: updatedAfter, watermarkPath: .updatedAt}}
    sink:
      publish: {{eventType: crm.contact.synced}}
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watermark_survives_an_engine_restart() {
    let fake = fake_provider().await;
    let dir = tempfile::tempdir().unwrap();
    let first_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let m = write_manifests(dir.path(), &fake, &incremental_schedule(&first_at));
    let run = start(dir.path(), &m, true).await;
    let first = run.wait_job_named("contacts-", "Completed", &[]).await;
    let first_name = first["metadata"]["name"].as_str().unwrap().to_owned();
    assert_eq!(first["spec"]["scheduleRef"]["name"], "contacts", "{first}");
    assert!(
        fake.requests().iter().all(|r| !r.contains("updatedAfter")),
        "no watermark yet: {:?}",
        fake.requests()
    );
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let schedule = run
            .engine
            .status()
            .get(Kind::SyncSchedule, &ObjectKey::new("crm", "contacts"))
            .unwrap();
        if schedule.fields.get("watermark") == Some(&json!("2026-05-03T01:00:00Z")) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{schedule:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    run.stop().await;

    // A new engine on the same data dir; a new trigger value starts the next run.
    fake.requests.lock().unwrap().clear();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let second_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    write_manifests(dir.path(), &fake, &incremental_schedule(&second_at));
    let run = start(dir.path(), &m, true).await;
    run.wait_job_named("contacts-", "Completed", std::slice::from_ref(&first_name))
        .await;
    // The first run is still listed (it is in the store).
    assert!(run.job(&first_name).is_some());
    let requests = fake.requests();
    assert!(
        requests[0].contains("updatedAfter=2026-05-03T01:00:00Z"),
        "{requests:?}"
    );
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_job_resumes_from_its_last_page_on_restart() {
    let fake = fake_provider().await;
    let dir = tempfile::tempdir().unwrap();
    let request = r#"      path: /cursor/contacts
      itemsPath: .results
      pagination: {type: Cursor, cursorPath: .paging.next.after, cursorParam: after}"#;
    let m = write_manifests(
        dir.path(),
        &fake,
        &job_yaml("resumed", request, PUBLISH, ""),
    );
    // What a crash after the first page leaves in the store: Running, with a checkpoint.
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let store = switchboard::store::open(data.join("switchboard.db").to_str().unwrap())
        .await
        .unwrap();
    let spec: switchboard::api::SyncJobSpec = serde_json::from_value(json!({
        "template": {
            "integrationRef": {"name": "api"},
            "entityType": "contact",
            "request": {"path": "/cursor/contacts", "itemsPath": ".results",
                "pagination": {"type": "Cursor", "cursorPath": ".paging.next.after", "cursorParam": "after"}},
            "sink": {"publish": {"eventType": "crm.contact.synced"}}
        }
    }))
    .unwrap();
    let mut interrupted = switchboard::sync::JobRecord::new(
        switchboard::sync::Key::new("crm", "resumed"),
        None,
        spec.clone(),
        chrono::Utc::now(),
    );
    interrupted.status.phase = Some(switchboard::api::SyncJobPhase::Running);
    interrupted.status.pages_fetched = 1;
    interrupted.status.processed_records = 2;
    interrupted.status.succeeded_records = 2;
    interrupted.checkpoint = Some(switchboard::sync::record::Checkpoint {
        cursor: switchboard::sync::page::Cursor {
            pages: 1,
            cursor: Some("c2".into()),
            ..Default::default()
        },
        ..Default::default()
    });
    interrupted.save(store.as_ref()).await.unwrap();
    // A second one whose integration is gone cannot resume: Failed, not left Running.
    let mut orphan = interrupted.clone();
    orphan.key = switchboard::sync::Key::new("crm", "orphan");
    orphan.spec.template.integration_ref.name = "gone".into();
    orphan.save(store.as_ref()).await.unwrap();
    drop(store);

    let run = start(dir.path(), &m, true).await;
    let view = run.wait_phase("resumed", "Completed").await;
    assert_eq!(view["status"]["pagesFetched"], 3, "{view}");
    assert_eq!(view["status"]["processedRecords"], 6);
    assert_eq!(
        fake.requests(),
        ["/cursor/contacts?after=c2", "/cursor/contacts?after=c3"],
        "the first page is not fetched again"
    );
    let orphan = run.wait_phase("orphan", "Failed").await;
    assert!(
        orphan["status"]["errors"]
            .to_string()
            .contains("cannot be resumed"),
        "{orphan}"
    );
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_syncjobs_lists_the_runs_of_a_standalone_instance() {
    let fake = fake_provider().await;
    let dir = tempfile::tempdir().unwrap();
    let job = job_yaml(
        "listed",
        "      path: /page/items\n      pagination: {type: Page, pageParam: page}",
        PUBLISH,
        "",
    );
    let m = write_manifests(dir.path(), &fake, &job);
    let data = dir.path().join("data");
    let table = tokio::task::spawn_blocking(move || {
        let inst = support::Instance::start(&m, &data, &["--allow-private-destinations"]);
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
                .args(["get", "syncjobs", "--admin", &inst.admin_url])
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            if text.contains("Completed") {
                return text;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{text}\n{}",
                inst.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    })
    .await
    .unwrap();
    let header = table.lines().next().unwrap_or_default();
    assert!(
        header.contains("PHASE") && header.contains("PROCESSED"),
        "{table}"
    );
    let row: Vec<&str> = table
        .lines()
        .find(|l| l.contains("listed"))
        .unwrap_or_else(|| panic!("{table}"))
        .split_whitespace()
        .collect();
    assert_eq!(
        row[..6],
        ["crm", "listed", "Completed", "True", "4", "0"],
        "{table}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_running_job_stops_it_and_forgets_it() {
    let fake = fake_provider().await;
    let dir = tempfile::tempdir().unwrap();
    let request = "      path: /slow/items\n      pagination: {type: Page, pageParam: page}";
    let m = write_manifests(dir.path(), &fake, &job_yaml("doomed", request, PUBLISH, ""));
    let run = start(dir.path(), &m, true).await;
    tokio::time::timeout(WAIT, fake.blocked.notified())
        .await
        .expect("page 2 requested");
    run.wait_phase("doomed", "Running").await;
    write_manifests(dir.path(), &fake, "");
    run.apply();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let stored = run
            .engine
            .store()
            .list_objects("SyncJob", None)
            .await
            .unwrap();
        if run.job("doomed").is_none() && stored.is_empty() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{stored:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    fake.release.notify_one();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        fake.requests(),
        ["/slow/items?page=1", "/slow/items?page=2"],
        "no page after the deletion"
    );
    assert!(
        run.job("doomed").is_none(),
        "the stopped run did not come back"
    );
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_killed_mid_run_resumes_from_its_last_page_after_restart() {
    let fake = fake_provider().await;
    let dir = tempfile::tempdir().unwrap();
    let request = "      path: /slow/items\n      pagination: {type: Page, pageParam: page}";
    let m = write_manifests(dir.path(), &fake, &job_yaml("crashy", request, PUBLISH, ""));
    let data = dir.path().join("data");
    let (m1, d1) = (m.clone(), data.clone());
    let first = tokio::task::spawn_blocking(move || {
        support::Instance::start(&m1, &d1, &["--allow-private-destinations"])
    })
    .await
    .unwrap();
    tokio::time::timeout(WAIT, fake.blocked.notified())
        .await
        .expect("page 2 requested");
    // SIGKILL while page 2 is in flight; page 1 is checkpointed.
    tokio::task::spawn_blocking(move || drop(first))
        .await
        .unwrap();
    fake.requests.lock().unwrap().clear();
    let status = tokio::task::spawn_blocking(move || {
        let second = support::Instance::start(&m, &data, &["--allow-private-destinations"]);
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let job = second
                .status("syncjobs")
                .into_iter()
                .find(|j| j["metadata"]["name"] == "crashy");
            if let Some(job) = job.as_ref().filter(|j| j["status"]["phase"] == "Completed") {
                return job["status"].clone();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{job:?}\n{}",
                second.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await
    .unwrap();
    assert_eq!(status["pagesFetched"], 3, "{status}");
    assert_eq!(status["processedRecords"], 2);
    assert_eq!(
        fake.requests(),
        ["/slow/items?page=2", "/slow/items?page=3"],
        "resumed at page 2"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_records_are_counted_and_their_messages_kept() {
    let fake = fake_provider().await;
    let dir = tempfile::tempdir().unwrap();
    let picky = r#"---
apiVersion: switchboard.dev/v1alpha1
kind: Transformation
metadata: {name: picky, namespace: crm}
spec:
  jq: 'if .id == "p1-1" then error("record p1-1 is not wanted") else . end'
"#;
    let job = job_yaml(
        "partial",
        "      path: /page/items\n      pagination: {type: Page, pageParam: page}",
        PUBLISH,
        "",
    )
    .replace(
        "    sink:",
        "    transformationRef: {name: picky}\n    sink:",
    );
    let m = write_manifests(dir.path(), &fake, &format!("{picky}{job}"));
    let run = start(dir.path(), &m, true).await;
    let view = run.wait_phase("partial", "Completed").await;
    let status = &view["status"];
    assert_eq!(status["processedRecords"], 4, "{view}");
    assert_eq!(status["succeededRecords"], 3);
    assert_eq!(status["failedRecords"], 1);
    let errors = status["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0]
            .as_str()
            .unwrap()
            .contains("record p1-1 is not wanted"),
        "{errors:?}"
    );
    run.stop().await;
}
