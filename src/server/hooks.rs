//! `POST /hooks/{namespace}/{name}`: HTTP translation around [`Engine::receive`], which runs
//! the gates, the receiver pipeline and the commit, and counts every answer. Here: the
//! request's parts in, the body read up to the engine's limit, the result out as JSON.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use chrono::Utc;
use serde_json::json;

use crate::engine::Engine;
use crate::engine::receive::{HookBody, HookRequest, Received};
use crate::receiver::HookError;

use super::ApiError;

/// The hook route.
pub fn router(engine: Arc<Engine>) -> Router {
    Router::new()
        .route("/hooks/{namespace}/{name}", post(receive))
        .with_state(engine)
}

impl From<HookError> for ApiError {
    fn from(e: HookError) -> Self {
        // As on the publish API, the store's own error goes to the log, not to the sender.
        let message = match &e {
            HookError::Store(_) | HookError::Filters(_) => e.to_string(),
            _ => crate::error_chain::render(&e),
        };
        ApiError::new(e.status(), e.reason(), message)
    }
}

impl HookBody for Body {
    async fn read(self, limit: usize) -> Option<Bytes> {
        axum::body::to_bytes(self, limit).await.ok()
    }
}

async fn receive(
    State(engine): State<Arc<Engine>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path((namespace, name)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let request = HookRequest {
        peer: peer.ip(),
        headers,
        uri,
        received_at: Utc::now(),
        body,
    };
    let (status, body) = match engine.receive(&namespace, &name, request).await {
        Ok(Received::Accepted { id }) => (StatusCode::ACCEPTED, json!({"id": id})),
        Ok(Received::Duplicate) => (StatusCode::OK, json!({"duplicate": true})),
        Ok(Received::Ignored { event_type }) => (
            StatusCode::ACCEPTED,
            json!({"ignored": true, "eventType": event_type}),
        ),
        Err(e) => return ApiError::from(e).into_response(),
    };
    (status, Json(body)).into_response()
}
