//! When a SyncSchedule runs: the due run (at most one catch-up for runs missed while down),
//! the next run time, what the concurrency policy does with active runs, manual triggers and
//! job names. Pure functions of the schedule, its stored state and the time.

use chrono::{DateTime, Utc};

use crate::api::ConcurrencyPolicy;

use super::cron::Schedule;

/// Annotation whose new value starts a run of a SyncSchedule now.
pub const SYNC_REQUESTED_AT: &str = "switchboard.dev/sync-requested-at";

/// Annotation the controller puts on a SyncJob once it ended (its phase), so that it is
/// never run again, even by a controller whose store was lost.
pub const SYNC_FINISHED: &str = "switchboard.dev/sync-finished";

/// Label carrying the schedule on the SyncJobs it created.
pub const SCHEDULE_LABEL: &str = "switchboard.dev/schedule";

/// What a schedule should do at a point in time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Due {
    /// The scheduled time of a run to start now (the latest missed one), if any.
    pub run: Option<DateTime<Utc>>,
    /// The next run after now.
    pub next: Option<DateTime<Utc>>,
}

/// The run due at `now` and the next one. Runs after `last` (or, when the schedule never
/// ran, after `since`, the time it was first seen) up to `now` were missed; however many,
/// only the latest is run (one catch-up).
pub fn due(
    schedule: &Schedule,
    last: Option<DateTime<Utc>>,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Due {
    let base = last.unwrap_or(since);
    let run = schedule
        .last_at_or_before(now)
        .filter(|latest| *latest > base);
    Due {
        run,
        next: schedule.next_after(now),
    }
}

/// What to do with a run that is due while `active` runs of the schedule are going.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admit {
    /// Start it.
    Start,
    /// Cancel the active runs, then start it.
    ReplaceActive,
    /// Skip it.
    Skip,
}

/// The concurrency policy's answer.
pub fn admit(policy: ConcurrencyPolicy, active: usize) -> Admit {
    match (policy, active) {
        (_, 0) | (ConcurrencyPolicy::Allow, _) => Admit::Start,
        (ConcurrencyPolicy::Forbid, _) => Admit::Skip,
        (ConcurrencyPolicy::Replace, _) => Admit::ReplaceActive,
    }
}

/// True when a `sync-requested-at` value asks for a run: it differs from the value last
/// handled by this process and, when it is a timestamp, is later than the last run (so a
/// value already handled before a restart does not run again).
pub fn requested(value: Option<&str>, handled: Option<&str>, last: Option<DateTime<Utc>>) -> bool {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return false;
    };
    if handled == Some(value) {
        return false;
    }
    match (DateTime::parse_from_rfc3339(value), last) {
        (Ok(at), Some(last)) => at.with_timezone(&Utc) > last,
        _ => handled.is_some() || last.is_none(),
    }
}

/// The name of a run: `<schedule>-<unix time of its scheduled time>`.
pub fn job_name(schedule: &str, at: DateTime<Utc>) -> String {
    format!("{schedule}-{}", at.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn missed_runs_give_one_catch_up() {
        let s = Schedule::parse("0 9 * * *", None).unwrap();
        // Down from day 1 10:00 to day 4 09:30: three runs missed, one catch-up.
        let d = due(
            &s,
            Some(utc("2026-05-01T09:00:00Z")),
            utc("2026-04-01T00:00:00Z"),
            utc("2026-05-04T09:30:00Z"),
        );
        assert_eq!(d.run, Some(utc("2026-05-04T09:00:00Z")));
        assert_eq!(d.next, Some(utc("2026-05-05T09:00:00Z")));
        // After the catch-up ran, nothing more is due.
        let d = due(
            &s,
            d.run,
            utc("2026-04-01T00:00:00Z"),
            utc("2026-05-04T09:31:00Z"),
        );
        assert_eq!(d.run, None);
    }

    #[test]
    fn a_new_schedule_does_not_catch_up_from_before_it_existed() {
        let s = Schedule::parse("*/5 * * * *", None).unwrap();
        let seen = utc("2026-05-01T10:02:00Z");
        let d = due(&s, None, seen, seen);
        assert_eq!(d.run, None);
        assert_eq!(d.next, Some(utc("2026-05-01T10:05:00Z")));
        let d = due(&s, None, seen, utc("2026-05-01T10:05:00Z"));
        assert_eq!(d.run, Some(utc("2026-05-01T10:05:00Z")));
    }

    #[test]
    fn concurrency_policies() {
        use ConcurrencyPolicy::*;
        assert_eq!(admit(Forbid, 0), Admit::Start);
        assert_eq!(admit(Forbid, 1), Admit::Skip);
        assert_eq!(admit(Replace, 1), Admit::ReplaceActive);
        assert_eq!(admit(Allow, 3), Admit::Start);
    }

    #[test]
    fn manual_triggers_run_once_per_value() {
        let last = Some(utc("2026-05-01T09:00:00Z"));
        assert!(!requested(None, None, last));
        assert!(requested(Some("2026-05-01T10:00:00Z"), None, last));
        // Already handled before a restart: older than the last run.
        assert!(!requested(Some("2026-05-01T08:00:00Z"), None, last));
        assert!(!requested(
            Some("2026-05-01T10:00:00Z"),
            Some("2026-05-01T10:00:00Z"),
            last
        ));
        // A value that is not a timestamp runs when it changes.
        assert!(requested(Some("now-please"), Some("earlier"), last));
        assert!(!requested(Some("now-please"), None, last));
        assert!(requested(Some("now-please"), None, None));
    }

    #[test]
    fn job_names_carry_the_unix_time() {
        assert_eq!(
            job_name("crm", utc("2026-05-01T09:00:00Z")),
            "crm-1777626000"
        );
    }
}
