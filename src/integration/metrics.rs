//! Prometheus metrics of Integration calls: count by integration, method and status class,
//! duration, and bytes. Only configured integrations are labelled.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Labels of a call counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    /// Namespace of the integration.
    pub namespace: String,
    /// Name of the integration.
    pub integration: String,
    /// HTTP method.
    pub method: String,
    /// "2xx", "4xx", "5xx", … or the error code when there was no response.
    pub outcome: String,
}

/// Labels of per-integration metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct IntegrationLabels {
    /// Namespace of the integration.
    pub namespace: String,
    /// Name of the integration.
    pub integration: String,
}

fn duration_histogram() -> Histogram {
    Histogram::new([
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    ])
}

/// Integration metrics.
#[derive(Clone, Debug)]
pub struct IntegrationMetrics {
    /// Calls by integration, method and outcome.
    pub calls: Family<CallLabels, Counter>,
    /// Call duration (with retries) in seconds, by integration.
    pub duration: Family<IntegrationLabels, Histogram, fn() -> Histogram>,
    /// Response body bytes received, by integration.
    pub response_bytes: Family<IntegrationLabels, Counter>,
    /// Request body bytes sent, by integration.
    pub request_bytes: Family<IntegrationLabels, Counter>,
}

impl Default for IntegrationMetrics {
    fn default() -> Self {
        Self {
            calls: Family::default(),
            duration: Family::new_with_constructor(duration_histogram),
            response_bytes: Family::default(),
            request_bytes: Family::default(),
        }
    }
}

impl IntegrationMetrics {
    /// Creates the metrics and registers them.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register(
            "integration_calls",
            "Calls through integrations by method and outcome",
            m.calls.clone(),
        );
        registry.register(
            "integration_call_seconds",
            "Duration of calls through integrations, retries included",
            m.duration.clone(),
        );
        registry.register(
            "integration_response_bytes",
            "Response body bytes received from integrations",
            m.response_bytes.clone(),
        );
        registry.register(
            "integration_request_bytes",
            "Request body bytes sent to integrations",
            m.request_bytes.clone(),
        );
        m
    }

    /// Counts one call.
    #[allow(clippy::too_many_arguments)] // one call's labels and figures, spelt out
    pub fn record(
        &self,
        namespace: &str,
        integration: &str,
        method: &str,
        outcome: String,
        seconds: f64,
        request_bytes: u64,
        response_bytes: u64,
    ) {
        let labels = IntegrationLabels {
            namespace: namespace.to_owned(),
            integration: integration.to_owned(),
        };
        self.calls
            .get_or_create(&CallLabels {
                namespace: namespace.to_owned(),
                integration: integration.to_owned(),
                method: method.to_owned(),
                outcome,
            })
            .inc();
        self.duration.get_or_create(&labels).observe(seconds);
        self.request_bytes
            .get_or_create(&labels)
            .inc_by(request_bytes);
        self.response_bytes
            .get_or_create(&labels)
            .inc_by(response_bytes);
    }
}
