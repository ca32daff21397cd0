//! The sync runtime's state and its jobs: stored jobs recovered on becoming leader (resumed
//! from their checkpoint, or Failed), SyncJob resources run once (stopped by `spec.cancel`
//! or deletion), runs started in the background, and what happens when one ends (history
//! limits).

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use crate::api::{SyncJobPhase, SyncJobType, SyncScheduleSpec, TransformationSpec};
use crate::error_chain::{chain, render};
use crate::store::SyncState;

use super::cron::Schedule;
use super::deps::SyncDeps;
use super::desired::{DesiredSyncs, PartsContext, build_parts};
use super::job_event::JobEvent;
use super::record::{JobRecord, Key};
use super::runner::{self, RunContext, RunOutcome};

/// A running schedule: its inputs (diffed), parsed cron, stored state and timer.
pub(super) struct SchedulePiece {
    pub(super) inputs: ScheduleInputs,
    pub(super) schedule: Option<Schedule>,
    /// Runs at or before this time are never caught up (first seen, or resumed from suspend).
    pub(super) floor: DateTime<Utc>,
    pub(super) state: SyncState,
    pub(super) next: Option<DateTime<Utc>>,
    pub(super) handled_request: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub(super) struct ScheduleInputs {
    pub(super) spec: SyncScheduleSpec,
    pub(super) base_url: Option<String>,
    pub(super) transformation: Option<TransformationSpec>,
}

/// A known job: its latest record and, while it runs here, how to cancel it.
pub(super) struct Slot {
    pub(super) record: JobRecord,
    pub(super) cancel: Option<CancellationToken>,
    /// A SyncJob resource of the desired state stands for it.
    pub(super) desired: bool,
}

/// The runtime's state, owned by its task.
pub(super) struct Actor {
    pub(super) deps: Arc<SyncDeps>,
    pub(super) events: broadcast::Sender<JobEvent>,
    pub(super) desired: Arc<DesiredSyncs>,
    pub(super) schedules: BTreeMap<Key, SchedulePiece>,
    pub(super) jobs: BTreeMap<Key, Slot>,
    pub(super) done: mpsc::UnboundedSender<RunOutcome>,
    pub(super) shutdown: CancellationToken,
    pub(super) state_lock: super::state::StateLock,
    /// Runs removed by the history limits, with when: their resources may still show up
    /// in the desired state for a while and must not run again as hand-created jobs.
    pub(super) tombstones: BTreeMap<Key, DateTime<Utc>>,
}

/// How long a removed run's name is remembered.
const TOMBSTONE_TTL: chrono::Duration = chrono::Duration::minutes(10);

impl Actor {
    pub(super) fn now(&self) -> DateTime<Utc> {
        self.deps.clock.now()
    }

    /// Loads stored jobs; runs a crash (or a lost leadership) left unfinished are resumed
    /// from their checkpoint, or marked Failed when they cannot be.
    pub(super) async fn recover(&mut self) {
        let records = match JobRecord::load_all(self.deps.store.as_ref()).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %chain(&e), "loading stored sync jobs");
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

    /// Hand-created SyncJobs run once; `spec.cancel` or deletion stops a running one.
    pub(super) async fn sync_job_resources(&mut self, desired: &DesiredSyncs) {
        let now = self.now();
        self.tombstones
            .retain(|k, at| desired.jobs.contains_key(k) || now - *at < TOMBSTONE_TTL);
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
            if self.tombstones.contains_key(key) {
                continue;
            }
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
                    // A job finished before this process knew it (its store was lost) keeps
                    // its status as written; it only counts for the history limits.
                    let runs = entry.finished.is_none() && !entry.spec.cancel;
                    if let Some(phase) = entry.finished {
                        record.status.phase = Some(phase);
                    } else if entry.spec.cancel {
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
                    if runs {
                        self.start(key).await;
                    }
                }
            }
        }
    }

    /// Stops every run here (leadership lost): they stay Running with their checkpoint, to be
    /// resumed by whoever leads next (this process too, by [`Actor::recover`]).
    pub(super) fn release_runs(&mut self) {
        self.shutdown.cancel();
        for slot in self.jobs.values_mut() {
            slot.cancel = None;
        }
    }

    /// Starts (or resumes) the run of a known job in the background.
    pub(super) async fn start(&mut self, key: &Key) {
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
                    format!(
                        "interrupted by a restart and cannot be resumed: {}",
                        chain(&e)
                    )
                } else {
                    render(&e)
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
    pub(super) async fn finished(&mut self, outcome: RunOutcome) {
        let key = outcome.record.key.clone();
        let Some(slot) = self.jobs.get_mut(&key) else {
            // Deleted while running: its last save must not bring it back.
            self.forget(&key).await;
            return;
        };
        if !outcome.finished {
            // Stopped by a lost leadership: left Running and checkpointed for whoever leads
            // next (its slot was released then; a resumed run may own it by now).
            return;
        }
        slot.cancel = None;
        slot.record = outcome.record.clone();
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
                Err(e) => {
                    tracing::warn!(schedule = %skey, error = %chain(&e), "reading sync state")
                }
            }
        }
        self.history(&skey).await;
        self.report_schedule(&skey);
    }

    /// Deletes finished runs of a schedule beyond its history limits.
    pub(super) async fn history(&mut self, schedule: &Key) {
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
        let now = self.now();
        for key in remove {
            self.tombstones.insert(key.clone(), now);
            self.jobs.remove(&key);
            self.forget(&key).await;
            let _ = self.events.send(JobEvent::Deleted { key });
        }
    }

    /// Removes a job's record and status.
    pub(super) async fn forget(&self, key: &Key) {
        if let Err(e) = self
            .deps
            .store
            .delete_object(super::record::JOB_KIND, &key.namespace, &key.name)
            .await
        {
            tracing::warn!(job = %key, error = %chain(&e), "deleting a sync job record");
        }
        self.deps.reporter.job_removed(key);
    }

    pub(super) async fn save(&self, record: &JobRecord) {
        if let Err(e) = record.save(self.deps.store.as_ref()).await {
            tracing::warn!(job = %record.key, error = %chain(&e), "storing a sync job");
        }
    }
}
