//! Admin routes for recovering a subscription's deliveries in bulk: retry by filter
//! (`POST …/deliveries/retry`) and replay of a time range (`POST …/replays`, progress at
//! `GET …/replays/{id}`). Both need the verb `replay` on the subscription when the engine has
//! an admin authorizer (the controller's SubjectAccessReview), like the rest of the admin
//! API. Bodies are JSON; times are RFC 3339; any malformed field or range is a 400 and
//! nothing is done.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::engine::auth::DeliveryAccess;
use crate::engine::replay::{ReplayError, ReplaySpec, check_range, check_types};
use crate::engine::{Engine, ObjectKey};
use crate::store::{DeliveryStatus, RetryFilter};

use super::ApiError;
use super::deliveries::{authorize, store_error, target};

/// Most deliveries one bulk retry request puts back; the answer says when more are left
/// (`truncated`), and the same request again takes the next ones.
pub const MAX_BULK_RETRY: usize = 1000;

/// The bulk retry and replay routes (state: the engine).
pub fn routes() -> Router<Arc<Engine>> {
    Router::new()
        .route(
            "/v1/namespaces/{ns}/webhooksubscriptions/{name}/deliveries/retry",
            post(bulk_retry),
        )
        .route(
            "/v1/namespaces/{ns}/webhooksubscriptions/{name}/replays",
            post(replay),
        )
        .route(
            "/v1/namespaces/{ns}/webhooksubscriptions/{name}/replays/{id}",
            get(progress),
        )
}

/// Body of a bulk retry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RetryBody {
    /// `Failed` and/or `Dead` (default: both).
    #[serde(default)]
    status: Vec<String>,
    since: Option<String>,
    until: Option<String>,
    #[serde(default)]
    types: Vec<String>,
    /// At most this many (≤ [`MAX_BULK_RETRY`]).
    limit: Option<usize>,
}

/// Body of a replay.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplayBody {
    id: Option<String>,
    since: Option<String>,
    until: Option<String>,
    #[serde(default)]
    types: Vec<String>,
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message)
}

fn parse_body<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| bad(format!("the body is not a valid request: {e}")))
}

/// An RFC 3339 time that must be given.
fn time(value: Option<&str>, field: &str) -> Result<DateTime<Utc>, ApiError> {
    let value = value.ok_or_else(|| {
        bad(format!(
            "{field} is required: a bulk retry or replay takes a bounded range"
        ))
    })?;
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| bad(format!("{field} {value:?} is not an RFC 3339 time: {e}")))
}

fn replay_error(e: ReplayError) -> ApiError {
    match e {
        ReplayError::Invalid(m) => bad(m),
        ReplayError::NotFound(_) => {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", e.to_string())
        }
        ReplayError::Conflict { .. } => {
            ApiError::new(StatusCode::CONFLICT, "replay_conflict", e.to_string())
        }
        ReplayError::Store(e) => store_error(e),
    }
}

async fn bulk_retry(
    State(engine): State<Arc<Engine>>,
    Path((ns, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    authorize(&engine, &headers, &ns, &name, DeliveryAccess::Replay).await?;
    let body: RetryBody = parse_body(&body)?;
    let mut statuses = Vec::new();
    for s in &body.status {
        match DeliveryStatus::parse(s) {
            Some(st @ (DeliveryStatus::Failed | DeliveryStatus::Dead)) => statuses.push(st),
            _ => {
                return Err(bad(format!(
                    "status {s:?}: only Failed and Dead deliveries are retried (Pending ones are already queued)"
                )));
            }
        }
    }
    if statuses.is_empty() {
        statuses = vec![DeliveryStatus::Failed, DeliveryStatus::Dead];
    }
    let (since, until) = (
        time(body.since.as_deref(), "since")?,
        time(body.until.as_deref(), "until")?,
    );
    check_range(since, until, Utc::now()).map_err(replay_error)?;
    check_types(&body.types).map_err(replay_error)?;
    let limit = match body.limit {
        Some(0) => return Err(bad("limit must be at least 1")),
        Some(n) => n.min(MAX_BULK_RETRY),
        None => MAX_BULK_RETRY,
    };
    let known = engine
        .topology()
        .subscriptions
        .contains_key(&ObjectKey::new(&ns, &name));
    if !known {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no running WebhookSubscription {ns}/{name}"),
        ));
    }
    let filter = RetryFilter {
        statuses,
        since,
        until,
        event_types: body.types,
    };
    let requeued = engine
        .store()
        .retry_matching(&target(ns, name), &filter, limit)
        .await
        .map_err(store_error)?;
    if requeued > 0 {
        engine.deliveries().wake();
    }
    Ok(Json(serde_json::json!({
        "requeued": requeued,
        "limit": limit,
        "truncated": requeued as usize == limit,
    }))
    .into_response())
}

async fn replay(
    State(engine): State<Arc<Engine>>,
    Path((ns, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    authorize(&engine, &headers, &ns, &name, DeliveryAccess::Replay).await?;
    let body: ReplayBody = parse_body(&body)?;
    let spec = ReplaySpec {
        since: time(body.since.as_deref(), "since")?,
        until: time(body.until.as_deref(), "until")?,
        types: body.types,
    };
    let progress = engine
        .replay(&ns, &name, body.id.as_deref(), spec)
        .await
        .map_err(replay_error)?;
    let status = if progress.started {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(progress)).into_response())
}

async fn progress(
    State(engine): State<Arc<Engine>>,
    Path((ns, name, id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&engine, &headers, &ns, &name, DeliveryAccess::Read).await?;
    match engine
        .replay_progress(&ns, &name, &id)
        .await
        .map_err(replay_error)?
    {
        Some(progress) => Ok(Json(progress).into_response()),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no replay {id:?} of WebhookSubscription {ns}/{name}"),
        )),
    }
}
