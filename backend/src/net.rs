//! Is an address reachable from the internet? Decides whether Calendly can call a URL back and
//! whether a configured Calendly is the real one (public) or a local test double.

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
}
