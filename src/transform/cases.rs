//! Embedded test cases of a Transformation: run each, compare, and explain failures with a
//! diff of expected against actual output.

use serde_json::Value;
use similar::{ChangeTag, TextDiff};

use crate::api::{InputFormat, TransformationSpec, TransformationTest};
use crate::error_chain::{chain, render};

use super::meta::Meta;
use super::program::Program;
use super::value;

/// Outcome of a Transformation's embedded tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TestReport {
    /// Tests that passed.
    pub passed: u32,
    /// Tests that failed.
    pub failed: u32,
    /// Every failure, in the order of the tests.
    pub failures: Vec<TestFailure>,
}

impl TestReport {
    /// The first failure, if any.
    pub fn first_failure(&self) -> Option<&TestFailure> {
        self.failures.first()
    }
}

/// One failed test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestFailure {
    /// Position of the test in spec.tests.
    pub index: usize,
    /// The test's name.
    pub name: String,
    /// What went wrong; for a wrong output, a unified diff of expected against actual.
    pub message: String,
    /// The same on one line (changed lines only), for `file:line: message` reports.
    pub summary: String,
}

/// Runs every embedded test of `spec` with its compiled `program`.
pub fn run_tests(program: &Program, spec: &TransformationSpec) -> TestReport {
    let mut report = TestReport::default();
    for (index, test) in spec.tests.iter().enumerate() {
        match run_one(program, test) {
            Ok(()) => report.passed += 1,
            Err((message, summary)) => {
                report.failed += 1;
                report.failures.push(TestFailure {
                    index,
                    name: test.name.clone(),
                    message,
                    summary,
                });
            }
        }
    }
    report
}

/// A failure as (message, one-line summary).
type Failure = (String, String);

fn same(text: String) -> Failure {
    (text.clone(), text)
}

fn run_one(program: &Program, test: &TransformationTest) -> Result<(), Failure> {
    let meta = match &test.meta {
        Some(v) => {
            Meta::from_json(v).map_err(|e| same(format!("meta is invalid: {}", chain(&e))))?
        }
        None => Meta::default(),
    };
    let input = match (program.input_format(), &test.input) {
        (InputFormat::Json, v) => Ok(v.clone()),
        (_, Value::String(raw)) => program.decode(raw.as_bytes()),
        (format, _) => {
            return Err(same(format!("input must be a string for {format:?} input")));
        }
    };
    let result = input.and_then(|input| program.apply_value(&input, &meta));
    // Compare numbers as jq does: an expected 12.0 equals an output 12.
    let expect = test
        .expect
        .as_ref()
        .map(|v| value::to_json(&value::to_jaq(v)));
    let expect = match expect {
        Some(Ok(v)) => Some(v),
        Some(Err(e)) => return Err(same(format!("expect is not comparable: {}", chain(&e)))),
        None => None,
    };
    match (&expect, &test.expect_error, result) {
        (Some(expected), None, Ok(out)) if out == *expected => Ok(()),
        (Some(expected), None, Ok(out)) => Err(diff(expected, &out)),
        (Some(_), None, Err(e)) => Err(same(format!(
            "expected an output, got an error: {}",
            chain(&e)
        ))),
        (None, Some(text), Err(e)) if render(&e).contains(text.as_str()) => Ok(()),
        (None, Some(text), Err(e)) => Err(same(format!(
            "expected an error containing {text:?}, got the error: {}",
            chain(&e)
        ))),
        (None, Some(text), Ok(out)) => Err(same(format!(
            "expected an error containing {text:?}, got the output {out}"
        ))),
        _ => Err(same("set exactly one of expect or expectError".into())),
    }
}

/// A unified diff of the pretty-printed values, and its changed lines on one line.
fn diff(expected: &Value, actual: &Value) -> Failure {
    let pretty =
        |v: &Value| serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string()) + "\n";
    let (expected, actual) = (pretty(expected), pretty(actual));
    let diff = TextDiff::from_lines(&expected, &actual);
    let unified = diff
        .unified_diff()
        .context_radius(2)
        .header("expected", "actual")
        .to_string();
    let changes: Vec<String> = diff
        .iter_all_changes()
        .filter_map(|c| {
            let sign = match c.tag() {
                ChangeTag::Delete => "-",
                ChangeTag::Insert => "+",
                ChangeTag::Equal => return None,
            };
            Some(format!("{sign}{}", c.value().trim()))
        })
        .collect();
    (
        format!("output differs from expect:\n{unified}"),
        format!(
            "output differs from expect (-expected +actual): {}",
            changes.join(" ")
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn report(spec: Value) -> TestReport {
        let spec: TransformationSpec = serde_json::from_value(spec).unwrap();
        run_tests(&Program::compile(&spec).unwrap(), &spec)
    }

    #[test]
    fn passing_and_failing_tests_are_counted() {
        let r = report(json!({
            "jq": "{name: .n, n: (.n | length)}",
            "tests": [
                {"name": "ok", "input": {"n": "ada"}, "expect": {"name": "ada", "n": 3}},
                {"name": "wrong", "input": {"n": "bob"}, "expect": {"name": "bob", "n": 4}},
                {"name": "error expected", "input": {"n": 5}, "expectError": "no output"}
            ]
        }));
        assert_eq!((r.passed, r.failed), (1, 2));
        let first = r.first_failure().unwrap();
        assert_eq!((first.index, first.name.as_str()), (1, "wrong"));
        assert!(
            first.message.contains("--- expected\n+++ actual\n"),
            "{}",
            first.message
        );
        assert!(
            first.message.contains("-  \"n\": 4\n+  \"n\": 3\n"),
            "{}",
            first.message
        );
        assert_eq!(
            first.summary,
            "output differs from expect (-expected +actual): -\"n\": 4 +\"n\": 3"
        );
        assert!(
            r.failures[1]
                .message
                .starts_with("expected an error containing \"no output\", got the output"),
            "{}",
            r.failures[1].message
        );
    }

    #[test]
    fn expect_error_matches_the_error_text() {
        let r = report(json!({
            "jq": "if .ok == \"yes\" then . else error(\"not ok: \\(.why)\") end",
            "inputFormat": "Form",
            "tests": [
                {"name": "fails", "input": "ok=&why=late", "expectError": "not ok: late"},
                {"name": "other error", "input": "why=x", "expectError": "timeout"}
            ]
        }));
        assert_eq!((r.passed, r.failed), (1, 1));
        assert_eq!(
            r.failures[0].message,
            "expected an error containing \"timeout\", got the error: jq error: not ok: x"
        );
    }
}
