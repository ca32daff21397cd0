//! The client address of a request: the peer, or — when the peer is a trusted proxy — the
//! nearest untrusted hop of `X-Forwarded-For`.

use std::net::{IpAddr, SocketAddr};

use http::HeaderMap;
use ipnet::IpNet;

/// The `X-Forwarded-For` header.
pub const FORWARDED_FOR: &str = "x-forwarded-for";

/// Resolves the client address. `X-Forwarded-For` is read only when `peer` is in `trusted`;
/// its hops are walked from the right (the nearest) and trusted proxies skipped. `None` when
/// the header is malformed, so the caller refuses the request rather than guess.
pub fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> Option<IpAddr> {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let mut client = peer;
    let mut hops = Vec::new();
    for value in headers.get_all(FORWARDED_FOR) {
        for hop in value.to_str().ok()?.split(',') {
            hops.push(parse_hop(hop)?);
        }
    }
    for hop in hops.into_iter().rev() {
        client = hop;
        if !is_trusted(&hop) {
            break;
        }
    }
    Some(client)
}

/// One hop: an IP address, optionally with a port (`1.2.3.4:80`, `[::1]:80`).
pub fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .map(canonical)
}

/// IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) as IPv4, so IPv4 ranges match them.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in xff {
            map.append(FORWARDED_FOR, v.parse().unwrap());
        }
        map
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn untrusted_peers_cannot_spoof() {
        let got = resolve(
            ip("203.0.113.9"),
            &headers(&["192.30.252.1"]),
            &nets(&["10.0.0.0/8"]),
        );
        assert_eq!(got, Some(ip("203.0.113.9")));
    }

    #[test]
    fn trusted_proxies_are_skipped_from_the_right() {
        let trusted = nets(&["10.0.0.0/8"]);
        let h = headers(&["6.6.6.6, 192.30.252.1", "10.1.1.1"]);
        assert_eq!(
            resolve(ip("10.0.0.1"), &h, &trusted),
            Some(ip("192.30.252.1"))
        );
        // Every hop trusted: the leftmost one is the client.
        let h = headers(&["10.2.2.2, 10.1.1.1"]);
        assert_eq!(resolve(ip("10.0.0.1"), &h, &trusted), Some(ip("10.2.2.2")));
        // No header: the proxy itself.
        assert_eq!(
            resolve(ip("10.0.0.1"), &HeaderMap::new(), &trusted),
            Some(ip("10.0.0.1"))
        );
    }

    #[test]
    fn hops_with_ports_and_mapped_addresses() {
        assert_eq!(parse_hop(" 1.2.3.4:8080 "), Some(ip("1.2.3.4")));
        assert_eq!(parse_hop("[2001:db8::1]:443"), Some(ip("2001:db8::1")));
        assert_eq!(parse_hop("::ffff:1.2.3.4"), Some(ip("1.2.3.4")));
        assert_eq!(parse_hop("unknown"), None);
        let h = headers(&["1.2.3.4, garbage"]);
        assert_eq!(resolve(ip("10.0.0.1"), &h, &nets(&["10.0.0.0/8"])), None);
    }

    proptest! {
        #[test]
        fn any_header_never_panics(values in proptest::collection::vec(any::<Vec<u8>>(), 0..4)) {
            let mut map = HeaderMap::new();
            for v in &values {
                if let Ok(v) = http::HeaderValue::from_bytes(v) {
                    map.append(FORWARDED_FOR, v);
                }
            }
            let _ = resolve(ip("10.0.0.1"), &map, &nets(&["10.0.0.0/8", "::/0"]));
        }

        #[test]
        fn any_hop_text_never_panics(hop in ".*") {
            let _ = parse_hop(&hop);
        }
    }
}
