//! Running a compiled filter on one input inside the sandbox, collecting its outputs.

use jaq_core::{Ctx, Vars};
use jaq_json::Val;
use serde_json::Value;

use super::jq::Filter;
use super::sandbox::{self, Exceeded, Limits, Stopped};
use super::value::{self, ToJsonError};
use super::write;

/// Why an evaluation failed.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// The program raised an error (`error(…)`, a type error, …).
    #[error("jq error: {0}")]
    Jq(String),
    /// The program called `halt` or `halt_error`.
    #[error("jq program halted with exit code {0}")]
    Halt(i32),
    /// A budget was exhausted.
    #[error(transparent)]
    Exceeded(#[from] Exceeded),
    /// jaq panicked.
    #[error("{0}")]
    Crashed(sandbox::Crashed),
    /// An output has no JSON form.
    #[error("output is not JSON")]
    NotJson(#[source] ToJsonError),
}

/// The first outputs of an evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Outputs {
    /// Up to the number of outputs asked for.
    pub values: Vec<Value>,
    /// Whether the program produced more outputs than that.
    pub more: bool,
}

/// Runs `filter` on `input` with the global variables `vars`, collecting up to `take`
/// outputs; with `check_more`, also evaluates far enough to know whether there are more.
pub fn run(
    filter: &Filter,
    input: &Value,
    vars: &[Value],
    limits: Limits,
    take: usize,
    check_more: bool,
) -> Result<Outputs, EvalError> {
    let vars: Vec<Val> = vars.iter().map(value::to_jaq).collect();
    let (values, more) = run_val(
        filter,
        value::to_jaq(input),
        &vars,
        limits,
        take,
        check_more,
        |v| {
            write::check_size(&v, limits.max_output_bytes)?;
            value::to_json(&v).map_err(EvalError::NotJson)
        },
    )?;
    Ok(Outputs { values, more })
}

/// Runs `filter` on a jaq value, as [`run`] does, handing each of the first `take` outputs to
/// `each` as soon as it is produced (before any later output is evaluated); returns what
/// `each` made of them and whether there were more.
pub fn run_val<T>(
    filter: &Filter,
    input: Val,
    vars: &[Val],
    limits: Limits,
    take: usize,
    check_more: bool,
    mut each: impl FnMut(Val) -> Result<T, EvalError>,
) -> Result<(Vec<T>, bool), EvalError> {
    let outcome = sandbox::guarded(&filter.lut, limits, |data| {
        let ctx = Ctx::<sandbox::Sandbox>::new(data, Vars::new(vars.iter().cloned()));
        let mut outputs = filter.id.run((ctx, input));
        let mut values = Vec::with_capacity(take.min(16));
        while values.len() < take {
            match outputs.next() {
                None => break,
                Some(result) => values.push(each(result.map_err(exception)?)?),
            }
        }
        let more = check_more && values.len() == take && outputs.next().is_some();
        Ok((values, more))
    });
    match outcome {
        Ok(result) => result,
        Err(Stopped::Exceeded(e)) => Err(EvalError::Exceeded(e)),
        Err(Stopped::Crashed(c)) => Err(EvalError::Crashed(c)),
    }
}

/// Turns a jaq exception into an error; a string error value is shown without quotes.
fn exception(exn: jaq_core::Exn<'_, Val>) -> EvalError {
    match exn.get_err() {
        Ok(err) => EvalError::Jq(match err.into_val() {
            Val::TStr(bytes) | Val::BStr(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            other => other.to_string(),
        }),
        Err(exn) => match exn.get_halt() {
            Ok(code) => EvalError::Halt(code),
            Err(_) => EvalError::Jq("internal control flow escaped the program".into()),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use serde_json::json;

    use super::*;
    use crate::transform::jq::compile;

    fn eval(src: &str, input: Value, limits: Limits) -> Result<Outputs, EvalError> {
        let filter = compile(src, &[]).unwrap();
        run(&filter, &input, &[], limits, 1, true)
    }

    fn quick() -> Limits {
        Limits {
            timeout: Duration::from_millis(300),
            ..Limits::default()
        }
    }

    #[test]
    fn outputs_and_more() {
        let out = eval(".[] | . * 2", json!([1, 2]), quick()).unwrap();
        assert_eq!(
            out,
            Outputs {
                values: vec![json!(2)],
                more: true
            }
        );
        let out = eval(".a", json!({"a": "x"}), quick()).unwrap();
        assert_eq!(
            out,
            Outputs {
                values: vec![json!("x")],
                more: false
            }
        );
    }

    #[test]
    fn errors_carry_the_message() {
        let e = eval("error(\"boom\")", json!(null), quick()).unwrap_err();
        assert_eq!(e.to_string(), "jq error: boom");
        let e = eval(".a + 1", json!({"a": "x"}), quick()).unwrap_err();
        assert!(e.to_string().contains("cannot calculate"), "{e}");
        let e = eval("halt_error(3)", json!("bye"), quick()).unwrap_err();
        assert!(matches!(e, EvalError::Halt(3)), "{e}");
    }

    #[test]
    fn env_reveals_nothing() {
        let out = eval("env", json!(null), quick()).unwrap();
        assert_eq!(out.values, [json!({})]);
    }

    /// Each runaway program must stop with a budget error within a few seconds, on the
    /// calling thread (so no thread is left spinning).
    #[test]
    fn runaway_programs_are_stopped() {
        for src in [
            "def f: f; f",
            "[range(1e12)]",
            "[repeat(.)]",
            "repeat(.)",
            "last(range(1e12))",
            "def f: try f catch f; f",
            "def f: 1 + f; f",
            "[limit(1e12; repeat(1))] | length",
            "try last(range(1e12)) catch 0",
        ] {
            let started = Instant::now();
            let result = eval(src, json!(1), quick());
            let took = started.elapsed();
            assert!(took < Duration::from_secs(3), "{src} took {took:?}");
            match result {
                Err(EvalError::Exceeded(_)) => {}
                // `repeat(.)` yields at once: the caller sees more than one output.
                Ok(out) if src == "repeat(.)" => assert!(out.more),
                other => panic!("{src}: expected a budget error, got {other:?}"),
            }
        }
    }

    #[test]
    fn each_budget_kind_is_named() {
        let steps = Limits {
            max_steps: 10_000,
            ..quick()
        };
        let e = eval("last(range(1e12))", json!(null), steps).unwrap_err();
        assert_eq!(
            e.to_string(),
            "evaluation took more than 10000 steps (step budget exceeded)"
        );
        let e = eval("def f: f; f", json!(null), quick()).unwrap_err();
        assert!(matches!(e, EvalError::Exceeded(Exceeded::Time(_))), "{e}");
        let e = eval("def f: 1 + f; f", json!(null), quick()).unwrap_err();
        assert!(matches!(e, EvalError::Exceeded(Exceeded::Stack(_))), "{e}");
    }

    /// Each memory bomb stops with the memory budget error, quickly, whatever builds it.
    #[test]
    fn memory_bombs_stop_at_the_memory_budget() {
        let shared = "reduce range(40) as $i (1; [., .])";
        for src in [
            r#""x" * 1000000000 | length"#,
            r#"1000000000 * "x" | length"#,
            r#""x" * 100000000000000000000 | length"#,
            r#"{a: "x"} | .a *= 1000000000 | .a | length"#,
            r#"reduce range(40) as $i ("x"; . + .) | length"#,
            r#"reduce range(40) as $i ([1]; . + .) | length"#,
            &format!("{shared} | tostring | length"),
            &format!("{shared} | tojson | length"),
            &format!("{shared} | \"<\\(.)>\" | length"),
            &format!("{shared} | @base64 | length"),
            &format!("{shared} | [.[] | tostring] | length"),
            r#"[range(100) | "x" * 1000000] | length"#,
        ] {
            let started = Instant::now();
            let e = eval(src, json!(null), quick()).unwrap_err();
            assert!(
                matches!(e, EvalError::Exceeded(Exceeded::Memory(_))),
                "{src}: {e}"
            );
            let took = started.elapsed();
            assert!(took < Duration::from_secs(5), "{src} took {took:?}");
        }
        let e = eval(r#""x" * 1000000000"#, json!(null), quick()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "evaluation needed more than 67108864 bytes of memory (memory budget exceeded)"
        );
    }

    /// The budgeted `*`, `*=`, `tostring`, `tojson` and interpolation give what jaq's own do.
    #[test]
    fn budgeted_operations_keep_their_meaning() {
        let all = |src: &str, input: Value| {
            let filter = compile(src, &[]).unwrap();
            run(&filter, &input, &[], quick(), 100, false)
                .unwrap()
                .values
        };
        assert_eq!(
            all("(1,2) * (3,4)", json!(null)),
            [3, 4, 6, 8].map(|n| json!(n))
        );
        assert_eq!(
            all(r#""ab" * 3, 0 * "ab""#, json!(null)),
            [json!("ababab"), json!(null)]
        );
        assert_eq!(
            all(". * {a: {c: 2}}", json!({"a": {"b": 1}})),
            [json!({"a": {"b": 1, "c": 2}})]
        );
        assert_eq!(
            all(".a *= (2, 3)", json!({"a": 5})),
            [json!({"a": 10}), json!({"a": 15})]
        );
        assert_eq!(
            all(
                r#"tostring, tojson, "<\(.)>", @text, @json, (.[1] | tostring)"#,
                json!([1.5, "s", {"k": null}])
            ),
            [
                json!(r#"[1.5,"s",{"k":null}]"#),
                json!(r#"[1.5,"s",{"k":null}]"#),
                json!(r#"<[1.5,"s",{"k":null}]>"#),
                json!(r#"[1.5,"s",{"k":null}]"#),
                json!(r#"[1.5,"s",{"k":null}]"#),
                json!("s"),
            ]
        );
        assert_eq!(
            all(r#"[.[] | tostring] | join("-")"#, json!([1, "a", null])),
            [json!("1-a-null")]
        );
    }

    /// A loop-free chain of doublings (the quick evaluator's ground) stops at the budget too.
    #[test]
    fn doubling_without_a_loop_stops_at_the_memory_budget() {
        let doubling = std::iter::repeat_n("(. + .)", 40)
            .collect::<Vec<_>>()
            .join(" | ");
        for input in [r#""x""#, "[1]"] {
            let p = crate::transform::Program::compile(
                &serde_json::from_value(json!({"jq": format!("{doubling} | length")})).unwrap(),
            )
            .unwrap();
            let e = p
                .run(input.as_bytes(), &crate::transform::Meta::default())
                .unwrap_err();
            assert!(
                e.to_string().contains("memory budget exceeded"),
                "{input}: {e}"
            );
        }
    }

    #[test]
    fn memory_freed_along_the_way_is_not_charged() {
        // Each big string is dropped before the next is made: never more than one at a time.
        let src = r#"[range(200) | ("x" * 1000000 | length)] | add"#;
        let out = eval(src, json!(null), quick()).unwrap();
        assert_eq!(out.values, [json!(200_000_000)]);
    }
}
