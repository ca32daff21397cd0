//! A destination: where and how a delivery is sent (URL, headers, credentials, signature,
//! timeout, retry schedule) with its own HTTP client behind the SSRF guard. Subscriptions
//! use it, and an endpoint's `route.forward` can use it with `Signer::None`.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue};

use super::ssrf::{DestinationPolicy, Refused};
use crate::signature::{VerifyError, github, standard_webhooks};

/// The User-Agent of every delivery.
pub const USER_AGENT: &str = concat!("Switchboard/", env!("CARGO_PKG_VERSION"));

/// How a destination's requests are signed.
#[derive(Clone, PartialEq, Eq)]
pub enum Signer {
    /// Standard Webhooks with every active `whsec_` secret (rotation signs with all).
    StandardWebhooks(Vec<String>),
    /// GitHub-style `X-Hub-Signature-256` with this secret.
    GitHub(Vec<u8>),
    /// Unsigned.
    None,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::StandardWebhooks(_) => "StandardWebhooks(<redacted>)",
            Self::GitHub(_) => "GitHub(<redacted>)",
            Self::None => "None",
        })
    }
}

impl Signer {
    /// The signature headers of a message sent at `timestamp` (Unix seconds).
    pub fn headers(
        &self,
        msg_id: &str,
        timestamp: i64,
        body: &[u8],
    ) -> Result<Vec<(HeaderName, String)>, VerifyError> {
        Ok(match self {
            Self::StandardWebhooks(secrets) => {
                let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
                vec![
                    (HeaderName::from_static("webhook-id"), msg_id.to_owned()),
                    (
                        HeaderName::from_static("webhook-timestamp"),
                        timestamp.to_string(),
                    ),
                    (
                        HeaderName::from_static("webhook-signature"),
                        standard_webhooks::sign(msg_id, timestamp, body, &secrets)?,
                    ),
                ]
            }
            Self::GitHub(secret) => vec![
                (
                    HeaderName::from_static("x-switchboard-delivery"),
                    msg_id.to_owned(),
                ),
                (
                    HeaderName::from_static("x-hub-signature-256"),
                    github::sign(secret, body)?,
                ),
            ],
            Self::None => vec![(HeaderName::from_static("webhook-id"), msg_id.to_owned())],
        })
    }
}

/// What a destination is built from.
#[derive(Clone, Debug)]
pub struct DestinationSpec {
    /// The URL (http or https).
    pub url: String,
    /// Request headers: custom ones, content type, credentials.
    pub headers: Vec<(String, String)>,
    /// Query parameters added to the URL (an API key in the query).
    pub query: Vec<(String, String)>,
    /// Timeout of one attempt.
    pub timeout: Duration,
    /// Delay before each retry; Dead after the last.
    pub schedule: Vec<Duration>,
    /// Signature scheme and secrets.
    pub signer: Signer,
}

/// A destination that cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum DestinationError {
    /// The URL does not parse or is not http(s).
    #[error("invalid URL: {0}")]
    Url(String),
    /// The URL's literal address is refused by the SSRF guard.
    #[error(transparent)]
    Refused(#[from] Refused),
    /// A header name or value is not valid HTTP.
    #[error("invalid header {name:?}")]
    Header {
        /// The header name.
        name: String,
    },
    /// The HTTP client could not be built.
    #[error("building the HTTP client")]
    Client(#[source] reqwest::Error),
}

/// A built destination.
#[derive(Debug)]
pub struct Destination {
    /// Where requests go.
    pub url: url::Url,
    /// Extra request headers.
    pub headers: HeaderMap,
    /// Timeout of one attempt.
    pub timeout: Duration,
    /// Retry schedule.
    pub schedule: Vec<Duration>,
    /// Signer.
    pub signer: Signer,
    /// The guard, re-checked on every attempt for literal addresses.
    pub policy: Arc<DestinationPolicy>,
    /// The HTTP client (no redirects, no proxy, guarded DNS).
    pub client: reqwest::Client,
    /// Credentials obtained per attempt (an OAuth2 token, an Integration's auth).
    pub credentials: Option<Arc<dyn super::credentials::CredentialSource>>,
}

impl Destination {
    /// Builds a destination; a literal address the guard refuses is an error.
    pub fn build(
        spec: DestinationSpec,
        policy: Arc<DestinationPolicy>,
    ) -> Result<Self, DestinationError> {
        Self::build_with_client(spec, policy, None)
    }

    /// One HTTP client for many destinations under the same policy (every attempt sets its
    /// own timeout): a client holds TLS roots and a pool, so one per destination costs about
    /// 150 KiB each with thousands of subscriptions.
    pub fn shared_client(
        policy: &Arc<DestinationPolicy>,
    ) -> Result<reqwest::Client, DestinationError> {
        guarded_client_builder(policy)
            .build()
            .map_err(DestinationError::Client)
    }

    /// Builds a destination on `client` (from [`Self::shared_client`] with the same policy),
    /// or on a client of its own when None.
    pub fn build_with_client(
        spec: DestinationSpec,
        policy: Arc<DestinationPolicy>,
        client: Option<reqwest::Client>,
    ) -> Result<Self, DestinationError> {
        let mut url = crate::api::HttpUrl(spec.url)
            .parse()
            .map_err(DestinationError::Url)?;
        if !spec.query.is_empty() {
            url.query_pairs_mut().extend_pairs(&spec.query);
        }
        policy.check_literal(&url)?;
        let mut headers = HeaderMap::new();
        for (name, value) in &spec.headers {
            let bad = || DestinationError::Header { name: name.clone() };
            let mut value = HeaderValue::from_str(value).map_err(|_| bad())?;
            if is_credential(name) {
                value.set_sensitive(true);
            }
            headers.insert(
                HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad())?,
                value,
            );
        }
        let client = match client {
            Some(shared) => shared,
            None => guarded_client_builder(&policy)
                .timeout(spec.timeout)
                .build()
                .map_err(DestinationError::Client)?,
        };
        Ok(Self {
            url,
            headers,
            timeout: spec.timeout,
            schedule: spec.schedule,
            signer: spec.signer,
            policy,
            client,
            credentials: None,
        })
    }

    /// "POST scheme://host/path", without query values (they may hold credentials).
    pub fn request_line(&self) -> String {
        let mut shown = self.url.clone();
        shown.set_query(None);
        format!("POST {shown}")
    }
}

fn is_credential(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n == "authorization" || n.contains("key") || n.contains("token") || n.contains("secret")
}

/// Idle keep-alive connections kept per host: at least the attempts one host may have in
/// flight (the global bound's default), so a busy subscriber's connections are reused rather
/// than closed and opened again after every burst.
const IDLE_CONNECTIONS_PER_HOST: usize = 256;

/// A client builder behind the SSRF guard: Switchboard's User-Agent, no redirects, no proxy,
/// the guarded resolver of `policy`, a keep-alive pool.
pub fn guarded_client_builder(policy: &Arc<DestinationPolicy>) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(policy.resolver())
        .pool_max_idle_per_host(IDLE_CONNECTIONS_PER_HOST)
        .tcp_nodelay(true)
}
