//! Attaching credentials to a request: an API key in a header or the query, Basic, Bearer,
//! an OAuth2 client-credentials token, or the access token of an authorization-code
//! connection. Shared by an Integration's calls and the
//! deliveries of subscriptions that use its auth.

use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::api::{Auth, AuthType};
use crate::delivery::credentials::{CredentialError, CredentialSource};
use crate::error_chain::render;

use super::authcode::Connection;
use super::credentials::Credentials;
use super::error::{ApplyError, BuildError};
use super::oauth2::TokenSource;

/// How requests are authenticated; Debug never shows a credential.
pub enum Authenticator {
    /// No credentials.
    None,
    /// A fixed header (API key, Basic, Bearer).
    Header(HeaderName, HeaderValue),
    /// An API key in a query parameter.
    Query(String, String),
    /// An OAuth2 client-credentials token as a bearer token.
    OAuth2(TokenSource),
    /// The access token of an authorization-code connection as a bearer token.
    AuthCode(Arc<Connection>),
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::Header(name, _) => write!(f, "Header({name}: <redacted>)"),
            Self::Query(name, _) => write!(f, "Query({name}=<redacted>)"),
            Self::OAuth2(source) => write!(f, "OAuth2({source:?})"),
            Self::AuthCode(connection) => write!(f, "AuthCode({connection:?})"),
        }
    }
}

/// The credential a request was sent with, to invalidate it when the API rejects it.
#[derive(Debug, Default)]
pub struct Applied {
    /// The OAuth2 token used, if any.
    pub token: Option<Arc<str>>,
}

fn sensitive(value: &str) -> Result<HeaderValue, BuildError> {
    let mut v = HeaderValue::from_str(value).map_err(|_| BuildError::Invalid {
        field: "spec.auth",
        message: "the credential is not a valid HTTP header value".into(),
    })?;
    v.set_sensitive(true);
    Ok(v)
}

impl Authenticator {
    /// Builds the authenticator of `auth` from the Secret's values; OAuth2 tokens are fetched
    /// with `http`.
    pub fn build(
        auth: Option<&Auth>,
        creds: &Credentials,
        http: reqwest::Client,
    ) -> Result<Self, BuildError> {
        let Some(auth) = auth else {
            return Ok(Self::None);
        };
        let need = |v: &Option<String>, key: &'static str| {
            v.clone()
                .filter(|s| !s.is_empty())
                .ok_or(BuildError::MissingCredential(key))
        };
        Ok(match auth.auth_type {
            AuthType::None => Self::None,
            AuthType::ApiKey => {
                let key = need(&creds.api_key, "apiKey")?;
                match &auth.query_param {
                    Some(param) => Self::Query(param.clone(), key),
                    None => {
                        let name = auth.header.as_deref().unwrap_or("X-API-Key");
                        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                            BuildError::Invalid {
                                field: "spec.auth.header",
                                message: format!("{name:?} is not a valid header name"),
                            }
                        })?;
                        Self::Header(name, sensitive(&key)?)
                    }
                }
            }
            AuthType::Basic => {
                let pair = format!(
                    "{}:{}",
                    need(&creds.username, "username")?,
                    need(&creds.password, "password")?
                );
                let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
                Self::Header(
                    http::header::AUTHORIZATION,
                    sensitive(&format!("Basic {encoded}"))?,
                )
            }
            AuthType::Bearer => Self::Header(
                http::header::AUTHORIZATION,
                sensitive(&format!("Bearer {}", need(&creds.token, "token")?))?,
            ),
            AuthType::OAuth2ClientCredentials => {
                let url = auth
                    .token_url
                    .as_ref()
                    .ok_or(BuildError::Invalid {
                        field: "spec.auth.tokenUrl",
                        message: "required for OAuth2ClientCredentials".into(),
                    })?
                    .parse()
                    .map_err(|message| BuildError::Invalid {
                        field: "spec.auth.tokenUrl",
                        message,
                    })?;
                Self::OAuth2(TokenSource::new(
                    url,
                    need(&creds.client_id, "clientId")?,
                    need(&creds.client_secret, "clientSecret")?,
                    auth.scopes.clone(),
                    http,
                ))
            }
            AuthType::OAuth2AuthorizationCode => {
                return Err(BuildError::Invalid {
                    field: "spec.auth.type",
                    message: "OAuth2AuthorizationCode is available on Integrations only (a subscription can use an Integration's auth)".into(),
                });
            }
        })
    }

    /// Refuses a token endpoint whose literal address `policy` does not permit.
    pub fn check_destination(
        &self,
        policy: &crate::delivery::DestinationPolicy,
    ) -> Result<(), BuildError> {
        match self {
            Self::OAuth2(source) => {
                policy
                    .check_literal(source.token_url())
                    .map_err(|e| BuildError::Invalid {
                        field: "spec.auth.tokenUrl",
                        message: render(&e),
                    })
            }
            _ => Ok(()),
        }
    }

    /// True for OAuth2, whose rejected tokens are refetched once.
    pub fn refreshes(&self) -> bool {
        matches!(self, Self::OAuth2(_) | Self::AuthCode(_))
    }

    /// The authorization-code connection, if that is the auth.
    pub fn connection(&self) -> Option<&Arc<Connection>> {
        match self {
            Self::AuthCode(connection) => Some(connection),
            _ => None,
        }
    }

    /// The token source, for OAuth2.
    pub fn token_source(&self) -> Option<&TokenSource> {
        match self {
            Self::OAuth2(source) => Some(source),
            _ => None,
        }
    }

    /// Adds the credentials to a request's headers or URL.
    pub async fn apply(
        &self,
        headers: &mut HeaderMap,
        url: &mut url::Url,
    ) -> Result<Applied, ApplyError> {
        match self {
            Self::None => {}
            Self::Header(name, value) => {
                headers.insert(name.clone(), value.clone());
            }
            Self::Query(name, value) => {
                url.query_pairs_mut().append_pair(name, value);
            }
            Self::OAuth2(source) => {
                let token = source.token().await?;
                let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
                    .unwrap_or_else(|_| HeaderValue::from_static(""));
                value.set_sensitive(true);
                headers.insert(http::header::AUTHORIZATION, value);
                return Ok(Applied { token: Some(token) });
            }
            Self::AuthCode(connection) => {
                let token = connection.access_token().await?;
                let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
                    .unwrap_or_else(|_| HeaderValue::from_static(""));
                value.set_sensitive(true);
                headers.insert(http::header::AUTHORIZATION, value);
                return Ok(Applied { token: Some(token) });
            }
        }
        Ok(Applied::default())
    }

    /// The API answered 401 to a request sent with `applied`: drop its token.
    pub async fn rejected(&self, applied: &Applied) {
        match (self, &applied.token) {
            (Self::OAuth2(source), Some(token)) => source.invalidate(token).await,
            (Self::AuthCode(connection), Some(token)) => connection.rejected(token).await,
            _ => {}
        }
    }
}

/// Deliveries use an Integration's (or their own) authenticator for each attempt.
#[async_trait]
impl CredentialSource for Authenticator {
    async fn authorize(
        &self,
        headers: &mut HeaderMap,
        url: &mut url::Url,
    ) -> Result<(), CredentialError> {
        self.apply(headers, url)
            .await
            .map(|_| ())
            .map_err(|e| CredentialError(Box::new(e)))
    }

    async fn rejected(&self) {
        match self {
            Self::OAuth2(source) => source.clear().await,
            // The connection refreshes only the token it handed out last, once.
            Self::AuthCode(connection) => {
                if let Ok(token) = connection.access_token().await {
                    connection.rejected(&token).await;
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::SecretKeyRef;

    fn auth(t: AuthType) -> Auth {
        Auth {
            auth_type: t,
            secret_ref: Some(SecretKeyRef {
                name: "s".into(),
                key: None,
            }),
            ..Auth::default()
        }
    }

    #[tokio::test]
    async fn api_keys_go_in_a_header_or_the_query_and_are_redacted() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let creds = Credentials {
            api_key: Some("k-123".into()),
            ..Credentials::default()
        };
        let client = reqwest::Client::new();
        let header =
            Authenticator::build(Some(&auth(AuthType::ApiKey)), &creds, client.clone()).unwrap();
        let mut headers = HeaderMap::new();
        let mut url = url::Url::parse("https://api.example.com/x").unwrap();
        header.apply(&mut headers, &mut url).await.unwrap();
        assert_eq!(headers["x-api-key"], "k-123");
        assert!(!format!("{header:?}").contains("k-123"));

        let mut q = auth(AuthType::ApiKey);
        q.query_param = Some("api_key".into());
        let query = Authenticator::build(Some(&q), &creds, client.clone()).unwrap();
        let mut headers = HeaderMap::new();
        query.apply(&mut headers, &mut url).await.unwrap();
        assert_eq!(url.query(), Some("api_key=k-123"));
        assert!(headers.is_empty());

        let missing = Authenticator::build(
            Some(&auth(AuthType::Basic)),
            &Credentials::default(),
            client,
        );
        assert!(matches!(
            missing,
            Err(BuildError::MissingCredential("username"))
        ));
    }
}
