//! Credentials attached to each delivery attempt by something that may refresh them (an
//! OAuth2 token, an Integration's auth), rather than fixed headers.

use async_trait::async_trait;
use http::HeaderMap;

/// Credentials could not be obtained for an attempt (the attempt is retried later).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct CredentialError(pub Box<dyn std::error::Error + Send + Sync>);

/// Adds credentials to an outgoing request.
#[async_trait]
pub trait CredentialSource: Send + Sync + std::fmt::Debug {
    /// Adds the credentials to the request's headers or URL.
    async fn authorize(
        &self,
        headers: &mut HeaderMap,
        url: &mut url::Url,
    ) -> Result<(), CredentialError>;

    /// The destination answered 401: forget any cached token so the next attempt refetches.
    async fn rejected(&self);
}
