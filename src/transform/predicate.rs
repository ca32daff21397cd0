//! jq predicates (subscription filters) and single-value jq expressions (event type, dedup
//! id, sync items/cursor/watermark paths).

use serde_json::Value;

use super::eval::{self, EvalError};
use super::format::type_name;
use super::jq::{self, CompileError, Filter};
use super::sandbox::Limits;

/// What a predicate said about a value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PredicateResult {
    /// The predicate yielded `true`.
    Match,
    /// It yielded `false`, or nothing.
    NoMatch,
    /// It failed or yielded something else than a boolean: no match, which the caller
    /// counts; the message says why.
    Error(String),
}

/// A compiled jq predicate, such as `.data.amount > 100`.
pub struct Predicate {
    filter: Filter,
    limits: Limits,
}

impl Predicate {
    /// Compiles a predicate.
    pub fn compile(src: &str) -> Result<Self, CompileError> {
        Ok(Self {
            filter: jq::compile(src, &[])?,
            limits: Limits::default(),
        })
    }

    /// Replaces the evaluation limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Evaluates the predicate on a value; its first output decides.
    pub fn eval(&self, value: &Value) -> PredicateResult {
        match eval::run(&self.filter, value, &[], self.limits, 1, false) {
            Err(e) => PredicateResult::Error(crate::error_chain::render(&e)),
            Ok(out) => match out.values.first() {
                Some(Value::Bool(true)) => PredicateResult::Match,
                Some(Value::Bool(false)) | None => PredicateResult::NoMatch,
                Some(other) => PredicateResult::Error(format!(
                    "filter yielded {}, not a boolean",
                    type_name(other)
                )),
            },
        }
    }
}

/// A jq expression that extracts one value.
pub struct JqExpr {
    filter: Filter,
    limits: Limits,
}

/// Why a [`JqExpr`] failed.
#[derive(Debug, thiserror::Error)]
pub enum ExprError {
    /// Evaluation failed.
    #[error(transparent)]
    Eval(EvalError),
    /// The expression yielded several values.
    #[error("the jq expression yielded more than one value")]
    Several,
}

impl JqExpr {
    /// Compiles an expression.
    pub fn compile(src: &str) -> Result<Self, CompileError> {
        Ok(Self {
            filter: jq::compile(src, &[])?,
            limits: Limits::default(),
        })
    }

    /// Replaces the evaluation limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The expression's value; `None` when it yields nothing or null.
    pub fn eval(&self, value: &Value) -> Result<Option<Value>, ExprError> {
        let out =
            eval::run(&self.filter, value, &[], self.limits, 1, true).map_err(ExprError::Eval)?;
        if out.more {
            return Err(ExprError::Several);
        }
        Ok(out.values.into_iter().next().filter(|v| !v.is_null()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn predicate_semantics() {
        let p = Predicate::compile(".data.amount > 100").unwrap();
        assert_eq!(
            p.eval(&json!({"data": {"amount": 150}})),
            PredicateResult::Match
        );
        assert_eq!(
            p.eval(&json!({"data": {"amount": 50}})),
            PredicateResult::NoMatch
        );
        let p = Predicate::compile(".data.amount").unwrap();
        assert_eq!(
            p.eval(&json!({"data": {"amount": 5}})),
            PredicateResult::Error("filter yielded a number, not a boolean".into())
        );
        let p = Predicate::compile(".data.amount + 1").unwrap();
        match p.eval(&json!({"data": {"amount": "x"}})) {
            PredicateResult::Error(m) => assert!(m.contains("cannot calculate"), "{m}"),
            other => panic!("expected an error, got {other:?}"),
        }
        let p = Predicate::compile(".missing").unwrap();
        assert_eq!(
            p.eval(&json!({})),
            PredicateResult::Error("filter yielded null, not a boolean".into())
        );
        let p = Predicate::compile("empty").unwrap();
        assert_eq!(p.eval(&json!(1)), PredicateResult::NoMatch);
    }

    #[test]
    fn runaway_predicate_is_an_error_not_a_hang() {
        let p = Predicate::compile("def f: f; f")
            .unwrap()
            .with_limits(Limits {
                timeout: std::time::Duration::from_millis(100),
                ..Limits::default()
            });
        assert!(
            matches!(p.eval(&json!(1)), PredicateResult::Error(m) if m.contains("time budget"))
        );
    }

    #[test]
    fn expressions_extract_one_value() {
        let e = JqExpr::compile(".type").unwrap();
        assert_eq!(
            e.eval(&json!({"type": "push"})).unwrap(),
            Some(json!("push"))
        );
        assert_eq!(e.eval(&json!({})).unwrap(), None);
        let e = JqExpr::compile(".items[]").unwrap();
        assert!(matches!(
            e.eval(&json!({"items": [1, 2]})),
            Err(ExprError::Several)
        ));
        assert!(matches!(
            e.eval(&json!({"items": 3})),
            Err(ExprError::Eval(_))
        ));
        assert!(JqExpr::compile(".paging.next.after |").is_err());
    }
}
