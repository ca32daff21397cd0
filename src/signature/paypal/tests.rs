//! The PayPal scheme against certificates the test generates (`tests/support/paypal_pki.rs`).

use proptest::prelude::*;

use super::*;
use crate::signature::test_support::{flipped, headers, request};

use crate::signature::paypal_pki as pki;

use pki::{Ca, Signer, Validity, rfc3339};

const WEBHOOK_ID: &str = "1JE4291016473214C";
const BODY: &[u8] =
    br#"{"id":"WH-2WR32451HC0233532-67976317FL4543714","event_type":"PAYMENT.CAPTURE.COMPLETED"}"#;
const NOW: i64 = 1_700_000_000;
const URL: &str = "https://api.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-1d93a270";
const TOLERANCE: Duration = Duration::from_secs(300);

struct Fixture {
    roots: TrustRoots,
    signer: Signer,
}

fn fixture(validity: Validity) -> Fixture {
    let ca = Ca::new("Test Root CA");
    Fixture {
        roots: TrustRoots::from_pem(ca.pem.as_bytes()).unwrap(),
        signer: ca.issue(pki::RSA_A, validity),
    }
}

fn signed(signer: &Signer, time: i64, body: &[u8]) -> http::HeaderMap {
    let pairs = signer.headers("b2f5ab70-6c0e-11ee", &rfc3339(time), WEBHOOK_ID, body, URL);
    let pairs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    headers(&pairs)
}

/// Parses and verifies as the receiver does, with `chain` as the fetched certificate.
fn check(
    map: &http::HeaderMap,
    body: &[u8],
    webhook_id: &str,
    chain: &str,
    roots: &TrustRoots,
    now: i64,
) -> Result<Verified, VerifyError> {
    let req = request(map, body, now);
    let transmission = parse(&req, TOLERANCE)?;
    assert_eq!(transmission.cert_url, URL);
    let chain = CertChain::from_pem(chain.as_bytes())?;
    verify(&transmission, body, webhook_id, &chain, roots, now)
}

#[test]
fn the_message_is_id_time_webhook_id_and_crc32() {
    // CRC-32 (IEEE) of "123456789" is the check value 0xCBF43926 = 3421780262.
    assert_eq!(
        message("id", "2023-10-10T17:33:13Z", "WH", b"123456789"),
        "id|2023-10-10T17:33:13Z|WH|3421780262"
    );
}

#[test]
fn a_genuine_signature_verifies() {
    let f = fixture(Validity::Current);
    let map = signed(&f.signer, NOW, BODY);
    let verified = check(
        &map,
        BODY,
        WEBHOOK_ID,
        &f.signer.chain_pem,
        &f.roots,
        NOW + 5,
    )
    .unwrap();
    assert_eq!(verified.timestamp, Some(NOW));
}

#[test]
fn a_tampered_body_or_another_webhook_id_fails() {
    let f = fixture(Validity::Current);
    let map = signed(&f.signer, NOW, BODY);
    let chain = &f.signer.chain_pem;
    assert_eq!(
        check(&map, b"{}", WEBHOOK_ID, chain, &f.roots, NOW),
        Err(VerifyError::BadSignature)
    );
    assert_eq!(
        check(&map, BODY, "OTHER", chain, &f.roots, NOW),
        Err(VerifyError::BadSignature)
    );
}

#[test]
fn a_certificate_of_another_key_fails() {
    let ca = Ca::new("Test Root CA");
    let roots = TrustRoots::from_pem(ca.pem.as_bytes()).unwrap();
    let signer = ca.issue(pki::RSA_A, Validity::Current);
    let other = ca.issue(pki::RSA_B, Validity::Current);
    let map = signed(&signer, NOW, BODY);
    assert_eq!(
        check(&map, BODY, WEBHOOK_ID, &other.chain_pem, &roots, NOW),
        Err(VerifyError::BadSignature)
    );
}

#[test]
fn a_certificate_of_an_untrusted_ca_fails() {
    let f = fixture(Validity::Current);
    let stranger = Ca::new("Stranger CA").issue(pki::RSA_A, Validity::Current);
    let map = signed(&stranger, NOW, BODY);
    assert!(matches!(
        check(&map, BODY, WEBHOOK_ID, &stranger.chain_pem, &f.roots, NOW),
        Err(VerifyError::UntrustedCertificate(_))
    ));
    let none = TrustRoots::default();
    assert!(none.is_empty());
    assert!(matches!(
        check(&map, BODY, WEBHOOK_ID, &stranger.chain_pem, &none, NOW),
        Err(VerifyError::UntrustedCertificate(_))
    ));
}

#[test]
fn an_expired_certificate_fails() {
    let f = fixture(Validity::Expired);
    let map = signed(&f.signer, NOW, BODY);
    assert_eq!(
        check(&map, BODY, WEBHOOK_ID, &f.signer.chain_pem, &f.roots, NOW),
        Err(VerifyError::UntrustedCertificate(
            webpki::Error::CertExpired {
                time: UnixTime::since_unix_epoch(Duration::from_secs(NOW as u64)),
                not_after: UnixTime::since_unix_epoch(Duration::from_secs(978_307_200)),
            }
        ))
    );
}

#[test]
fn an_old_or_future_transmission_time_fails_before_any_certificate() {
    let f = fixture(Validity::Current);
    let map = signed(&f.signer, NOW, BODY);
    for now in [NOW + 301, NOW - 301] {
        assert_eq!(
            parse(&request(&map, BODY, now), TOLERANCE),
            Err(VerifyError::StaleTimestamp)
        );
    }
}

#[test]
fn missing_and_malformed_headers_are_named() {
    let f = fixture(Validity::Current);
    let good = signed(&f.signer, NOW, BODY);
    for name in [
        AUTH_ALGO,
        TRANSMISSION_ID,
        TRANSMISSION_TIME,
        TRANSMISSION_SIG,
        CERT_URL,
    ] {
        let mut map = good.clone();
        map.remove(name);
        assert_eq!(
            parse(&request(&map, BODY, NOW), TOLERANCE),
            Err(VerifyError::MissingHeader(name.to_owned()))
        );
    }
    for (name, value) in [
        (AUTH_ALGO, "SHA1withRSA"),
        (TRANSMISSION_TIME, "yesterday"),
        (TRANSMISSION_SIG, "***"),
        (TRANSMISSION_SIG, ""),
    ] {
        let mut map = good.clone();
        map.insert(name, http::HeaderValue::from_static(value));
        assert_eq!(
            parse(&request(&map, BODY, NOW), TOLERANCE),
            Err(VerifyError::MalformedHeader(name.to_owned()))
        );
    }
}

#[test]
fn chains_that_are_not_pem_certificates_are_refused() {
    assert_eq!(
        CertChain::from_pem(b"not a certificate"),
        Err(VerifyError::MalformedCertificate)
    );
    let block = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    let f = fixture(Validity::Current);
    let map = signed(&f.signer, NOW, BODY);
    assert_eq!(
        check(&map, BODY, WEBHOOK_ID, block, &f.roots, NOW),
        Err(VerifyError::MalformedCertificate)
    );
    assert_eq!(
        CertChain::from_pem(block.repeat(MAX_CHAIN + 1).as_bytes()),
        Err(VerifyError::MalformedCertificate)
    );
    assert_eq!(
        TrustRoots::from_pem(block.as_bytes()).map(|r| r.len()),
        Err(VerifyError::MalformedCertificate)
    );
}

proptest! {
    #[test]
    fn parsing_never_panics(
        time in ".*",
        sig in ".*",
        algo in ".*",
        chain in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let map = headers(&[
            ("paypal-transmission-id", "x"),
            ("paypal-transmission-time", &time),
            ("paypal-transmission-sig", &sig),
            ("paypal-cert-url", URL),
            ("paypal-auth-algo", &algo),
        ]);
        let _ = parse(&request(&map, BODY, NOW), TOLERANCE);
        let _ = CertChain::from_pem(&chain);
        let _ = TrustRoots::from_pem(&chain);
    }

    #[test]
    fn flipping_a_body_byte_fails(index in any::<usize>(), mask in 1u8..) {
        let f = fixture(Validity::Current);
        let map = signed(&f.signer, NOW, BODY);
        let tampered = flipped(BODY, index, mask);
        prop_assert_eq!(
            check(&map, &tampered, WEBHOOK_ID, &f.signer.chain_pem, &f.roots, NOW),
            Err(VerifyError::BadSignature)
        );
    }
}
