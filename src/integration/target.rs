//! Where a call goes: a path resolved under the Integration's base URL (never climbing out
//! of it) or an absolute URL on its origin; and the labels calls are logged and counted by.

use http::Method;

/// The URL of a request: a relative path (which may carry a query) under `base`'s path, or
/// an absolute URL on `base`'s origin; `query` is appended. `.` and `..` segments, plain or
/// percent-encoded, are refused. Errors never quote a query string.
pub fn resolve(
    base: &url::Url,
    path: &str,
    query: &[(String, String)],
) -> Result<url::Url, String> {
    let mut url = if path.starts_with("http://") || path.starts_with("https://") {
        let url = url::Url::parse(path)
            .map_err(|e| format!("invalid URL: {}", crate::error_chain::chain(&e)))?;
        if url.origin() != base.origin() {
            return Err(format!(
                "{} is not on the integration's origin {}",
                without_query(path),
                base.origin().ascii_serialization()
            ));
        }
        url
    } else {
        let (p, q) = path.split_once('?').unwrap_or((path, ""));
        if p.split('/').any(is_dot_segment) {
            return Err("the path may not contain . or .. segments".into());
        }
        let mut url = base.clone();
        let joined = format!(
            "{}/{}",
            base.path().trim_end_matches('/'),
            p.trim_start_matches('/')
        );
        url.set_path(&joined);
        url.set_query((!q.is_empty()).then_some(q));
        url
    };
    if !query.is_empty() {
        url.query_pairs_mut().extend_pairs(query);
    }
    url.set_fragment(None);
    Ok(url)
}

fn is_dot_segment(segment: &str) -> bool {
    let s = segment.to_ascii_lowercase();
    matches!(s.as_str(), "." | ".." | "%2e" | "%2e%2e" | ".%2e" | "%2e.")
}

/// A path or URL without its query string (query values may be secrets).
pub fn without_query(path: &str) -> &str {
    path.split(['?', '#']).next().unwrap_or(path)
}

/// The method as a metric and log label: standard methods by name, anything else "OTHER".
pub fn method_label(method: &Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        "TRACE" => "TRACE",
        _ => "OTHER",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(s: &str) -> url::Url {
        let spec: crate::api::IntegrationSpec =
            serde_json::from_value(serde_json::json!({"baseUrl": s})).unwrap();
        crate::integration::Settings::resolve(&spec, None)
            .unwrap()
            .base
    }

    #[test]
    fn paths_resolve_under_the_base_url_and_stay_on_its_origin() {
        let b = base("https://api.example.com/v2/");
        let q = vec![("limit".to_owned(), "10".to_owned())];
        assert_eq!(
            resolve(&b, "/customers", &q).unwrap().as_str(),
            "https://api.example.com/v2/customers?limit=10"
        );
        assert_eq!(
            resolve(&b, "items?page=2", &[]).unwrap().as_str(),
            "https://api.example.com/v2/items?page=2"
        );
        assert_eq!(
            resolve(&b, "https://api.example.com/v2/items?after=x", &[])
                .unwrap()
                .as_str(),
            "https://api.example.com/v2/items?after=x"
        );
        let off = resolve(&b, "https://evil.example.com/x?key=s3cret", &[]).unwrap_err();
        assert!(!off.contains("s3cret"), "{off}");
        assert!(resolve(&b, "/a/../../admin", &[]).is_err());
        assert!(resolve(&b, "/a/%2E%2E/admin", &[]).is_err());
        let root = base("https://api.example.com");
        assert_eq!(
            resolve(&root, "/rate_limit", &[]).unwrap().as_str(),
            "https://api.example.com/rate_limit"
        );
    }

    #[test]
    fn logged_paths_lose_their_query() {
        assert_eq!(without_query("/x?api_key=secret"), "/x");
        assert_eq!(method_label(&Method::from_bytes(b"BREW").unwrap()), "OTHER");
        assert_eq!(method_label(&Method::PATCH), "PATCH");
    }
}
