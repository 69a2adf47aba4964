//! A typed client for the Calendly API v2, its OAuth flow, and its webhooks.
//!
//! Only a client: one method per endpoint, typed requests and responses, one [`Error`] built
//! from the HTTP status. No storage, no UI, no business rules.
//!
//! - [`Client`]: `/users/me`, webhook subscriptions, scheduled events and invitees.
//! - [`oauth::CalendlyOAuth`]: authorize URL (PKCE), code exchange, refresh, revoke.
//! - [`webhook`]: `Calendly-Webhook-Signature` parsing/signing/verification and payload types.
//! - [`ids`] and [`secrets`]: URIs parsed at the boundary; secrets that never print.

mod client;
mod error;
pub mod ids;
mod lenient;
pub mod oauth;
pub mod secrets;
pub mod types;
pub mod webhook;

pub use client::{
    Client, CreateWebhookSubscription, ListInvitees, ListScheduledEvents, ListWebhookSubscriptions,
};
pub use error::{Error, ErrorDetail, RateLimit};
pub use oauth::http_client;
pub use types::{
    Cancellation, EventGuest, EventMembership, Invitee, InviteesCounter, Location, NoShow, Page,
    QuestionAndAnswer, ScheduledEvent, Status, SubscriptionScope, SubscriptionState, Tracking,
    User, WebhookSubscription, DEFAULT_MEETING_TITLE,
};

/// The OAuth scopes this integration asks for (n8n's verified minimal set). Without
/// `scheduled_events:read`, creating an `invitee.*` subscription fails with a 400.
pub const REQUIRED_SCOPES: &str = "users:read webhooks:read webhooks:write scheduled_events:read";

/// The webhook events whose payload is an [`webhook::InviteePayload`].
pub const INVITEE_EVENTS: [&str; 4] = [
    "invitee.created",
    "invitee.canceled",
    "invitee_no_show.created",
    "invitee_no_show.deleted",
];
