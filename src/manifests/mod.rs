//! Standalone front-end: load, check and watch a directory of manifests.

pub mod load;
pub mod schema;
pub mod validate;
pub mod watch;

pub use load::{LoadError, SourceDoc, load_paths};
pub use validate::{Diagnostic, ValidateOptions, Validated, validate_docs};
