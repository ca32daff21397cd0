//! The engine's command-line flags, declared once and flattened into both `run` and
//! `controller`, so the two front-ends take the same settings with the same defaults. Every
//! default is read from the engine's own `Default` impls; none is written here twice.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use switchboard::api::parse_duration;
use switchboard::delivery::{AutoDisablePolicy, DeliveryConfig, DestinationPolicy};
use switchboard::engine::EngineConfig;
use switchboard::engine::config::HttpLimits;
use switchboard::engine::lifecycle_events::LifecycleConfig;
use switchboard::receiver::paypal_certs::allowed_prefix;
use switchboard::receiver::{PayPalCertConfig, ReceiverConfig};

use super::CliError;

/// Default data plane address.
const LISTEN: &str = "127.0.0.1:8080";
/// Default admin address.
const ADMIN_LISTEN: &str = "127.0.0.1:9090";
/// Default data directory.
const DATA_DIR: &str = ".switchboard";

/// A duration flag that prints its default the way durations are written (`30s`, `5m`,
/// `168h`), so the printed default parses back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dur(pub Duration);

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        let (n, unit) = [(3_600_000, "h"), (60_000, "m"), (1_000, "s")]
            .into_iter()
            .find(|(per, _)| ms > 0 && ms.is_multiple_of(*per))
            .map_or((ms, "ms"), |(per, unit)| (ms / per, unit));
        write!(f, "{n}{unit}")
    }
}

impl FromStr for Dur {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_duration(s).map(Dur).map_err(|e| e.to_string())
    }
}

fn defaults() -> EngineConfig {
    EngineConfig::default()
}

fn parse_cert_url(value: &str) -> Result<String, String> {
    allowed_prefix(value).map(|_| value.to_owned())
}

/// The engine's flags, the same for `run` and `controller`.
#[derive(clap::Args, Debug, Clone)]
pub struct EngineArgs {
    /// Where the embedded SQLite store and generated signing secrets live.
    #[arg(long, default_value = DATA_DIR, env = "SWITCHBOARD_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Store URL instead of the embedded one: sqlite:///path/file.db or postgres://… (shared
    /// by replicas).
    #[arg(long, env = "SWITCHBOARD_STORE")]
    pub store: Option<String>,
    /// Data plane address (hooks and the publish API).
    #[arg(long, default_value = LISTEN)]
    pub listen: String,
    /// Admin address (health, metrics, status, deliveries).
    #[arg(long, default_value = ADMIN_LISTEN)]
    pub admin_listen: String,
    /// Public base URL of the data plane (e.g. https://hooks.example.com): endpoint status
    /// shows absolute URLs, and URL-signing schemes (Twilio) verify against it.
    #[arg(long, env = "SWITCHBOARD_EXTERNAL_URL")]
    pub external_url: Option<url::Url>,
    /// Proxies (CIDRs, comma-separated) whose X-Forwarded-For names the client address.
    #[arg(long, value_delimiter = ',')]
    pub trusted_proxies: Vec<IpNet>,
    /// Requests processed at once per endpoint; more get 429.
    #[arg(long, default_value_t = defaults().receiver.max_inflight_per_endpoint)]
    pub max_inflight_per_endpoint: usize,
    /// URL prefixes PayPal signing certificates may be fetched from (comma-separated; scheme,
    /// host, port and path must match). Widen it only for a PayPal mock or mirror: tests
    /// serve theirs on loopback over http.
    #[arg(long, value_delimiter = ',', value_parser = parse_cert_url,
          default_values_t = defaults().receiver.paypal.allowed_urls)]
    pub paypal_cert_urls: Vec<String>,
    /// PEM bundle of the CA certificates PayPal signing certificates must chain to, instead
    /// of the system's CA store.
    #[arg(long)]
    pub paypal_trust_roots: Option<PathBuf>,
    /// Largest accepted event body in bytes.
    #[arg(long, default_value_t = defaults().max_event_bytes)]
    pub max_event_bytes: usize,
    /// How long to wait for in-flight work on SIGTERM/SIGINT.
    #[arg(long, default_value_t = Dur(defaults().shutdown_timeout))]
    pub shutdown_timeout: Dur,
    /// How long delivered and dead records are kept.
    #[arg(long, default_value_t = Dur(defaults().retention))]
    pub retention: Dur,
    /// Replayed deliveries queued per second at most, per replay (live work is claimed first).
    #[arg(long, default_value_t = defaults().replay_rate)]
    pub replay_rate: u32,
    /// Let deliveries reach loopback, private, link-local and other non-public addresses.
    #[arg(long)]
    pub allow_private_destinations: bool,
    /// Non-public ranges deliveries may reach anyway (comma-separated CIDRs, e.g. 10.0.0.0/8).
    #[arg(long, value_delimiter = ',')]
    pub allowed_destination_cidrs: Vec<IpNet>,
    /// Delivery attempts in flight at once over all subscriptions.
    #[arg(long, default_value_t = defaults().delivery.global_concurrency)]
    pub delivery_concurrency: usize,
    /// Delivery attempts in flight at once per subscription.
    #[arg(long, default_value_t = defaults().delivery.target_concurrency)]
    pub subscription_concurrency: usize,
    /// How long a claimed delivery is leased (renewed every third of it while held); after a
    /// crash it runs again once this expires.
    #[arg(long, default_value_t = Dur(defaults().delivery.lease))]
    pub delivery_lease: Dur,
    /// How often the queue is polled when nothing new was published here.
    #[arg(long, default_value_t = Dur(defaults().delivery.poll))]
    pub delivery_poll: Dur,
    /// How long every delivery attempt of a subscription must have failed (none succeeding)
    /// before it is disabled; 0 never disables.
    #[arg(long, default_value_t = Dur(defaults().delivery.auto_disable.after))]
    pub auto_disable_after: Dur,
    /// Failed attempts (since the last success) needed as well before a subscription is
    /// disabled.
    #[arg(long, default_value_t = defaults().delivery.auto_disable.min_failures)]
    pub auto_disable_min_failures: u64,
    /// The failed attempt of a delivery that publishes a switchboard.delivery.failing
    /// lifecycle event (once per delivery); 0: never.
    #[arg(long, default_value_t = defaults().delivery.failing_after)]
    pub lifecycle_failing_after: u32,
    /// Lifecycle events of one type about one subject published per minute at most (the
    /// excess is counted in the next one's `suppressed`); 0 turns lifecycle events off.
    #[arg(long, default_value_t = defaults().lifecycle.per_subject_per_minute)]
    pub lifecycle_events_per_minute: u32,
    /// Rejected requests within a minute (and at least half of them) that publish
    /// switchboard.endpoint.rejecting for an endpoint.
    #[arg(long, default_value_t = defaults().lifecycle.rejecting_min)]
    pub lifecycle_rejecting_min: u64,
    /// How long a connection has to send a request's head; then it is closed.
    #[arg(long, default_value_t = Dur(defaults().http.header_read_timeout))]
    pub header_read_timeout: Dur,
    /// How long a request has to send its whole body; then 408 and the connection is closed.
    #[arg(long, default_value_t = Dur(defaults().http.body_read_timeout))]
    pub body_read_timeout: Dur,
    /// Slowest request body accepted, in bytes/s over 5 s windows (408 below it; 0: no check).
    #[arg(long, default_value_t = defaults().http.min_body_rate)]
    pub min_body_rate: u64,
    /// How long a keep-alive connection may wait between requests before it is closed.
    #[arg(long, default_value_t = Dur(defaults().http.idle_timeout))]
    pub idle_timeout: Dur,
    /// Connections open at once per server (data plane, admin); more are closed on accept.
    #[arg(long, default_value_t = defaults().http.max_connections)]
    pub max_connections: usize,
    /// Request-body bytes held in memory at once over all data plane requests; a request
    /// that cannot get room for its body gets 503 with Retry-After.
    #[arg(long, default_value_t = defaults().http.max_inflight_body_bytes)]
    pub max_inflight_body_bytes: usize,
}

impl EngineArgs {
    /// The store URL: `--store`, else SQLite in the data directory (created here).
    pub fn store_url(&self) -> Result<String, CliError> {
        if let Some(url) = &self.store {
            return Ok(url.clone());
        }
        self.create_data_dir()?;
        Ok(format!(
            "sqlite://{}",
            self.data_dir.join("switchboard.db").display()
        ))
    }

    /// Creates the data directory, readable by its owner only (an existing one is left as
    /// it is; the store's own files are owner-only either way).
    pub fn create_data_dir(&self) -> Result<(), CliError> {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(&self.data_dir)
            .map_err(|source| CliError::Write {
                path: self.data_dir.display().to_string(),
                source,
            })
    }

    /// The engine settings these flags describe (the front-end sets what is its own).
    pub fn config(&self) -> EngineConfig {
        EngineConfig {
            max_event_bytes: self.max_event_bytes,
            data_dir: Some(self.data_dir.clone()),
            delivery: DeliveryConfig {
                policy: Arc::new(DestinationPolicy {
                    allow_private: self.allow_private_destinations,
                    allowed: self.allowed_destination_cidrs.clone(),
                }),
                global_concurrency: self.delivery_concurrency.max(1),
                target_concurrency: self.subscription_concurrency.max(1),
                lease: self.delivery_lease.0,
                poll: self.delivery_poll.0,
                auto_disable: AutoDisablePolicy {
                    after: self.auto_disable_after.0,
                    min_failures: self.auto_disable_min_failures,
                },
                failing_after: self.lifecycle_failing_after,
                ..DeliveryConfig::default()
            },
            receiver: ReceiverConfig {
                external_url: self
                    .external_url
                    .as_ref()
                    .map(|u| u.as_str().trim_end_matches('/').to_owned()),
                trusted_proxies: self.trusted_proxies.clone(),
                max_inflight_per_endpoint: self.max_inflight_per_endpoint,
                paypal: PayPalCertConfig {
                    allowed_urls: self.paypal_cert_urls.clone(),
                    trust_roots: self.paypal_trust_roots.clone(),
                },
            },
            retention: self.retention.0,
            replay_rate: self.replay_rate.max(1),
            shutdown_timeout: self.shutdown_timeout.0,
            http: HttpLimits {
                header_read_timeout: self.header_read_timeout.0,
                body_read_timeout: self.body_read_timeout.0,
                min_body_rate: self.min_body_rate,
                idle_timeout: self.idle_timeout.0,
                max_connections: self.max_connections.max(1),
                max_inflight_body_bytes: self.max_inflight_body_bytes.max(1),
            },
            lifecycle: LifecycleConfig {
                per_subject_per_minute: self.lifecycle_events_per_minute,
                rejecting_min: self.lifecycle_rejecting_min,
            },
            ..EngineConfig::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::{Args, CommandFactory, FromArgMatches};

    use super::super::Cli;
    use super::*;

    /// Every flag of a subcommand: id, long name and default values.
    fn flags(sub: &str) -> Vec<(String, Option<String>, Vec<String>)> {
        let cli = Cli::command();
        let cmd = cli.find_subcommand(sub).expect("subcommand");
        cmd.get_arguments()
            .map(|a| {
                (
                    a.get_id().to_string(),
                    a.get_long().map(str::to_owned),
                    a.get_default_values()
                        .iter()
                        .map(|v| v.to_string_lossy().into_owned())
                        .collect(),
                )
            })
            .collect()
    }

    #[test]
    fn run_and_controller_take_the_same_engine_flags_with_the_same_defaults() {
        let engine: Vec<String> = EngineArgs::augment_args(clap::Command::new("x"))
            .get_arguments()
            .map(|a| a.get_id().to_string())
            .collect();
        assert!(engine.len() >= 16, "{engine:?}");
        let run = flags("run");
        let controller = flags("controller");
        for id in &engine {
            let of = |all: &[(String, Option<String>, Vec<String>)]| {
                all.iter()
                    .find(|(i, _, _)| i == id)
                    .cloned()
                    .unwrap_or_else(|| panic!("{id} is missing"))
            };
            assert_eq!(of(&run), of(&controller), "flag {id}");
        }
        // Neither front-end declares an engine setting of its own under another name.
        for (id, long, _) in run.iter().chain(&controller) {
            let long = long.as_deref().unwrap_or_default();
            let engine_like = [
                "listen",
                "store",
                "retention",
                "delivery",
                "destination",
                "timeout",
                "connections",
                "body",
            ];
            if engine_like.iter().any(|w| long.contains(w)) {
                assert!(
                    engine.contains(id),
                    "--{long} is declared outside EngineArgs"
                );
            }
        }
    }

    #[test]
    fn defaults_are_the_engines_defaults() {
        let args = EngineArgs::from_arg_matches(
            &EngineArgs::augment_args(clap::Command::new("x"))
                .try_get_matches_from(["x"])
                .expect("no flags parse"),
        )
        .expect("defaults");
        let config = args.config();
        let default = EngineConfig::default();
        assert_eq!(config.max_event_bytes, default.max_event_bytes);
        assert_eq!(config.retention, default.retention);
        assert_eq!(config.replay_rate, default.replay_rate);
        assert_eq!(config.shutdown_timeout, default.shutdown_timeout);
        assert_eq!(config.delivery.lease, default.delivery.lease);
        assert_eq!(config.delivery.poll, default.delivery.poll);
        assert_eq!(
            config.delivery.global_concurrency,
            default.delivery.global_concurrency
        );
        assert_eq!(
            config.delivery.target_concurrency,
            default.delivery.target_concurrency
        );
        assert_eq!(config.delivery.auto_disable, default.delivery.auto_disable);
        assert_eq!(config.receiver, default.receiver);
        assert_eq!(config.http, default.http);
        assert_eq!(config.lifecycle, default.lifecycle);
        assert_eq!(
            config.delivery.failing_after,
            default.delivery.failing_after
        );
        assert!(!config.delivery.policy.allow_private);
    }

    #[test]
    fn durations_print_as_they_are_written() {
        assert_eq!(Dur(Duration::from_secs(300)).to_string(), "5m");
        assert_eq!(Dur(Duration::from_millis(250)).to_string(), "250ms");
        assert_eq!(Dur(Duration::from_secs(7 * 24 * 3600)).to_string(), "168h");
        assert_eq!(Dur(Duration::from_secs(90)).to_string(), "90s");
        assert_eq!(Dur(Duration::ZERO).to_string(), "0ms");
        assert_eq!("1h30m".parse::<Dur>(), Ok(Dur(Duration::from_secs(5400))));
    }
}
