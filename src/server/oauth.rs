//! OAuth2 authorization-code routes. Admin: `POST …/integrations/{name}/connect` starts a
//! connection (authorized like the rest of the admin API: `update` on the Integration) and
//! answers the provider's authorize URL. Data plane: `GET /oauth/callback`, where the
//! provider sends the browser back, answers an HTML page saying what happened; and
//! `GET /oauth/connect/{ns}/{name}`, the page an Integration's status links to, which starts
//! nothing (anyone may follow a link, only those allowed to update the Integration may decide
//! whose account it acts as). Pages are never cached and send no referrer (the callback URL
//! carries the code).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use crate::engine::Engine;
use crate::engine::auth::{DeliveryAccess, INTEGRATIONS};
use crate::engine::connections::{
    CALLBACK_PATH, CONNECT_PAGE_PATH, Callback, CallbackError, StartError,
};
use crate::error_chain::{chain, render};
use crate::integration::authcode::{ConnectionError, PendingError};

use super::ApiError;

/// The admin route starting a connection.
pub const CONNECT_ROUTE: &str = "/v1/namespaces/{ns}/integrations/{name}/connect";

/// The admin routes.
pub fn admin_routes() -> Router<Arc<Engine>> {
    Router::new().route(CONNECT_ROUTE, post(connect))
}

/// The data plane routes.
pub fn data_routes() -> Router<Arc<Engine>> {
    Router::new()
        .route(CALLBACK_PATH, get(callback))
        .route(&format!("{CONNECT_PAGE_PATH}/{{ns}}/{{name}}"), get(page))
}

async fn connect(
    State(engine): State<Arc<Engine>>,
    Path((ns, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    super::deliveries::authorize_admin(
        &engine,
        &headers,
        INTEGRATIONS,
        &ns,
        &name,
        DeliveryAccess::Write,
    )
    .await?;
    let started = engine.start_connection(&ns, &name).await.map_err(|e| {
        let (status, code) = match &e {
            StartError::NotFound { .. } => (StatusCode::NOT_FOUND, "not_found"),
            StartError::NotAuthorizationCode { .. } => {
                (StatusCode::CONFLICT, "not_authorization_code")
            }
            StartError::NoExternalUrl => (StatusCode::CONFLICT, "no_external_url"),
            StartError::Store(_) => {
                tracing::error!(error = %chain(&e), "starting a connection");
                (StatusCode::SERVICE_UNAVAILABLE, "store_unavailable")
            }
        };
        ApiError::new(status, code, render(&e))
    })?;
    Ok(Json(json!({
        "authorizeUrl": started.authorize_url.as_str(),
        "expiresAt": started.expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "callbackUrl": engine.callback_url(),
    }))
    .into_response())
}

/// Escapes text for HTML.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// An HTML page that is never cached, framed, or followed by a referrer.
fn html(status: StatusCode, title: &str, paragraphs: &[String]) -> Response {
    let body: String = paragraphs
        .iter()
        .map(|p| format!("<p>{}</p>\n", escape(p)))
        .collect();
    let page = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title></head>\n<body><h1>{t}</h1>\n{body}</body></html>\n",
        t = escape(title)
    );
    let mut response = (status, page).into_response();
    let h = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CACHE_CONTROL, "no-store"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CONTENT_SECURITY_POLICY, "default-src 'none'"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    response
}

async fn callback(
    State(engine): State<Arc<Engine>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let take = |k: &str| q.get(k).cloned();
    let callback = Callback {
        state: take("state"),
        code: take("code"),
        error: take("error"),
        realm_id: take("realmId"),
    };
    match engine.complete_connection(callback).await {
        Ok(done) => html(
            StatusCode::OK,
            "Connected",
            &[
                format!(
                    "Integration {}/{} is connected{}.",
                    done.namespace,
                    done.name,
                    done.account.map(|a| format!(" to {a}")).unwrap_or_default()
                ),
                "You can close this window.".into(),
            ],
        ),
        Err(e) => {
            let status = match &e {
                CallbackError::State(PendingError::Store(_)) => StatusCode::SERVICE_UNAVAILABLE,
                CallbackError::Integration(_) => StatusCode::NOT_FOUND,
                CallbackError::Connect { source, .. } => match source {
                    ConnectionError::Exchange(g) if !g.is_transient() => StatusCode::BAD_REQUEST,
                    _ => StatusCode::BAD_GATEWAY,
                },
                _ => StatusCode::BAD_REQUEST,
            };
            tracing::warn!(error = %chain(&e), "an OAuth callback connected nothing");
            html(
                status,
                "Connection failed",
                &[
                    render(&e),
                    "Nothing was changed. Start again with `switchboard connect intg/NAME -n NAMESPACE` and open the new link within 10 minutes.".into(),
                ],
            )
        }
    }
}

async fn page(Path((ns, name)): Path<(String, String)>) -> Response {
    html(
        StatusCode::OK,
        &format!("Connect Integration {ns}/{name}"),
        &[
            "Connecting decides whose account this Integration acts as, so it is started by someone allowed to update the Integration, not by this link.".into(),
            format!("Run: switchboard connect intg/{name} -n {ns}"),
            "then open the link it prints within 10 minutes and approve at the provider.".into(),
        ],
    )
}
