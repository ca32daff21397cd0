//! The admin router: `/healthz`, `/readyz`, `/metrics`, `/v1/status`, the delivery log and
//! starting OAuth connections, and the console.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use crate::api::Kind;
use crate::engine::Engine;
use crate::error_chain::chain;

use super::ApiError;

/// The admin routes, with the console under `/console` when there is a way to check its
/// tokens.
pub fn router(engine: Arc<Engine>, console: Option<super::console::session::Gate>) -> Router {
    let console = console.map(|gate| super::console::routes(engine.clone(), gate));
    let router = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/v1/status", get(status))
        .route(super::proxy::LOGS_ROUTE, get(super::proxy::logs))
        .merge(super::deliveries::routes())
        .merge(super::oauth::admin_routes())
        .merge(super::replay::routes())
        .with_state(engine);
    match console {
        Some(console) => router.merge(console),
        None => router,
    }
}

/// 200 once the first desired state is applied and while the store can be reached (as its
/// health probe last found it: no query per request); otherwise 503 with the reason.
async fn readyz(State(engine): State<Arc<Engine>>) -> Response {
    if !engine.is_ready() {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "the first desired state has not been applied yet",
        )
        .into_response();
    }
    if let Some(reason) = engine.store_health().down() {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            format!("the store cannot be reached: {reason}"),
        )
        .into_response();
    }
    "ok".into_response()
}

async fn metrics(State(engine): State<Arc<Engine>>) -> Response {
    if let Err(e) = engine.refresh_queue_depth().await {
        tracing::warn!(error = %chain(&e), "reading queue depth for /metrics");
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        engine.metrics().encode(),
    )
        .into_response()
}

/// Query of `/v1/status`.
#[derive(Debug, Deserialize)]
struct StatusQuery {
    /// Kind as kubectl takes it (plural, singular or short name).
    kind: Option<String>,
    /// Namespace filter.
    namespace: Option<String>,
}

async fn status(
    State(engine): State<Arc<Engine>>,
    Query(q): Query<StatusQuery>,
) -> Result<Response, ApiError> {
    let kind = match q.kind.as_deref() {
        None => None,
        Some(name) => Some(Kind::from_cli_name(name).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "unknown_kind",
                format!("unknown kind {name:?}"),
            )
        })?),
    };
    let items: Vec<_> = engine
        .resource_views(kind)
        .into_iter()
        .filter(|v| {
            q.namespace.as_deref().is_none_or(|ns| {
                v.pointer("/metadata/namespace").and_then(|n| n.as_str()) == Some(ns)
            })
        })
        .collect();
    Ok(
        Json(serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items}))
            .into_response(),
    )
}
