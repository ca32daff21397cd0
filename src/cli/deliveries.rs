//! `switchboard deliveries SUB`: a subscription's delivery log from a running instance
//! (`deliveries retry` and `deliveries replay` are in [`super::deliveries_bulk`]).

use std::process::ExitCode;

use serde_json::Value;

use super::CliError;

/// Arguments of `deliveries`.
#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct DeliveriesArgs {
    /// Retry or replay in bulk instead of listing.
    #[command(subcommand)]
    pub action: Option<super::deliveries_bulk::Action>,
    /// The WebhookSubscription.
    #[arg(required = true)]
    pub subscription: Option<String>,
    /// Its namespace.
    #[arg(short = 'n', long, default_value = "default")]
    pub namespace: String,
    /// Only deliveries with this status (Pending, Delivering, Delivered, Failed, Dead).
    #[arg(long)]
    pub status: Option<String>,
    /// Most deliveries shown.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Admin address of the running instance.
    #[arg(
        long,
        default_value = "http://127.0.0.1:9090",
        env = "SWITCHBOARD_ADMIN"
    )]
    pub admin: String,
    /// Bearer token for the admin API; in a cluster, a token allowed to `get` the subscription.
    #[arg(long, env = "SWITCHBOARD_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Output format: table (default) or json.
    #[arg(short = 'o', long, default_value = "table")]
    pub output: String,
}

/// Fetches and prints the deliveries, newest first.
pub fn run(args: DeliveriesArgs) -> Result<ExitCode, CliError> {
    if let Some(action) = args.action {
        return super::deliveries_bulk::run(action);
    }
    let subscription = args.subscription.unwrap_or_default();
    let mut url = format!(
        "{}/v1/namespaces/{}/webhooksubscriptions/{}/deliveries?limit={}",
        args.admin.trim_end_matches('/'),
        args.namespace,
        subscription,
        args.limit
    );
    if let Some(status) = &args.status {
        url.push_str(&format!("&status={status}"));
    }
    let list = super::http_get_json(&url, args.token.as_deref())?;
    let items = list["items"].as_array().cloned().unwrap_or_default();
    if args.output == "json" {
        println!(
            "{}",
            serde_json::to_string_pretty(&list).unwrap_or_default()
        );
        return Ok(ExitCode::SUCCESS);
    }
    if items.is_empty() {
        eprintln!("No deliveries found.");
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", table(&items));
    Ok(ExitCode::SUCCESS)
}

fn table(items: &[Value]) -> String {
    let header = [
        "ID",
        "EVENT",
        "TYPE",
        "STATUS",
        "ATTEMPTS",
        "LAST CODE",
        "CREATED",
        "LAST ERROR",
    ];
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|d| {
            let s = |k: &str| d[k].as_str().unwrap_or("").to_owned();
            let last_code = d["attemptLog"]
                .as_array()
                .and_then(|a| a.last())
                .and_then(|a| a["response_status"].as_u64())
                .map_or("-".to_owned(), |c| c.to_string());
            vec![
                s("id"),
                s("eventId"),
                s("eventType"),
                s("status"),
                d["attempts"].to_string(),
                last_code,
                s("createdAt"),
                s("lastError").chars().take(60).collect(),
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<String>| {
        let mut out = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("   ");
        out.truncate(out.trim_end().len());
        out + "\n"
    };
    let mut out = line(header.iter().map(|h| h.to_string()).collect());
    for r in rows {
        out.push_str(&line(r));
    }
    out
}
