//! What is kept of a connection between processes: the tokens, when the access token expires,
//! what was granted and to whom, and whether a person must connect again. Debug never shows a
//! token.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A connection's tokens and facts, as the vault keeps them.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct StoredConnection {
    /// The current access token (none once the provider refused the refresh token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    /// The current refresh token, if the provider issued one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// When the access token expires (unknown: it does not, as far as the provider said).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// Scopes granted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// The account or subject the provider named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// When a person connected it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connected_at: Option<DateTime<Utc>>,
    /// When the tokens were last refreshed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_refresh: Option<DateTime<Utc>>,
    /// Why a person must connect again, once the provider refused the refresh token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reauthorize: Option<String>,
}

impl std::fmt::Debug for StoredConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = |v: &Option<String>| if v.is_some() { "<redacted>" } else { "-" };
        f.debug_struct("StoredConnection")
            .field("access_token", &shown(&self.access_token))
            .field("refresh_token", &shown(&self.refresh_token))
            .field("expires_at", &self.expires_at)
            .field("scopes", &self.scopes)
            .field("account", &self.account)
            .field("reauthorize", &self.reauthorize)
            .finish_non_exhaustive()
    }
}

impl StoredConnection {
    /// True when the access token expires within `margin` of `now`.
    pub fn expires_within(&self, now: DateTime<Utc>, margin: chrono::Duration) -> bool {
        self.expires_at.is_some_and(|at| at - margin <= now)
    }

    /// The same connection after a token response: the new access token, the rotated refresh
    /// token (or the one held, when the provider did not send one), the new expiry and scopes.
    pub fn refreshed(&self, grant: Grant, now: DateTime<Utc>) -> Self {
        Self {
            access_token: Some(grant.access_token),
            refresh_token: grant.refresh_token.or_else(|| self.refresh_token.clone()),
            expires_at: grant.expires_at,
            scopes: if grant.scopes.is_empty() {
                self.scopes.clone()
            } else {
                grant.scopes
            },
            account: grant.account.or_else(|| self.account.clone()),
            connected_at: self.connected_at,
            last_refresh: Some(now),
            reauthorize: None,
        }
    }
}

/// What a token endpoint granted.
#[derive(Clone, PartialEq, Eq)]
pub struct Grant {
    /// The access token.
    pub access_token: String,
    /// A (new) refresh token.
    pub refresh_token: Option<String>,
    /// When the access token expires.
    pub expires_at: Option<DateTime<Utc>>,
    /// Scopes granted (empty: as requested).
    pub scopes: Vec<String>,
    /// The account the answer names.
    pub account: Option<String>,
}

impl std::fmt::Debug for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grant")
            .field("expires_at", &self.expires_at)
            .field("scopes", &self.scopes)
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

/// Reads a token response (RFC 6749 5.1): `access_token`, `refresh_token`, `expires_in`
/// (number or string), `scope` (space or comma separated), and the account where providers
/// name one: Slack's `team.name`, Salesforce's identity URL `id`, HubSpot's `hub_id`,
/// QuickBooks' `realmId`.
pub fn read_grant(body: &serde_json::Value, now: DateTime<Utc>, separator: &str) -> Option<Grant> {
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let access_token = body.get("access_token").and_then(text)?;
    let expires_at = body
        .get("expires_in")
        .and_then(|v| v.as_i64().or_else(|| v.as_str()?.trim().parse().ok()))
        .filter(|s| *s > 0)
        .map(|s| now + chrono::Duration::seconds(s.min(10 * 365 * 86_400)));
    let scopes = body
        .get("scope")
        .and_then(|s| s.as_str())
        .map(|s| {
            s.split(|c: char| c == ' ' || separator.contains(c) || c == ',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let account = body
        .pointer("/team/name")
        .and_then(text)
        .or_else(|| body.get("realmId").and_then(text))
        .or_else(|| body.get("hub_id").and_then(text))
        .or_else(|| body.get("id").and_then(text));
    Some(Grant {
        access_token,
        refresh_token: body.get("refresh_token").and_then(text),
        expires_at,
        scopes,
        account,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refresh_keeps_the_old_refresh_token_only_when_none_is_sent() {
        let now = Utc::now();
        let first = read_grant(
            &serde_json::json!({"access_token": "a1", "refresh_token": "r1",
                "expires_in": "60", "scope": "read write", "team": {"name": "Acme"}}),
            now,
            " ",
        )
        .unwrap();
        assert_eq!(first.scopes, ["read", "write"]);
        assert_eq!(first.account.as_deref(), Some("Acme"));
        let held = StoredConnection::default().refreshed(first, now);
        assert!(held.expires_within(now, chrono::Duration::seconds(61)));
        assert!(!held.expires_within(now, chrono::Duration::seconds(30)));
        let rotated = held.refreshed(
            read_grant(
                &serde_json::json!({"access_token": "a2", "refresh_token": "r2"}),
                now,
                " ",
            )
            .unwrap(),
            now,
        );
        assert_eq!(rotated.refresh_token.as_deref(), Some("r2"));
        assert_eq!(
            rotated.scopes,
            ["read", "write"],
            "scopes kept when not repeated"
        );
        let kept = rotated.refreshed(
            read_grant(&serde_json::json!({"access_token": "a3"}), now, " ").unwrap(),
            now,
        );
        assert_eq!(kept.refresh_token.as_deref(), Some("r2"));
        assert!(!format!("{kept:?}").contains("a3"));
        assert!(read_grant(&serde_json::json!({"error": "x"}), now, " ").is_none());
    }
}
