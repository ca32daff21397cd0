//! Errors of the integration clients: building one from a spec, and making a call.

use std::time::Duration;

use super::authcode::ConnectionError;
use super::authcode::config::ConfigError;
use super::oauth2::TokenError;

/// An Integration whose client cannot be built from its spec.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Neither the integration nor its provider names a base URL.
    #[error("spec.baseUrl is required: neither the integration nor its provider has one")]
    NoBaseUrl,
    /// A field has a value the client cannot use.
    #[error("{field}: {message}")]
    Invalid {
        /// The field ("spec.retry.initialDelay").
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// A credential the auth type needs is not in the Secret.
    #[error("spec.auth needs the Secret key {0:?}")]
    MissingCredential(&'static str),
    /// The HTTP client could not be built.
    #[error("building the HTTP client")]
    Client(#[source] reqwest::Error),
}

impl BuildError {
    /// CamelCase reason for the Ready condition.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NoBaseUrl => "MissingBaseURL",
            Self::Invalid { .. } => "InvalidSpec",
            Self::MissingCredential(_) => "SecretNotFound",
            Self::Client(_) => "ClientUnavailable",
        }
    }
}

/// A call through an Integration that did not produce a response.
#[derive(Debug, thiserror::Error)]
pub enum IntegrationError {
    /// The integration is suspended (spec.suspend).
    #[error("integration {integration} is suspended")]
    Suspended {
        /// "namespace/name".
        integration: String,
    },
    /// The circuit breaker is open: the call was not made.
    #[error(
        "the circuit breaker of integration {integration} is open; calls resume in {retry_in:?}"
    )]
    CircuitOpen {
        /// "namespace/name".
        integration: String,
        /// When the next probe may go.
        retry_in: Duration,
    },
    /// The request's path or URL is not under the integration's base URL.
    #[error("invalid request to integration {integration}: {message}")]
    InvalidRequest {
        /// "namespace/name".
        integration: String,
        /// What is wrong (never a query value).
        message: String,
    },
    /// No OAuth2 token could be obtained.
    #[error("integration {integration}")]
    Token {
        /// "namespace/name".
        integration: String,
        /// Why.
        #[source]
        source: ApplyError,
    },
    /// The call timed out.
    #[error("{method} {path} on integration {integration} timed out after {timeout:?}")]
    Timeout {
        /// "namespace/name".
        integration: String,
        /// Method.
        method: http::Method,
        /// Path (without query).
        path: String,
        /// The timeout.
        timeout: Duration,
    },
    /// The connection failed or the response could not be read.
    #[error("{method} {path} on integration {integration}")]
    Transport {
        /// "namespace/name".
        integration: String,
        /// Method.
        method: http::Method,
        /// Path (without query).
        path: String,
        /// The HTTP client's error, without its URL (which may carry an API key).
        #[source]
        source: reqwest::Error,
    },
    /// The response is larger than the client reads.
    #[error(
        "{method} {path} on integration {integration}: the response is larger than {limit} bytes"
    )]
    TooLarge {
        /// "namespace/name".
        integration: String,
        /// Method.
        method: http::Method,
        /// Path (without query).
        path: String,
        /// The limit in bytes.
        limit: usize,
    },
}

impl IntegrationError {
    /// A short stable code for logs, metrics and API answers.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Suspended { .. } => "suspended",
            Self::CircuitOpen { .. } => "circuit_open",
            Self::InvalidRequest { .. } => "invalid_request",
            Self::Token { .. } => "token_unavailable",
            Self::Timeout { .. } => "timeout",
            Self::Transport { .. } => "transport",
            Self::TooLarge { .. } => "response_too_large",
        }
    }
}

/// Why a request could not be given its credentials.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// No client-credentials token.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// No access token of the connection.
    #[error(transparent)]
    Connection(Box<ConnectionError>),
}

impl From<ConnectionError> for ApplyError {
    fn from(e: ConnectionError) -> Self {
        Self::Connection(Box::new(e))
    }
}

impl ApplyError {
    /// True when no account is connected (yet, or any more): a person must act, not the API.
    pub fn needs_a_person(&self) -> bool {
        matches!(self, Self::Connection(e) if matches!(**e,
            ConnectionError::NotConnected { .. } | ConnectionError::NeedsReauthorization { .. }))
    }
}

impl From<ConfigError> for BuildError {
    fn from(e: ConfigError) -> Self {
        match e {
            ConfigError::Invalid { field, message } => Self::Invalid { field, message },
            ConfigError::MissingCredential(key) => Self::MissingCredential(key),
        }
    }
}
