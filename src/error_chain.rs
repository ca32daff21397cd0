//! Errors as text for people: the error and its whole `source()` chain, `outer: middle: root`.
//!
//! Every error type here says in its own message only what its layer adds and leaves the
//! cause to `source()`, so printing just the top-level `Display` would drop the root cause
//! ("Connection refused", the DNS or TLS error, the SSRF guard's refusal). Every place that
//! turns an error into text for a person (logs, status conditions, Events, HTTP error bodies,
//! delivery attempt records, the CLI) renders it with [`chain`] or [`render`] instead.

use std::error::Error;
use std::fmt;

/// Renders `err` and its `source()` chain as `outer: middle: root`.
///
/// A link whose text is empty or already contained in the text so far is skipped: transparent
/// wrappers and libraries that print their source themselves would otherwise repeat it.
pub fn render(err: &dyn Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        let link = e.to_string();
        if !link.is_empty() && !text.contains(&link) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&link);
        }
        source = e.source();
    }
    text
}

/// An error that displays as its whole chain (see [`render`]), for `error = %chain(&e)` in
/// tracing fields and `{}` in `format!`.
#[derive(Clone, Copy)]
pub struct Chain<'a>(&'a dyn Error);

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&render(self.0))
    }
}

impl fmt::Debug for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Wraps `err` so that it displays as its whole chain.
pub fn chain(err: &dyn Error) -> Chain<'_> {
    Chain(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("root cause")]
    struct Root;

    #[derive(Debug, thiserror::Error)]
    #[error("middle")]
    struct Middle(#[source] Root);

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] Middle);

    #[derive(Debug, thiserror::Error)]
    #[error(transparent)]
    struct Transparent(Middle);

    #[derive(Debug, thiserror::Error)]
    #[error("wrapping")]
    struct Wrapping(#[source] Transparent);

    /// A library error that prints its source itself and also returns it from `source()`.
    #[derive(Debug, thiserror::Error)]
    #[error("library failed: {0}")]
    struct Verbose(#[source] Root);

    #[derive(Debug, thiserror::Error)]
    #[error("boxed")]
    struct Boxed(#[source] Box<dyn Error + Send + Sync>);

    #[test]
    fn a_chain_of_three_is_joined_outer_to_root() {
        assert_eq!(render(&Outer(Middle(Root))), "outer: middle: root cause");
        assert_eq!(
            chain(&Outer(Middle(Root))).to_string(),
            "outer: middle: root cause"
        );
    }

    #[test]
    fn an_error_without_source_is_its_display() {
        assert_eq!(render(&Root), "root cause");
    }

    #[test]
    fn a_transparent_wrapper_is_not_repeated() {
        // Transparent displays as "middle" and its source() is Root: "middle" appears once.
        assert_eq!(
            render(&Wrapping(Transparent(Middle(Root)))),
            "wrapping: middle: root cause"
        );
        assert_eq!(render(&Transparent(Middle(Root))), "middle: root cause");
    }

    #[test]
    fn a_source_already_in_the_text_is_not_repeated() {
        assert_eq!(render(&Verbose(Root)), "library failed: root cause");
    }

    #[test]
    fn boxed_sources_and_tracing_fields_render_the_chain() {
        let e = Boxed(Box::new(Middle(Root)));
        assert_eq!(render(&e), "boxed: middle: root cause");
        assert_eq!(format!("{}", chain(&e)), "boxed: middle: root cause");
        assert_eq!(format!("{:?}", chain(&e)), "boxed: middle: root cause");
    }

    #[test]
    fn an_os_error_is_the_last_link() {
        #[derive(Debug, thiserror::Error)]
        #[error("connecting")]
        struct Connect(#[source] std::io::Error);
        let io = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let root = io.to_string();
        assert_eq!(
            render(&Outer2(Connect(io))),
            format!("calling: connecting: {root}")
        );

        #[derive(Debug, thiserror::Error)]
        #[error("calling")]
        struct Outer2(#[source] Connect);
    }
}
