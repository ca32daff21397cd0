//! The sync runtime on a manual clock: schedule, concurrency policies, one catch-up for
//! missed runs, suspend. A real SQLite store; the source is an in-memory API whose pages
//! wait until the test lets them through.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::json;
use tokio::sync::{Semaphore, broadcast, watch};
use tokio_util::sync::CancellationToken;

use super::*;
use crate::api::{SyncJobPhase, SyncScheduleSpec, SyncScheduleStatus};
use crate::store::{NewEvent, SyncState};

/// An API of one page of two records; each call waits for a permit.
struct GatedSource {
    gate: Arc<Semaphore>,
    calls: Arc<std::sync::atomic::AtomicUsize>,
}

#[async_trait]
impl Source for GatedSource {
    async fn call(&self, _req: CallRequest) -> Result<CallResponse, SourceError> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let permit = self.gate.acquire().await.expect("gate open");
        permit.forget();
        Ok(CallResponse {
            status: http::StatusCode::OK,
            headers: http::HeaderMap::new(),
            body: bytes::Bytes::from_static(br#"[{"id": 1}, {"id": 2}]"#),
        })
    }
}

#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<NewEvent>>,
    jobs: Mutex<BTreeMap<Key, JobRecord>>,
    schedules: watch::Sender<Option<SyncScheduleStatus>>,
}

#[async_trait]
impl Publisher for Recorder {
    async fn publish(&self, event: NewEvent) -> Result<(), SinkError> {
        self.events.lock().unwrap().push(event);
        Ok(())
    }
}

struct Board(Arc<Recorder>);

impl Reporter for Board {
    fn job(&self, record: &JobRecord) {
        self.0
            .jobs
            .lock()
            .unwrap()
            .insert(record.key.clone(), record.clone());
    }
    fn job_removed(&self, key: &Key) {
        self.0.jobs.lock().unwrap().remove(key);
    }
    fn schedule(&self, _key: &Key, status: &SyncScheduleStatus) {
        self.0.schedules.send_replace(Some(status.clone()));
    }
}

struct Rig {
    syncs: Arc<Syncs>,
    clock: Arc<ManualClock>,
    gate: Arc<Semaphore>,
    recorder: Arc<Recorder>,
    events: broadcast::Receiver<JobEvent>,
    store: Arc<dyn crate::store::Store>,
    cancel: CancellationToken,
    leader: watch::Sender<bool>,
    calls: Arc<std::sync::atomic::AtomicUsize>,
    _dir: tempfile::TempDir,
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn schedule(extra: serde_json::Value) -> SyncScheduleSpec {
    let mut spec = json!({
        "integrationRef": {"name": "api"},
        "schedule": "*/5 * * * *",
        "jobTemplate": {
            "entityType": "thing",
            "request": {"path": "/things"},
            "sink": {"publish": {"eventType": "thing.synced"}}
        }
    });
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
        s.extend(e.clone());
    }
    serde_json::from_value(spec).unwrap()
}

async fn rig(start: &str, state: Option<SyncState>) -> Rig {
    rig_led(start, state, true).await
}

async fn rig_led(start: &str, state: Option<SyncState>, leading: bool) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::store::open(dir.path().join("s.db").to_str().unwrap())
        .await
        .unwrap();
    if let Some(state) = state {
        store.put_sync_state("ns", "s", &state).await.unwrap();
    }
    let clock = Arc::new(ManualClock::new(utc(start)));
    let gate = Arc::new(Semaphore::new(0));
    let recorder = Arc::new(Recorder::default());
    let g = gate.clone();
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let c = calls.clone();
    let syncs = Arc::new(Syncs::new(SyncDeps {
        store: store.clone(),
        publisher: recorder.clone(),
        reporter: Arc::new(Board(recorder.clone())),
        clock: clock.clone(),
        sources: Arc::new(move |_, _| {
            Ok(Arc::new(GatedSource {
                gate: g.clone(),
                calls: c.clone(),
            }) as _)
        }),
        config: SyncConfig::default(),
    }));
    let events = syncs.subscribe();
    let cancel = CancellationToken::new();
    let (leader, is_leader) = watch::channel(leading);
    let (s, c) = (syncs.clone(), cancel.clone());
    tokio::spawn(async move { s.run(is_leader, c).await });
    Rig {
        syncs,
        clock,
        gate,
        recorder,
        events,
        store,
        cancel,
        leader,
        calls,
        _dir: dir,
    }
}

impl Rig {
    fn apply(&self, spec: SyncScheduleSpec) {
        let mut d = DesiredSyncs::default();
        d.integrations
            .insert(Key::new("ns", "api"), "http://127.0.0.1:9".into());
        d.schedules.insert(
            Key::new("ns", "s"),
            ScheduleEntry {
                spec,
                requested_at: None,
            },
        );
        self.syncs.apply(d);
    }

    /// Waits until the schedule reports `next` as its next run (the tick was handled).
    async fn next_is(&self, next: Option<&str>) -> SyncScheduleStatus {
        let mut rx = self.recorder.schedules.subscribe();
        let want = next.map(utc);
        let status = tokio::time::timeout(
            Duration::from_secs(10),
            rx.wait_for(|s| {
                s.as_ref().is_some_and(|s| {
                    s.next_schedule_time.as_ref().and_then(record::from_time) == want
                })
            }),
        )
        .await
        .unwrap_or_else(|_| panic!("next run never became {next:?}"))
        .unwrap()
        .clone();
        status.unwrap()
    }

    /// The next job event.
    async fn event(&mut self) -> JobEvent {
        tokio::time::timeout(Duration::from_secs(10), self.events.recv())
            .await
            .expect("a job event")
            .unwrap()
    }

    fn created_so_far(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(e) = self.events.try_recv() {
            if let JobEvent::Created { key, .. } = e {
                out.push(key.name);
            }
        }
        out
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

fn ts(s: &str) -> i64 {
    utc(s).timestamp()
}

#[tokio::test]
async fn runs_on_schedule_and_reports_the_next_time() {
    let mut r = rig("2026-05-01T10:02:00Z", None).await;
    r.apply(schedule(json!({})));
    r.next_is(Some("2026-05-01T10:05:00Z")).await;
    assert!(
        r.created_so_far().is_empty(),
        "nothing before the first tick"
    );
    r.clock.set(utc("2026-05-01T10:05:00Z"));
    match r.event().await {
        JobEvent::Created { key, spec } => {
            assert_eq!(key.name, format!("s-{}", ts("2026-05-01T10:05:00Z")));
            assert_eq!(spec.schedule_ref.unwrap().name, "s");
        }
        other => panic!("unexpected {other:?}"),
    }
    let status = r.next_is(Some("2026-05-01T10:10:00Z")).await;
    assert_eq!(
        status
            .last_schedule_time
            .as_ref()
            .and_then(record::from_time),
        Some(utc("2026-05-01T10:05:00Z"))
    );
    r.gate.add_permits(1);
    match r.event().await {
        JobEvent::Finished { phase, .. } => assert_eq!(phase, SyncJobPhase::Completed),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(r.recorder.events.lock().unwrap().len(), 2);
    let state = r.store.sync_state("ns", "s").await.unwrap();
    assert_eq!(state.last_schedule_time, Some(utc("2026-05-01T10:05:00Z")));
    assert!(state.last_successful_time.is_some());
}

#[tokio::test]
async fn forbid_skips_a_run_while_one_is_active() {
    let mut r = rig("2026-05-01T10:04:00Z", None).await;
    r.apply(schedule(json!({"concurrencyPolicy": "Forbid"})));
    r.next_is(Some("2026-05-01T10:05:00Z")).await;
    r.clock.set(utc("2026-05-01T10:05:00Z"));
    assert!(matches!(r.event().await, JobEvent::Created { .. }));
    r.clock.set(utc("2026-05-01T10:10:00Z"));
    let status = r.next_is(Some("2026-05-01T10:15:00Z")).await;
    assert_eq!(status.active.len(), 1, "{status:?}");
    assert!(r.created_so_far().is_empty(), "the 10:10 run was skipped");
    // A skipped run is not a scheduled one.
    assert_eq!(
        status
            .last_schedule_time
            .as_ref()
            .and_then(record::from_time),
        Some(utc("2026-05-01T10:05:00Z"))
    );
}

#[tokio::test]
async fn replace_cancels_the_active_run() {
    let mut r = rig("2026-05-01T10:04:00Z", None).await;
    r.apply(schedule(json!({"concurrencyPolicy": "Replace"})));
    r.next_is(Some("2026-05-01T10:05:00Z")).await;
    r.clock.set(utc("2026-05-01T10:05:00Z"));
    let JobEvent::Created { key: first, .. } = r.event().await else {
        panic!("expected a run")
    };
    r.clock.set(utc("2026-05-01T10:10:00Z"));
    let mut cancelled = false;
    let mut second = None;
    while !(cancelled && second.is_some()) {
        match r.event().await {
            JobEvent::Finished { key, phase } if key == first => {
                assert_eq!(phase, SyncJobPhase::Cancelled);
                cancelled = true;
            }
            JobEvent::Created { key, .. } => second = Some(key),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        second.unwrap().name,
        format!("s-{}", ts("2026-05-01T10:10:00Z"))
    );
}

#[tokio::test]
async fn allow_runs_concurrently() {
    let mut r = rig("2026-05-01T10:04:00Z", None).await;
    r.apply(schedule(json!({"concurrencyPolicy": "Allow"})));
    r.next_is(Some("2026-05-01T10:05:00Z")).await;
    r.clock.set(utc("2026-05-01T10:05:00Z"));
    assert!(matches!(r.event().await, JobEvent::Created { .. }));
    r.clock.set(utc("2026-05-01T10:10:00Z"));
    assert!(matches!(r.event().await, JobEvent::Created { .. }));
    let status = r.next_is(Some("2026-05-01T10:15:00Z")).await;
    assert_eq!(status.active.len(), 2);
}

#[tokio::test]
async fn missed_runs_are_caught_up_once() {
    let state = SyncState {
        last_schedule_time: Some(utc("2026-05-01T09:00:00Z")),
        ..SyncState::default()
    };
    // Down for three days of a daily 09:00 schedule.
    let mut r = rig("2026-05-04T09:30:00Z", Some(state)).await;
    r.apply(schedule(json!({"schedule": "0 9 * * *"})));
    let JobEvent::Created { key, .. } = r.event().await else {
        panic!("expected the catch-up run")
    };
    assert_eq!(key.name, format!("s-{}", ts("2026-05-04T09:00:00Z")));
    r.next_is(Some("2026-05-05T09:00:00Z")).await;
    assert!(r.created_so_far().is_empty(), "only one catch-up");
}

#[tokio::test]
async fn suspended_schedules_do_not_run() {
    let mut r = rig("2026-05-01T10:04:00Z", None).await;
    r.apply(schedule(json!({"suspend": true})));
    r.next_is(None).await;
    r.clock.set(utc("2026-05-01T10:20:00Z"));
    // Resuming does not catch up the runs missed while suspended.
    r.apply(schedule(json!({"suspend": false})));
    r.next_is(Some("2026-05-01T10:25:00Z")).await;
    assert!(r.created_so_far().is_empty());
}

#[tokio::test]
async fn time_zones_shift_with_daylight_saving() {
    let mut r = rig("2026-03-28T12:00:00Z", None).await;
    r.apply(schedule(
        json!({"schedule": "0 9 * * *", "timeZone": "Europe/Berlin"}),
    ));
    // 09:00 CEST on the first day of summer time is 07:00 UTC.
    r.next_is(Some("2026-03-29T07:00:00Z")).await;
    r.clock.set(utc("2026-03-29T07:00:00Z"));
    let JobEvent::Created { key, .. } = r.event().await else {
        panic!("expected a run")
    };
    assert_eq!(key.name, format!("s-{}", ts("2026-03-29T07:00:00Z")));
}

#[tokio::test]
async fn only_the_leader_runs_schedules() {
    let mut r = rig_led("2026-05-01T10:04:00Z", None, false).await;
    r.apply(schedule(json!({})));
    r.clock.set(utc("2026-05-01T10:05:00Z"));
    tokio::task::yield_now().await;
    assert!(r.created_so_far().is_empty(), "a follower runs nothing");
    assert!(r.recorder.schedules.borrow().is_none());
    r.leader.send_replace(true);
    // Leading from 10:05 on: the schedule is first seen now, so the next run is 10:10.
    r.next_is(Some("2026-05-01T10:10:00Z")).await;
    r.clock.set(utc("2026-05-01T10:10:00Z"));
    assert!(matches!(r.event().await, JobEvent::Created { .. }));
}

#[tokio::test]
async fn history_limits_delete_old_finished_runs() {
    let mut r = rig("2026-05-01T10:04:00Z", None).await;
    r.apply(schedule(json!({
        "successfulJobsHistoryLimit": 1,
        "failedJobsHistoryLimit": 0
    })));
    r.next_is(Some("2026-05-01T10:05:00Z")).await;
    let mut names = Vec::new();
    for minute in ["05", "10", "15"] {
        r.clock.set(utc(&format!("2026-05-01T10:{minute}:00Z")));
        r.gate.add_permits(1);
        loop {
            match r.event().await {
                JobEvent::Created { key, .. } => names.push(key.name),
                JobEvent::Finished { phase, .. } => {
                    assert_eq!(phase, SyncJobPhase::Completed);
                    break;
                }
                JobEvent::Deleted { .. } => {}
            }
        }
    }
    // The two older runs are deleted from the store and the status; the last one stays.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let stored: Vec<String> = JobRecord::load_all(r.store.as_ref())
            .await
            .unwrap()
            .into_iter()
            .map(|j| j.key.name)
            .collect();
        let reported: Vec<String> = r
            .recorder
            .jobs
            .lock()
            .unwrap()
            .keys()
            .map(|k| k.name.clone())
            .collect();
        if stored == names[2..] && reported == names[2..] {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "stored {stored:?}, reported {reported:?}, runs {names:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A removed run's resource that lingers in the desired state (a cluster deleting it)
    // does not run again as a hand-created job.
    let mut d = DesiredSyncs::default();
    d.integrations
        .insert(Key::new("ns", "api"), "http://127.0.0.1:9".into());
    d.schedules.insert(
        Key::new("ns", "s"),
        ScheduleEntry {
            spec: schedule(json!({"successfulJobsHistoryLimit": 1, "failedJobsHistoryLimit": 0})),
            requested_at: Some("2026-05-01T10:16:00Z".into()),
        },
    );
    let lingering: JobRecord = JobRecord::load_all(r.store.as_ref())
        .await
        .unwrap()
        .remove(0);
    // Were it started, it would fail at once (its integration is missing), before the
    // trigger's run is created.
    let mut spec = lingering.spec.clone();
    spec.template.integration_ref.name = "missing".into();
    d.jobs.insert(
        Key::new("ns", &names[0]),
        JobEntry {
            spec,
            finished: None,
        },
    );
    r.syncs.apply(d);
    r.gate.add_permits(1);
    // The trigger's run is the only one started.
    loop {
        match r.event().await {
            JobEvent::Created { key, .. } => {
                assert!(!names.contains(&key.name), "{key}");
                break;
            }
            JobEvent::Finished { key, .. } => panic!("{key} ran again"),
            JobEvent::Deleted { .. } => {}
        }
    }
    assert!(
        !r.recorder
            .jobs
            .lock()
            .unwrap()
            .contains_key(&Key::new("ns", &names[0]))
    );
}

#[tokio::test]
async fn a_run_stopped_by_a_lost_leadership_resumes_when_leading_again() {
    let mut r = rig("2026-05-01T10:04:00Z", None).await;
    r.apply(schedule(json!({})));
    r.next_is(Some("2026-05-01T10:05:00Z")).await;
    r.clock.set(utc("2026-05-01T10:05:00Z"));
    let JobEvent::Created { key, .. } = r.event().await else {
        panic!("expected a run")
    };
    // The run waits on its first page; leadership moves away (the single-threaded test
    // runtime lets the runtime and the run react before this test goes on) and comes back.
    while r.calls.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        tokio::task::yield_now().await;
    }
    r.leader.send_replace(false);
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
    let stored = JobRecord::load_all(r.store.as_ref()).await.unwrap();
    assert!(
        stored
            .iter()
            .any(|j| j.key == key && j.phase() == SyncJobPhase::Running),
        "left Running for the next leader: {stored:?}"
    );
    r.leader.send_replace(true);
    r.gate.add_permits(1);
    loop {
        match r.event().await {
            JobEvent::Finished { key: k, phase } if k == key => {
                assert_eq!(phase, SyncJobPhase::Completed);
                break;
            }
            JobEvent::Created { key, .. } => panic!("{key} started instead of resuming"),
            _ => {}
        }
    }
    assert_eq!(r.recorder.events.lock().unwrap().len(), 2);
    assert_eq!(
        r.calls.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "the first page was asked for again by the resumed run"
    );
}
