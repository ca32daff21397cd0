//! OAuth2 client credentials: a token fetched from the token endpoint, cached and refreshed
//! shortly before it expires; a token the API rejects is dropped so the next call refetches.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use http::StatusCode;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use serde::Deserialize;

/// Lifetime assumed when the token endpoint does not say (`expires_in` absent).
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);
/// Longest margin before expiry at which a token is refreshed.
const MAX_REFRESH_MARGIN: Duration = Duration::from_secs(60);
/// Largest token endpoint answer read.
const MAX_TOKEN_RESPONSE: usize = 64 * 1024;

/// Why no token could be obtained.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The token endpoint could not be reached.
    #[error("the OAuth2 token endpoint could not be reached")]
    Transport(#[source] reqwest::Error),
    /// The token endpoint refused (bad client credentials, unknown scope, …).
    #[error("the OAuth2 token endpoint answered HTTP {status}")]
    Status {
        /// Its status.
        status: StatusCode,
    },
    /// The answer is not a token response.
    #[error("the OAuth2 token endpoint's answer is not a token response")]
    Body(#[source] serde_json::Error),
    /// The answer is too large.
    #[error("the OAuth2 token endpoint's answer is larger than {MAX_TOKEN_RESPONSE} bytes")]
    TooLarge,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
}

struct Cached {
    token: Arc<str>,
    refresh_at: Instant,
}

/// A cached OAuth2 client-credentials token of one client.
pub struct TokenSource {
    token_url: url::Url,
    client_id: String,
    client_secret: String,
    scopes: Vec<String>,
    http: reqwest::Client,
    cache: tokio::sync::Mutex<Option<Cached>>,
    fetches: AtomicU64,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("token_url", &self.token_url.as_str())
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

impl TokenSource {
    /// A token source for a client of `token_url`, fetching with `http`.
    pub fn new(
        token_url: url::Url,
        client_id: String,
        client_secret: String,
        scopes: Vec<String>,
        http: reqwest::Client,
    ) -> Self {
        Self {
            token_url,
            client_id,
            client_secret,
            scopes,
            http,
            cache: tokio::sync::Mutex::new(None),
            fetches: AtomicU64::new(0),
        }
    }

    /// The token endpoint.
    pub fn token_url(&self) -> &url::Url {
        &self.token_url
    }

    /// Tokens fetched so far.
    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// The current token, fetched when there is none or it is about to expire. Concurrent
    /// callers wait for one fetch.
    pub async fn token(&self) -> Result<Arc<str>, TokenError> {
        let mut cache = self.cache.lock().await;
        if let Some(c) = cache.as_ref()
            && Instant::now() < c.refresh_at
        {
            return Ok(c.token.clone());
        }
        let (token, lifetime) = self.fetch().await?;
        let refresh_at = Instant::now() + lifetime.saturating_sub(refresh_margin(lifetime));
        *cache = Some(Cached {
            token: token.clone(),
            refresh_at,
        });
        Ok(token)
    }

    /// Drops `used` from the cache (the API rejected it), so the next call fetches anew.
    pub async fn invalidate(&self, used: &str) {
        let mut cache = self.cache.lock().await;
        if cache.as_ref().is_some_and(|c| &*c.token == used) {
            *cache = None;
        }
    }

    /// Drops the cached token, whatever it is.
    pub async fn clear(&self) {
        *self.cache.lock().await = None;
    }

    async fn fetch(&self) -> Result<(Arc<str>, Duration), TokenError> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let form = {
            let mut form = form_urlencoded::Serializer::new(String::new());
            form.append_pair("grant_type", "client_credentials");
            if !self.scopes.is_empty() {
                form.append_pair("scope", &self.scopes.join(" "));
            }
            form.finish()
        };
        let basic = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", self.client_id, self.client_secret));
        let mut authorization = http::HeaderValue::from_str(&format!("Basic {basic}"))
            .unwrap_or_else(|_| http::HeaderValue::from_static(""));
        authorization.set_sensitive(true);
        let mut response = self
            .http
            .post(self.token_url.clone())
            .header(AUTHORIZATION, authorization)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(ACCEPT, "application/json")
            .body(form)
            .send()
            .await
            .map_err(|e| TokenError::Transport(e.without_url()))?;
        let status = response.status();
        if !status.is_success() {
            return Err(TokenError::Status { status });
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| TokenError::Transport(e.without_url()))?
        {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_TOKEN_RESPONSE {
                return Err(TokenError::TooLarge);
            }
        }
        let parsed: TokenResponse = serde_json::from_slice(&body).map_err(TokenError::Body)?;
        let lifetime = parsed
            .expires_in
            .as_ref()
            .and_then(|v| v.as_u64().or_else(|| v.as_str()?.trim().parse().ok()))
            .map_or(DEFAULT_LIFETIME, Duration::from_secs);
        Ok((parsed.access_token.into(), lifetime))
    }
}

/// How long before expiry a token is refreshed: a fifth of its lifetime, at most a minute.
pub fn refresh_margin(lifetime: Duration) -> Duration {
    (lifetime / 5).min(MAX_REFRESH_MARGIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_refreshed_shortly_before_expiry() {
        assert_eq!(
            refresh_margin(Duration::from_secs(3600)),
            Duration::from_secs(60)
        );
        assert_eq!(
            refresh_margin(Duration::from_secs(10)),
            Duration::from_secs(2)
        );
        assert_eq!(refresh_margin(Duration::ZERO), Duration::ZERO);
    }
}
