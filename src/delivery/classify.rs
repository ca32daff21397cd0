//! What an attempt's result means for the delivery: delivered, retried (when, on the
//! schedule with jitter and Retry-After), failed for good, or dead.

use std::time::Duration;

use chrono::{DateTime, Utc};
use http::StatusCode;

use crate::store::Outcome;

/// The meaning of one attempt's result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// 2xx.
    Delivered,
    /// 408, 429, 5xx, timeout or connection error: try again (after at least
    /// `retry_after` when the subscriber said so).
    Retryable {
        /// The subscriber's Retry-After, if any.
        retry_after: Option<Duration>,
    },
    /// 410 Gone: no more attempts, and the subscriber is unhealthy.
    Gone,
    /// 3xx, other 4xx, a transformation error, a refused destination: no retry.
    Failed,
}

impl Verdict {
    /// The verdict for an HTTP status (with the response's Retry-After header).
    pub fn of_status(status: StatusCode, retry_after: Option<&str>) -> Self {
        match status.as_u16() {
            200..=299 => Self::Delivered,
            410 => Self::Gone,
            408 | 429 | 500..=599 => Self::Retryable {
                retry_after: retry_after.and_then(parse_retry_after),
            },
            _ => Self::Failed,
        }
    }

    /// True when the attempt counts as a failure of the destination (for the breaker and
    /// consecutiveFailures).
    pub fn is_destination_failure(self) -> bool {
        !matches!(self, Self::Delivered)
    }
}

/// Retry-After as seconds or an HTTP date.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    (at - Utc::now()).to_std().ok()
}

/// The delivery's next state after an attempt with this verdict, given the attempts made
/// before it and the retry schedule. `jitter` is a factor in [0.9, 1.1].
pub fn next_outcome(
    verdict: Verdict,
    attempts_before: u32,
    schedule: &[Duration],
    now: DateTime<Utc>,
    jitter: f64,
) -> Outcome {
    match verdict {
        Verdict::Delivered => Outcome::Delivered,
        Verdict::Gone | Verdict::Failed => Outcome::Failed,
        Verdict::Retryable { retry_after } => {
            let Some(step) = usize::try_from(attempts_before)
                .ok()
                .and_then(|i| schedule.get(i))
            else {
                return Outcome::Dead;
            };
            let jittered = step.mul_f64(jitter.clamp(0.9, 1.1));
            // Retry-After is honoured up to the step's length: never later than the schedule.
            let delay = retry_after.map_or(jittered, |ra| ra.min(jittered));
            let delay = chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX);
            Outcome::Retry {
                at: now
                    .checked_add_signed(delay)
                    .unwrap_or(DateTime::<Utc>::MAX_UTC),
            }
        }
    }
}

/// A jitter factor drawn uniformly from [0.9, 1.1].
pub fn jitter() -> f64 {
    rand::random_range(0.9..=1.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn statuses_map_to_verdicts() {
        let v = |code: u16| Verdict::of_status(StatusCode::from_u16(code).unwrap(), None);
        assert_eq!(v(200), Verdict::Delivered);
        assert_eq!(v(204), Verdict::Delivered);
        assert_eq!(v(301), Verdict::Failed);
        assert_eq!(v(400), Verdict::Failed);
        assert_eq!(v(404), Verdict::Failed);
        assert_eq!(v(410), Verdict::Gone);
        for code in [408, 429, 500, 502, 503, 504] {
            assert_eq!(v(code), Verdict::Retryable { retry_after: None });
        }
        assert_eq!(
            Verdict::of_status(StatusCode::TOO_MANY_REQUESTS, Some("7")),
            Verdict::Retryable {
                retry_after: Some(s(7))
            }
        );
    }

    #[test]
    fn retries_follow_the_schedule_then_die() {
        let now = Utc::now();
        let schedule = [s(60), s(300)];
        let retry = Verdict::Retryable { retry_after: None };
        assert_eq!(
            next_outcome(retry, 0, &schedule, now, 1.0),
            Outcome::Retry {
                at: now + chrono::Duration::seconds(60)
            }
        );
        assert_eq!(
            next_outcome(retry, 1, &schedule, now, 1.1),
            Outcome::Retry {
                at: now + chrono::Duration::seconds(330)
            }
        );
        assert_eq!(next_outcome(retry, 2, &schedule, now, 1.0), Outcome::Dead);
        assert_eq!(
            next_outcome(Verdict::Gone, 0, &schedule, now, 1.0),
            Outcome::Failed
        );
    }

    #[test]
    fn retry_after_is_honoured_up_to_the_step() {
        let now = Utc::now();
        let short = Verdict::Retryable {
            retry_after: Some(s(5)),
        };
        let long = Verdict::Retryable {
            retry_after: Some(s(500)),
        };
        assert_eq!(
            next_outcome(short, 0, &[s(60)], now, 1.0),
            Outcome::Retry {
                at: now + chrono::Duration::seconds(5)
            }
        );
        assert_eq!(
            next_outcome(long, 0, &[s(60)], now, 1.0),
            Outcome::Retry {
                at: now + chrono::Duration::seconds(60)
            }
        );
        assert!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT").is_none());
        assert_eq!(parse_retry_after(" 12 "), Some(s(12)));
    }
}
