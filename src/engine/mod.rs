//! The engine: desired-state snapshot and its checks, the running topology (diff & apply),
//! event acceptance (the publish API, webhook receiving), the evaluation pool, status reports
//! and metrics. Knows nothing of Kubernetes.

pub mod accept;
pub mod auth;
pub mod check;
pub mod cloudevent;
pub mod config;
pub mod connections;
pub mod dead_letter;
pub mod dependents;
pub mod endpoints;
pub mod event_fields;
pub mod event_types;
pub mod forwards;
pub mod health;
pub mod integrations;
pub mod jq_check;
pub mod lifecycle;
pub mod lifecycle_events;
pub mod lifecycle_state;
pub mod metrics;
pub mod piece;
pub mod publish;
pub mod receive;
pub mod replay;
pub mod replay_api;
pub mod replay_run;
pub mod report;
pub mod revocation;
pub mod runtime;
pub mod schedules;
pub mod snapshot;
pub mod status;
pub mod subscription;
pub mod syncs;
pub mod topology;
pub mod views;

pub use accept::{AcceptError, AcceptedEvent, MayPublish};
pub use check::{Problem, check};
pub use runtime::{ApplySummary, Desired, Engine, EngineConfig};
pub use snapshot::{Meta, Object, ObjectKey, SecretObject, Snapshot};
pub use status::{ResourceStatus, StatusBoard};
