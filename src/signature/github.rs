//! GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`, inbound and outbound.

use super::encoding::decode_hex;
use super::{Request, Verified, VerifyError, mac};
use crate::api::HmacAlgorithm;

/// Header carrying the signature.
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";
/// Text before the hex signature.
pub const PREFIX: &str = "sha256=";

/// Verifies a GitHub request's body against its `X-Hub-Signature-256`.
pub fn verify(request: &Request<'_>, secret: &[u8]) -> Result<Verified, VerifyError> {
    let tag = parse_header(request.header(SIGNATURE_HEADER)?)?;
    if !mac::verify(HmacAlgorithm::Sha256, secret, &[request.body], &tag) {
        return Err(VerifyError::BadSignature);
    }
    Ok(Verified::default())
}

/// The signature bytes of a `sha256=<hex>` value.
pub fn parse_header(value: &str) -> Result<Vec<u8>, VerifyError> {
    value
        .trim()
        .strip_prefix(PREFIX)
        .and_then(decode_hex)
        .ok_or_else(|| VerifyError::MalformedHeader(SIGNATURE_HEADER.to_owned()))
}

/// The `X-Hub-Signature-256` value for `body`: `sha256=<hex>`.
pub fn sign(secret: &[u8], body: &[u8]) -> Result<String, VerifyError> {
    let tag = mac::sign(HmacAlgorithm::Sha256, secret, &[body])?;
    Ok(format!("{PREFIX}{}", hex::encode(tag)))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::signature::test_support::{flipped, headers, request};

    // GitHub Docs, "Validating webhook deliveries", testing the webhook payload validation.
    const SECRET: &[u8] = b"It's a Secret to Everybody";
    const BODY: &[u8] = b"Hello, World!";
    const SIGNATURE: &str =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    fn check(header: &str, body: &[u8], secret: &[u8]) -> Result<Verified, VerifyError> {
        let map = headers(&[("X-Hub-Signature-256", header)]);
        verify(&request(&map, body, 0), secret)
    }

    #[test]
    fn documented_example() {
        assert_eq!(sign(SECRET, BODY).unwrap(), SIGNATURE);
        assert_eq!(check(SIGNATURE, BODY, SECRET), Ok(Verified::default()));
        assert!(
            check(
                &SIGNATURE.to_uppercase().replace("SHA256=", "sha256="),
                BODY,
                SECRET
            )
            .is_ok()
        );
    }

    #[test]
    fn wrong_secret_fails() {
        assert_eq!(
            check(SIGNATURE, BODY, b"It's a secret to everybody"),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn tampered_body_fails() {
        assert_eq!(
            check(SIGNATURE, b"Hello, World?", SECRET),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn missing_header_fails() {
        let map = headers(&[("X-Hub-Signature", "sha1=0")]);
        assert_eq!(
            verify(&request(&map, BODY, 0), SECRET),
            Err(VerifyError::MissingHeader(SIGNATURE_HEADER.to_owned()))
        );
    }

    #[test]
    fn malformed_header_fails() {
        let malformed = Err(VerifyError::MalformedHeader(SIGNATURE_HEADER.to_owned()));
        assert_eq!(
            check(&SIGNATURE.replace("sha256=", "sha1="), BODY, SECRET),
            malformed
        );
        assert_eq!(check("sha256=xyz", BODY, SECRET), malformed);
    }

    proptest! {
        #[test]
        fn header_parser_never_panics(value in ".*") {
            let _ = parse_header(&value);
            let _ = check(&value, BODY, SECRET);
        }

        #[test]
        fn signed_bodies_verify(
            secret in proptest::collection::vec(any::<u8>(), 1..64),
            body in proptest::collection::vec(any::<u8>(), 0..512),
        ) {
            let header = sign(&secret, &body).unwrap();
            prop_assert!(check(&header, &body, &secret).is_ok());
        }

        #[test]
        fn flipping_a_body_byte_fails(
            body in proptest::collection::vec(any::<u8>(), 1..512),
            index in any::<usize>(),
            mask in 1u8..,
        ) {
            let header = sign(SECRET, &body).unwrap();
            prop_assert_eq!(check(&header, &flipped(&body, index, mask), SECRET), Err(VerifyError::BadSignature));
        }
    }
}
