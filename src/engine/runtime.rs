//! The engine: applies desired state to the running topology and reports status (event
//! acceptance lives beside it, in `accept.rs`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use crate::api::Kind;
use crate::delivery::Deliveries;
use crate::store::{Store, Target};
use crate::transform::EvalPool;

use super::check::{CheckOptions, Problem, TestCounts, check_counting};
pub use super::config::EngineConfig;
use super::health::StoreHealth;
use super::integrations::IntegrationContext;
use super::metrics::Metrics;
pub use super::piece::ApplySummary;
use super::piece::{BuildError, Pieces, Plan, Planned, Problems};
use super::snapshot::{Object, ObjectKey, Snapshot};
use super::status::StatusBoard;
use super::subscription::{self, BuildContext};
use super::topology::{PublisherTokens, Topology};
use super::{endpoints, event_types, forwards, integrations, schedules, syncs};

/// What a front-end wants to run.
#[derive(Clone, Debug, Default)]
pub struct Desired {
    /// Every resource that could be read.
    pub snapshot: Snapshot,
    /// Resources that exist but could not be read (schema errors, broken files): their last
    /// good version keeps running and they report Ready=False with the problem.
    pub rejected: Vec<Problem>,
}

/// The running engine.
pub struct Engine {
    pub(super) store: Arc<dyn Store>,
    config: EngineConfig,
    topology: Arc<ArcSwap<Topology>>,
    pub(super) applied: Mutex<Snapshot>,
    status: StatusBoard,
    pub(super) metrics: Arc<Metrics>,
    ready: AtomicBool,
    health: StoreHealth,
    pub(super) deliveries: Arc<Deliveries>,
    pub(super) verifier: std::sync::OnceLock<Arc<dyn super::auth::TokenVerifier>>,
    syncs: crate::sync::Syncs,
    pub(super) sync_specs: super::syncs::JobSpecs,
    admin_authorizer: std::sync::OnceLock<Arc<dyn super::auth::AdminAuthorizer>>,
    /// The HTTP client every subscription shares (None if it could not be built).
    http: Option<reqwest::Client>,
    /// The one pool every jq evaluation off the async threads runs on.
    pub(super) pool: EvalPool,
    /// PayPal signing certificates, fetched and cached for every endpoint.
    pub(super) certs: crate::receiver::CertStore,
    /// Where authorization-code connections keep their tokens (standalone: the store; in a
    /// cluster: a Secret per Integration).
    vault: Arc<dyn crate::integration::authcode::TokenVault>,
    /// Lifecycle events' queues and per-subject bounds.
    pub(super) lifecycle: super::lifecycle_state::LifecycleState,
    /// The replays queueing in this process.
    pub(super) replays: super::replay::RunningReplays,
}

impl Engine {
    /// An engine over a store, with nothing running yet; connections keep their tokens in the
    /// store.
    pub fn new(store: Arc<dyn Store>, config: EngineConfig) -> Arc<Self> {
        let vault = Arc::new(crate::integration::authcode::StoreVault(store.clone()));
        Self::with_vault(store, config, vault)
    }

    /// An engine whose authorization-code connections keep their tokens in `vault` (a
    /// front-end's own: the controller's is a Secret per Integration).
    pub fn with_vault(
        store: Arc<dyn Store>,
        config: EngineConfig,
        vault: Arc<dyn crate::integration::authcode::TokenVault>,
    ) -> Arc<Self> {
        let status = StatusBoard::new();
        let metrics = Arc::new(Metrics::new());
        let pool = EvalPool::new(config.eval_concurrency);
        let (lifecycle, notices) = super::lifecycle_state::LifecycleState::new();
        let deliveries = Deliveries::new(
            store.clone(),
            config.delivery.clone(),
            pool.clone(),
            Arc::new(status.clone()),
            metrics.delivery.clone(),
            Some(notices),
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
        let certs = crate::receiver::CertStore::new(&config.receiver.paypal);
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
                health: StoreHealth::default(),
                deliveries,
                verifier: std::sync::OnceLock::new(),
                admin_authorizer: std::sync::OnceLock::new(),
                http,
                pool,
                certs,
                vault,
                lifecycle,
                replays: Default::default(),
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

    /// Whether the store could be reached at the last probe.
    pub fn store_health(&self) -> &StoreHealth {
        &self.health
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
            vault: self.vault.clone(),
            external_url: self.config.receiver.external_url.clone(),
        };
        let integrations = plan.diff(
            &current.integrations,
            integrations::desired(&effective),
            &ictx,
        );
        // Deleted Integrations' connections: revoked at the provider, tokens forgotten.
        super::revocation::revoke_removed(&current.integrations, &integrations);
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
        let event_types = plan.diff(&current.event_types, event_types::desired(&effective), &());
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
            catalog: event_types::Catalog::new(&event_types),
            event_types,
        }));
        // After the store: jobs started now find the Integrations they call.
        self.syncs.apply(desired_syncs);

        event_types::report(&self.status, &effective);
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

    /// Fails the queued deliveries of a removed target and forgets its auto-disable record
    /// (in the background).
    fn drop_queue(&self, target: Target) {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let store = self.store.clone();
        handle.spawn(async move {
            let dead_letters = target.dead_letters();
            if let Err(e) = store.drop_pending(&dead_letters, "its owner was deleted").await {
                tracing::warn!(error = %crate::error_chain::chain(&e), target = ?dead_letters, "dropping queued dead letters");
            }
            match store
                .drop_pending(&target, "the subscription was deleted")
                .await
            {
                Ok(n) if n > 0 => tracing::info!(?target, dropped = n, "dropped queued deliveries"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %crate::error_chain::chain(&e), ?target, "dropping queued deliveries"),
            }
            // A subscription made again under the same name starts with no failure streak.
            let kind = crate::delivery::autodisable::OBJECT_KIND;
            if target.kind == crate::store::TargetKind::Subscription
                && let Err(e) = store.delete_object(kind, &target.namespace, &target.name).await
            {
                tracing::warn!(error = %crate::error_chain::chain(&e), ?target, "deleting the auto-disable record");
            }
        });
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
            Kind::EventType => restore(&mut snap.event_types, &previous.event_types, &p.key),
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
