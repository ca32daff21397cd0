//! Command-line parsing and dispatch.

mod crds;
mod transform;
mod validate;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

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
    /// Run a Transformation from a manifest file on one input and print its output.
    Transform(transform::TransformArgs),
}

/// An error that ends the command.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Writing output failed.
    #[error("writing {path}: {source}")]
    Write {
        /// What was written.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// `transform` failed.
    #[error(transparent)]
    Transform(#[from] transform::TransformCommandError),
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> Result<ExitCode, CliError> {
    match cli.command {
        Command::Crds(args) => crds::run(args),
        Command::Validate(args) => Ok(validate::run(args)),
        Command::Transform(args) => Ok(transform::run(args)?),
    }
}

/// Sets up logging to stderr, filtered by `RUST_LOG` (default `info`).
pub fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
