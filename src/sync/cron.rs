//! Cron schedules in a time zone (croner + chrono-tz, as `switchboard validate` checks them),
//! and the clock the scheduler reads: the system clock, or a manual one for tests.

use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use tokio::sync::watch;

/// A schedule that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// The cron expression does not parse.
    #[error("spec.schedule {expr:?} is not a valid cron expression")]
    Cron {
        /// The expression.
        expr: String,
        /// The parser's error.
        #[source]
        source: croner::errors::CronError,
    },
    /// The time zone is not an IANA name.
    #[error("spec.timeZone {0:?} is not a known IANA time zone")]
    TimeZone(String),
}

/// A parsed cron expression and the time zone it is read in.
#[derive(Clone, Debug)]
pub struct Schedule {
    cron: croner::Cron,
    tz: Tz,
}

impl Schedule {
    /// Parses five cron fields (or a macro such as "@hourly") in `time_zone` (default UTC).
    pub fn parse(expr: &str, time_zone: Option<&str>) -> Result<Self, ScheduleError> {
        let cron = expr
            .parse::<croner::Cron>()
            .map_err(|source| ScheduleError::Cron {
                expr: expr.to_owned(),
                source,
            })?;
        let tz = match time_zone {
            None => Tz::UTC,
            Some(name) => name
                .parse::<Tz>()
                .map_err(|_| ScheduleError::TimeZone(name.to_owned()))?,
        };
        Ok(Self { cron, tz })
    }

    /// The first run strictly after `t`; None when the expression never fires again.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .find_next_occurrence(&t.with_timezone(&self.tz), false)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    /// The last run at or before `t`; None when there is none.
    pub fn last_at_or_before(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .find_previous_occurrence(&t.with_timezone(&self.tz), true)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }
}

/// Where the scheduler reads the time and waits for it.
#[async_trait]
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
    /// Returns once `now() >= t`.
    async fn sleep_until(&self, t: DateTime<Utc>);
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

#[async_trait]
impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    async fn sleep_until(&self, t: DateTime<Utc>) {
        loop {
            let left = t - Utc::now();
            let Ok(left) = left.to_std() else { return };
            if left.is_zero() {
                return;
            }
            // Wake at least every minute so a system clock change is noticed.
            tokio::time::sleep(left.min(std::time::Duration::from_secs(60))).await;
        }
    }
}

/// A clock that moves only when told (tests).
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
    changed: watch::Sender<DateTime<Utc>>,
}

impl ManualClock {
    /// A clock stopped at `t`.
    pub fn new(t: DateTime<Utc>) -> Self {
        Self {
            now: Mutex::new(t),
            changed: watch::channel(t).0,
        }
    }

    /// Sets the time (waking sleepers whose time has come).
    pub fn set(&self, t: DateTime<Utc>) {
        *self.now.lock().unwrap_or_else(|e| e.into_inner()) = t;
        self.changed.send_replace(t);
    }

    /// Moves the time forward by `d`.
    pub fn advance(&self, d: chrono::Duration) {
        self.set(self.now() + d);
    }
}

#[async_trait]
impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn sleep_until(&self, t: DateTime<Utc>) {
        let mut rx = self.changed.subscribe();
        let _ = rx.wait_for(|now| *now >= t).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn next_after_in_utc_and_macros() {
        let s = Schedule::parse("*/15 * * * *", None).unwrap();
        assert_eq!(
            s.next_after(utc("2026-03-01T10:07:00Z")),
            Some(utc("2026-03-01T10:15:00Z"))
        );
        // Strictly after.
        assert_eq!(
            s.next_after(utc("2026-03-01T10:15:00Z")),
            Some(utc("2026-03-01T10:30:00Z"))
        );
        let h = Schedule::parse("@hourly", None).unwrap();
        assert_eq!(
            h.next_after(utc("2026-03-01T10:07:00Z")),
            Some(utc("2026-03-01T11:00:00Z"))
        );
        assert_eq!(
            h.last_at_or_before(utc("2026-03-01T10:07:00Z")),
            Some(utc("2026-03-01T10:00:00Z"))
        );
    }

    #[test]
    fn nine_in_berlin_follows_daylight_saving() {
        let s = Schedule::parse("0 9 * * *", Some("Europe/Berlin")).unwrap();
        // Winter (CET, UTC+1): 09:00 Berlin is 08:00 UTC.
        let sat = s.next_after(utc("2026-03-28T00:00:00Z")).unwrap();
        assert_eq!(sat, utc("2026-03-28T08:00:00Z"));
        // DST starts on Sunday 2026-03-29: 09:00 CEST is 07:00 UTC.
        let sun = s.next_after(sat).unwrap();
        assert_eq!(sun, utc("2026-03-29T07:00:00Z"));
        assert_eq!(
            chrono_tz::Europe::Berlin
                .from_utc_datetime(&sun.naive_utc())
                .format("%H:%M")
                .to_string(),
            "09:00"
        );
        // And back in October (CEST → CET on 2026-10-25).
        let before = s.next_after(utc("2026-10-24T00:00:00Z")).unwrap();
        assert_eq!(before, utc("2026-10-24T07:00:00Z"));
        assert_eq!(s.next_after(before), Some(utc("2026-10-25T08:00:00Z")));
    }

    #[test]
    fn bad_expressions_and_zones_are_refused() {
        assert!(matches!(
            Schedule::parse("61 * * * *", None),
            Err(ScheduleError::Cron { .. })
        ));
        assert!(matches!(
            Schedule::parse("* * * * *", Some("Mars/Olympus")),
            Err(ScheduleError::TimeZone(_))
        ));
    }

    #[tokio::test]
    async fn manual_clock_wakes_sleepers_when_moved() {
        let clock = std::sync::Arc::new(ManualClock::new(utc("2026-01-01T00:00:00Z")));
        let c = clock.clone();
        let sleeper = tokio::spawn(async move { c.sleep_until(utc("2026-01-01T00:10:00Z")).await });
        tokio::task::yield_now().await;
        clock.advance(chrono::Duration::minutes(5));
        tokio::task::yield_now().await;
        assert!(!sleeper.is_finished());
        clock.advance(chrono::Duration::minutes(5));
        tokio::time::timeout(std::time::Duration::from_secs(5), sleeper)
            .await
            .expect("woken")
            .unwrap();
    }
}
