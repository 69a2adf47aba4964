//! `/_sim/*`: a JSON control surface over the library methods, for black-box tests and for
//! people poking at sandbox mode with curl. Errors use the Calendly error shape.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;

use crate::bookings::{Booking, Canceler};
use crate::clock::timestamp;
use crate::deliveries::FailureRule;
use crate::errors::{ApiError, Detail, SimError};
use crate::pagination::Params;
use crate::users::{NewUser, Plan, Role};
use crate::Simulator;

pub(crate) fn router() -> Router<Simulator> {
    Router::new()
        .route("/config", get(config))
        .route("/users", get(users).post(create_user))
        .route("/users/plan", post(set_plan))
        .route("/users/role", post(set_role))
        .route("/users/organization", post(move_user_to_organization))
        .route("/organizations", post(create_organization))
        .route("/consent_user", post(set_consent_user))
        .route("/tokens", post(issue_token))
        .route("/tokens/revoke_all", post(revoke_all_tokens))
        .route("/book", post(book))
        .route("/cancel", post(cancel))
        .route("/reschedule", post(reschedule))
        .route("/no_show", post(mark_no_show).delete(unmark_no_show))
        .route("/push_conference_link", post(push_conference_link))
        .route("/switches", get(switches).post(set_switches))
        .route("/api_calls", get(api_calls))
        .route("/rate_limit/consume", post(consume_rate_limit))
        .route("/clock", get(clock))
        .route("/clock/advance", post(advance_clock))
        .route("/failures", post(inject_failure).delete(clear_failures))
        .route("/deliveries", get(deliveries))
        .route("/subscriptions", get(subscriptions))
        .route("/subscriptions/disable", post(disable_subscription))
        .route("/idle", get(wait_idle))
}

type Reply = Result<Response, ApiError>;

/// Parses a JSON body; an empty body counts as `{}`.
fn parse<T: DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> Result<T, ApiError> {
    let body = body.map_err(|_| ApiError::invalid_argument(Vec::new()))?;
    let raw: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        &body
    };
    serde_json::from_slice(raw).map_err(|e| {
        ApiError::invalid_argument(vec![Detail {
            parameter: None,
            message: e.to_string(),
        }])
    })
}

fn ok(value: serde_json::Value) -> Reply {
    Ok(Json(value).into_response())
}

/// `GET /_sim/config`: base URL and the OAuth app's credentials (this is a local sandbox).
async fn config(State(sim): State<Simulator>) -> Reply {
    let c = sim.config();
    ok(json!({
        "base_url": sim.base_url(),
        "client_id": c.client_id,
        "client_secret": c.client_secret,
        "webhook_signing_key": c.webhook_signing_key,
        "redirect_uris": c.redirect_uris,
    }))
}

/// `GET /_sim/users`.
async fn users(State(sim): State<Simulator>) -> Reply {
    Ok(Json(sim.users()).into_response())
}

/// `POST /_sim/users` `{name, email, organization?, plan?, role?, timezone?}` → 201 user.
async fn create_user(State(sim): State<Simulator>, body: Result<Bytes, BytesRejection>) -> Reply {
    let user = sim.try_create_user(parse::<NewUser>(body)?)?;
    Ok((StatusCode::CREATED, Json(user)).into_response())
}

#[derive(Deserialize)]
struct PlanChange {
    user: String,
    plan: Plan,
}

/// `POST /_sim/users/plan` `{user, plan: "free"|"standard"}`.
async fn set_plan(State(sim): State<Simulator>, body: Result<Bytes, BytesRejection>) -> Reply {
    let change: PlanChange = parse(body)?;
    let user = sim
        .user(&change.user)
        .ok_or(SimError::UnknownUser(change.user))?;
    sim.set_plan(&user.uri, change.plan);
    ok(json!(sim.user(&user.uri)))
}

#[derive(Deserialize)]
struct RoleChange {
    user: String,
    role: Role,
}

/// `POST /_sim/users/role` `{user, role: "user"|"admin"|"owner"}`.
async fn set_role(State(sim): State<Simulator>, body: Result<Bytes, BytesRejection>) -> Reply {
    let change: RoleChange = parse(body)?;
    let user = sim
        .user(&change.user)
        .ok_or(SimError::UnknownUser(change.user))?;
    sim.set_role(&user.uri, change.role);
    ok(json!(sim.user(&user.uri)))
}

#[derive(Deserialize)]
struct OrganizationChange {
    user: String,
    organization: String,
}

/// `POST /_sim/users/organization` `{user, organization}`: moves the user to that organization.
async fn move_user_to_organization(
    State(sim): State<Simulator>,
    body: Result<Bytes, BytesRejection>,
) -> Reply {
    let change: OrganizationChange = parse(body)?;
    sim.move_user_to_organization(&change.user, &change.organization)?;
    ok(json!(sim.user(&change.user)))
}

#[derive(Deserialize)]
struct NewOrganization {
    name: String,
}

/// `POST /_sim/organizations` `{name}` → 201 `{uri}`.
async fn create_organization(
    State(sim): State<Simulator>,
    body: Result<Bytes, BytesRejection>,
) -> Reply {
    let org: NewOrganization = parse(body)?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "uri": sim.create_organization(&org.name) })),
    )
        .into_response())
}

#[derive(Deserialize)]
struct ConsentUser {
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    email: Option<String>,
}

/// `POST /_sim/consent_user` `{user: uri|null}` or `{email}`: who is signed in on the consent page.
async fn set_consent_user(
    State(sim): State<Simulator>,
    body: Result<Bytes, BytesRejection>,
) -> Reply {
    let wanted: ConsentUser = parse(body)?;
    let user = match (wanted.user, wanted.email) {
        (Some(uri), _) => Some(sim.user(&uri).ok_or(SimError::UnknownUser(uri))?),
        (None, Some(email)) => Some(
            sim.user_by_email(&email)
                .ok_or(SimError::UnknownUser(email))?,
        ),
        (None, None) => None,
    };
    sim.set_consent_user(user.as_ref().map(|u| u.uri.as_str()));
    ok(json!({ "consent_user": user }))
}

#[derive(Deserialize)]
struct TokenRequest {
    user: String,
    /// Absent = a personal access token with full access.
    #[serde(default)]
    scopes: Option<Vec<String>>,
    /// `"pat"` (default) or `"oauth"` (access + refresh token, as after consent).
    #[serde(default)]
    kind: Option<String>,
}

/// `POST /_sim/tokens` `{user, scopes?, kind?: "pat"|"oauth"}` → `{access_token, …}`.
async fn issue_token(State(sim): State<Simulator>, body: Result<Bytes, BytesRejection>) -> Reply {
    let request: TokenRequest = parse(body)?;
    let user = sim
        .user(&request.user)
        .ok_or(SimError::UnknownUser(request.user))?;
    let scopes: Vec<String> = request.scopes.unwrap_or_default();
    if let Some(bad) = scopes
        .iter()
        .find(|s| !crate::scopes::SCOPE_CATALOG.contains(&s.as_str()))
    {
        return Err(ApiError::invalid_argument(vec![Detail::invalid(
            "scopes",
            &format!("unknown scope {bad}"),
        )]));
    }
    let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
    match request.kind.as_deref() {
        None | Some("pat") => {
            let token = sim.issue_scoped_personal_access_token(&user.uri, &scopes);
            ok(json!({ "access_token": token, "kind": "pat" }))
        }
        Some("oauth") => {
            let t = sim.issue_oauth_tokens(&user.uri, &scopes);
            ok(json!({
                "access_token": t.access_token, "refresh_token": t.refresh_token, "scope": t.scope,
                "expires_in": t.expires_in, "owner": t.owner, "organization": t.organization, "kind": "oauth",
            }))
        }
        Some(_) => Err(ApiError::invalid_argument(vec![Detail::invalid(
            "kind",
            "must be pat or oauth",
        )])),
    }
}

#[derive(Deserialize)]
struct UserRef {
    user: String,
}

/// `POST /_sim/tokens/revoke_all` `{user}`: as an email or password change would.
async fn revoke_all_tokens(
    State(sim): State<Simulator>,
    body: Result<Bytes, BytesRejection>,
) -> Reply {
    let request: UserRef = parse(body)?;
    let user = sim
        .user(&request.user)
        .ok_or(SimError::UnknownUser(request.user))?;
    sim.revoke_all_tokens(&user.uri);
    ok(json!({ "revoked": true }))
}

/// `POST /_sim/book` (a `Booking` as JSON; `questions` as `[["question", "answer"], …]`) → 201.
async fn book(State(sim): State<Simulator>, body: Result<Bytes, BytesRejection>) -> Reply {
    let booked = sim.book(parse::<Booking>(body)?)?;
    Ok((StatusCode::CREATED, Json(booked)).into_response())
}

#[derive(Deserialize)]
struct CancelRequest {
    invitee: String,
    #[serde(default = "invitee_cancels")]
    by: Canceler,
    #[serde(default)]
    reason: Option<String>,
}

fn invitee_cancels() -> Canceler {
    Canceler::Invitee
}

/// `POST /_sim/cancel` `{invitee, by?: "host"|"invitee", reason?}`.
async fn cancel(State(sim): State<Simulator>, body: Result<Bytes, BytesRejection>) -> Reply {
    let request: CancelRequest = parse(body)?;
    sim.cancel(&request.invitee, request.by, request.reason)?;
    ok(json!({ "canceled": request.invitee }))
}

#[derive(Deserialize)]
struct RescheduleRequest {
    invitee: String,
    new_start: DateTime<Utc>,
}

/// `POST /_sim/reschedule` `{invitee, new_start}` → the new invitee and event.
async fn reschedule(State(sim): State<Simulator>, body: Result<Bytes, BytesRejection>) -> Reply {
    let request: RescheduleRequest = parse(body)?;
    let booked = sim.reschedule(&request.invitee, request.new_start)?;
    Ok(Json(booked).into_response())
}

#[derive(Deserialize)]
struct InviteeRef {
    invitee: String,
}

/// `POST /_sim/no_show` `{invitee}`.
async fn mark_no_show(State(sim): State<Simulator>, body: Result<Bytes, BytesRejection>) -> Reply {
    let request: InviteeRef = parse(body)?;
    sim.mark_no_show(&request.invitee)?;
    ok(json!({ "no_show": request.invitee }))
}

/// `DELETE /_sim/no_show` `{invitee}`.
async fn unmark_no_show(
    State(sim): State<Simulator>,
    body: Result<Bytes, BytesRejection>,
) -> Reply {
    let request: InviteeRef = parse(body)?;
    sim.unmark_no_show(&request.invitee)?;
    ok(json!({ "no_show_removed": request.invitee }))
}

#[derive(Deserialize)]
struct ConferenceLink {
    event_uri: String,
    join_url: String,
    #[serde(default)]
    touch_updated_at: bool,
}

/// `POST /_sim/push_conference_link` `{event_uri, join_url, touch_updated_at?: false}`: the
/// late conference link arrives (no webhook).
async fn push_conference_link(
    State(sim): State<Simulator>,
    body: Result<Bytes, BytesRejection>,
) -> Reply {
    let request: ConferenceLink = parse(body)?;
    sim.push_conference_link(
        &request.event_uri,
        &request.join_url,
        request.touch_updated_at,
    )?;
    ok(json!({ "pushed": request.event_uri, "join_url": request.join_url }))
}

/// `GET /_sim/switches` → `{require_public_callback_url, sign_retries_at_first_attempt,
/// minimal_refresh_responses}`.
async fn switches(State(sim): State<Simulator>) -> Reply {
    ok(json!(sim.switches()))
}

#[derive(Deserialize)]
struct SwitchChange {
    #[serde(default)]
    require_public_callback_url: Option<bool>,
    #[serde(default)]
    sign_retries_at_first_attempt: Option<bool>,
    #[serde(default)]
    minimal_refresh_responses: Option<bool>,
    /// `{"api_fault": {"delay_ms": 20000, "status": 500}}`; `{}` clears it.
    #[serde(default)]
    api_fault: Option<ApiFaultChange>,
}

#[derive(Deserialize)]
struct ApiFaultChange {
    #[serde(default)]
    delay_ms: u64,
    #[serde(default)]
    status: Option<u16>,
}

/// `POST /_sim/switches` with any of the three booleans → all switches as they now are.
async fn set_switches(State(sim): State<Simulator>, body: Result<Bytes, BytesRejection>) -> Reply {
    let change: SwitchChange = parse(body)?;
    if let Some(on) = change.require_public_callback_url {
        sim.set_require_public_callback_url(on);
    }
    if let Some(on) = change.sign_retries_at_first_attempt {
        sim.set_sign_retries_at_first_attempt(on);
    }
    if let Some(on) = change.minimal_refresh_responses {
        sim.set_minimal_refresh_responses(on);
    }
    if let Some(fault) = change.api_fault {
        sim.set_api_fault(
            std::time::Duration::from_millis(fault.delay_ms),
            fault.status,
        );
    }
    switches(State(sim)).await
}

/// `GET /_sim/api_calls?user=URI` → `{user, api_calls}`: API requests ever made for the user.
async fn api_calls(State(sim): State<Simulator>, RawQuery(query): RawQuery) -> Reply {
    let params = Params::parse(query.as_deref());
    let Some(uri) = params.get("user") else {
        return Err(ApiError::invalid_argument(vec![Detail::missing("user")]));
    };
    let user = sim
        .user(uri)
        .ok_or_else(|| SimError::UnknownUser(uri.to_string()))?;
    ok(json!({ "user": user.uri, "api_calls": sim.api_calls(&user.uri) }))
}

#[derive(Deserialize)]
struct Consumption {
    user: String,
    n: u32,
}

/// `POST /_sim/rate_limit/consume` `{user, n}`: another integration spends `n` requests of
/// the user's current window → `{user, consumed}`.
async fn consume_rate_limit(
    State(sim): State<Simulator>,
    body: Result<Bytes, BytesRejection>,
) -> Reply {
    let request: Consumption = parse(body)?;
    let user = sim
        .user(&request.user)
        .ok_or(SimError::UnknownUser(request.user))?;
    sim.consume_rate_limit(&user.uri, request.n);
    ok(json!({ "user": user.uri, "consumed": request.n }))
}

/// `GET /_sim/clock` → `{now, unix}`.
async fn clock(State(sim): State<Simulator>) -> Reply {
    let now = sim.now();
    ok(json!({ "now": timestamp(&now), "unix": now.timestamp() }))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Advance {
    seconds: i64,
    minutes: i64,
    hours: i64,
    days: i64,
}

/// `POST /_sim/clock/advance` `{seconds?, minutes?, hours?, days?}` → the new time.
async fn advance_clock(State(sim): State<Simulator>, body: Result<Bytes, BytesRejection>) -> Reply {
    let by: Advance = parse(body)?;
    let total = by
        .days
        .checked_mul(86_400)
        .and_then(|d| by.hours.checked_mul(3_600).and_then(|h| d.checked_add(h)))
        .and_then(|s| by.minutes.checked_mul(60).and_then(|m| s.checked_add(m)))
        .and_then(|s| s.checked_add(by.seconds))
        .and_then(chrono::Duration::try_seconds)
        .ok_or_else(|| {
            ApiError::invalid_argument(vec![Detail {
                parameter: None,
                message: "too far".into(),
            }])
        })?;
    sim.advance_clock(total);
    clock(State(sim)).await
}

/// `POST /_sim/failures` a `FailureRule`: `{url_contains, mode: {"status": 500}|"timeout"|"drop", times?}`.
async fn inject_failure(
    State(sim): State<Simulator>,
    body: Result<Bytes, BytesRejection>,
) -> Reply {
    let rule: FailureRule = parse(body)?;
    sim.inject_failure(rule.clone());
    Ok((StatusCode::CREATED, Json(rule)).into_response())
}

/// `DELETE /_sim/failures`.
async fn clear_failures(State(sim): State<Simulator>) -> Reply {
    sim.clear_failures();
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /_sim/deliveries`: every attempt, oldest first.
async fn deliveries(State(sim): State<Simulator>) -> Reply {
    Ok(Json(sim.deliveries()).into_response())
}

/// `GET /_sim/subscriptions`: every subscription, including `signing_key_given` and `created_with`.
async fn subscriptions(State(sim): State<Simulator>) -> Reply {
    Ok(Json(sim.subscriptions()).into_response())
}

#[derive(Deserialize)]
struct SubscriptionRef {
    uri: String,
}

/// `POST /_sim/subscriptions/disable` `{uri}`.
async fn disable_subscription(
    State(sim): State<Simulator>,
    body: Result<Bytes, BytesRejection>,
) -> Reply {
    let request: SubscriptionRef = parse(body)?;
    sim.disable_subscription(&request.uri);
    ok(json!({ "disabled": request.uri }))
}

/// `GET /_sim/idle?max_ms=5000` → `{idle}` once no delivery is pending (or the time is up).
async fn wait_idle(State(sim): State<Simulator>, RawQuery(query): RawQuery) -> Reply {
    let params = Params::parse(query.as_deref());
    let max_ms = params
        .get("max_ms")
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(5_000)
        .min(60_000);
    let idle = sim
        .wait_idle(std::time::Duration::from_millis(max_ms))
        .await;
    ok(json!({ "idle": idle }))
}
