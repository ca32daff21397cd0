//! Shopify: `X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256 of the body>`.

use super::encoding::{decode_base64, encode_base64};
use super::{Request, Verified, VerifyError, mac};
use crate::api::HmacAlgorithm;

/// Header carrying the signature.
pub const SIGNATURE_HEADER: &str = "x-shopify-hmac-sha256";

/// The signature bytes of a base64 header value.
pub fn parse_header(value: &str) -> Result<Vec<u8>, VerifyError> {
    decode_base64(value).ok_or_else(|| VerifyError::MalformedHeader(SIGNATURE_HEADER.to_owned()))
}

/// Verifies a Shopify request's body against its `X-Shopify-Hmac-Sha256`.
pub fn verify(request: &Request<'_>, secret: &[u8]) -> Result<Verified, VerifyError> {
    let tag = parse_header(request.header(SIGNATURE_HEADER)?)?;
    if !mac::verify(HmacAlgorithm::Sha256, secret, &[request.body], &tag) {
        return Err(VerifyError::BadSignature);
    }
    Ok(Verified::default())
}

/// The `X-Shopify-Hmac-Sha256` value for `body` (for tests and tools).
pub fn sign(secret: &[u8], body: &[u8]) -> Result<String, VerifyError> {
    Ok(encode_base64(&mac::sign(
        HmacAlgorithm::Sha256,
        secret,
        &[body],
    )?))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::signature::test_support::{flipped, headers, request};

    // Shopify Docs ("Verify a webhook") publish the construction but no fixed vector; this
    // one was computed independently with Python's hmac and base64 modules.
    const SECRET: &[u8] = b"hush";
    const BODY: &[u8] = br#"{"id":1}"#;
    const SIGNATURE: &str = "VnKUjZsLuN5iZWjn5EntcBVCF9kMN43LglzCE1/GSeY=";

    fn check(header: &str, body: &[u8], secret: &[u8]) -> Result<Verified, VerifyError> {
        let map = headers(&[("X-Shopify-Hmac-Sha256", header)]);
        verify(&request(&map, body, 0), secret)
    }

    #[test]
    fn independent_vector() {
        assert_eq!(sign(SECRET, BODY).unwrap(), SIGNATURE);
        assert_eq!(check(SIGNATURE, BODY, SECRET), Ok(Verified::default()));
    }

    #[test]
    fn wrong_secret_fails() {
        assert_eq!(
            check(SIGNATURE, BODY, b"hash"),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn tampered_body_fails() {
        assert_eq!(
            check(SIGNATURE, br#"{"id":2}"#, SECRET),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn missing_header_fails() {
        let map = headers(&[]);
        assert_eq!(
            verify(&request(&map, BODY, 0), SECRET),
            Err(VerifyError::MissingHeader(SIGNATURE_HEADER.to_owned()))
        );
    }

    #[test]
    fn malformed_header_fails() {
        assert_eq!(
            check("not base64!", BODY, SECRET),
            Err(VerifyError::MalformedHeader(SIGNATURE_HEADER.to_owned()))
        );
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
