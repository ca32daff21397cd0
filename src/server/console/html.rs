//! Building the console's HTML: one escaping function every piece of text goes through
//! ([`esc`]), and the page frame. Pages are plain server-rendered HTML: no script runs in the
//! console, so the Content-Security-Policy forbids every script.

use std::fmt::Write as _;

/// `text` escaped for HTML text and double-quoted attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `text` escaped for a URL's path segment or query value (then for HTML by the caller's
/// use of it in an attribute: percent-encoding leaves nothing HTML would read).
pub fn url(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// A whole page: the frame (title, navigation, who is signed in) around `body`.
pub fn page(title: &str, signed_in: bool, body: &str) -> String {
    let mut out = String::with_capacity(body.len() + 1024);
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · Switchboard</title><link rel=\"stylesheet\" href=\"/console/style.css\">\
         </head><body><header><a class=\"brand\" href=\"/console/\">Switchboard</a>",
        esc(title)
    );
    if signed_in {
        out.push_str(
            "<nav><a href=\"/console/\">Overview</a><a href=\"/console/catalog\">Event catalog</a></nav>\
             <form method=\"post\" action=\"/console/logout\"><button>Sign out</button></form>",
        );
    }
    let _ = write!(
        out,
        "</header><main><h1>{}</h1>{body}</main></body></html>",
        esc(title)
    );
    out
}

/// A status badge: `ok` decides its colour, `text` is shown.
pub fn badge(ok: Option<bool>, text: &str) -> String {
    let class = match ok {
        Some(true) => "ok",
        Some(false) => "bad",
        None => "unknown",
    };
    format!("<span class=\"badge {class}\">{}</span>", esc(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_everything_html_reads() {
        assert_eq!(
            esc(r#"<script>alert(1)</script>"><img src=x onerror='x'>&"#),
            "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img src=x onerror=&#39;x&#39;&gt;&amp;"
        );
    }

    #[test]
    fn url_values_keep_nothing_html_reads() {
        assert_eq!(url("a b/<\"&>"), "a%20b%2F%3C%22%26%3E");
    }
}
