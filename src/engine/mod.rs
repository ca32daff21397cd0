//! The engine: desired-state snapshot and its checks, the running topology (diff & apply),
//! event acceptance (the publish API, webhook receiving), the evaluation pool, status reports
//! and metrics. Knows nothing of Kubernetes.

pub mod accept;
pub mod auth;
pub mod check;
pub mod dependents;
pub mod endpoints;
pub mod forwards;
pub mod integrations;
pub mod jq_check;
pub mod metrics;
pub mod publish;
pub mod receive;
pub mod runtime;
pub mod snapshot;
pub mod status;
pub mod subscription;
pub mod syncs;
pub mod topology;

pub use accept::{AcceptError, AcceptedEvent};
// The matcher lives in `api` (the receivers use it too); engine paths keep working.
pub use crate::api::pattern;
pub use check::{Problem, check};
pub use runtime::{ApplySummary, Desired, Engine, EngineConfig};
pub use snapshot::{Meta, Object, ObjectKey, SecretObject, Snapshot};
pub use status::{ResourceStatus, StatusBoard};
