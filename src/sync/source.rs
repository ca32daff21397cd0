//! The outbound HTTP boundary of a sync job: calls against an Integration's API. The engine
//! passes the running Integration's client (auth, rate limit, retries, breaker); the plain
//! [`BaseUrlSource`] (a client on a base URL, no auth) serves the sync runtime's own tests.

use std::time::Duration;

use async_trait::async_trait;

use crate::error_chain::render;
pub use crate::integration::{CallRequest, CallResponse};
use crate::integration::{IntegrationClient, IntegrationError};

/// Why a call got no response.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The path or URL cannot be used with the base URL.
    #[error("invalid request URL {url:?}: {reason}")]
    Url {
        /// The path or URL asked for.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The request failed on the wire (connect, timeout, reading the body).
    #[error("calling {url}")]
    Transport {
        /// The URL called (without query).
        url: String,
        /// The client's error.
        #[source]
        source: reqwest::Error,
    },
    /// The Integration's client made no call or got no answer (breaker open, token refused,
    /// timeout, connection failed).
    #[error(transparent)]
    Integration(#[from] IntegrationError),
    /// The source refuses calls for now (circuit open, credentials missing, …).
    #[error("the integration is unavailable: {0}")]
    Unavailable(String),
}

/// Makes calls against an Integration's API (its base URL, auth, rate limit, retries, breaker).
#[async_trait]
pub trait Source: Send + Sync {
    /// Sends one request and reads the whole response.
    async fn call(&self, req: CallRequest) -> Result<CallResponse, SourceError>;
}

/// A plain source: a reqwest client on a base URL, no auth, no retries.
#[derive(Clone, Debug)]
pub struct BaseUrlSource {
    base: url::Url,
    client: reqwest::Client,
}

impl BaseUrlSource {
    /// A source on `base_url` whose calls time out after `timeout`.
    pub fn new(base_url: &str, timeout: Duration) -> Result<Self, SourceError> {
        let base = crate::api::HttpUrl(base_url.to_owned())
            .parse()
            .map_err(|reason| SourceError::Url {
                url: base_url.to_owned(),
                reason,
            })?;
        let client = reqwest::Client::builder()
            .user_agent(concat!("switchboard-sync/", env!("CARGO_PKG_VERSION")))
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .map_err(|source| SourceError::Transport {
                url: base_url.to_owned(),
                source,
            })?;
        Ok(Self { base, client })
    }

    /// The URL a request goes to (without its query parameters).
    pub fn url_of(&self, path: &str) -> Result<url::Url, SourceError> {
        resolve(&self.base, path)
    }
}

/// `path` under `base` (base path + path), or `path` itself when it is an absolute URL on the
/// same origin as `base`.
pub fn resolve(base: &url::Url, path: &str) -> Result<url::Url, SourceError> {
    let bad = |reason: &str| SourceError::Url {
        url: path.to_owned(),
        reason: reason.to_owned(),
    };
    if path.starts_with("http://") || path.starts_with("https://") {
        let url = url::Url::parse(path).map_err(|e| bad(&render(&e)))?;
        if url.origin() != base.origin() {
            return Err(bad("not on the origin of the integration's base URL"));
        }
        return Ok(url);
    }
    let joined = format!(
        "{}/{}",
        base.as_str().trim_end_matches('/'),
        path.trim_start_matches('/')
    );
    url::Url::parse(&joined).map_err(|e| bad(&render(&e)))
}

#[async_trait]
impl Source for BaseUrlSource {
    async fn call(&self, req: CallRequest) -> Result<CallResponse, SourceError> {
        let mut url = self.url_of(&req.path)?;
        if !req.query.is_empty() {
            url.query_pairs_mut().extend_pairs(&req.query);
        }
        let mut shown = url.clone();
        shown.set_query(None);
        // The client's error would repeat the URL with its query (cursors, keys): drop it.
        let transport = |source: reqwest::Error| SourceError::Transport {
            url: shown.to_string(),
            source: source.without_url(),
        };
        let mut builder = self.client.request(req.method, url).headers(req.headers);
        if let Some(body) = req.body {
            builder = builder.body(body);
        }
        let response = builder.send().await.map_err(transport)?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(transport)?;
        Ok(CallResponse {
            status,
            headers,
            body,
        })
    }
}

/// An Integration's client as a source: its auth, rate limit, retries and breaker apply.
#[async_trait]
impl Source for IntegrationClient {
    async fn call(&self, req: CallRequest) -> Result<CallResponse, SourceError> {
        Ok(IntegrationClient::call(self, req).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_join_the_base_and_absolute_urls_stay_on_its_origin() {
        let base = url::Url::parse("http://127.0.0.1:8000/api/").unwrap();
        assert_eq!(
            resolve(&base, "/v1/contacts").unwrap().as_str(),
            "http://127.0.0.1:8000/api/v1/contacts"
        );
        assert_eq!(
            resolve(&base, "http://127.0.0.1:8000/other?page=2")
                .unwrap()
                .as_str(),
            "http://127.0.0.1:8000/other?page=2"
        );
        assert!(resolve(&base, "http://169.254.169.254/latest").is_err());
    }
}
