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

/// Token Secrets as a [`TokenVault`].
#[derive(Clone)]
pub struct SecretVault {
    client: Client,
}

impl std::fmt::Debug for SecretVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretVault")
    }
}

impl SecretVault {
    /// A vault over the cluster `client` talks to.
    pub fn new(client: Client) -> Arc<Self> {
        Arc::new(Self { client })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_is_named_after_its_integration() {
        assert_eq!(secret_name("books"), "books-oauth-tokens");
    }
}
