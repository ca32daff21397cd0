//! Command-line flags of the webhook receivers.

use ipnet::IpNet;
use switchboard::receiver::ReceiverConfig;
use switchboard::receiver::config::DEFAULT_MAX_INFLIGHT;

/// Flags of the webhook receivers (`run`).
#[derive(clap::Args, Debug, Clone)]
pub struct ReceiverArgs {
    /// Public base URL of the data plane (e.g. https://hooks.example.com): endpoint status
    /// shows absolute URLs, and URL-signing schemes (Twilio) verify against it.
    #[arg(long, env = "SWITCHBOARD_EXTERNAL_URL")]
    pub external_url: Option<url::Url>,
    /// Proxies (CIDRs, comma-separated) whose X-Forwarded-For names the client address.
    #[arg(long, value_delimiter = ',')]
    pub trusted_proxies: Vec<IpNet>,
    /// Requests processed at once per endpoint; more get 429.
    #[arg(long, default_value_t = DEFAULT_MAX_INFLIGHT)]
    pub max_inflight_per_endpoint: usize,
}

impl ReceiverArgs {
    /// The receiver settings.
    pub fn config(&self) -> ReceiverConfig {
        ReceiverConfig {
            external_url: self
                .external_url
                .as_ref()
                .map(|u| u.as_str().trim_end_matches('/').to_owned()),
            trusted_proxies: self.trusted_proxies.clone(),
            max_inflight_per_endpoint: self.max_inflight_per_endpoint,
        }
    }
}
