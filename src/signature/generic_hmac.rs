//! Generic HMAC: a configured header, algorithm (SHA-1/256/512), encoding (hex/base64),
//! optional prefix such as `sha256=`, and an optional timestamp header signed as
//! `"{timestamp}.{body}"` and checked against the tolerance.

use std::time::Duration;

use super::encoding::{decode_base64, decode_hex, encode_base64};
use super::{Request, Verified, VerifyError, mac, timestamp};
use crate::api::{HmacVerify, SignatureEncoding};

/// The signature bytes of a header value: the prefix (ASCII case-insensitive) is required
/// when configured, the rest is decoded with the configured encoding.
pub fn parse_header(settings: &HmacVerify, value: &str) -> Result<Vec<u8>, VerifyError> {
    let malformed = || VerifyError::MalformedHeader(settings.header.to_ascii_lowercase());
    let value = value.trim();
    let encoded = match settings.prefix.as_deref() {
        Some(prefix) => value
            .get(..prefix.len())
            .filter(|head| head.eq_ignore_ascii_case(prefix))
            .and_then(|_| value.get(prefix.len()..))
            .ok_or_else(malformed)?,
        None => value,
    };
    let decoded = match settings.encoding {
        SignatureEncoding::Hex => decode_hex(encoded),
        SignatureEncoding::Base64 => decode_base64(encoded),
    };
    decoded.filter(|tag| !tag.is_empty()).ok_or_else(malformed)
}

/// Verifies a request with the generic HMAC settings.
pub fn verify(
    request: &Request<'_>,
    settings: &HmacVerify,
    secret: &[u8],
    tolerance: Duration,
) -> Result<Verified, VerifyError> {
    let tag = parse_header(settings, request.header(&settings.header)?)?;
    let mut signed_at = None;
    let raw_timestamp = match settings.timestamp_header.as_deref() {
        Some(name) => {
            let raw = request.header(name)?.trim();
            let parsed = timestamp::parse(&name.to_ascii_lowercase(), raw)?;
            timestamp::check(parsed, request.now, tolerance)?;
            signed_at = Some(parsed);
            Some(raw)
        }
        None => None,
    };
    let ok = match raw_timestamp {
        Some(ts) => mac::verify(
            settings.algorithm,
            secret,
            &[ts.as_bytes(), b".", request.body],
            &tag,
        ),
        None => mac::verify(settings.algorithm, secret, &[request.body], &tag),
    };
    if !ok {
        return Err(VerifyError::BadSignature);
    }
    Ok(Verified {
        id: None,
        timestamp: signed_at,
    })
}

/// The signature header value for `body` under `settings`; `timestamp` is required exactly
/// when a timestamp header is configured (for tests and tools).
pub fn sign(
    settings: &HmacVerify,
    secret: &[u8],
    timestamp: Option<i64>,
    body: &[u8],
) -> Result<String, VerifyError> {
    let ts = timestamp.map(|t| t.to_string());
    let tag = match (&settings.timestamp_header, &ts) {
        (Some(_), Some(ts)) => mac::sign(settings.algorithm, secret, &[ts.as_bytes(), b".", body])?,
        (None, _) => mac::sign(settings.algorithm, secret, &[body])?,
        (Some(name), None) => return Err(VerifyError::MissingHeader(name.to_ascii_lowercase())),
    };
    let encoded = match settings.encoding {
        SignatureEncoding::Hex => hex::encode(tag),
        SignatureEncoding::Base64 => encode_base64(&tag),
    };
    Ok(format!(
        "{}{encoded}",
        settings.prefix.as_deref().unwrap_or("")
    ))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::api::HmacAlgorithm;
    use crate::signature::test_support::{flipped, headers, request};

    const TOLERANCE: Duration = Duration::from_secs(300);
    const NOW: i64 = 1_700_000_000;

    fn settings(
        algorithm: HmacAlgorithm,
        encoding: SignatureEncoding,
        prefix: Option<&str>,
        timestamp_header: Option<&str>,
    ) -> HmacVerify {
        HmacVerify {
            header: "X-Signature".into(),
            algorithm,
            encoding,
            prefix: prefix.map(str::to_owned),
            timestamp_header: timestamp_header.map(str::to_owned),
        }
    }

    fn github_like() -> HmacVerify {
        settings(
            HmacAlgorithm::Sha256,
            SignatureEncoding::Hex,
            Some("sha256="),
            None,
        )
    }

    fn timestamped() -> HmacVerify {
        settings(
            HmacAlgorithm::Sha512,
            SignatureEncoding::Base64,
            None,
            Some("X-Timestamp"),
        )
    }

    fn check(
        s: &HmacVerify,
        signature: &str,
        ts: &str,
        body: &[u8],
        secret: &[u8],
        now: i64,
    ) -> Result<Verified, VerifyError> {
        let map = headers(&[("x-signature", signature), ("x-timestamp", ts)]);
        verify(&request(&map, body, now), s, secret, TOLERANCE)
    }

    // Configured like GitHub, the generic scheme must reproduce GitHub Docs' example
    // (secret "It's a Secret to Everybody", payload "Hello, World!").
    #[test]
    fn github_settings_reproduce_github_vector() {
        let signature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        let secret = b"It's a Secret to Everybody";
        assert_eq!(
            sign(&github_like(), secret, None, b"Hello, World!").unwrap(),
            signature
        );
        assert!(check(&github_like(), signature, "", b"Hello, World!", secret, NOW).is_ok());
        assert!(
            check(
                &github_like(),
                &signature.replace("sha256", "SHA256"),
                "",
                b"Hello, World!",
                secret,
                NOW
            )
            .is_ok()
        );
    }

    // RFC 2202 test case 2: HMAC-SHA1, key "Jefe", "what do ya want for nothing?".
    #[test]
    fn sha1_hex_without_prefix_matches_rfc_2202() {
        let s = settings(HmacAlgorithm::Sha1, SignatureEncoding::Hex, None, None);
        let body = b"what do ya want for nothing?";
        assert!(
            check(
                &s,
                "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79",
                "",
                body,
                b"Jefe",
                NOW
            )
            .is_ok()
        );
    }

    #[test]
    fn timestamp_is_signed_and_checked() {
        let s = timestamped();
        let signature = sign(&s, b"k", Some(NOW), b"{}").unwrap();
        let verified = check(&s, &signature, &NOW.to_string(), b"{}", b"k", NOW + 300).unwrap();
        assert_eq!(verified.timestamp, Some(NOW));
        assert_eq!(
            check(&s, &signature, &NOW.to_string(), b"{}", b"k", NOW + 301),
            Err(VerifyError::StaleTimestamp)
        );
        assert_eq!(
            check(&s, &signature, &(NOW + 1).to_string(), b"{}", b"k", NOW),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn wrong_secret_and_tampered_body_fail() {
        let s = github_like();
        let signature = sign(&s, b"k", None, b"{}").unwrap();
        assert_eq!(
            check(&s, &signature, "", b"{}", b"K", NOW),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            check(&s, &signature, "", b"{ }", b"k", NOW),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn missing_headers_fail() {
        let map = headers(&[("x-timestamp", "1")]);
        assert_eq!(
            verify(&request(&map, b"{}", NOW), &github_like(), b"k", TOLERANCE),
            Err(VerifyError::MissingHeader("x-signature".into()))
        );
        let map = headers(&[("x-signature", "AAAA")]);
        assert_eq!(
            verify(&request(&map, b"{}", NOW), &timestamped(), b"k", TOLERANCE),
            Err(VerifyError::MissingHeader("x-timestamp".into()))
        );
    }

    #[test]
    fn malformed_headers_fail() {
        let malformed = Err(VerifyError::MalformedHeader("x-signature".into()));
        let s = github_like();
        assert_eq!(check(&s, "sha1=abcd", "", b"{}", b"k", NOW), malformed);
        assert_eq!(check(&s, "sha256=", "", b"{}", b"k", NOW), malformed);
        assert_eq!(check(&s, "sha256=nothex", "", b"{}", b"k", NOW), malformed);
        assert_eq!(
            check(&timestamped(), "***", "1", b"{}", b"k", NOW),
            malformed
        );
        assert_eq!(
            check(&timestamped(), "AAAA", "noon", b"{}", b"k", NOW),
            Err(VerifyError::MalformedHeader("x-timestamp".into()))
        );
    }

    fn any_settings() -> impl Strategy<Value = HmacVerify> {
        (
            prop_oneof![
                Just(HmacAlgorithm::Sha1),
                Just(HmacAlgorithm::Sha256),
                Just(HmacAlgorithm::Sha512)
            ],
            prop_oneof![
                Just(SignatureEncoding::Hex),
                Just(SignatureEncoding::Base64)
            ],
            proptest::option::of("[a-z0-9]{1,8}="),
            proptest::option::of(Just("X-Timestamp")),
        )
            .prop_map(|(a, e, p, t)| settings(a, e, p.as_deref(), t))
    }

    proptest! {
        #[test]
        fn header_parser_never_panics(s in any_settings(), value in ".*", ts in ".*") {
            let _ = parse_header(&s, &value);
            let _ = check(&s, &value, &ts, b"{}", b"k", NOW);
        }

        #[test]
        fn signed_bodies_verify(
            s in any_settings(),
            secret in proptest::collection::vec(any::<u8>(), 1..64),
            body in proptest::collection::vec(any::<u8>(), 0..512),
        ) {
            let signature = sign(&s, &secret, Some(NOW), &body).unwrap();
            prop_assert!(check(&s, &signature, &NOW.to_string(), &body, &secret, NOW).is_ok());
        }

        #[test]
        fn flipping_a_body_byte_fails(
            s in any_settings(),
            body in proptest::collection::vec(any::<u8>(), 1..512),
            index in any::<usize>(),
            mask in 1u8..,
        ) {
            let signature = sign(&s, b"k", Some(NOW), &body).unwrap();
            prop_assert_eq!(
                check(&s, &signature, &NOW.to_string(), &flipped(&body, index, mask), b"k", NOW),
                Err(VerifyError::BadSignature)
            );
        }
    }
}
