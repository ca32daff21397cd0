//! The engine: applies desired state to the running topology, accepts events durably, and
//! reports status.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arc_swap::ArcSwap;
use chrono::Utc;

use crate::api::{HEALTHY, Kind, READY};
use crate::delivery::{Deliveries, DeliveryConfig};
use crate::receiver::ReceiverConfig;
use crate::store::{Acceptance, Accepted, NewEvent, Store, StoreError, Target};
use crate::transform::inline::{self, Cap};

use super::check::{CheckOptions, Problem, check};
use super::forwards;
use super::integrations;
use super::metrics::{Metrics, NamespaceLabel};
use super::publish::{self, PublishError};
use super::snapshot::{Object, ObjectKey, Snapshot};
use super::status::StatusBoard;
use super::subscription::{self, BuildContext, SigningSource};
use super::topology::{
    BuildError, PieceChange, PublisherTokens, SubscriptionPiece, TokenCheck, Topology, diff_pieces,
};

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
    pub sync_progress: std::time::Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            max_event_bytes: 1024 * 1024,
            data_dir: None,
            external_signing_secrets: false,
            delivery: DeliveryConfig::default(),
            receiver: ReceiverConfig::default(),
            sync_progress: std::time::Duration::from_secs(2),
        }
    }
}

/// What a front-end wants to run.
#[derive(Clone, Debug, Default)]
pub struct Desired {
    /// Every resource that could be read.
    pub snapshot: Snapshot,
    /// Resources that exist but could not be read (schema errors, broken files): their last
    /// good version keeps running and they report Ready=False with the problem.
    pub rejected: Vec<Problem>,
}

/// What `apply` did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApplySummary {
    /// Pieces built for the first time.
    pub added: usize,
    /// Pieces rebuilt.
    pub changed: usize,
    /// Pieces kept as they were.
    pub unchanged: usize,
    /// Pieces stopped.
    pub removed: usize,
    /// Resources with problems.
    pub failed: usize,
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
    topology: ArcSwap<Topology>,
    applied: Mutex<Snapshot>,
    status: StatusBoard,
    metrics: Arc<Metrics>,
    ready: AtomicBool,
    deliveries: Arc<Deliveries>,
    verifier: std::sync::OnceLock<Arc<dyn super::auth::TokenVerifier>>,
    syncs: crate::sync::Syncs,
    sync_specs: super::syncs::JobSpecs,
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
        let sync_specs = super::syncs::JobSpecs::default();
        let sync_parts = (store.clone(), status.clone(), sync_specs.clone());
        Arc::new_cyclic(|weak| Self {
            syncs: super::syncs::runtime(sync_parts, &config, weak.clone()),
            sync_specs,
            store,
            config,
            topology: ArcSwap::from_pointee(Topology::default()),
            applied: Mutex::default(),
            status,
            metrics,
            ready: AtomicBool::new(false),
            deliveries,
            verifier: std::sync::OnceLock::new(),
            admin_authorizer: std::sync::OnceLock::new(),
            http,
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

    /// Runs the delivery dispatcher until `cancel`, then waits for attempts in flight.
    pub async fn run_deliveries(&self, cancel: tokio_util::sync::CancellationToken) {
        self.deliveries.clone().run(cancel).await;
    }

    /// The sync runtime (schedules and jobs).
    pub fn syncs(&self) -> &crate::sync::Syncs {
        &self.syncs
    }

    /// Runs sync schedules and jobs while `leader` is true, until `cancel` (standalone passes
    /// a constant true).
    pub async fn run_syncs(
        &self,
        leader: tokio::sync::watch::Receiver<bool>,
        cancel: tokio_util::sync::CancellationToken,
    ) {
        self.syncs.run(leader, cancel).await;
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

    /// Applies desired state: diffs it against what runs, builds what changed, keeps the last
    /// good version of anything that fails, and reports status.
    pub fn apply(&self, desired: Desired) -> ApplySummary {
        let mut applied = self.applied.lock().unwrap_or_else(|e| e.into_inner());
        let effective = with_fallbacks(desired.snapshot, &applied, &desired.rejected);
        let mut problems = check(&effective, CheckOptions::default());
        problems.extend(super::dependents::problems(&effective, &problems));
        problems.extend(desired.rejected);
        let mut invalid = invalid_by_kind(&problems);
        let none = BTreeMap::new();
        let current = self.topology.load();
        let (integrations, intg_changes) = integrations::diff(
            &current.integrations,
            &effective,
            invalid.get(&Kind::Integration).unwrap_or(&none),
            &self.config.delivery.policy,
            &self.metrics.integration,
        );
        for (key, change) in &intg_changes {
            if let PieceChange::Failed(err) = change {
                invalid
                    .entry(Kind::Integration)
                    .or_default()
                    .entry(key.clone())
                    .or_insert_with(|| err.clone());
            }
        }
        let ctx = BuildContext {
            policy: self.config.delivery.policy.clone(),
            data_dir: self.config.data_dir.clone(),
            external_signing_secrets: self.config.external_signing_secrets,
            concurrency: self.config.delivery.target_concurrency,
            integrations: integrations.clone(),
            client: self.http.clone(),
        };
        let (subscriptions, sub_changes) = diff_pieces(
            &current.subscriptions,
            subscription::inputs(&effective),
            invalid.get(&Kind::WebhookSubscription).unwrap_or(&none),
            |p: &SubscriptionPiece| &p.inputs,
            |obj| SubscriptionPiece::build(obj, &ctx),
        );
        for (key, change) in &sub_changes {
            match change {
                PieceChange::Failed(err) => {
                    invalid
                        .entry(Kind::WebhookSubscription)
                        .or_default()
                        .entry(key.clone())
                        .or_insert_with(|| err.clone());
                }
                PieceChange::Removed => self.drop_queue(subscription::target_of(key)),
                _ => {}
            }
        }
        self.report_signing(&subscriptions);
        let (endpoints, endpoint_changes) = super::endpoints::diff(
            &current.endpoints,
            &effective,
            &invalid,
            &self.config.receiver,
        );
        super::endpoints::merge_failures(&mut invalid, &endpoint_changes);
        let (forwards, forward_failures) = forwards::diff(
            &current.forwards,
            endpoints
                .iter()
                .filter_map(|(k, p)| p.inputs.spec.route.forward.as_ref().map(|f| (k, f))),
            &ctx,
        );
        for (key, err) in forward_failures {
            invalid
                .entry(Kind::WebhookEndpoint)
                .or_default()
                .entry(key)
                .or_insert(err);
        }
        for key in current.forwards.keys() {
            let still_forwards = endpoints
                .get(key)
                .is_some_and(|p| p.inputs.spec.route.forward.is_some());
            if !still_forwards {
                self.drop_queue(forwards::target_of(key));
            }
        }
        let mut routes = subscription::routes(subscriptions.values());
        routes.extend(forwards::routes(&forwards));
        self.deliveries.set_routes(routes);
        let next = Topology {
            subscriptions,
            publishers: PublisherTokens::from_snapshot(&effective),
            endpoints,
            forwards,
            integrations,
        };
        self.topology.store(Arc::new(next));
        // After the store: jobs started now find the Integrations they call.
        self.syncs
            .apply(super::syncs::desired(&effective, &invalid));

        let mut summary = ApplySummary::default();
        for change in sub_changes
            .values()
            .chain(endpoint_changes.values())
            .chain(intg_changes.values())
        {
            match change {
                PieceChange::Added => summary.added += 1,
                PieceChange::Changed => summary.changed += 1,
                PieceChange::Unchanged => summary.unchanged += 1,
                PieceChange::Removed => summary.removed += 1,
                PieceChange::Failed(_) => {}
            }
        }
        summary.failed = self.report(&effective, &invalid, &applied);
        super::endpoints::report(&self.status, &self.topology.load(), &self.config.receiver);
        integrations::start_and_report(
            &self.status,
            &effective,
            &self.topology.load().integrations,
            invalid.get(&Kind::Integration).unwrap_or(&none),
        );
        self.metrics.reloads.inc();
        if summary.failed > 0 {
            self.metrics.reload_failures.inc();
        }
        *applied = effective;
        self.ready.store(true, Ordering::Release);
        summary
    }

    /// Writes Ready (and Healthy where it applies) for every resource, removes the status of
    /// resources that are gone; returns how many resources are not ready.
    fn report(
        &self,
        snap: &Snapshot,
        invalid: &BTreeMap<Kind, BTreeMap<ObjectKey, BuildError>>,
        previous: &Snapshot,
    ) -> usize {
        let mut failed = 0;
        let mut seen = std::collections::BTreeSet::new();
        for (kind, key, generation) in resources(snap) {
            seen.insert((kind, key.clone()));
            match invalid.get(&kind).and_then(|m| m.get(&key)) {
                Some(err) => {
                    failed += 1;
                    self.status.set_condition(
                        kind,
                        &key,
                        generation,
                        READY,
                        false,
                        err.reason,
                        &err.message,
                    );
                }
                // A SyncJob's Ready is its run's (reported by the sync runtime).
                None if kind == Kind::SyncJob => {}
                None => self.status.set_condition(
                    kind,
                    &key,
                    generation,
                    READY,
                    true,
                    "Ready",
                    &ready_message(kind, &key),
                ),
            }
            if kind == Kind::WebhookSubscription
                && self
                    .status
                    .get(kind, &key)
                    .is_none_or(|s| s.condition(HEALTHY).is_none())
            {
                self.status.set_condition(
                    kind,
                    &key,
                    generation,
                    HEALTHY,
                    true,
                    "NoDeliveriesYet",
                    "no delivery has failed",
                );
            }
        }
        for (kind, key, _) in resources(previous) {
            if !seen.contains(&(kind, key.clone())) {
                self.status.remove(kind, &key);
            }
        }
        failed
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
        for (key, message) in errors {
            self.metrics
                .filter_errors
                .get_or_create(&NamespaceLabel {
                    namespace: namespace.to_owned(),
                })
                .inc();
            tracing::debug!(subscription = %key, error = message, "filter error: no match");
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

    /// Reports where each subscription's signing secret comes from (status.signingSecretRef;
    /// standalone generated secrets also name their file in status.signingSecretFile).
    fn report_signing(
        &self,
        pieces: &BTreeMap<super::snapshot::ObjectKey, Arc<SubscriptionPiece>>,
    ) {
        for (key, piece) in pieces {
            let mut fields = serde_json::Map::new();
            let (reference, file) = match &piece.signing {
                SigningSource::Configured => (
                    piece
                        .spec()
                        .signing
                        .secret_ref
                        .as_ref()
                        .and_then(|r| serde_json::to_value(r).ok())
                        .unwrap_or_default(),
                    serde_json::Value::Null,
                ),
                SigningSource::Generated(path) => (
                    serde_json::json!({"name": format!("{}-signing", key.name), "key": "secret"}),
                    path.as_ref()
                        .map(|p| p.display().to_string().into())
                        .unwrap_or_default(),
                ),
                SigningSource::GeneratedSecret => (
                    serde_json::json!({"name": subscription::generated_secret_name(&key.name), "key": "secret"}),
                    serde_json::Value::Null,
                ),
                SigningSource::Unsigned => (serde_json::Value::Null, serde_json::Value::Null),
            };
            fields.insert("signingSecretRef".into(), reference);
            fields.insert("signingSecretFile".into(), file);
            self.status
                .set_fields(Kind::WebhookSubscription, key, fields);
        }
    }
}

/// A new event id: time-ordered and unique.
pub fn new_event_id() -> String {
    format!("evt_{}", uuid::Uuid::now_v7().simple())
}

fn ready_message(kind: Kind, key: &ObjectKey) -> String {
    match kind {
        Kind::WebhookEndpoint => format!("receiving at /hooks/{}/{}", key.namespace, key.name),
        _ => "configuration accepted".into(),
    }
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

/// The first problem of each resource (with every message joined), by kind.
fn invalid_by_kind(problems: &[Problem]) -> BTreeMap<Kind, BTreeMap<ObjectKey, BuildError>> {
    let mut out: BTreeMap<Kind, BTreeMap<ObjectKey, BuildError>> = BTreeMap::new();
    for p in problems {
        out.entry(p.kind)
            .or_default()
            .entry(p.key.clone())
            .and_modify(|e| {
                e.message.push_str("; ");
                e.message.push_str(&p.message);
            })
            .or_insert_with(|| BuildError {
                reason: p.reason,
                message: p.message.clone(),
            });
    }
    out
}

/// Every resource of a snapshot with its generation, plus rejected ones not in it.
fn resources(snap: &Snapshot) -> Vec<(Kind, ObjectKey, Option<i64>)> {
    fn keys<S>(
        kind: Kind,
        map: &BTreeMap<ObjectKey, Object<S>>,
    ) -> impl Iterator<Item = (Kind, ObjectKey, Option<i64>)> + '_ {
        map.iter()
            .map(move |(k, o)| (kind, k.clone(), o.meta.generation))
    }
    keys(Kind::ClusterIntegrationProvider, &snap.providers)
        .chain(keys(Kind::Integration, &snap.integrations))
        .chain(keys(Kind::WebhookEndpoint, &snap.endpoints))
        .chain(keys(Kind::WebhookSubscription, &snap.subscriptions))
        .chain(keys(Kind::Transformation, &snap.transformations))
        .chain(keys(Kind::SyncSchedule, &snap.schedules))
        .chain(keys(Kind::SyncJob, &snap.jobs))
        .collect()
}

impl Engine {
    /// Every resource in the Kubernetes object shape (apiVersion, kind, metadata, spec,
    /// status), optionally of one kind: what `/v1/status` serves and `switchboard get` prints.
    pub fn resource_views(&self, kind: Option<Kind>) -> Vec<serde_json::Value> {
        let applied = self.applied.lock().unwrap_or_else(|e| e.into_inner());
        self.status
            .list(kind)
            .into_iter()
            .map(|status| {
                let k = Kind::from_kind(&status.kind).expect("the board holds our kinds");
                let key = ObjectKey::new(&status.namespace, &status.name);
                let mut spec = spec_json(&applied, k, &key);
                if spec.is_null() && k == Kind::SyncJob {
                    let specs = self.sync_specs.lock().unwrap_or_else(|e| e.into_inner());
                    spec = specs.get(&key).cloned().unwrap_or_default();
                }
                view(status, spec)
            })
            .collect()
    }
}

fn spec_json(snap: &Snapshot, kind: Kind, key: &ObjectKey) -> serde_json::Value {
    fn get<S: serde::Serialize>(
        map: &BTreeMap<ObjectKey, Object<S>>,
        key: &ObjectKey,
    ) -> serde_json::Value {
        map.get(key)
            .and_then(|o| serde_json::to_value(&o.spec).ok())
            .unwrap_or_default()
    }
    match kind {
        Kind::ClusterIntegrationProvider => get(&snap.providers, key),
        Kind::Integration => get(&snap.integrations, key),
        Kind::WebhookEndpoint => get(&snap.endpoints, key),
        Kind::WebhookSubscription => get(&snap.subscriptions, key),
        Kind::Transformation => get(&snap.transformations, key),
        Kind::SyncSchedule => get(&snap.schedules, key),
        Kind::SyncJob => get(&snap.jobs, key),
    }
}

fn view(status: super::status::ResourceStatus, spec: serde_json::Value) -> serde_json::Value {
    let mut metadata = serde_json::json!({
        "name": status.name,
        "creationTimestamp": status.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    });
    if !status.namespace.is_empty() {
        metadata["namespace"] = status.namespace.clone().into();
    }
    if let Some(g) = status.observed_generation {
        metadata["generation"] = g.into();
    }
    let mut st = status.fields;
    if let Some(g) = status.observed_generation {
        st.insert("observedGeneration".into(), g.into());
    }
    st.insert(
        "conditions".into(),
        serde_json::to_value(&status.conditions).unwrap_or_default(),
    );
    serde_json::json!({
        "apiVersion": crate::api::API_VERSION,
        "kind": status.kind,
        "metadata": metadata,
        "spec": spec,
        "status": st,
    })
}

/// The subscriptions an event matches, with the filter errors met on the way (counted by the
/// caller once matching has run to the end).
fn matching_with_errors(
    topology: &Topology,
    namespace: &str,
    event_type: &str,
    id: &str,
    data: &serde_json::Value,
) -> (Vec<Target>, Vec<(ObjectKey, String)>) {
    let mut errors = Vec::new();
    let targets = topology.matching(namespace, event_type, id, data, |key, message| {
        errors.push((key.clone(), message.to_owned()));
    });
    (targets, errors)
}
