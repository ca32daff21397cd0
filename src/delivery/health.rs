//! The Healthy condition of a delivery target, from what actually happened to it: no attempt
//! yet, the last attempt succeeded or failed, the destination was refused, the circuit is
//! open, or (for a subscription) its filter keeps failing. One state per target; a change of
//! what is shown is reported once, so repeated failures do not rewrite the condition.

use std::sync::Mutex;

/// Consecutive filter errors (with no successful evaluation between) that make a
/// subscription Healthy=False with reason `FilterErrors`.
pub const RUNAWAY_FILTER_ERRORS: u64 = 10;

/// One Healthy condition: status, reason, message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthCondition {
    /// Healthy=True.
    pub ok: bool,
    /// CamelCase reason.
    pub reason: &'static str,
    /// What happened, for a person (never a secret).
    pub message: String,
}

impl HealthCondition {
    /// Healthy=True with `reason`.
    pub fn good(reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            ok: true,
            reason,
            message: message.into(),
        }
    }

    /// Healthy=False with `reason`.
    pub fn bad(reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            ok: false,
            reason,
            message: message.into(),
        }
    }

    /// What a target shows before its first attempt.
    pub fn no_deliveries_yet() -> Self {
        Self::good(
            "NoDeliveriesYet",
            "no delivery has been attempted since this instance started",
        )
    }
}

/// The health of one target: what its last attempt said, and whether its filter runs away.
#[derive(Debug, Default)]
pub struct HealthState {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    delivery: Option<HealthCondition>,
    filter: Option<HealthCondition>,
    disabled: Option<HealthCondition>,
}

impl Inner {
    /// Being disabled wins (nothing is attempted), then filter errors: no delivery is even
    /// created while the filter fails.
    fn shown(&self) -> HealthCondition {
        self.disabled
            .clone()
            .or_else(|| self.filter.clone())
            .or_else(|| self.delivery.clone())
            .unwrap_or_else(HealthCondition::no_deliveries_yet)
    }
}

impl HealthState {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records what the last attempt says; the condition to report when what is shown
    /// changed (a new message with the same status and reason is not a change).
    pub fn delivery(&self, condition: HealthCondition) -> Option<HealthCondition> {
        let mut inner = self.lock();
        let same = |c: &HealthCondition| c.ok == condition.ok && c.reason == condition.reason;
        if inner.delivery.as_ref().is_some_and(same) {
            return None;
        }
        let before = inner.shown();
        inner.delivery = Some(condition);
        let after = inner.shown();
        (after != before).then_some(after)
    }

    /// Sets (Some) or clears (None) the filter's runaway condition; the condition to report
    /// when what is shown changed.
    pub fn filter(&self, condition: Option<HealthCondition>) -> Option<HealthCondition> {
        let mut inner = self.lock();
        if inner.filter.is_some() == condition.is_some() {
            return None;
        }
        let before = inner.shown();
        inner.filter = condition;
        let after = inner.shown();
        (after != before).then_some(after)
    }

    /// Sets (Some) or clears (None) the auto-disabled condition; the condition to report
    /// when what is shown changed.
    pub fn disabled(&self, condition: Option<HealthCondition>) -> Option<HealthCondition> {
        let mut inner = self.lock();
        if inner.disabled.is_none() && condition.is_none() {
            return None;
        }
        let before = inner.shown();
        inner.disabled = condition;
        let after = inner.shown();
        (after != before).then_some(after)
    }

    /// What is shown now.
    pub fn current(&self) -> HealthCondition {
        self.lock().shown()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_success_leaves_no_deliveries_yet_and_repeats_are_not_reported() {
        let state = HealthState::default();
        assert_eq!(state.current().reason, "NoDeliveriesYet");
        let shown = state.delivery(HealthCondition::good("Delivering", "ok"));
        assert_eq!(shown.map(|c| c.reason), Some("Delivering"));
        assert_eq!(
            state.delivery(HealthCondition::good("Delivering", "ok")),
            None
        );
        let failing = state.delivery(HealthCondition::bad("DeliveriesFailing", "HTTP 500"));
        assert_eq!(
            failing.map(|c| (c.ok, c.reason)),
            Some((false, "DeliveriesFailing"))
        );
        assert_eq!(
            state.delivery(HealthCondition::bad("DeliveriesFailing", "HTTP 502")),
            None,
            "a new message of the same failure is not a change"
        );
        let open = state.delivery(HealthCondition::bad("CircuitOpen", "5 failures"));
        assert_eq!(open.map(|c| c.reason), Some("CircuitOpen"));
    }

    #[test]
    fn filter_errors_win_and_clearing_them_shows_the_delivery_state_again() {
        let state = HealthState::default();
        state.delivery(HealthCondition::bad("DeliveriesFailing", "HTTP 500"));
        let runaway = state.filter(Some(HealthCondition::bad("FilterErrors", "boom")));
        assert_eq!(runaway.map(|c| c.reason), Some("FilterErrors"));
        // A delivery result meanwhile is recorded but not shown.
        assert_eq!(
            state.delivery(HealthCondition::good("Delivering", "ok")),
            None
        );
        assert_eq!(
            state.filter(Some(HealthCondition::bad("FilterErrors", "x"))),
            None
        );
        let back = state.filter(None);
        assert_eq!(back.map(|c| c.reason), Some("Delivering"));
        assert_eq!(state.filter(None), None);
    }
}
