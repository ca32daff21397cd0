//! The engine's entry points for replays ([`super::replay`] has the types and checks,
//! [`super::replay_run`] the background queueing): start or answer a replay, and read its
//! progress.

use std::sync::Arc;

use chrono::Utc;

use crate::store::StoreError;

use super::replay::{
    OBJECT_KIND, ReplayError, ReplayPhase, ReplayProgress, ReplayRecord, ReplaySpec, check_range,
    check_types, replay_id,
};
use super::runtime::Engine;
use super::snapshot::ObjectKey;

impl Engine {
    /// Starts (or answers) the replay `id` (else derived) of `spec` to the running
    /// subscription `namespace`/`name`: a new one is stored and started; an existing one with
    /// the same range and types is answered as it is (and resumed if it is not running here
    /// and not done); one with another range is a conflict.
    pub async fn replay(
        self: &Arc<Self>,
        namespace: &str,
        name: &str,
        id: Option<&str>,
        mut spec: ReplaySpec,
    ) -> Result<ReplayProgress, ReplayError> {
        check_range(spec.since, spec.until, Utc::now())?;
        check_types(&spec.types)?;
        spec.types.sort();
        spec.types.dedup();
        let key = ObjectKey::new(namespace, name);
        if !self.topology().subscriptions.contains_key(&key) {
            return Err(ReplayError::NotFound(format!("{namespace}/{name}")));
        }
        let id = replay_id(id, &key, &spec)?;
        let existing = self.replay_record(namespace, name, &id).await?;
        let record = match existing {
            Some(existing) if existing.spec != spec => {
                return Err(ReplayError::Conflict {
                    id,
                    existing: format!(
                        "since {} until {} types {:?}",
                        existing.spec.since.to_rfc3339(),
                        existing.spec.until.to_rfc3339(),
                        existing.spec.types
                    ),
                });
            }
            Some(existing) => existing,
            None => {
                let record = ReplayRecord {
                    id: id.clone(),
                    subscription: name.to_owned(),
                    spec,
                    rate: self.config().replay_rate.max(1),
                    phase: ReplayPhase::Queueing,
                    scanned: 0,
                    matched: 0,
                    queued: 0,
                    cursor: None,
                    started_at: Utc::now(),
                    finished_at: None,
                    error: None,
                };
                super::replay_run::save(self, namespace, &record).await?;
                record
            }
        };
        let started = record.phase != ReplayPhase::Queued
            && super::replay_run::start(self.clone(), namespace, record.clone());
        let deliveries = self
            .store()
            .replay_counts(&super::subscription::target_of(&key), &id)
            .await?;
        Ok(ReplayProgress {
            record,
            deliveries,
            started,
        })
    }

    /// The progress of replay `id` to subscription `namespace`/`name`, if there is one.
    pub async fn replay_progress(
        &self,
        namespace: &str,
        name: &str,
        id: &str,
    ) -> Result<Option<ReplayProgress>, ReplayError> {
        let Some(record) = self.replay_record(namespace, name, id).await? else {
            return Ok(None);
        };
        let target = super::subscription::target_of(&ObjectKey::new(namespace, name));
        let deliveries = self.store().replay_counts(&target, id).await?;
        Ok(Some(ReplayProgress {
            record,
            deliveries,
            started: false,
        }))
    }

    /// The stored record of a replay.
    async fn replay_record(
        &self,
        namespace: &str,
        name: &str,
        id: &str,
    ) -> Result<Option<ReplayRecord>, StoreError> {
        let objects = self
            .store()
            .list_objects(OBJECT_KIND, Some(namespace))
            .await?;
        for value in objects {
            let record: ReplayRecord =
                serde_json::from_value(value).map_err(|e| StoreError::Corrupt {
                    what: "replay record",
                    detail: e.to_string(),
                })?;
            if record.subscription == name && record.id == id {
                return Ok(Some(record));
            }
        }
        Ok(None)
    }
}
