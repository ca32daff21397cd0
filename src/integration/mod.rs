//! Integrations: one pooled HTTP client per Integration with its auth (API key, Basic,
//! Bearer, OAuth2 client credentials, OAuth2 authorization code), rate limit, retries with backoff and jitter, circuit
//! breaker and timeout; its health check, call log and counters. Knows nothing of Kubernetes:
//! the engine builds clients from specs and reports what they observe.

pub mod auth;
pub mod authcode;
pub mod client;
pub mod credentials;
pub mod error;
pub mod health;
pub mod log;
pub mod metrics;
pub mod oauth2;
pub mod request;
pub mod retry;
pub mod settings;
pub mod stats;
pub mod target;

pub use auth::Authenticator;
pub use client::IntegrationClient;
pub use credentials::Credentials;
pub use error::{BuildError, IntegrationError};
pub use health::HealthOutcome;
pub use log::{CallLog, CallLogEntry};
pub use metrics::IntegrationMetrics;
pub use oauth2::{TokenError, TokenSource};
pub use request::{CallRequest, CallResponse};
pub use retry::RetryPolicy;
pub use settings::Settings;
pub use stats::{IntegrationStats, StatsSnapshot};
