//! Who is using the console and what they may see. Signing in pastes a token into a form;
//! it is kept in an HttpOnly, SameSite=Strict cookie scoped to `/console` and checked on
//! every request exactly like the admin API checks a bearer token ([`Gate`]): in a cluster
//! the engine's admin authorizer (TokenReview, then a SubjectAccessReview per namespace and
//! verb), standalone the admin token printed at start or given by `--console-token`.
//!
//! Every action is a POST form carrying a CSRF token equal to the `sb_csrf` cookie (double
//! submit: a replica needs no shared secret to check it) and must come with an `Origin`
//! naming this very host; anything else is refused before the action is looked at.

use std::sync::Arc;

use axum::http::{HeaderMap, header};
use subtle::ConstantTimeEq;

use crate::engine::auth::{Access, AdminAuthorizer, DeliveryAccess, VerifyError};

/// The cookie holding the signed-in token.
pub const SESSION_COOKIE: &str = "sb_session";
/// The cookie holding the CSRF token forms repeat.
pub const CSRF_COOKIE: &str = "sb_csrf";

/// How the console checks the token of the person using it.
#[derive(Clone)]
pub enum Gate {
    /// Standalone: one admin token, allowed everything.
    Token(Arc<str>),
    /// In a cluster: the engine's admin authorizer.
    Authorizer(Arc<dyn AdminAuthorizer>),
}

impl Gate {
    /// May the bearer of `token` do `access` in `namespace` (on subscription `name`, or on
    /// the namespace's subscriptions as a whole when `name` is empty)?
    pub async fn check(
        &self,
        token: &[u8],
        resource: &'static str,
        namespace: &str,
        name: &str,
        access: DeliveryAccess,
    ) -> Result<Access, VerifyError> {
        match self {
            Self::Token(expected) => Ok(if bool::from(expected.as_bytes().ct_eq(token)) {
                Access::Allowed
            } else {
                Access::Unauthenticated
            }),
            Self::Authorizer(authorizer) => {
                authorizer
                    .authorize(Some(token), resource, namespace, name, access)
                    .await
            }
        }
    }
}

/// The value of cookie `name` in the request, if any.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

/// A `Set-Cookie` value for a console cookie (HttpOnly, SameSite=Strict, path `/console`);
/// an empty value expires it.
pub fn set_cookie(name: &str, value: &str) -> String {
    let expiry = if value.is_empty() { "; Max-Age=0" } else { "" };
    format!("{name}={value}; Path=/console; HttpOnly; SameSite=Strict{expiry}")
}

/// A fresh CSRF token: 32 random bytes, hex.
pub fn new_csrf() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

/// Why a POST was refused before its action was looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No `Origin`, or one naming another site.
    CrossOrigin,
    /// The form's CSRF token is missing or differs from the cookie's.
    BadCsrf,
}

impl Refusal {
    /// What the refusal page says.
    pub fn message(self) -> &'static str {
        match self {
            Self::CrossOrigin => "refused: the request did not come from this console (Origin)",
            Self::BadCsrf => "refused: the form's CSRF token is missing or stale; reload the page",
        }
    }
}

/// Checks a POST's `Origin` against its `Host` and the form's CSRF token against the cookie.
pub fn check_post(headers: &HeaderMap, form_csrf: Option<&str>) -> Result<(), Refusal> {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin = headers.get(header::ORIGIN).and_then(|h| h.to_str().ok());
    let same = match (host, origin) {
        (Some(host), Some(origin)) => origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
            .is_some_and(|o| o.eq_ignore_ascii_case(host)),
        _ => false,
    };
    if !same {
        return Err(Refusal::CrossOrigin);
    }
    match (cookie(headers, CSRF_COOKIE), form_csrf) {
        (Some(c), Some(f)) if bool::from(c.as_bytes().ct_eq(f.as_bytes())) => Ok(()),
        _ => Err(Refusal::BadCsrf),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(origin: Option<&str>, cookie: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:9090"));
        if let Some(o) = origin {
            h.insert(header::ORIGIN, HeaderValue::from_str(o).expect("origin"));
        }
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(cookie).expect("cookie"),
        );
        h
    }

    #[test]
    fn posts_need_this_origin_and_the_cookie_token() {
        let ok = headers(Some("http://127.0.0.1:9090"), "a=b; sb_csrf=abc");
        assert_eq!(check_post(&ok, Some("abc")), Ok(()));
        assert_eq!(check_post(&ok, Some("abd")), Err(Refusal::BadCsrf));
        assert_eq!(check_post(&ok, None), Err(Refusal::BadCsrf));
        let other = headers(Some("http://evil.example"), "sb_csrf=abc");
        assert_eq!(check_post(&other, Some("abc")), Err(Refusal::CrossOrigin));
        let none = headers(None, "sb_csrf=abc");
        assert_eq!(check_post(&none, Some("abc")), Err(Refusal::CrossOrigin));
        let no_cookie = headers(Some("http://127.0.0.1:9090"), "x=y");
        assert_eq!(check_post(&no_cookie, Some("abc")), Err(Refusal::BadCsrf));
    }
}
