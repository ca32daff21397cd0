//! SyncSchedule: a cron schedule that creates SyncJobs against an Integration's API.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{HttpMethod, HttpUrl, LocalRef, any_value, conditions_schema};

/// The pattern of a schedule: five cron fields or a macro such as "@hourly".
pub const CRON_PATTERN: &str =
    r"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|\S+( +\S+){4})$";

/// A cron schedule that pulls from (or pushes to) an external API through an Integration,
/// creating one SyncJob per run.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "switchboard.dev",
    doc = "A cron schedule that pulls from (or pushes to) an external API through an Integration, creating one SyncJob per run.",
    version = "v1alpha1",
    kind = "SyncSchedule",
    namespaced,
    status = "SyncScheduleStatus",
    shortname = "ss",
    category = "switchboard",
    printcolumn = r#"{"name":"Schedule","type":"string","jsonPath":".spec.schedule"}"#,
    printcolumn = r#"{"name":"Suspend","type":"boolean","jsonPath":".spec.suspend"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Last Schedule","type":"date","jsonPath":".status.lastScheduleTime"}"#,
    printcolumn = r#"{"name":"Last Success","type":"date","jsonPath":".status.lastSuccessfulTime"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct SyncScheduleSpec {
    /// Integration whose client (base URL, auth, limits) the jobs use.
    pub integration_ref: LocalRef,
    /// Cron expression with five fields ("*/15 * * * *") or a macro ("@hourly").
    #[schemars(length(min = 1, max = 128))]
    #[schemars(extend("x-kubernetes-validations" = [
        {"rule": "self.matches('^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|\\\\S+( +\\\\S+){4})$')", "message": "must be five cron fields (\"*/15 * * * *\") or a macro such as \"@hourly\""}
    ]))]
    pub schedule: String,
    /// IANA time zone of the schedule (e.g. "Europe/Paris"). Default: UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub time_zone: Option<String>,
    /// Skip runs while true. Default: false.
    #[serde(default)]
    pub suspend: bool,
    /// What to do when a run is due while another is active: Forbid (skip), Replace (cancel
    /// the active one) or Allow. Default: Forbid.
    #[serde(default)]
    pub concurrency_policy: ConcurrencyPolicy,
    /// Completed jobs kept. Default: 3.
    #[serde(default = "default_history")]
    #[schemars(range(min = 0, max = 100))]
    pub successful_jobs_history_limit: u32,
    /// Failed jobs kept. Default: 3.
    #[serde(default = "default_history")]
    #[schemars(range(min = 0, max = 100))]
    pub failed_jobs_history_limit: u32,
    /// What each run does.
    pub job_template: SyncJobTemplate,
}

fn default_history() -> u32 {
    3
}

/// Policy for overlapping runs.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[schemars(transform = crate::api::common::drop_description)]
pub enum ConcurrencyPolicy {
    /// Skip a run while another is active.
    #[default]
    Forbid,
    /// Cancel the active run and start the new one.
    Replace,
    /// Run concurrently.
    Allow,
}

/// What one sync run does.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncJobTemplate {
    /// Full (everything), Incremental (since the watermark), Export or Import. Default: Full.
    #[serde(default)]
    pub job_type: SyncJobType,
    /// The kind of record synced (e.g. "contact"); used in event types and logs.
    #[schemars(length(min = 1, max = 128))]
    pub entity_type: String,
    /// Inbound (pull from the API) or Outbound (push to it). Default: Inbound.
    #[serde(default)]
    pub direction: SyncDirection,
    /// The API request that lists the records.
    pub request: SyncRequest,
    /// Transformation applied to each record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transformation_ref: Option<LocalRef>,
    /// Where each record goes.
    pub sink: SyncSink,
}

/// Kinds of sync run.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[schemars(transform = crate::api::common::drop_description)]
pub enum SyncJobType {
    /// Every record.
    #[default]
    Full,
    /// Records changed since the stored watermark.
    Incremental,
    /// Push records out.
    Export,
    /// Pull records in.
    Import,
}

/// Direction of a sync.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[schemars(transform = crate::api::common::drop_description)]
pub enum SyncDirection {
    /// From the external API into Switchboard.
    #[default]
    Inbound,
    /// From Switchboard to the external API.
    Outbound,
}

/// The request a sync job sends, relative to the Integration's base URL.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncRequest {
    /// HTTP method. Default: GET.
    #[serde(default)]
    pub method: HttpMethod,
    /// Path relative to the base URL (e.g. "/crm/v3/objects/contacts").
    #[schemars(length(min = 1, max = 2048))]
    pub path: String,
    /// Query parameters added to every page request. Default: none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub query: BTreeMap<String, String>,
    /// Request body for POST-style list APIs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "any_value")]
    pub body: Option<serde_json::Value>,
    /// jq path to the array of records in a response (e.g. ".results"). Default: the
    /// response itself when it is an array.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 4096))]
    pub items_path: Option<String>,
    /// How to fetch further pages. Default: a single request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pagination: Option<Pagination>,
    /// Incremental sync: send the stored watermark as a query parameter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incremental: Option<Incremental>,
}

/// Pagination of a list API.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "self.type != 'Cursor' || (has(self.cursorPath) && has(self.cursorParam))", "message": "Cursor pagination needs cursorPath and cursorParam"},
    {"rule": "self.type != 'Page' || has(self.pageParam)", "message": "Page pagination needs pageParam"}
]))]
pub struct Pagination {
    /// Cursor (next cursor from the response), Page (page numbers) or LinkHeader (rel="next").
    #[serde(rename = "type")]
    pub pagination_type: PaginationType,
    /// Cursor: jq path to the next cursor in a response (e.g. ".paging.next.after").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 4096))]
    pub cursor_path: Option<String>,
    /// Cursor: query parameter carrying the cursor (e.g. "after").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub cursor_param: Option<String>,
    /// Page: query parameter carrying the page number (first page is 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub page_param: Option<String>,
    /// Records per page, sent in pageSizeParam when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10000))]
    pub page_size: Option<u32>,
    /// Query parameter carrying the page size (e.g. "limit"). Default: "limit".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub page_size_param: Option<String>,
    /// Stop after this many pages. Default: 1000.
    #[serde(default = "default_max_pages")]
    #[schemars(range(min = 1, max = 1000000))]
    pub max_pages: u32,
}

fn default_max_pages() -> u32 {
    1000
}

/// Pagination styles.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[schemars(transform = crate::api::common::drop_description)]
pub enum PaginationType {
    /// A cursor taken from each response.
    Cursor,
    /// Incrementing page numbers until an empty page.
    Page,
    /// The `Link: <…>; rel="next"` response header.
    LinkHeader,
}

/// Incremental sync settings.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Incremental {
    /// Query parameter that carries the stored watermark (e.g. "updated_since").
    #[schemars(length(min = 1, max = 256))]
    pub param: String,
    /// jq path to the watermark in each record (e.g. ".updatedAt"); the largest seen becomes
    /// the next run's watermark.
    #[schemars(length(min = 1, max = 4096))]
    pub watermark_path: String,
}

/// Where synced records go: published as events or forwarded to a URL.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "has(self.publish) != has(self.forward)", "message": "set exactly one of publish or forward"}
]))]
pub struct SyncSink {
    /// Publish each record as an event of this namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish: Option<SyncPublish>,
    /// POST each record to a URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forward: Option<SyncForward>,
}

/// Publishing synced records as events.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncPublish {
    /// Event type of each record (e.g. "crm.contact.synced").
    #[schemars(length(min = 1, max = 256))]
    pub event_type: String,
}

/// Forwarding synced records to a URL.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncForward {
    /// Destination URL.
    pub url: HttpUrl,
}

/// Observed state of a SyncSchedule.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncScheduleStatus {
    /// The metadata.generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready: the schedule parses and its integration is ready.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
    /// Time the last run was started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_schedule_time: Option<Time>,
    /// Time the last successful run completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_successful_time: Option<Time>,
    /// Time of the next run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_schedule_time: Option<Time>,
    /// Names of the running SyncJobs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub active: Vec<String>,
    /// The incremental watermark stored by the last successful run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watermark: Option<String>,
}
