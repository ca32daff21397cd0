//! Starting and completing OAuth2 authorization-code connections: a start (the admin API,
//! `switchboard connect`) keeps a state bound to the Integration and answers the provider's
//! authorize URL; the callback (the data plane) takes that state once, exchanges the code with
//! its PKCE verifier and hands the tokens to the running Integration's connection. The
//! callback URL is `--external-url` + [`CALLBACK_PATH`].

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::integration::authcode::{Connection, ConnectionError, PendingError, pending};
use crate::store::StoreError;

use super::runtime::Engine;

pub use super::integrations::{CALLBACK_PATH, CONNECT_PAGE_PATH};

/// Why a connection cannot be started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// No such Integration runs here.
    #[error("Integration {namespace}/{name} is not running")]
    NotFound {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
    /// Its auth is another type.
    #[error("Integration {namespace}/{name} does not use auth.type OAuth2AuthorizationCode")]
    NotAuthorizationCode {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
    /// The callback URL cannot be built.
    #[error(
        "--external-url is not set: the provider must redirect the browser to an absolute callback URL"
    )]
    NoExternalUrl,
    /// The store failed.
    #[error("the authorization could not be kept")]
    Store(#[source] StoreError),
}

/// A started authorization.
#[derive(Debug, Clone)]
pub struct Started {
    /// The URL a person opens to approve.
    pub authorize_url: url::Url,
    /// Until when it can be completed.
    pub expires_at: DateTime<Utc>,
}

/// What the provider's redirect carried.
#[derive(Debug, Default, Clone)]
pub struct Callback {
    /// `state`.
    pub state: Option<String>,
    /// `code`.
    pub code: Option<String>,
    /// `error` (the person denied, or the provider refused).
    pub error: Option<String>,
    /// `realmId` (QuickBooks names the company in the redirect).
    pub realm_id: Option<String>,
}

/// Why a callback connected nothing.
#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    /// No state in the redirect.
    #[error("the redirect carries no state")]
    NoState,
    /// The state is unknown, used or expired.
    #[error(transparent)]
    State(#[from] PendingError),
    /// The provider redirected with an error.
    #[error("the provider did not authorize the connection: {0}")]
    Denied(String),
    /// No code in the redirect.
    #[error("the redirect carries no authorization code")]
    NoCode,
    /// The Integration stopped running or changed its auth type meanwhile.
    #[error(transparent)]
    Integration(StartError),
    /// The code exchange or keeping the tokens failed.
    #[error("Integration {namespace}/{name} was not connected")]
    Connect {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// Why.
        #[source]
        source: ConnectionError,
    },
}

/// A completed connection.
#[derive(Debug, Clone)]
pub struct Completed {
    /// The Integration's namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// The account the provider named.
    pub account: Option<String>,
}

impl Engine {
    /// The connection of the running Integration `namespace`/`name`.
    pub fn connection(&self, namespace: &str, name: &str) -> Result<Arc<Connection>, StartError> {
        let piece = self
            .topology()
            .integration(namespace, name)
            .ok_or_else(|| StartError::NotFound {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
            })?;
        piece
            .client
            .authenticator()
            .connection()
            .cloned()
            .ok_or_else(|| StartError::NotAuthorizationCode {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
            })
    }

    /// The callback URL, from `--external-url`.
    pub fn callback_url(&self) -> Option<String> {
        self.config()
            .receiver
            .external_url
            .as_deref()
            .map(|base| format!("{}{CALLBACK_PATH}", base.trim_end_matches('/')))
    }

    /// Starts connecting Integration `namespace`/`name`: a single-use state valid ten minutes
    /// and the provider's authorize URL carrying it and the PKCE challenge.
    pub async fn start_connection(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Started, StartError> {
        let connection = self.connection(namespace, name)?;
        let redirect = self.callback_url().ok_or(StartError::NoExternalUrl)?;
        let started = pending::start(self.store(), namespace, name, &redirect, Utc::now())
            .await
            .map_err(StartError::Store)?;
        tracing::info!(integration = %format!("{namespace}/{name}"), "authorization started");
        Ok(Started {
            authorize_url: connection.config().authorize_link(
                &redirect,
                &started.state,
                &started.challenge,
            ),
            expires_at: started.expires_at,
        })
    }

    /// Completes a connection from the provider's redirect. The state is taken (used up)
    /// first, whatever follows; nothing else changes unless the code is exchanged.
    pub async fn complete_connection(
        &self,
        callback: Callback,
    ) -> Result<Completed, CallbackError> {
        let state = callback.state.as_deref().ok_or(CallbackError::NoState)?;
        let pending = pending::take(self.store(), state, Utc::now()).await?;
        if let Some(error) = callback.error {
            return Err(CallbackError::Denied(error.chars().take(100).collect()));
        }
        let code = callback
            .code
            .filter(|c| !c.is_empty())
            .ok_or(CallbackError::NoCode)?;
        let connection = self
            .connection(&pending.namespace, &pending.integration)
            .map_err(CallbackError::Integration)?;
        let (namespace, name) = (pending.namespace.clone(), pending.integration.clone());
        connection
            .complete(&pending, &code, callback.realm_id)
            .await
            .map_err(|source| CallbackError::Connect {
                namespace: namespace.clone(),
                name: name.clone(),
                source,
            })?;
        tracing::info!(integration = %format!("{namespace}/{name}"), "account connected");
        Ok(Completed {
            account: connection.view().account,
            namespace,
            name,
        })
    }
}
