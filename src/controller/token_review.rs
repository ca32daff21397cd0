//! Bearer tokens in a cluster, verified by the TokenReview API and cached briefly by SHA-256
//! of the token. Publish API: a ServiceAccount token may publish to its ServiceAccount's
//! namespace only. The admin API (`access_review.rs`, built on this) uses the reviewed user.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec, UserInfo};
use kube::api::PostParams;
use kube::{Api, Client};
use sha2::{Digest, Sha256};

use crate::engine::auth::{TokenVerifier, VerifyError};

/// How long an answer about a token is reused.
pub const CACHE_TTL: Duration = Duration::from_secs(30);
/// Cached answers kept at most (the cache is cleared when full).
const CACHE_MAX: usize = 10_000;

/// Token digest to (the token's user, when it was asked).
type Cache = HashMap<[u8; 32], (Option<UserInfo>, Instant)>;

/// Verifies tokens with TokenReview.
pub struct TokenReviewer {
    client: Client,
    cache: Mutex<Cache>,
}

impl TokenReviewer {
    /// A verifier that asks the API server of `client`.
    pub fn new(client: Client) -> Self {
        Self {
            client,
            cache: Mutex::default(),
        }
    }

    fn cached(&self, digest: &[u8; 32]) -> Option<Option<UserInfo>> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(digest)
            .filter(|(_, at)| at.elapsed() < CACHE_TTL)
            .map(|(user, _)| user.clone())
    }

    fn remember(&self, digest: [u8; 32], user: Option<UserInfo>) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CACHE_MAX {
            cache.clear();
        }
        cache.insert(digest, (user, Instant::now()));
    }

    /// The user a token authenticates as (None: not a valid token), cached for [`CACHE_TTL`].
    pub async fn review(&self, token: &[u8]) -> Result<Option<UserInfo>, kube::Error> {
        let digest: [u8; 32] = Sha256::digest(token).into();
        if let Some(answer) = self.cached(&digest) {
            return Ok(answer);
        }
        let Ok(token) = std::str::from_utf8(token) else {
            return Ok(None);
        };
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: token.to_owned(),
                ..TokenReviewSpec::default()
            },
            ..TokenReview::default()
        };
        let api: Api<TokenReview> = Api::all(self.client.clone());
        let answer = api.create(&PostParams::default(), &review).await?;
        let user = answer
            .status
            .filter(|s| s.authenticated == Some(true))
            .and_then(|s| s.user);
        self.remember(digest, user.clone());
        Ok(user)
    }
}

#[async_trait]
impl TokenVerifier for TokenReviewer {
    async fn namespace_of(&self, token: &[u8]) -> Result<Option<String>, VerifyError> {
        let user = self
            .review(token)
            .await
            .map_err(|e| VerifyError(Box::new(e)))?;
        Ok(user
            .and_then(|u| u.username)
            .as_deref()
            .and_then(service_account_namespace))
    }
}

/// The namespace of "system:serviceaccount:<namespace>:<name>"; None for other users.
pub fn service_account_namespace(username: &str) -> Option<String> {
    let rest = username.strip_prefix("system:serviceaccount:")?;
    let (ns, name) = rest.split_once(':')?;
    (!ns.is_empty() && !name.is_empty()).then(|| ns.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_service_accounts_have_a_namespace() {
        assert_eq!(
            service_account_namespace("system:serviceaccount:payments:checkout").as_deref(),
            Some("payments")
        );
        assert_eq!(service_account_namespace("admin"), None);
        assert_eq!(
            service_account_namespace("system:serviceaccount:payments"),
            None
        );
    }
}
