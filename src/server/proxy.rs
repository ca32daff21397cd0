//! The egress proxy: `ANY /v1/namespaces/{ns}/integrations/{name}/proxy/{path…}` on the data
//! plane, authenticated like the publish API, forwarded through the Integration's client
//! (its auth injected, rate limit, breaker and retries of idempotent methods applied); the
//! caller's Authorization and hop-by-hop headers are never forwarded. And the call log at
//! `GET /v1/namespaces/{ns}/integrations/{name}/logs` on the admin port.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::engine::Engine;
use crate::engine::auth::{DeliveryAccess, INTEGRATIONS};
use crate::integration::request::strip_hop_by_hop;
use crate::integration::{CallRequest, IntegrationError};

use super::ApiError;
use super::request::{bearer, read_body};
use super::state::DataPlane;

/// The proxy route's path.
pub const PROXY_ROUTE: &str = "/v1/namespaces/{namespace}/integrations/{name}/proxy/{*path}";
/// The call log route's path (admin port).
pub const LOGS_ROUTE: &str = "/v1/namespaces/{namespace}/integrations/{name}/logs";

impl From<IntegrationError> for ApiError {
    fn from(e: IntegrationError) -> Self {
        let status = match &e {
            IntegrationError::Suspended { .. } | IntegrationError::CircuitOpen { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            IntegrationError::InvalidRequest { .. } => StatusCode::BAD_REQUEST,
            IntegrationError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            // No account connected (yet, or any more): a person must act, not the API.
            IntegrationError::Token { source, .. } if source.needs_a_person() => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            IntegrationError::Token { .. }
            | IntegrationError::Transport { .. }
            | IntegrationError::TooLarge { .. } => StatusCode::BAD_GATEWAY,
        };
        ApiError::new(status, e.code(), crate::error_chain::render(&e))
    }
}

fn not_found(namespace: &str, name: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("integration {namespace}/{name} is not running"),
    )
}

/// Forwards one request through an Integration.
pub async fn proxy(
    State(DataPlane { engine, bodies }): State<DataPlane>,
    Path((namespace, name, _path)): Path<(String, String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let topology = engine.topology();
    // Authenticate before anything else, so unauthenticated callers learn nothing.
    engine
        .authorize(&topology, &namespace, bearer(&headers))
        .await?;
    let piece = topology
        .integration(&namespace, &name)
        .ok_or_else(|| not_found(&namespace, &name))?;
    drop(topology);
    // The raw (still percent-encoded) path after ".../proxy".
    let prefix = format!("/v1/namespaces/{namespace}/integrations/{name}/proxy");
    let path = uri.path().strip_prefix(&prefix).unwrap_or("/").to_owned();
    let path = match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path,
    };
    let (body, _held) = read_body(&headers, body, engine.config().max_event_bytes, &bodies).await?;
    let mut forwarded = headers;
    strip_hop_by_hop(&mut forwarded);
    forwarded.remove(axum::http::header::AUTHORIZATION);
    forwarded.remove(axum::http::header::HOST);
    forwarded.remove(axum::http::header::CONTENT_LENGTH);
    let request = CallRequest {
        method,
        path,
        query: Vec::new(),
        headers: forwarded,
        body: (!body.is_empty()).then_some(body),
    };
    let response = piece.client.call(request).await?;
    let mut out_headers = response.headers;
    strip_hop_by_hop(&mut out_headers);
    out_headers.remove(axum::http::header::CONTENT_LENGTH);
    let mut answer = Response::new(Body::from(response.body));
    *answer.status_mut() = response.status;
    *answer.headers_mut() = out_headers;
    Ok(answer)
}

/// The recent calls of an Integration, newest first; in a cluster only for a caller allowed
/// to `get` the Integration (its calls' paths and answers are the tenant's data).
pub async fn logs(
    State(engine): State<Arc<Engine>>,
    Path((namespace, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    super::deliveries::authorize_admin(
        &engine,
        &headers,
        INTEGRATIONS,
        &namespace,
        &name,
        DeliveryAccess::Read,
    )
    .await?;
    let piece = engine
        .topology()
        .integration(&namespace, &name)
        .ok_or_else(|| not_found(&namespace, &name))?;
    let items = piece.client.log().recent();
    Ok(Json(json!({"items": items})).into_response())
}
