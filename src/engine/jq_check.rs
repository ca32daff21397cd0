//! jq programs and Transformation tests, checked offline: every jq field compiles, schemas
//! compile and every embedded test passes.

use crate::api::TransformationSpec;
use crate::transform::{self, BuildError, CompileError, Program};

/// One problem found in a resource's jq or tests.
pub struct Finding {
    /// JSON pointer of the field at fault.
    pub pointer: String,
    /// CamelCase reason for the Ready condition.
    pub reason: &'static str,
    /// One-line message.
    pub message: String,
}

/// Checks that a Transformation builds and that its embedded tests pass.
pub fn transformation(spec: &TransformationSpec) -> Vec<Finding> {
    transformation_counted(spec).0
}

/// The same, with how many embedded tests passed and failed (None: the program does not
/// build, so no test ran).
pub fn transformation_counted(spec: &TransformationSpec) -> (Vec<Finding>, Option<(u32, u32)>) {
    let program = match Program::compile(spec) {
        Ok(program) => program,
        Err(e) => {
            let message = match &e {
                BuildError::Jq(c) => format!("spec.jq does not compile: {}", one_line(c)),
                other => crate::error_chain::render(other),
            };
            let finding = Finding {
                pointer: e.pointer().to_owned(),
                reason: "TransformationInvalid",
                message,
            };
            return (vec![finding], None);
        }
    };
    let report = transform::run_tests(&program, spec);
    let counts = (report.passed, report.failed);
    let findings = report
        .failures
        .into_iter()
        .map(|f| Finding {
            pointer: format!("/spec/tests/{}", f.index),
            reason: "TestsFailed",
            message: format!("spec.tests[{}] {:?} failed: {}", f.index, f.name, f.summary),
        })
        .collect();
    (findings, Some(counts))
}

/// Checks that the jq expression at `pointer` (if set) compiles.
pub fn expression(pointer: &str, src: Option<&str>, reason: &'static str) -> Option<Finding> {
    let error = transform::jq::compile(src?, &[]).err()?;
    let field = pointer.trim_start_matches('/').replace('/', ".");
    Some(Finding {
        pointer: pointer.to_owned(),
        reason,
        message: format!("{field} does not compile: {}", one_line(&error)),
    })
}

fn one_line(e: &CompileError) -> String {
    format!("line {}, column {}: {}", e.line, e.column, e.message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn failing_tests_are_found_by_index() {
        let spec: TransformationSpec = serde_json::from_value(json!({
            "jq": "{a: .x}",
            "tests": [
                {"name": "ok", "input": {"x": 1}, "expect": {"a": 1}},
                {"name": "bad", "input": {"x": 2}, "expect": {"a": 3}}
            ]
        }))
        .unwrap();
        let (found, counts) = transformation_counted(&spec);
        assert_eq!(counts, Some((1, 1)));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].pointer, "/spec/tests/1");
        assert_eq!(
            found[0].message,
            "spec.tests[1] \"bad\" failed: output differs from expect (-expected +actual): -\"a\": 3 +\"a\": 2"
        );
    }

    #[test]
    fn expressions_report_their_field() {
        let f = expression("/spec/filter", Some(".type == "), "InvalidFilter").unwrap();
        assert_eq!(
            f.message,
            "spec.filter does not compile: line 1, column 10: expected term, found end of program"
        );
        assert!(expression("/spec/filter", Some(".type"), "InvalidFilter").is_none());
        assert!(expression("/spec/filter", None, "InvalidFilter").is_none());
    }
}
