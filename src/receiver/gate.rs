//! The gates a webhook request passes: before its body is read, the client address against the
//! endpoint's source ranges and the declared size against its limit; once the whole body has
//! arrived, a slot among the endpoint's requests in flight (so senders that trickle their
//! bodies hold no slot while they do).

use std::net::IpAddr;

use http::HeaderMap;
use http::header::CONTENT_LENGTH;
use ipnet::IpNet;
use tokio::sync::OwnedSemaphorePermit;

use super::client_ip;
use super::endpoint::EndpointPiece;
use super::error::HookError;

/// Passes the gates before the body: source ranges, then declared size. `trusted` are the
/// proxies whose `X-Forwarded-For` names the client.
pub fn admit(
    piece: &EndpointPiece,
    peer: IpAddr,
    headers: &HeaderMap,
    trusted: &[IpNet],
) -> Result<(), HookError> {
    let client = client_ip::resolve(client_ip::canonical(peer), headers, trusted);
    if !piece.admits(client) {
        return Err(HookError::SourceNotAllowed);
    }
    let limit = piece.max_body_bytes;
    if declared_length(headers).is_some_and(|n| n > limit as u64) {
        return Err(HookError::TooLarge(limit));
    }
    Ok(())
}

/// Takes a slot among the endpoint's requests in flight (once the body is read); the permit
/// holds it until it is dropped.
pub fn slot(piece: &EndpointPiece) -> Result<OwnedSemaphorePermit, HookError> {
    piece
        .inflight
        .clone()
        .try_acquire_owned()
        .map_err(|_| HookError::TooManyInFlight)
}

/// The body length a request declares in `Content-Length`, if any.
pub fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}
