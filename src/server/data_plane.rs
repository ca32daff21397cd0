//! The data plane router: `POST /v1/namespaces/{ns}/events`, the egress proxy and the hooks.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use axum::{Json, Router};
use serde_json::json;

use crate::engine::Engine;

use super::ApiError;
use super::request::{bearer, read_body};

/// The data plane routes.
pub fn router(engine: Arc<Engine>) -> Router {
    Router::new()
        .route("/v1/namespaces/{namespace}/events", post(publish))
        .route(super::proxy::PROXY_ROUTE, any(super::proxy::proxy))
        .with_state(engine.clone())
        .merge(super::hooks::router(engine))
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
