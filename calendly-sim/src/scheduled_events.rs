//! Scheduled events and invitees (calendly-api.md §8): the API endpoints and the Event / Invitee
//! resources shared with webhook payloads (§6.2–§6.6). Keys are declared alphabetically, as real
//! captures serialize them, except `tracking` and `invitees_counter`, which keep schema order.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::auth::Caller;
use crate::clock::timestamp;
use crate::errors::{
    ApiError, Detail, ALSO_SPECIFY_ORGANIZATION, NOT_ALLOWED_TO_VIEW_EVENT, NOT_YOUR_ORGANIZATION,
    NO_ACCESS, USER_NOT_IN_ORGANIZATION,
};
use crate::pagination::{Collection, PageRequest, Params, Resource};
use crate::state::{id_of, Cancellation, EventRecord, InviteeRecord, State as SimState, Status};
use crate::Simulator;

#[derive(Clone, Debug, Serialize)]
pub(crate) struct CancellationView {
    canceled_by: String,
    canceler_type: &'static str,
    created_at: String,
    reason: Option<String>,
}

impl From<&Cancellation> for CancellationView {
    fn from(c: &Cancellation) -> Self {
        Self {
            canceled_by: c.canceled_by.clone(),
            canceler_type: c.canceler_type.as_str(),
            created_at: timestamp(&c.created_at),
            reason: c.reason.clone(),
        }
    }
}

/// One `event_guests` entry (keys alphabetical).
#[derive(Clone, Debug, Serialize)]
struct Guest {
    created_at: String,
    email: String,
    updated_at: String,
}

#[derive(Clone, Debug, Serialize)]
struct Membership {
    user: String,
    user_email: String,
    user_name: String,
}

/// Schema order, not alphabetical (as in real captures).
#[derive(Clone, Debug, Serialize)]
struct InviteesCounter {
    total: usize,
    active: usize,
    limit: u32,
}

/// The Event resource; `calendar_event` only appears in API responses, not in payloads.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct EventResource {
    #[serde(skip_serializing_if = "Option::is_none")]
    calendar_event: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cancellation: Option<CancellationView>,
    created_at: String,
    end_time: String,
    event_guests: Vec<Guest>,
    event_memberships: Vec<Membership>,
    event_type: String,
    invitees_counter: InviteesCounter,
    location: Value,
    meeting_notes_html: Option<String>,
    meeting_notes_plain: Option<String>,
    name: Option<String>,
    start_time: String,
    status: &'static str,
    updated_at: String,
    uri: String,
}

#[derive(Clone, Debug, Serialize)]
struct QuestionAndAnswer {
    answer: String,
    position: usize,
    question: String,
}

#[derive(Clone, Debug, Serialize)]
struct NoShowView {
    created_at: String,
    uri: String,
}

/// Schema order, not alphabetical (as in real captures).
#[derive(Clone, Debug, Default, Serialize)]
struct Tracking {
    utm_campaign: Option<String>,
    utm_source: Option<String>,
    utm_medium: Option<String>,
    utm_content: Option<String>,
    utm_term: Option<String>,
    salesforce_uuid: Option<String>,
}

/// The Invitee resource; webhook payloads embed `scheduled_event`, the API omits it.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct InviteeResource {
    cancel_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    cancellation: Option<CancellationView>,
    created_at: String,
    email: String,
    event: String,
    first_name: Option<String>,
    invitee_scheduled_by: Option<String>,
    last_name: Option<String>,
    name: String,
    new_invitee: Option<String>,
    no_show: Option<NoShowView>,
    old_invitee: Option<String>,
    payment: Option<Value>,
    questions_and_answers: Vec<QuestionAndAnswer>,
    reconfirmation: Option<Value>,
    reschedule_url: String,
    rescheduled: bool,
    routing_form_submission: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scheduled_event: Option<EventResource>,
    scheduling_method: Option<String>,
    status: &'static str,
    text_reminder_number: Option<String>,
    timezone: String,
    tracking: Tracking,
    updated_at: String,
    uri: String,
}

impl Simulator {
    /// The Event resource; `api` adds `calendar_event: null` (payloads don't carry it).
    pub(crate) fn event_resource(
        &self,
        st: &SimState,
        ev: &EventRecord,
        api: bool,
    ) -> EventResource {
        let membership = |user: &str| {
            let found = st.users.get(user);
            Membership {
                user: self.uri("users", user),
                user_email: found.map(|h| h.email.clone()).unwrap_or_default(),
                user_name: found.map(|h| h.name.clone()).unwrap_or_default(),
            }
        };
        let invitees = ev.invitees.iter().filter_map(|id| st.invitees.get(id));
        let (total, active) = invitees.fold((0, 0), |(t, a), i| {
            (t + 1, a + usize::from(i.status == Status::Active))
        });
        EventResource {
            calendar_event: api.then_some(Value::Null),
            cancellation: ev.cancellation.as_ref().map(CancellationView::from),
            created_at: timestamp(&ev.created_at),
            end_time: timestamp(&ev.end),
            event_guests: ev
                .guests
                .iter()
                .map(|g| Guest {
                    created_at: timestamp(&g.created_at),
                    email: g.email.clone(),
                    updated_at: timestamp(&g.updated_at),
                })
                .collect(),
            event_memberships: ev.hosts().map(membership).collect(),
            event_type: self.uri("event_types", &ev.event_type),
            invitees_counter: InviteesCounter {
                total,
                active,
                limit: ev.limit,
            },
            location: ev.location.clone(),
            meeting_notes_html: None,
            meeting_notes_plain: None,
            name: ev.name.clone(),
            start_time: timestamp(&ev.start),
            status: ev.status.as_str(),
            updated_at: timestamp(&ev.updated_at),
            uri: self.uri("scheduled_events", &ev.uuid),
        }
    }

    /// The Invitee resource; `embed_event` adds `scheduled_event` (webhook payloads).
    pub(crate) fn invitee_resource(
        &self,
        st: &SimState,
        inv: &InviteeRecord,
        embed_event: bool,
    ) -> InviteeResource {
        let scheduled_event = if embed_event {
            st.events
                .get(&inv.event)
                .map(|ev| self.event_resource(st, ev, false))
        } else {
            None
        };
        InviteeResource {
            cancel_url: format!("https://calendly.com/cancellations/{}", inv.uuid),
            cancellation: inv.cancellation.as_ref().map(CancellationView::from),
            created_at: timestamp(&inv.created_at),
            email: inv.email.clone(),
            event: self.uri("scheduled_events", &inv.event),
            first_name: None,
            invitee_scheduled_by: None,
            last_name: None,
            name: inv.name.clone(),
            new_invitee: inv.new_invitee.clone(),
            no_show: inv.no_show.as_ref().map(|n| NoShowView {
                created_at: timestamp(&n.created_at),
                uri: self.uri("invitee_no_shows", &n.uuid),
            }),
            old_invitee: inv.old_invitee.clone(),
            payment: None,
            questions_and_answers: inv
                .questions
                .iter()
                .enumerate()
                .map(|(position, (q, a))| QuestionAndAnswer {
                    answer: a.clone(),
                    position,
                    question: q.clone(),
                })
                .collect(),
            reconfirmation: None,
            reschedule_url: format!("https://calendly.com/reschedulings/{}", inv.uuid),
            rescheduled: inv.rescheduled,
            routing_form_submission: None,
            scheduled_event,
            scheduling_method: None,
            status: inv.status.as_str(),
            text_reminder_number: None,
            timezone: inv.timezone.clone(),
            tracking: Tracking::default(),
            updated_at: timestamp(&inv.updated_at),
            uri: self.invitee_uri(&inv.event, &inv.uuid),
        }
    }
}

/// Which events a list request may see.
enum Audience {
    /// Events this user uuid hosts (as the booked host or a co-host).
    User(String),
    /// Events of this organization uuid.
    Organization(String),
}

impl Audience {
    fn includes(&self, ev: &EventRecord) -> bool {
        match self {
            Audience::User(user) => ev.hosted_by(user),
            Audience::Organization(org) => ev.org == *org,
        }
    }
}

/// The §8.1 role rules for `user` / `organization` / `group`.
fn audience(st: &SimState, caller: &Caller, params: &Params) -> Result<Audience, ApiError> {
    let user = params
        .get("user")
        .map(|u| id_of(u, "users").unwrap_or_default().to_string());
    if params.get("group").is_some() {
        // The simulator has no groups, so every group URI is unknown.
        return Err(ApiError::not_found());
    }
    let member_of = |user: &str, org: &str| st.users.get(user).is_some_and(|u| u.org == org);
    match (params.get("organization"), user) {
        (Some(org_uri), user) => {
            let org = id_of(org_uri, "organizations").filter(|id| *id == caller.org);
            let Some(org) = org else {
                return Err(ApiError::permission_denied(NOT_YOUR_ORGANIZATION));
            };
            match user {
                Some(user) if !member_of(&user, org) => {
                    Err(ApiError::permission_denied(USER_NOT_IN_ORGANIZATION))
                }
                Some(user) if user == caller.user || caller.is_admin() => Ok(Audience::User(user)),
                None if caller.is_admin() => Ok(Audience::Organization(org.to_string())),
                _ => Err(ApiError::permission_denied(NO_ACCESS)),
            }
        }
        (None, Some(user)) if user == caller.user => Ok(Audience::User(user)),
        (None, Some(user)) if member_of(&user, &caller.org) => {
            Err(ApiError::permission_denied(if caller.is_admin() {
                ALSO_SPECIFY_ORGANIZATION
            } else {
                NO_ACCESS
            }))
        }
        (None, Some(_)) => Err(ApiError::permission_denied(USER_NOT_IN_ORGANIZATION)),
        (None, None) => Err(ApiError::invalid_argument(vec![Detail::missing("user")])),
    }
}

/// Hosts (co-hosts too) see their events; admins and owners see every event of their
/// organization.
fn can_view(caller: &Caller, ev: &EventRecord) -> bool {
    ev.hosted_by(&caller.user) || (caller.is_admin() && ev.org == caller.org)
}

fn parse_time(params: &Params, key: &str, details: &mut Vec<Detail>) -> Option<DateTime<Utc>> {
    let raw = params.get(key)?;
    match DateTime::parse_from_rfc3339(raw) {
        Ok(at) => Some(at.with_timezone(&Utc)),
        Err(_) => {
            details.push(Detail::invalid(
                key,
                "must be an ISO-8601 time such as 2020-01-02T12:30:00.000000Z",
            ));
            None
        }
    }
}

fn parse_status(params: &Params, details: &mut Vec<Detail>) -> Option<Status> {
    match params.get("status")? {
        "active" => Some(Status::Active),
        "canceled" => Some(Status::Canceled),
        _ => {
            details.push(Detail::invalid("status", "must be one of active, canceled"));
            None
        }
    }
}

/// True for `{field}:desc`, false for `{field}:asc` or no sort.
fn parse_sort(params: &Params, field: &str, details: &mut Vec<Detail>) -> bool {
    match params.get("sort") {
        None => false,
        Some(raw) if raw == format!("{field}:asc") => false,
        Some(raw) if raw == format!("{field}:desc") => true,
        Some(_) => {
            details.push(Detail::invalid(
                "sort",
                &format!("must be one of {field}:asc, {field}:desc"),
            ));
            false
        }
    }
}

fn path_id(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    path.map(|Path(id)| id).map_err(|_| ApiError::not_found())
}

/// `GET /scheduled_events` (scope `scheduled_events:read`).
#[tracing::instrument(skip_all, fields(user = %caller.user))]
pub(crate) async fn list(
    State(sim): State<Simulator>,
    Extension(caller): Extension<Caller>,
    RawQuery(query): RawQuery,
) -> Result<Json<Collection<EventResource>>, ApiError> {
    caller.require("scheduled_events:read")?;
    let params = Params::parse(query.as_deref());
    let page = PageRequest::from_params(&params)?;
    let mut details = Vec::new();
    let status = parse_status(&params, &mut details);
    let descending = parse_sort(&params, "start_time", &mut details);
    let min = parse_time(&params, "min_start_time", &mut details);
    let max = parse_time(&params, "max_start_time", &mut details);
    if !details.is_empty() {
        return Err(ApiError::invalid_argument(details));
    }
    let email = params.get("invitee_email").map(str::to_lowercase);

    let st = sim.state();
    let audience = audience(&st, &caller, &params)?;
    let has_invitee = |ev: &EventRecord, email: &str| {
        ev.invitees
            .iter()
            .filter_map(|id| st.invitees.get(id))
            .any(|i| i.email.eq_ignore_ascii_case(email))
    };
    let mut events: Vec<&EventRecord> = st
        .events
        .values()
        .filter(|ev| audience.includes(ev))
        .filter(|ev| status.is_none_or(|s| ev.status == s))
        .filter(|ev| min.is_none_or(|m| ev.start >= m) && max.is_none_or(|m| ev.start < m))
        .filter(|ev| email.as_deref().is_none_or(|e| has_invitee(ev, e)))
        .collect();
    events.sort_by_key(|ev| (ev.start, ev.seq));
    if descending {
        events.reverse();
    }
    let (events, pagination) = page.apply(events, &sim.base_url(), "/scheduled_events", &params);
    let collection = events
        .into_iter()
        .map(|ev| sim.event_resource(&st, ev, true))
        .collect();
    Ok(Json(Collection {
        collection,
        pagination,
    }))
}

/// `GET /scheduled_events/{uuid}`.
#[tracing::instrument(skip_all, fields(user = %caller.user))]
pub(crate) async fn show(
    State(sim): State<Simulator>,
    Extension(caller): Extension<Caller>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Resource<EventResource>>, ApiError> {
    caller.require("scheduled_events:read")?;
    let id = path_id(path)?;
    let st = sim.state();
    let ev = st.events.get(&id).ok_or_else(ApiError::not_found)?;
    if !can_view(&caller, ev) {
        return Err(ApiError::permission_denied(NO_ACCESS));
    }
    Ok(Json(Resource {
        resource: sim.event_resource(&st, ev, true),
    }))
}

/// `GET /scheduled_events/{uuid}/invitees` (`status`, `sort`, `email`, `count`, `page_token`).
#[tracing::instrument(skip_all, fields(user = %caller.user))]
pub(crate) async fn invitees(
    State(sim): State<Simulator>,
    Extension(caller): Extension<Caller>,
    path: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Json<Collection<InviteeResource>>, ApiError> {
    caller.require("scheduled_events:read")?;
    let id = path_id(path)?;
    let params = Params::parse(query.as_deref());
    let page = PageRequest::from_params(&params)?;
    let mut details = Vec::new();
    let status = parse_status(&params, &mut details);
    let descending = parse_sort(&params, "created_at", &mut details);
    if !details.is_empty() {
        return Err(ApiError::invalid_argument(details));
    }
    let st = sim.state();
    let ev = st.events.get(&id).ok_or_else(ApiError::not_found)?;
    if !can_view(&caller, ev) {
        return Err(ApiError::permission_denied(NOT_ALLOWED_TO_VIEW_EVENT));
    }
    let email = params.get("email");
    let mut invitees: Vec<&InviteeRecord> = ev
        .invitees
        .iter()
        .filter_map(|i| st.invitees.get(i))
        .filter(|i| status.is_none_or(|s| i.status == s))
        .filter(|i| email.is_none_or(|e| i.email.eq_ignore_ascii_case(e)))
        .collect();
    invitees.sort_by_key(|i| (i.created_at, i.seq));
    if descending {
        invitees.reverse();
    }
    let path = format!("/scheduled_events/{id}/invitees");
    let (invitees, pagination) = page.apply(invitees, &sim.base_url(), &path, &params);
    let collection = invitees
        .into_iter()
        .map(|i| sim.invitee_resource(&st, i, false))
        .collect();
    Ok(Json(Collection {
        collection,
        pagination,
    }))
}

/// `GET /scheduled_events/{event_uuid}/invitees/{invitee_uuid}`.
#[tracing::instrument(skip_all, fields(user = %caller.user))]
pub(crate) async fn invitee(
    State(sim): State<Simulator>,
    Extension(caller): Extension<Caller>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Json<Resource<InviteeResource>>, ApiError> {
    caller.require("scheduled_events:read")?;
    let Ok(Path((event_id, invitee_id))) = path else {
        return Err(ApiError::not_found());
    };
    let st = sim.state();
    let ev = st.events.get(&event_id).ok_or_else(ApiError::not_found)?;
    let inv = st
        .invitees
        .get(&invitee_id)
        .filter(|i| i.event == event_id)
        .ok_or_else(ApiError::not_found)?;
    if !can_view(&caller, ev) {
        return Err(ApiError::permission_denied(NOT_ALLOWED_TO_VIEW_EVENT));
    }
    Ok(Json(Resource {
        resource: sim.invitee_resource(&st, inv, false),
    }))
}
