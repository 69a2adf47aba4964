//! The time zone an adviser reads times in: their own choice (taken from the browser at sign-up,
//! changeable in Settings), else their Calendly account's, else UTC.

/// An IANA time zone name this server knows ("Europe/London"), as chrono-tz spells it.
pub fn parse(name: &str) -> Option<chrono_tz::Tz> {
    let name = name.trim();
    if name.is_empty() || name.len() > 64 {
        return None;
    }
    name.parse().ok()
}

/// The zone times are shown in: the adviser's own, else Calendly's, else UTC. Unknown names are
/// skipped, so a stale or odd value never breaks a page.
pub fn shown(adviser: Option<&str>, calendly: Option<&str>) -> String {
    [adviser, calendly]
        .into_iter()
        .flatten()
        .find_map(parse)
        .map(|tz| tz.name().to_owned())
        .unwrap_or_else(|| "UTC".to_owned())
}

/// The zones offered in Settings, sorted by name: the region/city names chrono-tz knows, without
/// the legacy `US/…`, `Etc/…` and country groups (any zone [`parse`] accepts may still be saved).
pub fn choices() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = chrono_tz::TZ_VARIANTS
        .iter()
        .map(|tz| tz.name())
        .filter(|n| n.contains('/') || *n == "UTC")
        .filter(|n| {
            ![
                "US/", "Etc/", "SystemV/", "Canada/", "Brazil/", "Chile/", "Mexico/",
            ]
            .iter()
            .any(|p| n.starts_with(p))
        })
        .collect();
    names.sort_unstable();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_advisers_own_zone_wins_over_calendlys() {
        assert_eq!(
            shown(Some("Europe/London"), Some("America/New_York")),
            "Europe/London"
        );
    }

    #[test]
    fn calendlys_zone_is_used_when_the_adviser_has_none() {
        assert_eq!(shown(None, Some("America/New_York")), "America/New_York");
    }

    #[test]
    fn an_unknown_zone_is_skipped_not_shown() {
        assert_eq!(
            shown(Some("Mars/Olympus"), Some("Asia/Tokyo")),
            "Asia/Tokyo"
        );
        assert_eq!(shown(Some(""), None), "UTC");
    }

    #[test]
    fn names_are_bounded_and_trimmed() {
        assert!(parse(" Europe/Paris ").is_some());
        assert!(parse(&"A".repeat(65)).is_none());
        assert!(parse("Europe/Paris; DROP").is_none());
    }

    #[test]
    fn the_choices_include_common_zones_and_skip_aliases() {
        let all = choices();
        for zone in [
            "UTC",
            "Europe/London",
            "America/New_York",
            "Australia/Sydney",
        ] {
            assert!(all.contains(&zone), "{zone}");
        }
        assert!(!all.iter().any(|z| z.starts_with("US/")));
        assert!(all.windows(2).all(|w| w[0] < w[1]));
    }
}
