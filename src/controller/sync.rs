//! The sync loop: waits for the first list of every watch, then on every change (debounced)
//! rebuilds the snapshot from the stores and applies it to the engine.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::engine::{Desired, Engine};

use super::error::ControllerError;
use super::snapshot;
use super::stores::Stores;

/// Longest a steady stream of changes can hold back an apply.
const MAX_DELAY: Duration = Duration::from_secs(2);

/// Applies the stores to the engine until `cancel`; `debounce` is the quiet time after a change.
pub async fn run(
    engine: Arc<Engine>,
    stores: Stores,
    debounce: Duration,
    cancel: CancellationToken,
) -> Result<(), ControllerError> {
    tokio::select! {
        _ = cancel.cancelled() => return Ok(()),
        ready = stores.ready() => ready.map_err(|_| ControllerError::WatchesStopped)?,
    }
    loop {
        apply(&engine, &stores);
        tokio::select! {
            _ = cancel.cancelled() => return Ok(()),
            _ = stores.changed.notified() => {}
        }
        let first = Instant::now();
        loop {
            let quiet = tokio::time::sleep(debounce);
            tokio::select! {
                _ = cancel.cancelled() => return Ok(()),
                _ = stores.changed.notified() => {
                    if first.elapsed() >= MAX_DELAY { break; }
                }
                _ = quiet => break,
            }
        }
    }
}

fn apply(engine: &Engine, stores: &Stores) {
    let started = Instant::now();
    let snapshot = snapshot::build(stores);
    let resources = snapshot.len();
    let summary = engine.apply(Desired {
        snapshot,
        rejected: Vec::new(),
    });
    tracing::info!(resources, ?summary, took = ?started.elapsed(), "desired state applied");
}
