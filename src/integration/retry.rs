//! Retries of failed calls: exponential backoff with jitter on the configured status codes
//! (and on timeouts and connection errors), honouring Retry-After.

use std::time::Duration;

use crate::api::IntegrationRetry;
use crate::error_chain::render;

use super::error::BuildError;

/// When and how often a failed call is retried.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Delay before the first retry.
    pub initial: Duration,
    /// Upper bound of any backoff delay; a longer Retry-After is not waited for.
    pub max: Duration,
    /// Factor applied to the delay after each retry.
    pub multiplier: f64,
    /// Status codes that are retried.
    pub retry_on: Vec<u16>,
}

impl RetryPolicy {
    /// The policy of a spec.
    pub fn from_spec(spec: &IntegrationRetry) -> Result<Self, BuildError> {
        let parse = |d: &crate::api::DurationString, field| {
            d.to_std().map_err(|e| BuildError::Invalid {
                field,
                message: render(&e),
            })
        };
        Ok(Self {
            max_retries: spec.max_retries,
            initial: parse(&spec.initial_delay, "spec.retry.initialDelay")?,
            max: parse(&spec.max_delay, "spec.retry.maxDelay")?,
            multiplier: if spec.multiplier.is_finite() {
                spec.multiplier.max(1.0)
            } else {
                1.0
            },
            retry_on: spec.retry_on.clone(),
        })
    }

    /// True when a response with this status is retried.
    pub fn retries(&self, status: u16) -> bool {
        self.retry_on.contains(&status)
    }

    /// The backoff before retry number `retry` (0-based) without jitter: `initial ×
    /// multiplier^retry`, capped at `max`.
    pub fn backoff(&self, retry: u32) -> Duration {
        let exp = i32::try_from(retry).unwrap_or(i32::MAX);
        let secs = self.initial.as_secs_f64() * self.multiplier.powi(exp);
        let capped = secs.min(self.max.as_secs_f64());
        Duration::try_from_secs_f64(capped).unwrap_or(self.max)
    }

    /// The delay before retry number `retry`: the server's Retry-After when it gave one
    /// (None when that is longer than `max`: not worth waiting), else the backoff with
    /// jitter (between half and all of it).
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Option<Duration> {
        match retry_after {
            Some(d) if d > self.max => None,
            Some(d) => Some(d),
            None => Some(self.backoff(retry).mul_f64(rand::random_range(0.5..=1.0))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let p = RetryPolicy::from_spec(&IntegrationRetry::default()).unwrap();
        assert_eq!(p.backoff(0), Duration::from_secs(1));
        assert_eq!(p.backoff(3), Duration::from_secs(8));
        assert_eq!(p.backoff(10), Duration::from_secs(30));
        for retry in 0..6 {
            let d = p.delay(retry, None).unwrap();
            assert!(d >= p.backoff(retry) / 2 && d <= p.backoff(retry), "{d:?}");
        }
        assert_eq!(
            p.delay(0, Some(Duration::from_secs(7))),
            Some(Duration::from_secs(7))
        );
        assert_eq!(p.delay(0, Some(Duration::from_secs(31))), None);
        assert!(p.retries(429) && p.retries(503) && !p.retries(404));
    }
}
