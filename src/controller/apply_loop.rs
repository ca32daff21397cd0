//! The apply loop: waits for the first list of every watch, then on every change (debounced)
//! rebuilds the snapshot from the stores and applies it to the engine.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::Client;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::engine::{Desired, Engine};

use super::error::ControllerError;
use super::rotation::{self, Rotations};
use super::snapshot;
use super::stores::Stores;

/// Longest a steady stream of changes can hold back an apply.
const MAX_DELAY: Duration = Duration::from_secs(2);
/// Applied this often even without changes (time-based state such as rotation overlaps).
const REAPPLY_EVERY: Duration = Duration::from_secs(60);

/// Who writes rotation bookkeeping into Secrets: the leader, with this client.
pub struct RotationWriter {
    /// The client.
    pub client: Client,
    /// True while this replica leads.
    pub leader: watch::Receiver<bool>,
}

/// Applies the stores to the engine until `cancel`; `debounce` is the quiet time after a change.
pub async fn run(
    engine: Arc<Engine>,
    stores: Stores,
    debounce: Duration,
    writer: RotationWriter,
    cancel: CancellationToken,
) -> Result<(), ControllerError> {
    tokio::select! {
        _ = cancel.cancelled() => return Ok(()),
        ready = stores.ready() => ready.map_err(|_| ControllerError::WatchesStopped)?,
    }
    let mut rotations = Rotations::default();
    loop {
        apply(&engine, &stores, &mut rotations, &writer);
        tokio::select! {
            _ = cancel.cancelled() => return Ok(()),
            _ = stores.changed.notified() => {}
            _ = tokio::time::sleep(REAPPLY_EVERY) => continue,
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

fn apply(engine: &Engine, stores: &Stores, rotations: &mut Rotations, writer: &RotationWriter) {
    let started = Instant::now();
    let mut snapshot = snapshot::build(stores);
    let changes = rotations.prepare(&mut snapshot, &engine.topology(), chrono::Utc::now());
    if !changes.is_empty() && *writer.leader.borrow() {
        rotation::spawn_writes(&writer.client, changes);
    }
    let resources = snapshot.len();
    let summary = engine.apply(Desired {
        snapshot,
        rejected: Vec::new(),
    });
    tracing::info!(resources, ?summary, took = ?started.elapsed(), "desired state applied");
    // The old snapshot and the apply's working copies are free now.
    super::malloc::trim();
}
