//! The dispatcher: claims due deliveries from the store in batches (skipping targets that
//! are full, suspended or behind an open breaker) and hands each to a worker task on its
//! target's queue. Woken right after a publish commits; polls as a fallback (and for work
//! committed by other processes sharing a PostgreSQL store).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use super::runtime::{Deliveries, lock};
use super::stats::Stats;
use super::worker;
use crate::error_chain::chain;
use crate::store::{ClaimedDelivery, StoreError, Target};

/// How long a delivery of a target that is not running here waits before it is claimed again.
const UNROUTABLE_DELAY: Duration = Duration::from_secs(10);
/// How often counters are pushed to the status sink.
const REPORT_EVERY: Duration = Duration::from_secs(1);
/// How often pending/delivered/failed are re-read from the store.
const REFRESH_EVERY: Duration = Duration::from_secs(5);
/// Fresh deliveries are handed straight to a target while it holds fewer claimed here than
/// its pace allows ([`super::pace::Pace::depth`]), and all targets together fewer than this
/// many times the global bound; beyond that they wait in the store for a claim.
const GLOBAL_DEPTH: usize = 32;

impl Deliveries {
    /// Dispatches until `cancel`, then waits for the attempts in flight. First takes back
    /// the claims a previous process left behind, when the store says it may (before any
    /// hand-off here, so none of this process's own claims is taken back).
    pub async fn run(self: Arc<Self>, cancel: CancellationToken) {
        match self.store.reclaim_abandoned(Utc::now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deliveries = n, "took back the claims of a previous process"),
            Err(e) => {
                tracing::warn!(error = %chain(&e), "taking back a previous process's claims; they wait for their leases")
            }
        }
        // Auto-disabled targets stay so across a restart: read them before the first claim.
        self.reload_auto_disable().await;
        *lock(&self.running) = Some(cancel.clone());
        let reporter = tokio::spawn(self.clone().report(cancel.clone()));
        // Leases are kept until the attempts in flight have finished, after `cancel`.
        let drained = CancellationToken::new();
        let held = Arc::downgrade(&self);
        let renewer = tokio::spawn(super::lease::keep(
            self.store.clone(),
            self.config.lease,
            move || held.upgrade().map(|d| d.held()).unwrap_or_default(),
            drained.clone(),
        ));
        loop {
            let more = match self.dispatch_round(&cancel).await {
                Ok(more) => more,
                Err(e) => {
                    tracing::warn!(error = %chain(&e), "claiming due deliveries");
                    false
                }
            };
            if more {
                continue;
            }
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.config.poll) => {}
            }
        }
        *lock(&self.running) = None;
        self.tasks.close();
        self.tasks.wait().await;
        drained.cancel();
        let _ = reporter.await;
        let _ = renewer.await;
    }

    /// Whether fresh deliveries to `targets` may be created claimed and handed over with
    /// [`Deliveries::hand_off`]: the dispatcher runs, has room, and every target runs here,
    /// is not suspended or behind an open breaker, and has few deliveries claimed.
    pub fn has_room_for(&self, targets: &[Target]) -> bool {
        if lock(&self.running)
            .as_ref()
            .is_none_or(|c| c.is_cancelled())
        {
            return false;
        }
        let now = Instant::now();
        let routes = self.routes.load();
        let local = lock(&self.local);
        local.ids.len() + targets.len() <= self.config.global_concurrency * GLOBAL_DEPTH
            && targets.iter().all(|t| {
                routes.get(t).is_some_and(|r| {
                    !r.suspended
                        && !self.disabled(r)
                        && !r.breaker.blocked(now)
                        && local.per_target.get(t).copied().unwrap_or(0)
                            < r.pace.depth(r.concurrency, self.config.lease)
                })
            })
    }

    /// Starts attempts of deliveries created claimed at acceptance (no claim query); those
    /// that cannot start here are given back to the store, due at once.
    pub async fn hand_off(self: &Arc<Self>, claimed: Vec<ClaimedDelivery>) {
        let cancel = lock(&self.running).clone();
        for delivery in claimed {
            match (&cancel, self.route(&delivery.target)) {
                (Some(cancel), Some(route)) if self.start(&delivery) => {
                    let worker = worker::run(self.clone(), route, delivery, cancel.clone());
                    self.tasks.spawn(worker);
                }
                _ => {
                    if let Err(e) = self.store.release(&delivery.id, Utc::now()).await {
                        tracing::warn!(error = %chain(&e), id = %delivery.id, "releasing a delivery");
                    }
                    self.wake();
                }
            }
        }
    }

    /// One claim; true when it filled its batch (more may be due).
    async fn dispatch_round(
        self: &Arc<Self>,
        cancel: &CancellationToken,
    ) -> Result<bool, StoreError> {
        // `backlog` stays set while the claim runs, so attempts finishing meanwhile still wake
        // the dispatcher; it is cleared only after a claim that left nothing behind.
        let in_flight = lock(&self.local).ids.len();
        let room = (self.config.global_concurrency * 2).saturating_sub(in_flight);
        let limit = room.min(self.config.batch);
        if limit == 0 || cancel.is_cancelled() {
            self.backlog.store(true, Ordering::SeqCst);
            return Ok(false);
        }
        let busy = self.busy_targets();
        if !busy.is_empty() && busy.len() >= self.routes.load().len() {
            self.backlog.store(true, Ordering::SeqCst);
            return Ok(false); // every target is full or waiting: a finish wakes us again
        }
        let claimed = self
            .store
            .claim_due(Utc::now(), limit, self.config.lease, &busy)
            .await
            .inspect_err(|_| self.backlog.store(true, Ordering::SeqCst))?;
        let full = claimed.len() == limit;
        tracing::trace!(
            claimed = claimed.len(),
            limit,
            busy = busy.len(),
            in_flight,
            "claim round"
        );
        // Work committed meanwhile notified `wake`, so clearing the flag loses nothing.
        self.backlog
            .store(full || !busy.is_empty(), Ordering::SeqCst);
        for delivery in claimed {
            if !self.start(&delivery) {
                continue; // already in flight here: its lease was just renewed
            }
            match self.route(&delivery.target) {
                Some(route) => {
                    let worker = worker::run(self.clone(), route, delivery, cancel.clone());
                    self.tasks.spawn(worker);
                }
                None => {
                    let at = Utc::now() + UNROUTABLE_DELAY;
                    if let Err(e) = self.store.release(&delivery.id, at).await {
                        tracing::warn!(error = %chain(&e), id = %delivery.id, "releasing a delivery");
                    }
                    self.finish(&delivery);
                }
            }
        }
        Ok(full)
    }

    /// Targets not to claim for now: suspended, auto-disabled, breaker open or probing, queue
    /// full.
    fn busy_targets(&self) -> Vec<Target> {
        let now = Instant::now();
        let local = lock(&self.local);
        self.routes
            .load()
            .values()
            .filter(|r| {
                r.suspended
                    || self.disabled(r)
                    || r.breaker.blocked(now)
                    || local.per_target.get(&r.target).copied().unwrap_or(0) >= r.concurrency
            })
            .map(|r| r.target.clone())
            .collect()
    }
    /// The deliveries claimed here and not finished: waiting for a slot or in flight.
    fn held(&self) -> Vec<String> {
        lock(&self.local).ids.iter().cloned().collect()
    }

    /// Pushes counters to the sink every second and re-reads them from the store every 5 s
    /// (at the next tick for a target not read yet).
    async fn report(self: Arc<Self>, cancel: CancellationToken) {
        let mut tick = tokio::time::interval(REPORT_EVERY);
        let mut last_refresh: Option<Instant> = None;
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tick.tick() => {}
            }
            let all: Vec<(Target, Arc<Stats>)> = lock(&self.stats)
                .iter()
                .map(|(t, s)| (t.clone(), s.clone()))
                .collect();
            // Every target every 5 s; a target not read yet (new, or the store was down) at
            // once, so its counters are reported from the store and never from zero.
            let due = last_refresh.is_none_or(|t| t.elapsed() >= REFRESH_EVERY);
            if due {
                last_refresh = Some(Instant::now());
            }
            for (target, stats) in all.iter().filter(|(_, s)| due || !s.loaded()) {
                match self.store.delivery_counts(target).await {
                    Ok(counts) => stats.refresh(&counts),
                    Err(e) => tracing::warn!(error = %chain(&e), "reading delivery counts"),
                }
            }
            if due {
                self.reload_auto_disable().await;
            }
            for (target, stats) in &all {
                self.sink.fields(target, stats.fields());
            }
        }
    }
}
