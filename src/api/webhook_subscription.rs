//! WebhookSubscription: outbound deliveries of a namespace's events to a subscriber URL.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    Auth, DurationString, HttpUrl, LocalRef, RateLimit, SecretKeyRef, conditions_schema,
};

/// An outbound subscription: the namespace's events that match its patterns and filter are
/// delivered to its URL, signed, retried, rate-limited and logged.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "switchboard.dev",
    doc = "An outbound subscription: the namespace's events that match its patterns and filter are delivered to its URL, signed, retried, rate-limited and logged.",
    version = "v1alpha1",
    kind = "WebhookSubscription",
    namespaced,
    status = "WebhookSubscriptionStatus",
    shortname = "whs",
    category = "switchboard",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Healthy","type":"string","jsonPath":".status.conditions[?(@.type==\"Healthy\")].status"}"#,
    printcolumn = r#"{"name":"Suspend","type":"boolean","jsonPath":".spec.suspend"}"#,
    printcolumn = r#"{"name":"Disabled","type":"date","jsonPath":".status.disabledAt"}"#,
    printcolumn = r#"{"name":"Delivered","type":"integer","jsonPath":".status.delivered"}"#,
    printcolumn = r#"{"name":"Failed","type":"integer","jsonPath":".status.failed"}"#,
    printcolumn = r#"{"name":"Pending","type":"integer","jsonPath":".status.pending"}"#,
    printcolumn = r#"{"name":"URL","type":"string","priority":1,"jsonPath":".spec.url"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct WebhookSubscriptionSpec {
    /// Subscriber URL that receives the deliveries.
    pub url: HttpUrl,
    /// Event type patterns: "*" (all), "invoice.*" (a prefix) or an exact type.
    #[schemars(length(min = 1, max = 256), inner(length(min = 1, max = 256)))]
    pub event_types: Vec<String>,
    /// jq predicate over the event ({type, id, data, …}); only events for which it yields
    /// true are delivered. Default: all matching events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 4096))]
    pub filter: Option<String>,
    /// Transformation that shapes the delivered data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transformation_ref: Option<LocalRef>,
    /// Integration whose auth is reused for the deliveries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integration_ref: Option<LocalRef>,
    /// How deliveries are signed. Default: Standard Webhooks with a generated secret.
    #[serde(default)]
    pub signing: Signing,
    /// Credentials attached to each delivery. Default: none (or the integration's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<Auth>,
    /// Extra request headers. Default: none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Content-Type of the body. Default: "application/json".
    #[serde(default = "default_content_type")]
    #[schemars(length(min = 1, max = 256))]
    pub content_type: String,
    /// Timeout of one attempt. Default: "15s".
    #[serde(default = "default_timeout")]
    pub timeout: DurationString,
    /// When failed deliveries are retried. Default: 60s, 5m, 15m, 1h, 2h.
    #[serde(default)]
    pub retry: RetrySchedule,
    /// Per-subscription rate limit. Default: unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// Stop sending for a while after consecutive failures.
    #[serde(default)]
    pub circuit_breaker: SubscriptionCircuitBreaker,
    /// Hold deliveries (they wait in the queue) while true. Default: false.
    #[serde(default)]
    pub suspend: bool,
    /// Where every delivery given up on (Dead: retries exhausted; Failed: not retryable) is
    /// sent, with a summary of its attempts: another subscription of the namespace, or a URL.
    /// Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter: Option<DeadLetter>,
    /// Auto-disable of this subscription, overriding the engine's --auto-disable-after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_disable: Option<AutoDisable>,
    /// How each delivery's request is made: Standard Webhooks (the default) or CloudEvents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<DeliveryFormat>,
}

/// A dead-letter target: exactly one of a subscription of the same namespace or a URL.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "has(self.subscriptionRef) != has(self.url)", "message": "set exactly one of subscriptionRef or url"}
]))]
pub struct DeadLetter {
    /// A WebhookSubscription of the same namespace (not this one) that receives the dead
    /// letters, whatever its eventTypes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_ref: Option<LocalRef>,
    /// A URL that receives the dead letters, signed like the subscription's deliveries
    /// (its auth and headers are not sent there), behind the same SSRF guard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<HttpUrl>,
}

/// Per-subscription auto-disable.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AutoDisable {
    /// How long every attempt must have failed before it is disabled; "0s" never disables
    /// this subscription. Default: the engine's --auto-disable-after.
    pub after: DurationString,
}

fn default_content_type() -> String {
    "application/json".into()
}
fn default_timeout() -> DurationString {
    DurationString::new("15s")
}

/// The retry schedule of a delivery: one delay per retry.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RetrySchedule {
    /// Delay before each retry after a failed attempt; the delivery is Dead after the last.
    /// Each delay gets ±10% jitter. Default: ["60s", "5m", "15m", "1h", "2h"].
    #[serde(default = "default_schedule")]
    #[schemars(length(max = 50))]
    pub schedule: Vec<DurationString>,
}

fn default_schedule() -> Vec<DurationString> {
    ["60s", "5m", "15m", "1h", "2h"]
        .into_iter()
        .map(DurationString::new)
        .collect()
}

impl Default for RetrySchedule {
    fn default() -> Self {
        Self {
            schedule: default_schedule(),
        }
    }
}

/// Signing of outbound deliveries.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Signing {
    /// StandardWebhooks, GitHub (X-Hub-Signature-256) or None. Default: StandardWebhooks.
    #[serde(default)]
    pub scheme: SigningScheme,
    /// Secret with the signing secret (key `secret`); generated and recorded in
    /// status.signingSecretRef when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretKeyRef>,
}

/// Outbound signature schemes.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[schemars(transform = crate::api::common::drop_description)]
pub enum SigningScheme {
    /// webhook-id, webhook-timestamp and webhook-signature headers.
    #[default]
    StandardWebhooks,
    /// X-Hub-Signature-256: sha256=<hex HMAC of the body>.
    #[serde(rename = "GitHub")]
    GitHub,
    /// Unsigned.
    None,
}

/// Circuit breaker of a subscription.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionCircuitBreaker {
    /// Consecutive failed deliveries that open the circuit. Default: 5.
    #[serde(default = "default_failure_threshold")]
    #[schemars(range(min = 1, max = 1000))]
    pub failure_threshold: u32,
    /// How long to stop sending before one probe delivery. Default: "60s".
    #[serde(default = "default_open_duration")]
    pub open_duration: DurationString,
}

fn default_failure_threshold() -> u32 {
    5
}
fn default_open_duration() -> DurationString {
    DurationString::new("60s")
}

impl Default for SubscriptionCircuitBreaker {
    fn default() -> Self {
        Self {
            failure_threshold: default_failure_threshold(),
            open_duration: default_open_duration(),
        }
    }
}

/// Observed state of a WebhookSubscription.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookSubscriptionStatus {
    /// The metadata.generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready (configuration accepted; reason Suspended while spec.suspend) and Healthy (what
    /// deliveries do: NoDeliveriesYet, Delivering, DeliveriesFailing, CircuitOpen,
    /// DestinationRefused, Gone, TransformationFailing, FilterErrors, Disabled).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
    /// Delivery attempts made.
    #[serde(default)]
    pub sent: u64,
    /// Deliveries that succeeded.
    #[serde(default)]
    pub delivered: u64,
    /// Deliveries that failed for good (Failed or Dead).
    #[serde(default)]
    pub failed: u64,
    /// Deliveries waiting for an attempt or a retry.
    #[serde(default)]
    pub pending: u64,
    /// Failed attempts since the last success.
    #[serde(default)]
    pub consecutive_failures: u64,
    /// Events whose filter failed or yielded a non-boolean (not delivered), since this
    /// replica started.
    #[serde(default)]
    pub filter_errors: u64,
    /// The last filter error (shortened).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_filter_error: Option<String>,
    /// Time an event last matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_triggered_at: Option<Time>,
    /// Time of the last successful delivery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_success_at: Option<Time>,
    /// Time of the last failed attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure_at: Option<Time>,
    /// When it was auto-disabled (every attempt failed for the engine's
    /// --auto-disable-after); unset while enabled. A change of spec or of the annotation
    /// switchboard.dev/reenable re-enables it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_at: Option<Time>,
    /// The first failed attempt since the last success, while attempts fail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<Time>,
    /// The Secret holding the signing secret in use (generated when spec.signing has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_secret_ref: Option<SecretKeyRef>,
}

/// How a delivery's request is made (`spec.format`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryFormat {
    /// `StandardWebhooks` (`{"type", "timestamp", "data"}`, the default) or `CloudEvents`.
    #[serde(default, rename = "type")]
    pub kind: FormatKind,
    /// The CloudEvents content mode: `binary` (the default: `ce-*` headers, the data as the
    /// body in its own content type) or `structured` (`application/cloudevents+json`).
    #[serde(default)]
    pub mode: CloudEventsMode,
}

/// The body format of a delivery.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum FormatKind {
    /// Standard Webhooks payload.
    #[default]
    StandardWebhooks,
    /// A CloudEvent carrying the original attributes.
    CloudEvents,
}

/// A CloudEvents HTTP content mode.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CloudEventsMode {
    /// Attributes in `ce-*` headers, the data as the body.
    #[default]
    Binary,
    /// One JSON object with the attributes and the data.
    Structured,
}
