//! The single entry point: run the configured scheme on a request.

use super::{Request, Secrets, Verified, VerifyConfig, VerifyError, standard_webhooks};
use crate::api::VerifyScheme;

/// Verifies `request` with the scheme of `config`, using the values of `secrets`.
pub fn verify(
    config: &VerifyConfig,
    request: &Request<'_>,
    secrets: &Secrets,
) -> Result<Verified, VerifyError> {
    match config.scheme {
        VerifyScheme::StandardWebhooks => {
            standard_webhooks::verify(request, secrets.secret()?, config.tolerance)
        }
        _ => Ok(Verified::default()),
    }
}
