//! The engine: applies desired state to the running topology, accepts events durably, and
//! reports status.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arc_swap::ArcSwap;
use chrono::Utc;

use crate::api::Kind;
use crate::delivery::Deliveries;
use crate::store::{Acceptance, Accepted, NewEvent, Store, StoreError, Target};
use crate::transform::inline::{self, Cap};

use super::check::{CheckOptions, Problem, TestCounts, check_counting};
pub use super::config::EngineConfig;
use super::integrations::IntegrationContext;
use super::metrics::{Metrics, NamespaceLabel};
pub use super::piece::ApplySummary;
use super::piece::{BuildError, Pieces, Plan, Planned, Problems};
use super::publish::{self, PublishError};
use super::snapshot::{Object, ObjectKey, Snapshot};
use super::status::StatusBoard;
use super::subscription::{self, BuildContext};
use super::topology::{PublisherTokens, TokenCheck, Topology};
use super::{endpoints, forwards, integrations, schedules, syncs};

/// What a front-end wants to run.
#[derive(Clone, Debug, Default)]
pub struct Desired {
    /// Every resource that could be read.
    pub snapshot: Snapshot,
    /// Resources that exist but could not be read (schema errors, broken files): their last
    /// good version keeps running and they report Ready=False with the problem.
    pub rejected: Vec<Problem>,
}

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
    /// The store failed; nothing was accepted.
    #[error("storing the event")]
    Store(#[from] StoreError),
    /// Evaluating the subscription filters failed on its blocking thread; nothing was accepted.
    #[error("evaluating subscription filters")]
    Filters(#[source] tokio::task::JoinError),
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

/// The running engine.
pub struct Engine {
    store: Arc<dyn Store>,
    config: EngineConfig,
    topology: Arc<ArcSwap<Topology>>,
    pub(super) applied: Mutex<Snapshot>,
    status: StatusBoard,
    metrics: Arc<Metrics>,
    ready: AtomicBool,
    deliveries: Arc<Deliveries>,
    verifier: std::sync::OnceLock<Arc<dyn super::auth::TokenVerifier>>,
    syncs: crate::sync::Syncs,
    pub(super) sync_specs: super::syncs::JobSpecs,
    admin_authorizer: std::sync::OnceLock<Arc<dyn super::auth::AdminAuthorizer>>,
    /// The HTTP client every subscription shares (None if it could not be built).
    http: Option<reqwest::Client>,
}

impl Engine {
    /// An engine over a store, with nothing running yet.
    pub fn new(store: Arc<dyn Store>, config: EngineConfig) -> Arc<Self> {
        let status = StatusBoard::new();
        let metrics = Arc::new(Metrics::new());
        let deliveries = Deliveries::new(
            store.clone(),
            config.delivery.clone(),
            Arc::new(status.clone()),
            metrics.delivery.clone(),
        );
        // Without a process-wide TLS provider (the binary installs one) a client cannot be
        // built; subscriptions then get their own as before.
        let http = rustls::crypto::CryptoProvider::get_default().and_then(|_| {
            crate::delivery::Destination::shared_client(&config.delivery.policy)
                .inspect_err(
                    |e| tracing::warn!(error = %crate::error_chain::chain(e), "no shared HTTP client; one per subscription"),
                )
                .ok()
        });
        let sync_specs = syncs::JobSpecs::default();
        let topology = Arc::new(ArcSwap::from_pointee(Topology::default()));
        Arc::new_cyclic(|weak: &std::sync::Weak<Self>| {
            let parts = syncs::SyncParts {
                store: store.clone(),
                board: status.clone(),
                specs: sync_specs.clone(),
                topology: topology.clone(),
                publisher: weak.clone(),
            };
            Self {
                syncs: syncs::runtime(parts, &config),
                sync_specs,
                store,
                config,
                topology,
                applied: Mutex::default(),
                status,
                metrics,
                ready: AtomicBool::new(false),
                deliveries,
                verifier: std::sync::OnceLock::new(),
                admin_authorizer: std::sync::OnceLock::new(),
                http,
            }
        })
    }

    /// Lets `verifier` accept publish tokens the token Secrets do not hold (set once).
    pub fn set_token_verifier(&self, verifier: Arc<dyn super::auth::TokenVerifier>) {
        let _ = self.verifier.set(verifier);
    }

    /// Makes the admin deliveries API ask `authorizer` about every request (set once).
    pub fn set_admin_authorizer(&self, authorizer: Arc<dyn super::auth::AdminAuthorizer>) {
        let _ = self.admin_authorizer.set(authorizer);
    }

    /// The admin deliveries API's authorizer, if any (none: not authorized, standalone).
    pub fn admin_authorizer(&self) -> Option<&Arc<dyn super::auth::AdminAuthorizer>> {
        self.admin_authorizer.get()
    }

    /// The delivery runtime.
    pub fn deliveries(&self) -> &Arc<Deliveries> {
        &self.deliveries
    }

    /// The sync runtime (schedules and jobs).
    pub fn syncs(&self) -> &crate::sync::Syncs {
        &self.syncs
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The settings.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The current topology.
    pub fn topology(&self) -> Arc<Topology> {
        self.topology.load_full()
    }

    /// Status of every resource.
    pub fn status(&self) -> &StatusBoard {
        &self.status
    }

    /// The metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// True once a first snapshot has been applied.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Applies desired state: diffs every kind against what runs, in dependency order,
    /// builds what changed, keeps the last good version of anything that fails, and reports
    /// status.
    pub fn apply(&self, desired: Desired) -> ApplySummary {
        let mut applied = self.applied.lock().unwrap_or_else(|e| e.into_inner());
        let effective = with_fallbacks(desired.snapshot, &applied, &desired.rejected);
        let (found, test_counts) = static_problems(&effective, desired.rejected);
        let mut plan = Plan::new(found);
        let current = self.topology.load();
        let ictx = IntegrationContext {
            policy: self.config.delivery.policy.clone(),
            metrics: self.metrics.integration.clone(),
        };
        let integrations = plan.diff(
            &current.integrations,
            integrations::desired(&effective),
            &ictx,
        );
        // Subscriptions and forwards authenticate through the Integrations built above.
        let ctx = self.build_context(&integrations);
        let subscriptions = plan.diff(
            &current.subscriptions,
            subscription::desired(&effective),
            &ctx,
        );
        let endpoint_inputs = endpoints::desired(&effective, &self.config.receiver, &mut plan);
        let endpoints = plan.diff(&current.endpoints, endpoint_inputs, &());
        let forwards = plan.diff(&current.forwards, forwards::desired(&endpoints), &ctx);
        let schedules = plan.diff(&current.schedules, schedules::desired(&effective), &());
        let Planned {
            problems,
            mut summary,
            removed_queues,
        } = plan.finish();

        for target in removed_queues {
            self.drop_queue(target);
        }
        super::report::signing(&self.status, &subscriptions);
        let mut routes = subscription::routes(subscriptions.values());
        routes.extend(forwards::routes(&forwards));
        self.deliveries.set_routes(routes);
        let desired_syncs = syncs::desired(&effective, &schedules, &problems);
        self.topology.store(Arc::new(Topology {
            subscriptions,
            publishers: PublisherTokens::from_snapshot(&effective),
            endpoints,
            forwards,
            integrations,
            schedules,
        }));
        // After the store: jobs started now find the Integrations they call.
        self.syncs.apply(desired_syncs);

        summary.failed = super::report::ready(&self.status, &effective, &problems, &applied);
        super::report::tests(&self.status, &effective, &test_counts);
        let topology = self.topology.load();
        endpoints::report(&self.status, &topology, &self.config.receiver);
        integrations::start_and_report(&self.status, &effective, &topology.integrations, &problems);
        self.metrics.reloads.inc();
        if summary.failed > 0 {
            self.metrics.reload_failures.inc();
        }
        *applied = effective;
        self.ready.store(true, Ordering::Release);
        summary
    }

    /// What building a subscription or forward needs.
    fn build_context(&self, integrations: &Pieces<integrations::IntegrationPiece>) -> BuildContext {
        BuildContext {
            policy: self.config.delivery.policy.clone(),
            data_dir: self.config.data_dir.clone(),
            external_signing_secrets: self.config.external_signing_secrets,
            concurrency: self.config.delivery.target_concurrency,
            integrations: integrations.clone(),
            client: self.http.clone(),
        }
    }

    /// Authenticates and parses a publish request, fans the event out to the matching
    /// subscriptions and commits it durably; returns only once it is on disk.
    pub async fn publish(
        &self,
        namespace: &str,
        token: Option<&[u8]>,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<AcceptedEvent, AcceptError> {
        let topology = self.topology();
        self.authorize(&topology, namespace, token).await?;
        let event = publish::parse(headers, body)?;
        let id = event.id.unwrap_or_else(new_event_id);
        let targets = self
            .fan_out(&topology, namespace, &event.event_type, &id, &event.data)
            .await?;
        let source = event
            .source
            .map_or_else(|| "publish-api".to_owned(), |s| format!("publish-api:{s}"));
        let acceptance = Acceptance {
            event: NewEvent {
                id: id.clone(),
                namespace: namespace.to_owned(),
                event_type: event.event_type,
                source,
                payload: event.data,
                received_at: Utc::now(),
            },
            targets,
            dedup: None,
        };
        self.accept(acceptance).await.map(|accepted| AcceptedEvent {
            id,
            created: matches!(accepted, Accepted::Stored { .. }),
            deliveries: match accepted {
                Accepted::Stored { deliveries } => deliveries,
                _ => 0,
            },
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
    /// on a blocking thread, so a runaway filter never stalls the async workers.
    pub async fn fan_out(
        &self,
        topology: &Arc<Topology>,
        namespace: &str,
        event_type: &str,
        id: &str,
        data: &serde_json::Value,
    ) -> Result<Vec<Target>, AcceptError> {
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
                tokio::task::spawn_blocking(move || {
                    matching_with_errors(&topology, &ns, &ty, &id, &data)
                })
                .await
                .map_err(AcceptError::Filters)?
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
            super::report::filters(&self.status, &self.deliveries, &errors);
        }
        Ok(targets)
    }

    /// Commits one acceptance durably (batched with concurrent ones by the store), then
    /// wakes the delivery dispatcher.
    pub async fn accept(&self, acceptance: Acceptance) -> Result<Accepted, AcceptError> {
        let label = NamespaceLabel {
            namespace: acceptance.event.namespace.clone(),
        };
        let targets = acceptance.targets.clone();
        let started = Instant::now();
        // With room at the dispatcher, the deliveries are created claimed and handed to it.
        let (result, claimed) = if !targets.is_empty() && self.deliveries.has_room_for(&targets) {
            let lease = self.deliveries.config().lease;
            self.store
                .accept_claimed(vec![acceptance], lease)
                .await?
                .pop()
                .ok_or(StoreError::Closed)?
        } else {
            let accepted = self.store.accept(vec![acceptance]).await?.pop();
            (accepted.ok_or(StoreError::Closed)?, Vec::new())
        };
        self.metrics
            .store_commit_seconds
            .observe(started.elapsed().as_secs_f64());
        if let Accepted::Stored { deliveries } = result
            && deliveries > 0
        {
            if claimed.is_empty() {
                self.deliveries.wake();
            } else {
                self.deliveries.hand_off(claimed).await;
            }
            let now = Utc::now();
            for target in &targets {
                self.deliveries.stats(target).triggered(now, 1);
            }
        }
        match result {
            Accepted::Stored { .. } => self.metrics.events_accepted.get_or_create(&label).inc(),
            Accepted::DuplicateId | Accepted::DuplicateKey => {
                self.metrics.events_duplicate.get_or_create(&label).inc()
            }
        };
        Ok(result)
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
}

impl Engine {
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
                payload: serde_json::json!({
                    "message": "a test event sent from the Switchboard admin API",
                    "subscription": name,
                    "sentAt": now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                }),
                received_at: now,
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

    /// Fails the queued deliveries of a removed target (in the background).
    fn drop_queue(&self, target: Target) {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let store = self.store.clone();
        handle.spawn(async move {
            match store
                .drop_pending(&target, "the subscription was deleted")
                .await
            {
                Ok(n) if n > 0 => tracing::info!(?target, dropped = n, "dropped queued deliveries"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %crate::error_chain::chain(&e), ?target, "dropping queued deliveries"),
            }
        });
    }
}

/// A new event id: time-ordered and unique.
pub fn new_event_id() -> String {
    format!("evt_{}", uuid::Uuid::now_v7().simple())
}

/// The snapshot with the previously applied version of each rejected resource put back.
fn with_fallbacks(mut snap: Snapshot, previous: &Snapshot, rejected: &[Problem]) -> Snapshot {
    fn restore<S: Clone>(
        to: &mut BTreeMap<ObjectKey, Object<S>>,
        from: &BTreeMap<ObjectKey, Object<S>>,
        key: &ObjectKey,
    ) {
        if let (false, Some(old)) = (to.contains_key(key), from.get(key)) {
            to.insert(key.clone(), old.clone());
        }
    }
    for p in rejected {
        match p.kind {
            Kind::ClusterIntegrationProvider => {
                restore(&mut snap.providers, &previous.providers, &p.key)
            }
            Kind::Integration => restore(&mut snap.integrations, &previous.integrations, &p.key),
            Kind::WebhookEndpoint => restore(&mut snap.endpoints, &previous.endpoints, &p.key),
            Kind::WebhookSubscription => {
                restore(&mut snap.subscriptions, &previous.subscriptions, &p.key)
            }
            Kind::Transformation => {
                restore(&mut snap.transformations, &previous.transformations, &p.key)
            }
            Kind::SyncSchedule => restore(&mut snap.schedules, &previous.schedules, &p.key),
            Kind::SyncJob => restore(&mut snap.jobs, &previous.jobs, &p.key),
        }
    }
    snap
}

/// The problems found before anything is built: the snapshot's checks, the resources that
/// depend on a resource with a problem, and the resources the front-end could not read; and
/// the counts of the Transformation tests run on the way.
fn static_problems(snap: &Snapshot, rejected: Vec<Problem>) -> (Problems, TestCounts) {
    let (mut found, counts) = check_counting(snap, CheckOptions::default());
    found.extend(super::dependents::problems(snap, &found));
    found.extend(rejected);
    let mut problems = Problems::default();
    for p in found {
        let problem = BuildError {
            reason: p.reason,
            message: p.message,
        };
        problems.add(p.kind, &p.key, problem);
    }
    (problems, counts)
}

/// The subscriptions an event matches, with the filter errors (and evaluations after one)
/// met on the way (counted by the caller once matching has run to the end).
fn matching_with_errors(
    topology: &Topology,
    namespace: &str,
    event_type: &str,
    id: &str,
    data: &serde_json::Value,
) -> (Vec<Target>, Vec<(ObjectKey, Option<String>)>) {
    let mut errors = Vec::new();
    let targets = topology.matching(namespace, event_type, id, data, |key, message| {
        errors.push((key.clone(), message.map(str::to_owned)));
    });
    (targets, errors)
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
