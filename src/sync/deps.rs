//! What the sync runtime is built on: the store, the engine's publish path, status
//! reporting, time, Integration sources and settings.

use std::sync::Arc;
use std::time::Duration;

use crate::delivery::DestinationPolicy;
use crate::store::Store;

use super::cron::Clock;
use super::desired::SourceFactory;
use super::runner::Reporter;
use super::sink::Publisher;

/// Settings of the sync runtime.
#[derive(Clone, Debug)]
pub struct SyncConfig {
    /// The SSRF guard of forward sinks.
    pub policy: Arc<DestinationPolicy>,
    /// Job progress is reported at most this often.
    pub progress_every: Duration,
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            policy: Arc::new(DestinationPolicy::default()),
            progress_every: Duration::from_secs(2),
        }
    }
}

/// What the runtime is built on.
pub struct SyncDeps {
    /// Job records and schedule state.
    pub store: Arc<dyn Store>,
    /// The engine's publish path.
    pub publisher: Arc<dyn Publisher>,
    /// Status.
    pub reporter: Arc<dyn Reporter>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Makes the source of an Integration.
    pub sources: SourceFactory,
    /// Settings.
    pub config: SyncConfig,
}
