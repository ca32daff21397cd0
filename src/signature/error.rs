//! The one error type of signature verification and signing.

use http::StatusCode;

use crate::api::InvalidDuration;

/// Why a request failed verification, or why a scheme cannot run.
///
/// Messages name headers and reasons only: never a secret, a received signature or the
/// expected one, so they are safe in HTTP answers, logs and metrics labels.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// A required header is absent.
    #[error("missing header {0}")]
    MissingHeader(String),
    /// A header is present but does not have the scheme's shape.
    #[error("malformed header {0}")]
    MalformedHeader(String),
    /// No signature in the request matches the body and secret.
    #[error("signature does not match")]
    BadSignature,
    /// A token or username/password does not match.
    #[error("credentials do not match")]
    BadCredentials,
    /// The signed timestamp is outside the tolerance, in the past or the future.
    #[error("timestamp outside the tolerance")]
    StaleTimestamp,
    /// The body does not match the hash signed in the URL (Twilio `bodySHA256`).
    #[error("body does not match the signed body hash")]
    BodyHashMismatch,
    /// The public URL given for a URL-signing scheme is not an absolute http(s) URL.
    #[error("public URL is not an absolute http or https URL")]
    MalformedUrl,
    /// The Secret lacks the value the scheme needs (`key` names which).
    #[error("no {0} configured for verification")]
    MissingSecret(&'static str),
    /// The configured secret has not the scheme's format (e.g. `whsec_` not followed by base64).
    #[error("configured secret is malformed")]
    MalformedSecret,
    /// Neither verify.scheme nor a provider preset names a scheme.
    #[error(
        "no verification scheme: set verify.scheme or use an integration whose provider has a preset"
    )]
    NoScheme,
    /// Scheme Hmac without its `hmac` settings.
    #[error("scheme Hmac requires verify.hmac settings")]
    MissingHmacSettings,
    /// verify.tolerance does not parse.
    #[error("invalid verify.tolerance")]
    InvalidTolerance(#[source] InvalidDuration),
    /// The signing certificate (chain) is not PEM certificates that parse.
    #[error("signing certificate does not parse")]
    MalformedCertificate,
    /// The signing certificate does not chain to a trust root, or is not valid now.
    #[error("signing certificate is not trusted")]
    UntrustedCertificate(#[source] webpki::Error),
    /// Scheme PayPal without its `paypal` settings (the webhook id).
    #[error("scheme PayPal requires verify.paypal.webhookId")]
    MissingPayPalSettings,
    /// Scheme PayPal reached the synchronous dispatcher, which fetches no certificate (the
    /// receiver verifies it with `paypal::verify` once the certificate is fetched).
    #[error("scheme PayPal verifies with a fetched certificate, not here")]
    CertificateNotFetched,
}

impl VerifyError {
    /// A stable snake_case code for metrics labels and JSON error bodies.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::MissingHeader(_) => "missing_header",
            Self::MalformedHeader(_) => "malformed_header",
            Self::BadSignature => "bad_signature",
            Self::BadCredentials => "bad_credentials",
            Self::StaleTimestamp => "stale_timestamp",
            Self::BodyHashMismatch => "body_hash_mismatch",
            Self::MalformedUrl => "malformed_url",
            Self::MissingSecret(_) => "missing_secret",
            Self::MalformedSecret => "malformed_secret",
            Self::NoScheme => "no_scheme",
            Self::MissingHmacSettings => "missing_hmac_settings",
            Self::InvalidTolerance(_) => "invalid_tolerance",
            Self::MalformedCertificate => "malformed_certificate",
            Self::UntrustedCertificate(_) => "untrusted_certificate",
            Self::MissingPayPalSettings => "missing_paypal_settings",
            Self::CertificateNotFetched => "certificate_not_fetched",
        }
    }

    /// True when the fault is the sender's (answer 401), false when it is our configuration.
    pub fn is_rejection(&self) -> bool {
        matches!(
            self,
            Self::MissingHeader(_)
                | Self::MalformedHeader(_)
                | Self::BadSignature
                | Self::BadCredentials
                | Self::StaleTimestamp
                | Self::BodyHashMismatch
                | Self::MalformedCertificate
                | Self::UntrustedCertificate(_)
        )
    }

    /// The HTTP status to answer: 401 for a rejected request, 500 for a configuration fault.
    pub fn status(&self) -> StatusCode {
        if self.is_rejection() {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}
