//! A call through an Integration and its answer.

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};

/// A call through an Integration (path relative to its base URL, or an absolute URL on the same origin).
#[derive(Clone, Debug)]
pub struct CallRequest {
    /// Method.
    pub method: Method,
    /// Path relative to the base URL ("/v1/customers", may carry a query) or an absolute URL
    /// on the base URL's origin (a `Link: rel="next"` page).
    pub path: String,
    /// Query parameters added to the URL.
    pub query: Vec<(String, String)>,
    /// Request headers (Authorization and hop-by-hop headers are never sent as given).
    pub headers: HeaderMap,
    /// Body.
    pub body: Option<Bytes>,
}

impl CallRequest {
    /// A GET of `path` without query, headers or body.
    pub fn get(path: impl Into<String>) -> Self {
        Self {
            method: Method::GET,
            path: path.into(),
            query: Vec::new(),
            headers: HeaderMap::new(),
            body: None,
        }
    }
}

/// The answer to a call.
#[derive(Clone, Debug)]
pub struct CallResponse {
    /// Status.
    pub status: StatusCode,
    /// Response headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
}

/// Headers that belong to one connection and are never forwarded.
pub const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Removes hop-by-hop headers (and those the Connection header names).
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<String> = headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    for name in HOP_BY_HOP
        .iter()
        .copied()
        .chain(named.iter().map(String::as_str))
    {
        headers.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_go() {
        let mut h = HeaderMap::new();
        h.insert("connection", "close, x-private".parse().unwrap());
        h.insert("x-private", "1".parse().unwrap());
        h.insert("transfer-encoding", "chunked".parse().unwrap());
        h.insert("accept", "application/json".parse().unwrap());
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("accept"));
    }
}
