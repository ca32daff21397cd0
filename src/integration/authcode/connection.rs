//! One Integration's authorization-code connection at run time: the tokens read from the
//! vault, an access token handed to each call (refreshed first when it is about to expire),
//! a refresh after the API rejected one, and the view the status shows. One refresh at a time
//! in this process (a mutex), and across processes sharing the vault (a claim in the vault:
//! a process that did not get it reads the vault again until the other's tokens are there,
//! instead of refreshing); before each refresh the vault is read again, so a token another
//! process refreshed (and the refresh token it rotated) is used instead of refreshed twice.
//! A refreshed connection is saved to the vault before its access token is handed out.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::api::ConnectionState;
use crate::error_chain::render;

use super::config::AuthCodeConfig;
use super::endpoint::{self, GrantError};
use super::pending::Pending;
use super::stored::StoredConnection;
use super::vault::{TokenVault, VaultError};

/// Refreshed at least this often, so providers do not revoke unused refresh tokens.
pub const IDLE_REFRESH: Duration = Duration::from_secs(24 * 3600);
/// Longest margin before expiry at which an access token is refreshed.
const MAX_MARGIN: Duration = Duration::from_secs(300);
/// How long a claim to refresh holds ([`TokenVault::claim_refresh`]): longer than a refresh
/// takes; a process that died holding it delays the others by at most this.
const CLAIM_TTL: Duration = Duration::from_secs(30);
/// How often a process waiting for another's refresh reads the vault again.
const CLAIM_POLL: Duration = Duration::from_millis(250);

/// Why no access token can be had.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    /// Nobody connected an account yet.
    #[error(
        "no account is connected to Integration {namespace}/{name}: run `switchboard connect intg/{name} -n {namespace}` and approve in a browser"
    )]
    NotConnected {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
    /// The provider refused the refresh token.
    #[error("Integration {namespace}/{name} must be connected again: {reason}")]
    NeedsReauthorization {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// What the provider said.
        reason: String,
    },
    /// The refresh failed and will be retried.
    #[error("refreshing the access token of Integration {namespace}/{name} failed")]
    Refresh {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// The failure.
        #[source]
        source: GrantError,
    },
    /// The vault failed.
    #[error("the tokens of Integration {namespace}/{name} could not be kept")]
    Vault {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// The failure.
        #[source]
        source: VaultError,
    },
    /// The code exchange at the callback failed.
    #[error("the provider did not exchange the authorization code")]
    Exchange(#[source] GrantError),
}

/// What the status shows of a connection; never a token.
#[derive(Clone, Debug, PartialEq)]
pub struct ConnectionView {
    /// False until the vault was read once.
    pub loaded: bool,
    /// NotConnected, Connected or NeedsReauthorization.
    pub state: ConnectionState,
    /// The account the provider named.
    pub account: Option<String>,
    /// Scopes granted.
    pub scopes: Vec<String>,
    /// When the access token expires.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was connected.
    pub connected_at: Option<DateTime<Utc>>,
    /// When it was last refreshed.
    pub last_refresh: Option<DateTime<Utc>>,
    /// Why a person must connect again.
    pub reauthorize: Option<String>,
    /// The last refresh failure that will be retried, with the failures in a row.
    pub failing: Option<(String, u32)>,
    /// When the next refresh is due (expiry margin or the daily refresh).
    pub next_refresh: Option<DateTime<Utc>>,
}

impl Default for ConnectionView {
    fn default() -> Self {
        Self {
            loaded: false,
            state: ConnectionState::NotConnected,
            account: None,
            scopes: Vec::new(),
            expires_at: None,
            connected_at: None,
            last_refresh: None,
            reauthorize: None,
            failing: None,
            next_refresh: None,
        }
    }
}

#[derive(Default)]
struct Held {
    loaded: bool,
    stored: Option<StoredConnection>,
    /// Refreshed tokens the vault has not taken yet: saved before anything else.
    unsaved: bool,
    failing: Option<(String, u32)>,
}

/// Why a refresh is attempted.
#[derive(Clone, Copy)]
enum Why<'a> {
    /// The access token is about to expire.
    Expiring,
    /// The API rejected this access token.
    Rejected(&'a str),
    /// The refresh is due (margin or daily).
    Due,
}

/// How long before expiry a token is refreshed: a fifth of its lifetime, at most 5 minutes.
fn margin(stored: &StoredConnection) -> chrono::Duration {
    let issued = stored.last_refresh.or(stored.connected_at);
    let lifetime = match (issued, stored.expires_at) {
        (Some(i), Some(e)) => (e - i).to_std().unwrap_or_default(),
        _ => MAX_MARGIN * 5,
    };
    chrono::Duration::from_std((lifetime / 5).min(MAX_MARGIN)).unwrap_or_default()
}

/// When `stored` next needs a refresh: ahead of expiry, and at least daily.
fn next_due(stored: &StoredConnection) -> Option<DateTime<Utc>> {
    if stored.reauthorize.is_some() || stored.refresh_token.is_none() {
        return None;
    }
    let idle = stored
        .last_refresh
        .or(stored.connected_at)
        .map(|t| t + chrono::Duration::from_std(IDLE_REFRESH).unwrap_or_default());
    let expiring = stored.expires_at.map(|e| e - margin(stored));
    match (idle, expiring) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The authorization-code connection of one Integration.
pub struct Connection {
    namespace: String,
    name: String,
    config: AuthCodeConfig,
    vault: Arc<dyn TokenVault>,
    http: reqwest::Client,
    held: tokio::sync::Mutex<Held>,
    view: std::sync::Mutex<ConnectionView>,
    changed: tokio::sync::watch::Sender<u64>,
    refreshes: AtomicU64,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("integration", &format!("{}/{}", self.namespace, self.name))
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// The connection of Integration `namespace`/`name`, kept in `vault`, calling the
    /// provider with `http`.
    pub fn new(
        namespace: &str,
        name: &str,
        config: AuthCodeConfig,
        vault: Arc<dyn TokenVault>,
        http: reqwest::Client,
    ) -> Self {
        Self {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            config,
            vault,
            http,
            held: tokio::sync::Mutex::new(Held::default()),
            view: std::sync::Mutex::new(ConnectionView::default()),
            changed: tokio::sync::watch::channel(0).0,
            refreshes: AtomicU64::new(0),
        }
    }

    /// The resolved settings.
    pub fn config(&self) -> &AuthCodeConfig {
        &self.config
    }

    /// Refreshes attempted by this process.
    pub fn refreshes(&self) -> u64 {
        self.refreshes.load(Ordering::Relaxed)
    }

    /// What the status shows.
    pub fn view(&self) -> ConnectionView {
        self.view.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Changes whenever the view does.
    pub fn watch(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changed.subscribe()
    }

    fn vault_error(&self, source: VaultError) -> ConnectionError {
        ConnectionError::Vault {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            source,
        }
    }

    fn publish(&self, held: &Held) {
        let s = held.stored.clone().unwrap_or_default();
        let state = match &held.stored {
            None => ConnectionState::NotConnected,
            Some(s) if s.reauthorize.is_some() => ConnectionState::NeedsReauthorization,
            Some(s) if s.access_token.is_none() => ConnectionState::NotConnected,
            Some(_) => ConnectionState::Connected,
        };
        let view = ConnectionView {
            loaded: held.loaded,
            state,
            next_refresh: held.stored.as_ref().and_then(next_due),
            account: s.account,
            scopes: s.scopes,
            expires_at: s.expires_at,
            connected_at: s.connected_at,
            last_refresh: s.last_refresh,
            reauthorize: s.reauthorize,
            failing: held.failing.clone(),
        };
        let mut current = self.view.lock().unwrap_or_else(|e| e.into_inner());
        if *current != view {
            *current = view;
            drop(current);
            self.changed.send_modify(|v| *v += 1);
        }
    }

    /// Reads the vault (first time, or to see what another process wrote), after saving
    /// tokens it has not taken yet.
    async fn sync_vault(&self, held: &mut Held) -> Result<(), ConnectionError> {
        if held.unsaved
            && let Some(s) = &held.stored
        {
            self.vault
                .save(&self.namespace, &self.name, s)
                .await
                .map_err(|e| self.vault_error(e))?;
            held.unsaved = false;
        }
        held.stored = self
            .vault
            .load(&self.namespace, &self.name)
            .await
            .map_err(|e| self.vault_error(e))?;
        held.loaded = true;
        self.publish(held);
        Ok(())
    }

    /// Reads the vault now (at start, and when told another process changed it).
    pub async fn reload(&self) -> Result<(), ConnectionError> {
        let mut held = self.held.lock().await;
        self.sync_vault(&mut held).await
    }

    fn usable<'a>(&self, held: &'a Held) -> Result<&'a StoredConnection, ConnectionError> {
        let not_connected = || ConnectionError::NotConnected {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        };
        let s = held.stored.as_ref().ok_or_else(not_connected)?;
        if let Some(reason) = &s.reauthorize {
            return Err(ConnectionError::NeedsReauthorization {
                namespace: self.namespace.clone(),
                name: self.name.clone(),
                reason: reason.clone(),
            });
        }
        if s.access_token.is_none() {
            return Err(not_connected());
        }
        Ok(s)
    }

    /// The current access token, refreshed first when it is about to expire.
    pub async fn access_token(&self) -> Result<Arc<str>, ConnectionError> {
        let mut held = self.held.lock().await;
        if !held.loaded || held.unsaved {
            self.sync_vault(&mut held).await?;
        }
        let s = self.usable(&held)?;
        if s.expires_within(Utc::now(), margin(s)) && s.refresh_token.is_some() {
            self.refresh_locked(&mut held, Why::Expiring).await?;
        }
        let s = self.usable(&held)?;
        Ok(s.access_token.as_deref().unwrap_or_default().into())
    }

    /// The API answered 401 to `used`: refresh, unless another call did already.
    pub async fn rejected(&self, used: &str) {
        let mut held = self.held.lock().await;
        if let Err(e) = self.refresh_locked(&mut held, Why::Rejected(used)).await {
            tracing::warn!(integration = %format!("{}/{}", self.namespace, self.name),
                error = %render(&e), "refreshing a rejected access token failed");
        }
    }

    /// Refreshes if a refresh is due (the background task's call). `Ok(())` when nothing
    /// was due or the refresh succeeded.
    pub async fn refresh_if_due(&self) -> Result<(), ConnectionError> {
        let mut held = self.held.lock().await;
        self.refresh_locked(&mut held, Why::Due).await
    }

    async fn refresh_locked(&self, held: &mut Held, why: Why<'_>) -> Result<(), ConnectionError> {
        // Another process may have refreshed, and rotated the refresh token: read it first.
        self.sync_vault(held).await?;
        let now = Utc::now();
        let Some(s) = held.stored.clone() else {
            return Ok(());
        };
        if s.reauthorize.is_some() {
            return Ok(());
        }
        let needed = match why {
            Why::Expiring => s.access_token.is_none() || s.expires_within(now, margin(&s)),
            Why::Rejected(used) => s.access_token.as_deref() == Some(used),
            Why::Due => next_due(&s).is_some_and(|due| due <= now),
        };
        if !needed {
            return Ok(());
        }
        let Some(refresh_token) = s.refresh_token.clone() else {
            if matches!(why, Why::Rejected(_)) {
                return self
                    .needs_reauthorization(
                        held,
                        &s,
                        "the API rejected the access token and the provider issued no refresh token"
                            .into(),
                    )
                    .await;
            }
            return Ok(());
        };
        if !self.claim(held, &s).await? {
            return Ok(());
        }
        let result = self.refresh_claimed(held, &s, &refresh_token, now).await;
        if let Err(e) = self
            .vault
            .release_refresh(&self.namespace, &self.name)
            .await
        {
            tracing::warn!(integration = %format!("{}/{}", self.namespace, self.name),
                error = %render(&e), "releasing the claim to refresh failed; it expires by itself");
        }
        result
    }

    /// Waits for the right to refresh; false when another process refreshed meanwhile (its
    /// tokens are then held instead, and the right is not kept).
    async fn claim(&self, held: &mut Held, s: &StoredConnection) -> Result<bool, ConnectionError> {
        let deadline = tokio::time::Instant::now() + CLAIM_TTL + CLAIM_POLL * 8;
        loop {
            let claimed = self
                .vault
                .claim_refresh(&self.namespace, &self.name, CLAIM_TTL)
                .await
                .map_err(|e| self.vault_error(e))?;
            // Read again: another process may have refreshed between our last read and now.
            if self.adopt_if_refreshed(held, s).await? {
                if claimed
                    && let Err(e) = self
                        .vault
                        .release_refresh(&self.namespace, &self.name)
                        .await
                {
                    tracing::warn!(integration = %format!("{}/{}", self.namespace, self.name),
                        error = %render(&e), "releasing the claim to refresh failed; it expires by itself");
                }
                return Ok(false);
            }
            // A claim that outlived its TTL is a holder that froze: refresh anyway.
            if claimed || tokio::time::Instant::now() >= deadline {
                return Ok(true);
            }
            tokio::time::sleep(CLAIM_POLL).await;
        }
    }

    /// Holds the vault's tokens if another process refreshed `s` (true).
    async fn adopt_if_refreshed(
        &self,
        held: &mut Held,
        s: &StoredConnection,
    ) -> Result<bool, ConnectionError> {
        let latest = self
            .vault
            .load(&self.namespace, &self.name)
            .await
            .map_err(|e| self.vault_error(e))?;
        let Some(latest) = latest else {
            return Ok(false);
        };
        if latest.refresh_token == s.refresh_token
            && latest.access_token == s.access_token
            && latest.reauthorize.is_none()
        {
            return Ok(false);
        }
        held.stored = Some(latest);
        held.failing = None;
        self.publish(held);
        tracing::info!(integration = %format!("{}/{}", self.namespace, self.name),
            "another process refreshed the connection; using its tokens");
        Ok(true)
    }

    async fn refresh_claimed(
        &self,
        held: &mut Held,
        s: &StoredConnection,
        refresh_token: &str,
        now: DateTime<Utc>,
    ) -> Result<(), ConnectionError> {
        self.refreshes.fetch_add(1, Ordering::Relaxed);
        match endpoint::refresh(&self.http, &self.config, refresh_token).await {
            Ok(grant) => {
                let next = s.refreshed(grant, now);
                held.stored = Some(next.clone());
                held.failing = None;
                // Saved before the new access token is used: a rotated refresh token is the
                // only one that works from now on.
                held.unsaved = true;
                let saved = self.vault.save(&self.namespace, &self.name, &next).await;
                self.publish(held);
                saved.map_err(|e| self.vault_error(e))?;
                held.unsaved = false;
                tracing::info!(integration = %format!("{}/{}", self.namespace, self.name),
                    "access token refreshed");
                Ok(())
            }
            Err(e) if e.is_invalid_grant() => {
                // Another process may have rotated the refresh token in the meantime: its
                // tokens are good, ours was merely used up.
                if let Ok(Some(latest)) = self.vault.load(&self.namespace, &self.name).await
                    && latest.refresh_token.is_some()
                    && latest.refresh_token != s.refresh_token
                    && latest.reauthorize.is_none()
                {
                    held.stored = Some(latest);
                    held.failing = None;
                    self.publish(held);
                    return Ok(());
                }
                let reason = format!(
                    "{}; run `switchboard connect intg/{} -n {}` to authorize again",
                    render(&e),
                    self.name,
                    self.namespace
                );
                self.needs_reauthorization(held, s, reason).await
            }
            Err(source) => {
                let count = held.failing.as_ref().map_or(0, |(_, n)| *n) + 1;
                held.failing = Some((render(&source), count));
                self.publish(held);
                Err(ConnectionError::Refresh {
                    namespace: self.namespace.clone(),
                    name: self.name.clone(),
                    source,
                })
            }
        }
    }

    async fn needs_reauthorization(
        &self,
        held: &mut Held,
        s: &StoredConnection,
        reason: String,
    ) -> Result<(), ConnectionError> {
        tracing::warn!(integration = %format!("{}/{}", self.namespace, self.name),
            reason = %reason, "the connection needs to be authorized again");
        let dead = StoredConnection {
            access_token: None,
            refresh_token: None,
            reauthorize: Some(reason.clone()),
            ..s.clone()
        };
        held.stored = Some(dead.clone());
        held.failing = None;
        self.publish(held);
        self.vault
            .save(&self.namespace, &self.name, &dead)
            .await
            .map_err(|e| self.vault_error(e))?;
        Err(ConnectionError::NeedsReauthorization {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            reason,
        })
    }

    /// Completes an authorization: exchanges `code` with the verifier of `pending` and keeps
    /// the tokens, replacing any earlier connection.
    /// `account` names the account when the redirect did (QuickBooks' `realmId`).
    pub async fn complete(
        &self,
        pending: &Pending,
        code: &str,
        account: Option<String>,
    ) -> Result<(), ConnectionError> {
        let grant = endpoint::exchange(
            &self.http,
            &self.config,
            code,
            &pending.verifier,
            &pending.redirect_uri,
        )
        .await
        .map_err(ConnectionError::Exchange)?;
        let now = Utc::now();
        let stored = StoredConnection {
            connected_at: Some(now),
            last_refresh: None,
            ..StoredConnection::default().refreshed(grant, now)
        };
        let stored = StoredConnection {
            last_refresh: None,
            account: stored.account.or(account),
            ..stored
        };
        let mut held = self.held.lock().await;
        self.vault
            .save(&self.namespace, &self.name, &stored)
            .await
            .map_err(|e| self.vault_error(e))?;
        held.stored = Some(stored);
        held.loaded = true;
        held.unsaved = false;
        held.failing = None;
        self.publish(&held);
        Ok(())
    }

    /// Revokes the tokens where the provider has an RFC 7009 endpoint, then forgets them.
    pub async fn revoke(&self) -> Result<(), ConnectionError> {
        let mut held = self.held.lock().await;
        self.sync_vault(&mut held).await?;
        if let (Some(url), Some(s)) = (&self.config.revocation_url, &held.stored) {
            for (token, hint) in [
                (&s.refresh_token, "refresh_token"),
                (&s.access_token, "access_token"),
            ] {
                if let Some(token) = token
                    && let Err(e) =
                        endpoint::revoke(&self.http, &self.config, url, token, hint).await
                {
                    tracing::warn!(integration = %format!("{}/{}", self.namespace, self.name),
                        error = %render(&e), "revoking a token failed");
                }
            }
        }
        self.vault
            .remove(&self.namespace, &self.name)
            .await
            .map_err(|e| self.vault_error(e))?;
        held.stored = None;
        self.publish(&held);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refreshes_are_due_ahead_of_expiry_and_daily() {
        let now = Utc::now();
        let s = StoredConnection {
            access_token: Some("a".into()),
            refresh_token: Some("r".into()),
            connected_at: Some(now),
            expires_at: Some(now + chrono::Duration::seconds(3600)),
            ..StoredConnection::default()
        };
        assert_eq!(next_due(&s), Some(now + chrono::Duration::seconds(3300)));
        let short = StoredConnection {
            expires_at: Some(now + chrono::Duration::seconds(60)),
            ..s.clone()
        };
        assert_eq!(next_due(&short), Some(now + chrono::Duration::seconds(48)));
        let forever = StoredConnection {
            expires_at: None,
            ..s.clone()
        };
        assert_eq!(next_due(&forever), Some(now + chrono::Duration::hours(24)));
        let dead = StoredConnection {
            reauthorize: Some("x".into()),
            ..s
        };
        assert_eq!(next_due(&dead), None);
    }

    /// A token endpoint whose refresh tokens rotate (only the latest works); counts refreshes.
    /// A client of the token endpoint at `token_url`, with no revocation and no scopes.
    fn test_config(token_url: url::Url) -> AuthCodeConfig {
        AuthCodeConfig {
            authorize_url: "https://id.example.com/authorize".parse().unwrap(),
            token_url,
            revocation_url: None,
            scopes: Vec::new(),
            scope_separator: " ".into(),
            authorize_params: Default::default(),
            token_auth: crate::api::TokenAuthMethod::ClientSecretBasic,
            client_id: "c".into(),
            client_secret: "s".into(),
        }
    }

    async fn rotating_endpoint() -> (url::Url, Arc<AtomicU64>) {
        use axum::routing::post;
        let count = Arc::new(AtomicU64::new(0));
        let current = Arc::new(std::sync::Mutex::new("r0".to_owned()));
        let (c, cur) = (count.clone(), current.clone());
        let app = axum::Router::new().route(
            "/token",
            post(move |body: axum::body::Bytes| async move {
                let form: std::collections::HashMap<String, String> =
                    form_urlencoded::parse(&body).into_owned().collect();
                let mut live = cur.lock().unwrap();
                if form.get("refresh_token") != Some(&*live) {
                    return (
                        http::StatusCode::BAD_REQUEST,
                        axum::Json(serde_json::json!({"error": "invalid_grant"})),
                    );
                }
                let n = c.fetch_add(1, Ordering::SeqCst) + 1;
                *live = format!("r{n}");
                (
                    http::StatusCode::OK,
                    axum::Json(serde_json::json!({"access_token": format!("a{n}"),
                        "refresh_token": format!("r{n}"), "expires_in": 3600})),
                )
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/token", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (url.parse().unwrap(), count)
    }

    /// A vault whose refresh claim another process holds: it finishes its refresh (saves
    /// rotated tokens) on the third claim attempt.
    #[derive(Debug)]
    struct ClaimedElsewhere {
        inner: super::super::MemoryVault,
        attempts: std::sync::atomic::AtomicU32,
    }

    #[async_trait::async_trait]
    impl TokenVault for ClaimedElsewhere {
        async fn load(&self, ns: &str, name: &str) -> Result<Option<StoredConnection>, VaultError> {
            self.inner.load(ns, name).await
        }
        async fn save(&self, ns: &str, name: &str, c: &StoredConnection) -> Result<(), VaultError> {
            self.inner.save(ns, name, c).await
        }
        async fn remove(&self, ns: &str, name: &str) -> Result<bool, VaultError> {
            self.inner.remove(ns, name).await
        }
        async fn claim_refresh(
            &self,
            ns: &str,
            name: &str,
            _: Duration,
        ) -> Result<bool, VaultError> {
            if self.attempts.fetch_add(1, Ordering::SeqCst) == 2 {
                let mut other = self.inner.load(ns, name).await?.unwrap_or_default();
                other.access_token = Some("a-other".into());
                other.refresh_token = Some("r-other".into());
                self.inner.save(ns, name, &other).await?;
            }
            Ok(false)
        }
    }

    #[tokio::test]
    async fn a_process_without_the_claim_uses_the_other_processes_tokens_instead_of_refreshing() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let (token_url, refreshes) = rotating_endpoint().await;
        let config = test_config(token_url);
        let vault = Arc::new(ClaimedElsewhere {
            inner: super::super::MemoryVault::default(),
            attempts: Default::default(),
        });
        let now = Utc::now();
        let first = StoredConnection {
            access_token: Some("a0".into()),
            refresh_token: Some("r0".into()),
            connected_at: Some(now),
            expires_at: Some(now + chrono::Duration::seconds(3600)),
            ..StoredConnection::default()
        };
        vault.save("ns", "books", &first).await.unwrap();
        let c = Connection::new("ns", "books", config, vault.clone(), reqwest::Client::new());
        assert_eq!(&*c.access_token().await.unwrap(), "a0");
        c.rejected("a0").await;
        assert_eq!(
            refreshes.load(Ordering::SeqCst),
            0,
            "it never called the token endpoint"
        );
        assert_eq!(c.refreshes(), 0);
        assert_eq!(&*c.access_token().await.unwrap(), "a-other");
        assert!(vault.attempts.load(Ordering::SeqCst) >= 3);
    }

    #[tokio::test]
    async fn two_processes_sharing_a_vault_refresh_a_rejected_token_once() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let (token_url, refreshes) = rotating_endpoint().await;
        let config = test_config(token_url);
        let vault: Arc<dyn TokenVault> = Arc::new(super::super::MemoryVault::default());
        let now = Utc::now();
        let first = StoredConnection {
            access_token: Some("a0".into()),
            refresh_token: Some("r0".into()),
            connected_at: Some(now),
            expires_at: Some(now + chrono::Duration::seconds(3600)),
            ..StoredConnection::default()
        };
        vault.save("ns", "books", &first).await.unwrap();
        let process = || {
            Connection::new(
                "ns",
                "books",
                config.clone(),
                vault.clone(),
                reqwest::Client::new(),
            )
        };
        let (a, b) = (process(), process());
        assert_eq!(&*a.access_token().await.unwrap(), "a0");
        assert_eq!(&*b.access_token().await.unwrap(), "a0");
        // The API rejects a0 for both: one refresh, and both use its result.
        a.rejected("a0").await;
        b.rejected("a0").await;
        assert_eq!(refreshes.load(Ordering::SeqCst), 1);
        assert_eq!(&*a.access_token().await.unwrap(), "a1");
        assert_eq!(&*b.access_token().await.unwrap(), "a1");
        let kept = vault.load("ns", "books").await.unwrap().unwrap();
        assert_eq!(
            kept.refresh_token.as_deref(),
            Some("r1"),
            "the rotated token is kept"
        );
        assert_eq!(b.view().state, ConnectionState::Connected);
    }
}
