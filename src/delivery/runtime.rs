//! The delivery runtime's shared state: running routes, per-target counters, the claimed
//! deliveries in flight here, the dispatcher's wake-up and the global bound. The dispatcher
//! (`dispatcher.rs`) and the attempts (`worker.rs`) both work on it.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use arc_swap::ArcSwap;
use tokio::sync::{Notify, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::DeliveryConfig;
use super::metrics::DeliveryMetrics;
use super::notice::DeliveryNotice;
use super::route::Route;
use super::stats::{Stats, StatusSink};
use crate::store::{ClaimedDelivery, Store, Target};
use crate::transform::EvalPool;

/// Claimed deliveries not finished yet, per target.
#[derive(Default)]
pub(super) struct Local {
    pub(super) per_target: HashMap<Target, usize>,
    pub(super) ids: HashSet<String>,
}

/// The delivery runtime: routes, counters, the dispatcher's wake-up and the global bound.
pub struct Deliveries {
    pub(super) store: Arc<dyn Store>,
    pub(super) config: DeliveryConfig,
    pub(super) routes: ArcSwap<HashMap<Target, Arc<Route>>>,
    pub(super) stats: Mutex<HashMap<Target, Arc<Stats>>>,
    pub(super) wake: Notify,
    /// Set while due work may wait in the store beyond what was claimed (new work committed
    /// without a hand-off, a claim that filled its batch or skipped busy targets); only then
    /// does a finished attempt wake the dispatcher to claim again.
    pub(super) backlog: AtomicBool,
    pub(super) global: Arc<Semaphore>,
    pub(super) local: Mutex<Local>,
    pub(super) sink: Arc<dyn StatusSink>,
    pub(super) metrics: DeliveryMetrics,
    /// The attempts in flight.
    pub(super) tasks: TaskTracker,
    /// The running dispatcher's cancellation (None before `run` and after it returns).
    pub(super) running: Mutex<Option<CancellationToken>>,
    /// Where transformations too costly to run inline are evaluated (the engine's pool).
    pub(super) pool: EvalPool,
    /// Where failing and given-up deliveries are told (the engine's lifecycle events and
    /// dead letters); a full channel drops the notice.
    pub(super) notices: Option<mpsc::Sender<DeliveryNotice>>,
}

impl Deliveries {
    /// A runtime with no routes; [`Deliveries::run`] starts dispatching.
    pub fn new(
        store: Arc<dyn Store>,
        config: DeliveryConfig,
        pool: EvalPool,
        sink: Arc<dyn StatusSink>,
        metrics: DeliveryMetrics,
        notices: Option<mpsc::Sender<DeliveryNotice>>,
    ) -> Arc<Self> {
        Arc::new(Self {
            store,
            global: Arc::new(Semaphore::new(config.global_concurrency.max(1))),
            config,
            routes: ArcSwap::default(),
            stats: Mutex::default(),
            wake: Notify::new(),
            backlog: AtomicBool::new(true),
            local: Mutex::default(),
            sink,
            metrics,
            tasks: TaskTracker::new(),
            running: Mutex::default(),
            pool,
            notices,
        })
    }

    /// Tells the engine about a failing or given-up delivery, without waiting.
    pub(super) fn notify(&self, notice: DeliveryNotice) {
        let Some(tx) = &self.notices else {
            return;
        };
        if let Err(e) = tx.try_send(notice) {
            let notice = match e {
                mpsc::error::TrySendError::Full(n) | mpsc::error::TrySendError::Closed(n) => n,
            };
            tracing::warn!(id = %notice.delivery_id, target = ?notice.target, "the lifecycle notice queue is full: no lifecycle event or dead letter for this delivery");
        }
    }

    /// The settings.
    pub fn config(&self) -> &DeliveryConfig {
        &self.config
    }

    /// Replaces the running routes (the engine calls this after each apply).
    pub fn set_routes(&self, routes: HashMap<Target, Arc<Route>>) {
        {
            let mut stats = lock(&self.stats);
            stats.retain(|t, _| routes.contains_key(t));
            for t in routes.keys() {
                stats.entry(t.clone()).or_default();
            }
        }
        self.routes.store(Arc::new(routes));
        self.wake();
    }

    /// The running route of a target.
    pub fn route(&self, target: &Target) -> Option<Arc<Route>> {
        self.routes.load().get(target).cloned()
    }

    /// The counters of a target.
    pub fn stats(&self, target: &Target) -> Arc<Stats> {
        lock(&self.stats).entry(target.clone()).or_default().clone()
    }

    /// Wakes the dispatcher (new work was committed).
    pub fn wake(&self) {
        self.backlog.store(true, Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// Notes a claimed delivery as in flight here; false when it already is.
    pub(super) fn start(&self, delivery: &ClaimedDelivery) -> bool {
        let mut local = lock(&self.local);
        if !local.ids.insert(delivery.id.clone()) {
            return false;
        }
        *local.per_target.entry(delivery.target.clone()).or_default() += 1;
        true
    }

    /// Forgets a finished (or released) delivery and wakes the dispatcher when work may be
    /// waiting in the store.
    pub(super) fn finish(&self, delivery: &ClaimedDelivery) {
        let mut local = lock(&self.local);
        if local.ids.remove(&delivery.id)
            && let Some(n) = local.per_target.get_mut(&delivery.target)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                local.per_target.remove(&delivery.target);
            }
        }
        drop(local);
        if self.backlog.load(Ordering::SeqCst) {
            self.wake.notify_one();
        }
    }
}

/// Locks a mutex, going on with its data if a holder panicked.
pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
