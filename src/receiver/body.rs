//! Why a request body could not be read within the bounds the servers put on strangers: its
//! size, its total time and rate, and the bytes all requests may hold in memory at once. The
//! HTTP layer reads; the webhook receivers and the publish API answer with these.

use std::time::Duration;

use http::StatusCode;

/// A request body that was not read whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// The body is larger than the limit, in bytes.
    #[error("the body is larger than {0} bytes")]
    TooLarge(usize),
    /// The body did not arrive whole within the body read timeout.
    #[error("the body did not arrive within {0:?}")]
    TimedOut(Duration),
    /// The body arrived slower than the minimum rate, in bytes per second.
    #[error("the body arrived slower than {0} bytes/s")]
    TooSlow(u64),
    /// Too many request-body bytes are held at once: no room for this one.
    #[error("the server holds too many request bytes; retry later")]
    Busy,
    /// The connection failed or ended before the body was whole.
    #[error("the body could not be read: {0}")]
    Broken(String),
}

impl BodyError {
    /// Seconds a refused sender should wait before retrying (`Retry-After`).
    pub const RETRY_AFTER_SECS: u32 = 1;

    /// The HTTP status to answer.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::TimedOut(_) | Self::TooSlow(_) => StatusCode::REQUEST_TIMEOUT,
            Self::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Self::Broken(_) => StatusCode::BAD_REQUEST,
        }
    }

    /// A stable snake_case reason code.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::TooLarge(_) => "payload_too_large",
            Self::TimedOut(_) | Self::TooSlow(_) => "request_timeout",
            Self::Busy => "server_busy",
            Self::Broken(_) => "invalid_body",
        }
    }

    /// Whether the connection is closed after the answer (the rest of a slow body is not
    /// waited for).
    pub fn closes(&self) -> bool {
        matches!(self, Self::TimedOut(_) | Self::TooSlow(_))
    }

    /// Seconds to announce in `Retry-After`, if the sender should retry.
    pub fn retry_after(&self) -> Option<u32> {
        matches!(self, Self::Busy).then_some(Self::RETRY_AFTER_SECS)
    }
}
