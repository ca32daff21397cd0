//! Bearer tokens: `Authorization: Bearer <token>`, compared in constant time.

use super::authorization::{AUTHORIZATION, parse_bearer};
use super::{Request, Verified, VerifyError, mac};

/// Verifies that the request's bearer token equals `token`.
pub fn verify(request: &Request<'_>, token: &[u8]) -> Result<Verified, VerifyError> {
    let presented = parse_bearer(request.header(AUTHORIZATION)?)?;
    if !mac::constant_time_eq(presented.as_bytes(), token) {
        return Err(VerifyError::BadCredentials);
    }
    Ok(Verified::default())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::signature::test_support::{headers, request};

    // RFC 6750 section 2.1 example token.
    const TOKEN: &[u8] = b"mF_9.B5f-4.1JqM";

    fn check(value: &str) -> Result<Verified, VerifyError> {
        let map = headers(&[("Authorization", value)]);
        verify(&request(&map, b"{}", 0), TOKEN)
    }

    #[test]
    fn rfc_6750_example_passes() {
        assert_eq!(check("Bearer mF_9.B5f-4.1JqM"), Ok(Verified::default()));
        assert_eq!(check("bearer mF_9.B5f-4.1JqM"), Ok(Verified::default()));
    }

    #[test]
    fn wrong_token_fails() {
        assert_eq!(
            check("Bearer mF_9.B5f-4.1JqN"),
            Err(VerifyError::BadCredentials)
        );
        assert_eq!(check("Bearer mF_9"), Err(VerifyError::BadCredentials));
    }

    #[test]
    fn missing_header_fails() {
        let map = headers(&[]);
        assert_eq!(
            verify(&request(&map, b"{}", 0), TOKEN),
            Err(VerifyError::MissingHeader(AUTHORIZATION.into()))
        );
    }

    #[test]
    fn malformed_header_fails() {
        assert_eq!(
            check("mF_9.B5f-4.1JqM"),
            Err(VerifyError::MalformedHeader(AUTHORIZATION.into()))
        );
        assert_eq!(
            check("Basic mF_9.B5f-4.1JqM"),
            Err(VerifyError::MalformedHeader(AUTHORIZATION.into()))
        );
    }

    proptest! {
        #[test]
        fn arbitrary_values_never_panic_and_only_the_token_passes(value in ".*") {
            let passed = check(&value).is_ok();
            prop_assert!(!passed || value.trim().ends_with("mF_9.B5f-4.1JqM"));
        }

        #[test]
        fn presented_tokens_verify(token in "[A-Za-z0-9._~+/-]{1,64}") {
            let map = headers(&[("Authorization", &format!("Bearer {token}"))]);
            prop_assert!(verify(&request(&map, b"", 0), token.as_bytes()).is_ok());
        }
    }
}
