//! SSRF guard: outbound deliveries reach only global addresses unless allowed. Names are
//! checked on the addresses they resolve to, at connect time (a reqwest DNS resolver that
//! filters the results), so a name that rebinds to 127.0.0.1 or 169.254.169.254 gets nowhere.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, OnceLock};

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Ranges that are not globally reachable (IANA special-purpose registries, RFC 6890 and
/// successors): loopback, private, CGNAT, link-local (cloud metadata), documentation,
/// benchmarking, multicast, reserved, unspecified, ULA, NAT64 and 6to4/Teredo tunnels.
const NON_GLOBAL: &[&str] = &[
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.88.99.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "::/96",
    "64:ff9b::/96",
    "64:ff9b:1::/48",
    "100::/64",
    "2001::/23",
    "2001:db8::/32",
    "2002::/16",
    "fc00::/7",
    "fe80::/10",
    "fec0::/10",
    "ff00::/8",
];

fn non_global() -> &'static [IpNet] {
    static NETS: OnceLock<Vec<IpNet>> = OnceLock::new();
    NETS.get_or_init(|| NON_GLOBAL.iter().filter_map(|n| n.parse().ok()).collect())
}

/// Which destination addresses deliveries may reach.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DestinationPolicy {
    /// Reach every address, private ones included (`--allow-private-destinations`).
    pub allow_private: bool,
    /// Non-global ranges that are allowed anyway (`--allowed-destination-cidrs`).
    pub allowed: Vec<IpNet>,
}

/// A destination address refused by the guard.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "refused by the SSRF guard: {host} resolves to non-public address(es) {addrs} (allow with --allow-private-destinations or --allowed-destination-cidrs)"
)]
pub struct Refused {
    /// The host as written in the URL.
    pub host: String,
    /// The refused addresses, comma-separated.
    pub addrs: String,
}

impl DestinationPolicy {
    /// True when deliveries may connect to `ip`.
    pub fn permits(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.allow_private
            || self.allowed.iter().any(|net| net.contains(&ip))
            || !non_global().iter().any(|net| net.contains(&ip))
    }

    /// Checks a URL whose host is a literal IP address (names are checked at connect time).
    pub fn check_literal(&self, url: &url::Url) -> Result<(), Refused> {
        let ip = match url.host() {
            Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
            Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
            // RFC 6761: localhost names always resolve to loopback; refuse them up front.
            Some(url::Host::Domain(name)) if is_localhost(name) => {
                IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)
            }
            _ => return Ok(()),
        };
        if self.permits(ip) {
            Ok(())
        } else {
            Err(Refused {
                host: url.host_str().unwrap_or_default().to_owned(),
                addrs: ip.to_string(),
            })
        }
    }

    /// A reqwest resolver that drops the addresses this policy refuses.
    pub fn resolver(self: &Arc<Self>) -> Arc<GuardedResolver> {
        Arc::new(GuardedResolver {
            policy: self.clone(),
        })
    }
}

/// `localhost` and names under `.localhost`.
fn is_localhost(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) are checked as the IPv4 address they carry.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map_or(ip, |v4: Ipv4Addr| IpAddr::V4(v4)),
        v4 => v4,
    }
}

/// DNS resolution through the system resolver, keeping only permitted addresses.
pub struct GuardedResolver {
    policy: Arc<DestinationPolicy>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let (permitted, refused): (Vec<_>, Vec<_>) =
                resolved.into_iter().partition(|a| policy.permits(a.ip()));
            if permitted.is_empty() && !refused.is_empty() {
                let addrs = refused
                    .iter()
                    .map(|a| a.ip().to_string())
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(Box::new(Refused { host, addrs }) as _);
            }
            Ok(Box::new(permitted.into_iter()) as Addrs)
        })
    }
}

/// The guard's refusal in an error's source chain, if that is why it failed.
pub fn find_refusal<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a Refused> {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(r) = e.downcast_ref::<Refused>() {
            return Some(r);
        }
        current = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn refuses_non_global_addresses_by_default() {
        let p = DestinationPolicy::default();
        for bad in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "169.254.169.254",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(!p.permits(ip(bad)), "{bad} must be refused");
        }
        for good in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700::1111",
            "::ffff:1.1.1.1",
        ] {
            assert!(p.permits(ip(good)), "{good} must be allowed");
        }
    }

    #[test]
    fn flags_open_the_guard() {
        let all = DestinationPolicy {
            allow_private: true,
            allowed: vec![],
        };
        assert!(all.permits(ip("127.0.0.1")));
        let some = DestinationPolicy {
            allow_private: false,
            allowed: vec!["10.0.0.0/8".parse().unwrap()],
        };
        assert!(some.permits(ip("10.9.9.9")));
        assert!(some.permits(ip("::ffff:10.9.9.9")));
        assert!(!some.permits(ip("192.168.0.1")));
    }

    #[test]
    fn literal_urls_are_checked_and_names_left_to_connect_time() {
        let p = DestinationPolicy::default();
        let err = p
            .check_literal(&"http://169.254.169.254/latest".parse().unwrap())
            .unwrap_err();
        assert!(err.to_string().contains("SSRF guard"));
        assert!(
            p.check_literal(&"http://[::1]:8080/".parse().unwrap())
                .is_err()
        );
        assert!(
            p.check_literal(&"http://example.com/".parse().unwrap())
                .is_ok()
        );
        for local in ["http://localhost:8080/", "http://api.LOCALHOST./x"] {
            let refused = p.check_literal(&local.parse().unwrap()).unwrap_err();
            assert_eq!(refused.addrs, "127.0.0.1", "{local}");
        }
        let open = DestinationPolicy {
            allow_private: true,
            ..DestinationPolicy::default()
        };
        assert!(
            open.check_literal(&"http://localhost:8080/".parse().unwrap())
                .is_ok()
        );
    }

    #[tokio::test]
    async fn the_resolver_drops_refused_addresses() {
        let policy = Arc::new(DestinationPolicy::default());
        let resolver = policy.resolver();
        let err = match resolver.resolve("localhost".parse().unwrap()).await {
            Ok(_) => panic!("localhost must be refused"),
            Err(e) => e,
        };
        let refused = find_refusal(err.as_ref()).expect("a refusal");
        assert_eq!(refused.host, "localhost");
    }
}
