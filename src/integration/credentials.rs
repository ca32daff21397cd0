//! Credentials read from an Integration's Secret, under the conventional keys.

use std::fmt;

/// The credential values an auth type may use; Debug never shows them.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// `apiKey` (or `secretRef.key`).
    pub api_key: Option<String>,
    /// `token` (or `secretRef.key`).
    pub token: Option<String>,
    /// `username`.
    pub username: Option<String>,
    /// `password`.
    pub password: Option<String>,
    /// `clientId`.
    pub client_id: Option<String>,
    /// `clientSecret`.
    pub client_secret: Option<String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = |v: &Option<String>| if v.is_some() { "<redacted>" } else { "-" };
        f.debug_struct("Credentials")
            .field("api_key", &shown(&self.api_key))
            .field("token", &shown(&self.token))
            .field("username", &shown(&self.username))
            .field("password", &shown(&self.password))
            .field("client_id", &shown(&self.client_id))
            .field("client_secret", &shown(&self.client_secret))
            .finish()
    }
}

impl Credentials {
    /// Reads the values with `get(key)`; `single_key` overrides the key of single-value uses
    /// (`apiKey`, `token`). Values are trimmed; non-UTF-8 values are left out.
    pub fn read(single_key: Option<&str>, get: impl Fn(&str) -> Option<Vec<u8>>) -> Self {
        let text = |key: &str| {
            get(key)
                .and_then(|v| String::from_utf8(v).ok())
                .map(|s| s.trim().to_owned())
        };
        Self {
            api_key: text(single_key.unwrap_or("apiKey")),
            token: text(single_key.unwrap_or("token")),
            username: text("username"),
            password: text("password"),
            client_id: text("clientId"),
            client_secret: text("clientSecret"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_values() {
        let c = Credentials::read(None, |k| (k == "token").then(|| b" s3cr3t \n".to_vec()));
        assert_eq!(c.token.as_deref(), Some("s3cr3t"));
        assert!(!format!("{c:?}").contains("s3cr3t"));
        let custom = Credentials::read(Some("key"), |k| (k == "key").then(|| b"k".to_vec()));
        assert_eq!(custom.api_key.as_deref(), Some("k"));
        assert_eq!(custom.token.as_deref(), Some("k"));
    }
}
