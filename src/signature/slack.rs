//! Slack: `X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:{timestamp}:{body}">` with the time in
//! `X-Slack-Request-Timestamp`, checked against the tolerance.

use std::time::Duration;

use super::encoding::decode_hex;
use super::{Request, Verified, VerifyError, mac, timestamp};
use crate::api::HmacAlgorithm;

/// Header carrying the signature.
pub const SIGNATURE_HEADER: &str = "x-slack-signature";
/// Header carrying the unix-seconds request time.
pub const TIMESTAMP_HEADER: &str = "x-slack-request-timestamp";
/// Version prefix of the signature and of the signed text.
pub const VERSION: &str = "v0";

/// The signature bytes of a `v0=<hex>` value.
pub fn parse_signature(value: &str) -> Result<Vec<u8>, VerifyError> {
    value
        .trim()
        .strip_prefix("v0=")
        .and_then(decode_hex)
        .ok_or_else(|| VerifyError::MalformedHeader(SIGNATURE_HEADER.to_owned()))
}

/// Verifies a Slack request's signature and timestamp.
pub fn verify(
    request: &Request<'_>,
    secret: &[u8],
    tolerance: Duration,
) -> Result<Verified, VerifyError> {
    let tag = parse_signature(request.header(SIGNATURE_HEADER)?)?;
    let raw_timestamp = request.header(TIMESTAMP_HEADER)?.trim();
    let signed_at = timestamp::parse(TIMESTAMP_HEADER, raw_timestamp)?;
    timestamp::check(signed_at, request.now, tolerance)?;
    let content = signed_content(raw_timestamp, request.body);
    if !mac::verify(HmacAlgorithm::Sha256, secret, &content, &tag) {
        return Err(VerifyError::BadSignature);
    }
    Ok(Verified {
        id: None,
        timestamp: Some(signed_at),
    })
}

/// The `X-Slack-Signature` value for `body` sent at `timestamp` (for tests and tools).
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> Result<String, VerifyError> {
    let text = timestamp.to_string();
    let tag = mac::sign(HmacAlgorithm::Sha256, secret, &signed_content(&text, body))?;
    Ok(format!("{VERSION}={}", hex::encode(tag)))
}

fn signed_content<'a>(timestamp: &'a str, body: &'a [u8]) -> [&'a [u8]; 5] {
    [VERSION.as_bytes(), b":", timestamp.as_bytes(), b":", body]
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::signature::test_support::{flipped, headers, request};

    // Slack API docs, "Verifying requests from Slack", worked example. The body is the
    // documented slash-command body (`command=%2Fwebhook-collect`); the documented signature
    // does not match a body with any other command.
    const SECRET: &[u8] = b"8f742231b10e8888abcd99yyyzzz85a5";
    const TS: i64 = 1531420618;
    const BODY: &[u8] = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
    const TOLERANCE: Duration = Duration::from_secs(300);

    fn check(
        signature: &str,
        ts: &str,
        body: &[u8],
        secret: &[u8],
        now: i64,
    ) -> Result<Verified, VerifyError> {
        let map = headers(&[
            ("X-Slack-Signature", signature),
            ("X-Slack-Request-Timestamp", ts),
        ]);
        verify(&request(&map, body, now), secret, TOLERANCE)
    }

    #[test]
    fn documented_example() {
        assert_eq!(sign(SECRET, TS, BODY).unwrap(), SIGNATURE);
        assert_eq!(
            check(SIGNATURE, "1531420618", BODY, SECRET, TS)
                .unwrap()
                .timestamp,
            Some(TS)
        );
    }

    #[test]
    fn wrong_secret_fails() {
        assert_eq!(
            check(
                SIGNATURE,
                "1531420618",
                BODY,
                b"8f742231b10e8888abcd99yyyzzz85a6",
                TS
            ),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn tampered_body_fails() {
        let tampered = String::from_utf8_lossy(BODY).replace("webhook-collect", "webbot");
        assert_eq!(
            check(SIGNATURE, "1531420618", tampered.as_bytes(), SECRET, TS),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn stale_timestamp_fails() {
        assert_eq!(
            check(SIGNATURE, "1531420618", BODY, SECRET, TS + 301),
            Err(VerifyError::StaleTimestamp)
        );
    }

    #[test]
    fn missing_headers_fail() {
        let map = headers(&[("X-Slack-Signature", SIGNATURE)]);
        assert_eq!(
            verify(&request(&map, BODY, TS), SECRET, TOLERANCE),
            Err(VerifyError::MissingHeader(TIMESTAMP_HEADER.to_owned()))
        );
        let map = headers(&[("X-Slack-Request-Timestamp", "1531420618")]);
        assert_eq!(
            verify(&request(&map, BODY, TS), SECRET, TOLERANCE),
            Err(VerifyError::MissingHeader(SIGNATURE_HEADER.to_owned()))
        );
    }

    #[test]
    fn malformed_headers_fail() {
        let bad_signature = Err(VerifyError::MalformedHeader(SIGNATURE_HEADER.to_owned()));
        assert_eq!(
            check(
                &SIGNATURE.replace("v0=", "v1="),
                "1531420618",
                BODY,
                SECRET,
                TS
            ),
            bad_signature
        );
        assert_eq!(
            check("v0=zz", "1531420618", BODY, SECRET, TS),
            bad_signature
        );
        assert_eq!(
            check(SIGNATURE, "1531420618.5", BODY, SECRET, TS),
            Err(VerifyError::MalformedHeader(TIMESTAMP_HEADER.to_owned()))
        );
    }

    proptest! {
        #[test]
        fn header_parsers_never_panic(signature in ".*", ts in ".*") {
            let _ = parse_signature(&signature);
            let _ = check(&signature, &ts, BODY, SECRET, TS);
        }

        #[test]
        fn signed_bodies_verify(
            secret in proptest::collection::vec(any::<u8>(), 1..64),
            body in proptest::collection::vec(any::<u8>(), 0..512),
            ts in 0i64..4_000_000_000,
        ) {
            let signature = sign(&secret, ts, &body).unwrap();
            prop_assert!(check(&signature, &ts.to_string(), &body, &secret, ts).is_ok());
        }

        #[test]
        fn flipping_a_body_byte_fails(
            body in proptest::collection::vec(any::<u8>(), 1..512),
            index in any::<usize>(),
            mask in 1u8..,
        ) {
            let signature = sign(SECRET, TS, &body).unwrap();
            prop_assert_eq!(
                check(&signature, "1531420618", &flipped(&body, index, mask), SECRET, TS),
                Err(VerifyError::BadSignature)
            );
        }
    }
}
