//! Addresses: is one reachable from the internet (whether Calendly can call a URL back, whether
//! a configured Calendly is the real one or a local test double), and who sent a request.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

/// True when the URL's host is a domain name other than `localhost`, or a public IP address.
pub fn is_public_url(url: &Url) -> bool {
    match url.host() {
        None => false,
        Some(Host::Domain(domain)) => {
            let domain = domain.trim_end_matches('.').to_ascii_lowercase();
            !(domain == "localhost"
                || domain.starts_with("localhost.")
                || domain.ends_with(".localhost")
                || domain.ends_with(".local")
                || domain.ends_with(".internal"))
        }
        Some(Host::Ipv4(ip)) => is_public_ip(IpAddr::V4(ip)),
        Some(Host::Ipv6(ip)) => is_public_ip(IpAddr::V6(ip)),
    }
}

/// Not loopback, private, link-local, unspecified, shared (CGNAT) or unique-local.
pub fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_documentation()
        || (a == 100 && (64..128).contains(&b)))
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80)
}

/// Who sent a request: the connection's peer, or, when the peer is a proxy we trust
/// (`APP_TRUSTED_PROXIES`), the nearest address in `X-Forwarded-For` that is not itself one.
/// A header from anyone else is ignored: it is the sender's to forge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddress(pub IpAddr);

impl ClientAddress {
    pub fn of(peer: IpAddr, forwarded_for: &[&str], trusted: &[IpAddr]) -> Self {
        let peer = unmapped(peer);
        if !trusted.contains(&peer) {
            return Self(peer);
        }
        let hops = forwarded_for
            .iter()
            .flat_map(|h| h.split(','))
            .map(str::trim)
            .rev();
        let mut nearest = peer;
        for hop in hops {
            match hop.parse::<IpAddr>() {
                Ok(ip) => {
                    nearest = unmapped(ip);
                    if !trusted.contains(&nearest) {
                        break;
                    }
                }
                // A hop that is no address: trust nothing further out.
                Err(_) => break,
            }
        }
        Self(nearest)
    }

    /// The key failed sign-ins are counted under: the IPv4 address, or the IPv6 /64 (one
    /// subscriber's block, which an attacker can otherwise walk through).
    pub fn throttle_key(&self) -> String {
        match self.0 {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        }
    }
}

fn unmapped(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(url: &str) -> bool {
        is_public_url(&Url::parse(url).unwrap())
    }

    #[test]
    fn loopback_private_and_local_names_are_not_public() {
        for url in [
            "https://localhost",
            "https://app.localhost",
            "https://127.0.0.1",
            "https://10.0.0.1",
            "https://172.16.5.4",
            "https://192.168.1.1",
            "https://169.254.1.1",
            "https://100.64.0.1",
            "https://0.0.0.0",
            "https://[::1]",
            "https://[fd00::1]",
            "https://[fe80::1]",
            "https://[::ffff:127.0.0.1]",
        ] {
            assert!(!public(url), "{url}");
        }
    }

    #[test]
    fn domains_and_public_addresses_are_public() {
        for url in [
            "https://api.calendly.com",
            "https://8.8.8.8",
            "https://[2606:4700::1111]",
        ] {
            assert!(public(url), "{url}");
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_forwarded_for_header_counts_only_from_a_trusted_proxy() {
        let proxy = [ip("127.0.0.1")];
        assert_eq!(
            ClientAddress::of(ip("203.0.113.9"), &["198.51.100.1"], &proxy).0,
            ip("203.0.113.9"),
            "anyone else's header is forgeable"
        );
        assert_eq!(
            ClientAddress::of(ip("127.0.0.1"), &["198.51.100.1, 203.0.113.7"], &proxy).0,
            ip("203.0.113.7"),
            "the proxy appends the address it saw; earlier entries are the client's to forge"
        );
        assert_eq!(
            ClientAddress::of(ip("127.0.0.1"), &[], &proxy).0,
            ip("127.0.0.1")
        );
        assert_eq!(
            ClientAddress::of(ip("127.0.0.1"), &["not-an-ip"], &proxy).0,
            ip("127.0.0.1")
        );
        assert_eq!(
            ClientAddress::of(ip("::ffff:127.0.0.1"), &["203.0.113.7"], &proxy).0,
            ip("203.0.113.7")
        );
    }

    #[test]
    fn ipv6_clients_are_throttled_by_their_64_block() {
        let a = ClientAddress(ip("2001:db8:1:2::1"));
        let b = ClientAddress(ip("2001:db8:1:2:ffff::9"));
        assert_eq!(a.throttle_key(), b.throttle_key());
        assert_eq!(ClientAddress(ip("192.0.2.1")).throttle_key(), "192.0.2.1");
    }
}
