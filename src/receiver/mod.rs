//! Inbound webhook endpoints: the running piece of each WebhookEndpoint (verification,
//! source ranges, dedup, event type, transformation, route) and the request pipeline that
//! turns a raw request into a routed, not yet committed event.
//!
//! The engine runs the gates ([`gate::admit`], then [`gate::slot`] once the body is read) and
//! [`process`] and commits what it prepares;
//! the HTTP handler in `server::hooks` only translates HTTP.

pub mod body;
pub mod client_ip;
pub mod config;
pub mod endpoint;
pub mod error;
pub mod extract;
pub mod gate;
pub mod media;
pub mod metrics;
pub mod paypal_certs;
pub mod process;
pub mod stats;

pub use body::BodyError;
pub use config::ReceiverConfig;
pub use endpoint::{EndpointInputs, EndpointPiece};
pub use error::{EndpointError, HookError};
pub use paypal_certs::{CertStore, PayPalCertConfig};
pub use process::{Inbound, Prepared, process, public_url};
pub use stats::{EndpointStats, Outcome};
