//! jq predicates (subscription filters) and single-value jq expressions (event type, dedup
//! id, sync items/cursor/watermark paths).

use jaq_json::{Map, Val};
use serde_json::Value;

use super::eval::{self, EvalError};
use super::jq::{self, CompileError, Filter};
use super::read::{self, ReadError};
use super::sandbox::Limits;
use super::{value, write};

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
        self.eval_val(value::to_jaq(value))
    }

    /// Evaluates the predicate on a jaq value (as [`filter_input`] makes one).
    pub fn eval_val(&self, value: Val) -> PredicateResult {
        match eval::run_val(&self.filter, value, &[], self.limits, 1, false, Ok) {
            Err(e) => PredicateResult::Error(crate::error_chain::render(&e)),
            Ok((out, _)) => match out.first() {
                Some(Val::Bool(true)) => PredicateResult::Match,
                Some(Val::Bool(false)) | None => PredicateResult::NoMatch,
                Some(other) => PredicateResult::Error(format!(
                    "filter yielded {}, not a boolean",
                    val_type_name(other)
                )),
            },
        }
    }
}

/// What a subscription filter sees: `{"type", "id", "data"}`, the data read from its JSON
/// text (numbers as written).
pub fn filter_input(event_type: &str, id: &str, data: &[u8]) -> Result<Val, ReadError> {
    let data = read::parse_json(data)?;
    let text = |s: &str| Val::utf8_str(s.as_bytes().to_vec());
    let mut fields = Map::with_capacity_and_hasher(3, Default::default());
    fields.insert(text("type"), text(event_type));
    fields.insert(text("id"), text(id));
    fields.insert(text("data"), data);
    Ok(Val::obj(fields))
}

/// The kind of a jaq value, as [`super::format::type_name`] names JSON's.
fn val_type_name(value: &Val) -> &'static str {
    match value {
        Val::Null => "null",
        Val::Bool(_) => "a boolean",
        Val::Num(_) => "a number",
        Val::TStr(_) | Val::BStr(_) => "a string",
        Val::Arr(_) => "an array",
        Val::Obj(_) => "an object",
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

    /// [`JqExpr::eval`] on a jaq value (a payload read with numbers as written).
    pub fn eval_val(&self, input: Val) -> Result<Option<Value>, ExprError> {
        let limits = self.limits;
        let (values, more) = eval::run_val(&self.filter, input, &[], limits, 1, true, |v| {
            write::check_size(&v, limits.max_output_bytes)?;
            value::to_json(&v).map_err(EvalError::NotJson)
        })
        .map_err(ExprError::Eval)?;
        if more {
            return Err(ExprError::Several);
        }
        Ok(values.into_iter().next().filter(|v| !v.is_null()))
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
