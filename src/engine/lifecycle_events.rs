//! Lifecycle events: Switchboard publishes events about itself (`switchboard.*`) into the
//! namespace where they happen, as ordinary events any WebhookSubscription takes by type.
//! Their sources: the delivery runtime's notices (a delivery failing, given up), the status
//! board's transitions (a subscription disabled or re-enabled, a target recovered, an
//! Integration unhealthy or recovered, a SyncJob completed or failed), the receivers' answers
//! (an endpoint rejecting at a high rate), and front-end calls (an OAuth connection needing
//! attention). One task turns them into events: bounded per subject (a token bucket each), never
//! delivered through the subscription they are about, stored only when some subscription takes
//! them, and committed through the same durable acceptance as the publish API.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};
use sha2::Digest;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::api::{HEALTHY, Kind, READY};
use crate::delivery::DeliveryNotice;
use crate::error_chain::chain;
use crate::receiver::Outcome as Answer;
use crate::store::{Acceptance, NewEvent, Outcome, Payload, Target, TargetKind, new_event_id};

use super::lifecycle_state::{Bucket, Inputs, Window, lock};
pub use super::lifecycle_state::{LifecycleEvent, Subject};
use super::runtime::Engine;
use super::snapshot::ObjectKey;
use super::status::Transition;

/// A delivery's `failing_after`-th attempt failed (`--lifecycle-failing-after`).
pub const DELIVERY_FAILING: &str = "switchboard.delivery.failing";
/// A delivery was given up on: retries exhausted (Dead) or not retryable (Failed).
pub const DELIVERY_EXHAUSTED: &str = "switchboard.delivery.exhausted";
/// A subscription's deliveries succeed again after failing.
pub const TARGET_RECOVERED: &str = "switchboard.target.recovered";
/// A subscription was auto-disabled.
pub const SUBSCRIPTION_DISABLED: &str = "switchboard.subscription.disabled";
/// An auto-disabled subscription was re-enabled.
pub const SUBSCRIPTION_REENABLED: &str = "switchboard.subscription.reenabled";
/// A webhook endpoint refused many of its requests within a minute.
pub const ENDPOINT_REJECTING: &str = "switchboard.endpoint.rejecting";
/// An Integration became unhealthy (health check failing, circuit open).
pub const INTEGRATION_UNHEALTHY: &str = "switchboard.integration.unhealthy";
/// An unhealthy Integration is healthy again.
pub const INTEGRATION_RECOVERED: &str = "switchboard.integration.recovered";
/// An OAuth connection needs a person (consent revoked, refresh failing, re-authorization).
pub const OAUTH_ATTENTION: &str = "switchboard.oauth.attention_needed";
/// A SyncJob completed.
pub const SYNCJOB_COMPLETED: &str = "switchboard.syncjob.completed";
/// A SyncJob failed.
pub const SYNCJOB_FAILED: &str = "switchboard.syncjob.failed";

/// Every lifecycle event type, as documented (docs/lifecycle-events.md).
pub const ALL_TYPES: [&str; 11] = [
    DELIVERY_FAILING,
    DELIVERY_EXHAUSTED,
    TARGET_RECOVERED,
    SUBSCRIPTION_DISABLED,
    SUBSCRIPTION_REENABLED,
    ENDPOINT_REJECTING,
    INTEGRATION_UNHEALTHY,
    INTEGRATION_RECOVERED,
    OAUTH_ATTENTION,
    SYNCJOB_COMPLETED,
    SYNCJOB_FAILED,
];

/// The `source` of every lifecycle event.
pub const SOURCE: &str = "switchboard";

/// The window over which an endpoint's rejections are counted.
const REJECTION_WINDOW: Duration = Duration::from_secs(60);
/// Dead letters being written at once.
const DEAD_LETTERS_AT_ONCE: usize = 16;
/// Subjects whose rate state is kept before idle ones are forgotten.
const MAX_BUCKETS: usize = 10_000;

pub use super::config::LifecycleConfig;

impl Engine {
    /// Publishes a lifecycle event (queued for the lifecycle task; dropped with a warning
    /// when the queue is full).
    pub fn lifecycle_event(&self, event: LifecycleEvent) {
        if self.config().lifecycle.per_subject_per_minute > 0 {
            self.lifecycle.queue(event);
        }
    }

    /// Counts an endpoint's answer; publishes `switchboard.endpoint.rejecting` once a minute
    /// holds at least `rejecting_min` rejections that are at least half its requests.
    pub(super) fn endpoint_answered(&self, key: &ObjectKey, answer: Answer) {
        let min = self.config().lifecycle.rejecting_min;
        let told = {
            let mut windows = lock(&self.lifecycle.windows);
            let window = windows.entry(key.clone()).or_insert_with(|| Window {
                started: Instant::now(),
                total: 0,
                rejected: 0,
                by_code: BTreeMap::new(),
                told: false,
            });
            if window.started.elapsed() >= REJECTION_WINDOW {
                *window = Window {
                    started: Instant::now(),
                    total: 0,
                    rejected: 0,
                    by_code: BTreeMap::new(),
                    told: false,
                };
            }
            window.total += 1;
            if let Answer::Rejected(code) = answer {
                window.rejected += 1;
                *window.by_code.entry(code).or_default() += 1;
            }
            let high = min > 0 && window.rejected >= min && window.rejected * 2 >= window.total;
            if high && !window.told {
                window.told = true;
                Some((window.total, window.rejected, window.by_code.clone()))
            } else {
                None
            }
        };
        let Some((total, rejected, by_code)) = told else {
            return;
        };
        let mut data = Map::new();
        data.insert("endpoint".into(), key.name.clone().into());
        data.insert("windowSeconds".into(), REJECTION_WINDOW.as_secs().into());
        data.insert("requests".into(), total.into());
        data.insert("rejected".into(), rejected.into());
        data.insert(
            "byReason".into(),
            Value::Object(
                by_code
                    .into_iter()
                    .map(|(k, v)| (k.into(), v.into()))
                    .collect(),
            ),
        );
        self.lifecycle_event(LifecycleEvent {
            namespace: key.namespace.clone(),
            event_type: ENDPOINT_REJECTING,
            subject: Subject {
                kind: Kind::WebhookEndpoint.as_str().into(),
                name: key.name.clone(),
            },
            data,
            dedup: None,
        });
    }

    /// The lifecycle task: turns delivery notices, status transitions and queued events into
    /// lifecycle events (and given-up deliveries into dead letters) until cancelled.
    pub(super) async fn run_lifecycle(self: Arc<Self>, cancel: CancellationToken) {
        let Some(Inputs {
            mut events,
            mut notices,
        }) = lock(&self.lifecycle.inputs).take()
        else {
            return;
        };
        let mut transitions = self.status().subscribe();
        let mut previous: HashMap<(Kind, ObjectKey, String), (bool, String)> = HashMap::new();
        let dead_letters = Arc::new(tokio::sync::Semaphore::new(DEAD_LETTERS_AT_ONCE));
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                Some(event) = events.recv() => self.publish_lifecycle(event).await,
                Some(notice) = notices.recv() => {
                    if notice.given_up() {
                        let engine = self.clone();
                        let notice_for_letter = notice.clone();
                        if let Ok(permit) = dead_letters.clone().acquire_owned().await {
                            tokio::spawn(async move {
                                engine.dead_letter(&notice_for_letter).await;
                                drop(permit);
                            });
                        }
                    }
                    if let Some(event) = delivery_event(&notice) {
                        self.publish_lifecycle(event).await;
                    }
                }
                transition = transitions.recv() => match transition {
                    Ok(t) => {
                        for event in self.transition_events(&t, &mut previous) {
                            self.publish_lifecycle(event).await;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(missed = n, "the lifecycle task fell behind the status board: some lifecycle events were not published");
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
            }
        }
    }

    /// The lifecycle events a condition transition means (remembering it as the previous).
    fn transition_events(
        &self,
        t: &Transition,
        previous: &mut HashMap<(Kind, ObjectKey, String), (bool, String)>,
    ) -> Vec<LifecycleEvent> {
        let ok = t.condition.status == "True";
        let reason = t.condition.reason.clone();
        let before = previous.insert(
            (t.kind, t.key.clone(), t.condition.type_.clone()),
            (ok, reason.clone()),
        );
        let was = |r: &str| before.as_ref().is_some_and(|(_, b)| b == r);
        let subject = Subject {
            kind: t.kind.as_str().into(),
            name: t.key.name.clone(),
        };
        let event = |event_type: &'static str, data: Map<String, Value>, dedup: Option<String>| {
            LifecycleEvent {
                namespace: t.key.namespace.clone(),
                event_type,
                subject: subject.clone(),
                data,
                dedup,
            }
        };
        let fields = || {
            self.status()
                .get(t.kind, &t.key)
                .map(|s| s.fields)
                .unwrap_or_default()
        };
        let mut out = Vec::new();
        match (t.kind, t.condition.type_.as_str()) {
            (Kind::WebhookSubscription, HEALTHY) => {
                let mut data = Map::new();
                data.insert("subscription".into(), t.key.name.clone().into());
                data.insert("reason".into(), reason.clone().into());
                data.insert("message".into(), t.condition.message.clone().into());
                if reason == "Disabled" && !was("Disabled") {
                    let fields = fields();
                    for k in ["disabledAt", "failingSince"] {
                        if let Some(v) = fields.get(k) {
                            data.insert(k.into(), v.clone());
                        }
                    }
                    let dedup = fields
                        .get("disabledAt")
                        .and_then(Value::as_str)
                        .map(str::to_owned);
                    out.push(event(SUBSCRIPTION_DISABLED, data, dedup));
                } else {
                    if was("Disabled") && reason != "Disabled" {
                        out.push(event(SUBSCRIPTION_REENABLED, data.clone(), None));
                    }
                    // Re-enabled by a success shows Delivering at once: recovered as well.
                    let was_failing = before.as_ref().is_some_and(|(b_ok, b)| {
                        !b_ok
                            && matches!(
                                b.as_str(),
                                "DeliveriesFailing"
                                    | "CircuitOpen"
                                    | "Gone"
                                    | "DestinationRefused"
                                    | "Disabled"
                            )
                    });
                    if ok && reason == "Delivering" && was_failing {
                        if let Some((_, b)) = &before {
                            data.insert("previousReason".into(), b.clone().into());
                        }
                        out.push(event(TARGET_RECOVERED, data, None));
                    }
                }
            }
            (Kind::Integration, HEALTHY) => {
                let mut data = Map::new();
                data.insert("integration".into(), t.key.name.clone().into());
                data.insert("reason".into(), reason.clone().into());
                data.insert("message".into(), t.condition.message.clone().into());
                let was_bad = before
                    .as_ref()
                    .is_some_and(|(b_ok, b)| !b_ok && b != "Suspended");
                // An authorization-code connection that needs a person (the reasons of
                // `integrations::connection_attention`), once per reason it enters.
                let attention = [
                    super::integrations::REAUTHORIZATION_REQUIRED,
                    super::integrations::TOKEN_REFRESH_FAILING,
                ];
                if !ok && attention.contains(&reason.as_str()) && !was(&reason) {
                    out.push(event(OAUTH_ATTENTION, data.clone(), None));
                }
                if !ok && reason != "Suspended" && !was_bad {
                    out.push(event(INTEGRATION_UNHEALTHY, data, None));
                } else if ok && was_bad {
                    out.push(event(INTEGRATION_RECOVERED, data, None));
                }
            }
            (Kind::SyncJob, READY) if matches!(reason.as_str(), "Completed" | "Failed") => {
                let mut data = fields();
                data.insert("syncJob".into(), t.key.name.clone().into());
                data.insert("message".into(), t.condition.message.clone().into());
                let event_type = if reason == "Completed" {
                    SYNCJOB_COMPLETED
                } else {
                    SYNCJOB_FAILED
                };
                // A job ends once: replicas and restarts store it once.
                out.push(event(event_type, data, Some(String::new())));
            }
            _ => {}
        }
        out
    }

    /// Publishes one lifecycle event now: rate-bounded per subject, fanned out to the
    /// namespace's subscriptions that take its type (never the one it is about), committed
    /// durably when any does.
    pub(super) async fn publish_lifecycle(&self, event: LifecycleEvent) {
        let per_minute = self.config().lifecycle.per_subject_per_minute;
        let Some(suppressed) = self.take_token(&event, per_minute) else {
            return;
        };
        let now = Utc::now();
        let id = event_id(&event);
        let payload = match Payload::from_value(&Value::Object(body(&event, now, suppressed))) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %chain(&e), event_type = event.event_type, "building a lifecycle event");
                return;
            }
        };
        let topology = self.topology();
        let targets = match self
            .matching_targets(&topology, &event.namespace, event.event_type, &id, &payload)
            .await
        {
            Ok(targets) => targets,
            Err(e) => {
                tracing::warn!(error = %chain(&e), event_type = event.event_type, "matching a lifecycle event");
                return;
            }
        };
        let about = (event.subject.kind == Kind::WebhookSubscription.as_str()).then(|| Target {
            namespace: event.namespace.clone(),
            kind: TargetKind::Subscription,
            name: event.subject.name.clone(),
        });
        // Opt-in: only subscriptions whose patterns name them (`switchboard.*`, an exact
        // type), not a catch-all `*`, and never the one the event is about.
        let targets: Vec<Target> = targets
            .into_iter()
            .filter(|t| Some(t) != about.as_ref())
            .filter(|t| {
                let key = ObjectKey::new(&t.namespace, &t.name);
                topology.subscriptions.get(&key).is_some_and(|p| {
                    p.spec()
                        .event_types
                        .iter()
                        .any(|pattern| crate::delivery::notice::is_lifecycle(pattern))
                })
            })
            .collect();
        if targets.is_empty() {
            return; // nobody takes it: nothing is stored
        }
        let acceptance = Acceptance {
            event: NewEvent {
                id,
                namespace: event.namespace.clone(),
                event_type: event.event_type.to_owned(),
                source: SOURCE.to_owned(),
                payload,
                received_at: now,
                context: None,
            },
            targets,
            dedup: None,
        };
        match self.commit(acceptance).await {
            Ok(_) => {
                tracing::debug!(event_type = event.event_type, namespace = %event.namespace, subject = %event.subject.name, "lifecycle event published")
            }
            Err(e) => {
                tracing::warn!(error = %chain(&e), event_type = event.event_type, "storing a lifecycle event")
            }
        }
    }

    /// Takes a token of the event's bucket: `Some(suppressed since the last one)`, or None
    /// when the subject has had its share this minute (counted for the next one).
    fn take_token(&self, event: &LifecycleEvent, per_minute: u32) -> Option<u64> {
        if per_minute == 0 {
            return None;
        }
        let now = Instant::now();
        let mut buckets = lock(&self.lifecycle.buckets);
        if buckets.len() >= MAX_BUCKETS {
            buckets.retain(|_, b| {
                b.suppressed > 0 || now.duration_since(b.last) < Duration::from_secs(60)
            });
        }
        let bucket = buckets
            .entry((
                event.namespace.clone(),
                event.event_type,
                event.subject.clone(),
            ))
            .or_insert_with(|| Bucket::full(per_minute, now));
        bucket.take(per_minute, now)
    }
}

/// The lifecycle event a delivery notice means.
fn delivery_event(notice: &DeliveryNotice) -> Option<LifecycleEvent> {
    let (event_type, status) = match notice.outcome {
        Outcome::Retry { .. } => (DELIVERY_FAILING, "Pending"),
        Outcome::Dead => (DELIVERY_EXHAUSTED, "Dead"),
        Outcome::Failed => (DELIVERY_EXHAUSTED, "Failed"),
        Outcome::Delivered => return None,
    };
    let (kind, key) = match notice.target.kind {
        TargetKind::Subscription => (Kind::WebhookSubscription, "subscription"),
        TargetKind::Forward => (Kind::WebhookEndpoint, "endpoint"),
    };
    let mut data = Map::new();
    data.insert(key.into(), notice.target.name.clone().into());
    data.insert("deliveryId".into(), notice.delivery_id.clone().into());
    data.insert("eventId".into(), notice.event.id.clone().into());
    data.insert("eventType".into(), notice.event.event_type.clone().into());
    data.insert("status".into(), status.into());
    data.insert("attempts".into(), notice.attempts.into());
    data.insert("lastError".into(), notice.last_error.clone().into());
    data.insert(
        "responseStatus".into(),
        notice.response_status.map_or(Value::Null, Value::from),
    );
    if let Outcome::Retry { at } = notice.outcome {
        data.insert("nextAttemptAt".into(), time(at).into());
    }
    Some(LifecycleEvent {
        namespace: notice.target.namespace.clone(),
        event_type,
        subject: Subject {
            kind: kind.as_str().into(),
            name: notice.target.name.clone(),
        },
        data,
        dedup: Some(format!("{}/{}", notice.delivery_id, notice.attempts)),
    })
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The event's data: the common fields, then the type's own.
fn body(event: &LifecycleEvent, now: DateTime<Utc>, suppressed: u64) -> Map<String, Value> {
    let mut data = Map::new();
    data.insert("namespace".into(), event.namespace.clone().into());
    data.insert(
        "subject".into(),
        json!({"kind": event.subject.kind, "name": event.subject.name}),
    );
    data.insert("occurredAt".into(), time(now).into());
    data.insert("suppressed".into(), suppressed.into());
    for (k, v) in &event.data {
        data.insert(k.clone(), v.clone());
    }
    data
}

/// `sb_` and a digest of what identifies the event, or a fresh id.
fn event_id(event: &LifecycleEvent) -> String {
    let Some(dedup) = &event.dedup else {
        return new_event_id();
    };
    let mut digest = sha2::Sha256::new();
    for part in [
        event.event_type,
        &event.namespace,
        &event.subject.kind,
        &event.subject.name,
        dedup,
    ] {
        digest.update(part.as_bytes());
        digest.update([0u8]);
    }
    format!("sb_{}", &hex::encode(digest.finalize())[..32])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: &str) -> LifecycleEvent {
        LifecycleEvent {
            namespace: "ns".into(),
            event_type: DELIVERY_FAILING,
            subject: Subject {
                kind: "WebhookSubscription".into(),
                name: name.into(),
            },
            data: Map::new(),
            dedup: Some("d".into()),
        }
    }

    #[test]
    fn a_flood_is_bounded_per_minute_and_the_excess_is_counted_into_the_next_one() {
        let start = Instant::now();
        let mut bucket = Bucket::full(10, start);
        let published = (0..1000)
            .filter(|_| bucket.take(10, start).is_some())
            .count();
        assert_eq!(published, 10, "a burst of 1000 stores 10");
        assert_eq!(
            bucket.take(10, start + Duration::from_secs(3)),
            None,
            "half a token"
        );
        // 6 s later one token is back: the next one carries what was held back.
        assert_eq!(bucket.take(10, start + Duration::from_secs(9)), Some(991));
        assert_eq!(bucket.take(10, start + Duration::from_secs(9)), None);
        // A quiet minute refills the burst, and nothing is left to report.
        let later = start + Duration::from_secs(120);
        assert_eq!(bucket.take(10, later), Some(1));
        assert_eq!(bucket.take(10, later), Some(0));
    }

    #[test]
    fn ids_are_deterministic_only_with_a_dedup_part() {
        assert_eq!(event_id(&event("a")), event_id(&event("a")));
        assert_ne!(event_id(&event("a")), event_id(&event("b")));
        let mut fresh = event("a");
        fresh.dedup = None;
        assert_ne!(event_id(&fresh), event_id(&fresh));
    }

    #[test]
    fn the_body_has_the_common_fields_and_the_types_own() {
        let mut e = event("a");
        e.data.insert("attempts".into(), 3.into());
        let b = body(&e, Utc::now(), 2);
        assert_eq!(
            b["subject"],
            json!({"kind": "WebhookSubscription", "name": "a"})
        );
        assert_eq!(b["suppressed"], 2);
        assert_eq!(b["attempts"], 3);
        assert_eq!(b["namespace"], "ns");
    }
}
