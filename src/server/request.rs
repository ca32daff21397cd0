//! What the data plane's handlers read from a request: its body up to a limit (within the
//! bounds of [`super::body`]), its bearer token.

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, header};

use crate::receiver::gate::declared_length;

use super::ApiError;
use super::body::{BodyLimits, Held};

/// Reads a body of at most `limit` bytes within the data plane's bounds; 413 (JSON) when
/// larger, 408 when too slow, 503 when there is no room for it. The bytes stay counted as
/// long as the returned `Held` lives.
pub async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    limits: &BodyLimits,
) -> Result<(Bytes, Held), ApiError> {
    if declared_length(headers).is_some_and(|n| n > limit as u64) {
        return Err(ApiError::too_large(limit));
    }
    Ok(super::body::read(body, limit, limits).await?)
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
