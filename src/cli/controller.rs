//! `switchboard controller`: the engine driven by the custom resources of a cluster, with
//! status written back into Kubernetes.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use switchboard::api::parse_duration;
use switchboard::controller::leader::{self, LeaderConfig};
use switchboard::controller::{self, ControllerConfig, Scope};
use switchboard::engine::{Engine, EngineConfig};
use switchboard::server;
use tokio::sync::watch;

use super::CliError;
use super::engine_args::EngineArgs;

/// Arguments of `controller`.
#[derive(clap::Args, Debug)]
pub struct ControllerArgs {
    /// Namespace to watch (repeat or comma-separate for several); default: every namespace.
    #[arg(
        long = "namespace",
        value_delimiter = ',',
        env = "SWITCHBOARD_NAMESPACES"
    )]
    pub namespaces: Vec<String>,
    /// Counters are written into a resource's status at most this often (conditions at once).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub status_interval: Duration,
    /// Quiet time after a change in the cluster before the desired state is rebuilt.
    #[arg(long, default_value = "200ms", value_parser = parse_duration)]
    pub debounce: Duration,
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
    /// The engine's flags (shared with `run`).
    #[command(flatten)]
    pub engine: EngineArgs,
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
    let store = switchboard::store::open(&args.engine.store_url()?).await?;
    let identity = identity(args.instance.as_deref());
    let engine = Engine::with_vault(
        store,
        EngineConfig {
            // Generated signing secrets are Secrets the controller creates.
            external_signing_secrets: true,
            ..args.engine.config()
        },
        // Tokens of authorization-code connections: a Secret owned by each Integration.
        controller::token_secret::SecretVault::new(client.clone(), &identity),
    );
    let tokens = Arc::new(controller::token_review::TokenReviewer::new(client.clone()));
    engine.set_token_verifier(tokens.clone());
    engine.set_admin_authorizer(Arc::new(controller::access_review::AccessReviewer::new(
        client.clone(),
        tokens,
    )));

    // True while this replica leads: status, events and sync schedules are the leader's.
    let (leading, leader) = watch::channel(!args.leader_election);
    let mut running = engine.start(leader.clone());
    let (data, admin) = server::mount(
        &mut running,
        &args.engine.listen,
        &args.engine.admin_listen,
        None,
    )
    .await?;
    tracing::info!(%data, %admin, namespaces = ?args.namespaces, "switchboard controller is serving");
    if args.leader_election {
        let config = LeaderConfig {
            lease_duration: args.leader_lease_duration,
            renew_deadline: args.leader_renew_deadline,
            retry_period: args.leader_retry_period,
            ..LeaderConfig::new(&args.leader_election_namespace, &identity)
        };
        let election = leader::elect(client.clone(), config, leading, running.shutdown());
        running.spawn("leader election", election);
    }
    let config = ControllerConfig {
        scope: Scope {
            namespaces: args.namespaces.clone(),
        },
        status_interval: args.status_interval,
        debounce: args.debounce,
        instance: Some(identity),
        leader,
    };
    let watches = controller::run(client, engine, config, running.shutdown());
    running.spawn_critical("controller", watches);
    Ok(super::serve_until_stopped(running).await)
}
