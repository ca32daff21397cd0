//! A fake OAuth2 provider (a real axum server on 127.0.0.1), shared by the standalone and
//! kube-apiserver tests: an authorize endpoint that approves and redirects with a code, a token
//! endpoint checking the client's credentials and PKCE and issuing short-lived access tokens
//! and rotating refresh tokens (the old one is `invalid_grant` at once), an RFC 7009 revocation
//! endpoint, and an API that answers 401 to tokens it no longer accepts.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use serde_json::{Value, json};
use sha2::Digest;

pub const CLIENT_ID: &str = "books-app";
pub const CLIENT_SECRET: &str = "books-app-secret";

/// What the fake provider issued and saw.
#[derive(Default)]
pub struct Provider {
    /// code → (challenge, redirect_uri, used).
    pub codes: Mutex<HashMap<String, (String, String, bool)>>,
    /// Access tokens the API accepts.
    pub live_access: Mutex<HashSet<String>>,
    /// The one refresh token that works (rotated at every refresh).
    pub live_refresh: Mutex<Option<String>>,
    /// Every code and token value issued, for the leak check.
    pub issued: Mutex<Vec<String>>,
    /// Tokens revoked (RFC 7009).
    pub revoked: Mutex<Vec<String>>,
    /// Successful refreshes.
    pub refreshes: AtomicU64,
    /// Every refresh request, refused or not.
    pub refresh_requests: AtomicU64,
    /// How long the token endpoint takes to answer a refresh (ms).
    pub refresh_delay_ms: AtomicU64,
    /// Lifetime of the access tokens issued (s; 0: 3600).
    pub lifetime_secs: AtomicU64,
    pub serial: AtomicU64,
    /// The API expires the presented token once the second page is asked for the first time.
    pub expire_at_page_two: AtomicBool,
}

/// The provider, shared with its handlers.
pub type Shared = Arc<Provider>;

impl Provider {
    fn issue(&self, prefix: &str) -> String {
        let n = self.serial.fetch_add(1, Ordering::SeqCst);
        let mut random = [0u8; 12];
        rand::fill(&mut random[..]);
        let value = format!(
            "{prefix}-{n}-{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random)
        );
        self.issued.lock().unwrap().push(value.clone());
        value
    }

    /// Tokens for a grant: a short-lived access token and a fresh refresh token.
    fn tokens(&self) -> Value {
        let access = self.issue("access");
        let refresh = self.issue("refresh");
        self.live_access.lock().unwrap().insert(access.clone());
        *self.live_refresh.lock().unwrap() = Some(refresh.clone());
        let lifetime = match self.lifetime_secs.load(Ordering::SeqCst) {
            0 => 3600,
            n => n,
        };
        json!({"access_token": access, "token_type": "Bearer", "expires_in": lifetime,
            "refresh_token": refresh, "scope": "accounting offline", "realmId": "4620816365"})
    }

    /// Every access token stops working (they "expired").
    pub fn expire_access(&self) {
        self.live_access.lock().unwrap().clear();
    }
}

fn form(body: &[u8]) -> HashMap<String, String> {
    form_urlencoded::parse(body).into_owned().collect()
}

fn oauth_error(code: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": code, "error_description": "refused by the fake provider"})),
    )
        .into_response()
}

async fn authorize(State(p): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Response {
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    if get("client_id") != CLIENT_ID
        || get("response_type") != "code"
        || get("code_challenge_method") != "S256"
        || get("code_challenge").is_empty()
    {
        return (StatusCode::BAD_REQUEST, "bad authorize request").into_response();
    }
    let code = p.issue("code");
    p.codes.lock().unwrap().insert(
        code.clone(),
        (get("code_challenge"), get("redirect_uri"), false),
    );
    let mut to = url::Url::parse(&get("redirect_uri")).unwrap();
    to.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &get("state"));
    Redirect::to(to.as_str()).into_response()
}

async fn token(State(p): State<Shared>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let f = form(&body);
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"));
    if headers.get("authorization").and_then(|v| v.to_str().ok())
        != Some(format!("Basic {basic}").as_str())
    {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_client"})),
        )
            .into_response();
    }
    let get = |k: &str| f.get(k).cloned().unwrap_or_default();
    match get("grant_type").as_str() {
        "authorization_code" => {
            let mut codes = p.codes.lock().unwrap();
            let Some((challenge, redirect, used)) = codes.get_mut(&get("code")) else {
                return oauth_error("invalid_grant");
            };
            let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(sha2::Sha256::digest(get("code_verifier").as_bytes()));
            if *used || computed != *challenge || *redirect != get("redirect_uri") {
                return oauth_error("invalid_grant");
            }
            *used = true;
            drop(codes);
            Json(p.tokens()).into_response()
        }
        "refresh_token" => {
            p.refresh_requests.fetch_add(1, Ordering::SeqCst);
            let delay = p.refresh_delay_ms.load(Ordering::SeqCst);
            if delay > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
            }
            let current = p.live_refresh.lock().unwrap().clone();
            if current.as_deref() != Some(get("refresh_token").as_str()) {
                return oauth_error("invalid_grant");
            }
            p.refreshes.fetch_add(1, Ordering::SeqCst);
            Json(p.tokens()).into_response()
        }
        _ => oauth_error("unsupported_grant_type"),
    }
}

async fn revoke(State(p): State<Shared>, body: axum::body::Bytes) -> StatusCode {
    let f = form(&body);
    if let Some(t) = f.get("token") {
        p.revoked.lock().unwrap().push(t.clone());
    }
    StatusCode::OK
}

async fn items(
    State(p): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let presented = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_owned();
    let page: u32 = q.get("page").and_then(|s| s.parse().ok()).unwrap_or(1);
    if page == 2 && p.expire_at_page_two.swap(false, Ordering::SeqCst) {
        p.expire_access();
    }
    if !p.live_access.lock().unwrap().contains(&presented) {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": "expired"}))).into_response();
    }
    let items: Vec<Value> = if page <= 3 {
        (0..2)
            .map(|i| json!({"id": format!("p{page}-{i}")}))
            .collect()
    } else {
        Vec::new()
    };
    Json(json!({"items": items})).into_response()
}

/// Starts the fake provider on `rt`; returns it and its base URL.
pub fn fake_provider(rt: &tokio::runtime::Runtime) -> (Shared, String) {
    rt.block_on(serve())
}

/// Starts the fake provider on the current runtime; returns it and its base URL.
pub async fn serve() -> (Shared, String) {
    let provider = Shared::default();
    let app = Router::new()
        .route("/authorize", get(authorize))
        .route("/token", post(token))
        .route("/revoke", post(revoke))
        .route("/api/items", get(items))
        .with_state(provider.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (provider, base)
}
