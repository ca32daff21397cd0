//! The effective settings of an Integration: its spec, with the provider preset's base URL,
//! rate limit and health check where the spec sets none.

use std::time::Duration;

use crate::api::{ClusterIntegrationProviderSpec, HttpMethod, IntegrationSpec};
use crate::error_chain::render;

use super::error::BuildError;
use super::retry::RetryPolicy;

/// A resolved health check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthSettings {
    /// Path relative to the base URL.
    pub path: String,
    /// Method.
    pub method: HttpMethod,
    /// Time between checks.
    pub interval: Duration,
    /// Expected status; any 2xx when unset.
    pub expect_status: Option<u16>,
}

/// Resolved circuit breaker thresholds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BreakerSettings {
    /// Consecutive failures that open it.
    pub failure_threshold: u32,
    /// How long it stays open.
    pub open_for: Duration,
    /// Consecutive successful probes that close it.
    pub success_threshold: u32,
}

/// Everything a client is built from, except credentials.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// Base URL (a trailing slash removed from its path).
    pub base: url::Url,
    /// Timeout of one attempt.
    pub timeout: Duration,
    /// Requests per period, when limited.
    pub rate_limit: Option<(u32, Duration)>,
    /// Retries.
    pub retry: RetryPolicy,
    /// Circuit breaker.
    pub breaker: BreakerSettings,
    /// Health check.
    pub health: Option<HealthSettings>,
    /// Calls refused while true.
    pub suspend: bool,
}

fn duration(d: &crate::api::DurationString, field: &'static str) -> Result<Duration, BuildError> {
    d.to_std().map_err(|e| BuildError::Invalid {
        field,
        message: render(&e),
    })
}

impl Settings {
    /// Resolves a spec against its provider's preset.
    pub fn resolve(
        spec: &IntegrationSpec,
        provider: Option<&ClusterIntegrationProviderSpec>,
    ) -> Result<Self, BuildError> {
        let base_url = spec
            .base_url
            .as_ref()
            .or_else(|| provider.and_then(|p| p.base_url.as_ref()))
            .ok_or(BuildError::NoBaseUrl)?;
        let mut base = base_url.parse().map_err(|message| BuildError::Invalid {
            field: "spec.baseUrl",
            message,
        })?;
        let trimmed = base.path().trim_end_matches('/').to_owned();
        base.set_path(&trimmed);
        base.set_query(None);
        base.set_fragment(None);
        let rate_limit = match spec
            .rate_limit
            .as_ref()
            .or_else(|| provider.and_then(|p| p.rate_limit.as_ref()))
        {
            Some(rl) => Some((rl.requests, duration(&rl.period, "spec.rateLimit.period")?)),
            None => None,
        };
        let health = match spec
            .health_check
            .as_ref()
            .or_else(|| provider.and_then(|p| p.health_check.as_ref()))
        {
            Some(h) => Some(HealthSettings {
                path: h.path.clone(),
                method: h.method,
                interval: duration(&h.interval, "spec.healthCheck.interval")?
                    .max(Duration::from_millis(100)),
                expect_status: h.expect_status,
            }),
            None => None,
        };
        let cb = &spec.circuit_breaker;
        Ok(Self {
            base,
            timeout: Duration::from_secs(u64::from(spec.timeout_seconds.max(1))),
            rate_limit,
            retry: RetryPolicy::from_spec(&spec.retry)?,
            breaker: BreakerSettings {
                failure_threshold: cb.failure_threshold,
                open_for: duration(&cb.open_duration, "spec.circuitBreaker.openDuration")?,
                success_threshold: cb.success_threshold,
            },
            health,
            suspend: spec.suspend,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_provider_fills_what_the_spec_leaves_out() {
        let provider: ClusterIntegrationProviderSpec = serde_json::from_value(serde_json::json!({
            "displayName": "P", "baseUrl": "https://api.p.example/v2/",
            "rateLimit": {"requests": 10, "period": "1s"},
            "healthCheck": {"path": "/ping", "interval": "30s"}
        }))
        .unwrap();
        let spec: IntegrationSpec =
            serde_json::from_value(serde_json::json!({"provider": "p"})).unwrap();
        let s = Settings::resolve(&spec, Some(&provider)).unwrap();
        assert_eq!(s.base.as_str(), "https://api.p.example/v2");
        assert_eq!(s.rate_limit, Some((10, Duration::from_secs(1))));
        assert_eq!(s.health.as_ref().unwrap().path, "/ping");
        assert_eq!(s.breaker.failure_threshold, 5);
        assert_eq!(s.breaker.success_threshold, 3);
        assert_eq!(s.breaker.open_for, Duration::from_secs(30));
        assert_eq!(s.timeout, Duration::from_secs(30));

        let own: IntegrationSpec = serde_json::from_value(serde_json::json!({
            "provider": "p", "baseUrl": "http://127.0.0.1:9/api",
            "rateLimit": {"requests": 1, "period": "1m"}
        }))
        .unwrap();
        let s = Settings::resolve(&own, Some(&provider)).unwrap();
        assert_eq!(s.base.as_str(), "http://127.0.0.1:9/api");
        assert_eq!(s.rate_limit, Some((1, Duration::from_secs(60))));
        assert!(matches!(Settings::resolve(&own, None).map(|_| ()), Ok(())));
        let none: IntegrationSpec = serde_json::from_value(serde_json::json!({})).unwrap();
        assert!(matches!(
            Settings::resolve(&none, None),
            Err(BuildError::NoBaseUrl)
        ));
    }
}
