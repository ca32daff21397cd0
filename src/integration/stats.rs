//! What an Integration's calls and health checks observed, for its status: last success,
//! last error, error count, last health check. Changes are signalled to whoever reports them.

use std::sync::Mutex;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;

/// The outcome of the last health check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthResult {
    /// Passed.
    pub ok: bool,
    /// When it ran.
    pub at: DateTime<Utc>,
    /// What it found (no secrets).
    pub message: String,
}

/// A copy of the counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Time of the last successful call.
    pub last_success: Option<DateTime<Utc>>,
    /// The last error.
    pub last_error: Option<String>,
    /// Time of the last error.
    pub last_error_at: Option<DateTime<Utc>>,
    /// Failed calls since the client was built.
    pub error_count: u64,
    /// Calls since the client was built.
    pub calls: u64,
    /// The last health check.
    pub health: Option<HealthResult>,
}

/// Counters of one Integration, shared by its calls and its status reporter.
#[derive(Debug, Default)]
pub struct IntegrationStats {
    inner: Mutex<StatsSnapshot>,
    changed: Notify,
}

impl IntegrationStats {
    fn update(&self, f: impl FnOnce(&mut StatsSnapshot)) {
        f(&mut self.inner.lock().unwrap_or_else(|e| e.into_inner()));
        self.changed.notify_one();
    }

    /// Records a successful call.
    pub fn success(&self, at: DateTime<Utc>) {
        self.update(|s| {
            s.calls += 1;
            s.last_success = Some(at);
        });
    }

    /// Records a failed call.
    pub fn failure(&self, at: DateTime<Utc>, error: String) {
        self.update(|s| {
            s.calls += 1;
            s.error_count += 1;
            s.last_error = Some(error);
            s.last_error_at = Some(at);
        });
    }

    /// Records a health check.
    pub fn health(&self, result: HealthResult) {
        self.update(|s| s.health = Some(result));
    }

    /// A copy of the counters.
    pub fn snapshot(&self) -> StatsSnapshot {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Resolves after the next change (or at once if one happened since the last wait).
    pub async fn changed(&self) {
        self.changed.notified().await;
    }
}
