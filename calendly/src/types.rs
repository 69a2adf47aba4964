//! Calendly resources, shared by API responses and webhook payloads.
//!
//! Deserialisation is tolerant: unknown fields are ignored; every field Calendly may omit or send
//! as `null` is an `Option` or reads as its default (an explicit `null` included, see
//! [`crate::lenient`]); lists decode item by item, so one odd item is skipped, not fatal. Only
//! what identifies a resource (its URI, times, status) is required. URIs are parsed into
//! [`crate::ids`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{
    CalendlyUserUri, EventTypeUri, InviteeUri, OrganizationUri, ScheduledEventUri, SubscriptionUri,
};
use crate::lenient::{lenient_option, lenient_vec, null_default};

/// Generates a string enum with known values plus `Other(String)`, so a new value Calendly adds
/// never fails deserialisation.
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(from = "String", into = "String")]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
            /// A value this crate does not know yet.
            Other(String),
        }

        impl $name {
            /// The value as Calendly spells it.
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $wire,)+
                    $name::Other(other) => other,
                }
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                match value.as_str() {
                    $($wire => $name::$variant,)+
                    _ => $name::Other(value),
                }
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.as_str().to_owned()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum!(
    /// Who a webhook subscription covers.
    SubscriptionScope { User = "user", Organization = "organization", Group = "group" }
);
string_enum!(
    /// A subscription becomes `disabled` after 24 h of failed deliveries and cannot be re-enabled.
    SubscriptionState { Active = "active", Disabled = "disabled" }
);
string_enum!(
    /// Status of a scheduled event or of an invitee.
    Status { Active = "active", Canceled = "canceled" }
);

/// A list page: `{ "collection": [...], "pagination": { "next_page_token": ... } }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "PageWire<T>")]
#[serde(bound(deserialize = "T: serde::de::DeserializeOwned"))]
pub struct Page<T> {
    pub collection: Vec<T>,
    /// Pass back as `page_token` to get the next page; `None` on the last page.
    pub next_page_token: Option<String>,
    /// The `X-RateLimit-*` headers this page came with (not part of the body).
    #[serde(skip)]
    pub rate_limit: Option<crate::error::RateLimit>,
}

#[derive(Deserialize)]
#[serde(bound(deserialize = "T: serde::de::DeserializeOwned"))]
struct PageWire<T> {
    #[serde(deserialize_with = "lenient_vec")]
    collection: Vec<T>,
    #[serde(default, deserialize_with = "lenient_option")]
    pagination: Option<PaginationWire>,
}

#[derive(Deserialize)]
struct PaginationWire {
    #[serde(default)]
    next_page_token: Option<String>,
}

impl<T> From<PageWire<T>> for Page<T> {
    fn from(wire: PageWire<T>) -> Self {
        Page {
            collection: wire.collection,
            next_page_token: wire
                .pagination
                .and_then(|p| p.next_page_token)
                .filter(|token| !token.is_empty()),
            rate_limit: None,
        }
    }
}

/// `{ "resource": T }`, the wrapper of every single-resource answer.
#[derive(Deserialize)]
pub(crate) struct Resource<T> {
    pub resource: T,
}

/// `GET /users/me`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub uri: CalendlyUserUri,
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    #[serde(default, deserialize_with = "null_default")]
    pub email: String,
    #[serde(default, deserialize_with = "null_default")]
    pub slug: String,
    #[serde(default, deserialize_with = "null_default")]
    pub scheduling_url: String,
    /// IANA zone, e.g. `Europe/London`.
    #[serde(default, deserialize_with = "null_default")]
    pub timezone: String,
    pub current_organization: OrganizationUri,
    #[serde(default)]
    pub avatar_url: Option<String>,
    #[serde(default)]
    pub locale: Option<String>,
    #[serde(default)]
    pub time_notation: Option<String>,
    #[serde(default, deserialize_with = "lenient_option")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient_option")]
    pub updated_at: Option<DateTime<Utc>>,
}

/// A webhook subscription as Calendly returns it (never with a signing key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookSubscription {
    pub uri: SubscriptionUri,
    pub callback_url: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When Calendly last started retrying failed deliveries.
    #[serde(default, deserialize_with = "lenient_option")]
    pub retry_started_at: Option<DateTime<Utc>>,
    pub state: SubscriptionState,
    #[serde(default, deserialize_with = "lenient_vec")]
    pub events: Vec<String>,
    pub scope: SubscriptionScope,
    pub organization: OrganizationUri,
    #[serde(default, deserialize_with = "lenient_option")]
    pub user: Option<CalendlyUserUri>,
    /// Group URI for group-scoped subscriptions.
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default, deserialize_with = "lenient_option")]
    pub creator: Option<CalendlyUserUri>,
}

/// A booked meeting: `GET /scheduled_events[/{uuid}]` and the webhook's `scheduled_event`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduledEvent {
    pub uri: ScheduledEventUri,
    /// `string | null` in Calendly's spec: see [`ScheduledEvent::title`].
    #[serde(default)]
    pub name: Option<String>,
    pub status: Status,
    pub start_time: DateTime<Utc>,
    pub end_time: DateTime<Utc>,
    #[serde(default, deserialize_with = "lenient_option")]
    pub event_type: Option<EventTypeUri>,
    #[serde(default, deserialize_with = "lenient_option")]
    pub location: Option<Location>,
    #[serde(default, deserialize_with = "lenient_option")]
    pub invitees_counter: Option<InviteesCounter>,
    #[serde(default, deserialize_with = "lenient_vec")]
    pub event_memberships: Vec<EventMembership>,
    #[serde(default, deserialize_with = "lenient_vec")]
    pub event_guests: Vec<EventGuest>,
    #[serde(default)]
    pub meeting_notes_plain: Option<String>,
    #[serde(default)]
    pub meeting_notes_html: Option<String>,
    /// Present when the event is canceled.
    #[serde(default, deserialize_with = "lenient_option")]
    pub cancellation: Option<Cancellation>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ScheduledEvent {
    /// What to call the meeting: its name, or "Meeting" when Calendly sent none (`name` is
    /// nullable).
    pub fn title(&self) -> &str {
        self.name
            .as_deref()
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .unwrap_or(DEFAULT_MEETING_TITLE)
    }
}

/// The title of a meeting whose event has no name.
pub const DEFAULT_MEETING_TITLE: &str = "Meeting";

/// Where a meeting happens. One tolerant struct for every variant (`physical`, `zoom`,
/// `google_conference`, `outbound_call`, `custom`, …).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Location {
    /// `type` on the wire, e.g. `zoom`, `google_conference`, `physical`.
    #[serde(rename = "type", default, deserialize_with = "null_default")]
    pub kind: String,
    /// Address, phone number or free text, for non-conference variants.
    #[serde(default)]
    pub location: Option<String>,
    /// Conference link, for conference variants.
    #[serde(default)]
    pub join_url: Option<String>,
    /// Conference status: `initiated`, `processing`, `pushed`, `failed`.
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub additional_info: Option<String>,
    /// Provider-specific data (e.g. Zoom meeting id and password), kept as JSON.
    #[serde(default)]
    pub data: Option<serde_json::Value>,
}

/// `invitees_counter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct InviteesCounter {
    #[serde(default, deserialize_with = "null_default")]
    pub total: u32,
    #[serde(default, deserialize_with = "null_default")]
    pub active: u32,
    #[serde(default, deserialize_with = "null_default")]
    pub limit: u32,
}

/// A host of the event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventMembership {
    pub user: CalendlyUserUri,
    #[serde(default)]
    pub user_email: Option<String>,
    #[serde(default)]
    pub user_name: Option<String>,
}

/// An extra guest the invitee added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventGuest {
    pub email: String,
    #[serde(default, deserialize_with = "lenient_option")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient_option")]
    pub updated_at: Option<DateTime<Utc>>,
}

/// Who canceled an event or invitee, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cancellation {
    /// The canceler's name.
    #[serde(default, deserialize_with = "null_default")]
    pub canceled_by: String,
    #[serde(default)]
    pub reason: Option<String>,
    /// `host` or `invitee`.
    #[serde(default, deserialize_with = "null_default")]
    pub canceler_type: String,
    #[serde(default, deserialize_with = "lenient_option")]
    pub created_at: Option<DateTime<Utc>>,
}

/// A person booked onto an event: `GET /scheduled_events/{uuid}/invitees` and the body of the
/// webhook's invitee payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Invitee {
    pub uri: InviteeUri,
    #[serde(default, deserialize_with = "null_default")]
    pub email: String,
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    /// `null` when the event uses a single name field.
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    pub status: Status,
    #[serde(default)]
    pub timezone: Option<String>,
    /// The scheduled event this invitee booked.
    pub event: ScheduledEventUri,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default, deserialize_with = "lenient_vec")]
    pub questions_and_answers: Vec<QuestionAndAnswer>,
    #[serde(default, deserialize_with = "lenient_option")]
    pub tracking: Option<Tracking>,
    #[serde(default)]
    pub text_reminder_number: Option<String>,
    /// On `invitee.canceled`: true when the cancel is half of a reschedule.
    #[serde(default, deserialize_with = "null_default")]
    pub rescheduled: bool,
    /// On the `invitee.created` of a reschedule: the invitee it replaces.
    #[serde(default, deserialize_with = "lenient_option")]
    pub old_invitee: Option<InviteeUri>,
    /// On the `invitee.canceled` of a reschedule: the invitee that replaces it.
    #[serde(default, deserialize_with = "lenient_option")]
    pub new_invitee: Option<InviteeUri>,
    #[serde(default)]
    pub cancel_url: Option<String>,
    #[serde(default)]
    pub reschedule_url: Option<String>,
    #[serde(default)]
    pub routing_form_submission: Option<String>,
    #[serde(default)]
    pub payment: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "lenient_option")]
    pub no_show: Option<NoShow>,
    #[serde(default)]
    pub reconfirmation: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "lenient_option")]
    pub cancellation: Option<Cancellation>,
    /// `instant_book`, `api` or null.
    #[serde(default)]
    pub scheduling_method: Option<String>,
    #[serde(default)]
    pub invitee_scheduled_by: Option<String>,
}

/// One answer to a booking question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuestionAndAnswer {
    #[serde(default, deserialize_with = "null_default")]
    pub question: String,
    #[serde(default, deserialize_with = "null_default")]
    pub answer: String,
    #[serde(default, deserialize_with = "null_default")]
    pub position: i64,
}

/// UTM and Salesforce tracking of a booking.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Tracking {
    #[serde(default)]
    pub utm_campaign: Option<String>,
    #[serde(default)]
    pub utm_source: Option<String>,
    #[serde(default)]
    pub utm_medium: Option<String>,
    #[serde(default)]
    pub utm_content: Option<String>,
    #[serde(default)]
    pub utm_term: Option<String>,
    #[serde(default)]
    pub salesforce_uuid: Option<String>,
}

/// The invitee was marked as a no-show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoShow {
    /// `…/invitee_no_shows/{uuid}`.
    pub uri: String,
    #[serde(default, deserialize_with = "lenient_option")]
    pub created_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_with_a_null_name_and_odd_fields_still_decodes() {
        let event: ScheduledEvent = serde_json::from_str(
            r#"{"uri":"https://api.calendly.com/scheduled_events/E1","name":null,"status":"active",
                "start_time":"2026-11-20T10:00:00.000000Z","end_time":"2026-11-20T10:30:00.000000Z",
                "event_type":"not a uri","location":{"type":"microsoft_teams_conference","status":"processing","join_url":null},
                "invitees_counter":{"total":1,"active":null,"limit":1},
                "event_memberships":[{"user":"https://api.calendly.com/users/U1","user_email":null},{"user":null}],
                "event_guests":null,"meeting_notes_plain":null,"cancellation":null,"calendar_event":null,
                "created_at":"2026-11-01T10:00:00.000000Z","updated_at":"2026-11-01T10:00:00.000000Z"}"#,
        )
        .unwrap();
        assert_eq!(event.name, None);
        assert_eq!(event.title(), "Meeting");
        assert_eq!(
            event.event_type, None,
            "a malformed URI is dropped, not fatal"
        );
        let location = event.location.unwrap();
        assert_eq!(location.kind, "microsoft_teams_conference");
        assert_eq!(location.join_url, None);
        assert_eq!(event.invitees_counter.unwrap().active, 0);
        assert_eq!(
            event.event_memberships.len(),
            1,
            "the unreadable host is skipped"
        );
        assert!(event.event_guests.is_empty());
    }

    #[test]
    fn an_invitee_with_nulls_everywhere_optional_still_decodes() {
        let invitee: Invitee = serde_json::from_str(
            r#"{"uri":"https://api.calendly.com/scheduled_events/E1/invitees/I1","email":"a@example.com","name":null,
                "first_name":null,"last_name":null,"status":"active","timezone":null,
                "event":"https://api.calendly.com/scheduled_events/E1",
                "created_at":"2026-11-01T10:00:00.000000Z","updated_at":"2026-11-01T10:00:00.000000Z",
                "questions_and_answers":[{"question":"Company","answer":null,"position":0},7],
                "tracking":{"utm_campaign":null},"rescheduled":null,"old_invitee":null,"new_invitee":null,
                "cancel_url":null,"reschedule_url":null,"no_show":null,"cancellation":null,"payment":null}"#,
        )
        .unwrap();
        assert_eq!(invitee.name, "");
        assert!(!invitee.rescheduled);
        assert_eq!(invitee.questions_and_answers.len(), 1);
        assert_eq!(invitee.questions_and_answers[0].answer, "");
    }

    #[test]
    fn one_undecodable_event_does_not_cost_the_page() {
        let page: Page<ScheduledEvent> = serde_json::from_str(
            r#"{"collection":[
                {"uri":"https://api.calendly.com/scheduled_events/E1","name":"Review","status":"active",
                 "start_time":"2026-11-20T10:00:00.000000Z","end_time":"2026-11-20T10:30:00.000000Z",
                 "created_at":"2026-11-01T10:00:00.000000Z","updated_at":"2026-11-01T10:00:00.000000Z"},
                {"uri":"https://api.calendly.com/scheduled_events/E2","status":"active","start_time":null}
               ],"pagination":{"count":2,"next_page_token":null}}"#,
        )
        .unwrap();
        assert_eq!(page.collection.len(), 1);
        assert_eq!(page.collection[0].title(), "Review");
    }

    #[test]
    fn unknown_enum_values_are_kept_not_rejected() {
        let state: SubscriptionState = serde_json::from_str("\"paused\"").unwrap();
        assert_eq!(state, SubscriptionState::Other("paused".into()));
        let scope: SubscriptionScope = serde_json::from_str("\"group\"").unwrap();
        assert_eq!(scope, SubscriptionScope::Group);
        assert_eq!(
            serde_json::to_string(&Status::Canceled).unwrap(),
            "\"canceled\""
        );
    }

    #[test]
    fn a_page_reads_the_next_page_token_from_pagination() {
        let page: Page<u32> = serde_json::from_str(
            r#"{"collection":[1,2],"pagination":{"count":2,"next_page":"https://api.calendly.com/x?page_token=abc","previous_page":null,"next_page_token":"abc","previous_page_token":null}}"#,
        )
        .unwrap();
        assert_eq!(page.collection, [1, 2]);
        assert_eq!(page.next_page_token.as_deref(), Some("abc"));

        let last: Page<u32> = serde_json::from_str(
            r#"{"collection":[],"pagination":{"count":0,"next_page":null,"next_page_token":null}}"#,
        )
        .unwrap();
        assert_eq!(last.next_page_token, None);
    }

    #[test]
    fn the_documented_user_deserializes() {
        let wrapped: Resource<User> =
            serde_json::from_str(include_str!("../tests/fixtures/user_me.json")).unwrap();
        let user = wrapped.resource;
        assert_eq!(user.email, "host@example.com");
        assert_eq!(user.timezone, "Europe/London");
        assert_eq!(
            user.current_organization.uuid(),
            "9a4f1c2e-3b5d-4e6f-8a7b-0c1d2e3f4a5b"
        );
        assert_eq!(user.avatar_url, None);
    }

    #[test]
    fn a_minimal_user_without_optional_fields_deserializes() {
        let user: User = serde_json::from_str(
            r#"{"uri":"http://127.0.0.1:9/users/AAAAAAAAAAAAAAAA","name":"A","email":"a@example.com","current_organization":"http://127.0.0.1:9/organizations/BBBBBBBBBBBBBBBB","brand_new_field":{"x":1}}"#,
        )
        .unwrap();
        assert_eq!(user.slug, "");
        assert_eq!(user.created_at, None);
    }

    #[test]
    fn the_documented_201_subscription_deserializes() {
        let wrapped: Resource<WebhookSubscription> = serde_json::from_str(include_str!(
            "../tests/fixtures/webhook_subscription_created.json"
        ))
        .unwrap();
        let sub = wrapped.resource;
        assert_eq!(sub.uri.uuid(), "AAAAAAAAAAAAAAAA");
        assert_eq!(sub.state, SubscriptionState::Active);
        assert_eq!(sub.scope, SubscriptionScope::User);
        assert_eq!(sub.events, ["invitee.created", "invitee.canceled"]);
        assert_eq!(sub.retry_started_at, None);
        assert_eq!(sub.group, None);
        assert_eq!(sub.creator.unwrap().uuid(), "BBBBBBBBBBBBBBBB");
    }
}
