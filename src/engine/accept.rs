//! Durable acceptance of one event: refused at once (503) while the store is down, committed
//! by the store's group commit, and its deliveries handed to the dispatcher (or the dispatcher
//! woken) by a task of its own, so a caller that gives up (a client that hung up, a request
//! that timed out) never leaves stored deliveries waiting for their lease.

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;

use super::metrics::{Metrics, NamespaceLabel};
use super::runtime::{AcceptError, Engine};
use crate::delivery::Deliveries;
use crate::store::{Acceptance, Accepted, Store, StoreError};

impl Engine {
    /// Commits one acceptance durably (batched with concurrent ones by the store), then
    /// hands its deliveries to the dispatcher. Fails at once while the store is down, and
    /// stops waiting for the commit when the store goes down meanwhile (the commit may still
    /// land; it is then delivered like any other).
    pub async fn accept(&self, acceptance: Acceptance) -> Result<Accepted, AcceptError> {
        let health = self.store_health();
        if let Some(reason) = health.down() {
            return Err(StoreError::Unavailable { reason }.into());
        }
        let label = NamespaceLabel {
            namespace: acceptance.event.namespace.clone(),
        };
        let committing = tokio::spawn(commit(
            self.store().clone(),
            self.deliveries().clone(),
            self.metrics().clone(),
            acceptance,
        ));
        let result = tokio::select! {
            biased;
            joined = committing => match joined {
                Ok(result) => result?,
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(_) => return Err(StoreError::Closed.into()),
            },
            reason = health.went_down() => {
                return Err(StoreError::Unavailable { reason }.into());
            }
        };
        let metrics = self.metrics();
        match result {
            Accepted::Stored { .. } => metrics.events_accepted.get_or_create(&label).inc(),
            Accepted::DuplicateId | Accepted::DuplicateKey => {
                metrics.events_duplicate.get_or_create(&label).inc()
            }
        };
        Ok(result)
    }
}

/// The commit and what follows it, whether or not anyone still waits for the answer: with
/// room at the dispatcher the deliveries are created claimed and handed to it, otherwise it
/// is woken to claim them.
async fn commit(
    store: Arc<dyn Store>,
    deliveries: Arc<Deliveries>,
    metrics: Arc<Metrics>,
    acceptance: Acceptance,
) -> Result<Accepted, StoreError> {
    let targets = acceptance.targets.clone();
    let started = Instant::now();
    let (result, claimed) = if !targets.is_empty() && deliveries.has_room_for(&targets) {
        let lease = deliveries.config().lease;
        store
            .accept_claimed(vec![acceptance], lease)
            .await?
            .pop()
            .ok_or(StoreError::Closed)?
    } else {
        let accepted = store.accept(vec![acceptance]).await?.pop();
        (accepted.ok_or(StoreError::Closed)?, Vec::new())
    };
    metrics
        .store_commit_seconds
        .observe(started.elapsed().as_secs_f64());
    if let Accepted::Stored { deliveries: n } = result
        && n > 0
    {
        if claimed.is_empty() {
            deliveries.wake();
        } else {
            deliveries.hand_off(claimed).await;
        }
        let now = Utc::now();
        for target in &targets {
            deliveries.stats(target).triggered(now, 1);
        }
    }
    Ok(result)
}
