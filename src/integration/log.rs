//! The call log of an Integration: the last calls (method, path, status, duration, bytes)
//! in a bounded ring. Never bodies, query strings or headers.

use std::collections::VecDeque;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::Serialize;

/// Calls kept per Integration.
pub const LOG_CAPACITY: usize = 256;

/// One call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallLogEntry {
    /// When it started.
    pub at: DateTime<Utc>,
    /// Method.
    pub method: String,
    /// Path, without the query string.
    pub path: String,
    /// Final status, when there was a response.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Duration of the call with its retries, in milliseconds.
    pub duration_ms: u64,
    /// Attempts made (0 when refused before sending).
    pub attempts: u32,
    /// Request body bytes.
    pub request_bytes: u64,
    /// Response body bytes.
    pub response_bytes: u64,
    /// Why it failed, when it did (no secrets).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A bounded ring of calls, oldest dropped first.
#[derive(Debug)]
pub struct CallLog {
    capacity: usize,
    entries: Mutex<VecDeque<CallLogEntry>>,
}

impl Default for CallLog {
    fn default() -> Self {
        Self::with_capacity(LOG_CAPACITY)
    }
}

impl CallLog {
    /// A log keeping at most `capacity` calls.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            entries: Mutex::new(VecDeque::with_capacity(capacity.min(LOG_CAPACITY))),
        }
    }

    /// Records one call.
    pub fn push(&self, entry: CallLogEntry) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.capacity {
            entries.pop_front();
        }
        entries.push_back(entry);
    }

    /// The calls, newest first.
    pub fn recent(&self) -> Vec<CallLogEntry> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.iter().rev().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_keeps_the_newest_calls() {
        let log = CallLog::with_capacity(2);
        for i in 0..3u16 {
            log.push(CallLogEntry {
                at: Utc::now(),
                method: "GET".into(),
                path: format!("/{i}"),
                status: Some(200 + i),
                duration_ms: 1,
                attempts: 1,
                request_bytes: 0,
                response_bytes: 0,
                error: None,
            });
        }
        let paths: Vec<_> = log.recent().into_iter().map(|e| e.path).collect();
        assert_eq!(paths, ["/2", "/1"]);
    }
}
