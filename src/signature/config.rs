//! The verification settings of one endpoint, resolved from its spec.

use std::time::Duration;

use super::VerifyError;
use crate::api::{HmacVerify, PayPalVerify, Verify, VerifyScheme};

/// Default tolerance of signed timestamps (the product's 300 s).
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// A resolved verification setting: the scheme, its tolerance, generic-HMAC and PayPal
/// settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyConfig {
    /// The scheme to run.
    pub scheme: VerifyScheme,
    /// Largest accepted distance between a signed timestamp and now.
    pub tolerance: Duration,
    /// Settings of the generic Hmac scheme (required when `scheme` is Hmac).
    pub hmac: Option<HmacVerify>,
    /// Settings of the PayPal scheme (required when `scheme` is PayPal).
    pub paypal: Option<PayPalVerify>,
}

impl VerifyConfig {
    /// A config for `scheme` with the default tolerance and no Hmac settings.
    pub fn new(scheme: VerifyScheme) -> Self {
        Self {
            scheme,
            tolerance: DEFAULT_TOLERANCE,
            hmac: None,
            paypal: None,
        }
    }

    /// Resolves a WebhookEndpoint's `verify` block; `preset` is the provider's scheme, used
    /// when the spec names none.
    pub fn from_spec(spec: &Verify, preset: Option<VerifyScheme>) -> Result<Self, VerifyError> {
        let scheme = spec.scheme.or(preset).ok_or(VerifyError::NoScheme)?;
        let tolerance = spec
            .tolerance
            .to_std()
            .map_err(VerifyError::InvalidTolerance)?;
        if scheme == VerifyScheme::Hmac && spec.hmac.is_none() {
            return Err(VerifyError::MissingHmacSettings);
        }
        if scheme == VerifyScheme::PayPal && spec.paypal.is_none() {
            return Err(VerifyError::MissingPayPalSettings);
        }
        Ok(Self {
            scheme,
            tolerance,
            hmac: spec.hmac.clone(),
            paypal: spec.paypal.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::DurationString;

    fn spec(scheme: Option<VerifyScheme>, tolerance: &str) -> Verify {
        Verify {
            scheme,
            secret_ref: None,
            tolerance: DurationString::new(tolerance),
            hmac: None,
            paypal: None,
        }
    }

    #[test]
    fn spec_scheme_wins_over_preset() {
        let config = VerifyConfig::from_spec(
            &spec(Some(VerifyScheme::GitHub), "90s"),
            Some(VerifyScheme::Stripe),
        )
        .unwrap();
        assert_eq!(config.scheme, VerifyScheme::GitHub);
        assert_eq!(config.tolerance, Duration::from_secs(90));
    }

    #[test]
    fn preset_fills_in_and_absence_is_an_error() {
        let config = VerifyConfig::from_spec(&spec(None, "5m"), Some(VerifyScheme::Slack)).unwrap();
        assert_eq!(config.scheme, VerifyScheme::Slack);
        assert_eq!(
            VerifyConfig::from_spec(&spec(None, "5m"), None),
            Err(VerifyError::NoScheme)
        );
    }

    #[test]
    fn hmac_needs_settings_and_tolerance_must_parse() {
        assert_eq!(
            VerifyConfig::from_spec(&spec(Some(VerifyScheme::Hmac), "5m"), None),
            Err(VerifyError::MissingHmacSettings)
        );
        assert_eq!(
            VerifyConfig::from_spec(&spec(None, "5m"), Some(VerifyScheme::PayPal)),
            Err(VerifyError::MissingPayPalSettings)
        );
        let err =
            VerifyConfig::from_spec(&spec(Some(VerifyScheme::GitHub), "soon"), None).unwrap_err();
        assert_eq!(err.reason(), "invalid_tolerance");
    }
}
