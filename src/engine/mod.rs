//! The engine: desired-state snapshot, its checks, and (later) the running topology.

pub mod check;
pub mod jq_check;
pub mod snapshot;

pub use check::{Problem, check};
pub use snapshot::{Meta, Object, ObjectKey, SecretObject, Snapshot};
