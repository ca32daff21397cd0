//! The engine: applies desired state to the running topology and reports status (event
//! acceptance lives beside it, in `accept.rs`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use crate::api::{HEALTHY, Kind, READY};
use crate::delivery::{Deliveries, DeliveryConfig};
use crate::receiver::ReceiverConfig;
use crate::store::{Store, Target};
use crate::transform::EvalPool;

use super::check::{CheckOptions, Problem, check};
use super::forwards;
use super::integrations;
use super::metrics::Metrics;
use super::snapshot::{Object, ObjectKey, Snapshot};
use super::status::StatusBoard;
use super::subscription::{self, BuildContext, SigningSource};
use super::topology::{
    BuildError, PieceChange, PublisherTokens, SubscriptionPiece, Topology, diff_pieces,
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
            sync_progress: std::time::Duration::from_secs(2),
            eval_concurrency: std::thread::available_parallelism().map_or(1, usize::from),
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

/// The running engine.
pub struct Engine {
    pub(super) store: Arc<dyn Store>,
    config: EngineConfig,
    topology: ArcSwap<Topology>,
    applied: Mutex<Snapshot>,
    status: StatusBoard,
    pub(super) metrics: Arc<Metrics>,
    ready: AtomicBool,
    pub(super) deliveries: Arc<Deliveries>,
    pub(super) verifier: std::sync::OnceLock<Arc<dyn super::auth::TokenVerifier>>,
    syncs: crate::sync::Syncs,
    sync_specs: super::syncs::JobSpecs,
    admin_authorizer: std::sync::OnceLock<Arc<dyn super::auth::AdminAuthorizer>>,
    /// The HTTP client every subscription shares (None if it could not be built).
    http: Option<reqwest::Client>,
    /// The one pool every jq evaluation off the async threads runs on.
    pub(super) pool: EvalPool,
}

impl Engine {
    /// An engine over a store, with nothing running yet.
    pub fn new(store: Arc<dyn Store>, config: EngineConfig) -> Arc<Self> {
        let status = StatusBoard::new();
        let metrics = Arc::new(Metrics::new());
        let pool = EvalPool::new(config.eval_concurrency);
        let deliveries = Deliveries::new(
            store.clone(),
            config.delivery.clone(),
            pool.clone(),
            Arc::new(status.clone()),
            metrics.delivery.clone(),
        );
        // Without a process-wide TLS provider (the binary installs one) a client cannot be
        // built; subscriptions then get their own as before.
        let http = rustls::crypto::CryptoProvider::get_default().and_then(|_| {
            crate::delivery::Destination::shared_client(&config.delivery.policy)
                .inspect_err(
                    |e| tracing::warn!(error = %e, "no shared HTTP client; one per subscription"),
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
            pool,
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

    /// The pool jq evaluations run on off the async threads (at most `eval_concurrency`).
    pub fn eval_pool(&self) -> &EvalPool {
        &self.pool
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
}

impl Engine {
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
                Err(e) => tracing::warn!(error = %e, ?target, "dropping queued deliveries"),
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
