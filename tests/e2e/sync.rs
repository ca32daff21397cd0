//! Sync schedules in a cluster: a SyncSchedule whose Integration points at a fake provider
//! on loopback is triggered by its annotation; the controller creates the run as a SyncJob
//! (owned by the schedule, labelled with it) whose status shows progress while the provider
//! holds a page back, then completion, as `kubectl get sj` shows, with a finished event.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::support::TestEnv;
use crate::support::controller::{Controller, api, eventually};

const WITHIN: Duration = Duration::from_secs(60);

/// The fake provider: pages 1..=3 of two records, page 3 waits until released.
#[derive(Default)]
struct Fake {
    /// Page 3 waits for this while `hold` is set.
    release: Notify,
    hold: std::sync::atomic::AtomicBool,
    calls: std::sync::atomic::AtomicUsize,
}

async fn fake_provider(release: Arc<Fake>) -> String {
    async fn page(
        State(release): State<Arc<Fake>>,
        Query(q): Query<std::collections::HashMap<String, String>>,
    ) -> axum::Json<Value> {
        release
            .calls
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let page: u32 = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
        if page == 3 && release.hold.load(std::sync::atomic::Ordering::SeqCst) {
            release.release.notified().await;
        }
        let n = if page <= 3 { 2 } else { 0 };
        axum::Json(Value::Array(
            (0..n)
                .map(|i| json!({"id": format!("{page}-{i}")}))
                .collect(),
        ))
    }
    let app = axum::Router::new()
        .route("/items", axum::routing::get(page))
        .with_state(release);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

fn manifests(ns: &str, base_url: &str) -> String {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    manifests_with(ns, base_url, &now, "")
}

fn manifests_with(ns: &str, base_url: &str, requested: &str, limits: &str) -> String {
    format!(
        r#"
apiVersion: switchboard.dev/v1alpha1
kind: Integration
metadata: {{name: api, namespace: {ns}}}
spec:
  baseUrl: {base_url}
---
apiVersion: switchboard.dev/v1alpha1
kind: SyncSchedule
metadata:
  name: items
  namespace: {ns}
  annotations: {{switchboard.dev/sync-requested-at: "{requested}"}}
spec:
  integrationRef: {{name: api}}
  schedule: "0 0 1 1 *"
{limits}
  jobTemplate:
    entityType: item
    request:
      path: /items
      pagination: {{type: Page, pageParam: page}}
    sink:
      publish: {{eventType: items.synced}}
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_run_becomes_a_sync_job_with_progress_and_completion() {
    let env = TestEnv::new("sync").await.unwrap();
    let ns = env.namespace.clone();
    let release = Arc::new(Fake::default());
    release
        .hold
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let base_url = fake_provider(release.clone()).await;
    let kubectl = env.kubectl();
    kubectl
        .run_with_stdin(&["apply", "-f", "-"], Some(&manifests(&ns, &base_url)))
        .and_then(|out| crate::support::kubectl::check("kubectl apply", out))
        .unwrap();
    let ctl = Controller::start_with(
        env.kubeconfig(),
        &[&ns],
        &["--status-interval", "2s", "--allow-private-destinations"],
    )
    .unwrap();
    let jobs = api(&env.client, "SyncJob", &ns);

    // Running, with progress, while page 3 is held back.
    let running = eventually(WITHIN, || async {
        let list = jobs.list(&Default::default()).await.ok()?;
        list.items.into_iter().find(|j| {
            let st = &j.data["status"];
            st["phase"] == "Running" && st["pagesFetched"].as_u64() >= Some(2)
        })
    })
    .await;
    let Some(running) = running else {
        panic!("no running SyncJob with progress\n{}", ctl.log());
    };
    let name = running.metadata.name.clone().unwrap();
    assert!(name.starts_with("items-"), "{name}");
    let labels = running.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels.get("switchboard.dev/schedule").map(String::as_str),
        Some("items")
    );
    let owners = running
        .metadata
        .owner_references
        .clone()
        .unwrap_or_default();
    assert_eq!(
        owners
            .iter()
            .map(|o| (o.kind.as_str(), o.name.as_str()))
            .collect::<Vec<_>>(),
        [("SyncSchedule", "items")]
    );
    assert_eq!(running.data["status"]["processedRecords"], 4);

    release.release.notify_one();
    let done = eventually(WITHIN, || async {
        let j = jobs.get_opt(&name).await.ok()??;
        (j.data["status"]["phase"] == "Completed").then_some(j)
    })
    .await;
    let Some(done) = done else {
        panic!("{name} did not complete\n{}", ctl.log());
    };
    let st = &done.data["status"];
    assert_eq!(st["pagesFetched"], 4, "{st}");
    assert_eq!(st["processedRecords"], 6);
    assert_eq!(st["succeededRecords"], 6);
    let ready = st["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Ready")
        .unwrap();
    assert_eq!(ready["status"], "True", "{st}");

    let table = kubectl.ok(&["get", "sj", "-n", &ns]).unwrap().stdout;
    let row = table
        .lines()
        .find(|l| l.starts_with(&name))
        .unwrap_or_else(|| panic!("{name} not in\n{table}"));
    assert!(row.contains("Completed") && row.contains("True"), "{table}");

    let selector = format!("involvedObject.name={name}");
    let event = eventually(WITHIN, || async {
        let out = kubectl
            .ok(&["get", "events", "-n", &ns, "--field-selector", &selector])
            .ok()?;
        out.stdout.contains("SyncJobCompleted").then_some(())
    })
    .await;
    assert!(event.is_some(), "no SyncJobCompleted event\n{}", ctl.log());

    let schedules = api(&env.client, "SyncSchedule", &ns);
    let schedule = eventually(WITHIN, || async {
        let s = schedules.get_opt("items").await.ok()??;
        s.data["status"]["lastSuccessfulTime"]
            .is_string()
            .then_some(s)
    })
    .await;
    assert!(
        schedule.is_some(),
        "lastSuccessfulTime never set\n{}",
        ctl.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_created_sync_job_runs_once() {
    let env = TestEnv::new("sync-once").await.unwrap();
    let ns = env.namespace.clone();
    let fake = Arc::new(Fake::default());
    let base_url = fake_provider(fake.clone()).await;
    let yaml = format!(
        r#"
apiVersion: switchboard.dev/v1alpha1
kind: Integration
metadata: {{name: api, namespace: {ns}}}
spec:
  baseUrl: {base_url}
---
apiVersion: switchboard.dev/v1alpha1
kind: SyncJob
metadata: {{name: by-hand, namespace: {ns}}}
spec:
  template:
    integrationRef: {{name: api}}
    entityType: item
    request:
      path: /items
      pagination: {{type: Page, pageParam: page}}
    sink:
      publish: {{eventType: items.synced}}
"#
    );
    let kubectl = env.kubectl();
    kubectl
        .run_with_stdin(&["apply", "-f", "-"], Some(&yaml))
        .and_then(|out| crate::support::kubectl::check("kubectl apply", out))
        .unwrap();
    let ctl = Controller::start_with(
        env.kubeconfig(),
        &[&ns],
        &["--status-interval", "2s", "--allow-private-destinations"],
    )
    .unwrap();
    let jobs = api(&env.client, "SyncJob", &ns);
    let done = eventually(WITHIN, || async {
        let j = jobs.get_opt("by-hand").await.ok()??;
        (j.data["status"]["phase"] == "Completed").then_some(j)
    })
    .await;
    let Some(done) = done else {
        panic!("by-hand did not complete\n{}", ctl.log());
    };
    assert_eq!(
        done.data["status"]["processedRecords"], 6,
        "{:?}",
        done.data
    );
    // Only the hand-created job exists: nothing else was started for it.
    let names: Vec<String> = jobs
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|j| j.metadata.name)
        .collect();
    assert_eq!(names, ["by-hand"]);

    // A controller that lost its store (a new pod, an empty data dir) does not run it again:
    // the finished job carries the sync-finished annotation.
    let marked = eventually(WITHIN, || async {
        let j = jobs.get_opt("by-hand").await.ok()??;
        let annotations = j.metadata.annotations.unwrap_or_default();
        (annotations
            .get("switchboard.dev/sync-finished")
            .map(String::as_str)
            == Some("Completed"))
        .then_some(())
    })
    .await;
    assert!(marked.is_some(), "not marked finished\n{}", ctl.log());
    let started = done.data["status"]["startedAt"].clone();
    drop(ctl);
    let calls = fake.calls.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(calls, 4);
    let second = yaml
        .split("---")
        .nth(1)
        .unwrap()
        .replace("name: by-hand", "name: second");
    kubectl
        .run_with_stdin(&["apply", "-f", "-"], Some(&second))
        .and_then(|out| crate::support::kubectl::check("kubectl apply", out))
        .unwrap();
    let ctl = Controller::start_with(
        env.kubeconfig(),
        &[&ns],
        &["--status-interval", "2s", "--allow-private-destinations"],
    )
    .unwrap();
    let second_done = eventually(WITHIN, || async {
        let j = jobs.get_opt("second").await.ok()??;
        (j.data["status"]["phase"] == "Completed").then_some(j)
    })
    .await;
    assert!(
        second_done.is_some(),
        "second did not complete\n{}",
        ctl.log()
    );
    let again = jobs.get("by-hand").await.unwrap();
    assert_eq!(
        again.data["status"]["startedAt"], started,
        "by-hand ran again"
    );
    assert_eq!(
        fake.calls.load(std::sync::atomic::Ordering::SeqCst),
        8,
        "only the second job called the provider"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_limits_delete_old_sync_jobs() {
    let env = TestEnv::new("sync-history").await.unwrap();
    let ns = env.namespace.clone();
    let fake = Arc::new(Fake::default());
    let base_url = fake_provider(fake.clone()).await;
    let kubectl = env.kubectl();
    let apply = |requested: &str| {
        let yaml = manifests_with(&ns, &base_url, requested, "  successfulJobsHistoryLimit: 1");
        kubectl
            .run_with_stdin(&["apply", "-f", "-"], Some(&yaml))
            .and_then(|out| crate::support::kubectl::check("kubectl apply", out))
            .unwrap();
    };
    apply("run-1");
    let ctl = Controller::start_with(
        env.kubeconfig(),
        &[&ns],
        &["--status-interval", "2s", "--allow-private-destinations"],
    )
    .unwrap();
    let jobs = api(&env.client, "SyncJob", &ns);
    let completed = || async {
        let list = jobs.list(&Default::default()).await.ok()?;
        Some(
            list.items
                .into_iter()
                .filter(|j| j.data["status"]["phase"] == "Completed")
                .filter_map(|j| j.metadata.name)
                .collect::<Vec<_>>(),
        )
    };
    let first = eventually(WITHIN, || async { completed().await?.into_iter().next() }).await;
    let Some(first) = first else {
        panic!("no first run\n{}", ctl.log());
    };
    // A second manual run; the first is deleted once the second completed.
    apply("run-2");
    let only_second = eventually(WITHIN, || async {
        let all: Vec<String> = jobs
            .list(&Default::default())
            .await
            .ok()?
            .items
            .into_iter()
            .filter_map(|j| j.metadata.name)
            .collect();
        let done = completed().await?;
        (all.len() == 1 && done.len() == 1 && done[0] != first).then_some(done)
    })
    .await;
    assert!(
        only_second.is_some(),
        "jobs: {:?}\n{}",
        completed().await,
        ctl.log()
    );
}
