//! `switchboard deliveries retry SUB` and `switchboard deliveries replay SUB`: recovering a
//! subscription's deliveries in bulk through a running instance's admin API. Times are
//! RFC 3339, `now`, or a duration ago (`90m`, `2h`, `7d`).

use std::process::ExitCode;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::CliError;

/// What to do in bulk.
#[derive(clap::Subcommand, Debug)]
pub enum Action {
    /// Put a subscription's Failed and/or Dead deliveries of a time range back in the queue
    /// (at most 1000 per request; run it again while it says more are left).
    Retry(RetryArgs),
    /// Deliver the stored events of a time range again to a subscription (one created after
    /// them included), paced at the instance's --replay-rate.
    Replay(ReplayArgs),
}

/// Where the instance is and who asks.
#[derive(clap::Args, Debug)]
pub struct Target {
    /// The WebhookSubscription.
    pub subscription: String,
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
    /// Bearer token for the admin API; in a cluster, a token allowed the verb `replay` on the
    /// subscription.
    #[arg(long, env = "SWITCHBOARD_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Output format: text (default) or json.
    #[arg(short = 'o', long, default_value = "text")]
    pub output: String,
}

/// Arguments of `deliveries retry`.
#[derive(clap::Args, Debug)]
pub struct RetryArgs {
    #[command(flatten)]
    target: Target,
    /// Failed and/or Dead (repeatable; default both).
    #[arg(long)]
    status: Vec<String>,
    /// Deliveries created at or after this time.
    #[arg(long)]
    since: String,
    /// Deliveries created before this time.
    #[arg(long, default_value = "now")]
    until: String,
    /// Only deliveries of events of this type (repeatable).
    #[arg(long = "type")]
    types: Vec<String>,
}

/// Arguments of `deliveries replay`.
#[derive(clap::Args, Debug)]
pub struct ReplayArgs {
    #[command(flatten)]
    target: Target,
    /// Events received at or after this time.
    #[arg(long)]
    since: String,
    /// Events received before this time (give it explicitly to make the request repeatable).
    #[arg(long, default_value = "now")]
    until: String,
    /// Only events of this type (repeatable).
    #[arg(long = "type")]
    types: Vec<String>,
    /// The replay's id (default: derived from the subscription, range and types, so the same
    /// request twice is one replay).
    #[arg(long)]
    id: Option<String>,
    /// Wait, printing progress, until every replayed delivery is finished.
    #[arg(long)]
    follow: bool,
}

/// Runs a bulk action.
pub fn run(action: Action) -> Result<ExitCode, CliError> {
    match action {
        Action::Retry(args) => retry(args),
        Action::Replay(args) => replay(args),
    }
}

fn base(t: &Target) -> String {
    format!(
        "{}/v1/namespaces/{}/webhooksubscriptions/{}",
        t.admin.trim_end_matches('/'),
        t.namespace,
        t.subscription
    )
}

fn bad_time(value: &str, message: String) -> CliError {
    CliError::Http {
        url: String::new(),
        message: format!("{value:?}: {message}"),
    }
}

/// RFC 3339, `now`, or a duration ago.
fn when(value: &str, now: DateTime<Utc>) -> Result<String, CliError> {
    let at = if value == "now" {
        now
    } else if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        t.with_timezone(&Utc)
    } else {
        let ago = switchboard::api::parse_duration(value).map_err(|e| {
            bad_time(
                value,
                format!("not an RFC 3339 time, `now` or a duration ago: {e}"),
            )
        })?;
        now - chrono::Duration::from_std(ago)
            .map_err(|e| bad_time(value, format!("too far back: {e}")))?
    };
    Ok(at.to_rfc3339_opts(SecondsFormat::Micros, true))
}

fn retry(args: RetryArgs) -> Result<ExitCode, CliError> {
    let now = Utc::now();
    let body = json!({
        "status": args.status,
        "since": when(&args.since, now)?,
        "until": when(&args.until, now)?,
        "types": args.types,
    });
    let url = format!("{}/deliveries/retry", base(&args.target));
    let answer = super::http_json(
        reqwest::Method::POST,
        &url,
        args.target.token.as_deref(),
        Some(&body),
    )?;
    if args.target.output == "json" {
        println!("{answer}");
    } else {
        println!(
            "{} deliveries requeued{}",
            answer["requeued"],
            if answer["truncated"] == true {
                " (the per-request cap; run it again for the next ones)"
            } else {
                ""
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn replay(args: ReplayArgs) -> Result<ExitCode, CliError> {
    let now = Utc::now();
    let body = json!({
        "id": args.id,
        "since": when(&args.since, now)?,
        "until": when(&args.until, now)?,
        "types": args.types,
    });
    let url = format!("{}/replays", base(&args.target));
    let token = args.target.token.as_deref();
    let mut answer = super::http_json(reqwest::Method::POST, &url, token, Some(&body))?;
    print_progress(&args.target.output, &answer);
    if !args.follow {
        return Ok(ExitCode::SUCCESS);
    }
    let progress = format!("{url}/{}", answer["id"].as_str().unwrap_or_default());
    while !finished(&answer) {
        std::thread::sleep(Duration::from_secs(2));
        answer = super::http_get_json(&progress, token)?;
        print_progress(&args.target.output, &answer);
    }
    Ok(if answer["phase"] == "Failed" {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Done queueing (or stopped) and nothing of it pending.
fn finished(p: &Value) -> bool {
    p["phase"] == "Failed" || (p["phase"] == "Queued" && p["deliveries"]["pending"] == 0)
}

fn print_progress(output: &str, p: &Value) {
    if output == "json" {
        println!("{p}");
        return;
    }
    let d = &p["deliveries"];
    println!(
        "replay {} {}: {} events read, {} matched, {} queued; pending {}, delivered {}, failed {}, dead {}{}",
        p["id"].as_str().unwrap_or_default(),
        p["phase"].as_str().unwrap_or_default(),
        p["scanned"],
        p["matched"],
        p["queued"],
        d["pending"],
        d["delivered"],
        d["failed"],
        d["dead"],
        p["error"]
            .as_str()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default()
    );
}
