//! Keeping the leases of what this process holds: every third of the lease, the deliveries
//! claimed here (waiting for a queue slot, or in flight) have their leases renewed in
//! batches, so the lease can be short — a crashed process's claims run again within seconds —
//! without a slow subscriber's delivery being taken by another process meanwhile.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use crate::error_chain::chain;
use crate::store::Store;

/// Deliveries renewed per statement at most.
const RENEW_BATCH: usize = 1000;

/// How often leases of `lease` are renewed: a third of it, so two renewals may fail (or be
/// late) before one runs out.
pub fn renew_every(lease: Duration) -> Duration {
    (lease / 3).max(Duration::from_millis(100))
}

/// Renews the leases of `lease` of the deliveries `held` names (those claimed here and not
/// finished) until `cancel`.
pub(super) async fn keep(
    store: Arc<dyn Store>,
    lease: Duration,
    held: impl Fn() -> Vec<String>,
    cancel: CancellationToken,
) {
    let mut tick = tokio::time::interval(renew_every(lease));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await; // the first tick is immediate; what was just claimed is fresh
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let held = held();
        for batch in held.chunks(RENEW_BATCH) {
            if let Err(e) = store.renew(batch, Utc::now(), lease).await {
                tracing::warn!(error = %chain(&e), deliveries = batch.len(), "renewing delivery leases");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_are_renewed_every_third() {
        assert_eq!(
            renew_every(Duration::from_secs(30)),
            Duration::from_secs(10)
        );
        assert_eq!(
            renew_every(Duration::from_millis(30)),
            Duration::from_millis(100)
        );
    }
}
