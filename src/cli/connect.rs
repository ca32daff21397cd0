//! `switchboard connect intg/NAME -n NS`: asks a running instance to start connecting an
//! OAuth2AuthorizationCode Integration and prints the provider's URL to open in a browser
//! (valid 10 minutes, once).

use std::process::ExitCode;

use super::CliError;

/// Arguments of `connect`.
#[derive(clap::Args, Debug)]
pub struct ConnectArgs {
    /// The Integration: `intg/NAME`, `integration/NAME` or `NAME`.
    pub integration: String,
    /// Its namespace.
    #[arg(short = 'n', long, default_value = "default")]
    pub namespace: String,
    /// Admin address of the running instance.
    #[arg(
        long,
        default_value = "http://127.0.0.1:9090",
        env = "SWITCHBOARD_ADMIN"
    )]
    pub admin: String,
    /// Bearer token for the admin API; in a cluster, a token allowed to `update` the
    /// Integration.
    #[arg(long, env = "SWITCHBOARD_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Output format: text (default: the URL and what to do) or json.
    #[arg(short = 'o', long, default_value = "text")]
    pub output: String,
}

/// The Integration's name from `intg/NAME`, `integration/NAME`, `integrations/NAME` or `NAME`.
fn name_of(arg: &str) -> Result<&str, CliError> {
    let name = match arg.split_once('/') {
        Some(("intg" | "integration" | "integrations", name)) => name,
        Some((kind, _)) => {
            return Err(CliError::Http {
                url: arg.to_owned(),
                message: format!("{kind:?} is not an Integration: write intg/NAME"),
            });
        }
        None => arg,
    };
    Ok(name)
}

/// Starts the connection and prints the URL to open.
pub fn run(args: ConnectArgs) -> Result<ExitCode, CliError> {
    let name = name_of(&args.integration)?;
    let url = format!(
        "{}/v1/namespaces/{}/integrations/{}/connect",
        args.admin.trim_end_matches('/'),
        args.namespace,
        name
    );
    let started = super::http_json(reqwest::Method::POST, &url, args.token.as_deref(), None)?;
    if args.output == "json" {
        println!(
            "{}",
            serde_json::to_string_pretty(&started).unwrap_or_default()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let link = started["authorizeUrl"].as_str().unwrap_or_default();
    eprintln!(
        "Open this URL in a browser and approve (valid until {}, once):",
        started["expiresAt"]
            .as_str()
            .unwrap_or("10 minutes from now")
    );
    println!("{link}");
    Ok(ExitCode::SUCCESS)
}
