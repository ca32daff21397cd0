//! The resolved settings of an authorization-code connection: the Integration's `spec.auth`
//! over its provider's published `oauth2` endpoints, and the OAuth app's client id and secret.

use std::collections::BTreeMap;

use crate::api::{Auth, OAuth2Endpoints, TokenAuthMethod};

use super::super::credentials::Credentials;

/// Why the settings cannot be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A field has no usable value.
    #[error("{field}: {message}")]
    Invalid {
        /// The field ("spec.auth.tokenUrl").
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// A credential is not in the Secret.
    #[error("spec.auth needs the Secret key {0:?}")]
    MissingCredential(&'static str),
}

/// Everything a connection needs to talk to the provider; Debug never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthCodeConfig {
    /// Where a person approves the connection.
    pub authorize_url: url::Url,
    /// The token endpoint.
    pub token_url: url::Url,
    /// The RFC 7009 revocation endpoint, if any.
    pub revocation_url: Option<url::Url>,
    /// Scopes requested.
    pub scopes: Vec<String>,
    /// Separator of the `scope` parameter.
    pub scope_separator: String,
    /// Extra authorize parameters.
    pub authorize_params: BTreeMap<String, String>,
    /// How the client authenticates to the token endpoint.
    pub token_auth: TokenAuthMethod,
    /// The OAuth app's client id.
    pub client_id: String,
    /// The OAuth app's client secret.
    pub client_secret: String,
}

impl std::fmt::Debug for AuthCodeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthCodeConfig")
            .field("authorize_url", &self.authorize_url.as_str())
            .field("token_url", &self.token_url.as_str())
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

fn url(
    field: &'static str,
    own: Option<&crate::api::HttpUrl>,
    provider: Option<&crate::api::HttpUrl>,
) -> Result<Option<url::Url>, ConfigError> {
    own.or(provider)
        .map(|u| {
            u.parse()
                .map_err(|message| ConfigError::Invalid { field, message })
        })
        .transpose()
}

impl AuthCodeConfig {
    /// Resolves `auth` over the provider's endpoints, with the client from `creds`.
    pub fn resolve(
        auth: &Auth,
        provider: Option<&OAuth2Endpoints>,
        creds: &Credentials,
    ) -> Result<Self, ConfigError> {
        let p = provider.cloned().unwrap_or_default();
        let required = |field: &'static str, u: Option<url::Url>| {
            u.ok_or(ConfigError::Invalid {
                field,
                message: "required for OAuth2AuthorizationCode (or a provider that publishes it)"
                    .into(),
            })
        };
        let need = |v: &Option<String>, key: &'static str| {
            v.clone()
                .filter(|s| !s.is_empty())
                .ok_or(ConfigError::MissingCredential(key))
        };
        let mut authorize_params = p.authorize_params.clone();
        authorize_params.extend(auth.authorize_params.clone());
        Ok(Self {
            authorize_url: required(
                "spec.auth.authorizeUrl",
                url(
                    "spec.auth.authorizeUrl",
                    auth.authorize_url.as_ref(),
                    p.authorize_url.as_ref(),
                )?,
            )?,
            token_url: required(
                "spec.auth.tokenUrl",
                url(
                    "spec.auth.tokenUrl",
                    auth.token_url.as_ref(),
                    p.token_url.as_ref(),
                )?,
            )?,
            revocation_url: url(
                "spec.auth.revocationUrl",
                auth.revocation_url.as_ref(),
                p.revocation_url.as_ref(),
            )?,
            scopes: if auth.scopes.is_empty() {
                p.scopes.clone()
            } else {
                auth.scopes.clone()
            },
            scope_separator: auth
                .scope_separator
                .clone()
                .or(p.scope_separator.clone())
                .unwrap_or_else(|| " ".into()),
            authorize_params,
            token_auth: auth
                .token_auth_method
                .or(p.token_auth_method)
                .unwrap_or_default(),
            client_id: need(&creds.client_id, "clientId")?,
            client_secret: need(&creds.client_secret, "clientSecret")?,
        })
    }

    /// The URL a person opens to approve: response type `code`, the client, the callback,
    /// the scopes, the state and the PKCE S256 challenge, then the extra parameters (which
    /// cannot replace those).
    pub fn authorize_link(&self, redirect_uri: &str, state: &str, challenge: &str) -> url::Url {
        let mut link = self.authorize_url.clone();
        {
            let mut q = link.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", &self.client_id)
                .append_pair("redirect_uri", redirect_uri);
            if !self.scopes.is_empty() {
                q.append_pair("scope", &self.scopes.join(&self.scope_separator));
            }
            q.append_pair("state", state)
                .append_pair("code_challenge", challenge)
                .append_pair("code_challenge_method", "S256");
            for (k, v) in &self.authorize_params {
                if !RESERVED.contains(&k.as_str()) {
                    q.append_pair(k, v);
                }
            }
        }
        link
    }
}

/// Authorize parameters Switchboard sets itself.
const RESERVED: [&str; 7] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{AuthType, HttpUrl};

    #[test]
    fn the_integration_overrides_the_provider_and_reserved_parameters_stay_ours() {
        let provider = OAuth2Endpoints {
            authorize_url: Some(HttpUrl("https://id.example.com/authorize".into())),
            token_url: Some(HttpUrl("https://id.example.com/token".into())),
            scopes: vec!["a".into(), "b".into()],
            scope_separator: Some(",".into()),
            authorize_params: [("access_type".to_owned(), "offline".to_owned())].into(),
            ..OAuth2Endpoints::default()
        };
        let auth = Auth {
            auth_type: AuthType::OAuth2AuthorizationCode,
            token_url: Some(HttpUrl("https://other.example.com/token".into())),
            authorize_params: [
                ("prompt".to_owned(), "consent".to_owned()),
                ("state".to_owned(), "mine".to_owned()),
            ]
            .into(),
            ..Auth::default()
        };
        let creds = Credentials {
            client_id: Some("cid".into()),
            client_secret: Some("cs3cret".into()),
            ..Credentials::default()
        };
        let c = AuthCodeConfig::resolve(&auth, Some(&provider), &creds).unwrap();
        assert_eq!(c.token_url.as_str(), "https://other.example.com/token");
        assert!(!format!("{c:?}").contains("cs3cret"));
        let link = c.authorize_link("https://sb.example.com/oauth/callback", "st", "ch");
        let q: Vec<(String, String)> = link.query_pairs().into_owned().collect();
        let get = |k: &str| {
            q.iter()
                .filter(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
                .collect::<Vec<_>>()
        };
        assert_eq!(get("scope"), ["a,b"]);
        assert_eq!(
            get("state"),
            ["st"],
            "an extra parameter cannot replace the state"
        );
        assert_eq!(get("access_type"), ["offline"]);
        assert_eq!(get("prompt"), ["consent"]);
        assert_eq!(get("code_challenge_method"), ["S256"]);
        let missing = AuthCodeConfig::resolve(&auth, None, &creds);
        assert!(matches!(
            missing,
            Err(ConfigError::Invalid {
                field: "spec.auth.authorizeUrl",
                ..
            })
        ));
    }
}
