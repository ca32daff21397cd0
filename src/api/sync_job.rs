//! SyncJob: one sync run, created by a SyncSchedule or by hand.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{LocalRef, conditions_schema};
use super::sync_schedule::SyncJobTemplate;

/// Most per-record error messages kept in a SyncJob's status.
pub const MAX_JOB_ERRORS: usize = 20;

/// One sync run: pages through an external API and sinks every record, with progress
/// counters in its status.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "switchboard.dev",
    doc = "One sync run: pages through an external API and sinks every record, with progress counters in its status.",
    version = "v1alpha1",
    kind = "SyncJob",
    namespaced,
    status = "SyncJobStatus",
    shortname = "sj",
    category = "switchboard",
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Processed","type":"integer","jsonPath":".status.processedRecords"}"#,
    printcolumn = r#"{"name":"Failed","type":"integer","jsonPath":".status.failedRecords"}"#,
    printcolumn = r#"{"name":"Started","type":"date","jsonPath":".status.startedAt"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct SyncJobSpec {
    /// The SyncSchedule that created this job, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_ref: Option<LocalRef>,
    /// What the job does, with the Integration it calls.
    pub template: SyncJobRunTemplate,
    /// Stop the job (within one page) when set to true. Default: false.
    #[serde(default)]
    pub cancel: bool,
}

/// A job template together with the Integration it runs against.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncJobRunTemplate {
    /// Integration whose client the job uses.
    pub integration_ref: LocalRef,
    /// What the job does (as a SyncSchedule's jobTemplate).
    #[serde(flatten)]
    pub job: SyncJobTemplate,
}

/// Lifecycle of a SyncJob.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[schemars(transform = crate::api::common::drop_description)]
pub enum SyncJobPhase {
    /// Waiting to start.
    Pending,
    /// Fetching and sinking records.
    Running,
    /// Finished; every page was fetched.
    Completed,
    /// Stopped by an error.
    Failed,
    /// Stopped by spec.cancel or deletion.
    Cancelled,
}

/// Observed state of a SyncJob.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncJobStatus {
    /// The metadata.generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready: True once Completed, False while failing or failed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
    /// Pending, Running, Completed, Failed or Cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<SyncJobPhase>,
    /// Time the job started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    /// Time the job ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<Time>,
    /// Records announced by the source, when it says.
    #[serde(default)]
    pub total_records: u64,
    /// Records read so far.
    #[serde(default)]
    pub processed_records: u64,
    /// Records sunk successfully.
    #[serde(default)]
    pub succeeded_records: u64,
    /// Records that failed (transformation or sink errors).
    #[serde(default)]
    pub failed_records: u64,
    /// Pages fetched so far.
    #[serde(default)]
    pub pages_fetched: u64,
    /// The first 20 error messages.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub errors: Vec<String>,
}
