//! A fake provider API for the integration tests: a real axum server on 127.0.0.1 with an
//! OAuth2 token endpoint, an echo, a rate-limited path, a flaky path, a health path and a
//! webhook sink, each counting its hits.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Value, json};

/// OAuth2 client id the token endpoint accepts.
pub const CLIENT_ID: &str = "fake-client";
/// OAuth2 client secret the token endpoint accepts.
pub const CLIENT_SECRET: &str = "fake-client-secret-value";

/// What the fake API does and saw.
#[derive(Default)]
pub struct FakeState {
    /// Tokens issued.
    pub token_fetches: AtomicU32,
    /// `expires_in` of issued tokens (seconds; 3600 when 0).
    pub expires_in: AtomicU64,
    /// Tokens the API answers 401 to.
    pub revoked: Mutex<HashSet<String>>,
    /// Answer 401 to every token.
    pub reject_all: AtomicBool,
    /// /api/flaky answers 500 while true.
    pub failing: AtomicBool,
    /// /api/health answers 503 while true.
    pub unhealthy: AtomicBool,
    /// Hits by path.
    pub hits: Mutex<BTreeMap<String, u32>>,
    /// Authorization headers the sink received.
    pub sink_auth: Mutex<Vec<String>>,
}

impl FakeState {
    /// Hits of a path so far.
    pub fn hits(&self, path: &str) -> u32 {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}

/// A running fake provider.
pub struct FakeApi {
    /// Its address.
    pub addr: SocketAddr,
    /// Its state.
    pub state: Arc<FakeState>,
}

impl FakeApi {
    /// Starts the fake API on its own thread and runtime.
    pub fn start() -> FakeApi {
        let state = Arc::new(FakeState::default());
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone());
        let addr = crate::support::sink::serve_on_thread(app);
        FakeApi { addr, state }
    }

    /// The URL of a path.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

fn header(headers: &HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

async fn handle(
    State(state): State<Arc<FakeState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let hit = {
        let mut hits = state.hits.lock().unwrap();
        let n = hits.entry(path.clone()).or_default();
        *n += 1;
        *n
    };
    let authorization = header(&headers, "authorization");
    let bearer = authorization
        .strip_prefix("Bearer ")
        .unwrap_or("")
        .to_owned();
    if path == "/oauth/token" {
        let basic = base64::engine::general_purpose::STANDARD
            .encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"));
        let form: BTreeMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
        if authorization != format!("Basic {basic}")
            || form.get("grant_type").map(String::as_str) != Some("client_credentials")
        {
            return json_response(StatusCode::UNAUTHORIZED, json!({"error": "invalid_client"}));
        }
        let n = state.token_fetches.fetch_add(1, Ordering::SeqCst) + 1;
        let expires = match state.expires_in.load(Ordering::SeqCst) {
            0 => 3600,
            e => e,
        };
        return json_response(
            StatusCode::OK,
            json!({"access_token": format!("tok-{n}"), "token_type": "Bearer",
                   "expires_in": expires, "scope": form.get("scope")}),
        );
    }
    let rejected = !bearer.is_empty()
        && (state.reject_all.load(Ordering::SeqCst)
            || state.revoked.lock().unwrap().contains(&bearer));
    if rejected {
        return json_response(StatusCode::UNAUTHORIZED, json!({"error": "invalid_token"}));
    }
    match path.as_str() {
        "/api/limited" if hit % 2 == 1 => {
            let mut r = json_response(StatusCode::TOO_MANY_REQUESTS, json!({"error": "slow down"}));
            r.headers_mut().insert("retry-after", "1".parse().unwrap());
            r
        }
        "/api/flaky" if state.failing.load(Ordering::SeqCst) => {
            json_response(StatusCode::INTERNAL_SERVER_ERROR, json!({"error": "boom"}))
        }
        "/api/health" if state.unhealthy.load(Ordering::SeqCst) => {
            json_response(StatusCode::SERVICE_UNAVAILABLE, json!({"status": "down"}))
        }
        "/sink" => {
            state.sink_auth.lock().unwrap().push(authorization);
            json_response(StatusCode::OK, json!({"ok": true}))
        }
        _ => {
            let all: BTreeMap<String, String> = headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
                .collect();
            json_response(
                StatusCode::OK,
                json!({
                    "method": method.as_str(),
                    "path": path,
                    "query": uri.query(),
                    "authorization": authorization,
                    "apiKey": header(&headers, "x-api-key"),
                    "headers": all,
                    "body": String::from_utf8_lossy(&body),
                }),
            )
        }
    }
}

/// Polls `f` every 50 ms until it returns Some, or panics after `timeout` with `what`.
pub fn eventually<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
