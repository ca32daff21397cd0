//! Helpers for the schemes' unit tests.

use http::{HeaderMap, HeaderName, HeaderValue};

use super::Request;

/// A header map from name/value pairs; pairs that are not valid HTTP are skipped.
pub fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(value.as_bytes()),
        ) {
            map.append(name, value);
        }
    }
    map
}

/// A request with no URL.
pub fn request<'a>(headers: &'a HeaderMap, body: &'a [u8], now: i64) -> Request<'a> {
    Request {
        headers,
        body,
        url: "",
        now,
    }
}

/// Every single-byte flip of `body`: a copy with byte `index` xor-ed with a non-zero `mask`.
pub fn flipped(body: &[u8], index: usize, mask: u8) -> Vec<u8> {
    let mut copy = body.to_vec();
    if let Some(byte) = copy.get_mut(index % body.len().max(1)) {
        *byte ^= mask.max(1);
    }
    copy
}
