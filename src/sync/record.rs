//! A SyncJob as the store keeps it: identity, spec, status and the checkpoint a run resumes
//! from after a crash (kind `SyncJob` in the store's objects).

use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::api::{MAX_JOB_ERRORS, SyncJobPhase, SyncJobSpec, SyncJobStatus};
use crate::error_chain::{chain, render};
use crate::store::{Store, StoreError};

use super::page::Cursor;

/// A Kubernetes time (second precision) from a chrono time.
pub fn to_time(t: DateTime<Utc>) -> Option<Time> {
    serde_json::from_value(Value::String(
        t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    ))
    .ok()
}

/// The chrono time of a Kubernetes time.
pub fn from_time(t: &Time) -> Option<DateTime<Utc>> {
    let v = serde_json::to_value(t).ok()?;
    DateTime::parse_from_rfc3339(v.as_str()?)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// The store's object kind of job records.
pub const JOB_KIND: &str = "SyncJob";

/// Namespace and name of a schedule, job, integration or transformation.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Key {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl Key {
    /// A key.
    pub fn new(namespace: &str, name: &str) -> Self {
        Self {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// Where a run is: the next page and the watermark so far.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Checkpoint {
    /// The next page.
    pub cursor: Cursor,
    /// The watermark sent as the incremental parameter (fixed for the whole run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watermark_in: Option<String>,
    /// The largest watermark seen so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watermark_max: Option<Value>,
}

/// A job with its status, as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobRecord {
    /// Namespace and name.
    pub key: Key,
    /// When the job was created.
    pub created_at: DateTime<Utc>,
    /// The schedule that created it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// The spec.
    pub spec: SyncJobSpec,
    /// The status (conditions are derived from the phase when reported).
    pub status: SyncJobStatus,
    /// Where a resumed run starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<Checkpoint>,
}

impl JobRecord {
    /// A Pending job.
    pub fn new(key: Key, schedule: Option<String>, spec: SyncJobSpec, now: DateTime<Utc>) -> Self {
        Self {
            key,
            created_at: now,
            schedule,
            spec,
            status: SyncJobStatus {
                phase: Some(SyncJobPhase::Pending),
                ..SyncJobStatus::default()
            },
            checkpoint: None,
        }
    }

    /// The phase (Pending when unset).
    pub fn phase(&self) -> SyncJobPhase {
        self.status.phase.unwrap_or(SyncJobPhase::Pending)
    }

    /// True once Completed, Failed or Cancelled.
    pub fn finished(&self) -> bool {
        matches!(
            self.phase(),
            SyncJobPhase::Completed | SyncJobPhase::Failed | SyncJobPhase::Cancelled
        )
    }

    /// Keeps a per-record error message (the first [`MAX_JOB_ERRORS`] only).
    pub fn note_error(&mut self, message: String) {
        if self.status.errors.len() < MAX_JOB_ERRORS {
            self.status.errors.push(message);
        }
    }

    /// Ends the job in `phase` at `now`, with a message for a failure.
    pub fn finish(&mut self, phase: SyncJobPhase, now: DateTime<Utc>, message: Option<String>) {
        self.status.phase = Some(phase);
        self.status.completed_at = to_time(now);
        if let Some(m) = message {
            // The error that ended the job is always kept, last.
            if self.status.errors.len() >= MAX_JOB_ERRORS {
                self.status.errors.pop();
            }
            self.status.errors.push(m);
        }
    }

    /// Stores the record.
    pub async fn save(&self, store: &dyn Store) -> Result<(), StoreError> {
        let value = serde_json::to_value(self).map_err(|e| StoreError::Corrupt {
            what: "sync job",
            detail: render(&e),
        })?;
        store
            .put_object(JOB_KIND, &self.key.namespace, &self.key.name, &value)
            .await
    }

    /// Every stored job (records that do not decode are skipped with a warning).
    pub async fn load_all(store: &dyn Store) -> Result<Vec<Self>, StoreError> {
        Ok(store
            .list_objects(JOB_KIND, None)
            .await?
            .into_iter()
            .filter_map(|v| match serde_json::from_value(v) {
                Ok(r) => Some(r),
                Err(e) => {
                    tracing::warn!(error = %chain(&e), "skipping an unreadable sync job record");
                    None
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_first_errors_are_kept_and_the_fatal_one_always() {
        let spec: SyncJobSpec = serde_json::from_value(serde_json::json!({
            "template": {"integrationRef": {"name": "a"}, "entityType": "x",
                "request": {"path": "/"}, "sink": {"publish": {"eventType": "t"}}}
        }))
        .unwrap();
        let mut r = JobRecord::new(Key::new("ns", "j"), None, spec, Utc::now());
        for i in 0..30 {
            r.note_error(format!("record {i}"));
        }
        assert_eq!(r.status.errors.len(), MAX_JOB_ERRORS);
        assert_eq!(r.status.errors[19], "record 19");
        r.finish(
            SyncJobPhase::Failed,
            Utc::now(),
            Some("page 3: HTTP 500".into()),
        );
        assert_eq!(r.status.errors.len(), MAX_JOB_ERRORS);
        assert_eq!(r.status.errors.last().unwrap(), "page 3: HTTP 500");
        assert!(r.finished());
    }

    #[test]
    fn kubernetes_times_round_trip() {
        let t = DateTime::parse_from_rfc3339("2026-05-01T09:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(to_time(t).as_ref().and_then(from_time), Some(t));
    }
}
