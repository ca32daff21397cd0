//! The single entry point: run the configured scheme on a request.

use super::{
    Request, Secrets, Verified, VerifyConfig, VerifyError, basic, bearer, generic_hmac, github,
    gitlab, shopify, slack, standard_webhooks, stripe, twilio,
};
use crate::api::VerifyScheme;

/// Verifies `request` with the scheme of `config`, using the values of `secrets`.
///
/// Runs before anything parses the body. Schemes use `secrets.secret`, except Basic
/// (`username`/`password`) and Bearer (`token`). PayPal needs a certificate fetched over the
/// network: the receiver runs [`super::paypal::parse`] and [`super::paypal::verify`] around the
/// fetch, and this answers it [`VerifyError::CertificateNotFetched`].
pub fn verify(
    config: &VerifyConfig,
    request: &Request<'_>,
    secrets: &Secrets,
) -> Result<Verified, VerifyError> {
    let tolerance = config.tolerance;
    match config.scheme {
        VerifyScheme::StandardWebhooks => {
            standard_webhooks::verify(request, secrets.secret()?, tolerance)
        }
        VerifyScheme::Stripe => stripe::verify(request, secrets.secret()?, tolerance),
        VerifyScheme::GitHub => github::verify(request, secrets.secret()?),
        VerifyScheme::GitLab => gitlab::verify(request, secrets.secret()?),
        VerifyScheme::Slack => slack::verify(request, secrets.secret()?, tolerance),
        VerifyScheme::Shopify => shopify::verify(request, secrets.secret()?),
        VerifyScheme::Twilio => twilio::verify(request, secrets.secret()?),
        VerifyScheme::PayPal => Err(VerifyError::CertificateNotFetched),
        VerifyScheme::Hmac => {
            let settings = config
                .hmac
                .as_ref()
                .ok_or(VerifyError::MissingHmacSettings)?;
            generic_hmac::verify(request, settings, secrets.secret()?, tolerance)
        }
        VerifyScheme::Basic => basic::verify(request, secrets.username()?, secrets.password()?),
        VerifyScheme::Bearer => bearer::verify(request, secrets.token()?),
        VerifyScheme::None => Ok(Verified::default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{HmacAlgorithm, HmacVerify, SignatureEncoding};
    use crate::signature::test_support::{headers, request};

    const GITHUB_SIGNATURE: &str =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    #[test]
    fn dispatches_to_the_configured_scheme() {
        let map = headers(&[("X-Hub-Signature-256", GITHUB_SIGNATURE)]);
        let secrets = Secrets::with_secret("It's a Secret to Everybody");
        let req = request(&map, b"Hello, World!", 0);
        assert!(verify(&VerifyConfig::new(VerifyScheme::GitHub), &req, &secrets).is_ok());
        assert_eq!(
            verify(&VerifyConfig::new(VerifyScheme::Shopify), &req, &secrets),
            Err(VerifyError::MissingHeader("x-shopify-hmac-sha256".into()))
        );
    }

    #[test]
    fn standard_webhooks_reports_the_signed_id() {
        let map = headers(&[
            ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
            ("webhook-timestamp", "1614265330"),
            (
                "webhook-signature",
                "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            ),
        ]);
        let secrets = Secrets::with_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let req = request(&map, br#"{"test": 2432232314}"#, 1614265330);
        let config = VerifyConfig::new(VerifyScheme::StandardWebhooks);
        let verified = verify(&config, &req, &secrets).unwrap();
        assert_eq!(verified.id.as_deref(), Some("msg_p5jXN8AQM9LWM0D4loKWxJek"));
    }

    #[test]
    fn missing_secret_values_are_named() {
        let map = headers(&[("Authorization", "Bearer t")]);
        let req = request(&map, b"", 0);
        let none = Secrets::default();
        assert_eq!(
            verify(&VerifyConfig::new(VerifyScheme::GitHub), &req, &none),
            Err(VerifyError::MissingSecret("secret"))
        );
        assert_eq!(
            verify(&VerifyConfig::new(VerifyScheme::Bearer), &req, &none),
            Err(VerifyError::MissingSecret("token"))
        );
        assert_eq!(
            verify(&VerifyConfig::new(VerifyScheme::Basic), &req, &none),
            Err(VerifyError::MissingSecret("username"))
        );
        assert_eq!(
            verify(
                &VerifyConfig::new(VerifyScheme::Hmac),
                &req,
                &Secrets::with_secret("k")
            ),
            Err(VerifyError::MissingHmacSettings)
        );
    }

    #[test]
    fn bearer_and_basic_use_their_keys() {
        let map = headers(&[("Authorization", "Bearer t0k")]);
        let secrets = Secrets {
            token: Some(b"t0k".to_vec()),
            ..Secrets::default()
        };
        assert!(
            verify(
                &VerifyConfig::new(VerifyScheme::Bearer),
                &request(&map, b"", 0),
                &secrets
            )
            .is_ok()
        );

        let map = headers(&[("Authorization", &basic::header_value(b"u", b"p"))]);
        let secrets = Secrets {
            username: Some(b"u".to_vec()),
            password: Some(b"p".to_vec()),
            ..Secrets::default()
        };
        assert!(
            verify(
                &VerifyConfig::new(VerifyScheme::Basic),
                &request(&map, b"", 0),
                &secrets
            )
            .is_ok()
        );
    }

    #[test]
    fn hmac_uses_its_settings() {
        let settings = HmacVerify {
            header: "X-Sig".into(),
            algorithm: HmacAlgorithm::Sha256,
            encoding: SignatureEncoding::Hex,
            prefix: Some("sha256=".into()),
            timestamp_header: None,
        };
        let map = headers(&[("x-sig", GITHUB_SIGNATURE)]);
        let config = VerifyConfig {
            hmac: Some(settings),
            ..VerifyConfig::new(VerifyScheme::Hmac)
        };
        let secrets = Secrets::with_secret("It's a Secret to Everybody");
        assert!(verify(&config, &request(&map, b"Hello, World!", 0), &secrets).is_ok());
    }

    #[test]
    fn none_accepts_anything() {
        let map = headers(&[]);
        let req = request(&map, b"\xff", 0);
        assert_eq!(
            verify(
                &VerifyConfig::new(VerifyScheme::None),
                &req,
                &Secrets::default()
            ),
            Ok(Verified::default())
        );
    }

    #[test]
    fn errors_never_show_secrets_or_signatures() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let map = headers(&[
            ("webhook-id", "m"),
            ("webhook-timestamp", "0"),
            ("webhook-signature", "v1,AAAA"),
        ]);
        let err = verify(
            &VerifyConfig::new(VerifyScheme::StandardWebhooks),
            &request(&map, b"{}", 0),
            &Secrets::with_secret(secret),
        )
        .unwrap_err();
        assert_eq!(err, VerifyError::BadSignature);
        let text = format!("{err} {err:?} {:?}", Secrets::with_secret(secret));
        assert!(
            !text.contains("MfKQ9r8G") && !text.contains("AAAA"),
            "{text}"
        );
        assert_eq!(err.reason(), "bad_signature");
        assert_eq!(err.status(), http::StatusCode::UNAUTHORIZED);
        assert_eq!(
            VerifyError::MissingSecret("secret").status(),
            http::StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
