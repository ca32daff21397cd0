//! Admin routes of a subscription's delivery log: list (newest first, with attempts), retry
//! one, and send a test event. When the engine has an admin authorizer (the controller:
//! TokenReview + SubjectAccessReview) every request needs a bearer token allowed to `get`
//! (list) or `update` (retry, test) the subscription: 401 without a valid one, 403 when not
//! allowed. Standalone mode has none and keeps the admin port unauthorized. A subscription
//! the engine does not know and that has no delivery on record is a 404.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use crate::api::Kind;
use crate::engine::auth::{Access, DeliveryAccess, SUBSCRIPTIONS};
use crate::engine::{Engine, ObjectKey};
use crate::error_chain::chain;
use crate::store::{DeliveryFilter, DeliveryStatus, Target, TargetKind};

use super::ApiError;

/// Largest page of the delivery list.
const MAX_LIMIT: usize = 500;

/// The delivery routes (state: the engine).
pub fn routes() -> Router<Arc<Engine>> {
    Router::new()
        .route(
            "/v1/namespaces/{ns}/webhooksubscriptions/{name}/deliveries",
            get(list),
        )
        .route(
            "/v1/namespaces/{ns}/webhooksubscriptions/{name}/deliveries/{id}/retry",
            post(retry),
        )
        .route(
            "/v1/namespaces/{ns}/webhooksubscriptions/{name}/test",
            post(test),
        )
}

/// Query of the delivery list.
#[derive(Debug, Deserialize)]
struct ListQuery {
    status: Option<String>,
    limit: Option<usize>,
    after: Option<String>,
}

pub(super) fn target(ns: String, name: String) -> Target {
    Target {
        namespace: ns,
        kind: TargetKind::Subscription,
        name,
    }
}

/// Asks the engine's admin authorizer (if any) about a request on a subscription.
pub(super) async fn authorize(
    engine: &Engine,
    headers: &HeaderMap,
    ns: &str,
    name: &str,
    access: DeliveryAccess,
) -> Result<(), ApiError> {
    authorize_admin(engine, headers, SUBSCRIPTIONS, ns, name, access).await
}

/// Asks the engine's admin authorizer (if any) about a request on `resource` `ns`/`name`.
pub async fn authorize_admin(
    engine: &Engine,
    headers: &HeaderMap,
    resource: &'static str,
    ns: &str,
    name: &str,
    access: DeliveryAccess,
) -> Result<(), ApiError> {
    let Some(authorizer) = engine.admin_authorizer() else {
        return Ok(());
    };
    let token = super::request::bearer(headers);
    match authorizer
        .authorize(token, resource, ns, name, access)
        .await
    {
        Ok(Access::Allowed) => Ok(()),
        Ok(Access::Unauthenticated) => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid bearer token is required",
        )),
        Ok(Access::Forbidden) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "not allowed to {} {resource}.switchboard.dev {name:?} in namespace {ns:?}",
                access.verb()
            ),
        )),
        Err(e) => {
            tracing::warn!(error = %chain(&e), "authorizing an admin request failed; denied");
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "authorization_unavailable",
                "the request could not be authorized; retry later",
            ))
        }
    }
}

pub(super) fn store_error(e: crate::store::StoreError) -> ApiError {
    tracing::error!(error = %chain(&e), "reading the delivery log");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "store_unavailable",
        "the store could not be read; retry later",
    )
}

async fn list(
    State(engine): State<Arc<Engine>>,
    Path((ns, name)): Path<(String, String)>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Result<Response, ApiError> {
    authorize(&engine, &headers, &ns, &name, DeliveryAccess::Read).await?;
    let status = match q.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(
            DeliveryStatus::ALL
                .into_iter()
                .find(|st| st.as_str().eq_ignore_ascii_case(s))
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "invalid_status",
                        format!(
                            "unknown status {s:?}: use Pending, Delivering, Delivered, Failed or Dead"
                        ),
                    )
                })?,
        ),
    };
    let limit = q.limit.unwrap_or(50).clamp(1, MAX_LIMIT);
    let known = engine
        .status()
        .get(Kind::WebhookSubscription, &ObjectKey::new(&ns, &name))
        .is_some();
    let items = engine
        .store()
        .list_deliveries(
            &target(ns.clone(), name.clone()),
            &DeliveryFilter::status(status),
            limit,
            q.after.as_deref().filter(|a| !a.is_empty()),
        )
        .await
        .map_err(store_error)?;
    // A deleted subscription's log is kept (until the retention purge); one never seen is not.
    if items.is_empty() && !known && q.after.as_deref().is_none_or(str::is_empty) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no WebhookSubscription {ns}/{name}"),
        ));
    }
    let next = (items.len() == limit)
        .then(|| items.last().map(|d| d.id.clone()))
        .flatten();
    Ok(Json(serde_json::json!({"items": items, "next": next})).into_response())
}

async fn retry(
    State(engine): State<Arc<Engine>>,
    Path((ns, name, id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&engine, &headers, &ns, &name, DeliveryAccess::Write).await?;
    let done = engine
        .store()
        .retry(&target(ns, name), &id)
        .await
        .map_err(store_error)?;
    if !done {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_retryable",
            format!("no Failed or Dead delivery {id:?} of this subscription"),
        ));
    }
    engine.deliveries().wake();
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({"id": id, "status": "Pending"})),
    )
        .into_response())
}

async fn test(
    State(engine): State<Arc<Engine>>,
    Path((ns, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&engine, &headers, &ns, &name, DeliveryAccess::Write).await?;
    match engine.test_subscription(&ns, &name).await? {
        Some(accepted) => Ok((
            StatusCode::ACCEPTED,
            Json(serde_json::json!({"eventId": accepted.id, "type": "switchboard.test"})),
        )
            .into_response()),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no running WebhookSubscription {ns}/{name}"),
        )),
    }
}
