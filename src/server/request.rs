//! What the data plane's handlers read from a request: its body up to a limit, its bearer
//! token.

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, header};

use crate::receiver::gate::declared_length;

use super::ApiError;

/// Reads a body of at most `limit` bytes; 413 (JSON) when larger.
pub async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, ApiError> {
    if declared_length(headers).is_some_and(|n| n > limit as u64) {
        return Err(ApiError::too_large(limit));
    }
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::too_large(limit))
}

/// The bearer token of a request, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&[u8]> {
    let value = headers.get(header::AUTHORIZATION)?.as_bytes();
    let (scheme, token) = value.split_at_checked(7)?;
    scheme
        .eq_ignore_ascii_case(b"bearer ")
        .then_some(token)
        .filter(|t| !t.is_empty())
}
