//! `switchboard controller`: the engine driven by the custom resources of a cluster, with
//! status written back into Kubernetes.

use std::process::ExitCode;
use std::time::Duration;

use std::sync::Arc;
use switchboard::api::parse_duration;
use switchboard::controller::leader::{self, LeaderConfig};
use switchboard::controller::{self, ControllerConfig, Scope};

use switchboard::delivery::{DeliveryConfig, DestinationPolicy};
use switchboard::engine::{Engine, EngineConfig};
use switchboard::server;
use tokio_util::sync::CancellationToken;

use super::CliError;
use super::run::{purge_loop, wait_for_signal};

/// Arguments of `controller`.
#[derive(clap::Args, Debug)]
pub struct ControllerArgs {
    /// Store URL: sqlite:///path/file.db (embedded) or postgres://… (shared by replicas).
    #[arg(
        long,
        default_value = "sqlite://switchboard.db",
        env = "SWITCHBOARD_STORE"
    )]
    pub store: String,
    /// Namespace to watch (repeat or comma-separate for several); default: every namespace.
    #[arg(
        long = "namespace",
        value_delimiter = ',',
        env = "SWITCHBOARD_NAMESPACES"
    )]
    pub namespaces: Vec<String>,
    /// Data plane address (hooks and the publish API).
    #[arg(long, default_value = ":8080")]
    pub listen: String,
    /// Admin address (health, metrics, status, deliveries).
    #[arg(long, default_value = ":9090")]
    pub admin_listen: String,
    /// Counters are written into a resource's status at most this often (conditions at once).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub status_interval: Duration,
    /// Quiet time after a change in the cluster before the desired state is rebuilt.
    #[arg(long, default_value = "200ms", value_parser = parse_duration)]
    pub debounce: Duration,
    /// Largest accepted event body in bytes.
    #[arg(long, default_value_t = 1024 * 1024)]
    pub max_event_bytes: usize,
    /// How long to wait for in-flight work on SIGTERM/SIGINT.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,
    /// How long delivered and dead records are kept.
    #[arg(long, default_value = "168h", value_parser = parse_duration)]
    pub retention: Duration,
    /// Webhook receiver flags (`--external-url`: endpoint status shows absolute URLs).
    #[command(flatten)]
    pub receiver: super::receiver_args::ReceiverArgs,
    /// Let deliveries reach loopback, private, link-local and other non-public addresses.
    #[arg(long)]
    pub allow_private_destinations: bool,
    /// Name of this replica in events and the leader Lease (the pod name in a cluster);
    /// default: the host name with a random suffix.
    #[arg(long, env = "POD_NAME")]
    pub instance: Option<String>,
    /// Elect a leader on the Lease `switchboard-leader`: only the leader writes status (every
    /// replica serves and delivers). `--leader-election=false` for a single replica.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_election: bool,
    /// Namespace of the leader Lease.
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    pub leader_election_namespace: String,
    /// How long a Lease that is not renewed stays with its holder (failover time).
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    pub leader_lease_duration: Duration,
    /// The leader steps down when it could not renew the Lease for this long.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub leader_renew_deadline: Duration,
    /// How often the leader renews and the others try to take the Lease.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub leader_retry_period: Duration,
}

/// This replica's identity: `--instance`, else the host name with a random suffix.
fn identity(instance: Option<&str>) -> String {
    if let Some(name) = instance.filter(|n| !n.is_empty()) {
        return name.to_owned();
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "switchboard".to_owned());
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}-{}", &suffix[..8])
}

/// Runs until SIGTERM or SIGINT.
pub fn run(args: ControllerArgs) -> Result<ExitCode, CliError> {
    controller::malloc::return_memory_promptly();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    runtime.block_on(serve(args))
}

async fn serve(args: ControllerArgs) -> Result<ExitCode, CliError> {
    let client = controller::client().await?;
    let store = switchboard::store::open(&args.store).await?;
    let engine = Engine::new(
        store,
        EngineConfig {
            max_event_bytes: args.max_event_bytes,
            delivery: DeliveryConfig {
                policy: Arc::new(DestinationPolicy {
                    allow_private: args.allow_private_destinations,
                    allowed: Vec::new(),
                }),
                ..DeliveryConfig::default()
            },
            external_signing_secrets: true,
            receiver: args.receiver.config(),
            ..EngineConfig::default()
        },
    );
    let tokens = Arc::new(controller::token_review::TokenReviewer::new(client.clone()));
    engine.set_token_verifier(tokens.clone());
    engine.set_admin_authorizer(Arc::new(controller::access_review::AccessReviewer::new(
        client.clone(),
        tokens,
    )));
    let data = server::bind(&args.listen).await?;
    let admin = server::bind(&args.admin_listen).await?;
    let addr =
        |l: &tokio::net::TcpListener| l.local_addr().map(|a| a.to_string()).unwrap_or_default();
    tracing::info!(data = %addr(&data), admin = %addr(&admin), namespaces = ?args.namespaces, "switchboard controller is serving");

    let shutdown = CancellationToken::new();
    let data_task = tokio::spawn(server::serve(
        data,
        server::data_plane::router(engine.clone()),
        shutdown.clone(),
    ));
    let admin_task = tokio::spawn(server::serve(
        admin,
        server::admin::router(engine.clone()),
        shutdown.clone(),
    ));
    let purge_task = tokio::spawn(purge_loop(engine.clone(), args.retention, shutdown.clone()));
    let delivery_engine = engine.clone();
    let delivery_cancel = shutdown.clone();
    let delivery_task =
        tokio::spawn(async move { delivery_engine.run_deliveries(delivery_cancel).await });
    let identity = identity(args.instance.as_deref());
    // True while this replica leads; the sync scheduler takes a clone of it too.
    let (leader_rx, leader_task) = if args.leader_election {
        let (rx, task) = leader::spawn(
            client.clone(),
            LeaderConfig {
                lease_duration: args.leader_lease_duration,
                renew_deadline: args.leader_renew_deadline,
                retry_period: args.leader_retry_period,
                ..LeaderConfig::new(&args.leader_election_namespace, &identity)
            },
            shutdown.clone(),
        );
        (rx, Some(task))
    } else {
        (leader::always_leader(), None)
    };
    // Sync schedules run only while this replica leads.
    let sync_engine = engine.clone();
    let sync_cancel = shutdown.clone();
    let sync_leader = leader_rx.clone();
    let sync_task =
        tokio::spawn(async move { sync_engine.run_syncs(sync_leader, sync_cancel).await });
    let config = ControllerConfig {
        scope: Scope {
            namespaces: args.namespaces.clone(),
        },
        status_interval: args.status_interval,
        debounce: args.debounce,
        instance: Some(identity),
        leader: leader_rx.clone(),
    };
    let mut controller_task = tokio::spawn(controller::run(
        client,
        engine.clone(),
        config,
        shutdown.child_token(),
    ));

    let (failed, finished) = tokio::select! {
        _ = wait_for_signal() => (None, false),
        result = &mut controller_task => match result {
            Ok(Err(e)) => (Some(switchboard::error_chain::render(&e)), true),
            Ok(Ok(())) => (None, true),
            Err(e) => (Some(switchboard::error_chain::render(&e)), true),
        },
    };
    if let Some(error) = &failed {
        tracing::error!(%error, "the controller stopped");
    }
    tracing::info!(timeout = ?args.shutdown_timeout, "shutting down: no new requests; finishing in-flight work");
    shutdown.cancel();
    let drained = tokio::time::timeout(args.shutdown_timeout, async {
        let _ = data_task.await;
        let _ = admin_task.await;
        let _ = purge_task.await;
        let _ = delivery_task.await;
        let _ = sync_task.await;
        if !finished {
            let _ = controller_task.await;
        }
        if let Some(task) = leader_task {
            let _ = task.await;
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!("shutdown timeout reached with work in flight");
        return Ok(ExitCode::FAILURE);
    }
    Ok(if failed.is_some() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
