//! `switchboard run`: the standalone engine, serving a directory of manifests.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use switchboard::api::parse_duration;
use switchboard::engine::Engine;
use switchboard::engine::lifecycle;
use switchboard::manifests::watch::{ManifestDir, watch};
use switchboard::server;

use super::CliError;
use super::engine_args::EngineArgs;

/// Arguments of `run`.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Directory (or file) of manifests: the same YAML `kubectl apply` takes, Secrets included.
    #[arg(long, required = true)]
    pub manifests: Vec<PathBuf>,
    /// Quiet time after a change in the manifests before they are reloaded.
    #[arg(long, default_value = "300ms", value_parser = parse_duration)]
    pub reload_debounce: Duration,
    /// The console's admin token (sign in at `/console` on the admin port with it); when not
    /// given, a random one is generated and printed once at start.
    #[arg(long, env = "SWITCHBOARD_CONSOLE_TOKEN", hide_env_values = true)]
    pub console_token: Option<String>,
    /// The engine's flags (shared with `controller`).
    #[command(flatten)]
    pub engine: EngineArgs,
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
    args.engine.create_data_dir()?;
    let store = switchboard::store::open(&args.engine.store_url()?).await?;
    let engine = Engine::new(store, args.engine.config());
    let mut dir = ManifestDir::new(args.manifests.clone());
    apply(&engine, &mut dir);

    // Standalone, this process is the only one: it always leads.
    let mut running = engine.start(lifecycle::always_leader());
    let generated = args.console_token.is_none();
    let token = args
        .console_token
        .clone()
        .unwrap_or_else(switchboard::server::console::session::new_csrf);
    let (data, admin) = server::mount(
        &mut running,
        &args.engine.listen,
        &args.engine.admin_listen,
        Some(&token),
    )
    .await?;
    tracing::info!(%data, %admin, "switchboard is serving");
    if generated {
        // Printed once to the terminal, never logged: the person starting it signs in with it.
        eprintln!("console: http://{admin}/console/ (admin token: {token})");
    }
    let watch_engine = engine.clone();
    let shutdown = running.shutdown();
    running.spawn("manifest watch", async move {
        let reload = move || apply(&watch_engine, &mut dir);
        if let Err(e) = watch(args.manifests, args.reload_debounce, shutdown, reload).await {
            let error = switchboard::error_chain::chain(&e);
            tracing::warn!(%error, "watching the manifests failed; changes are not reloaded");
        }
    });
    Ok(super::serve_until_stopped(running).await)
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
