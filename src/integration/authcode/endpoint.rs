//! Calls to the provider's token endpoint (code exchange, refresh; RFC 6749 4.1.3 and 6) and
//! revocation endpoint (RFC 7009), authenticated as the OAuth app. Errors name the OAuth
//! error code the provider answered, never a token.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use http::StatusCode;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};

use crate::api::TokenAuthMethod;

use super::config::AuthCodeConfig;
use super::stored::{Grant, read_grant};

/// Largest token endpoint answer read.
const MAX_ANSWER: usize = 64 * 1024;
/// Longest provider error description kept.
const MAX_DESCRIPTION: usize = 200;

/// Why the token endpoint gave no tokens.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    /// The endpoint could not be reached.
    #[error("the OAuth2 token endpoint could not be reached")]
    Transport(#[source] reqwest::Error),
    /// The endpoint refused with an OAuth error (`invalid_grant`: the code or refresh token
    /// is not valid any more).
    #[error("the OAuth2 token endpoint refused: {code}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Refused {
        /// The OAuth error code.
        code: String,
        /// The provider's description, shortened.
        description: Option<String>,
    },
    /// Any other unsuccessful answer.
    #[error("the OAuth2 token endpoint answered HTTP {status}")]
    Status {
        /// Its status.
        status: StatusCode,
    },
    /// The answer is not a token response.
    #[error("the OAuth2 token endpoint's answer is not a token response")]
    Body,
    /// The answer is too large.
    #[error("the OAuth2 token endpoint's answer is larger than {MAX_ANSWER} bytes")]
    TooLarge,
}

impl GrantError {
    /// True when the provider says the grant itself is dead (a person must connect again);
    /// Slack's names for it included.
    pub fn is_invalid_grant(&self) -> bool {
        matches!(self, Self::Refused { code, .. } if matches!(code.as_str(),
            "invalid_grant" | "invalid_refresh_token" | "invalid_code" | "token_revoked"
                | "token_expired" | "code_already_used"))
    }

    /// True when trying again later may work.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Transport(_) | Self::TooLarge | Self::Body => true,
            Self::Status { status } => {
                status.is_server_error() || *status == StatusCode::TOO_MANY_REQUESTS
            }
            Self::Refused { code, .. } => {
                matches!(code.as_str(), "temporarily_unavailable" | "server_error")
            }
        }
    }
}

fn shorten(s: &str) -> String {
    s.chars().take(MAX_DESCRIPTION).collect()
}

async fn read(mut response: reqwest::Response) -> Result<(StatusCode, Vec<u8>), GrantError> {
    let status = response.status();
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| GrantError::Transport(e.without_url()))?
    {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_ANSWER {
            return Err(GrantError::TooLarge);
        }
    }
    Ok((status, body))
}

/// Posts `params` to `url` authenticated as the client of `config`.
async fn post(
    http: &reqwest::Client,
    config: &AuthCodeConfig,
    url: &url::Url,
    params: &[(&str, &str)],
) -> Result<(StatusCode, Vec<u8>), GrantError> {
    let mut pairs: Vec<(&str, &str)> = params.to_vec();
    let mut request = http
        .post(url.clone())
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(ACCEPT, "application/json");
    match config.token_auth {
        TokenAuthMethod::ClientSecretBasic => {
            // RFC 6749 2.3.1: each part form-encoded before joining.
            let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let basic = base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                enc(&config.client_id),
                enc(&config.client_secret)
            ));
            let mut value = http::HeaderValue::from_str(&format!("Basic {basic}"))
                .unwrap_or_else(|_| http::HeaderValue::from_static(""));
            value.set_sensitive(true);
            request = request.header(AUTHORIZATION, value);
        }
        TokenAuthMethod::ClientSecretPost => {
            pairs.push(("client_id", &config.client_id));
            pairs.push(("client_secret", &config.client_secret));
        }
    }
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    let response = request
        .body(body)
        .send()
        .await
        .map_err(|e| GrantError::Transport(e.without_url()))?;
    read(response).await
}

/// A token request's answer: the grant, or the provider's OAuth error.
fn grant_of(
    status: StatusCode,
    body: &[u8],
    now: DateTime<Utc>,
    separator: &str,
) -> Result<Grant, GrantError> {
    let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    // Slack answers 200 with {"ok": false, "error": …}.
    let refused = json.as_ref().and_then(|j| {
        let code = j.get("error")?.as_str()?;
        let slack_failed = j.get("ok").and_then(|v| v.as_bool()) == Some(false);
        (!status.is_success() || slack_failed || j.get("access_token").is_none()).then(|| {
            GrantError::Refused {
                code: shorten(code),
                description: j
                    .get("error_description")
                    .and_then(|d| d.as_str())
                    .map(shorten),
            }
        })
    });
    if let Some(refused) = refused {
        return Err(refused);
    }
    if !status.is_success() {
        return Err(GrantError::Status { status });
    }
    json.and_then(|j| read_grant(&j, now, separator))
        .ok_or(GrantError::Body)
}

/// Exchanges an authorization code (with its PKCE verifier) for tokens.
pub async fn exchange(
    http: &reqwest::Client,
    config: &AuthCodeConfig,
    code: &str,
    verifier: &str,
    redirect_uri: &str,
) -> Result<Grant, GrantError> {
    let (status, body) = post(
        http,
        config,
        &config.token_url,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
        ],
    )
    .await?;
    grant_of(status, &body, Utc::now(), &config.scope_separator)
}

/// Refreshes: new access token and, where the provider rotates them, a new refresh token.
pub async fn refresh(
    http: &reqwest::Client,
    config: &AuthCodeConfig,
    refresh_token: &str,
) -> Result<Grant, GrantError> {
    let (status, body) = post(
        http,
        config,
        &config.token_url,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
    )
    .await?;
    grant_of(status, &body, Utc::now(), &config.scope_separator)
}

/// Revokes `token` (RFC 7009; 200 means revoked or already invalid).
pub async fn revoke(
    http: &reqwest::Client,
    config: &AuthCodeConfig,
    url: &url::Url,
    token: &str,
    hint: &str,
) -> Result<(), GrantError> {
    let (status, _) = post(
        http,
        config,
        url,
        &[("token", token), ("token_type_hint", hint)],
    )
    .await?;
    if status.is_success() {
        Ok(())
    } else {
        Err(GrantError::Status { status })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oauth_errors_are_read_from_either_shape() {
        let now = Utc::now();
        let e = grant_of(
            StatusCode::BAD_REQUEST,
            br#"{"error":"invalid_grant","error_description":"refresh token revoked"}"#,
            now,
            " ",
        )
        .unwrap_err();
        assert!(e.is_invalid_grant());
        assert_eq!(
            e.to_string(),
            "the OAuth2 token endpoint refused: invalid_grant (refresh token revoked)"
        );
        let slack = grant_of(
            StatusCode::OK,
            br#"{"ok":false,"error":"invalid_refresh_token"}"#,
            now,
            ",",
        )
        .unwrap_err();
        assert!(slack.is_invalid_grant());
        let busy = grant_of(StatusCode::SERVICE_UNAVAILABLE, b"down", now, " ").unwrap_err();
        assert!(busy.is_transient() && !busy.is_invalid_grant());
        let ok = grant_of(
            StatusCode::OK,
            br#"{"access_token":"a","expires_in":60}"#,
            now,
            " ",
        )
        .unwrap();
        assert!(ok.expires_at.is_some());
    }
}
