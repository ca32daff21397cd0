//! A test PKI for PayPal's certificate-based webhook signatures: a CA the test trusts, signing
//! certificates for the two RSA keys in `tests/fixtures/paypal` (ring, which rcgen uses, does
//! not generate RSA keys), and the headers PayPal sends. The unit tests of
//! `src/signature/paypal.rs` include this file too, so both sign the same way.

use base64::Engine;
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, IsCa, Issuer, KeyPair,
    PKCS_RSA_SHA256, SigningKey, date_time_ymd,
};

/// An RSA-2048 private key (PKCS#8 PEM).
pub const RSA_A: &str = include_str!("../fixtures/paypal/rsa-a.pem");
/// Another RSA-2048 private key (PKCS#8 PEM).
pub const RSA_B: &str = include_str!("../fixtures/paypal/rsa-b.pem");

/// When a certificate is valid.
#[derive(Clone, Copy, Debug)]
pub enum Validity {
    /// From 2000 to 2100.
    Current,
    /// From 2000 to 2001.
    Expired,
}

/// A certificate authority.
pub struct Ca {
    /// Its certificate, PEM (the trust root to configure).
    pub pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    /// A new self-signed CA with an ECDSA key.
    pub fn new(name: &str) -> Self {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.not_before = date_time_ymd(2000, 1, 1);
        params.not_after = date_time_ymd(2100, 1, 1);
        let cert: Certificate = params.self_signed(&key).expect("CA certificate");
        Self {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A signing certificate for one of the RSA keys, issued by this CA; its chain is the
    /// leaf followed by the CA certificate, as PayPal serves leaf and intermediates.
    pub fn issue(&self, key_pem: &str, validity: Validity) -> Signer {
        let key = KeyPair::from_pem_and_sign_algo(key_pem, &PKCS_RSA_SHA256).expect("RSA key");
        let mut params =
            CertificateParams::new(vec!["messageverificationcerts.paypal.com".to_owned()])
                .expect("params");
        params
            .distinguished_name
            .push(DnType::CommonName, "messageverificationcerts.paypal.com");
        params.not_before = date_time_ymd(2000, 1, 1);
        params.not_after = match validity {
            Validity::Current => date_time_ymd(2100, 1, 1),
            Validity::Expired => date_time_ymd(2001, 1, 1),
        };
        let cert = params.signed_by(&key, &self.issuer).expect("leaf");
        Signer {
            chain_pem: format!("{}{}", cert.pem(), self.pem),
            key,
        }
    }
}

/// A signing certificate and its key.
pub struct Signer {
    /// Leaf then CA, PEM: what the certificate URL serves.
    pub chain_pem: String,
    key: KeyPair,
}

impl Signer {
    /// The base64 RSA-SHA256 signature of `message`.
    pub fn sign(&self, message: &[u8]) -> String {
        let signature = self.key.sign(message).expect("sign");
        base64::engine::general_purpose::STANDARD.encode(signature)
    }

    /// The headers PayPal sends for `body`, signed for `webhook_id` at `time` (RFC 3339).
    pub fn headers(
        &self,
        id: &str,
        time: &str,
        webhook_id: &str,
        body: &[u8],
        cert_url: &str,
    ) -> Vec<(String, String)> {
        let message = format!("{id}|{time}|{webhook_id}|{}", crc32fast::hash(body));
        [
            ("PAYPAL-TRANSMISSION-ID", id.to_owned()),
            ("PAYPAL-TRANSMISSION-TIME", time.to_owned()),
            ("PAYPAL-TRANSMISSION-SIG", self.sign(message.as_bytes())),
            ("PAYPAL-CERT-URL", cert_url.to_owned()),
            ("PAYPAL-AUTH-ALGO", "SHA256withRSA".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }
}

/// An RFC 3339 time `secs` unix seconds.
pub fn rfc3339(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .expect("time")
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
