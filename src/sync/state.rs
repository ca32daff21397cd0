//! Read-modify-write of a schedule's stored state (last schedule time, last success,
//! watermark), serialized so the scheduler and finishing runs never overwrite each other.

use std::sync::Arc;

use tokio::sync::Mutex;

use crate::store::{Store, StoreError, SyncState};

use super::record::Key;

/// Serializes updates of sync state within this process.
#[derive(Clone, Default)]
pub struct StateLock(Arc<Mutex<()>>);

impl StateLock {
    /// Reads the schedule's state, applies `change` and stores it; returns the new state.
    pub async fn update(
        &self,
        store: &dyn Store,
        schedule: &Key,
        change: impl FnOnce(&mut SyncState),
    ) -> Result<SyncState, StoreError> {
        let _held = self.0.lock().await;
        let mut state = store
            .sync_state(&schedule.namespace, &schedule.name)
            .await?;
        change(&mut state);
        store
            .put_sync_state(&schedule.namespace, &schedule.name, &state)
            .await?;
        Ok(state)
    }
}
