//! Callback URL rules (calendly-api.md §0, §3.1): an absolute http(s) URL, and in strict mode a
//! publicly reachable `https` one. A callback URL never changes after creation (there is no
//! update endpoint).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

/// The 400 detail message for a URL strict mode refuses.
pub(crate) const NOT_PUBLIC: &str = "must be a publicly reachable https URL";

/// An absolute `http`/`https` URL with a host (the rule outside strict mode).
pub(crate) fn is_valid(raw: &str) -> bool {
    Url::parse(raw).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
}

/// `https`, and a host that is neither `localhost` nor a loopback, private, link-local or
/// unspecified IP address (v4 or v6, including IPv4-mapped v6).
pub(crate) fn is_public_https(raw: &str) -> bool {
    let Ok(url) = Url::parse(raw) else {
        return false;
    };
    if url.scheme() != "https" {
        return false;
    }
    match url.host() {
        None => false,
        Some(Host::Domain(domain)) => {
            let domain = domain.trim_end_matches('.').to_ascii_lowercase();
            domain != "localhost" && !domain.ends_with(".localhost")
        }
        Some(Host::Ipv4(ip)) => is_public_ip(IpAddr::V4(ip)),
        Some(Host::Ipv6(ip)) => is_public_ip(IpAddr::V6(ip)),
    }
}

fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast())
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    let unique_local = first & 0xfe00 == 0xfc00; // fc00::/7, IPv6's private range
    let link_local = first & 0xffc0 == 0xfe80; // fe80::/10
    !(ip.is_loopback() || ip.is_unspecified() || unique_local || link_local)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_https_urls_pass_the_strict_check() {
        for url in [
            "https://hooks.example.com/calendly",
            "https://8.8.8.8/x",
            "https://[2001:4860:4860::8888]/x",
            "https://172.32.0.1/x",
        ] {
            assert!(is_public_https(url), "{url}");
        }
    }

    #[test]
    fn plain_http_localhost_and_non_public_addresses_fail_the_strict_check() {
        for url in [
            "http://hooks.example.com/calendly",
            "https://localhost/x",
            "https://LOCALHOST./x",
            "https://app.localhost/x",
            "https://127.0.0.1/x",
            "https://10.1.2.3/x",
            "https://172.16.0.1/x",
            "https://172.31.255.255/x",
            "https://192.168.1.10/x",
            "https://169.254.169.254/x",
            "https://0.0.0.0/x",
            "https://[::1]/x",
            "https://[::]/x",
            "https://[fe80::1]/x",
            "https://[fd00::1]/x",
            "https://[::ffff:10.0.0.1]/x",
            "not a url",
        ] {
            assert!(!is_public_https(url), "{url}");
        }
    }

    #[test]
    fn outside_strict_mode_any_absolute_http_url_is_valid() {
        assert!(is_valid("http://127.0.0.1:9/x"));
        assert!(!is_valid("ftp://example.com/x"));
        assert!(!is_valid("/relative"));
    }
}
