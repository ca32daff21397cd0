//! The custom resources: Switchboard's public contract (group `switchboard.dev/v1alpha1`).

pub mod common;
pub mod crds;
pub mod event_type;
pub mod integration;
pub mod kind;
pub mod pattern;
pub mod provider;
pub mod sync_job;
pub mod sync_schedule;
pub mod transformation;
pub mod webhook_endpoint;
pub mod webhook_subscription;

pub use common::*;
pub use event_type::*;
pub use integration::*;
pub use kind::Kind;
pub use provider::*;
pub use sync_job::*;
pub use sync_schedule::*;
pub use transformation::*;
pub use webhook_endpoint::*;
pub use webhook_subscription::*;

/// The API group of every kind.
pub const GROUP: &str = "switchboard.dev";
/// The API version of every kind.
pub const VERSION: &str = "v1alpha1";
/// `apiVersion` as written in manifests.
pub const API_VERSION: &str = "switchboard.dev/v1alpha1";
