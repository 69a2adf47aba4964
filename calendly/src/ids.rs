//! Calendly resource URIs, parsed once at the boundary.
//!
//! Calendly identifies every resource by an absolute URI such as
//! `https://api.calendly.com/users/1b2c3d4e-…`. Each newtype here only exists in a valid shape:
//! an absolute `http(s)` URL whose path is exactly the resource's path. Any host is accepted
//! (the simulator answers on `http://127.0.0.1:PORT`); ids are UUIDs or the older 16-character
//! ids, so any `[A-Za-z0-9_-]{1,64}` segment is accepted.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use url::Url;

/// A string that is not the Calendly URI it was supposed to be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a Calendly {kind} URI (expected http(s)://HOST{expected}): {input:?}")]
pub struct IdError {
    kind: &'static str,
    expected: &'static str,
    input: String,
}

impl IdError {
    /// Which kind of URI was expected, e.g. `"user"`.
    pub fn kind(&self) -> &'static str {
        self.kind
    }
}

fn is_id(segment: &str) -> bool {
    (1..=64).contains(&segment.len())
        && segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Checks `input` against a path pattern such as `["scheduled_events", "{}", "invitees", "{}"]`
/// (`"{}"` marks an id segment) and returns the normalised URL string.
fn parse_uri(
    input: &str,
    pattern: &[&str],
    kind: &'static str,
    expected: &'static str,
) -> Result<String, IdError> {
    let err = || IdError {
        kind,
        expected,
        input: input.to_owned(),
    };
    let url = Url::parse(input).map_err(|_| err())?;
    if !matches!(url.scheme(), "http" | "https")
        || url.host().is_none()
        || url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(err());
    }
    let segments: Vec<&str> = url.path_segments().ok_or_else(err)?.collect();
    let matches = segments.len() == pattern.len()
        && segments
            .iter()
            .zip(pattern)
            .all(|(segment, expected)| match *expected {
                "{}" => is_id(segment),
                literal => *segment == literal,
            });
    if matches {
        Ok(url.into())
    } else {
        Err(err())
    }
}

macro_rules! calendly_uri {
    ($(#[$meta:meta])* $name:ident, $kind:literal, $expected:literal, [$($segment:literal),+]) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Parses an absolute Calendly URI of this kind.
            pub fn parse(input: &str) -> Result<Self, IdError> {
                parse_uri(input, &[$($segment),+], $kind, $expected).map(Self)
            }

            /// The full URI, as Calendly spells it.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The resource's id: the last path segment (a UUID or an old 16-character id).
            pub fn uuid(&self) -> &str {
                self.0.rsplit('/').next().unwrap_or_default()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(deserializer)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

calendly_uri!(
    /// `…/users/{uuid}` — a Calendly user (token `owner`, subscription `creator`, event host).
    CalendlyUserUri, "user", "/users/{id}", ["users", "{}"]
);
calendly_uri!(
    /// `…/organizations/{uuid}` — every user has one, even solo accounts.
    OrganizationUri, "organization", "/organizations/{id}", ["organizations", "{}"]
);
calendly_uri!(
    /// `…/scheduled_events/{uuid}` — one booked meeting.
    ScheduledEventUri, "scheduled event", "/scheduled_events/{id}", ["scheduled_events", "{}"]
);
calendly_uri!(
    /// `…/scheduled_events/{event_uuid}/invitees/{uuid}` — one person booked onto an event.
    InviteeUri, "invitee", "/scheduled_events/{id}/invitees/{id}",
    ["scheduled_events", "{}", "invitees", "{}"]
);
calendly_uri!(
    /// `…/webhook_subscriptions/{uuid}`.
    SubscriptionUri, "webhook subscription", "/webhook_subscriptions/{id}",
    ["webhook_subscriptions", "{}"]
);
calendly_uri!(
    /// `…/event_types/{uuid}` — the kind of meeting that was booked.
    EventTypeUri, "event type", "/event_types/{id}", ["event_types", "{}"]
);

impl InviteeUri {
    /// The id of the scheduled event this invitee belongs to.
    pub fn event_uuid(&self) -> &str {
        self.0.rsplit('/').nth(2).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER: &str = "https://api.calendly.com/users/1b2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d";
    const INVITEE: &str = "https://api.calendly.com/scheduled_events/5f443a67-564e-4e90-a900-b0e92c02ec25/invitees/9cbca8f8-c422-48fb-8fd7-60a8d1bc5c6e";

    #[test]
    fn a_uuid_user_uri_parses_and_exposes_its_uuid() {
        let uri = CalendlyUserUri::parse(USER).unwrap();
        assert_eq!(uri.as_str(), USER);
        assert_eq!(uri.uuid(), "1b2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d");
        assert_eq!(uri.to_string(), USER);
    }

    #[test]
    fn an_old_sixteen_character_id_is_accepted() {
        let uri = OrganizationUri::parse("https://api.calendly.com/organizations/EBHAAFHDCAEQTSEZ")
            .unwrap();
        assert_eq!(uri.uuid(), "EBHAAFHDCAEQTSEZ");
    }

    #[test]
    fn any_host_is_accepted_so_the_simulator_works() {
        let uri = SubscriptionUri::parse("http://127.0.0.1:41234/webhook_subscriptions/abc_DEF-1")
            .unwrap();
        assert_eq!(uri.uuid(), "abc_DEF-1");
    }

    #[test]
    fn an_invitee_uri_knows_its_event() {
        let uri = InviteeUri::parse(INVITEE).unwrap();
        assert_eq!(uri.uuid(), "9cbca8f8-c422-48fb-8fd7-60a8d1bc5c6e");
        assert_eq!(uri.event_uuid(), "5f443a67-564e-4e90-a900-b0e92c02ec25");
    }

    #[test]
    fn event_and_event_type_uris_parse() {
        let event = ScheduledEventUri::parse(
            "https://api.calendly.com/scheduled_events/5f443a67-564e-4e90-a900-b0e92c02ec25",
        )
        .unwrap();
        assert_eq!(event.uuid(), "5f443a67-564e-4e90-a900-b0e92c02ec25");
        EventTypeUri::parse("https://api.calendly.com/event_types/706a491b").unwrap();
    }

    #[test]
    fn a_uri_of_another_kind_is_rejected() {
        let err = CalendlyUserUri::parse("https://api.calendly.com/organizations/abc").unwrap_err();
        assert_eq!(err.kind(), "user");
        assert!(ScheduledEventUri::parse(INVITEE).is_err());
        assert!(InviteeUri::parse("https://api.calendly.com/scheduled_events/abc").is_err());
    }

    #[test]
    fn malformed_inputs_are_rejected() {
        for input in [
            "",
            "users/abc",
            "/users/abc",
            "ftp://api.calendly.com/users/abc",
            "https://api.calendly.com/users/",
            "https://api.calendly.com/users/abc/",
            "https://api.calendly.com/users/abc/extra",
            "https://api.calendly.com/users/a%20b",
            "https://api.calendly.com/users/abc?x=1",
            "https://api.calendly.com/users/abc#frag",
            "https://user:pw@api.calendly.com/users/abc",
            "https://api.calendly.com/prefix/users/abc",
        ] {
            assert!(
                CalendlyUserUri::parse(input).is_err(),
                "{input:?} should be rejected"
            );
        }
        let too_long = format!("https://api.calendly.com/users/{}", "a".repeat(65));
        assert!(CalendlyUserUri::parse(&too_long).is_err());
        let longest = format!("https://api.calendly.com/users/{}", "a".repeat(64));
        assert!(CalendlyUserUri::parse(&longest).is_ok());
    }

    #[test]
    fn serde_round_trips_as_a_plain_string_and_validates() {
        let uri = CalendlyUserUri::parse(USER).unwrap();
        let json = serde_json::to_string(&uri).unwrap();
        assert_eq!(json, format!("\"{USER}\""));
        let back: CalendlyUserUri = serde_json::from_str(&json).unwrap();
        assert_eq!(back, uri);
        let bad: Result<CalendlyUserUri, _> =
            serde_json::from_str("\"https://api.calendly.com/nope/1\"");
        assert!(bad.is_err());
    }
}
