//! GitLab: `X-Gitlab-Token` must equal the configured secret (compared in constant time).

use super::{Request, Verified, VerifyError, mac};

/// Header carrying the shared token.
pub const TOKEN_HEADER: &str = "x-gitlab-token";

/// Verifies that the request's `X-Gitlab-Token` equals `secret`.
pub fn verify(request: &Request<'_>, secret: &[u8]) -> Result<Verified, VerifyError> {
    let token = request.header(TOKEN_HEADER)?;
    if !mac::constant_time_eq(token.as_bytes(), secret) {
        return Err(VerifyError::BadCredentials);
    }
    Ok(Verified::default())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::signature::test_support::{headers, request};

    // GitLab Docs, "Webhooks": the secret token is sent verbatim in X-Gitlab-Token.
    const SECRET: &[u8] = b"glpat-shared-token";

    fn check(token: &str, secret: &[u8]) -> Result<Verified, VerifyError> {
        let map = headers(&[("X-Gitlab-Token", token)]);
        verify(&request(&map, b"{}", 0), secret)
    }

    #[test]
    fn matching_token_passes_whatever_the_body() {
        let map = headers(&[("x-gitlab-token", "glpat-shared-token")]);
        assert_eq!(
            verify(&request(&map, b"anything", 0), SECRET),
            Ok(Verified::default())
        );
    }

    #[test]
    fn wrong_token_fails() {
        assert_eq!(
            check("glpat-shared-tokem", SECRET),
            Err(VerifyError::BadCredentials)
        );
        assert_eq!(
            check("glpat-shared-token ", SECRET),
            Err(VerifyError::BadCredentials)
        );
        assert_eq!(check("glpat", SECRET), Err(VerifyError::BadCredentials));
    }

    #[test]
    fn missing_header_fails() {
        let map = headers(&[]);
        assert_eq!(
            verify(&request(&map, b"{}", 0), SECRET),
            Err(VerifyError::MissingHeader(TOKEN_HEADER.to_owned()))
        );
    }

    #[test]
    fn malformed_header_fails() {
        assert_eq!(
            check("glpat-\u{e9}", SECRET),
            Err(VerifyError::MalformedHeader(TOKEN_HEADER.to_owned()))
        );
    }

    proptest! {
        #[test]
        fn arbitrary_tokens_never_panic_and_only_the_secret_passes(token in ".*") {
            let result = check(&token, SECRET);
            prop_assert_eq!(result.is_ok(), token.as_bytes() == SECRET);
        }
    }
}
