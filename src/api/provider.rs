//! ClusterIntegrationProvider: a catalog entry with defaults for integrations of one kind.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    AuthType, HealthCheck, HttpUrl, OAuth2Endpoints, RateLimit, conditions_schema, free_object,
};
use super::webhook_endpoint::VerifyScheme;

/// A catalog entry (Stripe, GitHub, …): defaults, config JSON Schema and webhook verification
/// preset shared by every Integration that names it.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "switchboard.dev",
    doc = "A catalog entry (Stripe, GitHub, …): defaults, config JSON Schema and webhook verification preset shared by every Integration that names it.",
    version = "v1alpha1",
    kind = "ClusterIntegrationProvider",
    status = "ClusterIntegrationProviderStatus",
    shortname = "cip",
    category = "switchboard",
    printcolumn = r#"{"name":"Display Name","type":"string","jsonPath":".spec.displayName"}"#,
    printcolumn = r#"{"name":"Category","type":"string","jsonPath":".spec.category"}"#,
    printcolumn = r#"{"name":"Verify","type":"string","jsonPath":".spec.webhooks.verify"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ClusterIntegrationProviderSpec {
    /// Human-readable name, e.g. "Stripe".
    #[schemars(length(min = 1, max = 128))]
    pub display_name: String,
    /// Catalog category. Default: Other.
    #[serde(default)]
    pub category: ProviderCategory,
    /// What the provider is and what integrating with it gives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4096))]
    pub description: Option<String>,
    /// Link to the provider's API documentation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub documentation_url: Option<HttpUrl>,
    /// Who can read the provider's API documentation. Default: Public. For Partner and
    /// Unpublished the entry names no endpoint it cannot check (base URL, health check,
    /// webhook preset): Integrations set them from what their agreement documents.
    #[serde(default)]
    pub api_access: ApiAccess,
    /// Default base URL of the provider's API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<HttpUrl>,
    /// API version the defaults were written for (e.g. "2024-06-20").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub api_version: Option<String>,
    /// Authentication types the provider supports. Default: any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 8))]
    pub auth_types: Vec<AuthType>,
    /// The provider's published OAuth2 authorization-code endpoints and defaults, used by
    /// Integrations with `auth.type: OAuth2AuthorizationCode`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth2: Option<OAuth2Endpoints>,
    /// JSON Schema (2020-12) that an Integration's spec.config must satisfy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_object")]
    pub config_schema: Option<serde_json::Value>,
    /// How the provider signs the webhooks it sends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhooks: Option<ProviderWebhooks>,
    /// The provider's documented rate limit, used by integrations that set none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// Default health check for integrations of this provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
}

/// Catalog category of a provider.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[schemars(transform = crate::api::common::drop_description)]
pub enum ProviderCategory {
    /// Payments (Stripe, …).
    Payment,
    /// Accounting (QuickBooks, Xero, …).
    Accounting,
    /// CRM (HubSpot, …).
    #[serde(rename = "CRM")]
    Crm,
    /// Messaging (Slack, Twilio, SendGrid, …).
    Communication,
    /// Storage.
    Storage,
    /// Analytics.
    Analytics,
    /// Developer tools (GitHub, GitLab, …).
    Development,
    /// Anything else.
    #[default]
    Other,
}

/// Who can read a provider's API documentation.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[schemars(transform = crate::api::common::drop_description)]
pub enum ApiAccess {
    /// Published for anyone to read.
    #[default]
    Public,
    /// Documented only to registered developers, customers or partners, under an agreement.
    Partner,
    /// No API documentation is published at all.
    Unpublished,
}

/// Webhook verification preset of a provider.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderWebhooks {
    /// Signature scheme the provider uses; endpoints bound to its integrations use it by default.
    pub verify: VerifyScheme,
    /// Header carrying the event type (e.g. "X-GitHub-Event").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub event_type_header: Option<String>,
    /// Header carrying a unique delivery id, used for deduplication (e.g. "X-GitHub-Delivery").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub id_header: Option<String>,
}

/// Observed state of a ClusterIntegrationProvider.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterIntegrationProviderStatus {
    /// The metadata.generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready: the config schema compiles.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
}
