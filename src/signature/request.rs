//! What verification looks at: the request, the secrets, and what it found.

use std::fmt;

use http::HeaderMap;

use super::VerifyError;

/// An inbound request as verification sees it, before any parsing of the body.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// Request headers; lookups are case-insensitive.
    pub headers: &'a HeaderMap,
    /// The raw body bytes, exactly as received.
    pub body: &'a [u8],
    /// The full public URL the sender called, query string included (used by Twilio).
    pub url: &'a str,
    /// Current time in unix seconds, for timestamp tolerance.
    pub now: i64,
}

impl<'a> Request<'a> {
    /// The value of a header that must be present and visible ASCII; errors name the header
    /// in lower case, as HTTP/2 writes it.
    pub fn header(&self, name: &str) -> Result<&'a str, VerifyError> {
        let value = self
            .headers
            .get(name)
            .ok_or_else(|| VerifyError::MissingHeader(name.to_ascii_lowercase()))?;
        value
            .to_str()
            .map_err(|_| VerifyError::MalformedHeader(name.to_ascii_lowercase()))
    }

    /// The value of an optional header, if present and visible ASCII.
    pub fn optional_header(&self, name: &str) -> Option<&'a str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Secret values read from the resource's Secret, under the conventional keys.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secrets {
    /// Key `secret` (or secretRef.key): signing and verification secret.
    pub secret: Option<Vec<u8>>,
    /// Key `token`: bearer token.
    pub token: Option<Vec<u8>>,
    /// Key `username`: HTTP Basic user name.
    pub username: Option<Vec<u8>>,
    /// Key `password`: HTTP Basic password.
    pub password: Option<Vec<u8>>,
}

impl Secrets {
    /// Secrets holding only a signing/verification secret.
    pub fn with_secret(secret: impl Into<Vec<u8>>) -> Self {
        Self {
            secret: Some(secret.into()),
            ..Self::default()
        }
    }

    /// The `secret` value, or `MissingSecret` when absent or empty.
    pub fn secret(&self) -> Result<&[u8], VerifyError> {
        non_empty(&self.secret, "secret")
    }

    /// The `token` value, or `MissingSecret` when absent or empty.
    pub fn token(&self) -> Result<&[u8], VerifyError> {
        non_empty(&self.token, "token")
    }

    /// The `username` value, or `MissingSecret` when absent or empty.
    pub fn username(&self) -> Result<&[u8], VerifyError> {
        non_empty(&self.username, "username")
    }

    /// The `password` value, or `MissingSecret` when absent (an empty password is allowed).
    pub fn password(&self) -> Result<&[u8], VerifyError> {
        self.password
            .as_deref()
            .ok_or(VerifyError::MissingSecret("password"))
    }
}

fn non_empty<'a>(value: &'a Option<Vec<u8>>, key: &'static str) -> Result<&'a [u8], VerifyError> {
    match value.as_deref() {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(VerifyError::MissingSecret(key)),
    }
}

/// Shows which keys are set, never their values.
impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = |v: &Option<Vec<u8>>| if v.is_some() { "<redacted>" } else { "<unset>" };
        f.debug_struct("Secrets")
            .field("secret", &shown(&self.secret))
            .field("token", &shown(&self.token))
            .field("username", &shown(&self.username))
            .field("password", &shown(&self.password))
            .finish()
    }
}

/// What a successful verification found in the signed material.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verified {
    /// The signed message id (Standard Webhooks `webhook-id`), usable for deduplication.
    pub id: Option<String>,
    /// The signed timestamp in unix seconds, for timestamped schemes.
    pub timestamp: Option<i64>,
}
