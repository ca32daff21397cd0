//! Twilio: `X-Twilio-Signature: <base64 HMAC-SHA1>` keyed with the auth token, over the full
//! public URL followed, for form bodies, by every parameter's name and value in sorted order.
//! JSON bodies are signed over the URL alone, whose `bodySHA256` query parameter must be the
//! hex SHA-256 of the body.

use sha2::{Digest, Sha256};

use super::encoding::{decode_base64, encode_base64};
use super::{Request, Verified, VerifyError, form, mac};
use crate::api::HmacAlgorithm;

/// Header carrying the signature.
pub const SIGNATURE_HEADER: &str = "x-twilio-signature";
/// Query parameter with the body hash of JSON requests.
pub const BODY_HASH_PARAM: &str = "bodySHA256";

/// Verifies a Twilio request sent to the public `request.url`.
///
/// As Twilio's libraries do, the URL is tried as given, without its port, and with the
/// scheme's default port, since Twilio may sign either form.
pub fn verify(request: &Request<'_>, auth_token: &[u8]) -> Result<Verified, VerifyError> {
    let tag = decode_base64(request.header(SIGNATURE_HEADER)?)
        .ok_or_else(|| VerifyError::MalformedHeader(SIGNATURE_HEADER.to_owned()))?;
    let url = parse_url(request.url)?;
    let body_hash = body_hash_param(&url);
    let params = match body_hash {
        Some(_) => String::new(),
        None => form::concatenated(request.body),
    };
    let matched = url_variants(request.url).iter().any(|candidate| {
        mac::verify(
            HmacAlgorithm::Sha1,
            auth_token,
            &[candidate.as_bytes(), params.as_bytes()],
            &tag,
        )
    });
    if !matched {
        return Err(VerifyError::BadSignature);
    }
    if let Some(expected) = body_hash
        && !expected.eq_ignore_ascii_case(&body_sha256(request.body))
    {
        return Err(VerifyError::BodyHashMismatch);
    }
    Ok(Verified::default())
}

/// The `X-Twilio-Signature` value for a request to `url` with `body` (for tests and tools).
pub fn sign(auth_token: &[u8], url: &str, body: &[u8]) -> Result<String, VerifyError> {
    let parsed = parse_url(url)?;
    let params = match body_hash_param(&parsed) {
        Some(_) => String::new(),
        None => form::concatenated(body),
    };
    let tag = mac::sign(
        HmacAlgorithm::Sha1,
        auth_token,
        &[url.as_bytes(), params.as_bytes()],
    )?;
    Ok(encode_base64(&tag))
}

/// The lowercase hex SHA-256 of a body, as Twilio puts it in `bodySHA256`.
pub fn body_sha256(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

fn parse_url(url: &str) -> Result<url::Url, VerifyError> {
    match url::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.has_host() => {
            Ok(parsed)
        }
        _ => Err(VerifyError::MalformedUrl),
    }
}

fn body_hash_param(url: &url::Url) -> Option<String> {
    url.query_pairs()
        .find(|(name, _)| name == BODY_HASH_PARAM)
        .map(|(_, value)| value.into_owned())
}

/// The URL as given, without a port, and with the scheme's default port when it has none.
fn url_variants(url: &str) -> Vec<String> {
    let mut variants = vec![url.to_owned()];
    let Some((scheme, rest)) = url.split_once("://") else {
        return variants;
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let host_start = authority.rfind('@').map_or(0, |at| at + 1);
    let (userinfo, host_port) = authority.split_at(host_start);
    // A colon after the last `]` (IPv6 literals) separates the port.
    let port_colon = host_port
        .rfind(':')
        .filter(|&colon| !host_port[colon..].contains(']'));
    let host = port_colon.map_or(host_port, |colon| &host_port[..colon]);
    variants.push(format!("{scheme}://{userinfo}{host}{tail}"));
    if port_colon.is_none() {
        let default_port = if scheme.eq_ignore_ascii_case("https") {
            443
        } else {
            80
        };
        variants.push(format!("{scheme}://{userinfo}{host}:{default_port}{tail}"));
    }
    variants.dedup();
    variants
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::signature::test_support::{flipped, headers};

    // Twilio Docs, "Webhooks security" worked example, and twilio-python's
    // tests/unit/test_request_validator.py (auth token "12345").
    const TOKEN: &[u8] = b"12345";
    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
    const DOCS_FORM: &[u8] = b"CallSid=CA1234567890ABCDE&Caller=%2B12349013030&Digits=1234&From=%2B12349013030&To=%2B18005551212";
    const DOCS_SIGNATURE: &str = "0/KCTR6DLpKmkAf8muzZqo1nDgQ=";
    const LIB_FORM: &[u8] = b"CallSid=CA1234567890ABCDE&Digits=1234&From=%2B14158675309&To=%2B18005551212&Caller=%2B14158675309";
    const LIB_SIGNATURE: &str = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";
    const JSON_BODY: &[u8] = br#"{"property": "value", "boolean": true}"#;
    const JSON_HASH: &str = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
    const JSON_SIGNATURE: &str = "a9nBmqA0ju/hNViExpshrM61xv4=";

    fn check(
        signature: &str,
        url: &str,
        body: &[u8],
        token: &[u8],
    ) -> Result<Verified, VerifyError> {
        let map = headers(&[("X-Twilio-Signature", signature)]);
        let request = Request {
            headers: &map,
            body,
            url,
            now: 0,
        };
        verify(&request, token)
    }

    fn json_url() -> String {
        format!("{URL}&bodySHA256={JSON_HASH}")
    }

    #[test]
    fn documented_form_example() {
        assert_eq!(sign(TOKEN, URL, DOCS_FORM).unwrap(), DOCS_SIGNATURE);
        assert_eq!(
            check(DOCS_SIGNATURE, URL, DOCS_FORM, TOKEN),
            Ok(Verified::default())
        );
    }

    #[test]
    fn library_form_vector_in_any_parameter_order() {
        assert!(check(LIB_SIGNATURE, URL, LIB_FORM, TOKEN).is_ok());
    }

    #[test]
    fn library_duplicate_parameter_vector() {
        let body = b"Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234";
        assert!(check("IK+Dwps556ElfBT0I3Rgjkr1wJU=", URL, body, TOKEN).is_ok());
    }

    #[test]
    fn library_port_variants() {
        // Signed with ":443" added; received without a port.
        assert!(check("kvajT1Ptam85bY51eRf/AJRuM3w=", URL, LIB_FORM, TOKEN).is_ok());
        // Signed without a port; received with one.
        let with_port = URL.replace(".com", ".com:1234");
        assert!(check(LIB_SIGNATURE, &with_port, LIB_FORM, TOKEN).is_ok());
        // Signed for http with ":80" added.
        let http = URL.replace("https", "http");
        assert!(check("0ZXoZLH/DfblKGATFgpif+LLRf4=", &http, LIB_FORM, TOKEN).is_ok());
    }

    #[test]
    fn library_json_body_vector() {
        assert_eq!(body_sha256(JSON_BODY), JSON_HASH);
        assert_eq!(sign(TOKEN, &json_url(), JSON_BODY).unwrap(), JSON_SIGNATURE);
        assert!(check(JSON_SIGNATURE, &json_url(), JSON_BODY, TOKEN).is_ok());
    }

    #[test]
    fn json_body_not_matching_its_hash_fails() {
        assert_eq!(
            check(
                JSON_SIGNATURE,
                &json_url(),
                br#"{"property": "value", "boolean": false}"#,
                TOKEN
            ),
            Err(VerifyError::BodyHashMismatch)
        );
    }

    #[test]
    fn wrong_token_fails() {
        assert_eq!(
            check(DOCS_SIGNATURE, URL, DOCS_FORM, b"54321"),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            check(JSON_SIGNATURE, &json_url(), JSON_BODY, b"54321"),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn tampered_form_or_url_fails() {
        let tampered = b"CallSid=CA1234567890ABCDE&Caller=%2B12349013030&Digits=1235&From=%2B12349013030&To=%2B18005551212";
        assert_eq!(
            check(DOCS_SIGNATURE, URL, tampered, TOKEN),
            Err(VerifyError::BadSignature)
        );
        let other_url = URL.replace("foo=1", "foo=2");
        assert_eq!(
            check(DOCS_SIGNATURE, &other_url, DOCS_FORM, TOKEN),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn missing_header_fails() {
        let map = headers(&[]);
        let request = Request {
            headers: &map,
            body: DOCS_FORM,
            url: URL,
            now: 0,
        };
        assert_eq!(
            verify(&request, TOKEN),
            Err(VerifyError::MissingHeader(SIGNATURE_HEADER.into()))
        );
    }

    #[test]
    fn malformed_header_or_url_fails() {
        assert_eq!(
            check("%%%", URL, DOCS_FORM, TOKEN),
            Err(VerifyError::MalformedHeader(SIGNATURE_HEADER.into()))
        );
        assert_eq!(
            check(DOCS_SIGNATURE, "/myapp.php", DOCS_FORM, TOKEN),
            Err(VerifyError::MalformedUrl)
        );
        assert_eq!(
            check(DOCS_SIGNATURE, "ftp://host/x", DOCS_FORM, TOKEN),
            Err(VerifyError::MalformedUrl)
        );
    }

    #[test]
    fn url_variants_handle_userinfo_and_ipv6() {
        assert_eq!(
            url_variants("https://u:p@h:8443/x?y"),
            ["https://u:p@h:8443/x?y", "https://u:p@h/x?y"]
        );
        assert_eq!(
            url_variants("http://[::1]/x"),
            ["http://[::1]/x", "http://[::1]:80/x"]
        );
    }

    proptest! {
        #[test]
        fn arbitrary_inputs_never_panic(
            signature in ".*",
            url in ".*",
            body in proptest::collection::vec(any::<u8>(), 0..256),
        ) {
            let _ = url_variants(&url);
            let _ = check(&signature, &url, &body, TOKEN);
        }

        #[test]
        fn signed_forms_verify(
            token in proptest::collection::vec(any::<u8>(), 1..40),
            pairs in proptest::collection::vec(("[A-Za-z]{1,10}", ".{0,20}"), 0..6),
        ) {
            let body = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs.iter())
                .finish();
            let signature = sign(&token, URL, body.as_bytes()).unwrap();
            prop_assert!(check(&signature, URL, body.as_bytes(), &token).is_ok());
        }

        #[test]
        fn flipping_a_json_body_byte_fails(
            body in proptest::collection::vec(any::<u8>(), 1..256),
            index in any::<usize>(),
            mask in 1u8..,
        ) {
            let url = format!("{URL}&bodySHA256={}", body_sha256(&body));
            let signature = sign(TOKEN, &url, &body).unwrap();
            prop_assert!(check(&signature, &url, &body, TOKEN).is_ok());
            prop_assert_eq!(
                check(&signature, &url, &flipped(&body, index, mask), TOKEN),
                Err(VerifyError::BodyHashMismatch)
            );
        }

        #[test]
        fn flipping_a_form_value_fails(
            value in "[a-z]{1,20}",
            index in any::<usize>(),
        ) {
            let body = format!("Body={value}");
            let signature = sign(TOKEN, URL, body.as_bytes()).unwrap();
            // Change one letter of the value to another letter, so the decoded form differs.
            let position = 5 + index % value.len();
            let mut tampered = body.into_bytes();
            tampered[position] = if tampered[position] == b'a' { b'b' } else { b'a' };
            prop_assert_eq!(check(&signature, URL, &tampered, TOKEN), Err(VerifyError::BadSignature));
        }
    }
}
