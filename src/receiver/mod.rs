//! Inbound webhook endpoints: the running piece of each WebhookEndpoint (verification,
//! source ranges, dedup, event type, transformation, route) and the request pipeline that
//! turns a raw request into a routed, not yet committed event.
//!
//! The HTTP handler lives in `server::hooks`; the engine commits what [`process`] prepares.

pub mod client_ip;
pub mod config;
pub mod endpoint;
pub mod error;
pub mod extract;
pub mod media;
pub mod metrics;
pub mod process;
pub mod stats;

pub use config::ReceiverConfig;
pub use endpoint::{EndpointInputs, EndpointPiece};
pub use error::{EndpointError, HookError};
pub use process::{Inbound, Prepared, process};
pub use stats::{EndpointStats, Outcome};
