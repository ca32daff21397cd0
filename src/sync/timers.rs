//! The schedules' side of the sync runtime: the diff that keeps an unchanged schedule's
//! timer, manual triggers, due runs under the concurrency policy, and schedule status.

use chrono::{DateTime, Utc};

use crate::api::{LocalRef, SyncJobRunTemplate, SyncJobSpec, SyncScheduleStatus};
use crate::error_chain::chain;
use crate::store::SyncState;

use super::actor::{Actor, ScheduleInputs, SchedulePiece, Slot};
use super::cron::Schedule;
use super::desired::DesiredSyncs;
use super::job_event::JobEvent;
use super::record::{JobRecord, Key};
use super::scheduler::{Admit, admit, due, job_name, requested};

impl Actor {
    /// Applies the desired state: schedule diff, SyncJob resources, triggers, due runs.
    pub(super) async fn reconcile(&mut self) {
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

    pub(super) async fn diff_schedules(&mut self, desired: &DesiredSyncs) {
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
                    tracing::warn!(schedule = %key, error = %chain(&e), "sync schedule not running");
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
                            tracing::warn!(schedule = %key, error = %chain(&e), "reading sync state");
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

    /// Starts what is due for one schedule and sets its timer.
    pub(super) async fn tick(
        &mut self,
        key: &Key,
        requested_at: Option<String>,
        now: DateTime<Utc>,
    ) {
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
        if decision == Admit::Skip {
            // Not run, so not the last schedule time; this process does not try it again.
            if let Some(piece) = self.schedules.get_mut(key) {
                piece.floor = piece.floor.max(at);
            }
            tracing::info!(schedule = %key, active = ?active, "run skipped: concurrencyPolicy Forbid and a run is active");
            return;
        }
        let stored = self
            .state_lock
            .update(self.deps.store.as_ref(), key, |state| {
                state.last_schedule_time = Some(state.last_schedule_time.map_or(at, |l| l.max(at)));
            })
            .await;
        match (stored, self.schedules.get_mut(key)) {
            (Ok(state), Some(piece)) => piece.state = state,
            (Err(e), Some(piece)) => {
                tracing::warn!(schedule = %key, error = %chain(&e), "storing sync state");
                piece.state.last_schedule_time = Some(at);
            }
            _ => {}
        }
        if decision == Admit::ReplaceActive {
            for job in &active {
                if let Some(c) = self.jobs.get(job).and_then(|s| s.cancel.as_ref()) {
                    c.cancel();
                }
            }
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
    pub(super) fn active(&self, schedule: &Key) -> Vec<Key> {
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

    pub(super) fn report_schedule(&self, key: &Key) {
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
    pub(super) fn next_wake(&self) -> Option<DateTime<Utc>> {
        self.schedules.values().filter_map(|p| p.next).min()
    }
}
