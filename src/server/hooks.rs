//! `POST /hooks/{namespace}/{name}`: the gates that need the connection (endpoint, source
//! address, size, in-flight limit), then the receiver pipeline, then one durable commit.
//! Every answer is counted on the endpoint's status and in the metrics.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::engine::Engine;
use crate::receiver::process::Prepared;
use crate::receiver::{EndpointPiece, HookError, Inbound, Outcome, client_ip, process};
use crate::store::Accepted;
use crate::transform::EvalPool;

use super::ApiError;
use super::data_plane::{declared_length, read_body};

/// What the hook handler shares.
struct Hooks {
    engine: Arc<Engine>,
    pool: EvalPool,
}

/// The hook route.
pub fn router(engine: Arc<Engine>) -> Router {
    let hooks = Hooks {
        engine,
        pool: EvalPool::per_core(),
    };
    Router::new()
        .route("/hooks/{namespace}/{name}", post(receive))
        .with_state(Arc::new(hooks))
}

impl From<HookError> for ApiError {
    fn from(e: HookError) -> Self {
        // As on the publish API, the store's own error goes to the log, not to the sender.
        let message = match &e {
            HookError::Store(_) => e.to_string(),
            _ => crate::error_chain::render(&e),
        };
        ApiError::new(e.status(), e.reason(), message)
    }
}

/// A successful answer and how it counts.
struct Reply {
    status: StatusCode,
    body: Value,
    outcome: Outcome,
}

async fn receive(
    State(hooks): State<Arc<Hooks>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path((namespace, name)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let received_at = Utc::now();
    let piece = hooks
        .engine
        .topology()
        .endpoint(&namespace, &name)
        .filter(|p| !p.inputs.spec.suspend)
        .cloned();
    let Some(piece) = piece else {
        return ApiError::from(HookError::NotFound).into_response();
    };
    let request = Request {
        peer,
        uri,
        headers,
        body,
        received_at,
    };
    let result = handle(&hooks, &piece, request).await;
    let outcome = match &result {
        Ok(reply) => reply.outcome,
        Err(e) => e.outcome(),
    };
    piece.stats.record(outcome, received_at);
    hooks
        .engine
        .metrics()
        .receiver
        .record(&namespace, &name, outcome);
    match result {
        Ok(reply) => (reply.status, Json(reply.body)).into_response(),
        Err(e) => {
            match e.outcome() {
                Outcome::Failed(_) => {
                    tracing::warn!(%namespace, endpoint = %name, error = %crate::error_chain::chain(&e), "webhook failed")
                }
                _ => {
                    tracing::debug!(%namespace, endpoint = %name, error = %crate::error_chain::chain(&e), "webhook refused")
                }
            }
            ApiError::from(e).into_response()
        }
    }
}

/// The parts of a hook request.
struct Request {
    peer: SocketAddr,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
    received_at: DateTime<Utc>,
}

async fn handle(
    hooks: &Hooks,
    piece: &Arc<EndpointPiece>,
    req: Request,
) -> Result<Reply, HookError> {
    let config = &hooks.engine.config().receiver;
    let peer = client_ip::canonical(req.peer.ip());
    let client = client_ip::resolve(peer, &req.headers, &config.trusted_proxies);
    if !piece.admits(client) {
        return Err(HookError::SourceNotAllowed);
    }
    let limit = piece.max_body_bytes;
    if declared_length(&req.headers).is_some_and(|n| n > limit as u64) {
        return Err(HookError::TooLarge(limit));
    }
    let _permit = piece
        .inflight
        .clone()
        .try_acquire_owned()
        .map_err(|_| HookError::TooManyInFlight)?;
    let body = read_body(&req.headers, req.body, limit)
        .await
        .map_err(|_| HookError::TooLarge(limit))?;
    let url = public_url(&piece.inputs.url, &req.uri, &req.headers);
    let inbound = Inbound {
        headers: req.headers,
        body,
        url,
        received_at: req.received_at,
    };
    match process(piece.clone(), inbound, &hooks.pool).await? {
        Prepared::Ignored { event_type } => Ok(Reply {
            status: StatusCode::ACCEPTED,
            body: json!({"ignored": true, "eventType": event_type}),
            outcome: Outcome::Ignored,
        }),
        Prepared::Route(routed) => {
            let id = routed.event.id.clone();
            let accepted = hooks
                .engine
                .commit_webhook(&piece.inputs.name, *routed)
                .await
                .map_err(HookError::Store)?;
            Ok(match accepted {
                Accepted::Stored { .. } => Reply {
                    status: StatusCode::ACCEPTED,
                    body: json!({"id": id}),
                    outcome: Outcome::Accepted,
                },
                Accepted::DuplicateId | Accepted::DuplicateKey => Reply {
                    status: StatusCode::OK,
                    body: json!({"duplicate": true}),
                    outcome: Outcome::Duplicate,
                },
            })
        }
    }
}

/// The public URL of the request: the endpoint's absolute URL (from `--external-url`) or
/// `http://{Host}{path}`, with the query string the sender used.
fn public_url(hook_url: &str, uri: &Uri, headers: &HeaderMap) -> String {
    let base = if hook_url.starts_with("http://") || hook_url.starts_with("https://") {
        hook_url.to_owned()
    } else {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        format!("http://{host}{}", uri.path())
    };
    match uri.query() {
        Some(q) => format!("{base}?{q}"),
        None => base,
    }
}
