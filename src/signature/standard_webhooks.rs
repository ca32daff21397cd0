//! Standard Webhooks (<https://www.standardwebhooks.com>): `webhook-id`, `webhook-timestamp`
//! and `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, `whsec_` secrets.

use std::time::Duration;

use super::encoding::{decode_base64, encode_base64};
use super::{Request, Verified, VerifyError, mac, timestamp};
use crate::api::HmacAlgorithm;

/// Header with the message id, stable across retries.
pub const ID_HEADER: &str = "webhook-id";
/// Header with the unix-seconds send time.
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
/// Header with space-separated `version,signature` entries.
pub const SIGNATURE_HEADER: &str = "webhook-signature";
/// Prefix of a Standard Webhooks secret; the rest is the base64 key.
pub const SECRET_PREFIX: &str = "whsec_";

/// Bytes of key in a generated secret.
const GENERATED_KEY_BYTES: usize = 32;

/// Decodes a `whsec_<base64>` secret (bare base64 is accepted too) into the HMAC key.
pub fn decode_secret(secret: &[u8]) -> Result<Vec<u8>, VerifyError> {
    let encoded = secret
        .strip_prefix(SECRET_PREFIX.as_bytes())
        .unwrap_or(secret);
    match decode_base64(encoded) {
        Some(key) if !key.is_empty() => Ok(key),
        _ => Err(VerifyError::MalformedSecret),
    }
}

/// Splits a `webhook-signature` value into `(version, signature)` entries; tokens without a
/// comma are skipped, and a value with no entry at all is malformed.
pub fn parse_signatures(value: &str) -> Result<Vec<(&str, &str)>, VerifyError> {
    let entries: Vec<(&str, &str)> = value
        .split_ascii_whitespace()
        .filter_map(|token| token.split_once(','))
        .collect();
    if entries.is_empty() {
        return Err(VerifyError::MalformedHeader(SIGNATURE_HEADER.to_owned()));
    }
    Ok(entries)
}

/// Verifies a Standard Webhooks request: any `v1` entry matching passes, other versions are
/// ignored, and the timestamp must be within `tolerance` of `request.now`.
pub fn verify(
    request: &Request<'_>,
    secret: &[u8],
    tolerance: Duration,
) -> Result<Verified, VerifyError> {
    let key = decode_secret(secret)?;
    let id = request.header(ID_HEADER)?;
    let raw_timestamp = request.header(TIMESTAMP_HEADER)?;
    let signatures = parse_signatures(request.header(SIGNATURE_HEADER)?)?;
    let signed_at = timestamp::parse(TIMESTAMP_HEADER, raw_timestamp)?;
    timestamp::check(signed_at, request.now, tolerance)?;

    let signed_at_text = signed_at.to_string();
    let content = signed_content(id, &signed_at_text, request.body);
    let matched = signatures
        .iter()
        .filter(|(version, _)| *version == "v1")
        .filter_map(|(_, signature)| decode_base64(signature))
        .any(|tag| mac::verify(HmacAlgorithm::Sha256, &key, &content, &tag));
    if !matched {
        return Err(VerifyError::BadSignature);
    }
    Ok(Verified {
        id: Some(id.to_owned()),
        timestamp: Some(signed_at),
    })
}

/// The `webhook-signature` value for a message: one `v1,<base64>` entry per secret,
/// space-separated, so that receivers keep verifying during a secret rotation.
pub fn sign(
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
    secrets: &[&str],
) -> Result<String, VerifyError> {
    if secrets.is_empty() {
        return Err(VerifyError::MissingSecret("secret"));
    }
    let signed_at = timestamp.to_string();
    let content = signed_content(msg_id, &signed_at, body);
    let entries = secrets
        .iter()
        .map(|secret| {
            let key = decode_secret(secret.as_bytes())?;
            let tag = mac::sign(HmacAlgorithm::Sha256, &key, &content)?;
            Ok(format!("v1,{}", encode_base64(&tag)))
        })
        .collect::<Result<Vec<_>, VerifyError>>()?;
    Ok(entries.join(" "))
}

/// A new random secret: `whsec_` followed by the base64 of 32 random bytes.
pub fn generate_secret() -> String {
    let mut key = [0u8; GENERATED_KEY_BYTES];
    rand::fill(&mut key[..]);
    format!("{SECRET_PREFIX}{}", encode_base64(&key))
}

fn signed_content<'a>(id: &'a str, timestamp: &'a str, body: &'a [u8]) -> [&'a [u8]; 5] {
    [id.as_bytes(), b".", timestamp.as_bytes(), b".", body]
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::signature::test_support::{flipped, headers, request};

    // Test vector of the Standard Webhooks reference libraries (standard-webhooks repository,
    // e.g. its JavaScript and Python test suites), also used by Svix's libraries.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const MSG_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TIMESTAMP: i64 = 1614265330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    const TOLERANCE: Duration = Duration::from_secs(300);

    fn check(
        signature: &str,
        body: &[u8],
        secret: &str,
        now: i64,
    ) -> Result<Verified, VerifyError> {
        let map = headers(&[
            ("webhook-id", MSG_ID),
            ("webhook-timestamp", "1614265330"),
            ("webhook-signature", signature),
        ]);
        verify(&request(&map, body, now), secret.as_bytes(), TOLERANCE)
    }

    #[test]
    fn library_vector_signs_and_verifies() {
        assert_eq!(sign(MSG_ID, TIMESTAMP, BODY, &[SECRET]).unwrap(), SIGNATURE);
        let verified = check(SIGNATURE, BODY, SECRET, TIMESTAMP).unwrap();
        assert_eq!(verified.id.as_deref(), Some(MSG_ID));
        assert_eq!(verified.timestamp, Some(TIMESTAMP));
    }

    #[test]
    fn secret_without_prefix_is_base64_too() {
        assert!(
            check(
                SIGNATURE,
                BODY,
                "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                TIMESTAMP
            )
            .is_ok()
        );
    }

    #[test]
    fn any_v1_entry_passes_and_other_versions_are_ignored() {
        let header = format!("v1a,abc v1,bm90LXRoaXM= {SIGNATURE} junk");
        assert!(check(&header, BODY, SECRET, TIMESTAMP).is_ok());
        let other_version = SIGNATURE.replace("v1,", "v2,");
        assert_eq!(
            check(&other_version, BODY, SECRET, TIMESTAMP),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn rotation_signs_once_per_secret() {
        let other = generate_secret();
        let header = sign(MSG_ID, TIMESTAMP, BODY, &[&other, SECRET]).unwrap();
        let entries: Vec<&str> = header.split(' ').collect();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1], SIGNATURE);
        assert!(check(&header, BODY, &other, TIMESTAMP).is_ok());
        assert!(check(&header, BODY, SECRET, TIMESTAMP).is_ok());
    }

    #[test]
    fn generated_secrets_are_fresh_32_byte_keys() {
        let secret = generate_secret();
        assert!(secret.starts_with("whsec_"));
        assert_eq!(decode_secret(secret.as_bytes()).unwrap().len(), 32);
        assert_ne!(secret, generate_secret());
    }

    #[test]
    fn wrong_secret_fails() {
        let other = generate_secret();
        assert_eq!(
            check(SIGNATURE, BODY, &other, TIMESTAMP),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn tampered_body_fails() {
        assert_eq!(
            check(SIGNATURE, br#"{"test": 2432232315}"#, SECRET, TIMESTAMP),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn stale_or_future_timestamp_fails() {
        assert!(check(SIGNATURE, BODY, SECRET, TIMESTAMP + 300).is_ok());
        assert_eq!(
            check(SIGNATURE, BODY, SECRET, TIMESTAMP + 301),
            Err(VerifyError::StaleTimestamp)
        );
        assert_eq!(
            check(SIGNATURE, BODY, SECRET, TIMESTAMP - 301),
            Err(VerifyError::StaleTimestamp)
        );
    }

    #[test]
    fn missing_headers_are_named() {
        for missing in [ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER] {
            let pairs: Vec<(&str, &str)> = [
                (ID_HEADER, MSG_ID),
                (TIMESTAMP_HEADER, "1614265330"),
                (SIGNATURE_HEADER, SIGNATURE),
            ]
            .into_iter()
            .filter(|(name, _)| *name != missing)
            .collect();
            let map = headers(&pairs);
            assert_eq!(
                verify(
                    &request(&map, BODY, TIMESTAMP),
                    SECRET.as_bytes(),
                    TOLERANCE
                ),
                Err(VerifyError::MissingHeader(missing.to_owned()))
            );
        }
    }

    #[test]
    fn malformed_headers_are_named() {
        assert_eq!(
            check("g0hM9SsE", BODY, SECRET, TIMESTAMP),
            Err(VerifyError::MalformedHeader(SIGNATURE_HEADER.to_owned()))
        );
        let map = headers(&[
            (ID_HEADER, MSG_ID),
            (TIMESTAMP_HEADER, "yesterday"),
            (SIGNATURE_HEADER, SIGNATURE),
        ]);
        assert_eq!(
            verify(
                &request(&map, BODY, TIMESTAMP),
                SECRET.as_bytes(),
                TOLERANCE
            ),
            Err(VerifyError::MalformedHeader(TIMESTAMP_HEADER.to_owned()))
        );
    }

    #[test]
    fn malformed_or_missing_secret() {
        assert_eq!(
            check(SIGNATURE, BODY, "whsec_***", TIMESTAMP),
            Err(VerifyError::MalformedSecret)
        );
        assert_eq!(
            check(SIGNATURE, BODY, "whsec_", TIMESTAMP),
            Err(VerifyError::MalformedSecret)
        );
        assert_eq!(
            sign(MSG_ID, TIMESTAMP, BODY, &[]),
            Err(VerifyError::MissingSecret("secret"))
        );
    }

    proptest! {
        #[test]
        fn signature_list_parser_never_panics(value in ".*") {
            let _ = parse_signatures(&value);
        }

        #[test]
        fn arbitrary_header_bytes_never_panic(value in proptest::collection::vec(any::<u8>(), 0..200)) {
            let text = String::from_utf8_lossy(&value);
            let _ = check(&text, BODY, SECRET, TIMESTAMP);
        }

        #[test]
        fn signed_messages_verify(
            id in "[a-zA-Z0-9_]{1,40}",
            body in proptest::collection::vec(any::<u8>(), 0..512),
            ts in 0i64..4_000_000_000,
        ) {
            let secret = generate_secret();
            let header = sign(&id, ts, &body, &[&secret]).unwrap();
            let ts_text = ts.to_string();
            let map = headers(&[(ID_HEADER, &id), (TIMESTAMP_HEADER, &ts_text), (SIGNATURE_HEADER, &header)]);
            let verified = verify(&request(&map, &body, ts), secret.as_bytes(), TOLERANCE).unwrap();
            prop_assert_eq!(verified.id, Some(id));
        }

        #[test]
        fn flipping_a_body_byte_fails(
            body in proptest::collection::vec(any::<u8>(), 1..512),
            index in any::<usize>(),
            mask in 1u8..,
        ) {
            let header = sign(MSG_ID, TIMESTAMP, &body, &[SECRET]).unwrap();
            let tampered = flipped(&body, index, mask);
            prop_assert_eq!(check(&header, &tampered, SECRET, TIMESTAMP), Err(VerifyError::BadSignature));
        }
    }
}
