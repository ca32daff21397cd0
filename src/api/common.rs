//! Types shared by several kinds: references, durations, URLs, rate limits, auth and status helpers.

use std::borrow::Cow;
use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

/// The pattern every duration string must match (Go style: "90s", "5m", "1h30m", "250ms").
pub const DURATION_PATTERN: &str = "^([0-9]+(ms|s|m|h))+$";

/// A duration written as a string such as "90s", "5m" or "1h30m".
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash)]
pub struct DurationString(pub String);

impl DurationString {
    /// Builds a duration string from a literal such as "30s".
    pub fn new(s: &str) -> Self {
        Self(s.to_owned())
    }

    /// Parses the string into a `std::time::Duration`.
    pub fn to_std(&self) -> Result<std::time::Duration, InvalidDuration> {
        parse_duration(&self.0)
    }
}

impl std::fmt::Display for DurationString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A duration string that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid duration {input:?}: expected a number and unit such as \"90s\", \"5m\" or \"1h30m\" (units ms, s, m, h)"
)]
pub struct InvalidDuration {
    /// The rejected text.
    pub input: String,
}

/// Parses a Go-style duration string ("90s", "1h30m"); the accepted forms are exactly those of
/// [`DURATION_PATTERN`], so `validate` and the API server agree.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, InvalidDuration> {
    let invalid = || InvalidDuration {
        input: s.to_owned(),
    };
    // humantime alone accepts more forms (spaces, "min", "days"); the API takes only the Go form.
    if !duration_regex().is_match(s) {
        return Err(invalid());
    }
    humantime::parse_duration(s).map_err(|_| invalid())
}

fn duration_regex() -> &'static regex::Regex {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| regex::Regex::new(DURATION_PATTERN).expect("duration pattern compiles"))
}

impl JsonSchema for DurationString {
    fn schema_name() -> Cow<'static, str> {
        "DurationString".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "maxLength": 32,
            "x-kubernetes-validations": [{
                "rule": format!("self.matches('{DURATION_PATTERN}')"),
                "message": "must be a duration such as \"90s\", \"5m\" or \"1h30m\" (units ms, s, m, h)"
            }]
        })
    }
}

/// An absolute http or https URL.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash)]
pub struct HttpUrl(pub String);

impl HttpUrl {
    /// Parses the URL, refusing anything but http and https.
    pub fn parse(&self) -> Result<url::Url, String> {
        let url = url::Url::parse(&self.0).map_err(|e| {
            format!(
                "invalid URL {:?}: {}",
                self.0,
                crate::error_chain::chain(&e)
            )
        })?;
        match url.scheme() {
            "http" | "https" if url.host().is_some() => Ok(url),
            "http" | "https" => Err(format!("URL {:?} has no host", self.0)),
            other => Err(format!(
                "URL {:?} must use http or https, not {other}",
                self.0
            )),
        }
    }
}

impl std::fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl JsonSchema for HttpUrl {
    fn schema_name() -> Cow<'static, str> {
        "HttpUrl".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "maxLength": 2048,
            "x-kubernetes-validations": [{
                // startsWith, not url(self).getScheme(): kube-cel (offline validation) reads
                // http://localhost/… as a bare path and gives it no scheme.
                "rule": "isURL(self) && (self.startsWith('http://') || self.startsWith('https://')) && url(self).getHostname() != ''",
                "message": "must be an absolute http:// or https:// URL"
            }]
        })
    }
}

/// A reference to another resource of the same namespace, by name.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub struct LocalRef {
    /// Name of the referenced resource in the same namespace.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// A reference to a Secret of the resource's own namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub struct SecretKeyRef {
    /// Name of the Secret in the same namespace.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key within the Secret for single-value uses; default: the conventional key of the use
    /// (`secret` for signing and verification, `token` for bearer, `apiKey` for API keys).
    /// Multi-value uses read `username`/`password` and `clientId`/`clientSecret`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub key: Option<String>,
}

impl SecretKeyRef {
    /// The key to read, or `default` when none was given.
    pub fn key_or<'a>(&'a self, default: &'a str) -> &'a str {
        self.key.as_deref().unwrap_or(default)
    }
}

/// A token-bucket rate limit: at most `requests` per `period`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub struct RateLimit {
    /// Requests allowed per period.
    #[schemars(range(min = 1))]
    pub requests: u32,
    /// Length of the period. Default: "1s".
    #[serde(default = "default_one_second")]
    pub period: DurationString,
}

fn default_one_second() -> DurationString {
    DurationString::new("1s")
}

/// How requests are authenticated.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[schemars(transform = crate::api::common::drop_description)]
pub enum AuthType {
    /// No authentication.
    #[default]
    None,
    /// An API key in a header or query parameter (Secret key `apiKey`).
    ApiKey,
    /// HTTP Basic (Secret keys `username` and `password`).
    Basic,
    /// A bearer token (Secret key `token`).
    Bearer,
    /// OAuth2 client credentials grant (Secret keys `clientId` and `clientSecret`).
    #[serde(rename = "OAuth2ClientCredentials")]
    OAuth2ClientCredentials,
    /// OAuth2 authorization code grant with PKCE: a person connects an account once
    /// (`switchboard connect`); the tokens are kept and refreshed by Switchboard (Secret keys
    /// `clientId` and `clientSecret` of the OAuth app).
    #[serde(rename = "OAuth2AuthorizationCode")]
    OAuth2AuthorizationCode,
}

/// How the client authenticates to an OAuth2 token endpoint.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[schemars(transform = crate::api::common::drop_description)]
pub enum TokenAuthMethod {
    /// HTTP Basic with the client id and secret (RFC 6749 2.3.1, the default).
    #[default]
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body (HubSpot, Salesforce).
    ClientSecretPost,
}

/// Endpoints and defaults of an OAuth2 authorization-code provider: a ClusterIntegrationProvider
/// publishes them; an Integration's `spec.auth` overrides any of them.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OAuth2Endpoints {
    /// Where a person is sent to approve the connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorize_url: Option<HttpUrl>,
    /// The token endpoint (code exchange and refresh).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_url: Option<HttpUrl>,
    /// The RFC 7009 revocation endpoint, called when the Integration is deleted. Default: none
    /// (tokens are forgotten, not revoked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_url: Option<HttpUrl>,
    /// Scopes requested when an Integration names none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub scopes: Vec<String>,
    /// Separator of the `scope` parameter. Default: " " (Slack: ",").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 4))]
    pub scope_separator: Option<String>,
    /// Extra query parameters of the authorize URL (Google: `access_type: offline`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub authorize_params: BTreeMap<String, String>,
    /// How the client authenticates to the token endpoint. Default: ClientSecretBasic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_auth_method: Option<TokenAuthMethod>,
}

/// Credentials attached to outgoing requests.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "self.type == 'None' || has(self.secretRef)", "message": "secretRef is required unless type is None"},
    {"rule": "self.type != 'OAuth2ClientCredentials' || has(self.tokenUrl)", "message": "tokenUrl is required for OAuth2ClientCredentials"},
    {"rule": "self.type == 'OAuth2AuthorizationCode' || !(has(self.authorizeUrl) || has(self.revocationUrl) || has(self.authorizeParams) || has(self.scopeSeparator) || has(self.tokenAuthMethod))", "message": "authorizeUrl, revocationUrl, authorizeParams, scopeSeparator and tokenAuthMethod apply to OAuth2AuthorizationCode only"},
    {"rule": "!(has(self.header) && has(self.queryParam))", "message": "set header or queryParam, not both"}
]))]
pub struct Auth {
    /// Authentication type: None, ApiKey, Basic, Bearer, OAuth2ClientCredentials or
    /// OAuth2AuthorizationCode. Default: None.
    #[serde(default, rename = "type")]
    pub auth_type: AuthType,
    /// Secret holding the credentials, in the resource's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretKeyRef>,
    /// ApiKey: header carrying the key. Default: "X-API-Key" unless queryParam is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub header: Option<String>,
    /// ApiKey: query parameter carrying the key instead of a header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub query_param: Option<String>,
    /// OAuth2: the token endpoint (OAuth2AuthorizationCode: default the provider's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_url: Option<HttpUrl>,
    /// OAuth2: scopes to request. Default: none (OAuth2AuthorizationCode: the provider's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub scopes: Vec<String>,
    /// OAuth2AuthorizationCode: where a person approves the connection. Default: the
    /// provider's `oauth2.authorizeUrl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorize_url: Option<HttpUrl>,
    /// OAuth2AuthorizationCode: RFC 7009 revocation endpoint called when the Integration is
    /// deleted. Default: the provider's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_url: Option<HttpUrl>,
    /// OAuth2AuthorizationCode: extra query parameters of the authorize URL, added to (and
    /// overriding) the provider's.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub authorize_params: BTreeMap<String, String>,
    /// OAuth2AuthorizationCode: separator of the `scope` parameter. Default: the provider's,
    /// else " ".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 4))]
    pub scope_separator: Option<String>,
    /// OAuth2AuthorizationCode: how the client authenticates to the token endpoint. Default:
    /// the provider's, else ClientSecretBasic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_auth_method: Option<TokenAuthMethod>,
}

/// HTTP request methods.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[schemars(transform = crate::api::common::drop_description)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    /// GET.
    #[default]
    Get,
    /// HEAD.
    Head,
    /// POST.
    Post,
    /// PUT.
    Put,
    /// PATCH.
    Patch,
    /// DELETE.
    Delete,
    /// OPTIONS.
    Options,
}

impl HttpMethod {
    /// The method as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Head => "HEAD",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
            Self::Options => "OPTIONS",
        }
    }
}

/// A periodic HTTP check of an external API.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheck {
    /// Path requested, relative to the base URL (e.g. "/v1/ping").
    #[schemars(length(min = 1, max = 2048))]
    pub path: String,
    /// HTTP method. Default: GET.
    #[serde(default)]
    pub method: HttpMethod,
    /// Time between checks. Default: "60s".
    #[serde(default = "default_health_interval")]
    pub interval: DurationString,
    /// Expected status code; when unset any 2xx is healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 100, max = 599))]
    pub expect_status: Option<u16>,
}

fn default_health_interval() -> DurationString {
    DurationString::new("60s")
}

/// A JSON value of any shape, kept as written.
pub fn any_value(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "x-kubernetes-preserve-unknown-fields": true })
}

/// A JSON object of any shape, kept as written.
pub fn free_object(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "object", "x-kubernetes-preserve-unknown-fields": true })
}

/// The `conditions` list in the metav1.Condition shape, merged by type.
pub fn conditions_schema(generator: &mut SchemaGenerator) -> Schema {
    let mut schema = generator.subschema_for::<Vec<Condition>>();
    let obj = schema.ensure_object();
    obj.insert("x-kubernetes-list-type".into(), "map".into());
    obj.insert(
        "x-kubernetes-list-map-keys".into(),
        serde_json::json!(["type"]),
    );
    schema
}

/// The Ready condition type, present on every kind.
pub const READY: &str = "Ready";
/// The Healthy condition type, on kinds that talk to the outside.
pub const HEALTHY: &str = "Healthy";

/// Removes an enum type's own description, so an optional field of that type keeps its doc.
pub fn drop_description(schema: &mut Schema) {
    schema.remove("description");
}
