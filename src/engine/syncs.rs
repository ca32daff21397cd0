//! The engine's side of sync schedules: the desired schedules and jobs handed to the sync
//! runtime (valid ones only; the runtime diffs them so an unchanged schedule keeps its
//! timer), the publish path it sinks records through, and the status it reports.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, Weak};

use async_trait::async_trait;
use serde_json::{Map, Value};

use crate::api::{Kind, READY, SyncJobPhase, SyncScheduleStatus};
use crate::store::{Acceptance, NewEvent};
use crate::sync::{
    DesiredSyncs, JobEntry, JobRecord, Key, Publisher, Reporter, SYNC_FINISHED, SYNC_REQUESTED_AT,
    ScheduleEntry, SinkError,
};

use super::runtime::Engine;
use super::snapshot::{ObjectKey, Snapshot};
use super::status::StatusBoard;
use super::topology::BuildError;

/// Condition type set on a SyncJob once it ended.
pub const COMPLETE: &str = "Complete";

/// The schedules and jobs of a snapshot that have no problem, with the base URLs of the
/// Integrations and the Transformations they reference.
pub fn desired(
    snap: &Snapshot,
    invalid: &BTreeMap<Kind, BTreeMap<ObjectKey, BuildError>>,
) -> DesiredSyncs {
    let bad = |kind: Kind, key: &ObjectKey| invalid.get(&kind).is_some_and(|m| m.contains_key(key));
    let key = |k: &ObjectKey| Key::new(&k.namespace, &k.name);
    let mut out = DesiredSyncs::default();
    for (k, obj) in &snap.integrations {
        let base = obj.spec.base_url.clone().or_else(|| {
            let provider = obj.spec.provider.as_deref()?;
            snap.providers
                .get(&ObjectKey::cluster(provider))?
                .spec
                .base_url
                .clone()
        });
        if let Some(base) = base {
            out.integrations.insert(key(k), base.0);
        }
    }
    for (k, obj) in &snap.transformations {
        out.transformations.insert(key(k), obj.spec.clone());
    }
    for (k, obj) in snap
        .schedules
        .iter()
        .filter(|(k, _)| !bad(Kind::SyncSchedule, k))
    {
        out.schedules.insert(
            key(k),
            ScheduleEntry {
                spec: obj.spec.clone(),
                requested_at: obj.meta.annotations.get(SYNC_REQUESTED_AT).cloned(),
            },
        );
    }
    for (k, obj) in snap.jobs.iter().filter(|(k, _)| !bad(Kind::SyncJob, k)) {
        out.jobs.insert(
            key(k),
            JobEntry {
                spec: obj.spec.clone(),
                finished: obj
                    .meta
                    .annotations
                    .get(SYNC_FINISHED)
                    .and_then(|p| serde_json::from_value(Value::String(p.clone())).ok()),
            },
        );
    }
    out
}

/// The sync runtime of an engine: it publishes through the engine (held weakly), reports on
/// its status board (keeping job specs in `specs` for the resource views) and guards
/// forward sinks with its delivery policy.
pub fn runtime(
    (store, board, specs): (Arc<dyn crate::store::Store>, StatusBoard, JobSpecs),
    config: &super::runtime::EngineConfig,
    engine: Weak<Engine>,
) -> crate::sync::Syncs {
    crate::sync::Syncs::new(crate::sync::SyncDeps {
        store,
        publisher: Arc::new(EnginePublisher(engine.clone())),
        reporter: Arc::new(BoardReporter { board, specs }),
        clock: Arc::new(crate::sync::SystemClock),
        sources: integration_sources(engine.clone()),
        config: crate::sync::SyncConfig {
            policy: config.delivery.policy.clone(),
            progress_every: config.sync_progress,
        },
    })
}

/// Sources that call through the running Integration (its auth, rate limit, retries and
/// circuit breaker), looked up when a job starts.
fn integration_sources(engine: Weak<Engine>) -> crate::sync::SourceFactory {
    Arc::new(move |key, _base_url| {
        let piece = engine
            .upgrade()
            .and_then(|engine| engine.topology().integration(&key.namespace, &key.name));
        match piece {
            Some(piece) => Ok(piece.client.clone() as Arc<dyn crate::sync::Source>),
            None => Err(crate::sync::SourceError::Unavailable(format!(
                "integration {}/{} is not running (see its Ready condition)",
                key.namespace, key.name
            ))),
        }
    })
}

/// Sinks records through the engine's publish path (fan-out, durable acceptance).
pub struct EnginePublisher(pub Weak<Engine>);

#[async_trait]
impl Publisher for EnginePublisher {
    async fn publish(&self, event: NewEvent) -> Result<(), SinkError> {
        let engine = self.0.upgrade().ok_or(SinkError::Closed)?;
        let topology = engine.topology();
        let targets = engine
            .fan_out(
                &topology,
                &event.namespace,
                &event.event_type,
                &event.id,
                &event.payload,
            )
            .await
            .map_err(|e| SinkError::Publish(Box::new(e)))?;
        engine
            .accept(Acceptance {
                event,
                targets,
                dedup: None,
            })
            .await
            .map(drop)
            .map_err(|e| SinkError::Publish(Box::new(e)))
    }
}

/// The specs of the jobs the sync runtime knows (scheduled runs have no resource in the
/// desired state in standalone mode), for the resource views.
pub type JobSpecs = Arc<Mutex<BTreeMap<ObjectKey, Value>>>;

/// Reports sync status on the engine's status board.
pub struct BoardReporter {
    /// The board.
    pub board: StatusBoard,
    /// Job specs, kept for the resource views.
    pub specs: JobSpecs,
}

impl Reporter for BoardReporter {
    fn job(&self, record: &JobRecord) {
        let key = ObjectKey::new(&record.key.namespace, &record.key.name);
        if let Ok(spec) = serde_json::to_value(&record.spec) {
            self.specs
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key.clone(), spec);
        }
        let mut fields = match serde_json::to_value(&record.status) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        fields.remove("conditions");
        fields.remove("observedGeneration");
        for k in ["startedAt", "completedAt", "phase", "errors"] {
            fields.entry(k).or_insert(Value::Null);
        }
        self.board.set_fields(Kind::SyncJob, &key, fields);
        let s = &record.status;
        let (ready, complete, reason, message) = match record.phase() {
            SyncJobPhase::Pending => (false, false, "Pending", "waiting to start".to_owned()),
            SyncJobPhase::Running => (false, false, "Running", "the job is running".to_owned()),
            SyncJobPhase::Completed => (
                true,
                true,
                "Completed",
                format!(
                    "synced {} records ({} failed) from {} pages",
                    s.succeeded_records, s.failed_records, s.pages_fetched
                ),
            ),
            SyncJobPhase::Failed => (
                false,
                false,
                "Failed",
                s.errors
                    .last()
                    .cloned()
                    .unwrap_or_else(|| "the job failed".into()),
            ),
            SyncJobPhase::Cancelled => (false, false, "Cancelled", "the job was cancelled".into()),
        };
        let generation = self
            .board
            .get(Kind::SyncJob, &key)
            .and_then(|s| s.observed_generation);
        self.board.set_condition(
            Kind::SyncJob,
            &key,
            generation,
            READY,
            ready,
            reason,
            &message,
        );
        self.board.set_condition(
            Kind::SyncJob,
            &key,
            generation,
            COMPLETE,
            complete,
            reason,
            &message,
        );
    }

    fn job_removed(&self, key: &Key) {
        let key = ObjectKey::new(&key.namespace, &key.name);
        self.specs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
        self.board.remove(Kind::SyncJob, &key);
    }

    fn schedule(&self, key: &Key, status: &SyncScheduleStatus) {
        let mut fields = match serde_json::to_value(status) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        fields.remove("conditions");
        fields.remove("observedGeneration");
        for k in [
            "lastScheduleTime",
            "lastSuccessfulTime",
            "nextScheduleTime",
            "active",
            "watermark",
        ] {
            fields.entry(k).or_insert(Value::Null);
        }
        let key = ObjectKey::new(&key.namespace, &key.name);
        if self.board.get(Kind::SyncSchedule, &key).is_some() {
            self.board.set_fields(Kind::SyncSchedule, &key, fields);
        }
    }
}
