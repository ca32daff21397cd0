//! Command-line parsing and dispatch.

mod connect;
mod controller;
mod crds;
mod deliveries;
mod deliveries_bulk;
mod engine_args;
mod get;
mod remove_finalizers;
mod run;
mod transform;
mod validate;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use switchboard::error_chain::{chain, render};

/// Switchboard: a Kubernetes-native integration hub.
#[derive(Parser, Debug)]
#[command(name = "switchboard", version, about)]
pub struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "SWITCHBOARD_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Log output formats.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Print the CustomResourceDefinitions as multi-document YAML.
    Crds(crds::CrdsArgs),
    /// Check manifests offline: schema, CEL rules, references, cron, durations, URLs.
    Validate(validate::ValidateArgs),
    /// Run in Kubernetes: watch the resources, run them, write their status back.
    Controller(Box<controller::ControllerArgs>),
    /// Run the engine standalone from a directory of manifests, with an embedded store.
    Run(Box<run::RunArgs>),
    /// Show a running instance's resources and their status, like kubectl get.
    Get(get::GetArgs),
    /// Run a Transformation from a manifest file on one input and print its output.
    Transform(transform::TransformArgs),
    /// Show a subscription's delivery log (newest first) from a running instance.
    Deliveries(Box<deliveries::DeliveriesArgs>),
    /// Start connecting an OAuth2AuthorizationCode Integration: print the URL to open.
    Connect(connect::ConnectArgs),
    /// Uninstalling: remove Switchboard's finalizer from every WebhookSubscription (run once
    /// the controller is stopped, so deleting them and their namespaces does not hang).
    RemoveFinalizers(remove_finalizers::RemoveFinalizersArgs),
}

/// An error that ends the command.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Writing output failed.
    #[error("writing {path}")]
    Write {
        /// What was written.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The async runtime could not start.
    #[error("starting the runtime")]
    Runtime(#[source] std::io::Error),
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] switchboard::store::StoreError),
    /// A server could not start.
    #[error(transparent)]
    Server(#[from] switchboard::server::ServerError),
    /// A request to a running instance failed.
    #[error("{url}: {message}")]
    Http {
        /// The URL requested.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The controller failed.
    #[error(transparent)]
    Controller(#[from] switchboard::controller::ControllerError),
    /// `transform` failed.
    #[error(transparent)]
    Transform(#[from] transform::TransformCommandError),
    /// `remove-finalizers` failed.
    #[error(transparent)]
    Uninstall(#[from] switchboard::controller::uninstall::UninstallError),
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> Result<ExitCode, CliError> {
    match cli.command {
        Command::Crds(args) => crds::run(args),
        Command::Validate(args) => Ok(validate::run(args)),
        Command::Run(args) => run::run(*args),
        Command::Controller(args) => controller::run(*args),
        Command::Get(args) => get::run(args),
        Command::Transform(args) => Ok(transform::run(args)?),
        Command::Deliveries(args) => deliveries::run(*args),
        Command::Connect(args) => connect::run(args),
        Command::RemoveFinalizers(args) => remove_finalizers::run(args),
    }
}

/// GETs a URL of a running instance, with a bearer token when given, and parses the JSON answer.
pub fn http_get_json(url: &str, token: Option<&str>) -> Result<serde_json::Value, CliError> {
    http_json(reqwest::Method::GET, url, token, None)
}

/// Sends a request (with a JSON body, if any) to a running instance and returns its JSON
/// answer; a non-2xx answer is an error carrying the answer's message.
pub fn http_json(
    method: reqwest::Method,
    url: &str,
    token: Option<&str>,
    body: Option<&serde_json::Value>,
) -> Result<serde_json::Value, CliError> {
    let err = |message: String| CliError::Http {
        url: url.to_owned(),
        message,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    runtime.block_on(async {
        let mut request = reqwest::Client::new().request(method, url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| err(format!("is switchboard running? {}", chain(&e))))?;
        let status = response.status();
        let body: serde_json::Value = response.json().await.map_err(|e| err(render(&e)))?;
        if !status.is_success() {
            return Err(err(format!(
                "{status}: {}",
                body["error"]["message"].as_str().unwrap_or_default()
            )));
        }
        Ok(body)
    })
}

/// Serves until SIGTERM/SIGINT or until a critical task ends, then stops the engine within
/// its shutdown timeout; the exit code says whether everything went well.
pub async fn serve_until_stopped(mut running: switchboard::engine::lifecycle::Running) -> ExitCode {
    use switchboard::engine::lifecycle::StopReason;
    let failed = match running.wait().await {
        StopReason::Signal => false,
        StopReason::TaskEnded(ended) => {
            let error = ended.error.as_deref().unwrap_or("ended unexpectedly");
            tracing::error!(task = ended.task, %error, "stopping");
            true
        }
    };
    let timeout = running.engine().config().shutdown_timeout;
    tracing::info!(
        ?timeout,
        "shutting down: no new requests; finishing in-flight work"
    );
    let stopped = running.stop(None).await;
    if !stopped.drained() {
        tracing::warn!(unfinished = ?stopped.unfinished, "shutdown timeout reached with work in flight");
        return ExitCode::FAILURE;
    }
    tracing::info!("stopped");
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Sets up logging to stderr, filtered by `RUST_LOG` (default `info`).
pub fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only for a person at a terminal: files and pipes get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
