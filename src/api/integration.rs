//! Integration: a managed connection to an external system.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    Auth, DurationString, HealthCheck, HttpUrl, RateLimit, conditions_schema, free_object,
};

/// A managed connection to an external system: base URL, credentials, rate limit, retries,
/// circuit breaker and health check, shared by endpoints, subscriptions and sync schedules.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "switchboard.dev",
    doc = "A managed connection to an external system: base URL, credentials, rate limit, retries, circuit breaker and health check, shared by endpoints, subscriptions and sync schedules.",
    version = "v1alpha1",
    kind = "Integration",
    namespaced,
    status = "IntegrationStatus",
    shortname = "intg",
    category = "switchboard",
    printcolumn = r#"{"name":"Provider","type":"string","jsonPath":".spec.provider"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Healthy","type":"string","jsonPath":".status.conditions[?(@.type==\"Healthy\")].status"}"#,
    printcolumn = r#"{"name":"Circuit","type":"string","jsonPath":".status.circuit"}"#,
    printcolumn = r#"{"name":"Errors","type":"integer","jsonPath":".status.errorCount"}"#,
    printcolumn = r#"{"name":"Base URL","type":"string","priority":1,"jsonPath":".spec.baseUrl"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "has(self.baseUrl) || has(self.provider)", "message": "set baseUrl, or provider to take the provider's baseUrl"}
]))]
pub struct IntegrationSpec {
    /// Name of a ClusterIntegrationProvider whose defaults (base URL, rate limit, health check,
    /// webhook verification preset, config schema) apply to this integration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub provider: Option<String>,
    /// Base URL of the external API; overrides the provider's. Required without a provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<HttpUrl>,
    /// Credentials attached to every call. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<Auth>,
    /// Provider-specific settings, checked against the provider's configSchema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_object")]
    pub config: Option<serde_json::Value>,
    /// Timeout of one call, in seconds. Default: 30.
    #[serde(default = "default_timeout_seconds")]
    #[schemars(range(min = 1, max = 600))]
    pub timeout_seconds: u32,
    /// Client-side rate limit; default: the provider's, else unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// Retries of failed calls with exponential backoff and jitter.
    #[serde(default)]
    pub retry: IntegrationRetry,
    /// Circuit breaker: stop calling a failing API for a while.
    #[serde(default)]
    pub circuit_breaker: CircuitBreaker,
    /// Periodic health check; default: the provider's, else none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
    /// Pause all calls, health checks and syncs through this integration. Default: false.
    #[serde(default)]
    pub suspend: bool,
}

fn default_timeout_seconds() -> u32 {
    30
}

/// Retry policy for calls through an Integration.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IntegrationRetry {
    /// Retries after the first attempt. Default: 3.
    #[serde(default = "default_max_retries")]
    #[schemars(range(min = 0, max = 10))]
    pub max_retries: u32,
    /// Delay before the first retry. Default: "1s".
    #[serde(default = "default_initial_delay")]
    pub initial_delay: DurationString,
    /// Upper bound of any delay. Default: "30s".
    #[serde(default = "default_max_delay")]
    pub max_delay: DurationString,
    /// Factor applied to the delay after each retry. Default: 2.
    #[serde(default = "default_multiplier")]
    #[schemars(range(min = 1.0, max = 10.0))]
    pub multiplier: f64,
    /// Response status codes that are retried (timeouts and connection errors always are).
    /// Default: [408, 429, 500, 502, 503, 504].
    #[serde(default = "default_retry_on")]
    #[schemars(length(max = 32), inner(range(min = 100, max = 599)))]
    pub retry_on: Vec<u16>,
}

fn default_max_retries() -> u32 {
    3
}
fn default_initial_delay() -> DurationString {
    DurationString::new("1s")
}
fn default_max_delay() -> DurationString {
    DurationString::new("30s")
}
fn default_multiplier() -> f64 {
    2.0
}
fn default_retry_on() -> Vec<u16> {
    vec![408, 429, 500, 502, 503, 504]
}

impl Default for IntegrationRetry {
    fn default() -> Self {
        Self {
            max_retries: default_max_retries(),
            initial_delay: default_initial_delay(),
            max_delay: default_max_delay(),
            multiplier: default_multiplier(),
            retry_on: default_retry_on(),
        }
    }
}

/// Circuit breaker thresholds.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CircuitBreaker {
    /// Consecutive failures that open the circuit. Default: 5.
    #[serde(default = "default_failure_threshold")]
    #[schemars(range(min = 1, max = 1000))]
    pub failure_threshold: u32,
    /// How long the circuit stays open before one probe call is let through. Default: "30s".
    #[serde(default = "default_open_duration")]
    pub open_duration: DurationString,
    /// Consecutive successes in half-open state that close the circuit. Default: 3.
    #[serde(default = "default_success_threshold")]
    #[schemars(range(min = 1, max = 1000))]
    pub success_threshold: u32,
}

fn default_failure_threshold() -> u32 {
    5
}
fn default_open_duration() -> DurationString {
    DurationString::new("30s")
}
fn default_success_threshold() -> u32 {
    3
}

impl Default for CircuitBreaker {
    fn default() -> Self {
        Self {
            failure_threshold: default_failure_threshold(),
            open_duration: default_open_duration(),
            success_threshold: default_success_threshold(),
        }
    }
}

/// Lifecycle phase of an Integration.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[schemars(transform = crate::api::common::drop_description)]
pub enum IntegrationPhase {
    /// Configured and in use.
    Active,
    /// Suspended by spec.suspend.
    Paused,
    /// Misconfigured or failing.
    Error,
    /// Waiting for its credentials Secret.
    PendingAuth,
}

/// State of a circuit breaker.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[schemars(transform = crate::api::common::drop_description)]
pub enum CircuitState {
    /// Calls flow.
    Closed,
    /// Calls are refused until the open duration has passed.
    Open,
    /// Probe calls decide whether to close again.
    HalfOpen,
    /// Not measured since the process started (no call made yet); the breaker lets calls
    /// through.
    Unknown,
}

/// Observed state of an Integration.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IntegrationStatus {
    /// The metadata.generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready (configuration accepted, credentials present) and Healthy (health check passing).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
    /// Active, Paused, Error or PendingAuth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<IntegrationPhase>,
    /// Closed, Open, HalfOpen, or Unknown until a call is made after a restart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub circuit: Option<CircuitState>,
    /// Time of the last successful call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_successful_call: Option<Time>,
    /// The last error, without secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Time of the last error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error_at: Option<Time>,
    /// Failed calls since the integration was applied.
    #[serde(default)]
    pub error_count: u64,
    /// OAuth2AuthorizationCode: the connected account (never a token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<ConnectionStatus>,
}

/// State of an OAuth2 authorization-code connection.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[schemars(transform = crate::api::common::drop_description)]
pub enum ConnectionState {
    /// Nobody has connected an account yet.
    NotConnected,
    /// Tokens are held and refreshed.
    Connected,
    /// The provider refused the refresh token (revoked, expired): a person must connect again.
    NeedsReauthorization,
}

/// What a person needs to know about an OAuth2 authorization-code connection; never a token.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionStatus {
    /// NotConnected, Connected or NeedsReauthorization.
    pub state: ConnectionState,
    /// The account or subject the provider named (Slack team, Salesforce identity, QuickBooks
    /// realm, OpenID subject), when it said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Scopes the provider granted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// When the current access token expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token_expires_at: Option<Time>,
    /// When the account was connected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connected_at: Option<Time>,
    /// When the tokens were last refreshed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_refresh: Option<Time>,
    /// Why the connection needs attention, when it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// A page a browser can open to learn how to (re)connect (see docs/architecture.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_url: Option<String>,
}
