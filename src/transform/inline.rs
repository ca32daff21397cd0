//! Small evaluations run inline: a scoped, tighter budget for jq evaluated on an async worker
//! thread. A request whose programs are cheap then skips the hop to the evaluation pool, and one
//! whose programs are not is stopped within the cap and run again on the pool with its full
//! budget. jq programs have no side effects, so running one again is safe.

use std::cell::Cell;
use std::time::Duration;

thread_local! {
    /// The cap of the [`capped`] call running on this thread, if any.
    static CAP: Cell<Option<Cap>> = const { Cell::new(None) };
    /// Whether the cap stopped an evaluation during that call.
    static TRIPPED: Cell<bool> = const { Cell::new(false) };
}

/// The tighter budget of an inline evaluation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cap {
    /// Evaluation steps.
    pub max_steps: u64,
    /// Wall-clock time.
    pub timeout: Duration,
}

impl Cap {
    /// Small enough not to stall an async worker noticeably (well under a millisecond of jq).
    pub const SMALL: Cap = Cap {
        max_steps: 10_000,
        timeout: Duration::from_millis(2),
    };
}

/// Restores the previous cap when a [`capped`] call ends, even by unwinding.
struct Restore(Option<Cap>);

impl Drop for Restore {
    fn drop(&mut self) {
        CAP.set(self.0);
    }
}

/// Runs `f` with every evaluation it makes on this thread held to `cap`; `None` when the cap
/// stopped one of them (run `f` again without the cap for its real outcome).
pub fn capped<T>(cap: Cap, f: impl FnOnce() -> T) -> Option<T> {
    let restore = Restore(CAP.replace(Some(cap)));
    let before = TRIPPED.replace(false);
    let out = f();
    drop(restore);
    let tripped = TRIPPED.replace(before);
    (!tripped).then_some(out)
}

/// The cap of the [`capped`] call running on this thread, if any.
pub(super) fn current() -> Option<Cap> {
    CAP.get()
}

/// Notes that a capped evaluation was stopped by its budget.
pub(super) fn tripped() {
    TRIPPED.set(true);
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::transform::eval::EvalError;
    use crate::transform::{JqExpr, Predicate, PredicateResult};

    #[test]
    fn cheap_programs_finish_under_the_cap() {
        let expr = JqExpr::compile(".a + 1").unwrap();
        let out = capped(Cap::SMALL, || expr.eval(&json!({"a": 1})));
        assert_eq!(out.unwrap().unwrap(), Some(json!(2)));
    }

    #[test]
    fn expensive_programs_trip_the_cap_and_run_again_in_full() {
        let expr = JqExpr::compile("[range(100000)] | length").unwrap();
        assert!(capped(Cap::SMALL, || expr.eval(&json!(null))).is_none());
        // The cap is gone afterwards: the same evaluation completes with its own budget.
        assert_eq!(expr.eval(&json!(null)).unwrap(), Some(json!(100000)));
    }

    #[test]
    fn a_swallowed_budget_error_still_counts_as_tripped() {
        // A predicate turns the budget error into "no match"; the cap still reports it.
        let p = Predicate::compile("[range(100000)] | length > 5").unwrap();
        assert!(capped(Cap::SMALL, || p.eval(&json!(null))).is_none());
        assert_eq!(p.eval(&json!(null)), PredicateResult::Match);
    }

    #[test]
    fn real_errors_are_not_trips() {
        let expr = JqExpr::compile("error(\"boom\")").unwrap();
        let out = capped(Cap::SMALL, || expr.eval(&json!(null))).unwrap();
        assert!(matches!(
            out,
            Err(crate::transform::predicate::ExprError::Eval(EvalError::Jq(
                _
            )))
        ));
    }
}
