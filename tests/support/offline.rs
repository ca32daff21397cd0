//! Keeps test traffic on loopback: URLs of real hosts in the example manifests are pointed at
//! a closed loopback port (the discard port, 9) with their paths kept, so health checks, syncs
//! and deliveries the examples would make to the internet are refused on this machine.

/// `text` with every `http://` or `https://` URL whose host is not loopback rewritten to
/// `http://127.0.0.1:9` followed by the original path.
pub fn loopback_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("http") {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let scheme = ["https://", "http://"]
            .into_iter()
            .find(|s| tail.starts_with(s));
        let Some(scheme) = scheme else {
            out.push_str("http");
            rest = &tail[4..];
            continue;
        };
        let after = &tail[scheme.len()..];
        let end = after
            .find(|c: char| c == '/' || c.is_whitespace() || "\"'}],".contains(c))
            .unwrap_or(after.len());
        let host = &after[..end];
        let loopback = ["127.0.0.1", "localhost", "[::1]"]
            .iter()
            .any(|h| host == *h || host.starts_with(&format!("{h}:")));
        if loopback || host.is_empty() || host.contains('<') {
            out.push_str(&tail[..scheme.len() + end]);
        } else {
            out.push_str("http://127.0.0.1:9");
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}
