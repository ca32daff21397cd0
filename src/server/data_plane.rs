//! The data plane router: `POST /v1/namespaces/{ns}/events`, the egress proxy, the hooks and
//! the OAuth callback.
//! Its handlers share the engine and the bounds on request bodies (one budget of bytes).

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
use super::body::BodyLimits;
use super::request::{bearer, read_body};
use super::state::DataPlane;

/// The data plane routes.
pub fn router(engine: Arc<Engine>) -> Router {
    let state = DataPlane {
        bodies: Arc::new(BodyLimits::new(&engine.config().http)),
        engine: engine.clone(),
    };
    Router::new()
        .merge(super::oauth::data_routes().with_state(engine))
        .route("/v1/namespaces/{namespace}/events", post(publish))
        .route(super::proxy::PROXY_ROUTE, any(super::proxy::proxy))
        .with_state(state.clone())
        .merge(super::hooks::router(state))
}

async fn publish(
    State(DataPlane { engine, bodies }): State<DataPlane>,
    Path(namespace): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    // Authorize before reading the body, so strangers cannot make us wait for or buffer it
    // (the connection is closed after the answer rather than the body drained).
    let may = engine
        .authorize_publish(&namespace, bearer(&headers))
        .await
        .map_err(|e| ApiError {
            close: true,
            ..e.into()
        })?;
    let (body, _held) = read_body(&headers, body, engine.config().max_event_bytes, &bodies).await?;
    let batch = crate::engine::publish::is_batch(&headers);
    let accepted = engine.publish(may, &headers, &body).await?;
    let answer = if batch {
        json!({"ids": accepted.iter().map(|a| a.id.as_str()).collect::<Vec<_>>()})
    } else {
        json!({"id": accepted.first().map(|a| a.id.as_str())})
    };
    Ok((StatusCode::ACCEPTED, Json(answer)).into_response())
}
