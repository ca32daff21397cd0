//! PayPal's signing certificates, fetched for the PayPal scheme. A stranger names the URL in
//! `PAYPAL-CERT-URL`, so it is fetched only when it lies under an allowlisted URL prefix
//! (scheme, host, port and path: by default PayPal's live and sandbox certificate paths over
//! https), without following redirects, within a timeout and a size cap, one fetch at a time
//! per URL, and cached by URL (bounded, with expiry; failures too, briefly), so requests cannot
//! make us fetch arbitrary URLs or fetch the same one repeatedly.
//!
//! The chain must lead to one of the trust roots: the system's CA store by default (PayPal's
//! certificates are issued by a public CA, which PayPal's SDKs check too), or a PEM bundle
//! (`--paypal-trust-roots`), loaded once on first use.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use http::StatusCode;
use url::Url;

use crate::signature::paypal::{CertChain, TrustRoots};

/// Default URL prefixes certificates are fetched from: PayPal's live and sandbox APIs.
pub const DEFAULT_CERT_URLS: [&str; 4] = [
    "https://api.paypal.com/v1/notifications/certs/",
    "https://api-m.paypal.com/v1/notifications/certs/",
    "https://api.sandbox.paypal.com/v1/notifications/certs/",
    "https://api-m.sandbox.paypal.com/v1/notifications/certs/",
];

/// Largest certificate chain read, in bytes.
pub const MAX_CHAIN_BYTES: usize = 64 * 1024;
/// How long a fetch may take, connection included.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a fetched chain is reused (its validity is checked on every request anyway).
pub const CACHE_TTL: Duration = Duration::from_secs(3600);
/// How long a failed fetch is answered from the cache before it is tried again.
pub const FAILURE_TTL: Duration = Duration::from_secs(30);
/// Most URLs cached (or being fetched) at once.
pub const CACHE_ENTRIES: usize = 64;

/// Where PayPal certificates may come from and what they must chain to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PayPalCertConfig {
    /// URL prefixes a certificate URL must lie under (`--paypal-cert-urls`).
    pub allowed_urls: Vec<String>,
    /// PEM bundle of trust roots (`--paypal-trust-roots`); the system's CA store when unset.
    pub trust_roots: Option<PathBuf>,
}

impl Default for PayPalCertConfig {
    fn default() -> Self {
        Self {
            allowed_urls: DEFAULT_CERT_URLS.iter().map(|u| (*u).to_owned()).collect(),
            trust_roots: None,
        }
    }
}

/// Why no certificate chain could be had for a request.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// The URL is not under an allowed prefix (nothing was fetched).
    #[error("certificate URL is not under an allowed PayPal certificate URL")]
    NotAllowed,
    /// The request or the connection failed, or timed out.
    #[error("fetching the signing certificate")]
    Fetch(#[source] reqwest::Error),
    /// The certificate server answered another status than 200.
    #[error("the certificate URL answered {0}")]
    Status(u16),
    /// The answer is larger than [`MAX_CHAIN_BYTES`].
    #[error("the certificate is larger than {MAX_CHAIN_BYTES} bytes")]
    TooLarge,
    /// The answer is not PEM certificates.
    #[error("the certificate URL answered no PEM certificate")]
    NotPem(#[source] crate::signature::VerifyError),
    /// A fetch of this URL failed moments ago (refused for the sender's fault when `.0`); it
    /// is not tried again yet.
    #[error("fetching the signing certificate failed recently")]
    RecentlyFailed(bool),
    /// Every cache slot holds a fetch in flight.
    #[error("too many certificate fetches in flight; retry later")]
    Busy,
    /// The configured trust roots cannot be read.
    #[error("reading PayPal trust roots {path}")]
    RootsFile {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The configured trust roots are not PEM certificates.
    #[error("PayPal trust roots {path}")]
    RootsPem {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: crate::signature::VerifyError,
    },
    /// No trust root was found (an empty bundle or system store).
    #[error("no PayPal trust roots: the system CA store and --paypal-trust-roots are empty")]
    NoRoots,
    /// The HTTP client cannot be built.
    #[error("building the certificate HTTP client")]
    Client(#[source] reqwest::Error),
}

impl CertError {
    /// The HTTP status to answer: 401 when the sender named a URL that gives no certificate,
    /// 503 when fetching may work later, 500 for our configuration.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotAllowed | Self::TooLarge | Self::NotPem(_) | Self::RecentlyFailed(true) => {
                StatusCode::UNAUTHORIZED
            }
            Self::Status(s) if (400..500).contains(s) => StatusCode::UNAUTHORIZED,
            Self::Fetch(_) | Self::Status(_) | Self::RecentlyFailed(false) | Self::Busy => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::RootsFile { .. } | Self::RootsPem { .. } | Self::NoRoots | Self::Client(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    /// A stable snake_case code for metrics labels and JSON error bodies.
    pub fn reason(&self) -> &'static str {
        match self.status() {
            StatusCode::UNAUTHORIZED if matches!(self, Self::NotAllowed) => {
                "certificate_url_refused"
            }
            StatusCode::UNAUTHORIZED => "bad_certificate",
            StatusCode::SERVICE_UNAVAILABLE => "certificate_unavailable",
            _ => "certificate_misconfigured",
        }
    }

    /// True when the fault is the sender's.
    pub fn is_rejection(&self) -> bool {
        self.status() == StatusCode::UNAUTHORIZED
    }
}

/// The last outcome of a fetch (a failure: whether it was the sender's fault) and when.
type Outcome = (Result<Arc<CertChain>, bool>, Instant);

/// One cached URL: its chain or failure, and when it was had.
#[derive(Default)]
struct Slot {
    /// The last outcome; `None` until the first fetch ends.
    held: tokio::sync::Mutex<Option<Outcome>>,
}

/// The certificate fetcher and cache the engine's receivers share.
pub struct CertStore {
    allowed: Vec<Url>,
    roots_path: Option<PathBuf>,
    roots: OnceLock<Arc<TrustRoots>>,
    http: OnceLock<reqwest::Client>,
    slots: Mutex<HashMap<String, Arc<Slot>>>,
    fetches: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for CertStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertStore")
            .field("allowed", &self.allowed)
            .field("roots_path", &self.roots_path)
            .finish_non_exhaustive()
    }
}

impl CertStore {
    /// A store for `config`; prefixes that are not http(s) URLs are dropped (the flag's
    /// parser refuses them first).
    pub fn new(config: &PayPalCertConfig) -> Self {
        Self {
            allowed: config
                .allowed_urls
                .iter()
                .filter_map(|u| allowed_prefix(u).ok())
                .collect(),
            roots_path: config.trust_roots.clone(),
            roots: OnceLock::new(),
            http: OnceLock::new(),
            slots: Mutex::new(HashMap::new()),
            fetches: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// True when `url` lies under an allowed prefix: same scheme, host and port, and a path
    /// under the prefix's; URLs with credentials never do.
    pub fn allows(&self, url: &str) -> bool {
        let Ok(url) = Url::parse(url) else {
            return false;
        };
        url.username().is_empty()
            && url.password().is_none()
            && self.allowed.iter().any(|p| {
                p.scheme() == url.scheme()
                    && p.host_str() == url.host_str()
                    && p.port_or_known_default() == url.port_or_known_default()
                    && url.path().starts_with(p.path())
            })
    }

    /// How many fetches were started (for tests and metrics).
    pub fn fetches(&self) -> u64 {
        self.fetches.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The trust roots, loaded on first use.
    pub fn roots(&self) -> Result<Arc<TrustRoots>, CertError> {
        if let Some(roots) = self.roots.get() {
            return Ok(roots.clone());
        }
        let roots = match &self.roots_path {
            Some(path) => {
                let shown = path.display().to_string();
                let pem = std::fs::read(path).map_err(|source| CertError::RootsFile {
                    path: shown.clone(),
                    source,
                })?;
                TrustRoots::from_pem(&pem).map_err(|source| CertError::RootsPem {
                    path: shown,
                    source,
                })?
            }
            None => TrustRoots::from_certs(&rustls_native_certs::load_native_certs().certs),
        };
        if roots.is_empty() {
            return Err(CertError::NoRoots);
        }
        Ok(self.roots.get_or_init(|| Arc::new(roots)).clone())
    }

    /// The chain at `url`: refused unless allowed, else from the cache or fetched (one fetch
    /// at a time per URL; the others wait for it).
    pub async fn chain(&self, url: &str) -> Result<Arc<CertChain>, CertError> {
        if !self.allows(url) {
            return Err(CertError::NotAllowed);
        }
        let slot = self.slot(url)?;
        let mut held = slot.held.lock().await;
        if let Some((outcome, at)) = held.as_ref() {
            match outcome {
                Ok(chain) if at.elapsed() < CACHE_TTL => return Ok(chain.clone()),
                Err(rejected) if at.elapsed() < FAILURE_TTL => {
                    return Err(CertError::RecentlyFailed(*rejected));
                }
                _ => {}
            }
        }
        let fetched = self.fetch(url).await;
        *held = Some((
            fetched
                .as_ref()
                .map(Clone::clone)
                .map_err(CertError::is_rejection),
            Instant::now(),
        ));
        fetched
    }

    /// The slot of `url`, made room for when the cache is full: expired entries go first,
    /// then the oldest idle one; when every slot is fetching, `Busy`.
    fn slot(&self, url: &str) -> Result<Arc<Slot>, CertError> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = slots.get(url) {
            return Ok(slot.clone());
        }
        if slots.len() >= CACHE_ENTRIES {
            let mut oldest: Option<(String, Instant)> = None;
            let mut expired = Vec::new();
            for (key, slot) in slots.iter() {
                // A slot locked by a fetch in flight is never evicted.
                let Ok(held) = slot.held.try_lock() else {
                    continue;
                };
                let at = held.as_ref().map(|(_, at)| *at);
                match at {
                    Some(at) if at.elapsed() < CACHE_TTL => {
                        if oldest.as_ref().is_none_or(|(_, o)| at < *o) {
                            oldest = Some((key.clone(), at));
                        }
                    }
                    _ => expired.push(key.clone()),
                }
            }
            if expired.is_empty() {
                expired.extend(oldest.map(|(key, _)| key));
            }
            if expired.is_empty() {
                return Err(CertError::Busy);
            }
            for key in expired {
                slots.remove(&key);
            }
        }
        Ok(slots.entry(url.to_owned()).or_default().clone())
    }

    /// One GET of `url`: no redirects, within the timeout and the size cap, parsed as PEM.
    async fn fetch(&self, url: &str) -> Result<Arc<CertChain>, CertError> {
        self.fetches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let client = self.client()?;
        let mut response = client.get(url).send().await.map_err(CertError::Fetch)?;
        if response.status() != StatusCode::OK {
            return Err(CertError::Status(response.status().as_u16()));
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_CHAIN_BYTES as u64)
        {
            return Err(CertError::TooLarge);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(CertError::Fetch)? {
            if body.len() + chunk.len() > MAX_CHAIN_BYTES {
                return Err(CertError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        CertChain::from_pem(&body)
            .map(Arc::new)
            .map_err(CertError::NotPem)
    }

    fn client(&self) -> Result<reqwest::Client, CertError> {
        if let Some(client) = self.http.get() {
            return Ok(client.clone());
        }
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .connect_timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(CertError::Client)?;
        Ok(self.http.get_or_init(|| client).clone())
    }
}

/// Parses an allowed URL prefix: an absolute http(s) URL without credentials; a prefix
/// without a path allows every path of its origin.
pub fn allowed_prefix(prefix: &str) -> Result<Url, String> {
    let url = Url::parse(prefix).map_err(|e| format!("{prefix:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
        return Err(format!("{prefix:?} is not an http or https URL"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{prefix:?} must not carry credentials"));
    }
    Ok(url)
}

#[cfg(test)]
mod tests;
