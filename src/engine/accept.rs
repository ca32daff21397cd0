//! Event acceptance: the publish API's path (authorization, parsing, fan-out, durable
//! commit) and the steps the webhook receivers and syncs share with it. A commit is refused
//! at once (503) while the store is down, and runs with its hand-off to the dispatcher in a
//! task of its own, so a caller that gives up (a client that hung up, a request that timed
//! out) never leaves stored deliveries waiting for their lease.

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;

use crate::delivery::Deliveries;
use crate::store::{
    Acceptance, Accepted, NewEvent, Payload, Store, StoreError, Target, new_event_id,
};
use crate::transform::inline::{self, Cap};
use crate::transform::pool::{PoolError, Tenant};

use super::metrics::{Metrics, NamespaceLabel};
use super::publish::{self, PublishError};
use super::runtime::Engine;
use super::snapshot::ObjectKey;
use super::subscription;
use super::topology::{TokenCheck, Topology};

/// Why an event was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    /// No or unknown bearer token.
    #[error("a valid bearer token is required")]
    Unauthorized,
    /// The token is valid for other namespaces only.
    #[error("the token may not publish to namespace {0:?}")]
    Forbidden(String),
    /// The request does not hold a valid event.
    #[error(transparent)]
    Invalid(#[from] PublishError),
    /// The data does not satisfy the schema of its type's EventType; nothing was accepted.
    #[error(transparent)]
    Rejected(#[from] crate::transform::schema::DataRejected),
    /// The store failed; nothing was accepted.
    #[error("storing the event")]
    Store(#[from] StoreError),
    /// Evaluating the subscription filters failed on the evaluation pool; nothing was accepted.
    #[error("evaluating subscription filters failed")]
    Filters(#[source] PoolError),
}

/// An accepted event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcceptedEvent {
    /// The event id.
    pub id: String,
    /// False when the id was already stored (nothing new was stored).
    pub created: bool,
    /// Deliveries created.
    pub deliveries: usize,
}

/// Proof that a request's bearer token may publish to a namespace, so the front-end reads the
/// body only of an authorized request ([`Engine::authorize_publish`]).
#[derive(Debug, Clone, Copy)]
pub struct MayPublish<'a> {
    namespace: &'a str,
}

impl Engine {
    /// Checks that `token` may publish to `namespace`, before the request's body is read.
    pub async fn authorize_publish<'a>(
        &self,
        namespace: &'a str,
        token: Option<&[u8]>,
    ) -> Result<MayPublish<'a>, AcceptError> {
        self.authorize(&self.topology(), namespace, token).await?;
        Ok(MayPublish { namespace })
    }

    /// Parses an authorized publish request, fans its event out to the matching
    /// subscriptions and commits it durably; returns only once it is on disk. A CloudEvents
    /// batch is checked whole (an invalid event refuses the batch, naming its index) and its
    /// events committed in one transaction: all of them are stored or none.
    pub async fn publish(
        &self,
        may: MayPublish<'_>,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<Vec<AcceptedEvent>, AcceptError> {
        let namespace = may.namespace;
        let topology = self.topology();
        let events = publish::parse_all(headers, body)?;
        let batch = publish::is_batch(headers);
        let mut acceptances = Vec::with_capacity(events.len());
        for (index, event) in events.into_iter().enumerate() {
            let in_batch = |e: PublishError| {
                if batch {
                    super::cloudevent::at_index(index, e)
                } else {
                    e
                }
            };
            acceptances.push(
                self.acceptance(&topology, namespace, event, in_batch)
                    .await?,
            );
        }
        let ids: Vec<String> = acceptances.iter().map(|a| a.event.id.clone()).collect();
        let results = if acceptances.len() == 1 {
            vec![self.accept(acceptances.remove(0)).await?]
        } else if acceptances.is_empty() {
            Vec::new()
        } else {
            self.commit_all(acceptances).await?
        };
        Ok(ids
            .into_iter()
            .zip(results)
            .map(|(id, accepted)| AcceptedEvent {
                id,
                created: matches!(accepted, Accepted::Stored { .. }),
                deliveries: match accepted {
                    Accepted::Stored { deliveries } => deliveries,
                    _ => 0,
                },
            })
            .collect())
    }

    /// A published event checked (reserved types, its EventType's schema) and fanned out.
    async fn acceptance(
        &self,
        topology: &Arc<Topology>,
        namespace: &str,
        event: publish::PublishedEvent,
        in_batch: impl Fn(PublishError) -> PublishError,
    ) -> Result<Acceptance, AcceptError> {
        if crate::delivery::notice::is_lifecycle(&event.event_type) {
            return Err(in_batch(PublishError::InvalidEvent(format!(
                "event types starting with {:?} are reserved for Switchboard's lifecycle events",
                crate::delivery::notice::LIFECYCLE_PREFIX
            )))
            .into());
        }
        topology
            .catalog
            .check(namespace, &event.event_type, &event.data)?;
        let id = event.id.unwrap_or_else(new_event_id);
        let targets = self
            .fan_out(topology, namespace, &event.event_type, &id, &event.data)
            .await?;
        let source = event
            .source
            .map_or_else(|| "publish-api".to_owned(), |s| format!("publish-api:{s}"));
        Ok(Acceptance {
            event: NewEvent {
                id,
                namespace: namespace.to_owned(),
                event_type: event.event_type,
                source,
                payload: event.data,
                received_at: Utc::now(),
                context: event.context,
            },
            targets,
            dedup: None,
        })
    }

    /// Checks a bearer token for a namespace exactly as the publish API does (publisher
    /// token Secrets, then the front-end's verifier); the egress proxy uses it too.
    pub async fn authorize(
        &self,
        topology: &Topology,
        namespace: &str,
        token: Option<&[u8]>,
    ) -> Result<(), AcceptError> {
        let mut verdict = token.map(|t| topology.publishers.check(t, namespace));
        if let (Some(TokenCheck::Unknown), Some(t), Some(v)) = (verdict, token, self.verifier.get())
        {
            verdict = Some(super::auth::check(v.as_ref(), t, namespace).await);
        }
        match verdict {
            None | Some(TokenCheck::Unknown) => Err(AcceptError::Unauthorized),
            Some(TokenCheck::OtherNamespace) => Err(AcceptError::Forbidden(namespace.to_owned())),
            Some(TokenCheck::Allowed) => Ok(()),
        }
    }

    /// The subscriptions an event goes to: patterns, then filters (a failing filter does
    /// not match and is counted). Shared by the publish API, the webhook receivers and syncs.
    /// Cheap filters run here; when one is too costly for the inline cap, matching runs again
    /// on the engine's evaluation pool, so a runaway filter never stalls the async workers.
    pub async fn fan_out(
        &self,
        topology: &Arc<Topology>,
        namespace: &str,
        event_type: &str,
        id: &str,
        data: &Payload,
    ) -> Result<Vec<Target>, AcceptError> {
        self.matching_targets(topology, namespace, event_type, id, data)
            .await
            .map_err(AcceptError::Filters)
    }

    /// [`Engine::fan_out`], failing with the evaluation pool's error as it is.
    pub(super) async fn matching_targets(
        &self,
        topology: &Arc<Topology>,
        namespace: &str,
        event_type: &str,
        id: &str,
        data: &Payload,
    ) -> Result<Vec<Target>, PoolError> {
        let inline = inline::capped(Cap::SMALL, || {
            matching_with_errors(topology, namespace, event_type, id, data)
        });
        let (targets, errors) = match inline {
            Some(found) => found,
            None => {
                let topology = topology.clone();
                let (ns, ty, id, data) = (
                    namespace.to_owned(),
                    event_type.to_owned(),
                    id.to_owned(),
                    data.clone(),
                );
                // The namespace's filters share one queue of the pool's fair scheduler.
                let tenant = Tenant {
                    namespace,
                    kind: "filters",
                    name: "",
                };
                self.pool
                    .run(tenant, move || {
                        matching_with_errors(&topology, &ns, &ty, &id, &data)
                    })
                    .await?
            }
        };
        for (key, message) in errors.iter().filter_map(|(k, m)| Some((k, m.as_ref()?))) {
            self.metrics
                .filter_errors
                .get_or_create(&NamespaceLabel {
                    namespace: namespace.to_owned(),
                })
                .inc();
            tracing::debug!(subscription = %key, error = message, "filter error: no match");
        }
        if !errors.is_empty() {
            super::report::filters(self.status(), &self.deliveries, &errors);
        }
        Ok(targets)
    }

    /// Commits one acceptance durably (batched with concurrent ones by the store), then
    /// wakes the delivery dispatcher.
    pub async fn accept(&self, acceptance: Acceptance) -> Result<Accepted, AcceptError> {
        Ok(self.commit(acceptance).await?)
    }

    /// [`Engine::accept`], failing with the store's error as it is: refused at once while
    /// the store is down, and no longer waited for when it goes down meanwhile (the commit
    /// may still land; it is then delivered like any other).
    pub(super) async fn commit(&self, acceptance: Acceptance) -> Result<Accepted, StoreError> {
        self.commit_all(vec![acceptance])
            .await?
            .pop()
            .ok_or(StoreError::Closed)
    }

    /// [`Engine::commit`] for several acceptances at once, in one store transaction: all
    /// of them are stored or none.
    pub(super) async fn commit_all(
        &self,
        acceptances: Vec<Acceptance>,
    ) -> Result<Vec<Accepted>, StoreError> {
        let health = self.store_health();
        if let Some(reason) = health.down() {
            return Err(StoreError::Unavailable { reason });
        }
        let labels: Vec<NamespaceLabel> = acceptances
            .iter()
            .map(|a| NamespaceLabel {
                namespace: a.event.namespace.clone(),
            })
            .collect();
        let committing = tokio::spawn(commit_and_hand_off(
            self.store.clone(),
            self.deliveries.clone(),
            self.metrics.clone(),
            acceptances,
        ));
        let results = tokio::select! {
            biased;
            joined = committing => match joined {
                Ok(result) => result?,
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(_) => return Err(StoreError::Closed),
            },
            reason = health.went_down() => return Err(StoreError::Unavailable { reason }),
        };
        for (result, label) in results.iter().zip(&labels) {
            match result {
                Accepted::Stored { .. } => self.metrics.events_accepted.get_or_create(label).inc(),
                Accepted::DuplicateId | Accepted::DuplicateKey => {
                    self.metrics.events_duplicate.get_or_create(label).inc()
                }
            };
        }
        Ok(results)
    }

    /// Refreshes the queue-depth gauges from the store.
    pub async fn refresh_queue_depth(&self) -> Result<(), StoreError> {
        for (status, n) in self.store.queue_depth().await? {
            let label = super::metrics::StatusLabel {
                status: status.as_str().into(),
            };
            self.metrics.queue_depth.get_or_create(&label).set(n as i64);
        }
        Ok(())
    }

    /// Sends a `switchboard.test` event to one subscription only; None when it is not running.
    pub async fn test_subscription(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<AcceptedEvent>, AcceptError> {
        let key = super::snapshot::ObjectKey::new(namespace, name);
        if !self.topology().subscriptions.contains_key(&key) {
            return Ok(None);
        }
        let id = new_event_id();
        let now = Utc::now();
        let acceptance = Acceptance {
            event: NewEvent {
                id: id.clone(),
                namespace: namespace.to_owned(),
                event_type: "switchboard.test".into(),
                source: "admin-test".into(),
                payload: Payload::from_value(&serde_json::json!({
                    "message": "a test event sent from the Switchboard admin API",
                    "subscription": name,
                    "sentAt": now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                }))
                .map_err(|e| {
                    PublishError::InvalidBody(crate::error_chain::chain(&e).to_string())
                })?,
                received_at: now,
                context: None,
            },
            targets: vec![subscription::target_of(&key)],
            dedup: None,
        };
        let accepted = self.accept(acceptance).await?;
        Ok(Some(AcceptedEvent {
            id,
            created: matches!(accepted, Accepted::Stored { .. }),
            deliveries: match accepted {
                Accepted::Stored { deliveries } => deliveries,
                _ => 0,
            },
        }))
    }
}

/// The subscriptions an event matches, with the filter errors (and evaluations after one)
/// met on the way (counted by the caller once matching has run to the end).
fn matching_with_errors(
    topology: &Topology,
    namespace: &str,
    event_type: &str,
    id: &str,
    data: &Payload,
) -> (Vec<Target>, Vec<(ObjectKey, Option<String>)>) {
    let mut errors = Vec::new();
    let targets = topology.matching(namespace, event_type, id, data, |key, message| {
        errors.push((key.clone(), message.map(str::to_owned)));
    });
    (targets, errors)
}

/// The commit and what follows it, in a task of its own so it finishes whether or not anyone
/// still waits for the answer: with room at the dispatcher the deliveries are created claimed
/// and handed to it, otherwise it is woken to claim them.
async fn commit_and_hand_off(
    store: Arc<dyn Store>,
    deliveries: Arc<Deliveries>,
    metrics: Arc<Metrics>,
    acceptances: Vec<Acceptance>,
) -> Result<Vec<Accepted>, StoreError> {
    let targets: Vec<Vec<Target>> = acceptances.iter().map(|a| a.targets.clone()).collect();
    let all: Vec<Target> = targets.iter().flatten().cloned().collect();
    let started = Instant::now();
    let (results, claimed): (Vec<Accepted>, Vec<_>) =
        if !all.is_empty() && deliveries.has_room_for(&all) {
            let lease = deliveries.config().lease;
            let done = store.accept_claimed(acceptances, lease).await?;
            let mut claimed = Vec::new();
            let results = done
                .into_iter()
                .map(|(accepted, c)| {
                    claimed.extend(c);
                    accepted
                })
                .collect();
            (results, claimed)
        } else {
            (store.accept(acceptances).await?, Vec::new())
        };
    metrics
        .store_commit_seconds
        .observe(started.elapsed().as_secs_f64());
    let stored = |r: &Accepted| matches!(r, Accepted::Stored { deliveries: n } if *n > 0);
    if results.iter().any(stored) {
        if claimed.is_empty() {
            deliveries.wake();
        } else {
            deliveries.hand_off(claimed).await;
        }
        let now = Utc::now();
        for (result, targets) in results.iter().zip(&targets) {
            if stored(result) {
                for target in targets {
                    deliveries.stats(target).triggered(now, 1);
                }
            }
        }
    }
    Ok(results)
}

#[async_trait::async_trait]
impl crate::sync::Publisher for Engine {
    /// Sync jobs sink records through the publish path: fan-out, then durable acceptance.
    async fn publish(&self, event: NewEvent) -> Result<(), crate::sync::SinkError> {
        let sink_error = |e: AcceptError| crate::sync::SinkError::Publish(Box::new(e));
        let targets = self
            .fan_out(
                &self.topology(),
                &event.namespace,
                &event.event_type,
                &event.id,
                &event.payload,
            )
            .await
            .map_err(sink_error)?;
        let acceptance = Acceptance {
            event,
            targets,
            dedup: None,
        };
        self.accept(acceptance).await.map(drop).map_err(sink_error)
    }
}
