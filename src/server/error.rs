//! JSON error answers: `{"error": {"code": "...", "message": "..."}}` with the right status.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::engine::AcceptError;
use crate::engine::publish::PublishError;
use crate::error_chain::{chain, render};
use crate::receiver::BodyError;

/// An error answer of the HTTP APIs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code ("unauthorized", "payload_too_large", …).
    pub code: &'static str,
    /// Human-readable message; never contains secrets.
    pub message: String,
    /// Seconds announced in `Retry-After`, when the client should retry.
    pub retry_after: Option<u32>,
    /// The connection is closed after the answer (`Connection: close`).
    pub close: bool,
}

impl ApiError {
    /// Builds an error answer.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
            close: false,
        }
    }

    /// The answer for a body that was not read whole.
    pub fn body(e: &BodyError, message: String) -> Self {
        Self {
            retry_after: e.retry_after(),
            close: e.closes(),
            ..Self::new(e.status(), e.reason(), message)
        }
    }

    /// 413 for a body above `limit` bytes.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the body is larger than {limit} bytes"),
        )
    }
}

/// Seconds a client is asked to wait before retrying a 503 (the store's health is probed
/// several times a second, so an outage is seen to end within one).
const RETRY_AFTER_SECONDS: u32 = 1;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code, "message": self.message}});
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        // Every 503 asks the client to come back; by default after RETRY_AFTER_SECONDS.
        let retry_after = self
            .retry_after
            .or((self.status == StatusCode::SERVICE_UNAVAILABLE).then_some(RETRY_AFTER_SECONDS));
        if let Some(secs) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.close {
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

impl From<BodyError> for ApiError {
    fn from(e: BodyError) -> Self {
        let message = render(&e);
        Self::body(&e, message)
    }
}

impl From<AcceptError> for ApiError {
    fn from(e: AcceptError) -> Self {
        let message = render(&e);
        match e {
            AcceptError::Unauthorized => {
                Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
            }
            AcceptError::Forbidden(_) => Self::new(StatusCode::FORBIDDEN, "forbidden", message),
            AcceptError::Invalid(PublishError::UnsupportedMediaType(_)) => Self::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                message,
            ),
            AcceptError::Invalid(PublishError::InvalidBody(_)) => {
                Self::new(StatusCode::BAD_REQUEST, "invalid_body", message)
            }
            AcceptError::Invalid(PublishError::InvalidEvent(_)) => {
                Self::new(StatusCode::BAD_REQUEST, "invalid_event", message)
            }
            AcceptError::Rejected(_) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "schema_invalid", message)
            }
            AcceptError::Filters(err) => {
                tracing::error!(error = %chain(&err), "subscription filters failed; event not accepted");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error",
                    "the event could not be matched to subscriptions; retry later",
                )
            }
            AcceptError::Store(err @ crate::store::StoreError::Unavailable { .. }) => {
                tracing::debug!(error = %chain(&err), "store unavailable; event not accepted");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store_unavailable",
                    "the store cannot be reached; retry later",
                )
            }
            AcceptError::Store(err) => {
                tracing::error!(error = %chain(&err), "store failed; event not accepted");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store_unavailable",
                    "the event could not be stored; retry later",
                )
            }
        }
    }
}
