//! `POST /hooks/{namespace}/{name}`: HTTP translation around [`Engine::receive`], which runs
//! the gates, the receiver pipeline and the commit, and counts every answer. Here: the
//! request's parts in, the body read up to the engine's limit within the data plane's bounds
//! ([`super::body`]), the result out as JSON.

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

use crate::engine::receive::{HookBody, HookRequest, Received};
use crate::receiver::{BodyError, HookError};

use super::ApiError;
use super::body::{self, BodyLimits, Held};
use super::state::DataPlane;

/// The hook route.
pub fn router(state: DataPlane) -> Router {
    Router::new()
        .route("/hooks/{namespace}/{name}", post(receive))
        .with_state(state)
}

impl From<HookError> for ApiError {
    fn from(e: HookError) -> Self {
        // As on the publish API, the store's own error goes to the log, not to the sender.
        let message = match &e {
            HookError::Store(_) | HookError::Filters(_) => e.to_string(),
            _ => crate::error_chain::render(&e),
        };
        match &e {
            HookError::Body(body) => ApiError::body(body, message),
            _ => ApiError::new(e.status(), e.reason(), message),
        }
    }
}

/// A hook's body with the data plane's bounds on reading it.
struct Bounded {
    body: Body,
    limits: Arc<BodyLimits>,
}

impl HookBody for Bounded {
    type Held = Held;

    async fn read(self, limit: usize) -> Result<(Bytes, Held), BodyError> {
        body::read(self.body, limit, &self.limits).await
    }
}

async fn receive(
    State(DataPlane { engine, bodies }): State<DataPlane>,
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
        body: Bounded {
            body,
            limits: bodies,
        },
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
