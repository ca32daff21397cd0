//! What the delivery runtime tells the engine about a delivery that is failing or was given
//! up on, so the engine can publish lifecycle events and dead letters (it knows the namespace's
//! subscriptions; the workers do not). Sent through a bounded channel without waiting: a full
//! channel drops the notice and counts it, so attempts never stall on it.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::store::{NewEvent, Outcome, Target};

/// The prefix of every event type Switchboard publishes about itself. A delivery of such an
/// event never gives rise to a notice (no lifecycle event, no dead letter): that is what
/// keeps lifecycle events from looping.
pub const LIFECYCLE_PREFIX: &str = "switchboard.";

/// True for an event type Switchboard publishes about itself.
pub fn is_lifecycle(event_type: &str) -> bool {
    event_type.starts_with(LIFECYCLE_PREFIX)
}

/// A delivery that failed an attempt the engine wants to hear about.
#[derive(Clone, Debug)]
pub struct DeliveryNotice {
    /// The delivery id.
    pub delivery_id: String,
    /// Where it goes.
    pub target: Target,
    /// The event it carries.
    pub event: Arc<NewEvent>,
    /// Attempts made, this one included.
    pub attempts: u32,
    /// The delivery's new state: a retry (failing) or Dead/Failed (given up).
    pub outcome: Outcome,
    /// The last attempt's error, or its HTTP status as text.
    pub last_error: String,
    /// The last attempt's HTTP status, when a response came.
    pub response_status: Option<u16>,
    /// When the attempt ended.
    pub at: DateTime<Utc>,
}

impl DeliveryNotice {
    /// True when the delivery was given up on (Dead: retries exhausted; Failed: not retryable).
    pub fn given_up(&self) -> bool {
        matches!(self.outcome, Outcome::Dead | Outcome::Failed)
    }
}

/// Decides whether an attempt's result is worth a notice: a delivery given up on, or one
/// whose `failing_after`-th attempt just failed (0: never); never one of a lifecycle event.
pub fn worth_notice(
    event_type: &str,
    attempts: u32,
    outcome: &Outcome,
    failing_after: u32,
) -> bool {
    if is_lifecycle(event_type) {
        return false;
    }
    match outcome {
        Outcome::Delivered => false,
        Outcome::Dead | Outcome::Failed => true,
        Outcome::Retry { .. } => failing_after > 0 && attempts == failing_after,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle_events_never_give_notice_and_failing_is_told_once() {
        let retry = Outcome::Retry { at: Utc::now() };
        assert!(!worth_notice(
            "switchboard.delivery.exhausted",
            9,
            &Outcome::Dead,
            3
        ));
        assert!(!worth_notice("switchboard.test", 3, &retry, 3));
        assert!(worth_notice("invoice.paid", 1, &Outcome::Dead, 3));
        assert!(worth_notice("invoice.paid", 1, &Outcome::Failed, 3));
        assert!(!worth_notice("invoice.paid", 2, &retry, 3));
        assert!(worth_notice("invoice.paid", 3, &retry, 3));
        assert!(!worth_notice("invoice.paid", 4, &retry, 3));
        assert!(!worth_notice("invoice.paid", 3, &retry, 0));
        assert!(!worth_notice("invoice.paid", 3, &Outcome::Delivered, 3));
    }
}
