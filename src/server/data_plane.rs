//! The data plane router: `POST /v1/namespaces/{ns}/events` and the hooks.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use axum::{Json, Router};
use serde_json::json;

use crate::engine::Engine;

use super::ApiError;

/// The data plane routes.
pub fn router(engine: Arc<Engine>) -> Router {
    Router::new()
        .route("/v1/namespaces/{namespace}/events", post(publish))
        .route(super::proxy::PROXY_ROUTE, any(super::proxy::proxy))
        .with_state(engine.clone())
        .merge(super::hooks::router(engine))
}

/// Reads a body of at most `limit` bytes; 413 (JSON) when larger.
pub async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<axum::body::Bytes, ApiError> {
    if declared_length(headers).is_some_and(|n| n > limit as u64) {
        return Err(ApiError::too_large(limit));
    }
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::too_large(limit))
}

/// The body length a request declares in `Content-Length`, if any.
pub fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

/// The bearer token of a request, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&[u8]> {
    let value = headers.get(header::AUTHORIZATION)?.as_bytes();
    let (scheme, token) = value.split_at_checked(7)?;
    scheme
        .eq_ignore_ascii_case(b"bearer ")
        .then_some(token)
        .filter(|t| !t.is_empty())
}

async fn publish(
    State(engine): State<Arc<Engine>>,
    Path(namespace): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    // Authenticate before reading the body, so unauthenticated clients cannot make us buffer it.
    let token = bearer(&headers);
    if token.is_none() {
        return Err(crate::engine::AcceptError::Unauthorized.into());
    }
    let body = read_body(&headers, body, engine.config().max_event_bytes).await?;
    let accepted = engine.publish(&namespace, token, &headers, &body).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({"id": accepted.id}))).into_response())
}
