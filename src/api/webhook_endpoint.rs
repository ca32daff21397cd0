//! WebhookEndpoint: an inbound receiver at `/hooks/{namespace}/{name}`.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{DurationString, HttpUrl, LocalRef, SecretKeyRef, conditions_schema};
use super::webhook_subscription::RetrySchedule;

/// An inbound webhook receiver: verifies signatures, deduplicates, transforms and routes
/// each request durably (publish as an event and/or forward to a URL).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "switchboard.dev",
    doc = "An inbound webhook receiver: verifies signatures, deduplicates, transforms and routes each request durably (publish as an event and/or forward to a URL).",
    version = "v1alpha1",
    kind = "WebhookEndpoint",
    namespaced,
    status = "WebhookEndpointStatus",
    shortname = "whe",
    category = "switchboard",
    printcolumn = r#"{"name":"Verify","type":"string","jsonPath":".spec.verify.scheme"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Received","type":"integer","jsonPath":".status.received"}"#,
    printcolumn = r#"{"name":"Accepted","type":"integer","jsonPath":".status.accepted"}"#,
    printcolumn = r#"{"name":"Rejected","type":"integer","jsonPath":".status.rejected"}"#,
    printcolumn = r#"{"name":"URL","type":"string","priority":1,"jsonPath":".status.url"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct WebhookEndpointSpec {
    /// Integration this endpoint receives for; its provider's verification preset applies
    /// when verify.scheme is not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integration_ref: Option<LocalRef>,
    /// How requests are authenticated. Required: use scheme None to accept unsigned requests.
    pub verify: Verify,
    /// Client networks allowed to call (CIDRs). Default: any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(min = 1, max = 64)))]
    #[schemars(extend("x-kubernetes-validations" = [
        {"rule": "self.all(c, isCIDR(c))", "message": "every entry must be a CIDR such as 10.0.0.0/8 or 2001:db8::/32"}
    ]))]
    pub allowed_source_ranges: Vec<String>,
    /// Where the event type comes from. Default: the route's publish.eventType, else the
    /// provider's event type header, else "webhook.received".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<EventTypeSource>,
    /// Event type patterns to accept ("*", "invoice.*", exact); others get 202 and are counted
    /// as ignored. Default: all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256), inner(length(min = 1, max = 256)))]
    pub event_types: Vec<String>,
    /// Deduplication of redelivered requests by an id. Default: the Standard Webhooks or
    /// provider id header when present, else none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedup: Option<Dedup>,
    /// Transformation applied to the payload before routing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transformation_ref: Option<LocalRef>,
    /// Largest accepted body in bytes; larger requests get 413. Default: 1048576 (1 MiB).
    #[serde(default = "default_max_body_bytes")]
    #[schemars(range(min = 1, max = 33554432))]
    pub max_body_bytes: u64,
    /// Where accepted payloads go.
    pub route: Route,
    /// Answer 404 and route nothing while true. Default: false.
    #[serde(default)]
    pub suspend: bool,
}

fn default_max_body_bytes() -> u64 {
    1_048_576
}

/// Signature verification of inbound requests.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "(has(self.scheme) && (self.scheme == 'None' || self.scheme == 'PayPal')) || has(self.secretRef) || has(self.paypal)", "message": "secretRef is required unless scheme is None, or PayPal with paypal.webhookId"},
    {"rule": "!has(self.scheme) || self.scheme != 'PayPal' || has(self.paypal)", "message": "paypal settings (webhookId) are required when scheme is PayPal"},
    {"rule": "!has(self.paypal) || !has(self.scheme) || self.scheme == 'PayPal'", "message": "paypal settings are only used with scheme PayPal"},
    {"rule": "!has(self.scheme) || self.scheme != 'Hmac' || has(self.hmac)", "message": "hmac settings are required when scheme is Hmac"},
    {"rule": "!has(self.hmac) || (has(self.scheme) && self.scheme == 'Hmac')", "message": "hmac settings are only used with scheme Hmac"}
]))]
pub struct Verify {
    /// Signature scheme. Default: the preset of the integration's provider (an error when
    /// there is none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<VerifyScheme>,
    /// Secret with the verification secret (key `secret`; Basic: `username`/`password`;
    /// Bearer: `token`; PayPal: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretKeyRef>,
    /// Largest accepted age of a signed timestamp. Default: "5m".
    #[serde(default = "default_tolerance")]
    pub tolerance: DurationString,
    /// Settings of the generic Hmac scheme.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hmac: Option<HmacVerify>,
    /// Settings of the PayPal scheme.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paypal: Option<PayPalVerify>,
}

/// Settings of the PayPal verification scheme.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PayPalVerify {
    /// The webhook's id in the PayPal app (developer dashboard or the create-webhook answer);
    /// PayPal signs it with each transmission. Not a secret.
    #[schemars(length(min = 1, max = 128))]
    pub webhook_id: String,
}

fn default_tolerance() -> DurationString {
    DurationString::new("5m")
}

/// Inbound signature schemes.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[schemars(transform = crate::api::common::drop_description)]
pub enum VerifyScheme {
    /// Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature (whsec_ secrets).
    StandardWebhooks,
    /// Stripe-Signature: t=…,v1=… over "t.body".
    Stripe,
    /// X-Hub-Signature-256: sha256=<hex>.
    #[serde(rename = "GitHub")]
    GitHub,
    /// X-Gitlab-Token equality.
    #[serde(rename = "GitLab")]
    GitLab,
    /// X-Slack-Signature: v0=<hex> over "v0:ts:body".
    Slack,
    /// X-Shopify-Hmac-Sha256, base64.
    Shopify,
    /// X-Twilio-Signature over the public URL and sorted form parameters.
    Twilio,
    /// PAYPAL-TRANSMISSION-SIG: RSA-SHA256 by the certificate at PAYPAL-CERT-URL.
    #[serde(rename = "PayPal")]
    PayPal,
    /// Generic HMAC in a configurable header.
    Hmac,
    /// HTTP Basic credentials.
    Basic,
    /// A bearer token.
    Bearer,
    /// No verification.
    None,
}

/// Settings of the generic Hmac verification scheme.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HmacVerify {
    /// Header carrying the signature.
    #[schemars(length(min = 1, max = 256))]
    pub header: String,
    /// Hash algorithm: Sha1, Sha256 or Sha512. Default: Sha256.
    #[serde(default)]
    pub algorithm: HmacAlgorithm,
    /// Signature encoding: Hex or Base64. Default: Hex.
    #[serde(default)]
    pub encoding: SignatureEncoding,
    /// Text before the signature in the header (e.g. "sha256="). Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub prefix: Option<String>,
    /// Header with a timestamp that is signed as "timestamp.body" and checked against the tolerance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub timestamp_header: Option<String>,
}

/// HMAC hash algorithms.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[schemars(transform = crate::api::common::drop_description)]
pub enum HmacAlgorithm {
    /// HMAC-SHA1 (legacy senders only).
    Sha1,
    /// HMAC-SHA256.
    #[default]
    Sha256,
    /// HMAC-SHA512.
    Sha512,
}

/// Encodings of a signature.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[schemars(transform = crate::api::common::drop_description)]
pub enum SignatureEncoding {
    /// Lower- or upper-case hexadecimal.
    #[default]
    Hex,
    /// Standard base64.
    Base64,
}

/// Where an inbound request's event type comes from: a header or a jq expression.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "has(self.header) != has(self.jq)", "message": "set exactly one of header or jq"}
]))]
pub struct EventTypeSource {
    /// Header whose value is the event type (e.g. "X-GitHub-Event").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub header: Option<String>,
    /// jq expression over the payload yielding the event type (e.g. ".type").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 4096))]
    pub jq: Option<String>,
    /// Prefix joined to the type with a dot (e.g. "github" makes "push" "github.push").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128))]
    pub prefix: Option<String>,
}

/// Deduplication of inbound requests.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "has(self.idHeader) != has(self.idJq)", "message": "set exactly one of idHeader or idJq"}
]))]
pub struct Dedup {
    /// Header carrying a unique id (e.g. "webhook-id", "X-GitHub-Delivery").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub id_header: Option<String>,
    /// jq expression over the payload yielding a unique id (e.g. ".id" for Stripe).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 4096))]
    pub id_jq: Option<String>,
    /// How long an id is remembered. Default: "24h".
    #[serde(default = "default_dedup_window")]
    pub window: DurationString,
}

fn default_dedup_window() -> DurationString {
    DurationString::new("24h")
}

/// Where an accepted request goes: published as an event, forwarded, or both.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "has(self.publish) || has(self.forward)", "message": "a route needs publish or forward (or both)"}
]))]
pub struct Route {
    /// Publish the payload as an event in this namespace, fanned out to its subscriptions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish: Option<PublishRoute>,
    /// Forward the payload durably to a URL, with retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forward: Option<ForwardRoute>,
}

/// Publishing an accepted payload as an event.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublishRoute {
    /// Fixed event type; default: the type found by spec.eventType.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub event_type: Option<String>,
}

/// Forwarding an accepted payload to a URL.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ForwardRoute {
    /// Destination URL.
    pub url: HttpUrl,
    /// Extra request headers. Default: none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Timeout of one attempt. Default: "15s".
    #[serde(default = "default_forward_timeout")]
    pub timeout: DurationString,
    /// Retry schedule. Default: 60s, 5m, 15m, 1h, 2h.
    #[serde(default)]
    pub retry: RetrySchedule,
    /// Where every forward given up on is sent, with a summary of its attempts: a
    /// WebhookSubscription of the namespace, or a URL. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter: Option<super::webhook_subscription::DeadLetter>,
}

fn default_forward_timeout() -> DurationString {
    DurationString::new("15s")
}

/// Observed state of a WebhookEndpoint.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookEndpointStatus {
    /// The metadata.generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready: the receiver is serving.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
    /// URL senders call (absolute when the data plane's external URL is configured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Requests received.
    #[serde(default)]
    pub received: u64,
    /// Requests verified and committed.
    #[serde(default)]
    pub accepted: u64,
    /// Requests refused (signature, source, size, body).
    #[serde(default)]
    pub rejected: u64,
    /// Requests that failed inside Switchboard (store or transformation errors).
    #[serde(default)]
    pub failed: u64,
    /// Requests accepted but not routed: duplicates and event types outside the allowlist.
    #[serde(default)]
    pub ignored: u64,
    /// Time of the last request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_received_at: Option<Time>,
}
