//! The client of one Integration: resolves the request against the base URL, waits for the
//! rate limiter, asks the circuit breaker, injects the auth, sends with a timeout and
//! retries with backoff; every call is logged, counted and reflected in the stats.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::Utc;
use governor::DefaultDirectRateLimiter;
use http::header::{RETRY_AFTER, USER_AGENT};
use http::{HeaderMap, HeaderValue, StatusCode};

use crate::api::CircuitState;
use crate::delivery::breaker::{Admission, Breaker, BreakerState};
use crate::delivery::classify::parse_retry_after;
use crate::delivery::route::rate_limiter;
use crate::delivery::{DestinationPolicy, USER_AGENT as SWITCHBOARD_AGENT};
use crate::error_chain::render;

use super::auth::Authenticator;
use super::authcode::{AuthCodeConfig, Connection, TokenVault};
use super::credentials::Credentials;
use super::error::{BuildError, IntegrationError};
use super::log::{CallLog, CallLogEntry};
use super::metrics::IntegrationMetrics;
use super::request::{CallRequest, CallResponse, strip_hop_by_hop};
use super::settings::Settings;
use super::stats::IntegrationStats;
use super::target::{method_label, without_query};

/// Largest response body a call reads.
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// The pooled client of one Integration.
pub struct IntegrationClient {
    namespace: String,
    name: String,
    settings: Settings,
    http: reqwest::Client,
    auth: Arc<Authenticator>,
    limiter: Option<DefaultDirectRateLimiter>,
    breaker: Breaker,
    stats: IntegrationStats,
    log: CallLog,
    metrics: IntegrationMetrics,
}

impl std::fmt::Debug for IntegrationClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntegrationClient")
            .field("integration", &self.label())
            .field("base", &self.settings.base.as_str())
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

/// An HTTP client behind the SSRF guard: no redirects, no proxy, guarded DNS.
pub fn http_client(
    policy: &Arc<DestinationPolicy>,
    timeout: Duration,
) -> Result<reqwest::Client, BuildError> {
    crate::delivery::guarded_client_builder(policy)
        .timeout(timeout)
        .pool_max_idle_per_host(32)
        .build()
        .map_err(BuildError::Client)
}

/// What an OAuth2AuthorizationCode auth is built with besides the spec.
pub struct OAuthSetup<'a> {
    /// The provider's published endpoints.
    pub provider: Option<&'a crate::api::OAuth2Endpoints>,
    /// Where the tokens are kept.
    pub vault: Arc<dyn TokenVault>,
}

/// What one attempt produced.
enum Attempt {
    Response(CallResponse),
    Failed(IntegrationError),
}

impl IntegrationClient {
    /// Builds the client of Integration `namespace/name` from its resolved settings and
    /// credentials; requests may only reach addresses `policy` permits.
    pub fn build(
        namespace: &str,
        name: &str,
        settings: Settings,
        auth: Option<&crate::api::Auth>,
        credentials: &Credentials,
        policy: &Arc<DestinationPolicy>,
        metrics: IntegrationMetrics,
    ) -> Result<Self, BuildError> {
        Self::build_with(
            namespace,
            name,
            settings,
            auth,
            credentials,
            policy,
            metrics,
            None,
        )
    }

    /// [`Self::build`], with what an OAuth2AuthorizationCode auth needs: the provider's
    /// endpoints and the vault of its tokens.
    #[allow(clippy::too_many_arguments)]
    pub fn build_with(
        namespace: &str,
        name: &str,
        settings: Settings,
        auth: Option<&crate::api::Auth>,
        credentials: &Credentials,
        policy: &Arc<DestinationPolicy>,
        metrics: IntegrationMetrics,
        oauth: Option<OAuthSetup<'_>>,
    ) -> Result<Self, BuildError> {
        policy
            .check_literal(&settings.base)
            .map_err(|e| BuildError::Invalid {
                field: "spec.baseUrl",
                message: render(&e),
            })?;
        let http = http_client(policy, settings.timeout)?;
        let auth = match auth {
            Some(a) if a.auth_type == crate::api::AuthType::OAuth2AuthorizationCode => {
                let oauth = oauth.ok_or(BuildError::Invalid {
                    field: "spec.auth.type",
                    message: "OAuth2AuthorizationCode needs a token vault".into(),
                })?;
                let config = AuthCodeConfig::resolve(a, oauth.provider, credentials)?;
                for (field, url) in [
                    ("spec.auth.tokenUrl", Some(&config.token_url)),
                    ("spec.auth.revocationUrl", config.revocation_url.as_ref()),
                ] {
                    if let Some(url) = url {
                        policy.check_literal(url).map_err(|e| BuildError::Invalid {
                            field,
                            message: render(&e),
                        })?;
                    }
                }
                Authenticator::AuthCode(Arc::new(Connection::new(
                    namespace,
                    name,
                    config,
                    oauth.vault,
                    http.clone(),
                )))
            }
            _ => Authenticator::build(auth, credentials, http.clone())?,
        };
        auth.check_destination(policy)?;
        let limiter =
            match settings.rate_limit {
                Some((requests, period)) => Some(rate_limiter(requests, period).ok_or_else(
                    || BuildError::Invalid {
                        field: "spec.rateLimit",
                        message: "out of range".into(),
                    },
                )?),
                None => None,
            };
        let b = settings.breaker;
        Ok(Self {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            breaker: Breaker::new(b.failure_threshold, b.open_for)
                .closing_after(b.success_threshold),
            settings,
            http,
            auth: Arc::new(auth),
            limiter,
            stats: IntegrationStats::default(),
            log: CallLog::default(),
            metrics,
        })
    }

    fn label(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// The resolved settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The authenticator (shared with subscriptions that use this integration's auth).
    pub fn authenticator(&self) -> &Arc<Authenticator> {
        &self.auth
    }

    /// What calls and health checks observed.
    pub fn stats(&self) -> &IntegrationStats {
        &self.stats
    }

    /// The recent calls.
    pub fn log(&self) -> &CallLog {
        &self.log
    }

    /// The circuit breaker's state, as the status shows it.
    pub fn circuit(&self) -> CircuitState {
        match self.breaker.state() {
            BreakerState::Closed => CircuitState::Closed,
            BreakerState::Open { until } if Instant::now() < until => CircuitState::Open,
            BreakerState::Open { .. } | BreakerState::HalfOpen { .. } => CircuitState::HalfOpen,
        }
    }

    /// Makes a call; idempotent methods (GET, HEAD, OPTIONS, PUT, DELETE, TRACE) are
    /// retried on the configured status codes, timeouts and connection errors.
    pub async fn call(&self, req: CallRequest) -> Result<CallResponse, IntegrationError> {
        let retry = req.method.is_idempotent();
        self.execute(req, retry).await
    }

    /// Makes a call that is retried whatever its method (the caller knows it is safe).
    pub async fn call_retrying(&self, req: CallRequest) -> Result<CallResponse, IntegrationError> {
        self.execute(req, true).await
    }

    /// Makes a call that is never retried (health checks).
    pub async fn call_once(&self, req: CallRequest) -> Result<CallResponse, IntegrationError> {
        self.execute(req, false).await
    }

    fn invalid(&self, message: impl Into<String>) -> IntegrationError {
        IntegrationError::InvalidRequest {
            integration: self.label(),
            message: message.into(),
        }
    }

    /// The URL of a request: a relative path under the base URL's path, or an absolute URL
    /// on the base URL's origin; `..` segments are refused.
    pub fn resolve(
        &self,
        path: &str,
        query: &[(String, String)],
    ) -> Result<url::Url, IntegrationError> {
        super::target::resolve(&self.settings.base, path, query).map_err(|m| self.invalid(m))
    }

    async fn execute(
        &self,
        req: CallRequest,
        may_retry: bool,
    ) -> Result<CallResponse, IntegrationError> {
        let started_at = Utc::now();
        let clock = Instant::now();
        let shown_path = without_query(&req.path).to_owned();
        let request_bytes = req.body.as_ref().map_or(0, |b| b.len() as u64);
        let mut attempts = 0;
        let result = if self.settings.suspend {
            Err(IntegrationError::Suspended {
                integration: self.label(),
            })
        } else {
            match self.resolve(&req.path, &req.query) {
                Ok(url) => self.attempts(&req, url, may_retry, &mut attempts).await,
                Err(e) => Err(e),
            }
        };
        let elapsed = clock.elapsed();
        let (status, response_bytes, error) = match &result {
            Ok(r) => (Some(r.status.as_u16()), r.body.len() as u64, None),
            Err(e) => (None, 0, Some(render(e))),
        };
        let failed = match &result {
            Ok(r) => {
                r.status.is_server_error()
                    || matches!(
                        r.status,
                        StatusCode::TOO_MANY_REQUESTS
                            | StatusCode::UNAUTHORIZED
                            | StatusCode::FORBIDDEN
                    )
            }
            Err(IntegrationError::InvalidRequest { .. } | IntegrationError::Suspended { .. }) => {
                false
            }
            Err(_) => true,
        };
        let now = Utc::now();
        match (&result, failed) {
            (Ok(r), true) => self.stats.failure(
                now,
                format!("{} {shown_path} answered HTTP {}", req.method, r.status),
            ),
            (Err(e), true) => self.stats.failure(now, render(e)),
            (Ok(r), false) if r.status.is_success() => self.stats.success(now),
            _ => {}
        }
        let outcome = match &result {
            Ok(r) => format!("{}xx", r.status.as_u16() / 100),
            Err(e) => e.code().to_owned(),
        };
        self.metrics.record(
            &self.namespace,
            &self.name,
            method_label(&req.method),
            outcome,
            elapsed.as_secs_f64(),
            request_bytes,
            response_bytes,
        );
        self.log.push(CallLogEntry {
            at: started_at,
            method: method_label(&req.method).to_owned(),
            path: shown_path,
            status,
            duration_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            attempts,
            request_bytes,
            response_bytes,
            error,
        });
        result
    }

    async fn attempts(
        &self,
        req: &CallRequest,
        url: url::Url,
        may_retry: bool,
        attempts: &mut u32,
    ) -> Result<CallResponse, IntegrationError> {
        let mut retry = 0u32;
        let mut refetched = false;
        loop {
            let now = Instant::now();
            if let Admission::Wait(until) = self.breaker.admit(now) {
                return Err(IntegrationError::CircuitOpen {
                    integration: self.label(),
                    retry_in: until.saturating_duration_since(now),
                });
            }
            if let Some(limiter) = &self.limiter {
                limiter.until_ready().await;
            }
            *attempts += 1;
            let mut headers = req.headers.clone();
            strip_hop_by_hop(&mut headers);
            headers.remove(http::header::AUTHORIZATION);
            headers.remove(http::header::HOST);
            headers.remove(http::header::CONTENT_LENGTH);
            if !headers.contains_key(USER_AGENT) {
                headers.insert(USER_AGENT, HeaderValue::from_static(SWITCHBOARD_AGENT));
            }
            let mut target = url.clone();
            let applied = match self.auth.apply(&mut headers, &mut target).await {
                Ok(applied) => applied,
                Err(source) => {
                    // A connection nobody made (or must make again) is not the API failing.
                    if !source.needs_a_person() {
                        self.breaker.failure(Instant::now());
                    }
                    return Err(IntegrationError::Token {
                        integration: self.label(),
                        source,
                    });
                }
            };
            let outcome = self.send(req, target, headers).await;
            let (retryable, retry_after) = match &outcome {
                Attempt::Response(r) => {
                    if is_breaker_failure(r.status) {
                        self.breaker.failure(Instant::now());
                    } else {
                        self.breaker.success();
                    }
                    if r.status == StatusCode::UNAUTHORIZED && self.auth.refreshes() && !refetched {
                        self.auth.rejected(&applied).await;
                        refetched = true;
                        continue;
                    }
                    let after = r
                        .headers
                        .get(RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(parse_retry_after);
                    (self.settings.retry.retries(r.status.as_u16()), after)
                }
                Attempt::Failed(e) => {
                    self.breaker.failure(Instant::now());
                    (
                        matches!(
                            e,
                            IntegrationError::Timeout { .. } | IntegrationError::Transport { .. }
                        ),
                        None,
                    )
                }
            };
            if retryable
                && may_retry
                && retry < self.settings.retry.max_retries
                && let Some(delay) = self.settings.retry.delay(retry, retry_after)
            {
                retry += 1;
                tokio::time::sleep(delay).await;
                continue;
            }
            return match outcome {
                Attempt::Response(r) => Ok(r),
                Attempt::Failed(e) => Err(e),
            };
        }
    }

    async fn send(&self, req: &CallRequest, url: url::Url, headers: HeaderMap) -> Attempt {
        let path = without_query(&req.path).to_owned();
        let transport = |source: reqwest::Error| {
            if source.is_timeout() {
                IntegrationError::Timeout {
                    integration: self.label(),
                    method: req.method.clone(),
                    path: path.clone(),
                    timeout: self.settings.timeout,
                }
            } else {
                IntegrationError::Transport {
                    integration: self.label(),
                    method: req.method.clone(),
                    path: path.clone(),
                    source: source.without_url(),
                }
            }
        };
        let mut builder = self.http.request(req.method.clone(), url).headers(headers);
        if let Some(body) = &req.body {
            builder = builder.body(body.clone());
        }
        let mut response = match builder.send().await {
            Ok(r) => r,
            Err(e) => return Attempt::Failed(transport(e)),
        };
        let status = response.status();
        let headers = response.headers().clone();
        if response
            .content_length()
            .is_some_and(|n| n > MAX_RESPONSE_BYTES as u64)
        {
            return Attempt::Failed(self.too_large(req, &path));
        }
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                        return Attempt::Failed(self.too_large(req, &path));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => return Attempt::Failed(transport(e)),
            }
        }
        Attempt::Response(CallResponse {
            status,
            headers,
            body: Bytes::from(body),
        })
    }

    fn too_large(&self, req: &CallRequest, path: &str) -> IntegrationError {
        IntegrationError::TooLarge {
            integration: self.label(),
            method: req.method.clone(),
            path: path.to_owned(),
            limit: MAX_RESPONSE_BYTES,
        }
    }
}

/// Statuses that count against the circuit breaker: the API is failing, not the request.
fn is_breaker_failure(status: StatusCode) -> bool {
    status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT
}
