//! Prometheus metrics of outbound delivery: attempts by target and outcome, attempt
//! duration, and circuit-breaker openings. Only running targets are labelled.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::store::{Outcome, Target};

/// Labels of a target (subscription or endpoint forward).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TargetLabels {
    /// Namespace of the target.
    pub namespace: String,
    /// `subscription` or `forward`.
    pub kind: &'static str,
    /// Name of the target.
    pub name: String,
}

/// Labels of an attempt counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AttemptLabels {
    /// Namespace of the target.
    pub namespace: String,
    /// `subscription` or `forward`.
    pub kind: &'static str,
    /// Name of the target.
    pub name: String,
    /// delivered, retry, failed or dead.
    pub outcome: &'static str,
}

/// Delivery metrics.
#[derive(Clone, Debug)]
pub struct DeliveryMetrics {
    /// Delivery attempts by target and what they led to.
    pub attempts: Family<AttemptLabels, Counter>,
    /// Duration of attempts (request sent to response read), in seconds.
    pub attempt_seconds: Histogram,
    /// Times a target's circuit breaker opened.
    pub circuit_opened: Family<TargetLabels, Counter>,
}

impl Default for DeliveryMetrics {
    fn default() -> Self {
        Self {
            attempts: Family::default(),
            attempt_seconds: Histogram::new([
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            circuit_opened: Family::default(),
        }
    }
}

impl DeliveryMetrics {
    /// Creates the metrics and registers them.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register(
            "delivery_attempts",
            "Outbound delivery attempts by target and outcome (delivered, retry, failed, dead)",
            m.attempts.clone(),
        );
        registry.register(
            "delivery_attempt_seconds",
            "Duration of outbound delivery attempts",
            m.attempt_seconds.clone(),
        );
        registry.register(
            "delivery_circuit_opened",
            "Times a target's circuit breaker opened",
            m.circuit_opened.clone(),
        );
        m
    }

    /// Counts one attempt of `target` that took `seconds` and led to `outcome`.
    pub fn attempt(&self, target: &Target, seconds: f64, outcome: &Outcome) {
        self.attempt_seconds.observe(seconds);
        let label = match outcome {
            Outcome::Delivered => "delivered",
            Outcome::Retry { .. } => "retry",
            Outcome::Failed => "failed",
            Outcome::Dead => "dead",
        };
        self.attempts
            .get_or_create(&AttemptLabels {
                namespace: target.namespace.clone(),
                kind: target.kind.as_str(),
                name: target.name.clone(),
                outcome: label,
            })
            .inc();
    }

    /// Counts an opening of `target`'s circuit breaker.
    pub fn circuit_opened(&self, target: &Target) {
        self.circuit_opened
            .get_or_create(&TargetLabels {
                namespace: target.namespace.clone(),
                kind: target.kind.as_str(),
                name: target.name.clone(),
            })
            .inc();
    }
}
