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
    /// Replayed deliveries queued per second at most, per replay (`--replay-rate`).
    pub replay_rate: u32,
    /// How often the purge runs.
    pub purge_every: Duration,
    /// How long a stop waits for in-flight work before giving up on it.
    pub shutdown_timeout: Duration,
    /// How many jq evaluations run at once off the async threads, on the one pool the
    /// receivers, subscription filters and delivery transformations share (default: cores).
    pub eval_concurrency: usize,
    /// Bounds on the servers' connections and request bodies.
    pub http: HttpLimits,
    /// Lifecycle events: how many per subject, when an endpoint is rejecting.
    pub lifecycle: LifecycleConfig,
}

/// Bounds on what a stranger's connection may cost before it is authenticated: time to send
/// the request head and body, time kept open between requests, connections open at once, and
/// request-body bytes held in memory at once over all requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpLimits {
    /// How long a connection has to send a request's head (from its start, or from the first
    /// byte of a later request on it).
    pub header_read_timeout: Duration,
    /// How long a request has to send its whole body (answered 408 and closed after).
    pub body_read_timeout: Duration,
    /// Slowest body accepted, in bytes per second over each [`HttpLimits::RATE_WINDOW`]
    /// (answered 408 and closed below it); 0 checks only the total deadline.
    pub min_body_rate: u64,
    /// How long a keep-alive connection may wait between requests before it is closed.
    pub idle_timeout: Duration,
    /// Connections open at once per server; more are closed as soon as they are accepted.
    pub max_connections: usize,
    /// Request-body bytes held at once over all requests of the data plane; a request that
    /// cannot get room for its bytes is answered 503 with `Retry-After`.
    pub max_inflight_body_bytes: usize,
}

impl HttpLimits {
    /// The window over which `min_body_rate` is measured.
    pub const RATE_WINDOW: Duration = Duration::from_secs(5);
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            min_body_rate: 1024,
            idle_timeout: Duration::from_secs(60),
            max_connections: 10_000,
            max_inflight_body_bytes: 256 * 1024 * 1024,
        }
    }
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
            replay_rate: 200,
            purge_every: Duration::from_secs(600),
            shutdown_timeout: Duration::from_secs(30),
            eval_concurrency: std::thread::available_parallelism().map_or(1, usize::from),
            http: HttpLimits::default(),
            lifecycle: LifecycleConfig::default(),
        }
    }
}

/// Lifecycle event settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LifecycleConfig {
    /// Lifecycle events of one type about one subject published per minute at most (bursts
    /// up to it); the excess is counted into the next one's `suppressed`. 0 turns lifecycle
    /// events off.
    pub per_subject_per_minute: u32,
    /// Rejected requests within a minute (and at least half of the endpoint's requests)
    /// that make an endpoint `switchboard.endpoint.rejecting`.
    pub rejecting_min: u64,
}

impl Default for LifecycleConfig {
    fn default() -> Self {
        Self {
            per_subject_per_minute: 10,
            rejecting_min: 10,
        }
    }
}
