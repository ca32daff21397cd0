//! Receiving a webhook, beside publishing: the endpoint's gates, the body read by the
//! front-end, the receiver pipeline (verify, parse, extract, transform) on the engine's
//! evaluation pool, then one durable acceptance fanned out to the namespace's subscriptions
//! and/or the endpoint's forward route. Every answer of a running endpoint is counted on its
//! status and in the metrics, and refusals and failures are logged here.

use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::{HeaderMap, Uri};

use crate::receiver::process::Routed;
use crate::receiver::{
    EndpointPiece, HookError, Inbound, Outcome, Prepared, gate, process, public_url,
};
use crate::store::{Acceptance, Accepted, Target, TargetKind};

use super::runtime::Engine;

/// A webhook request as a front-end hands it over; its body is read only once the gates
/// have passed.
#[derive(Debug)]
pub struct HookRequest<B> {
    /// The connection's peer address.
    pub peer: IpAddr,
    /// Request headers.
    pub headers: HeaderMap,
    /// The request URI: its path and query make the public URL some signatures cover.
    pub uri: Uri,
    /// When the request arrived.
    pub received_at: DateTime<Utc>,
    /// The body, not read yet.
    pub body: B,
}

/// A request body the front-end reads on the engine's demand, up to a limit.
pub trait HookBody: Send {
    /// The whole body; `None` when it is larger than `limit` bytes or cannot be read.
    fn read(self, limit: usize) -> impl Future<Output = Option<Bytes>> + Send;
}

/// What became of a received webhook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Received {
    /// Committed durably as a new event.
    Accepted {
        /// The event id.
        id: String,
    },
    /// Its id or dedup key was seen recently: nothing new was stored.
    Duplicate,
    /// Its event type is outside the endpoint's allowlist: nothing was stored.
    Ignored {
        /// The event type.
        event_type: String,
    },
}

impl Received {
    /// How it counts on the endpoint's status and in the metrics.
    pub fn outcome(&self) -> Outcome {
        match self {
            Self::Accepted { .. } => Outcome::Accepted,
            Self::Duplicate => Outcome::Duplicate,
            Self::Ignored { .. } => Outcome::Ignored,
        }
    }
}

impl Engine {
    /// Receives a webhook for endpoint `namespace/name`: gates, body, pipeline and commit;
    /// returns only once the event is on disk (or known as a duplicate, or ignored).
    pub async fn receive<B: HookBody>(
        &self,
        namespace: &str,
        name: &str,
        request: HookRequest<B>,
    ) -> Result<Received, HookError> {
        let piece = self
            .topology()
            .endpoint(namespace, name)
            .filter(|p| !p.inputs.spec.suspend)
            .cloned()
            .ok_or(HookError::NotFound)?;
        let received_at = request.received_at;
        let result = self.receive_at(&piece, request).await;
        let outcome = match &result {
            Ok(received) => received.outcome(),
            Err(e) => e.outcome(),
        };
        piece.stats.record(outcome, received_at);
        self.metrics.receiver.record(namespace, name, outcome);
        if let Err(e) = &result {
            match outcome {
                Outcome::Failed(_) => {
                    tracing::warn!(%namespace, endpoint = %name, error = %e, "webhook failed")
                }
                _ => tracing::debug!(%namespace, endpoint = %name, error = %e, "webhook refused"),
            }
        }
        result
    }

    /// The request's way through a running endpoint, its in-flight slot held to the end.
    async fn receive_at<B: HookBody>(
        &self,
        piece: &Arc<EndpointPiece>,
        request: HookRequest<B>,
    ) -> Result<Received, HookError> {
        let trusted = &self.config().receiver.trusted_proxies;
        let _slot = gate::admit(piece, request.peer, &request.headers, trusted)?;
        let limit = piece.max_body_bytes;
        let body = request
            .body
            .read(limit)
            .await
            .ok_or(HookError::TooLarge(limit))?;
        let inbound = Inbound {
            url: public_url(&piece.inputs.url, &request.uri, &request.headers),
            headers: request.headers,
            body,
            received_at: request.received_at,
        };
        match process(piece.clone(), inbound, &self.pool).await? {
            Prepared::Ignored { event_type } => Ok(Received::Ignored { event_type }),
            Prepared::Route(routed) => {
                let id = routed.event.id.clone();
                Ok(
                    match self.commit_webhook(&piece.inputs.name, *routed).await? {
                        Accepted::Stored { .. } => Received::Accepted { id },
                        Accepted::DuplicateId | Accepted::DuplicateKey => Received::Duplicate,
                    },
                )
            }
        }
    }

    /// Commits a routed webhook durably: the event fanned out to the namespace's
    /// subscriptions and/or the endpoint's forward route, with its dedup key.
    async fn commit_webhook(&self, endpoint: &str, routed: Routed) -> Result<Accepted, HookError> {
        let event = routed.event;
        let mut targets = if routed.publish {
            self.matching_targets(
                &self.topology(),
                &event.namespace,
                &event.event_type,
                &event.id,
                &event.payload,
            )
            .await
            .map_err(HookError::Filters)?
        } else {
            Vec::new()
        };
        if routed.forward {
            targets.push(Target {
                namespace: event.namespace.clone(),
                kind: TargetKind::Forward,
                name: endpoint.to_owned(),
            });
        }
        self.commit(Acceptance {
            event,
            targets,
            dedup: routed.dedup,
        })
        .await
        .map_err(HookError::Store)
    }
}
