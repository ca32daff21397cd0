//! The health check of an Integration: one call of its configured path, never retried;
//! healthy when it answers the expected status (any 2xx by default).

use chrono::Utc;
use http::Method;

use crate::api::HttpMethod;
use crate::error_chain::render;

use super::client::IntegrationClient;
use super::request::CallRequest;
use super::stats::HealthResult;

/// What a health check found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthOutcome {
    /// Passed.
    pub ok: bool,
    /// What it found, for the Healthy condition (no secrets).
    pub message: String,
}

fn method(m: HttpMethod) -> Method {
    Method::from_bytes(m.as_str().as_bytes()).unwrap_or(Method::GET)
}

impl IntegrationClient {
    /// Runs the health check now, if there is one, and records its outcome in the stats.
    pub async fn check_health(&self) -> Option<HealthOutcome> {
        let health = self.settings().health.clone()?;
        let mut req = CallRequest::get(health.path.clone());
        req.method = method(health.method);
        let shown = format!(
            "{} {}",
            health.method.as_str(),
            super::target::without_query(&health.path)
        );
        let outcome = match self.call_once(req).await {
            Ok(r) => {
                let ok = match health.expect_status {
                    Some(code) => r.status.as_u16() == code,
                    None => r.status.is_success(),
                };
                let message = if ok {
                    format!("{shown} answered HTTP {}", r.status.as_u16())
                } else {
                    let expected = health
                        .expect_status
                        .map_or_else(|| "2xx".to_owned(), |c| c.to_string());
                    format!(
                        "{shown} answered HTTP {}, expected {expected}",
                        r.status.as_u16()
                    )
                };
                HealthOutcome { ok, message }
            }
            Err(e) => HealthOutcome {
                ok: false,
                message: render(&e),
            },
        };
        self.stats().health(HealthResult {
            ok: outcome.ok,
            at: Utc::now(),
            message: outcome.message.clone(),
        });
        Some(outcome)
    }
}
