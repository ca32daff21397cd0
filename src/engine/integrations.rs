//! Integration pieces of the topology: their inputs gathered from the snapshot (spec,
//! provider preset, Secret values), diffed by value so an unchanged Integration keeps its
//! client, token cache and breaker; a background task per piece runs the health check every
//! interval (or now, on the `switchboard.dev/check-requested-at` annotation) and reports
//! phase, circuit, Healthy and the call counters to the board.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use chrono::SecondsFormat;
use serde_json::{Map, Value};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::api::{
    CircuitState, ClusterIntegrationProviderSpec, ConnectionState, HEALTHY, IntegrationPhase,
    IntegrationSpec, Kind,
};
use crate::delivery::DestinationPolicy;
use crate::error_chain::render;
use crate::integration::authcode::{Connection, ConnectionView, TokenVault};
use crate::integration::client::OAuthSetup;
use crate::integration::{Credentials, IntegrationClient, IntegrationMetrics, Settings};

use super::piece::{BuildError, Piece, Pieces, Problems};
use super::snapshot::{Object, ObjectKey, Snapshot};
use super::status::StatusBoard;

/// The data plane path of the OAuth callback (`engine/connections.rs`).
pub const CALLBACK_PATH: &str = "/oauth/callback";
/// The data plane path prefix of the page an Integration's status links to.
pub const CONNECT_PAGE_PATH: &str = "/oauth/connect";
/// Annotation whose new value runs an Integration's health check now.
pub const CHECK_REQUESTED_AT: &str = "switchboard.dev/check-requested-at";
/// How long status reports wait after a call, so a burst of calls makes one report.
const REPORT_DEBOUNCE: Duration = Duration::from_millis(200);
/// How often the status is refreshed while the circuit is not closed.
const CIRCUIT_REFRESH: Duration = Duration::from_secs(1);

/// What an Integration is built from.
#[derive(Clone, Debug, PartialEq)]
pub struct IntegrationInputs {
    /// Namespace and name.
    pub key: ObjectKey,
    /// The spec.
    pub spec: IntegrationSpec,
    /// The named provider's spec, if it exists.
    pub provider: Option<ClusterIntegrationProviderSpec>,
    /// The values of its auth Secret.
    pub credentials: Credentials,
}

/// State a piece shares with its background task.
#[derive(Debug, Default)]
struct PieceState {
    wake: Notify,
    problem: Mutex<Option<BuildError>>,
    check_requested: Mutex<Option<String>>,
    connect_url: Option<String>,
}

/// A running Integration.
pub struct IntegrationPiece {
    /// What it was built from.
    pub inputs: IntegrationInputs,
    /// Its client.
    pub client: Arc<IntegrationClient>,
    state: Arc<PieceState>,
    task: OnceLock<DropGuard>,
}

impl std::fmt::Debug for IntegrationPiece {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntegrationPiece")
            .field("key", &self.inputs.key)
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

impl IntegrationPiece {
    /// Asks the background task to run the health check now.
    pub fn request_check(&self) {
        self.state.wake.notify_one();
    }
}

/// Running integrations by key.
pub type Integrations = Pieces<IntegrationPiece>;

/// What building an Integration needs besides its inputs.
#[derive(Clone, Debug)]
pub struct IntegrationContext {
    /// The SSRF guard.
    pub policy: Arc<DestinationPolicy>,
    /// The integration call metrics.
    pub metrics: IntegrationMetrics,
    /// Where authorization-code connections keep their tokens.
    pub vault: Arc<dyn TokenVault>,
    /// `--external-url`: the base of the connect page the status links to.
    pub external_url: Option<String>,
}

impl Piece for IntegrationPiece {
    type Inputs = IntegrationInputs;
    type Context = IntegrationContext;
    const KIND: Kind = Kind::Integration;

    fn inputs(&self) -> &IntegrationInputs {
        &self.inputs
    }

    fn build(
        _key: &ObjectKey,
        obj: &Object<IntegrationInputs>,
        ctx: &IntegrationContext,
        _previous: Option<&Arc<Self>>,
    ) -> Result<Self, BuildError> {
        build(obj, ctx)
    }
}

/// What every Integration of the snapshot is built from.
pub fn desired(
    snap: &Snapshot,
) -> impl Iterator<Item = (ObjectKey, Object<IntegrationInputs>)> + '_ {
    snap.integrations.iter().map(|(key, obj)| {
        let meta = obj.meta.clone();
        let spec = inputs_of(snap, key, &obj.spec);
        (key.clone(), Object { meta, spec })
    })
}

/// What the Integration `key` is built from, read from the snapshot.
pub fn inputs_of(snap: &Snapshot, key: &ObjectKey, spec: &IntegrationSpec) -> IntegrationInputs {
    let provider = spec
        .provider
        .as_ref()
        .and_then(|p| snap.providers.get(&ObjectKey::cluster(p)))
        .map(|p| p.spec.clone());
    let secret_ref = spec.auth.as_ref().and_then(|a| a.secret_ref.as_ref());
    let credentials = match secret_ref {
        Some(r) => Credentials::read(r.key.as_deref(), |k| {
            snap.secret_value(&key.namespace, &r.name, k)
                .map(|v| v.0.clone())
        }),
        None => Credentials::default(),
    };
    IntegrationInputs {
        key: key.clone(),
        spec: spec.clone(),
        provider,
        credentials,
    }
}

fn build(
    obj: &Object<IntegrationInputs>,
    ctx: &IntegrationContext,
) -> Result<IntegrationPiece, BuildError> {
    let inputs = &obj.spec;
    let to_build_error = |e: crate::integration::BuildError| BuildError {
        reason: e.reason(),
        message: render(&e),
    };
    let settings =
        Settings::resolve(&inputs.spec, inputs.provider.as_ref()).map_err(to_build_error)?;
    let oauth = OAuthSetup {
        provider: inputs.provider.as_ref().and_then(|p| p.oauth2.as_ref()),
        vault: ctx.vault.clone(),
    };
    let client = IntegrationClient::build_with(
        &inputs.key.namespace,
        &inputs.key.name,
        settings,
        inputs.spec.auth.as_ref(),
        &inputs.credentials,
        &ctx.policy,
        ctx.metrics.clone(),
        Some(oauth),
    )
    .map_err(to_build_error)?;
    let connect_url = ctx.external_url.as_deref().map(|base| {
        format!(
            "{}{CONNECT_PAGE_PATH}/{}/{}",
            base.trim_end_matches('/'),
            inputs.key.namespace,
            inputs.key.name
        )
    });
    let state = PieceState {
        check_requested: Mutex::new(obj.meta.annotations.get(CHECK_REQUESTED_AT).cloned()),
        connect_url,
        ..PieceState::default()
    };
    Ok(IntegrationPiece {
        inputs: inputs.clone(),
        client: Arc::new(client),
        state: Arc::new(state),
        task: OnceLock::new(),
    })
}

/// Starts the background task of new pieces, runs the health check of those whose
/// check-requested annotation changed, and reports every integration's status.
pub fn start_and_report(
    board: &StatusBoard,
    snap: &Snapshot,
    running: &Integrations,
    problems: &Problems,
) {
    for (key, obj) in &snap.integrations {
        let problem = problems.get(Kind::Integration, key).cloned();
        let Some(piece) = running.get(key) else {
            let mut fields = Map::new();
            fields.insert(
                "phase".into(),
                phase_json(phase_of_problem(problem.as_ref())),
            );
            board.set_fields(Kind::Integration, key, fields);
            continue;
        };
        *lock(&piece.state.problem) = problem;
        let requested = obj.meta.annotations.get(CHECK_REQUESTED_AT).cloned();
        let changed = {
            let mut last = lock(&piece.state.check_requested);
            let changed = *last != requested;
            *last = requested;
            changed
        };
        if changed {
            piece.request_check();
        }
        start(piece, key, board);
        report_one(board, key, &piece.client, &piece.state);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn start(piece: &Arc<IntegrationPiece>, key: &ObjectKey, board: &StatusBoard) {
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let cancel = CancellationToken::new();
    if piece.task.set(cancel.clone().drop_guard()).is_err() {
        return;
    }
    handle.spawn(run(
        piece.client.clone(),
        piece.state.clone(),
        key.clone(),
        board.clone(),
        cancel,
    ));
}

/// The background task of one piece: health checks and status reports until cancelled.
async fn run(
    client: Arc<IntegrationClient>,
    state: Arc<PieceState>,
    key: ObjectKey,
    board: StatusBoard,
    cancel: CancellationToken,
) {
    let settings = client.settings();
    let interval = settings
        .health
        .as_ref()
        .map(|h| h.interval)
        .filter(|_| !settings.suspend);
    let mut next_check = interval.map(|_| Instant::now());
    let connection = client.authenticator().connection().cloned();
    let mut refresh = RefreshClock::default();
    let mut changed = connection.as_ref().map(|c| c.watch());
    if let Some(c) = &connection
        && let Err(e) = c.reload().await
    {
        tracing::warn!(integration = %key, error = %render(&e), "reading the connection's tokens");
        refresh.failed();
    }
    let mut next_reload = Instant::now() + UNCONNECTED_RELOAD;
    loop {
        // Another process (a replica that served the callback) may have connected it.
        if let Some(c) = &connection
            && c.view().state != crate::api::ConnectionState::Connected
            && Instant::now() >= next_reload
        {
            if let Err(e) = c.reload().await {
                tracing::warn!(integration = %key, error = %render(&e), "reading the connection's tokens");
            }
            next_reload = Instant::now() + UNCONNECTED_RELOAD;
        }
        if let Some(c) = &connection
            && refresh.due(c)
        {
            tokio::select! {
                _ = cancel.cancelled() => return,
                result = c.refresh_if_due() => match result {
                    Ok(()) => refresh.succeeded(),
                    Err(e) => {
                        tracing::warn!(integration = %key, error = %render(&e),
                            "refreshing the connection failed; retried with backoff");
                        refresh.failed();
                    }
                },
            }
        }
        if let (Some(at), Some(every)) = (next_check, interval)
            && Instant::now() >= at
        {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = client.check_health() => {}
            }
            next_check = Some(Instant::now() + every);
        }
        if cancel.is_cancelled() {
            return;
        }
        report_one(&board, &key, &client, &state);
        let far = Instant::now() + Duration::from_secs(24 * 3600);
        let mut wake_at = next_check.unwrap_or(far);
        if matches!(
            client.circuit(),
            CircuitState::Open | CircuitState::HalfOpen
        ) {
            wake_at = wake_at.min(Instant::now() + CIRCUIT_REFRESH);
        }
        if let Some(c) = &connection
            && let Some(at) = refresh.next(c)
        {
            wake_at = wake_at.min(at);
        }
        if let Some(c) = &connection
            && c.view().state != crate::api::ConnectionState::Connected
        {
            wake_at = wake_at.min(next_reload);
        }
        let connection_changed = async {
            match changed.as_mut() {
                Some(rx) => {
                    if rx.changed().await.is_err() {
                        std::future::pending::<()>().await;
                    }
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = connection_changed => {}
            _ = tokio::time::sleep_until(wake_at) => {}
            _ = state.wake.notified() => {
                if interval.is_some() {
                    next_check = Some(Instant::now());
                }
            }
            _ = client.stats().changed() => {
                tokio::time::sleep(REPORT_DEBOUNCE).await;
            }
        }
    }
}

/// How often a connection that is not connected is read again from the vault: another
/// process (in a cluster, the replica that served the callback) may have connected it.
const UNCONNECTED_RELOAD: Duration = Duration::from_secs(15);

/// When the background task refreshes a connection: when its next refresh is due, or after
/// a failure with exponential backoff (1 s doubling to 5 min, with jitter).
#[derive(Default)]
struct RefreshClock {
    failures: u32,
    retry_at: Option<Instant>,
}

/// Longest wait between refresh attempts after failures.
const MAX_REFRESH_BACKOFF: Duration = Duration::from_secs(300);

impl RefreshClock {
    fn next(&self, connection: &Connection) -> Option<Instant> {
        if let Some(at) = self.retry_at {
            return Some(at);
        }
        let due = connection.view().next_refresh?;
        let wait = (due - chrono::Utc::now()).to_std().unwrap_or_default();
        Some(Instant::now() + wait)
    }

    fn due(&self, connection: &Connection) -> bool {
        self.next(connection).is_some_and(|at| at <= Instant::now())
    }

    fn failed(&mut self) {
        self.failures = self.failures.saturating_add(1);
        let backoff = Duration::from_secs(1u64 << self.failures.min(9).saturating_sub(1))
            .min(MAX_REFRESH_BACKOFF)
            .mul_f64(rand::random_range(0.8..=1.0));
        self.retry_at = Some(Instant::now() + backoff);
    }

    fn succeeded(&mut self) {
        self.failures = 0;
        self.retry_at = None;
    }
}

fn phase_of_problem(problem: Option<&BuildError>) -> IntegrationPhase {
    match problem {
        Some(p)
            if matches!(
                p.reason,
                "SecretNotFound" | "SecretKeyNotFound" | super::snapshot::SECRET_NOT_USABLE
            ) =>
        {
            IntegrationPhase::PendingAuth
        }
        _ => IntegrationPhase::Error,
    }
}

fn phase_json(phase: IntegrationPhase) -> Value {
    serde_json::to_value(phase).unwrap_or_default()
}

fn time(t: Option<chrono::DateTime<chrono::Utc>>) -> Value {
    t.map_or(Value::Null, |t| {
        t.to_rfc3339_opts(SecondsFormat::Secs, true).into()
    })
}

/// The status's `connection` (the shape of [`crate::api::ConnectionStatus`]): never a token.
fn connection_json(v: &ConnectionView, connect_url: Option<String>) -> Value {
    let mut out = Map::new();
    out.insert(
        "state".into(),
        serde_json::to_value(v.state).unwrap_or_default(),
    );
    let mut put = |k: &str, value: Value| {
        if !value.is_null() {
            out.insert(k.into(), value);
        }
    };
    put(
        "account",
        v.account.clone().map_or(Value::Null, Value::from),
    );
    if !v.scopes.is_empty() {
        put("scopes", v.scopes.clone().into());
    }
    put("accessTokenExpiresAt", time(v.expires_at));
    put("connectedAt", time(v.connected_at));
    put("lastRefresh", time(v.last_refresh));
    let message = v
        .reauthorize
        .clone()
        .or_else(|| v.failing.as_ref().map(|(m, _)| m.clone()));
    put("message", message.map_or(Value::Null, Value::from));
    put("connectUrl", connect_url.map_or(Value::Null, Value::from));
    Value::Object(out)
}

/// Why a connection needs a person's attention, as the Healthy condition's reason and
/// message: [`NOT_CONNECTED`], [`REAUTHORIZATION_REQUIRED`] (the fact a lifecycle event
/// reports) or [`TOKEN_REFRESH_FAILING`].
fn connection_attention(v: &ConnectionView, key: &ObjectKey) -> Option<(&'static str, String)> {
    let connect = format!("switchboard connect intg/{} -n {}", key.name, key.namespace);
    match v.state {
        ConnectionState::NotConnected => Some((
            NOT_CONNECTED,
            format!("no account is connected: run `{connect}` and approve in a browser"),
        )),
        ConnectionState::NeedsReauthorization => Some((
            REAUTHORIZATION_REQUIRED,
            format!(
                "the provider refused the refresh token; a person must authorize again with `{connect}`: {}",
                v.reauthorize.as_deref().unwrap_or("invalid_grant")
            ),
        )),
        ConnectionState::Connected => v.failing.as_ref().map(|(m, n)| {
            (
                TOKEN_REFRESH_FAILING,
                format!("refreshing the access token failed {n} time(s) in a row, retried with backoff: {m}"),
            )
        }),
    }
}

/// Healthy reason: no account is connected yet.
pub const NOT_CONNECTED: &str = "NotConnected";
/// Healthy reason: the provider refused the refresh token (`invalid_grant`).
pub const REAUTHORIZATION_REQUIRED: &str = "ReauthorizationRequired";
/// Healthy reason: refreshes fail and are being retried.
pub const TOKEN_REFRESH_FAILING: &str = "TokenRefreshFailing";

/// Writes one integration's phase, circuit, counters and Healthy condition to the board
/// (only while the board knows the integration).
fn report_one(
    board: &StatusBoard,
    key: &ObjectKey,
    client: &IntegrationClient,
    state: &PieceState,
) {
    let Some(current) = board.get(Kind::Integration, key) else {
        return;
    };
    let stats = client.stats().snapshot();
    // A breaker starts closed: until a call has been made here (after a restart, say), its
    // state is not known, whatever the last process saw.
    let called = stats.last_success.is_some() || stats.last_error_at.is_some();
    let circuit = match client.circuit() {
        CircuitState::Closed if !called => CircuitState::Unknown,
        circuit => circuit,
    };
    let settings = client.settings();
    let problem = lock(&state.problem).clone();
    let health_failed = stats.health.as_ref().is_some_and(|h| !h.ok);
    let view = client
        .authenticator()
        .connection()
        .map(|c| c.view())
        .filter(|v| v.loaded);
    let unconnected = view
        .as_ref()
        .is_some_and(|v| v.state != ConnectionState::Connected);
    let phase = match &problem {
        Some(p) => phase_of_problem(Some(p)),
        None if settings.suspend => IntegrationPhase::Paused,
        None if unconnected => IntegrationPhase::PendingAuth,
        None if health_failed || circuit == CircuitState::Open => IntegrationPhase::Error,
        None => IntegrationPhase::Active,
    };
    let mut fields = Map::new();
    fields.insert("phase".into(), phase_json(phase));
    fields.insert(
        "circuit".into(),
        serde_json::to_value(circuit).unwrap_or_default(),
    );
    fields.insert("lastSuccessfulCall".into(), time(stats.last_success));
    fields.insert(
        "lastError".into(),
        stats.last_error.clone().map_or(Value::Null, Value::from),
    );
    fields.insert("lastErrorAt".into(), time(stats.last_error_at));
    fields.insert("errorCount".into(), stats.error_count.into());
    if let Some(v) = &view {
        fields.insert(
            "connection".into(),
            connection_json(v, state.connect_url.clone()),
        );
    }
    board.set_fields(Kind::Integration, key, fields);

    let attention = view.as_ref().and_then(|v| connection_attention(v, key));
    let healthy = if settings.suspend {
        Some((
            false,
            "Suspended",
            "spec.suspend is true: no calls are made".to_owned(),
        ))
    } else if let Some((reason, message)) = attention {
        Some((false, reason, message))
    } else if circuit == CircuitState::Open {
        Some((
            false,
            "CircuitOpen",
            format!(
                "the circuit breaker is open after consecutive failures; last error: {}",
                stats.last_error.as_deref().unwrap_or("unknown")
            ),
        ))
    } else {
        match (&stats.health, &settings.health) {
            (Some(h), _) if h.ok => Some((true, "HealthCheckPassed", h.message.clone())),
            (Some(h), _) => Some((false, "HealthCheckFailed", h.message.clone())),
            (None, None) => Some((
                true,
                "NoHealthCheck",
                "no health check is configured".to_owned(),
            )),
            (None, Some(_)) => None,
        }
    };
    if let Some((ok, reason, message)) = healthy {
        board.set_condition(
            Kind::Integration,
            key,
            current.observed_generation,
            HEALTHY,
            ok,
            reason,
            &message,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::READY;
    use crate::engine::piece::{Plan, Planned};
    use crate::engine::snapshot::{Meta, SecretObject, SecretValue, USABLE_LABEL};

    fn snapshot(token: &str) -> Snapshot {
        let mut snap = Snapshot::default();
        snap.insert_json(
            Kind::Integration,
            ObjectKey::new("ns", "api"),
            Meta::default(),
            serde_json::json!({"baseUrl": "https://api.example.com",
                "auth": {"type": "Bearer", "secretRef": {"name": "creds", "key": "pat"}}}),
        )
        .unwrap();
        let mut secret = SecretObject::default();
        secret
            .meta
            .labels
            .insert(USABLE_LABEL.into(), "true".into());
        secret
            .data
            .insert("pat".into(), SecretValue(token.as_bytes().to_vec()));
        snap.secrets.insert(ObjectKey::new("ns", "creds"), secret);
        snap
    }

    /// One apply's diff of the Integrations: the pieces and what the diff did.
    fn diff(running: &Integrations, snap: &Snapshot) -> (Integrations, Planned) {
        let ctx = IntegrationContext {
            policy: Arc::new(DestinationPolicy::default()),
            metrics: IntegrationMetrics::default(),
            vault: Arc::new(crate::integration::authcode::vault::MemoryVault::default()),
            external_url: None,
        };
        let mut plan = Plan::default();
        let next = plan.diff(running, desired(snap), &ctx);
        (next, plan.finish())
    }

    #[test]
    fn an_unchanged_integration_keeps_its_client_and_a_new_secret_rebuilds_it() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let key = ObjectKey::new("ns", "api");
        let snap = snapshot("t1");
        assert_eq!(
            inputs_of(&snap, &key, &snap.integrations[&key].spec)
                .credentials
                .token
                .as_deref(),
            Some("t1"),
            "secretRef.key picks the key"
        );
        let (first, planned) = diff(&Integrations::new(), &snap);
        assert_eq!(planned.summary.added, 1);
        let (again, planned) = diff(&first, &snap);
        assert_eq!(planned.summary.unchanged, 1);
        assert!(Arc::ptr_eq(&first[&key], &again[&key]));
        let (rotated, planned) = diff(&again, &snapshot("t2"));
        assert_eq!(planned.summary.changed, 1);
        assert!(!Arc::ptr_eq(&again[&key], &rotated[&key]));
        let mut empty = snapshot("t3");
        empty.secrets.clear();
        let (kept, planned) = diff(&rotated, &empty);
        let problem = planned.problems.get(Kind::Integration, &key);
        assert_eq!(problem.map(|p| p.reason), Some("SecretNotFound"));
        assert!(
            Arc::ptr_eq(&kept[&key], &rotated[&key]),
            "the last good piece runs on"
        );
    }

    #[test]
    fn the_circuit_is_unknown_until_a_call_is_made() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let board = StatusBoard::new();
        let key = ObjectKey::new("ns", "api");
        board.set_condition(Kind::Integration, &key, None, READY, true, "Ready", "ok");
        let (running, _) = diff(&Integrations::new(), &snapshot("t"));
        let piece = &running[&key];
        let circuit = || {
            report_one(&board, &key, &piece.client, &piece.state);
            board.get(Kind::Integration, &key).unwrap().fields["circuit"].clone()
        };
        assert_eq!(circuit(), "Unknown", "a new breaker has measured nothing");
        piece.client.stats().success(chrono::Utc::now());
        assert_eq!(circuit(), "Closed");
    }

    #[test]
    fn missing_credentials_report_pending_auth() {
        let board = StatusBoard::new();
        let snap = snapshot("t");
        let key = ObjectKey::new("ns", "api");
        board.set_condition(
            Kind::Integration,
            &key,
            None,
            READY,
            false,
            "SecretNotFound",
            "x",
        );
        let problem = |reason| BuildError {
            reason,
            message: "secret \"creds\" not found".into(),
        };
        let mut problems = Problems::default();
        problems.add(Kind::Integration, &key, problem("SecretNotFound"));
        start_and_report(&board, &snap, &Integrations::new(), &problems);
        let status = board.get(Kind::Integration, &key).unwrap();
        assert_eq!(status.fields["phase"], "PendingAuth");
        let mut problems = Problems::default();
        problems.add(Kind::Integration, &key, problem("SecretNotUsable"));
        start_and_report(&board, &snap, &Integrations::new(), &problems);
        let status = board.get(Kind::Integration, &key).unwrap();
        assert_eq!(
            status.fields["phase"], "PendingAuth",
            "waits for the opt-in"
        );
        let mut problems = Problems::default();
        problems.add(Kind::Integration, &key, problem("InvalidConfig"));
        start_and_report(&board, &snap, &Integrations::new(), &problems);
        let status = board.get(Kind::Integration, &key).unwrap();
        assert_eq!(status.fields["phase"], "Error");
    }
}
