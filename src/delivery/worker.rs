//! One delivery attempt on its target's queue: wait for a queue slot, the breaker and the
//! rate limiter (holding no global permit meanwhile), then take a global permit, shape the
//! body, send, record the attempt and its outcome, and report health.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use super::breaker::{Admission, BreakerChange, BreakerState};
use super::classify::{Verdict, jitter, next_outcome};
use super::health::HealthCondition;
use super::route::Route;
use super::runtime::Deliveries;
use super::send::Sent;
use crate::api::{HEALTHY, READY};
use crate::error_chain::chain;
use crate::store::{AttemptRecord, ClaimedDelivery, Outcome};

/// Runs one claimed delivery to its next state.
pub(super) async fn run(
    deliveries: Arc<Deliveries>,
    route: Arc<Route>,
    delivery: ClaimedDelivery,
    cancel: CancellationToken,
) {
    if let Err(at) = attempt(&deliveries, &route, &delivery, &cancel).await {
        // Not attempted: give the claim back so it runs later (or after a restart).
        if let Err(e) = deliveries.store.release(&delivery.id, at).await {
            tracing::warn!(error = %chain(&e), id = %delivery.id, "releasing a delivery");
        }
    }
    deliveries.finish(&delivery);
}

/// Makes the attempt; `Err(when)` when it was not made and should be released until `when`.
async fn attempt(
    deliveries: &Deliveries,
    route: &Route,
    delivery: &ClaimedDelivery,
    cancel: &CancellationToken,
) -> Result<(), DateTime<Utc>> {
    let slot = tokio::select! {
        slot = route.queue.clone().acquire_owned() => slot.map_err(|_| Utc::now())?,
        _ = cancel.cancelled() => return Err(Utc::now()),
    };
    if route.suspended || deliveries.disabled(route) {
        return Err(Utc::now() + deliveries.config.poll);
    }
    let now = Instant::now();
    if let Admission::Wait(until) = route.breaker.admit(now) {
        return Err(Utc::now() + (until - now));
    }
    if let Some(limiter) = &route.limiter {
        tokio::select! {
            _ = limiter.until_ready() => {}
            _ = cancel.cancelled() => return Err(Utc::now()),
        }
    }
    let permit = tokio::select! {
        permit = deliveries.global.clone().acquire_owned() => permit.map_err(|_| Utc::now())?,
        _ = cancel.cancelled() => return Err(Utc::now()),
    };

    // A transformation error is the configuration's fault, not the destination's.
    let (sent, reached_destination) =
        match route.body_async(&delivery.event, &deliveries.pool).await {
            Ok(out) => (
                // The event's id: the same message for every delivery of it, replays included.
                route
                    .destination
                    .send_message(
                        &delivery.event.id,
                        delivery.replay.as_deref(),
                        &out.content_type,
                        &out.headers,
                        out.body,
                    )
                    .await,
                true,
            ),
            Err(e) => (transformation_failed(route, e), false),
        };
    let finished = Utc::now();
    let outcome = next_outcome(
        sent.verdict,
        delivery.attempts,
        &route.destination.schedule,
        finished,
        jitter(),
    );
    let summary = sent_summary(&sent, sent.record.error.clone());
    let auto_error = sent
        .record
        .error
        .clone()
        .or_else(|| sent.record.response_status.map(|s| format!("HTTP {s}")))
        .unwrap_or_else(|| "unknown".to_owned());
    let summary_status = sent.record.response_status;
    let took_seconds = sent.record.duration_ms as f64 / 1000.0;
    // The destination is done with: free its queue slot and the global permit before the
    // attempt is made durable, so the commit's fsync does not throttle the queue. The
    // delivery stays claimed here until `finish`, so it cannot be claimed twice meanwhile.
    drop(permit);
    drop(slot);
    route.pace.finished(Instant::now());
    if let Err(e) = deliveries
        .store
        .complete(&delivery.id, sent.record, outcome.clone())
        .await
    {
        tracing::error!(error = %chain(&e), id = %delivery.id, "recording an attempt; the lease will expire and it runs again");
        return Ok(());
    }
    tracing::debug!(id = %delivery.id, target = ?delivery.target, ?outcome, error = ?summary.error, "delivery attempt");
    let attempts = delivery.attempts + 1;
    if super::notice::worth_notice(
        &delivery.event.event_type,
        attempts,
        &outcome,
        deliveries.config.failing_after,
    ) {
        deliveries.notify(super::notice::DeliveryNotice {
            delivery_id: delivery.id.clone(),
            target: delivery.target.clone(),
            event: delivery.event.clone(),
            attempts,
            outcome: outcome.clone(),
            last_error: auto_error.clone(),
            response_status: summary_status,
            at: finished,
        });
    }
    deliveries
        .metrics
        .attempt(&delivery.target, took_seconds, &outcome);
    let stats = deliveries.stats(&delivery.target);
    let delivered = outcome == Outcome::Delivered;
    stats.attempted(
        finished,
        delivered,
        matches!(outcome, Outcome::Failed | Outcome::Dead),
    );
    let attempted = match (reached_destination, delivered) {
        (false, _) => Attempted::NotSent,
        (true, true) => Attempted::Delivered,
        (true, false) => Attempted::Failed,
    };
    report_health(deliveries, route, &summary, attempted);
    // Only what the destination answered counts: not a refused or unshaped delivery.
    if attempted != Attempted::NotSent && summary.refused.is_none() {
        deliveries
            .count_for_auto_disable(route, &stats, delivered, finished, &auto_error)
            .await;
    }
    Ok(())
}

/// What health reporting needs of an attempt.
struct Summary {
    verdict: Verdict,
    refused: Option<String>,
    error: Option<String>,
}

fn sent_summary(sent: &Sent, error: Option<String>) -> Summary {
    Summary {
        verdict: sent.verdict,
        refused: sent.refused.as_ref().map(ToString::to_string),
        error,
    }
}

fn transformation_failed(route: &Route, e: crate::transform::TransformError) -> Sent {
    Sent {
        record: AttemptRecord {
            started_at: Utc::now(),
            duration_ms: 0,
            request: route.destination.request_line(),
            response_status: None,
            response_headers: Vec::new(),
            response_body: String::new(),
            error: Some(format!("transformation failed: {}", chain(&e))),
        },
        verdict: Verdict::Failed,
        refused: None,
    }
}

/// Updates the breaker and the Healthy (and, for refused destinations, Ready) condition:
/// Delivering after a success, DeliveriesFailing after a failure, CircuitOpen while the
/// breaker is not closed, DestinationRefused, Gone, TransformationFailing.
fn report_health(deliveries: &Deliveries, route: &Route, sent: &Summary, outcome: Attempted) {
    let target = &route.target;
    let sink = &deliveries.sink;
    let last_error = sent.error.as_deref().unwrap_or("unknown");
    let condition = match outcome {
        Attempted::NotSent => HealthCondition::bad(
            "TransformationFailing",
            format!("the last delivery was not sent: {last_error}"),
        ),
        Attempted::Delivered => {
            route.breaker.success();
            HealthCondition::good("Delivering", "the last delivery attempt succeeded")
        }
        Attempted::Failed => {
            let change = route.breaker.failure(Instant::now());
            if let Some(refused) = &sent.refused {
                sink.condition(target, READY, false, "DestinationRefused", refused);
                HealthCondition::bad("DestinationRefused", refused.clone())
            } else if let Some(BreakerChange::Opened(n)) = change {
                deliveries.metrics.circuit_opened(target);
                HealthCondition::bad(
                    "CircuitOpen",
                    format!(
                        "circuit open after {n} consecutive failed attempts; deliveries wait in the queue and one probe goes after the open duration (last error: {last_error})"
                    ),
                )
            } else if route.breaker.state() != BreakerState::Closed {
                // An attempt that was in flight when the circuit opened: still open.
                HealthCondition::bad(
                    "CircuitOpen",
                    format!(
                        "circuit open; deliveries wait in the queue (last error: {last_error})"
                    ),
                )
            } else if sent.verdict == Verdict::Gone {
                HealthCondition::bad(
                    "Gone",
                    "the subscriber answered 410 Gone; that delivery will not be retried",
                )
            } else {
                HealthCondition::bad(
                    "DeliveriesFailing",
                    format!(
                        "the last delivery attempt failed: {last_error}; failed attempts are retried per spec.retry.schedule"
                    ),
                )
            }
        }
    };
    let stats = deliveries.stats(target);
    if let Some(shown) = stats.health.delivery(condition) {
        sink.condition(target, HEALTHY, shown.ok, shown.reason, &shown.message);
    }
}

/// What became of an attempt, for health.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Attempted {
    /// The body could not be made (transformation failed): nothing was sent.
    NotSent,
    /// The destination accepted it.
    Delivered,
    /// It was sent (or refused) and failed.
    Failed,
}
