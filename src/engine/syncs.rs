//! The engine's side of the sync runtime: the running schedules (pieces of the topology, see
//! [`super::schedules`]) and the valid SyncJobs handed to it (it keeps an unchanged
//! schedule's timer), the publish path it sinks records through, and the status it reports.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, Weak};

use arc_swap::ArcSwap;
use async_trait::async_trait;
use serde_json::{Map, Value};

use crate::api::{Kind, READY, SyncJobPhase, SyncScheduleStatus};
use crate::store::NewEvent;
use crate::sync::{
    DesiredSyncs, JobEntry, JobRecord, Key, Publisher, Reporter, SYNC_FINISHED, SinkError,
};

use super::config::EngineConfig;
use super::piece::{Pieces, Problems};
use super::schedules::SchedulePiece;
use super::snapshot::{ObjectKey, Snapshot};
use super::status::StatusBoard;
use super::topology::Topology;

/// Condition type set on a SyncJob once it ended.
pub const COMPLETE: &str = "Complete";

/// What the sync runtime runs: the running schedules, the SyncJobs that have no problem,
/// and the base URLs of the Integrations and the Transformations they reference.
pub fn desired(
    snap: &Snapshot,
    schedules: &Pieces<SchedulePiece>,
    problems: &Problems,
) -> DesiredSyncs {
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
    for (k, piece) in schedules {
        out.schedules.insert(key(k), piece.entry.clone());
    }
    let valid_jobs = snap
        .jobs
        .iter()
        .filter(|(k, _)| problems.get(Kind::SyncJob, k).is_none());
    for (k, obj) in valid_jobs {
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

/// What the sync runtime of an engine reports to and reads from.
pub struct SyncParts {
    /// The store.
    pub store: Arc<dyn crate::store::Store>,
    /// The status board.
    pub board: StatusBoard,
    /// Job specs, kept for the resource views.
    pub specs: JobSpecs,
    /// The running topology, whose Integrations sync jobs call through.
    pub topology: Arc<ArcSwap<Topology>>,
    /// Where records are published (the engine, held weakly).
    pub publisher: Weak<dyn Publisher>,
}

/// The sync runtime of an engine: it publishes through the engine, reports on its status
/// board and guards forward sinks with its delivery policy.
pub fn runtime(parts: SyncParts, config: &EngineConfig) -> crate::sync::Syncs {
    crate::sync::Syncs::new(crate::sync::SyncDeps {
        store: parts.store,
        publisher: Arc::new(WeakPublisher(parts.publisher)),
        reporter: Arc::new(BoardReporter {
            board: parts.board,
            specs: parts.specs,
        }),
        clock: Arc::new(crate::sync::SystemClock),
        sources: integration_sources(parts.topology),
        config: crate::sync::SyncConfig {
            policy: config.delivery.policy.clone(),
            progress_every: config.sync_progress,
        },
    })
}

/// Sources that call through the running Integration (its auth, rate limit, retries and
/// circuit breaker), looked up when a job starts.
fn integration_sources(topology: Arc<ArcSwap<Topology>>) -> crate::sync::SourceFactory {
    Arc::new(
        move |key, _base_url| match topology.load().integration(&key.namespace, &key.name) {
            Some(piece) => Ok(piece.client.clone() as Arc<dyn crate::sync::Source>),
            None => Err(crate::sync::SourceError::Unavailable(format!(
                "integration {}/{} is not running (see its Ready condition)",
                key.namespace, key.name
            ))),
        },
    )
}

/// Publishes through a publisher held weakly (the engine, which owns the sync runtime).
struct WeakPublisher(Weak<dyn Publisher>);

#[async_trait]
impl Publisher for WeakPublisher {
    async fn publish(&self, event: NewEvent) -> Result<(), SinkError> {
        let publisher = self.0.upgrade().ok_or(SinkError::Closed)?;
        publisher.publish(event).await
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
