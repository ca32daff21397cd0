//! Where an Integration's OAuth2 authorization-code tokens live in a cluster: a Secret
//! `<integration>-oauth-tokens` in its namespace, owned by the Integration (so it goes with its
//! owner) and labelled with the Integration's name, key `connection` (the JSON the engine keeps).
//! Tokens are never in the CR, its status, events or logs.
//!
//! Read directly through the API, not from the controller's Secret watch: every replica must
//! see the refresh token another replica rotated a moment ago (a watch cache can lag, and an
//! old rotated refresh token is `invalid_grant`), and the tokens are read only at start, at a
//! refresh and after a 401, so a cache would save little. A Secret of that name which this
//! controller did not make (no label naming the Integration) is neither read nor overwritten.

use std::sync::Arc;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{DeleteParams, ObjectMeta, Patch, PatchParams};
use kube::{Api, Client, Resource, ResourceExt};

use crate::api::Integration;
use crate::integration::authcode::{StoredConnection, TokenVault, VaultError};

/// Label on token Secrets, naming their Integration.
pub const TOKENS_FOR_LABEL: &str = "switchboard.dev/oauth-tokens-for";

/// The key holding the connection (JSON).
pub const CONNECTION_KEY: &str = "connection";

/// Annotation on a token Secret while a replica refreshes: `<holder> <until RFC 3339>`.
pub const REFRESH_CLAIM_ANNOTATION: &str = "switchboard.dev/refresh-claim";

/// The field manager of token Secrets (server-side apply).
const MANAGER: &str = "switchboard-oauth-tokens";

/// Name of the token Secret of Integration `integration`.
pub fn secret_name(integration: &str) -> String {
    format!("{integration}-oauth-tokens")
}

/// Why a token Secret could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TokenSecretError {
    /// The API call failed.
    #[error("{action} Secret {namespace}/{secret}")]
    Api {
        /// What was being done.
        action: &'static str,
        /// Namespace.
        namespace: String,
        /// Secret name.
        secret: String,
        /// The API error (carries no Secret value).
        #[source]
        source: kube::Error,
    },
    /// A Secret of that name exists that this controller did not make.
    #[error(
        "Secret {namespace}/{secret} exists but is not labelled {TOKENS_FOR_LABEL}={integration}; Switchboard neither reads nor overwrites it"
    )]
    NotOurs {
        /// Namespace.
        namespace: String,
        /// Secret name.
        secret: String,
        /// Integration.
        integration: String,
    },
    /// Its `connection` key is not a connection.
    #[error("Secret {namespace}/{secret} key {CONNECTION_KEY} is not a stored connection")]
    Malformed {
        /// Namespace.
        namespace: String,
        /// Secret name.
        secret: String,
        /// The JSON error (never quotes the value).
        #[source]
        source: serde_json::Error,
    },
    /// The Integration is gone (nothing to own the Secret).
    #[error("Integration {namespace}/{integration} does not exist")]
    NoOwner {
        /// Namespace.
        namespace: String,
        /// Integration.
        integration: String,
    },
}

fn vault(e: TokenSecretError) -> VaultError {
    VaultError(Box::new(e))
}

/// Token Secrets as a [`TokenVault`]; the claim to refresh is an annotation on the Secret,
/// taken by a merge patch carrying the resourceVersion just read (compare-and-set), so
/// replicas refresh one at a time.
#[derive(Clone)]
pub struct SecretVault {
    client: Client,
    /// This replica, in claims.
    holder: String,
}

impl std::fmt::Debug for SecretVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretVault")
    }
}

impl SecretVault {
    /// A vault over the cluster `client` talks to, claiming refreshes as `holder` (unique
    /// per replica).
    pub fn new(client: Client, holder: &str) -> Arc<Self> {
        Arc::new(Self {
            client,
            holder: holder.to_owned(),
        })
    }

    fn api(&self, namespace: &str) -> Api<Secret> {
        Api::namespaced(self.client.clone(), namespace)
    }

    /// The token Secret, if it exists and is ours.
    async fn ours(&self, namespace: &str, name: &str) -> Result<Option<Secret>, TokenSecretError> {
        let secret = secret_name(name);
        let found = self
            .api(namespace)
            .get_opt(&secret)
            .await
            .map_err(|source| TokenSecretError::Api {
                action: "reading",
                namespace: namespace.to_owned(),
                secret: secret.clone(),
                source,
            })?;
        match found {
            Some(s) if s.labels().get(TOKENS_FOR_LABEL).map(String::as_str) == Some(name) => {
                Ok(Some(s))
            }
            Some(_) => Err(TokenSecretError::NotOurs {
                namespace: namespace.to_owned(),
                secret,
                integration: name.to_owned(),
            }),
            None => Ok(None),
        }
    }

    /// The owner reference to Integration `namespace`/`name`.
    async fn owner(&self, namespace: &str, name: &str) -> Result<OwnerReference, TokenSecretError> {
        let integrations: Api<Integration> = Api::namespaced(self.client.clone(), namespace);
        let no_owner = || TokenSecretError::NoOwner {
            namespace: namespace.to_owned(),
            integration: name.to_owned(),
        };
        let meta = integrations
            .get_metadata_opt(name)
            .await
            .map_err(|source| TokenSecretError::Api {
                action: "finding the owner of",
                namespace: namespace.to_owned(),
                secret: secret_name(name),
                source,
            })?
            .ok_or_else(no_owner)?;
        let uid = meta.uid().ok_or_else(no_owner)?;
        Ok(OwnerReference {
            api_version: Integration::api_version(&()).into_owned(),
            kind: Integration::kind(&()).into_owned(),
            name: name.to_owned(),
            uid,
            controller: Some(true),
            block_owner_deletion: Some(true),
        })
    }
}

#[async_trait]
impl TokenVault for SecretVault {
    async fn load(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<StoredConnection>, VaultError> {
        let Some(secret) = self.ours(namespace, name).await.map_err(vault)? else {
            return Ok(None);
        };
        let Some(bytes) = secret.data.as_ref().and_then(|d| d.get(CONNECTION_KEY)) else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes.0)
            .map(Some)
            .map_err(|source| {
                vault(TokenSecretError::Malformed {
                    namespace: namespace.to_owned(),
                    secret: secret_name(name),
                    source,
                })
            })
    }

    async fn save(
        &self,
        namespace: &str,
        name: &str,
        connection: &StoredConnection,
    ) -> Result<(), VaultError> {
        // Refuses to take over a Secret of that name someone else made.
        self.ours(namespace, name).await.map_err(vault)?;
        let owner = self.owner(namespace, name).await.map_err(vault)?;
        let secret = secret_name(name);
        let json = serde_json::to_vec(connection).map_err(|source| {
            vault(TokenSecretError::Malformed {
                namespace: namespace.to_owned(),
                secret: secret.clone(),
                source,
            })
        })?;
        let desired = Secret {
            metadata: ObjectMeta {
                name: Some(secret.clone()),
                namespace: Some(namespace.to_owned()),
                labels: Some([(TOKENS_FOR_LABEL.to_owned(), name.to_owned())].into()),
                owner_references: Some(vec![owner]),
                ..ObjectMeta::default()
            },
            type_: Some("Opaque".into()),
            data: Some([(CONNECTION_KEY.to_owned(), k8s_openapi::ByteString(json))].into()),
            ..Secret::default()
        };
        self.api(namespace)
            .patch(
                &secret,
                &PatchParams::apply(MANAGER).force(),
                &Patch::Apply(&desired),
            )
            .await
            .map_err(|source| {
                vault(TokenSecretError::Api {
                    action: "writing",
                    namespace: namespace.to_owned(),
                    secret: secret.clone(),
                    source,
                })
            })?;
        Ok(())
    }

    async fn claim_refresh(
        &self,
        namespace: &str,
        name: &str,
        ttl: std::time::Duration,
    ) -> Result<bool, VaultError> {
        self.try_claim(namespace, name, ttl).await.map_err(vault)
    }

    async fn release_refresh(&self, namespace: &str, name: &str) -> Result<(), VaultError> {
        self.release(namespace, name).await.map_err(vault)
    }

    async fn remove(&self, namespace: &str, name: &str) -> Result<bool, VaultError> {
        if self.ours(namespace, name).await.map_err(vault)?.is_none() {
            return Ok(false);
        }
        let secret = secret_name(name);
        match self
            .api(namespace)
            .delete(&secret, &DeleteParams::default())
            .await
        {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(false),
            Err(source) => Err(vault(TokenSecretError::Api {
                action: "deleting",
                namespace: namespace.to_owned(),
                secret,
                source,
            })),
        }
    }
}

/// Who holds a claim and until when, from the annotation's value.
fn parse_claim(value: &str) -> Option<(&str, chrono::DateTime<chrono::Utc>)> {
    let (holder, until) = value.rsplit_once(' ')?;
    let until = chrono::DateTime::parse_from_rfc3339(until).ok()?;
    Some((holder, until.with_timezone(&chrono::Utc)))
}

impl SecretVault {
    async fn try_claim(
        &self,
        namespace: &str,
        name: &str,
        ttl: std::time::Duration,
    ) -> Result<bool, TokenSecretError> {
        let Some(secret) = self.ours(namespace, name).await? else {
            // Nothing kept yet: nothing to refresh, nobody to coordinate with.
            return Ok(true);
        };
        let now = chrono::Utc::now();
        if let Some((holder, until)) = secret
            .annotations()
            .get(REFRESH_CLAIM_ANNOTATION)
            .and_then(|v| parse_claim(v))
            && holder != self.holder
            && until > now
        {
            return Ok(false);
        }
        let until = now + chrono::Duration::from_std(ttl).unwrap_or_default();
        // The resourceVersion read above makes this a compare-and-set: of two replicas
        // claiming at once, one gets 409.
        let patch = serde_json::json!({"metadata": {
            "resourceVersion": secret.resource_version(),
            "annotations": {
                REFRESH_CLAIM_ANNOTATION: format!("{} {}", self.holder, until.to_rfc3339()),
            },
        }});
        let secret_name = secret_name(name);
        match self
            .api(namespace)
            .patch_metadata(&secret_name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(source) => Err(TokenSecretError::Api {
                action: "claiming the refresh of",
                namespace: namespace.to_owned(),
                secret: secret_name,
                source,
            }),
        }
    }

    async fn release(&self, namespace: &str, name: &str) -> Result<(), TokenSecretError> {
        let Some(secret) = self.ours(namespace, name).await? else {
            return Ok(());
        };
        let mine = secret
            .annotations()
            .get(REFRESH_CLAIM_ANNOTATION)
            .and_then(|v| parse_claim(v))
            .is_some_and(|(holder, _)| holder == self.holder);
        if !mine {
            return Ok(());
        }
        // Guarded like the claim: never removes a claim another replica took meanwhile.
        let patch = serde_json::json!({"metadata": {
            "resourceVersion": secret.resource_version(),
            "annotations": {REFRESH_CLAIM_ANNOTATION: null},
        }});
        let secret_name = secret_name(name);
        match self
            .api(namespace)
            .patch_metadata(&secret_name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 409 || s.code == 404 => Ok(()),
            Err(source) => Err(TokenSecretError::Api {
                action: "releasing the refresh of",
                namespace: namespace.to_owned(),
                secret: secret_name,
                source,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_is_named_after_its_integration() {
        assert_eq!(secret_name("books"), "books-oauth-tokens");
    }

    #[test]
    fn a_claim_names_its_holder_and_expiry() {
        let (holder, until) = parse_claim("ctl-1 2026-12-07T19:00:00+00:00").unwrap();
        assert_eq!(holder, "ctl-1");
        assert_eq!(until.to_rfc3339(), "2026-12-07T19:00:00+00:00");
        assert!(parse_claim("garbage").is_none());
        assert!(parse_claim("ctl-1 yesterday").is_none());
    }
}
