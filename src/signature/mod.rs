//! Signing and verification schemes for webhooks, as pure functions.
//!
//! Each scheme lives in its own file and works over the raw body bytes, the request headers,
//! the secret and an explicit `now`, before anything parses the body. [`verify`] dispatches
//! on a [`VerifyConfig`]; the per-scheme functions are public too. Outbound deliveries are
//! signed with [`standard_webhooks::sign`] or [`github::sign`].

#![deny(missing_docs)]

mod authorization;
mod config;
mod encoding;
mod error;
mod form;
pub mod mac;
mod request;
mod timestamp;
mod verify;

pub mod basic;
pub mod bearer;
pub mod generic_hmac;
pub mod github;
pub mod gitlab;
pub mod paypal;
pub mod shopify;
pub mod slack;
pub mod standard_webhooks;
pub mod stripe;
pub mod twilio;

#[cfg(test)]
mod test_support;

/// The PayPal test PKI the integration tests use too.
#[cfg(test)]
#[path = "../../tests/support/paypal_pki.rs"]
#[allow(dead_code, missing_docs)]
pub(crate) mod paypal_pki;

pub use config::{DEFAULT_TOLERANCE, VerifyConfig};
pub use error::VerifyError;
pub use request::{Request, Secrets, Verified};
pub use verify::verify;
