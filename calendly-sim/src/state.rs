//! Everything the simulator remembers, behind one `std::sync::Mutex` (never held across `.await`).

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use tokio::sync::mpsc::UnboundedSender;

use crate::bookings::Canceler;
use crate::deliveries::{DeliveryAttempt, FailureRule, Job};
use crate::subscriptions::{CreatedWith, SubscriptionScope, SubscriptionState};
use crate::users::{Plan, Role, UserOrigin};

#[derive(Default)]
pub(crate) struct State {
    /// Monotonic counter giving records a stable creation order.
    seq: u64,
    pub orgs: HashMap<String, OrgRecord>,
    pub users: HashMap<String, UserRecord>,
    /// The consent page's preset user, set only by tests (`set_consent_user`): used when a
    /// browser with no session cookie clicks Allow without typing an email. Consenting never
    /// sets it.
    pub consent_user: Option<String>,
    /// Consent-page browser sessions: `calendly_sim_session` cookie token → user uuid signed in
    /// from that browser.
    pub consent_sessions: HashMap<String, String>,
    pub codes: HashMap<String, AuthCode>,
    pub grants: Vec<Grant>,
    /// Access and refresh tokens → index into `grants`.
    pub tokens: HashMap<String, TokenRef>,
    pub token_issuance: HashMap<String, Window>,
    /// User uuid → this minute's API requests (every token of the user, 429s included).
    pub api_usage: HashMap<String, Window>,
    /// User uuid → every API request ever made with the user's tokens (429s included).
    pub api_calls: HashMap<String, u64>,
    pub events: HashMap<String, EventRecord>,
    pub invitees: HashMap<String, InviteeRecord>,
    /// (host uuid, event name) → event type uuid, so repeat bookings share an event type.
    pub event_types: HashMap<(String, Option<String>), String>,
    pub subscriptions: HashMap<String, SubscriptionRecord>,
    pub deliveries: Vec<DeliveryAttempt>,
    pub failures: Vec<FailureRule>,
    /// One first-attempt queue per subscription, so its deliveries start in publication order.
    pub workers: HashMap<String, UnboundedSender<Job>>,
}

impl State {
    pub(crate) fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    pub(crate) fn user_by_email(&self, email: &str) -> Option<&UserRecord> {
        self.users
            .values()
            .find(|u| u.email.eq_ignore_ascii_case(email.trim()))
    }
}

pub(crate) struct OrgRecord {
    pub name: String,
}

pub(crate) struct UserRecord {
    pub uuid: String,
    pub seq: u64,
    pub name: String,
    pub slug: String,
    pub email: String,
    pub org: String,
    pub plan: Plan,
    pub role: Role,
    pub timezone: String,
    pub created_from: CreatedFrom,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// How a user came to exist, which decides who may sign in as them on the consent page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum CreatedFrom {
    /// By a test or program (`create_user`, `POST /_sim/users`): anyone may claim it by email.
    Program,
    /// Typed into the consent page: it belongs to the browser session that created it.
    ConsentPage { session: String },
}

impl CreatedFrom {
    pub(crate) fn origin(&self) -> UserOrigin {
        match self {
            CreatedFrom::Program => UserOrigin::Program,
            CreatedFrom::ConsentPage { .. } => UserOrigin::ConsentPage,
        }
    }
}

pub(crate) struct AuthCode {
    pub user: String,
    pub redirect_uri: String,
    pub scope_text: String,
    pub scopes: Option<BTreeSet<String>>,
    pub code_challenge: Option<String>,
    pub expires_at: DateTime<Utc>,
    pub used: bool,
}

/// One issued access token (with its refresh token for OAuth), or one personal access token.
pub(crate) struct Grant {
    pub user: String,
    pub via: CreatedWith,
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub scope_text: String,
    /// `None` = full access (legacy `default` scope, or an unscoped PAT).
    pub scopes: Option<BTreeSet<String>>,
    pub issued_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked: bool,
    pub refresh_used: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TokenKind {
    Access,
    Refresh,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct TokenRef {
    pub grant: usize,
    pub kind: TokenKind,
}

/// A fixed one-minute counting window.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Window {
    start: DateTime<Utc>,
    count: u32,
}

/// The outcome of counting one request against a window.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WindowHit {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the window resets.
    pub reset: i64,
}

impl Window {
    pub(crate) fn new(now: DateTime<Utc>) -> Self {
        Self {
            start: now,
            count: 0,
        }
    }

    /// Starts a new window when a minute has passed since this one began.
    fn roll(&mut self, now: DateTime<Utc>) {
        if now >= self.start + Duration::minutes(1) || now < self.start {
            *self = Self::new(now);
        }
    }

    fn report(&self, now: DateTime<Utc>, limit: u32, allowed: bool) -> WindowHit {
        let reset = ((self.start + Duration::minutes(1)) - now)
            .num_milliseconds()
            .max(0);
        WindowHit {
            allowed,
            limit,
            remaining: limit.saturating_sub(self.count),
            reset: (reset + 999) / 1000,
        }
    }

    /// Counts one request if the limit allows it (refused requests are not counted).
    pub(crate) fn hit(&mut self, now: DateTime<Utc>, limit: u32) -> WindowHit {
        self.roll(now);
        let allowed = self.count < limit;
        if allowed {
            self.count += 1;
        }
        self.report(now, limit, allowed)
    }

    /// Counts one request whether or not it is allowed: refused requests use up the window too.
    pub(crate) fn count_every(&mut self, now: DateTime<Utc>, limit: u32) -> WindowHit {
        self.roll(now);
        let allowed = self.count < limit;
        self.count = self.count.saturating_add(1);
        self.report(now, limit, allowed)
    }

    /// Spends `n` requests of the current window (made elsewhere, e.g. another integration).
    pub(crate) fn spend(&mut self, now: DateTime<Utc>, n: u32) {
        self.roll(now);
        self.count = self.count.saturating_add(n);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    Active,
    Canceled,
}

impl Status {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Canceled => "canceled",
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Cancellation {
    pub canceled_by: String,
    pub reason: Option<String>,
    pub canceler_type: Canceler,
    pub created_at: DateTime<Utc>,
}

/// One `event_guests` entry.
#[derive(Clone, Debug)]
pub(crate) struct GuestRecord {
    pub email: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub(crate) struct EventRecord {
    pub uuid: String,
    pub seq: u64,
    /// `None` serializes as `"name": null` (the field is nullable upstream).
    pub name: Option<String>,
    /// The booked user's uuid (first `event_memberships` entry).
    pub host: String,
    /// Further hosts' uuids, in order (collective / round-robin-with-several-hosts events).
    pub co_hosts: Vec<String>,
    pub guests: Vec<GuestRecord>,
    pub org: String,
    pub event_type: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub location: Value,
    pub limit: u32,
    /// Invitee uuids in booking order.
    pub invitees: Vec<String>,
    pub status: Status,
    pub cancellation: Option<Cancellation>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl EventRecord {
    /// Every host's uuid: the booked host first, then the co-hosts.
    pub(crate) fn hosts(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.host.as_str()).chain(self.co_hosts.iter().map(String::as_str))
    }

    /// Whether this user uuid is one of the event's hosts.
    pub(crate) fn hosted_by(&self, user: &str) -> bool {
        self.hosts().any(|h| h == user)
    }
}

#[derive(Clone, Debug)]
pub(crate) struct NoShow {
    pub uuid: String,
    pub created_at: DateTime<Utc>,
}

pub(crate) struct InviteeRecord {
    pub uuid: String,
    pub seq: u64,
    pub event: String,
    pub name: String,
    pub email: String,
    pub timezone: String,
    pub questions: Vec<(String, String)>,
    pub status: Status,
    pub cancellation: Option<Cancellation>,
    pub rescheduled: bool,
    /// Full URIs, as they appear in payloads.
    pub old_invitee: Option<String>,
    pub new_invitee: Option<String>,
    pub no_show: Option<NoShow>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub(crate) struct SubscriptionRecord {
    pub uuid: String,
    pub seq: u64,
    pub callback_url: String,
    pub events: Vec<String>,
    pub scope: SubscriptionScope,
    pub org: String,
    pub user: Option<String>,
    pub group: Option<String>,
    pub creator: String,
    pub signing_key: Option<String>,
    pub created_with: CreatedWith,
    pub state: SubscriptionState,
    pub retry_started_at: Option<DateTime<Utc>>,
    /// Start of the current run of failures (cleared by a success); drives disabling.
    pub failing_since: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The id at the end of a resource URI (`…/{collection}/{id}`), or a bare id.
pub(crate) fn id_of<'a>(uri: &'a str, collection: &str) -> Option<&'a str> {
    let trimmed = uri.trim().trim_end_matches('/');
    if trimmed.is_empty() {
        return None;
    }
    match trimmed.rsplit_once('/') {
        None => Some(trimmed),
        Some((head, id)) => {
            let parent = head.rsplit('/').next()?;
            (parent == collection && !id.is_empty()).then_some(id)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_come_from_the_end_of_uris_of_the_right_collection() {
        assert_eq!(id_of("http://127.0.0.1:9/users/abc", "users"), Some("abc"));
        assert_eq!(id_of("abc", "users"), Some("abc"));
        assert_eq!(id_of("http://x/organizations/abc", "users"), None);
        assert_eq!(
            id_of("http://x/scheduled_events/e/invitees/i", "invitees"),
            Some("i")
        );
        assert_eq!(id_of("", "users"), None);
    }

    #[test]
    fn a_window_refuses_past_its_limit_then_resets_after_a_minute() {
        let now = Utc::now();
        let mut window = Window::new(now);
        assert!(window.hit(now, 2).allowed);
        let second = window.hit(now, 2);
        assert!(second.allowed);
        assert_eq!(second.remaining, 0);
        assert!(!window.hit(now, 2).allowed);
        assert!(window.hit(now + Duration::seconds(61), 2).allowed);
    }

    #[test]
    fn a_counting_window_counts_refused_requests_and_spent_ones() {
        let now = Utc::now();
        let mut window = Window::new(now);
        window.spend(now, 2);
        let refused = window.count_every(now, 2);
        assert!(!refused.allowed);
        assert_eq!(window.count, 3);
        assert!(window.count_every(now + Duration::seconds(60), 2).allowed);
    }
}
