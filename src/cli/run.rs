//! `switchboard run`: the standalone engine, serving a directory of manifests.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use switchboard::api::parse_duration;
use switchboard::delivery::{DeliveryConfig, DestinationPolicy};
use switchboard::engine::{Engine, EngineConfig};
use switchboard::manifests::watch::{ManifestDir, watch};
use switchboard::server;
use tokio_util::sync::CancellationToken;

use super::CliError;

/// Arguments of `run`.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Directory (or file) of manifests: the same YAML `kubectl apply` takes, Secrets included.
    #[arg(long, required = true)]
    pub manifests: Vec<PathBuf>,
    /// Where the embedded SQLite store and generated secrets live.
    #[arg(long, default_value = ".switchboard", env = "SWITCHBOARD_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Store URL instead of the embedded one: sqlite:///path/file.db or postgres://….
    #[arg(long, env = "SWITCHBOARD_STORE")]
    pub store: Option<String>,
    /// Data plane address (hooks and the publish API).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Admin address (health, metrics, status, deliveries).
    #[arg(long, default_value = "127.0.0.1:9090")]
    pub admin_listen: String,
    /// Largest accepted event body in bytes.
    #[arg(long, default_value_t = 1024 * 1024)]
    pub max_event_bytes: usize,
    /// How long to wait for in-flight work on SIGTERM/SIGINT.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,
    /// How long delivered and dead records are kept.
    #[arg(long, default_value = "168h", value_parser = parse_duration)]
    pub retention: Duration,
    /// Quiet time after a change in the manifests before they are reloaded.
    #[arg(long, default_value = "300ms", value_parser = parse_duration)]
    pub reload_debounce: Duration,
    /// Let deliveries reach loopback, private, link-local and other non-public addresses.
    #[arg(long)]
    pub allow_private_destinations: bool,
    /// Non-public ranges deliveries may reach anyway (comma-separated CIDRs, e.g. 10.0.0.0/8).
    #[arg(long, value_delimiter = ',')]
    pub allowed_destination_cidrs: Vec<ipnet::IpNet>,
    /// Delivery attempts in flight at once over all subscriptions.
    #[arg(long, default_value_t = 256)]
    pub delivery_concurrency: usize,
    /// Delivery attempts in flight at once per subscription.
    #[arg(long, default_value_t = 16)]
    pub subscription_concurrency: usize,
    /// How long a claimed delivery is leased; after a crash it runs again once this expires.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub delivery_lease: Duration,
    /// How often the queue is polled when nothing new was published here.
    #[arg(long, default_value = "250ms", value_parser = parse_duration)]
    pub delivery_poll: Duration,
    /// Webhook receiver flags.
    #[command(flatten)]
    pub receiver: super::receiver_args::ReceiverArgs,
}

/// Runs until SIGTERM or SIGINT.
pub fn run(args: RunArgs) -> Result<ExitCode, CliError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    runtime.block_on(serve(args))
}

async fn serve(args: RunArgs) -> Result<ExitCode, CliError> {
    std::fs::create_dir_all(&args.data_dir).map_err(|source| CliError::Write {
        path: args.data_dir.display().to_string(),
        source,
    })?;
    let store_url = args.store.clone().unwrap_or_else(|| {
        format!(
            "sqlite://{}",
            args.data_dir.join("switchboard.db").display()
        )
    });
    let store = switchboard::store::open(&store_url).await?;
    let engine = Engine::new(
        store,
        EngineConfig {
            max_event_bytes: args.max_event_bytes,
            data_dir: Some(args.data_dir.clone()),
            external_signing_secrets: false,
            delivery: DeliveryConfig {
                policy: Arc::new(DestinationPolicy {
                    allow_private: args.allow_private_destinations,
                    allowed: args.allowed_destination_cidrs.clone(),
                }),
                global_concurrency: args.delivery_concurrency.max(1),
                target_concurrency: args.subscription_concurrency.max(1),
                lease: args.delivery_lease,
                poll: args.delivery_poll,
                ..DeliveryConfig::default()
            },
            receiver: args.receiver.config(),
            ..EngineConfig::default()
        },
    );

    let mut dir = ManifestDir::new(args.manifests.clone());
    apply(&engine, &mut dir);

    let data = server::bind(&args.listen).await?;
    let admin = server::bind(&args.admin_listen).await?;
    tracing::info!(data = %data.local_addr().map(|a| a.to_string()).unwrap_or_default(), admin = %admin.local_addr().map(|a| a.to_string()).unwrap_or_default(), "switchboard is serving");

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
    let watch_engine = engine.clone();
    let watch_task = tokio::spawn(watch(
        args.manifests.clone(),
        args.reload_debounce,
        shutdown.clone(),
        move || apply(&watch_engine, &mut dir),
    ));
    let purge_task = tokio::spawn(purge_loop(engine.clone(), args.retention, shutdown.clone()));
    let delivery_engine = engine.clone();
    let delivery_cancel = shutdown.clone();
    let delivery_task =
        tokio::spawn(async move { delivery_engine.run_deliveries(delivery_cancel).await });

    // Sync schedules run while this instance leads (a constant true until leader election).
    let sync_engine = engine.clone();
    let sync_cancel = shutdown.clone();
    let sync_task = tokio::spawn(async move {
        let (_leader, is_leader) = tokio::sync::watch::channel(true);
        sync_engine.run_syncs(is_leader, sync_cancel).await
    });
    wait_for_signal().await;
    tracing::info!(timeout = ?args.shutdown_timeout, "shutting down: no new requests; finishing in-flight work");
    shutdown.cancel();
    let drained = tokio::time::timeout(args.shutdown_timeout, async {
        let _ = data_task.await;
        let _ = admin_task.await;
        let _ = watch_task.await;
        let _ = purge_task.await;
        let _ = delivery_task.await;
        let _ = sync_task.await;
    })
    .await;
    if drained.is_err() {
        tracing::warn!("shutdown timeout reached with work in flight");
        return Ok(ExitCode::FAILURE);
    }
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// Loads the manifests and applies them, logging every problem with its file and line.
fn apply(engine: &Arc<Engine>, dir: &mut ManifestDir) {
    let loaded = dir.load();
    for d in &loaded.diagnostics {
        tracing::warn!(file = %d.file.display(), line = d.line, resource = %d.resource, "{}", d.message);
    }
    let summary = engine.apply(loaded.desired);
    tracing::info!(
        ?summary,
        problems = loaded.diagnostics.len(),
        "manifests applied"
    );
}

pub(super) async fn purge_loop(
    engine: Arc<Engine>,
    retention: Duration,
    cancel: CancellationToken,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(600));
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let before = chrono::Utc::now()
            - chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::days(7));
        match engine.store().purge(before).await {
            Ok(purged) => tracing::debug!(?purged, "purged old records"),
            Err(e) => {
                tracing::warn!(error = %switchboard::error_chain::chain(&e), "purging old records")
            }
        }
    }
}

pub(super) async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing a SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
