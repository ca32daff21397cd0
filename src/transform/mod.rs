//! The transformation engine: jq programs (on jaq) with input/output formats, JSON Schema
//! checks, embedded tests, predicates and extraction expressions, all evaluated inside a
//! step/time/stack/memory budget (see [`sandbox`]).

pub mod alloc;
pub mod cases;
pub mod eval;
pub mod format;
pub mod inline;
pub mod jq;
pub mod meta;
pub mod natives;
pub mod pool;
pub mod predicate;
pub mod program;
pub mod quick;
pub mod read;
pub mod sandbox;
pub mod schema;
pub mod size;
pub mod value;
pub mod write;

pub use cases::{TestFailure, TestReport, run_tests};
pub use jq::CompileError;
pub use meta::Meta;
pub use pool::EvalPool;
pub use predicate::{JqExpr, Predicate, PredicateResult};
pub use program::{BuildError, Output, Program, TransformError};
pub use sandbox::{Exceeded, Limits};
