//! PayPal: a certificate-based signature. `PAYPAL-TRANSMISSION-SIG` is the base64 RSA-SHA256
//! signature (`PAYPAL-AUTH-ALGO: SHA256withRSA`), by the key of the certificate at
//! `PAYPAL-CERT-URL`, of `<transmission id>|<transmission time>|<webhook id>|<crc32>`, where
//! the webhook id is the endpoint's (from its configuration, never from the request) and the
//! CRC32 is of the raw body, as an unsigned decimal.
//!
//! Fetching the certificate is I/O and belongs to the receiver (`receiver::paypal_certs`):
//! this file parses the headers and checks the transmission time ([`parse`]), then checks a
//! fetched chain ([`verify`]): it must chain to one of the [`TrustRoots`] and be valid at the
//! request's time (rustls-webpki does both), and its leaf's key must have signed the message.

use std::time::Duration;

use chrono::DateTime;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, TrustAnchor, UnixTime};
use webpki::{EndEntityCert, KeyPurposeIdIter};

use super::encoding::decode_base64;
use super::{Request, Verified, VerifyError, timestamp};

/// Header carrying the transmission id.
pub const TRANSMISSION_ID: &str = "paypal-transmission-id";
/// Header carrying the transmission time (RFC 3339).
pub const TRANSMISSION_TIME: &str = "paypal-transmission-time";
/// Header carrying the base64 signature.
pub const TRANSMISSION_SIG: &str = "paypal-transmission-sig";
/// Header carrying the URL of the signing certificate.
pub const CERT_URL: &str = "paypal-cert-url";
/// Header naming the signature algorithm.
pub const AUTH_ALGO: &str = "paypal-auth-algo";
/// The only algorithm PayPal uses and this scheme accepts.
pub const ALGORITHM: &str = "SHA256withRSA";

/// Largest number of certificates read from one chain.
const MAX_CHAIN: usize = 8;

/// The signed headers of a PayPal request, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmission<'a> {
    /// `PAYPAL-TRANSMISSION-ID` as sent.
    pub id: &'a str,
    /// `PAYPAL-TRANSMISSION-TIME` as sent (the signed text).
    pub time: &'a str,
    /// The transmission time in unix seconds.
    pub timestamp: i64,
    /// The decoded signature.
    pub signature: Vec<u8>,
    /// `PAYPAL-CERT-URL` as sent (fetch it only from an allowlisted origin).
    pub cert_url: &'a str,
}

/// Parses the PayPal headers and refuses a transmission time further than `tolerance` from
/// `request.now`; runs before any certificate is fetched.
pub fn parse<'a>(
    request: &Request<'a>,
    tolerance: Duration,
) -> Result<Transmission<'a>, VerifyError> {
    let algorithm = request.header(AUTH_ALGO)?;
    if algorithm.trim() != ALGORITHM {
        return Err(VerifyError::MalformedHeader(AUTH_ALGO.to_owned()));
    }
    let id = request.header(TRANSMISSION_ID)?;
    let time = request.header(TRANSMISSION_TIME)?;
    let timestamp = DateTime::parse_from_rfc3339(time.trim())
        .map_err(|_| VerifyError::MalformedHeader(TRANSMISSION_TIME.to_owned()))?
        .timestamp();
    timestamp::check(timestamp, request.now, tolerance)?;
    let signature = decode_base64(request.header(TRANSMISSION_SIG)?)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| VerifyError::MalformedHeader(TRANSMISSION_SIG.to_owned()))?;
    let cert_url = request.header(CERT_URL)?;
    Ok(Transmission {
        id,
        time,
        timestamp,
        signature,
        cert_url,
    })
}

/// The signed message: `id|time|webhook id|crc32(body)`.
pub fn message(id: &str, time: &str, webhook_id: &str, body: &[u8]) -> String {
    format!("{id}|{time}|{webhook_id}|{}", crc32fast::hash(body))
}

/// A certificate chain as PayPal serves it: the signing (leaf) certificate first, then the
/// intermediates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertChain(Vec<CertificateDer<'static>>);

impl CertChain {
    /// Reads the `CERTIFICATE` blocks of a PEM document (other blocks are skipped); the
    /// first is the leaf. Refused when there is none or more than a few.
    pub fn from_pem(pem: &[u8]) -> Result<Self, VerifyError> {
        let mut certs = Vec::new();
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|_| VerifyError::MalformedCertificate)?;
            if certs.len() == MAX_CHAIN {
                return Err(VerifyError::MalformedCertificate);
            }
            certs.push(cert);
        }
        if certs.is_empty() {
            return Err(VerifyError::MalformedCertificate);
        }
        Ok(Self(certs))
    }
}

/// The certificates a PayPal signing certificate must chain to.
#[derive(Debug, Clone, Default)]
pub struct TrustRoots(Vec<TrustAnchor<'static>>);

impl TrustRoots {
    /// Trust anchors from DER certificates; those that do not parse are skipped (system
    /// stores hold a few), and how many were kept is [`TrustRoots::len`].
    pub fn from_certs<'a>(certs: impl IntoIterator<Item = &'a CertificateDer<'a>>) -> Self {
        Self(
            certs
                .into_iter()
                .filter_map(|c| webpki::anchor_from_trusted_cert(c).ok())
                .map(|a| a.to_owned())
                .collect(),
        )
    }

    /// Trust anchors from the `CERTIFICATE` blocks of a PEM bundle; any block that does not
    /// parse refuses the whole bundle (it is configuration, better loud than ignored).
    pub fn from_pem(pem: &[u8]) -> Result<Self, VerifyError> {
        let certs = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| VerifyError::MalformedCertificate)?;
        let anchors = certs
            .iter()
            .map(|c| webpki::anchor_from_trusted_cert(c).map(|a| a.to_owned()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| VerifyError::MalformedCertificate)?;
        Ok(Self(anchors))
    }

    /// How many trust anchors there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there is none (nothing would verify).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Any extended key usage passes: the certificate signs messages, not TLS connections, and
/// PayPal documents no usage for it.
struct AnyUsage;

impl webpki::ExtendedKeyUsageValidator for AnyUsage {
    fn validate(&self, _: KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        Ok(())
    }
}

/// Verifies a parsed transmission with the chain fetched from its certificate URL: the chain
/// must lead to one of `roots` and be valid at `now` (unix seconds), and the leaf's key must
/// have signed the message over `body` and `webhook_id`.
pub fn verify(
    transmission: &Transmission<'_>,
    body: &[u8],
    webhook_id: &str,
    chain: &CertChain,
    roots: &TrustRoots,
    now: i64,
) -> Result<Verified, VerifyError> {
    let (leaf, intermediates) = chain
        .0
        .split_first()
        .ok_or(VerifyError::MalformedCertificate)?;
    let leaf = EndEntityCert::try_from(leaf).map_err(|_| VerifyError::MalformedCertificate)?;
    let time = UnixTime::since_unix_epoch(Duration::from_secs(u64::try_from(now).unwrap_or(0)));
    leaf.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &roots.0,
        intermediates,
        time,
        AnyUsage,
        None,
        None,
    )
    .map_err(VerifyError::UntrustedCertificate)?;
    let message = message(transmission.id, transmission.time, webhook_id, body);
    leaf.verify_signature(
        webpki::ring::RSA_PKCS1_2048_8192_SHA256,
        message.as_bytes(),
        &transmission.signature,
    )
    .map_err(|_| VerifyError::BadSignature)?;
    Ok(Verified {
        id: None,
        timestamp: Some(transmission.timestamp),
    })
}

#[cfg(test)]
mod tests;
