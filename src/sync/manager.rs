//! The sync runtime: one task that keeps every SyncSchedule's timer (an unchanged schedule
//! keeps its timer across reloads), starts runs when due, on a manual trigger or for
//! hand-created SyncJobs, applies the concurrency policy and history limits, and on
//! becoming leader resumes (or fails) runs a crash interrupted. It acts only while leader.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{broadcast, mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::api::{
    LocalRef, SyncJobPhase, SyncJobRunTemplate, SyncJobSpec, SyncJobType, SyncScheduleSpec,
    SyncScheduleStatus, TransformationSpec,
};
use crate::delivery::DestinationPolicy;
use crate::store::{Store, SyncState};

use super::cron::{Clock, Schedule};
use super::desired::{DesiredSyncs, PartsContext, SourceFactory, build_parts};
use super::record::{JobRecord, Key};
use super::runner::{self, Reporter, RunContext, RunOutcome};
use super::scheduler::{Admit, admit, due, job_name, requested};
use super::sink::Publisher;

/// Settings of the sync runtime.
#[derive(Clone, Debug)]
pub struct SyncConfig {
    /// The SSRF guard of forward sinks.
    pub policy: Arc<DestinationPolicy>,
    /// Job progress is reported at most this often.
    pub progress_every: Duration,
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            policy: Arc::new(DestinationPolicy::default()),
            progress_every: Duration::from_secs(2),
        }
    }
}

/// A change of the jobs, for front-ends that mirror them (the controller creates SyncJob
/// resources for the runs a schedule starts and deletes those beyond the history limits).
#[derive(Clone, Debug, PartialEq)]
pub enum JobEvent {
    /// A schedule started a run.
    Created {
        /// The job.
        key: Key,
        /// Its spec.
        spec: Box<SyncJobSpec>,
    },
    /// A run ended.
    Finished {
        /// The job.
        key: Key,
        /// How.
        phase: SyncJobPhase,
    },
    /// A finished run was removed by the history limits.
    Deleted {
        /// The job.
        key: Key,
    },
}

/// What the runtime is built on.
pub struct SyncDeps {
    /// Job records and schedule state.
    pub store: Arc<dyn Store>,
    /// The engine's publish path.
    pub publisher: Arc<dyn Publisher>,
    /// Status.
    pub reporter: Arc<dyn Reporter>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Makes the source of an Integration.
    pub sources: SourceFactory,
    /// Settings.
    pub config: SyncConfig,
}

/// The sync runtime's handle: takes desired state, runs until cancelled.
pub struct Syncs {
    deps: Arc<SyncDeps>,
    desired: watch::Sender<Option<Arc<DesiredSyncs>>>,
    events: broadcast::Sender<JobEvent>,
}

impl Syncs {
    /// A runtime with nothing to run yet.
    pub fn new(deps: SyncDeps) -> Self {
        Self {
            deps: Arc::new(deps),
            desired: watch::channel(None).0,
            events: broadcast::channel(256).0,
        }
    }

    /// Replaces the desired state (the running task picks it up).
    pub fn apply(&self, desired: DesiredSyncs) {
        self.desired.send_replace(Some(Arc::new(desired)));
    }

    /// Job changes from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<JobEvent> {
        self.events.subscribe()
    }

    /// Runs schedules and jobs while `leader` is true, until `cancel`. Runs in flight when
    /// cancelled (or when leadership is lost) stop where they are, checkpointed, and are
    /// resumed by the next leader.
    pub async fn run(&self, mut leader: watch::Receiver<bool>, cancel: CancellationToken) {
        let mut desired_rx = self.desired.subscribe();
        let first = tokio::select! {
            _ = cancel.cancelled() => return,
            d = desired_rx.wait_for(Option::is_some) => d.ok().and_then(|d| d.clone()),
        };
        let Some(first) = first else { return };
        let (done_tx, mut done_rx) = mpsc::unbounded_channel();
        let mut actor = Actor {
            deps: self.deps.clone(),
            events: self.events.clone(),
            desired: first,
            schedules: BTreeMap::new(),
            jobs: BTreeMap::new(),
            done: done_tx,
            shutdown: cancel.child_token(),
            state_lock: super::state::StateLock::default(),
        };
        let mut leader_open = true;
        loop {
            while !*leader.borrow_and_update() {
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    r = leader.changed() => if r.is_err() { return },
                }
            }
            actor.shutdown = cancel.child_token();
            actor.recover().await;
            loop {
                actor.reconcile().await;
                let wake = actor.next_wake();
                let clock = self.deps.clock.clone();
                tokio::select! {
                    _ = cancel.cancelled() => {
                        actor.shutdown.cancel();
                        return;
                    }
                    r = leader.changed(), if leader_open => {
                        if r.is_err() {
                            leader_open = false;
                        } else if !*leader.borrow() {
                            actor.shutdown.cancel();
                            break;
                        }
                    }
                    r = desired_rx.changed() => {
                        if r.is_err() { return; }
                        if let Some(d) = desired_rx.borrow_and_update().clone() {
                            actor.desired = d;
                        }
                    }
                    Some(outcome) = done_rx.recv() => actor.finished(outcome).await,
                    _ = async move {
                        match wake {
                            Some(t) => clock.sleep_until(t).await,
                            None => std::future::pending().await,
                        }
                    } => {}
                }
            }
        }
    }
}

/// A running schedule: its inputs (diffed), parsed cron, stored state and timer.
struct SchedulePiece {
    inputs: ScheduleInputs,
    schedule: Option<Schedule>,
    /// Runs at or before this time are never caught up (first seen, or resumed from suspend).
    floor: DateTime<Utc>,
    state: SyncState,
    next: Option<DateTime<Utc>>,
    handled_request: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
struct ScheduleInputs {
    spec: SyncScheduleSpec,
    base_url: Option<String>,
    transformation: Option<TransformationSpec>,
}

/// A known job: its latest record and, while it runs here, how to cancel it.
struct Slot {
    record: JobRecord,
    cancel: Option<CancellationToken>,
    /// A SyncJob resource of the desired state stands for it.
    desired: bool,
}

struct Actor {
    deps: Arc<SyncDeps>,
    events: broadcast::Sender<JobEvent>,
    desired: Arc<DesiredSyncs>,
    schedules: BTreeMap<Key, SchedulePiece>,
    jobs: BTreeMap<Key, Slot>,
    done: mpsc::UnboundedSender<RunOutcome>,
    shutdown: CancellationToken,
    state_lock: super::state::StateLock,
}

impl Actor {
    fn now(&self) -> DateTime<Utc> {
        self.deps.clock.now()
    }

    /// Loads stored jobs; runs a crash (or a lost leadership) left unfinished are resumed
    /// from their checkpoint, or marked Failed when they cannot be.
    async fn recover(&mut self) {
        let records = match JobRecord::load_all(self.deps.store.as_ref()).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "loading stored sync jobs");
                Vec::new()
            }
        };
        for record in records {
            if self
                .jobs
                .get(&record.key)
                .is_some_and(|s| s.cancel.is_some())
            {
                continue;
            }
            let key = record.key.clone();
            let unfinished = !record.finished();
            let desired = self.jobs.get(&key).is_some_and(|s| s.desired);
            self.jobs.insert(
                key.clone(),
                Slot {
                    record,
                    cancel: None,
                    desired,
                },
            );
            if unfinished {
                tracing::info!(job = %key, "resuming a sync job interrupted by a restart");
                self.start(&key).await;
            } else if let Some(slot) = self.jobs.get(&key) {
                self.deps.reporter.job(&slot.record);
            }
        }
    }

    /// Applies the desired state: schedule diff, SyncJob resources, triggers, due runs.
    async fn reconcile(&mut self) {
        let desired = self.desired.clone();
        self.diff_schedules(&desired).await;
        self.sync_job_resources(&desired).await;
        let now = self.now();
        let keys: Vec<Key> = self.schedules.keys().cloned().collect();
        for key in keys {
            self.tick(
                &key,
                desired
                    .schedules
                    .get(&key)
                    .and_then(|e| e.requested_at.clone()),
                now,
            )
            .await;
            self.report_schedule(&key);
        }
    }

    async fn diff_schedules(&mut self, desired: &DesiredSyncs) {
        let now = self.now();
        self.schedules
            .retain(|k, _| desired.schedules.contains_key(k));
        for (key, entry) in &desired.schedules {
            let spec = &entry.spec;
            let inputs = ScheduleInputs {
                spec: spec.clone(),
                base_url: desired
                    .integrations
                    .get(&Key::new(&key.namespace, &spec.integration_ref.name))
                    .cloned(),
                transformation: spec.job_template.transformation_ref.as_ref().and_then(|r| {
                    desired
                        .transformations
                        .get(&Key::new(&key.namespace, &r.name))
                        .cloned()
                }),
            };
            let old = self.schedules.get(key);
            if old.is_some_and(|p| p.inputs == inputs) {
                continue;
            }
            let schedule = match Schedule::parse(&spec.schedule, spec.time_zone.as_deref()) {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::warn!(schedule = %key, error = %e, "sync schedule not running");
                    None
                }
            };
            let (state, floor, handled) = match old {
                Some(p) => {
                    let floor = if p.inputs.spec.suspend && !spec.suspend {
                        now
                    } else {
                        p.floor
                    };
                    (p.state.clone(), floor, p.handled_request.clone())
                }
                None => {
                    let state = self
                        .deps
                        .store
                        .sync_state(&key.namespace, &key.name)
                        .await
                        .unwrap_or_else(|e| {
                            tracing::warn!(schedule = %key, error = %e, "reading sync state");
                            SyncState::default()
                        });
                    let floor = state.last_schedule_time.unwrap_or(now);
                    (state, floor, None)
                }
            };
            self.schedules.insert(
                key.clone(),
                SchedulePiece {
                    inputs,
                    schedule,
                    floor,
                    state,
                    next: None,
                    handled_request: handled,
                },
            );
        }
    }

    /// Hand-created SyncJobs run once; `spec.cancel` or deletion stops a running one.
    async fn sync_job_resources(&mut self, desired: &DesiredSyncs) {
        let now = self.now();
        let gone: Vec<Key> = self
            .jobs
            .iter()
            .filter(|(k, s)| s.desired && !desired.jobs.contains_key(*k))
            .map(|(k, _)| k.clone())
            .collect();
        for key in gone {
            if let Some(slot) = self.jobs.remove(&key) {
                if let Some(c) = slot.cancel {
                    c.cancel();
                }
                self.forget(&key).await;
            }
        }
        for (key, entry) in &desired.jobs {
            match self.jobs.get_mut(key) {
                Some(slot) => {
                    slot.desired = true;
                    if entry.spec.cancel
                        && let Some(c) = &slot.cancel
                    {
                        c.cancel();
                    }
                }
                None => {
                    let schedule = entry.spec.schedule_ref.as_ref().map(|r| r.name.clone());
                    let mut record = JobRecord::new(key.clone(), schedule, entry.spec.clone(), now);
                    let cancelled = entry.spec.cancel;
                    if cancelled {
                        record.finish(SyncJobPhase::Cancelled, now, None);
                        self.save(&record).await;
                        self.deps.reporter.job(&record);
                    }
                    self.jobs.insert(
                        key.clone(),
                        Slot {
                            record,
                            cancel: None,
                            desired: true,
                        },
                    );
                    if !cancelled {
                        self.start(key).await;
                    }
                }
            }
        }
    }

    /// Starts what is due for one schedule and sets its timer.
    async fn tick(&mut self, key: &Key, requested_at: Option<String>, now: DateTime<Utc>) {
        let Some(piece) = self.schedules.get_mut(key) else {
            return;
        };
        let manual = requested(
            requested_at.as_deref(),
            piece.handled_request.as_deref(),
            piece.state.last_schedule_time,
        );
        piece.handled_request = requested_at.or(piece.handled_request.take());
        let spec = piece.inputs.spec.clone();
        let mut run_at = manual.then_some(now);
        match (&piece.schedule, spec.suspend) {
            (Some(schedule), false) => {
                let base = piece
                    .state
                    .last_schedule_time
                    .map_or(piece.floor, |l| l.max(piece.floor));
                let d = due(schedule, Some(base), base, now);
                piece.next = d.next;
                if run_at.is_none() {
                    run_at = d.run;
                }
            }
            _ => {
                piece.next = None;
                if spec.suspend {
                    piece.floor = now;
                }
            }
        }
        let Some(at) = run_at else { return };
        let active = self.active(key);
        let decision = if manual {
            Admit::Start
        } else {
            admit(spec.concurrency_policy, active.len())
        };
        let stored = self
            .state_lock
            .update(self.deps.store.as_ref(), key, |state| {
                state.last_schedule_time = Some(state.last_schedule_time.map_or(at, |l| l.max(at)));
            })
            .await;
        match (stored, self.schedules.get_mut(key)) {
            (Ok(state), Some(piece)) => piece.state = state,
            (Err(e), Some(piece)) => {
                tracing::warn!(schedule = %key, error = %e, "storing sync state");
                piece.state.last_schedule_time = Some(at);
            }
            _ => {}
        }
        match decision {
            Admit::Skip => {
                tracing::info!(schedule = %key, active = ?active, "run skipped: concurrencyPolicy Forbid and a run is active");
                return;
            }
            Admit::ReplaceActive => {
                for job in &active {
                    if let Some(c) = self.jobs.get(job).and_then(|s| s.cancel.as_ref()) {
                        c.cancel();
                    }
                }
            }
            Admit::Start => {}
        }
        let mut name = job_name(&key.name, at);
        let mut t = at;
        while self.jobs.contains_key(&Key::new(&key.namespace, &name)) {
            t += chrono::Duration::seconds(1);
            name = job_name(&key.name, t);
        }
        let job_key = Key::new(&key.namespace, &name);
        let spec = SyncJobSpec {
            schedule_ref: Some(LocalRef {
                name: key.name.clone(),
            }),
            template: SyncJobRunTemplate {
                integration_ref: spec.integration_ref.clone(),
                job: spec.job_template.clone(),
            },
            cancel: false,
        };
        let record = JobRecord::new(job_key.clone(), Some(key.name.clone()), spec.clone(), now);
        self.jobs.insert(
            job_key.clone(),
            Slot {
                record,
                cancel: None,
                desired: false,
            },
        );
        let _ = self.events.send(JobEvent::Created {
            key: job_key.clone(),
            spec: Box::new(spec),
        });
        self.start(&job_key).await;
    }

    /// Running jobs of a schedule.
    fn active(&self, schedule: &Key) -> Vec<Key> {
        self.jobs
            .iter()
            .filter(|(k, s)| {
                k.namespace == schedule.namespace
                    && s.record.schedule.as_deref() == Some(schedule.name.as_str())
                    && s.cancel.is_some()
            })
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Starts (or resumes) the run of a known job in the background.
    async fn start(&mut self, key: &Key) {
        let publisher = self.deps.publisher.clone();
        let ctx = PartsContext {
            desired: &self.desired,
            sources: &self.deps.sources,
            publisher: &publisher,
            policy: &self.deps.config.policy,
        };
        let Some(slot) = self.jobs.get(key) else {
            return;
        };
        let parts = build_parts(&key.namespace, &slot.record.spec.template, &ctx);
        let mut record = slot.record.clone();
        let parts = match parts {
            Ok(p) => p,
            Err(e) => {
                let now = self.now();
                let message = if record.checkpoint.is_some() {
                    format!("interrupted by a restart and cannot be resumed: {e}")
                } else {
                    e.to_string()
                };
                record.finish(SyncJobPhase::Failed, now, Some(message));
                record.checkpoint = None;
                self.save(&record).await;
                self.deps.reporter.job(&record);
                if let Some(slot) = self.jobs.get_mut(key) {
                    slot.record = record.clone();
                }
                let _ = self.events.send(JobEvent::Finished {
                    key: key.clone(),
                    phase: SyncJobPhase::Failed,
                });
                return;
            }
        };
        let watermark_in = match (&record.schedule, record.spec.template.job.job_type) {
            (Some(s), SyncJobType::Incremental) => self
                .schedules
                .get(&Key::new(&key.namespace, s))
                .and_then(|p| p.state.watermark.clone()),
            _ => None,
        };
        let cancel = CancellationToken::new();
        if let Some(slot) = self.jobs.get_mut(key) {
            slot.cancel = Some(cancel.clone());
        }
        let ctx = RunContext {
            store: self.deps.store.clone(),
            reporter: self.deps.reporter.clone(),
            clock: self.deps.clock.clone(),
            progress_every: self.deps.config.progress_every,
            state: self.state_lock.clone(),
        };
        let shutdown = self.shutdown.clone();
        let done = self.done.clone();
        record.status.phase = Some(SyncJobPhase::Running);
        tokio::spawn(async move {
            let outcome = runner::run(&ctx, &parts, record, watermark_in, cancel, shutdown).await;
            let _ = done.send(outcome);
        });
    }

    /// A run ended: remembers it, stores the schedule's watermark, applies history limits.
    async fn finished(&mut self, outcome: RunOutcome) {
        let key = outcome.record.key.clone();
        let Some(slot) = self.jobs.get_mut(&key) else {
            // Deleted while running: its last save must not bring it back.
            self.forget(&key).await;
            return;
        };
        slot.cancel = None;
        slot.record = outcome.record.clone();
        if !outcome.finished {
            return;
        }
        let phase = outcome.record.phase();
        let _ = self.events.send(JobEvent::Finished {
            key: key.clone(),
            phase,
        });
        let Some(schedule) = outcome.record.schedule.clone() else {
            return;
        };
        let skey = Key::new(&key.namespace, &schedule);
        if phase == SyncJobPhase::Completed {
            // The run stored its watermark and success time; take them over.
            match self
                .deps
                .store
                .sync_state(&skey.namespace, &skey.name)
                .await
            {
                Ok(state) => {
                    if let Some(p) = self.schedules.get_mut(&skey) {
                        p.state = state;
                    }
                }
                Err(e) => tracing::warn!(schedule = %skey, error = %e, "reading sync state"),
            }
        }
        self.history(&skey).await;
        self.report_schedule(&skey);
    }

    /// Deletes finished runs of a schedule beyond its history limits.
    async fn history(&mut self, schedule: &Key) {
        let Some(piece) = self.schedules.get(schedule) else {
            return;
        };
        let (keep_ok, keep_failed) = (
            piece.inputs.spec.successful_jobs_history_limit as usize,
            piece.inputs.spec.failed_jobs_history_limit as usize,
        );
        let mut finished: Vec<(&Key, &Slot)> = self
            .jobs
            .iter()
            .filter(|(k, s)| {
                k.namespace == schedule.namespace
                    && s.record.schedule.as_deref() == Some(schedule.name.as_str())
                    && s.cancel.is_none()
                    && s.record.finished()
            })
            .collect();
        finished.sort_by(|a, b| {
            b.1.record
                .created_at
                .cmp(&a.1.record.created_at)
                .then(b.0.cmp(a.0))
        });
        let (mut ok, mut failed) = (0, 0);
        let mut remove = Vec::new();
        for (key, slot) in finished {
            let (count, limit) = if slot.record.phase() == SyncJobPhase::Completed {
                (&mut ok, keep_ok)
            } else {
                (&mut failed, keep_failed)
            };
            *count += 1;
            if *count > limit {
                remove.push(key.clone());
            }
        }
        for key in remove {
            self.jobs.remove(&key);
            self.forget(&key).await;
            let _ = self.events.send(JobEvent::Deleted { key });
        }
    }

    /// Removes a job's record and status.
    async fn forget(&self, key: &Key) {
        if let Err(e) = self
            .deps
            .store
            .delete_object(super::record::JOB_KIND, &key.namespace, &key.name)
            .await
        {
            tracing::warn!(job = %key, error = %e, "deleting a sync job record");
        }
        self.deps.reporter.job_removed(key);
    }

    async fn save(&self, record: &JobRecord) {
        if let Err(e) = record.save(self.deps.store.as_ref()).await {
            tracing::warn!(job = %record.key, error = %e, "storing a sync job");
        }
    }

    fn report_schedule(&self, key: &Key) {
        let Some(piece) = self.schedules.get(key) else {
            return;
        };
        let time = |t: Option<DateTime<Utc>>| t.and_then(super::record::to_time);
        let status = SyncScheduleStatus {
            last_schedule_time: time(piece.state.last_schedule_time),
            last_successful_time: time(piece.state.last_successful_time),
            next_schedule_time: time(piece.next),
            active: self.active(key).into_iter().map(|k| k.name).collect(),
            watermark: piece.state.watermark.clone(),
            ..SyncScheduleStatus::default()
        };
        self.deps.reporter.schedule(key, &status);
    }

    /// The earliest schedule timer.
    fn next_wake(&self) -> Option<DateTime<Utc>> {
        self.schedules.values().filter_map(|p| p.next).min()
    }
}
