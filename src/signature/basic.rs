//! HTTP Basic: `Authorization: Basic base64(username:password)`, compared in constant time.

use super::authorization::{AUTHORIZATION, parse_basic};
use super::encoding::encode_base64;
use super::{Request, Verified, VerifyError, mac};

/// Verifies the request's Basic credentials against `username` and `password`.
pub fn verify(
    request: &Request<'_>,
    username: &[u8],
    password: &[u8],
) -> Result<Verified, VerifyError> {
    let (user, pass) = parse_basic(request.header(AUTHORIZATION)?)?;
    // Both comparisons run, so timing does not tell which part was wrong.
    let user_ok = mac::constant_time_eq(&user, username);
    let pass_ok = mac::constant_time_eq(&pass, password);
    if !(user_ok & pass_ok) {
        return Err(VerifyError::BadCredentials);
    }
    Ok(Verified::default())
}

/// The `Authorization` value for `username` and `password`.
pub fn header_value(username: &[u8], password: &[u8]) -> String {
    format!(
        "Basic {}",
        encode_base64(&[username, b":", password].concat())
    )
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::signature::test_support::{headers, request};

    fn check(value: &str) -> Result<Verified, VerifyError> {
        let map = headers(&[("Authorization", value)]);
        verify(&request(&map, b"{}", 0), b"Aladdin", b"open sesame")
    }

    // RFC 7617 section 2 example.
    #[test]
    fn rfc_7617_credentials_pass() {
        assert_eq!(
            header_value(b"Aladdin", b"open sesame"),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert_eq!(
            check("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="),
            Ok(Verified::default())
        );
    }

    #[test]
    fn wrong_user_or_password_fails() {
        assert_eq!(
            check(&header_value(b"Aladdin", b"open sesame!")),
            Err(VerifyError::BadCredentials)
        );
        assert_eq!(
            check(&header_value(b"aladdin", b"open sesame")),
            Err(VerifyError::BadCredentials)
        );
    }

    #[test]
    fn missing_header_fails() {
        let map = headers(&[]);
        assert_eq!(
            verify(&request(&map, b"{}", 0), b"u", b"p"),
            Err(VerifyError::MissingHeader(AUTHORIZATION.into()))
        );
    }

    #[test]
    fn malformed_header_fails() {
        assert_eq!(
            check("Basic ???"),
            Err(VerifyError::MalformedHeader(AUTHORIZATION.into()))
        );
        assert_eq!(
            check("Digest abc"),
            Err(VerifyError::MalformedHeader(AUTHORIZATION.into()))
        );
    }

    proptest! {
        #[test]
        fn arbitrary_values_never_panic(value in ".*") {
            let _ = check(&value);
        }

        #[test]
        fn built_headers_verify(user in "[^:]{1,20}", password in ".{0,20}") {
            let map = headers(&[("Authorization", &header_value(user.as_bytes(), password.as_bytes()))]);
            prop_assert!(verify(&request(&map, b"", 0), user.as_bytes(), password.as_bytes()).is_ok());
        }
    }
}
