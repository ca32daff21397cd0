//! Parsing of the `Authorization` header for the Basic and Bearer schemes.

use super::VerifyError;
use super::encoding::decode_base64;

/// The `Authorization` header name.
pub const AUTHORIZATION: &str = "authorization";

/// The credentials part after an auth scheme name (ASCII case-insensitive), e.g. `Bearer`.
pub fn credentials<'a>(value: &'a str, scheme: &str) -> Result<&'a str, VerifyError> {
    let (name, rest) = value.trim().split_once(' ').ok_or_else(malformed)?;
    let rest = rest.trim();
    if !name.eq_ignore_ascii_case(scheme) || rest.is_empty() {
        return Err(malformed());
    }
    Ok(rest)
}

/// The user name and password of a `Basic base64(user:password)` value.
pub fn parse_basic(value: &str) -> Result<(Vec<u8>, Vec<u8>), VerifyError> {
    let decoded = decode_base64(credentials(value, "Basic")?).ok_or_else(malformed)?;
    // The user name ends at the first colon; the password may hold more.
    let mut parts = decoded.splitn(2, |&b| b == b':');
    let user = parts.next().unwrap_or_default();
    let password = parts.next().ok_or_else(malformed)?;
    Ok((user.to_vec(), password.to_vec()))
}

/// The token of a `Bearer <token>` value.
pub fn parse_bearer(value: &str) -> Result<&str, VerifyError> {
    credentials(value, "Bearer")
}

fn malformed() -> VerifyError {
    VerifyError::MalformedHeader(AUTHORIZATION.to_owned())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    // RFC 7617 section 2 example: "Aladdin" / "open sesame".
    #[test]
    fn rfc_7617_example() {
        let (user, password) = parse_basic("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==").unwrap();
        assert_eq!(user, b"Aladdin");
        assert_eq!(password, b"open sesame");
        assert!(parse_basic("basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==").is_ok());
    }

    #[test]
    fn password_may_hold_colons_and_be_empty() {
        let (user, password) = parse_basic("Basic dTphOmI=").unwrap(); // "u:a:b"
        assert_eq!(
            (user.as_slice(), password.as_slice()),
            (&b"u"[..], &b"a:b"[..])
        );
        let (_, password) = parse_basic("Basic dTo=").unwrap(); // "u:"
        assert!(password.is_empty());
    }

    #[test]
    fn malformed_values() {
        let malformed = Err(VerifyError::MalformedHeader(AUTHORIZATION.into()));
        assert_eq!(parse_basic("Bearer abc"), malformed);
        assert_eq!(parse_basic("Basic"), malformed);
        assert_eq!(parse_basic("Basic !!!"), malformed);
        assert_eq!(parse_basic("Basic dXNlcg=="), malformed); // "user", no colon
        assert_eq!(
            parse_bearer("Basic abc"),
            Err(VerifyError::MalformedHeader(AUTHORIZATION.into()))
        );
        assert_eq!(
            parse_bearer("Bearer   "),
            Err(VerifyError::MalformedHeader(AUTHORIZATION.into()))
        );
        assert_eq!(parse_bearer("bearer t0k"), Ok("t0k"));
    }

    proptest! {
        #[test]
        fn parsers_never_panic(value in ".*") {
            let _ = parse_basic(&value);
            let _ = parse_bearer(&value);
        }

        #[test]
        fn basic_round_trips(user in "[^:]*", password in ".*") {
            let encoded = crate::signature::encoding::encode_base64(format!("{user}:{password}").as_bytes());
            let (u, p) = parse_basic(&format!("Basic {encoded}")).unwrap();
            prop_assert_eq!(u, user.into_bytes());
            prop_assert_eq!(p, password.into_bytes());
        }
    }
}
