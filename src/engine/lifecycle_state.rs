//! The lifecycle events publisher's state, kept by the engine: the queues its task drains
//! (lifecycle events queued by the engine, delivery notices from the workers), the per-subject
//! token buckets and the endpoints' rejection windows. Apart from the task
//! (`lifecycle_events.rs`) so the engine can hold it without importing the task.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Instant;

use tokio::sync::mpsc;

use crate::delivery::DeliveryNotice;

use super::snapshot::ObjectKey;
use serde_json::{Map, Value};

/// What a lifecycle event is about.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Subject {
    /// Its kind (`WebhookSubscription`, `WebhookEndpoint`, `Integration`, `SyncJob`).
    pub kind: String,
    /// Its name in the namespace.
    pub name: String,
}

/// A lifecycle event to publish.
#[derive(Clone, Debug)]
pub struct LifecycleEvent {
    /// Namespace it happens in.
    pub namespace: String,
    /// One of `lifecycle_events::ALL_TYPES`.
    pub event_type: &'static str,
    /// What it is about.
    pub subject: Subject,
    /// The type's own fields (the common ones are added).
    pub data: Map<String, Value>,
    /// Makes the event id deterministic (so replicas that both see it store it once); a
    /// fresh id when None.
    pub dedup: Option<String>,
}

/// Queued lifecycle events and delivery notices waiting for the task.
const QUEUE: usize = 4096;

/// The task's inputs and per-subject state.
pub struct LifecycleState {
    pub(super) events_tx: mpsc::Sender<LifecycleEvent>,
    pub(super) inputs: Mutex<Option<Inputs>>,
    pub(super) buckets: Mutex<HashMap<(String, &'static str, Subject), Bucket>>,
    pub(super) windows: Mutex<HashMap<ObjectKey, Window>>,
}

pub(super) struct Inputs {
    pub(super) events: mpsc::Receiver<LifecycleEvent>,
    pub(super) notices: mpsc::Receiver<DeliveryNotice>,
}

impl LifecycleState {
    /// The state, and the sender the delivery runtime tells its notices to.
    pub fn new() -> (Self, mpsc::Sender<DeliveryNotice>) {
        let (events_tx, events) = mpsc::channel(QUEUE);
        let (notices_tx, notices) = mpsc::channel(QUEUE);
        let state = Self {
            events_tx,
            inputs: Mutex::new(Some(Inputs { events, notices })),
            buckets: Mutex::default(),
            windows: Mutex::default(),
        };
        (state, notices_tx)
    }

    pub(super) fn queue(&self, event: LifecycleEvent) {
        if self.events_tx.try_send(event).is_err() {
            tracing::warn!("the lifecycle event queue is full: a lifecycle event was dropped");
        }
    }
}

/// A token bucket of one type of event about one subject, with what it held back.
#[derive(Debug)]
pub(super) struct Bucket {
    pub(super) tokens: f64,
    pub(super) last: Instant,
    pub(super) suppressed: u64,
}

impl Bucket {
    /// A full bucket of `per_minute` tokens.
    pub(super) fn full(per_minute: u32, now: Instant) -> Self {
        Self {
            tokens: f64::from(per_minute),
            last: now,
            suppressed: 0,
        }
    }

    /// Takes a token at `now` (refilled at `per_minute` a minute, up to `per_minute`):
    /// `Some(events held back since the last one)`, or None (held back and counted).
    pub(super) fn take(&mut self, per_minute: u32, now: Instant) -> Option<u64> {
        let cap = f64::from(per_minute);
        let refill = now.saturating_duration_since(self.last).as_secs_f64() * cap / 60.0;
        self.tokens = (self.tokens + refill).min(cap);
        self.last = self.last.max(now);
        if self.tokens < 1.0 {
            self.suppressed += 1;
            return None;
        }
        self.tokens -= 1.0;
        Some(std::mem::take(&mut self.suppressed))
    }
}

/// An endpoint's answers in the current minute.
#[derive(Debug)]
pub(super) struct Window {
    pub(super) started: Instant,
    pub(super) total: u64,
    pub(super) rejected: u64,
    pub(super) by_code: BTreeMap<&'static str, u64>,
    pub(super) told: bool,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
