//! Prometheus metrics of the engine (text format on the admin port's `/metrics`).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::delivery::DeliveryMetrics;
use crate::integration::IntegrationMetrics;
use crate::receiver::metrics::ReceiverMetrics;

/// Label set with a namespace.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NamespaceLabel {
    /// Namespace.
    pub namespace: String,
}

/// Label set with a delivery status.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabel {
    /// Delivery status.
    pub status: String,
}

/// Every metric the engine exports.
pub struct Metrics {
    registry: Registry,
    /// Events durably accepted, by namespace.
    pub events_accepted: Family<NamespaceLabel, Counter>,
    /// Events refused as duplicates (same id), by namespace.
    pub events_duplicate: Family<NamespaceLabel, Counter>,
    /// Subscription filters that failed or yielded a non-boolean (no match), by namespace.
    pub filter_errors: Family<NamespaceLabel, Counter>,
    /// Deliveries in the store by status.
    pub queue_depth: Family<StatusLabel, Gauge>,
    /// Time to commit an acceptance durably, in seconds.
    pub store_commit_seconds: Histogram,
    /// Snapshots applied.
    pub reloads: Counter,
    /// Snapshots applied with at least one resource failing.
    pub reload_failures: Counter,
    /// Inbound webhook metrics.
    pub receiver: ReceiverMetrics,
    /// Outbound delivery metrics.
    pub delivery: DeliveryMetrics,
    /// Calls through integrations.
    pub integration: IntegrationMetrics,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("switchboard");
        let m = Self {
            events_accepted: Family::default(),
            events_duplicate: Family::default(),
            filter_errors: Family::default(),
            queue_depth: Family::default(),
            store_commit_seconds: Histogram::new([
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
            ]),
            reloads: Counter::default(),
            reload_failures: Counter::default(),
            receiver: ReceiverMetrics::default(),
            delivery: DeliveryMetrics::default(),
            integration: IntegrationMetrics::default(),
            registry: Registry::default(),
        };
        registry.register(
            "events_accepted",
            "Events durably accepted",
            m.events_accepted.clone(),
        );
        registry.register(
            "events_duplicate",
            "Events refused as duplicates of a stored id",
            m.events_duplicate.clone(),
        );
        registry.register(
            "filter_errors",
            "Subscription filters that failed or yielded a non-boolean (counted as no match)",
            m.filter_errors.clone(),
        );
        registry.register(
            "queue_depth",
            "Deliveries in the store by status",
            m.queue_depth.clone(),
        );
        registry.register(
            "store_commit_seconds",
            "Time to durably commit an acceptance",
            m.store_commit_seconds.clone(),
        );
        registry.register(
            "reloads",
            "Desired-state snapshots applied",
            m.reloads.clone(),
        );
        registry.register(
            "reload_failures",
            "Snapshots applied with failing resources",
            m.reload_failures.clone(),
        );
        let receiver = ReceiverMetrics::register(&mut registry);
        let delivery = DeliveryMetrics::register(&mut registry);
        let integration = IntegrationMetrics::register(&mut registry);
        Self {
            registry,
            receiver,
            delivery,
            integration,
            ..m
        }
    }

    /// The metrics in Prometheus text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}
