//! The engine's settings and their defaults, in one place: both front-ends build an
//! [`EngineConfig`] from the same command-line flags, whose defaults are read from here.

use std::path::PathBuf;
use std::time::Duration;

use crate::delivery::DeliveryConfig;
use crate::receiver::ReceiverConfig;

/// Engine settings.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Largest accepted publish body in bytes.
    pub max_event_bytes: usize,
    /// Where generated signing secrets are kept (in memory only when unset).
    pub data_dir: Option<PathBuf>,
    /// Generated signing secrets are Secrets the front-end provides (the controller).
    pub external_signing_secrets: bool,
    /// Delivery settings (SSRF guard, concurrency, lease, poll).
    pub delivery: DeliveryConfig,
    /// Settings of the webhook receivers.
    pub receiver: ReceiverConfig,
    /// Sync job progress is reported at most this often.
    pub sync_progress: Duration,
    /// How long delivered and dead records are kept before the purge removes them.
    pub retention: Duration,
    /// How often the purge runs.
    pub purge_every: Duration,
    /// How long a stop waits for in-flight work before giving up on it.
    pub shutdown_timeout: Duration,
    /// How many jq evaluations run at once off the async threads, on the one pool the
    /// receivers, subscription filters and delivery transformations share (default: cores).
    pub eval_concurrency: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            max_event_bytes: 1024 * 1024,
            data_dir: None,
            external_signing_secrets: false,
            delivery: DeliveryConfig::default(),
            receiver: ReceiverConfig::default(),
            sync_progress: Duration::from_secs(2),
            retention: Duration::from_secs(7 * 24 * 3600),
            purge_every: Duration::from_secs(600),
            shutdown_timeout: Duration::from_secs(30),
            eval_concurrency: std::thread::available_parallelism().map_or(1, usize::from),
        }
    }
}
