//! Bearer tokens the engine's own table does not know can be checked by a verifier the
//! front-end provides (the controller: Kubernetes TokenReview). The engine stays unaware of
//! how tokens are verified.

use async_trait::async_trait;

use crate::error_chain::chain;

use super::topology::TokenCheck;

/// Why a token could not be verified (the verifier itself failed).
#[derive(Debug, thiserror::Error)]
#[error("verifying a bearer token")]
pub struct VerifyError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

/// Verifies bearer tokens, for example with the Kubernetes TokenReview API.
#[async_trait]
pub trait TokenVerifier: Send + Sync {
    /// The namespace a valid token belongs to; `None` when the token is not valid.
    async fn namespace_of(&self, token: &[u8]) -> Result<Option<String>, VerifyError>;
}

/// What `verifier` says about `token` publishing to `namespace`; a failing verifier denies.
pub async fn check(verifier: &dyn TokenVerifier, token: &[u8], namespace: &str) -> TokenCheck {
    match verifier.namespace_of(token).await {
        Ok(Some(ns)) if ns == namespace => TokenCheck::Allowed,
        Ok(Some(_)) => TokenCheck::OtherNamespace,
        Ok(None) => TokenCheck::Unknown,
        Err(e) => {
            tracing::warn!(error = %chain(&e), "token verification failed; request denied");
            TokenCheck::Unknown
        }
    }
}

/// What a caller wants to do with a subscription's delivery log on the admin port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeliveryAccess {
    /// List deliveries (Kubernetes verb `get` on the subscription).
    Read,
    /// Retry a delivery or send a test event (verb `update`).
    Write,
    /// Retry in bulk or replay a time range (verb `replay`, a verb of its own: mass
    /// re-sending is granted apart from editing).
    Replay,
}

impl DeliveryAccess {
    /// The Kubernetes verb that grants it on the subscription.
    pub fn verb(self) -> &'static str {
        match self {
            Self::Read => "get",
            Self::Write => "update",
            Self::Replay => "replay",
        }
    }
}

/// An authorizer's answer about one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Go ahead.
    Allowed,
    /// No token, or not a valid one (401).
    Unauthenticated,
    /// A valid caller without the permission (403).
    Forbidden,
}

/// The admin API's resources (their Kubernetes plural): a subscription's delivery log.
pub const SUBSCRIPTIONS: &str = "webhooksubscriptions";
/// The admin API's resources: an Integration's connection (`update` starts one).
pub const INTEGRATIONS: &str = "integrations";

/// Authorizes callers of the admin API's namespaced routes, for example with Kubernetes
/// TokenReview and SubjectAccessReview. Without one (standalone mode) the admin port is not
/// authorized.
#[async_trait]
pub trait AdminAuthorizer: Send + Sync {
    /// May the bearer of `token` do `access` on `resource` (a plural of the switchboard.dev
    /// group: [`SUBSCRIPTIONS`], [`INTEGRATIONS`]) `namespace`/`name`?
    async fn authorize(
        &self,
        token: Option<&[u8]>,
        resource: &'static str,
        namespace: &str,
        name: &str,
        access: DeliveryAccess,
    ) -> Result<Access, VerifyError>;
}
