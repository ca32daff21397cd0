//! Authorizations waiting for their callback: a random `state` bound to one Integration and
//! a PKCE (S256) verifier, kept in the store (so whichever replica serves the callback finds
//! it) under the SHA-256 of the state, taken exactly once and only within
//! [`STATE_LIFETIME`].

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::store::{Store, StoreError};

/// How long a started authorization may be completed.
pub const STATE_LIFETIME: Duration = Duration::from_secs(600);
/// The kind under which the store keeps pending authorizations.
pub const PENDING_KIND: &str = "OAuthPending";

/// A started authorization, as kept until its callback.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Pending {
    /// The Integration's namespace.
    pub namespace: String,
    /// The Integration's name.
    pub integration: String,
    /// The PKCE code verifier.
    pub verifier: String,
    /// The redirect URI sent with the authorization (sent again with the code).
    pub redirect_uri: String,
    /// When the authorization stops being accepted.
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("namespace", &self.namespace)
            .field("integration", &self.integration)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Why a callback's state is refused.
#[derive(Debug, thiserror::Error)]
pub enum PendingError {
    /// No authorization was started with it, or it was used already.
    #[error("this authorization is unknown or was already used")]
    Unknown,
    /// Started more than ten minutes ago.
    #[error("this authorization expired (it must be completed within 10 minutes)")]
    Expired,
    /// The store failed.
    #[error("the pending authorization could not be read or written")]
    Store(#[source] StoreError),
}

fn random_text() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes[..]);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The PKCE S256 challenge of `verifier` (RFC 7636 4.2).
pub fn challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn key(state: &str) -> String {
    hex::encode(Sha256::digest(state.as_bytes()))
}

/// What starting an authorization gives: the state and the challenge to send.
#[derive(Clone)]
pub struct Started {
    /// The random state.
    pub state: String,
    /// The S256 challenge of the verifier kept.
    pub challenge: String,
    /// When it expires.
    pub expires_at: DateTime<Utc>,
}

/// Starts an authorization of Integration `namespace`/`integration`: a fresh state and
/// verifier, kept in `store`; expired ones are dropped on the way.
pub async fn start(
    store: &Arc<dyn Store>,
    namespace: &str,
    integration: &str,
    redirect_uri: &str,
    now: DateTime<Utc>,
) -> Result<Started, StoreError> {
    for stale in store.list_objects(PENDING_KIND, None).await? {
        let expired = stale
            .get("expiresAt")
            .and_then(|v| serde_json::from_value::<DateTime<Utc>>(v.clone()).ok())
            .is_none_or(|at| at <= now);
        if expired && let Some(id) = stale.get("id").and_then(|v| v.as_str()) {
            store.delete_object(PENDING_KIND, id, id).await?;
        }
    }
    let (state, verifier) = (random_text(), random_text());
    let expires_at = now + chrono::Duration::from_std(STATE_LIFETIME).unwrap_or_default();
    let pending = Pending {
        namespace: namespace.to_owned(),
        integration: integration.to_owned(),
        verifier: verifier.clone(),
        redirect_uri: redirect_uri.to_owned(),
        expires_at,
    };
    let id = key(&state);
    let mut value = serde_json::to_value(&pending).unwrap_or_default();
    value["id"] = id.clone().into();
    store.put_object(PENDING_KIND, &id, &id, &value).await?;
    Ok(Started {
        challenge: challenge(&verifier),
        state,
        expires_at,
    })
}

/// Takes the authorization started with `state`: it is removed whatever happens next, so a
/// state is used at most once, even by two replicas at the same time.
pub async fn take(
    store: &Arc<dyn Store>,
    state: &str,
    now: DateTime<Utc>,
) -> Result<Pending, PendingError> {
    if state.is_empty() || state.len() > 512 {
        return Err(PendingError::Unknown);
    }
    let id = key(state);
    let found = store
        .list_objects(PENDING_KIND, Some(&id))
        .await
        .map_err(PendingError::Store)?
        .into_iter()
        .next()
        .ok_or(PendingError::Unknown)?;
    // Whoever deletes it owns it.
    if !store
        .delete_object(PENDING_KIND, &id, &id)
        .await
        .map_err(PendingError::Store)?
    {
        return Err(PendingError::Unknown);
    }
    let pending: Pending = serde_json::from_value(found).map_err(|_| PendingError::Unknown)?;
    if pending.expires_at <= now {
        return Err(PendingError::Expired);
    }
    Ok(pending)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_challenge_is_rfc_7636s() {
        // RFC 7636, appendix B.
        assert_eq!(
            challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[tokio::test]
    async fn a_state_is_taken_once_and_not_after_it_expires() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::open(dir.path().join("s.db").to_str().unwrap())
            .await
            .unwrap();
        let now = Utc::now();
        let started = start(&store, "ns", "qb", "https://x/oauth/callback", now)
            .await
            .unwrap();
        assert_eq!(started.state.len(), 43);
        let taken = take(&store, &started.state, now).await.unwrap();
        assert_eq!(taken.integration, "qb");
        assert_eq!(challenge(&taken.verifier), started.challenge);
        assert!(matches!(
            take(&store, &started.state, now).await,
            Err(PendingError::Unknown)
        ));
        let late = start(&store, "ns", "qb", "https://x/oauth/callback", now)
            .await
            .unwrap();
        let after = now + chrono::Duration::seconds(601);
        assert!(matches!(
            take(&store, &late.state, after).await,
            Err(PendingError::Expired)
        ));
        assert!(matches!(
            take(&store, "forged", now).await,
            Err(PendingError::Unknown)
        ));
    }
}
