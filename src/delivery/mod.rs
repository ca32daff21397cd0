//! Outbound delivery: the dispatcher that claims due deliveries, per-target queues with
//! their own concurrency, rate limit and circuit breaker under a global bound, the signed
//! HTTP attempt behind an SSRF guard, and what each result means for the delivery.

pub mod autodisable;
pub mod breaker;
pub mod classify;
pub mod cloudevents_out;
pub mod credentials;
pub mod destination;
mod disable;
pub mod dispatcher;
pub mod health;
pub mod lease;
pub mod metrics;
pub mod notice;
pub mod pace;
pub mod route;
mod runtime;
pub mod secrets;
pub mod send;
pub mod ssrf;
pub mod stats;
mod worker;

use std::sync::Arc;
use std::time::Duration;

pub use autodisable::AutoDisablePolicy;
pub use destination::{
    Destination, DestinationError, DestinationSpec, Signer, USER_AGENT, guarded_client_builder,
};
pub use health::{HealthCondition, HealthState};
pub use metrics::DeliveryMetrics;
pub use notice::DeliveryNotice;
pub use route::{Envelope, Route};
pub use runtime::Deliveries;
pub use ssrf::{DestinationPolicy, Refused};
pub use stats::{Stats, StatusSink};

/// Delivery settings.
#[derive(Clone, Debug)]
pub struct DeliveryConfig {
    /// Which addresses deliveries may reach.
    pub policy: Arc<DestinationPolicy>,
    /// Attempts in flight at once over all targets.
    pub global_concurrency: usize,
    /// Attempts in flight at once per target.
    pub target_concurrency: usize,
    /// How long a claim is leased; renewed every third of it while the delivery is held here
    /// ([`lease`]), so after a crash claimed deliveries run again once it has expired.
    pub lease: Duration,
    /// How often the store is polled for due work when nothing wakes the dispatcher.
    pub poll: Duration,
    /// Most deliveries claimed at once.
    pub batch: usize,
    /// When a subscription whose attempts keep failing is disabled ([`autodisable`]).
    pub auto_disable: AutoDisablePolicy,
    /// The attempt whose failure is told as a `switchboard.delivery.failing` lifecycle
    /// event (once per delivery); 0: never.
    pub failing_after: u32,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            policy: Arc::default(),
            global_concurrency: 256,
            target_concurrency: 16,
            lease: Duration::from_secs(30),
            poll: Duration::from_millis(250),
            batch: 256,
            auto_disable: AutoDisablePolicy::default(),
            failing_after: 3,
        }
    }
}
