//! Receiving a webhook, beside publishing: the endpoint's gates, the body read by the
//! front-end within its bounds, then the endpoint's in-flight slot (so a sender that trickles
//! its body holds none), the receiver pipeline (verify, parse, extract, transform) on the
//! engine's evaluation pool, then one durable acceptance fanned out to the namespace's
//! subscriptions and/or the endpoint's forward route. Every answer of a running endpoint is counted on its
//! status and in the metrics, and refusals and failures are logged here.

use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::{HeaderMap, Uri};

use crate::receiver::process::Routed;
use crate::receiver::{
    BodyError, EndpointPiece, HookError, Inbound, Outcome, Prepared, gate, process, public_url,
};
use crate::store::{Acceptance, Accepted, Target, TargetKind};

use super::runtime::Engine;
use super::snapshot::ObjectKey;

/// A webhook request as a front-end hands it over; its body is read only once the gates
/// before it have passed, and the endpoint's in-flight slot is taken only once it is read.
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

/// A request body the front-end reads on the engine's demand, up to a limit and within its
/// own bounds (time, rate, bytes held at once).
pub trait HookBody: Send {
    /// What keeps the read body counted against the front-end's bounds; held until the
    /// request is answered.
    type Held: Send;
    /// The whole body, or why it was not read whole.
    fn read(
        self,
        limit: usize,
    ) -> impl Future<Output = Result<(Bytes, Self::Held), BodyError>> + Send;
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
        let topology = self.topology();
        let key = ObjectKey::new(namespace, name);
        let piece = topology
            .endpoints
            .get(&key)
            .filter(|p| !p.inputs.spec.suspend)
            .cloned()
            .ok_or(HookError::NotFound)?;
        // A forward whose destination did not build (refused by the SSRF guard, say) has no
        // piece: refuse rather than store what could not be sent.
        let forward_missing =
            piece.inputs.spec.route.forward.is_some() && !topology.forwards.contains_key(&key);
        drop(topology);
        let received_at = request.received_at;
        let result = if forward_missing {
            Err(HookError::ForwardUnavailable(self.ready_reason(&key)))
        } else {
            self.receive_at(&piece, request).await
        };
        let outcome = match &result {
            Ok(received) => received.outcome(),
            Err(e) => e.outcome(),
        };
        piece.stats.record(outcome, received_at);
        self.endpoint_answered(&key, outcome);
        self.metrics.receiver.record(namespace, name, outcome);
        if let Err(e) = &result {
            match outcome {
                Outcome::Failed(_) => {
                    tracing::warn!(%namespace, endpoint = %name, error = %crate::error_chain::chain(&e), "webhook failed")
                }
                _ => {
                    tracing::debug!(%namespace, endpoint = %name, error = %crate::error_chain::chain(&e), "webhook refused")
                }
            }
        }
        result
    }

    /// The reason of an endpoint's Ready condition (why its forward is not running).
    fn ready_reason(&self, key: &ObjectKey) -> String {
        self.status()
            .get(crate::api::Kind::WebhookEndpoint, key)
            .and_then(|s| s.condition("Ready").map(|c| c.reason.clone()))
            .unwrap_or_else(|| "NotReady".into())
    }

    /// The request's way through a running endpoint: the gates, the body, then an in-flight
    /// slot held (with the body's bytes) to the end.
    async fn receive_at<B: HookBody>(
        &self,
        piece: &Arc<EndpointPiece>,
        request: HookRequest<B>,
    ) -> Result<Received, HookError> {
        let trusted = &self.config().receiver.trusted_proxies;
        gate::admit(piece, request.peer, &request.headers, trusted)?;
        let (body, _held) = request
            .body
            .read(piece.max_body_bytes)
            .await
            .map_err(HookError::Body)?;
        let _slot = gate::slot(piece)?;
        let inbound = Inbound {
            url: public_url(&piece.inputs.url, &request.uri, &request.headers),
            headers: request.headers,
            body,
            received_at: request.received_at,
        };
        match process(piece.clone(), inbound, &self.pool, &self.certs).await? {
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
        let topology = self.topology();
        topology
            .catalog
            .check(&event.namespace, &event.event_type, &event.payload)
            .map_err(HookError::DataRejected)?;
        let mut targets = if routed.publish {
            self.matching_targets(
                &topology,
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use tokio::sync::oneshot;

    use super::*;
    use crate::engine::EngineConfig;
    use crate::transform::EvalPool;

    /// How many evaluations run at once, and the most that ever did.
    #[derive(Default)]
    struct Gauge {
        active: AtomicUsize,
        most: AtomicUsize,
    }

    impl Gauge {
        fn enter(&self) {
            let now = self.active.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
        }

        fn leave(&self) {
            self.active.fetch_sub(1, Ordering::SeqCst);
        }
    }

    async fn engine(eval_concurrency: usize) -> (Arc<Engine>, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("switchboard.db");
        let store = crate::store::open(path.to_str().expect("a UTF-8 path"))
            .await
            .expect("open the store");
        let config = EngineConfig {
            eval_concurrency,
            ..EngineConfig::default()
        };
        (Engine::new(store, config), dir)
    }

    /// An endpoint of `namespace` (each namespace is held to all slots but one).
    fn tenant(namespace: &str) -> crate::transform::pool::Tenant<'_> {
        crate::transform::pool::Tenant {
            namespace,
            kind: "endpoint",
            name: "e",
        }
    }

    /// Runs two evaluations on `pool`: the first holds its place until the second has
    /// started (`second_may_start`) or, when it may not, for a while; returns the most that
    /// ran at once.
    async fn most_at_once(pool: &EvalPool, second_may_start: bool) -> usize {
        let gauge = Arc::new(Gauge::default());
        let (first_started, first_running) = oneshot::channel();
        let (second_started, mut second_running) = oneshot::channel();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let first = tokio::spawn({
            let (pool, gauge) = (pool.clone(), gauge.clone());
            async move {
                pool.run(tenant("a"), move || {
                    gauge.enter();
                    let _ = first_started.send(());
                    let _ = released.recv();
                    gauge.leave();
                })
                .await
            }
        });
        first_running.await.expect("the first evaluation starts");
        let second = tokio::spawn({
            let (pool, gauge) = (pool.clone(), gauge.clone());
            async move {
                pool.run(tenant("b"), move || {
                    gauge.enter();
                    let _ = second_started.send(());
                    gauge.leave();
                })
                .await
            }
        });
        if second_may_start {
            (&mut second_running).await.expect("the second starts");
        } else {
            // The wait only gives an unbounded pool the chance to show itself; a bounded one
            // passes whatever the timing.
            let early = tokio::time::timeout(Duration::from_millis(200), &mut second_running);
            assert!(early.await.is_err(), "the second started beside the first");
        }
        release.send(()).expect("the first evaluation waits");
        first.await.unwrap().expect("the first evaluation ends");
        second.await.unwrap().expect("the second evaluation ends");
        gauge.most.load(Ordering::SeqCst)
    }

    #[tokio::test]
    async fn the_engine_pool_bounds_concurrent_evaluations() {
        let (one, _dir) = engine(1).await;
        assert_eq!(most_at_once(one.eval_pool(), false).await, 1);
        // The same two evaluations do overlap when the pool has room for both.
        let (two, _dir) = engine(2).await;
        assert_eq!(most_at_once(two.eval_pool(), true).await, 2);
    }
}
