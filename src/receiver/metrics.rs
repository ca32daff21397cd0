//! Prometheus metrics of the receivers: requests by endpoint and outcome, rejections by
//! reason. Only configured endpoints are labelled, so callers cannot grow the label sets.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use super::stats::Outcome;

/// Labels of a request counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// Namespace of the endpoint.
    pub namespace: String,
    /// Name of the endpoint.
    pub endpoint: String,
    /// accepted, duplicate, ignored, rejected or failed.
    pub outcome: &'static str,
}

/// Labels of a rejection counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    /// Namespace of the endpoint.
    pub namespace: String,
    /// Name of the endpoint.
    pub endpoint: String,
    /// The reason code (bad_signature, source_not_allowed, …).
    pub reason: &'static str,
}

/// Receiver metrics.
#[derive(Clone, Debug, Default)]
pub struct ReceiverMetrics {
    /// Webhook requests by endpoint and outcome.
    pub requests: Family<RequestLabels, Counter>,
    /// Rejected or failed webhook requests by endpoint and reason.
    pub rejections: Family<ReasonLabels, Counter>,
}

impl ReceiverMetrics {
    /// Creates the metrics and registers them.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register(
            "webhook_requests",
            "Inbound webhook requests by endpoint and outcome",
            m.requests.clone(),
        );
        registry.register(
            "webhook_rejections",
            "Inbound webhook requests refused or failed, by reason",
            m.rejections.clone(),
        );
        m
    }

    /// Counts one request of an endpoint.
    pub fn record(&self, namespace: &str, endpoint: &str, outcome: Outcome) {
        self.requests
            .get_or_create(&RequestLabels {
                namespace: namespace.to_owned(),
                endpoint: endpoint.to_owned(),
                outcome: outcome.label(),
            })
            .inc();
        if let Outcome::Rejected(reason) | Outcome::Failed(reason) = outcome {
            self.rejections
                .get_or_create(&ReasonLabels {
                    namespace: namespace.to_owned(),
                    endpoint: endpoint.to_owned(),
                    reason,
                })
                .inc();
        }
    }
}
