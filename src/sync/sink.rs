//! Where synced records go: published as events of the schedule's namespace (through the
//! engine's publish path, behind [`Publisher`]), or POSTed to a URL through the delivery
//! destination (SSRF guard included).

use std::sync::Arc;

use async_trait::async_trait;

use crate::delivery::Destination;
use crate::delivery::classify::Verdict;
use crate::store::NewEvent;

/// The engine's publish path: fan-out to the namespace's subscriptions and durable storage.
#[async_trait]
pub trait Publisher: Send + Sync {
    /// Stores an event and its deliveries; returns once it is durable.
    async fn publish(&self, event: NewEvent) -> Result<(), SinkError>;
}

/// Why one record could not be sunk.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Publishing failed (the store).
    #[error("publishing the record")]
    Publish(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The engine is gone (shutting down).
    #[error("the engine is shutting down")]
    Closed,
    /// The forward destination did not accept the record.
    #[error("forwarding the record to {url}: {message}")]
    Forward {
        /// The destination (without query).
        url: String,
        /// Status or error.
        message: String,
    },
}

/// A built sink.
pub enum Sink {
    /// Publish each record as an event of this type.
    Publish {
        /// Event type.
        event_type: String,
        /// The engine's publish path.
        publisher: Arc<dyn Publisher>,
    },
    /// POST each record to a destination.
    Forward(Arc<Destination>),
}

impl Sink {
    /// Forwards one record (its JSON body) as message `id`.
    pub async fn forward(
        destination: &Destination,
        id: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<(), SinkError> {
        let sent = destination.send(id, content_type, &[], body).await;
        match sent.verdict {
            Verdict::Delivered => Ok(()),
            _ => Err(SinkError::Forward {
                url: destination.request_line(),
                message: match (sent.record.response_status, sent.record.error) {
                    (_, Some(e)) => e,
                    (Some(s), None) => format!("HTTP {s}"),
                    (None, None) => "no response".into(),
                },
            }),
        }
    }
}
