//! Settings of the receivers, from the `run`/`controller` command line.

use ipnet::IpNet;

use super::paypal_certs::PayPalCertConfig;

/// Default of `--max-inflight-per-endpoint`.
pub const DEFAULT_MAX_INFLIGHT: usize = 256;

/// Receiver settings shared by every endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceiverConfig {
    /// Public base URL of the data plane (`--external-url`), without a trailing slash.
    pub external_url: Option<String>,
    /// Peers whose `X-Forwarded-For` is trusted (`--trusted-proxies`).
    pub trusted_proxies: Vec<IpNet>,
    /// Requests processed at once per endpoint before answering 429.
    pub max_inflight_per_endpoint: usize,
    /// Where PayPal signing certificates may be fetched from, and what they chain to.
    pub paypal: PayPalCertConfig,
}

impl Default for ReceiverConfig {
    fn default() -> Self {
        Self {
            external_url: None,
            trusted_proxies: Vec::new(),
            max_inflight_per_endpoint: DEFAULT_MAX_INFLIGHT,
            paypal: PayPalCertConfig::default(),
        }
    }
}

impl ReceiverConfig {
    /// The URL senders call for an endpoint: absolute when the external URL is known.
    pub fn hook_url(&self, namespace: &str, name: &str) -> String {
        let path = hook_path(namespace, name);
        match &self.external_url {
            Some(base) => format!("{}{path}", base.trim_end_matches('/')),
            None => path,
        }
    }
}

/// The path of an endpoint on the data plane.
pub fn hook_path(namespace: &str, name: &str) -> String {
    format!("/hooks/{namespace}/{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hook_url_is_absolute_with_an_external_url() {
        let mut config = ReceiverConfig::default();
        assert_eq!(config.hook_url("ns", "a"), "/hooks/ns/a");
        config.external_url = Some("https://hooks.example.com/".into());
        assert_eq!(
            config.hook_url("ns", "a"),
            "https://hooks.example.com/hooks/ns/a"
        );
    }
}
