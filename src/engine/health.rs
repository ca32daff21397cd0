//! Whether the store can be reached, as a cheap cached answer: a probe task pings the store
//! a few times a second and records the outcome, `/readyz` reports it, and acceptances check
//! it before committing (503 at once while the store is down, instead of a long wait), and
//! stop waiting for a commit once it goes down.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::error_chain::render;
use crate::store::Store;

/// How often the store is probed.
pub const PROBE_EVERY: Duration = Duration::from_millis(250);

/// The store's health as last probed: None while reachable, the probe's error otherwise.
#[derive(Clone, Debug)]
pub struct StoreHealth {
    state: watch::Sender<Option<String>>,
}

impl Default for StoreHealth {
    fn default() -> Self {
        Self {
            state: watch::Sender::new(None),
        }
    }
}

impl StoreHealth {
    /// Why the store is unreachable, or None while it is reachable (the last probe passed).
    pub fn down(&self) -> Option<String> {
        self.state.borrow().clone()
    }

    /// Records a probe's outcome.
    pub fn set(&self, down: Option<String>) {
        self.state.send_if_modified(|state| {
            let changed = *state != down;
            *state = down;
            changed
        });
    }

    /// Resolves once the store is down (at once if it is), with the reason.
    pub async fn went_down(&self) -> String {
        let mut rx = self.state.subscribe();
        let reason = rx
            .wait_for(Option::is_some)
            .await
            .map(|reason| reason.clone().unwrap_or_default());
        match reason {
            Ok(reason) => reason,
            // The sender lives as long as `self`.
            Err(_) => std::future::pending().await,
        }
    }

    /// Probes `store` every [`PROBE_EVERY`] until `cancel`, logging each change.
    pub async fn probe(self, store: Arc<dyn Store>, cancel: CancellationToken) {
        loop {
            let down = tokio::select! {
                _ = cancel.cancelled() => return,
                result = store.ping() => result.err().map(|e| render(&e)),
            };
            match (&down, self.down()) {
                (Some(reason), None) => {
                    tracing::error!(error = %reason, "the store cannot be reached; requests are answered 503")
                }
                (None, Some(_)) => tracing::info!("the store can be reached again"),
                _ => {}
            }
            self.set(down);
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(PROBE_EVERY) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn went_down_waits_for_an_outage() {
        let health = StoreHealth::default();
        assert_eq!(health.down(), None);
        let waiting = tokio::spawn({
            let health = health.clone();
            async move { health.went_down().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        health.set(Some("connection refused".into()));
        assert_eq!(waiting.await.expect("join"), "connection refused");
        assert_eq!(health.down().as_deref(), Some("connection refused"));
        health.set(None);
        assert_eq!(health.down(), None);
    }
}
