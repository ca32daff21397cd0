//! The receivers' errors: why an endpoint piece cannot be built (with its Ready reason), and
//! why a webhook request was not accepted (with its HTTP status and reason code).

use http::StatusCode;

use crate::signature::VerifyError;
use crate::store::StoreError;
use crate::transform::format::FormatError;
use crate::transform::pool::PoolError;
use crate::transform::schema::DataRejected;
use crate::transform::{CompileError, TransformError};

use super::body::BodyError;
use super::paypal_certs::CertError;
use super::stats::Outcome;

/// Why an endpoint piece cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    /// The verification settings do not resolve.
    #[error("spec.verify")]
    Verify(#[source] VerifyError),
    /// An allowedSourceRanges entry is not a CIDR.
    #[error("spec.allowedSourceRanges: {0:?} is not a CIDR")]
    InvalidCidr(String),
    /// A header name is not valid HTTP.
    #[error("{0:?} is not a valid header name")]
    InvalidHeaderName(String),
    /// A jq expression does not compile.
    #[error("jq expression does not compile")]
    Jq(#[source] CompileError),
    /// spec.dedup.window does not parse.
    #[error("spec.dedup.window {0:?} is not a duration")]
    InvalidWindow(String),
    /// The Transformation does not compile.
    #[error("transformation")]
    Transformation(#[source] crate::transform::BuildError),
}

impl EndpointError {
    /// CamelCase reason for the Ready condition.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Verify(VerifyError::MissingSecret(_)) => "SecretNotFound",
            Self::Verify(_) => "InvalidVerify",
            Self::InvalidCidr(_) => "InvalidCIDR",
            Self::InvalidHeaderName(_) => "InvalidHeaderName",
            Self::Jq(_) => "InvalidJq",
            Self::InvalidWindow(_) => "InvalidDuration",
            Self::Transformation(_) => "TransformationInvalid",
        }
    }
}

/// A webhook request that was refused or failed. Messages never contain secrets.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// No such endpoint, or it is suspended.
    #[error("no webhook endpoint here")]
    NotFound,
    /// The client address is outside allowedSourceRanges.
    #[error("the client address is not allowed to call this endpoint")]
    SourceNotAllowed,
    /// The body is larger than maxBodyBytes.
    #[error("the body is larger than {0} bytes")]
    TooLarge(usize),
    /// Too many requests of this endpoint are being processed.
    #[error("too many requests in flight for this endpoint; retry later")]
    TooManyInFlight,
    /// The body was not read whole (too large, too slow, or no room for it).
    #[error("reading the body")]
    Body(#[source] BodyError),
    /// The endpoint forwards, and its forward destination is not running (refused or
    /// invalid): nothing is stored that could not be sent. Holds the Ready reason only (its
    /// message may name internal addresses, which strangers do not learn).
    #[error(
        "the endpoint's forward destination is not available ({0}; see the WebhookEndpoint's Ready condition); nothing was stored"
    )]
    ForwardUnavailable(String),
    /// Signature verification failed (or cannot run).
    #[error("signature verification failed")]
    Verify(#[source] VerifyError),
    /// The signing certificate a certificate-based scheme names (PayPal) was not had.
    #[error("signature verification failed")]
    Certificate(#[source] CertError),
    /// The content type does not fit the endpoint.
    #[error("unsupported content type {0:?}")]
    UnsupportedMediaType(String),
    /// The body cannot be read in its format.
    #[error("malformed body")]
    MalformedBody(#[source] FormatError),
    /// The event type source found nothing.
    #[error("no event type: {0}")]
    MissingEventType(String),
    /// The event type expression failed or gave something else than a string.
    #[error("invalid event type: {0}")]
    InvalidEventType(String),
    /// The dedup id expression failed.
    #[error("invalid dedup id: {0}")]
    InvalidDedupId(String),
    /// The transformation (or a schema check) failed.
    #[error("transformation failed")]
    Transform(#[source] TransformError),
    /// The event's data does not satisfy the schema of its type's EventType: nothing was
    /// stored.
    #[error(transparent)]
    DataRejected(DataRejected),
    /// The evaluation pool failed.
    #[error("evaluation failed")]
    Pool(#[source] PoolError),
    /// Matching the event to subscriptions failed on the evaluation pool: nothing was
    /// accepted (answered like a store failure).
    #[error("the webhook could not be stored; retry later")]
    Filters(#[source] PoolError),
    /// The store failed: nothing was accepted.
    #[error("the webhook could not be stored; retry later")]
    Store(#[source] StoreError),
}

impl HookError {
    /// The HTTP status to answer.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::SourceNotAllowed => StatusCode::FORBIDDEN,
            Self::TooLarge(_) | Self::MalformedBody(FormatError::TooManyValues(_)) => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            Self::TooManyInFlight => StatusCode::TOO_MANY_REQUESTS,
            Self::Body(e) => e.status(),
            Self::ForwardUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Verify(e) => e.status(),
            Self::Certificate(e) => e.status(),
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::MalformedBody(_) | Self::MissingEventType(_) => StatusCode::BAD_REQUEST,
            Self::Transform(TransformError::Input(_)) => StatusCode::BAD_REQUEST,
            Self::InvalidEventType(_)
            | Self::InvalidDedupId(_)
            | Self::Transform(_)
            | Self::DataRejected(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Pool(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Filters(_) | Self::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// A stable snake_case reason code for JSON answers and metric labels.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::SourceNotAllowed => "source_not_allowed",
            Self::TooLarge(_) | Self::MalformedBody(FormatError::TooManyValues(_)) => {
                "payload_too_large"
            }
            Self::TooManyInFlight => "too_many_requests",
            Self::Body(e) => e.reason(),
            Self::ForwardUnavailable(_) => "forward_unavailable",
            Self::Verify(e) => e.reason(),
            Self::Certificate(e) => e.reason(),
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::MalformedBody(_) | Self::Transform(TransformError::Input(_)) => "invalid_body",
            Self::MissingEventType(_) => "missing_event_type",
            Self::InvalidEventType(_) => "invalid_event_type",
            Self::InvalidDedupId(_) => "invalid_dedup_id",
            Self::Transform(TransformError::InputSchema(_) | TransformError::OutputSchema(_))
            | Self::DataRejected(_) => "schema_invalid",
            Self::Transform(_) => "transformation_failed",
            Self::Pool(_) => "internal_error",
            Self::Filters(_) | Self::Store(_) => "store_unavailable",
        }
    }

    /// How the request counts: refused for the sender's fault, or failed for ours.
    pub fn outcome(&self) -> Outcome {
        let ours = match self {
            Self::Verify(e) => !e.is_rejection(),
            Self::Certificate(e) => !e.is_rejection(),
            Self::Transform(TransformError::Input(_) | TransformError::InputSchema(_)) => false,
            Self::Transform(_)
            | Self::Pool(_)
            | Self::Filters(_)
            | Self::Store(_)
            | Self::ForwardUnavailable(_) => true,
            _ => false,
        };
        if ours {
            Outcome::Failed(self.reason())
        } else {
            Outcome::Rejected(self.reason())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_reasons_and_outcomes() {
        let e = HookError::Verify(VerifyError::StaleTimestamp);
        assert_eq!(e.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(e.outcome(), Outcome::Rejected("stale_timestamp"));
        let e = HookError::Verify(VerifyError::MissingSecret("secret"));
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(e.outcome(), Outcome::Failed("missing_secret"));
        let e = HookError::Store(StoreError::Closed);
        assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(e.outcome(), Outcome::Failed("store_unavailable"));
        assert_eq!(
            HookError::TooLarge(1).outcome(),
            Outcome::Rejected("payload_too_large")
        );
        let e = HookError::Body(BodyError::TooSlow(10));
        assert_eq!(e.status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(e.outcome(), Outcome::Rejected("request_timeout"));
        let e = HookError::Body(BodyError::Busy);
        assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(e.outcome(), Outcome::Rejected("server_busy"));
        let e = HookError::DataRejected(DataRejected {
            event_type: "invoice.paid".into(),
            violations: crate::transform::schema::Violations(Vec::new()),
        });
        assert_eq!(e.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(e.outcome(), Outcome::Rejected("schema_invalid"));
        let e = HookError::Certificate(CertError::NotAllowed);
        assert_eq!(e.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(e.outcome(), Outcome::Rejected("certificate_url_refused"));
        let e = HookError::Certificate(CertError::Status(503));
        assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(e.outcome(), Outcome::Failed("certificate_unavailable"));
        let e = HookError::Certificate(CertError::NoRoots);
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let e = HookError::ForwardUnavailable("DestinationRefused".into());
        assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(e.outcome(), Outcome::Failed("forward_unavailable"));
    }
}
