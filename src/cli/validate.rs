//! `switchboard validate`: offline checks with `FILE:LINE: Kind/namespace/name: message` output.

use std::path::PathBuf;
use std::process::ExitCode;

use switchboard::engine::check::CheckOptions;
use switchboard::error_chain::render;
use switchboard::manifests::{self, Diagnostic};

/// Arguments of `validate`.
#[derive(clap::Args, Debug)]
pub struct ValidateArgs {
    /// Files or directories (read recursively) of YAML manifests.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Do not require referenced Secrets to be among the files (they are managed elsewhere,
    /// e.g. by an external secrets operator).
    #[arg(long)]
    pub allow_missing_secrets: bool,
    /// Do not require referenced ClusterIntegrationProviders to be among the files (they are
    /// installed separately, e.g. by the Helm chart).
    #[arg(long)]
    pub allow_missing_providers: bool,
}

/// Validates the manifests; exit code 1 when anything is wrong.
pub fn run(args: ValidateArgs) -> ExitCode {
    let (docs, load_errors) = manifests::load_paths(&args.paths);
    let opts = CheckOptions {
        allow_missing_secrets: args.allow_missing_secrets,
        allow_missing_providers: args.allow_missing_providers,
    };
    let validated = manifests::validate_docs(&docs, opts);
    let mut diagnostics: Vec<Diagnostic> = load_errors
        .iter()
        .map(|e| Diagnostic {
            file: e.path().to_owned(),
            line: e.line(),
            resource: String::new(),
            message: match e {
                manifests::LoadError::Syntax { source, .. } => {
                    format!("invalid YAML: {}", source.message)
                }
                manifests::LoadError::Io { source, .. } => render(source),
            },
        })
        .collect();
    diagnostics.extend(validated.diagnostics);
    for d in &diagnostics {
        println!("{d}");
    }
    let files: std::collections::BTreeSet<_> = docs.iter().map(|d| &d.file).collect();
    if diagnostics.is_empty() {
        println!(
            "ok: {} resources in {} files, {} problems",
            validated.resources,
            files.len(),
            0
        );
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "{} problems in {} resources",
            diagnostics.len(),
            validated.resources
        );
        ExitCode::FAILURE
    }
}
