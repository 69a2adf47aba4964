//! Webhook subscriptions (calendly-api.md §3): create / list / get / delete with Calendly's
//! validation, role, plan and scope rules, plus the library's view of them.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::auth::Caller;
use crate::callback_urls;
use crate::clock::timestamp;
use crate::config::{new_uuid, UniquenessKey};
use crate::errors::{ApiError, Detail, NOT_YOUR_ORGANIZATION, NO_ACCESS};
use crate::pagination::{Collection, PageRequest, Params, Resource};
use crate::state::{id_of, State as SimState, SubscriptionRecord};
use crate::webhook_events::{self, KNOWN_EVENTS};
use crate::Simulator;

/// How the subscription was created: decides which key signs its deliveries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CreatedWith {
    OAuth,
    Pat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SubscriptionScope {
    Organization,
    User,
    Group,
}

impl SubscriptionScope {
    fn parse(raw: &str) -> Option<Self> {
        match raw {
            "organization" => Some(Self::Organization),
            "user" => Some(Self::User),
            "group" => Some(Self::Group),
            _ => None,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Organization => "organization",
            Self::User => "user",
            Self::Group => "group",
        }
    }
}

/// `active` until a day of failed deliveries (or `disable_subscription`) makes it `disabled`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SubscriptionState {
    Active,
    Disabled,
}

impl SubscriptionState {
    fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Disabled => "disabled",
        }
    }
}

/// A webhook subscription as tests see it (including what the API never shows).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SubscriptionView {
    pub uri: String,
    pub callback_url: String,
    pub scope: SubscriptionScope,
    /// User URI (user scope).
    pub user: Option<String>,
    pub group: Option<String>,
    /// Organization URI.
    pub organization: String,
    pub state: SubscriptionState,
    pub events: Vec<String>,
    pub retry_started_at: Option<DateTime<Utc>>,
    /// URI of the user whose token created it (the payload's `created_by`).
    pub creator: String,
    /// Whether a `signing_key` was sent at creation (it is never returned by the API).
    pub signing_key_given: bool,
    pub created_with: CreatedWith,
    pub created_at: DateTime<Utc>,
}

/// The API's WebhookSubscription resource: the 12 documented keys, and no `signing_key`.
#[derive(Serialize)]
struct SubscriptionResource {
    callback_url: String,
    created_at: String,
    creator: String,
    events: Vec<String>,
    group: Option<String>,
    organization: String,
    retry_started_at: Option<String>,
    scope: &'static str,
    state: &'static str,
    updated_at: String,
    uri: String,
    user: Option<String>,
}

impl Simulator {
    /// Every subscription, oldest first.
    pub fn subscriptions(&self) -> Vec<SubscriptionView> {
        let st = self.state();
        let mut subs: Vec<&SubscriptionRecord> = st.subscriptions.values().collect();
        subs.sort_by_key(|s| s.seq);
        subs.into_iter()
            .map(|s| SubscriptionView {
                uri: self.uri("webhook_subscriptions", &s.uuid),
                callback_url: s.callback_url.clone(),
                scope: s.scope,
                user: s.user.as_ref().map(|u| self.uri("users", u)),
                group: s.group.clone(),
                organization: self.uri("organizations", &s.org),
                state: s.state,
                events: s.events.clone(),
                retry_started_at: s.retry_started_at,
                creator: self.uri("users", &s.creator),
                signing_key_given: s.signing_key.is_some(),
                created_with: s.created_with,
                created_at: s.created_at,
            })
            .collect()
    }

    /// Forces a subscription to `disabled` (as a day of failures would).
    pub fn disable_subscription(&self, uri: &str) {
        let now = self.now();
        let mut st = self.state();
        if let Some(sub) =
            id_of(uri, "webhook_subscriptions").and_then(|id| st.subscriptions.get_mut(id))
        {
            sub.state = SubscriptionState::Disabled;
            sub.updated_at = now;
        }
    }

    fn subscription_resource(&self, s: &SubscriptionRecord) -> SubscriptionResource {
        SubscriptionResource {
            callback_url: s.callback_url.clone(),
            created_at: timestamp(&s.created_at),
            creator: self.uri("users", &s.creator),
            events: s.events.clone(),
            group: s.group.clone(),
            organization: self.uri("organizations", &s.org),
            retry_started_at: s.retry_started_at.as_ref().map(timestamp),
            scope: s.scope.as_str(),
            state: s.state.as_str(),
            updated_at: timestamp(&s.updated_at),
            uri: self.uri("webhook_subscriptions", &s.uuid),
            user: s.user.as_ref().map(|u| self.uri("users", u)),
        }
    }
}

/// The create body, after the 400 checks.
struct CreateRequest {
    url: String,
    events: Vec<String>,
    organization: String,
    scope: SubscriptionScope,
    user: Option<String>,
    group: Option<String>,
    signing_key: Option<String>,
}

impl CreateRequest {
    /// `public_only`: strict mode, where the URL must be a public `https` one.
    fn parse(body: &Map<String, Value>, public_only: bool) -> Result<Self, ApiError> {
        let mut details = Vec::new();
        let url = required_string(body, "url", &mut details);
        if let Some(raw) = &url {
            if !callback_urls::is_valid(raw) {
                details.push(Detail::invalid("url", "is invalid"));
            } else if public_only && !callback_urls::is_public_https(raw) {
                details.push(Detail::invalid("url", callback_urls::NOT_PUBLIC));
            }
        }
        let events = match body.get("events") {
            None | Some(Value::Null) => {
                details.push(Detail::missing("events"));
                Vec::new()
            }
            Some(Value::Array(items)) if !items.is_empty() => {
                let names: Vec<String> = items
                    .iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect();
                if names.len() != items.len()
                    || names.iter().any(|n| !KNOWN_EVENTS.contains(&n.as_str()))
                {
                    details.push(Detail::invalid("events", "is invalid"));
                }
                let mut unique = Vec::new();
                for name in names {
                    if !unique.contains(&name) {
                        unique.push(name);
                    }
                }
                unique
            }
            Some(_) => {
                details.push(Detail::invalid("events", "is invalid"));
                Vec::new()
            }
        };
        let organization = required_string(body, "organization", &mut details);
        let scope = required_string(body, "scope", &mut details).and_then(|raw| {
            let parsed = SubscriptionScope::parse(&raw);
            if parsed.is_none() {
                details.push(Detail::invalid("scope", "is invalid"));
            }
            parsed
        });
        let user = optional_string(body, "user", &mut details);
        let group = optional_string(body, "group", &mut details);
        if scope == Some(SubscriptionScope::User) && user.is_none() {
            details.push(Detail::missing("user"));
        }
        if scope == Some(SubscriptionScope::Group) && group.is_none() {
            details.push(Detail::missing("group"));
        }
        let signing_key = optional_string(body, "signing_key", &mut details);
        match (url, organization, scope) {
            (Some(url), Some(organization), Some(scope)) if details.is_empty() => Ok(Self {
                url,
                events,
                organization,
                scope,
                user,
                group,
                signing_key,
            }),
            _ => Err(ApiError::invalid_argument(details)),
        }
    }
}

fn required_string(
    body: &Map<String, Value>,
    key: &str,
    details: &mut Vec<Detail>,
) -> Option<String> {
    match body.get(key) {
        None | Some(Value::Null) => {
            details.push(Detail::missing(key));
            None
        }
        Some(Value::String(s)) if s.trim().is_empty() => {
            details.push(Detail::missing(key));
            None
        }
        Some(Value::String(s)) => Some(s.trim().to_string()),
        Some(_) => {
            details.push(Detail::invalid(key, "is invalid"));
            None
        }
    }
}

fn optional_string(
    body: &Map<String, Value>,
    key: &str,
    details: &mut Vec<Detail>,
) -> Option<String> {
    match body.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(s.trim().to_string()),
        Some(_) => {
            details.push(Detail::invalid(key, "is invalid"));
            None
        }
    }
}

/// The caller's own organization uuid, if `uri` names it.
fn check_organization<'a>(caller: &Caller, uri: &'a str) -> Result<&'a str, ApiError> {
    match id_of(uri, "organizations") {
        Some(id) if id == caller.org => Ok(id),
        _ => Err(ApiError::permission_denied(NOT_YOUR_ORGANIZATION)),
    }
}

/// Whether the caller may see or delete this subscription (403 otherwise).
fn check_access(caller: &Caller, sub: &SubscriptionRecord) -> Result<(), ApiError> {
    if sub.org != caller.org {
        return Err(ApiError::permission_denied(NOT_YOUR_ORGANIZATION));
    }
    let own =
        sub.scope == SubscriptionScope::User && sub.user.as_deref() == Some(caller.user.as_str());
    if own || caller.is_admin() {
        Ok(())
    } else {
        Err(ApiError::permission_denied(NO_ACCESS))
    }
}

/// Whether another subscription already holds this URL under the configured uniqueness key.
fn is_duplicate(
    st: &SimState,
    key: UniquenessKey,
    org: &str,
    user: Option<&str>,
    scope: SubscriptionScope,
    url: &str,
) -> bool {
    st.subscriptions.values().any(|s| {
        s.org == org
            && s.callback_url == url
            && match key {
                UniquenessKey::Organization => true,
                UniquenessKey::OrganizationUser => s.user.as_deref() == user,
                UniquenessKey::OrganizationUserScope => {
                    s.scope == scope && s.user.as_deref() == user
                }
            }
    })
}

/// The plan, scope-restriction and read-scope rules of the requested events.
fn check_events(caller: &Caller, request: &CreateRequest) -> Result<(), ApiError> {
    for event in &request.events {
        if let Some(only) = webhook_events::only_scope(event) {
            if request.scope != only {
                return Err(ApiError::invalid_argument(vec![Detail::invalid(
                    "events",
                    &format!("{event} is only available with {} scope", only.as_str()),
                )]));
            }
        }
    }
    // Observed (n8n PR 33286): a missing read scope for an event family is a 400, not a 403.
    if request
        .events
        .iter()
        .any(|e| !caller.has(webhook_events::read_scope(e)))
    {
        return Err(ApiError::invalid_argument(Vec::new()));
    }
    Ok(())
}

/// `POST /webhook_subscriptions` (scope `webhooks:write`): 201 `{resource}`.
#[tracing::instrument(skip_all, fields(user = %caller.user))]
pub(crate) async fn create(
    State(sim): State<Simulator>,
    Extension(caller): Extension<Caller>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    caller.require("webhooks:write")?;
    let body = body.map_err(|_| ApiError::invalid_argument(Vec::new()))?;
    let value: Value =
        serde_json::from_slice(&body).map_err(|_| ApiError::invalid_argument(Vec::new()))?;
    let object = value
        .as_object()
        .ok_or_else(|| ApiError::invalid_argument(Vec::new()))?;
    let request = CreateRequest::parse(object, sim.switches().require_public_callback_url)?;

    let org = check_organization(&caller, &request.organization)?.to_string();
    // Webhooks are on all plans; only events whose feature a Free plan lacks are refused.
    if caller.plan == crate::users::Plan::Free
        && request
            .events
            .iter()
            .any(|e| webhook_events::needs_paid_plan(e))
    {
        return Err(ApiError::upgrade_required());
    }
    let user = match request.scope {
        SubscriptionScope::User => {
            let id = request.user.as_deref().and_then(|u| id_of(u, "users"));
            if id != Some(caller.user.as_str()) {
                return Err(ApiError::permission_denied(NO_ACCESS));
            }
            Some(caller.user.clone())
        }
        SubscriptionScope::Organization if !caller.is_admin() => {
            return Err(ApiError::permission_denied(NO_ACCESS))
        }
        SubscriptionScope::Organization => None,
        // The simulator has no groups, so every group URI is unknown.
        SubscriptionScope::Group => return Err(ApiError::not_found()),
    };
    check_events(&caller, &request)?;

    let now = sim.now();
    let mut st = sim.state();
    if is_duplicate(
        &st,
        sim.config().uniqueness,
        &org,
        user.as_deref(),
        request.scope,
        &request.url,
    ) {
        return Err(ApiError::already_exists());
    }
    let seq = st.next_seq();
    let record = SubscriptionRecord {
        uuid: new_uuid(),
        seq,
        callback_url: request.url,
        events: request.events,
        scope: request.scope,
        org,
        user,
        group: request.group,
        creator: caller.user.clone(),
        signing_key: request.signing_key,
        created_with: caller.via,
        state: SubscriptionState::Active,
        retry_started_at: None,
        failing_since: None,
        created_at: now,
        updated_at: now,
    };
    let resource = sim.subscription_resource(&record);
    tracing::info!(uri = %resource.uri, url = %resource.callback_url, "webhook subscription created");
    st.subscriptions.insert(record.uuid.clone(), record);
    Ok((StatusCode::CREATED, Json(Resource { resource })).into_response())
}

/// `GET /webhook_subscriptions` (scope `webhooks:read`).
#[tracing::instrument(skip_all, fields(user = %caller.user))]
pub(crate) async fn list(
    State(sim): State<Simulator>,
    Extension(caller): Extension<Caller>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    caller.require("webhooks:read")?;
    let params = Params::parse(query.as_deref());
    let mut details = Vec::new();
    if params.get("organization").is_none() {
        details.push(Detail::missing("organization"));
    }
    let scope = match params.get("scope") {
        None => {
            details.push(Detail::missing("scope"));
            None
        }
        Some(raw) => {
            let scope = SubscriptionScope::parse(raw);
            if scope.is_none() {
                details.push(Detail::invalid("scope", "is invalid"));
            }
            scope
        }
    };
    if scope == Some(SubscriptionScope::User) && params.get("user").is_none() {
        details.push(Detail::missing("user"));
    }
    if scope == Some(SubscriptionScope::Group) && params.get("group").is_none() {
        details.push(Detail::missing("group"));
    }
    let descending = match params.get("sort") {
        None | Some("created_at:asc") => false,
        Some("created_at:desc") => true,
        Some(_) => {
            details.push(Detail::invalid("sort", "is invalid"));
            false
        }
    };
    let page = match PageRequest::from_params(&params) {
        Ok(page) => Some(page),
        Err(mut error) => {
            details.append(&mut error.details);
            None
        }
    };
    let (Some(scope), Some(org_uri), Some(page), true) =
        (scope, params.get("organization"), page, details.is_empty())
    else {
        return Err(ApiError::invalid_argument(details));
    };
    let org = check_organization(&caller, org_uri)?.to_string();

    let st = sim.state();
    let user = match scope {
        SubscriptionScope::Organization if !caller.is_admin() => {
            return Err(ApiError::permission_denied(NO_ACCESS))
        }
        SubscriptionScope::User => {
            let id = params
                .get("user")
                .and_then(|u| id_of(u, "users"))
                .unwrap_or_default();
            let member = st.users.get(id).is_some_and(|u| u.org == org);
            if id != caller.user && !(caller.is_admin() && member) {
                return Err(ApiError::permission_denied(NO_ACCESS));
            }
            Some(id.to_string())
        }
        _ => None,
    };
    let group = params.get("group");
    let mut subs: Vec<&SubscriptionRecord> = st
        .subscriptions
        .values()
        .filter(|s| s.org == org && s.scope == scope)
        .filter(|s| user.is_none() || s.user == user)
        .filter(|s| scope != SubscriptionScope::Group || s.group.as_deref() == group)
        .collect();
    subs.sort_by_key(|s| (s.created_at, s.seq));
    if descending {
        subs.reverse();
    }
    let (subs, pagination) = page.apply(subs, &sim.base_url(), "/webhook_subscriptions", &params);
    let collection = subs
        .into_iter()
        .map(|s| sim.subscription_resource(s))
        .collect();
    Ok(Json(Collection {
        collection,
        pagination,
    })
    .into_response())
}

/// `GET /webhook_subscriptions/{uuid}` (scope `webhooks:read`).
#[tracing::instrument(skip_all, fields(user = %caller.user))]
pub(crate) async fn show(
    State(sim): State<Simulator>,
    Extension(caller): Extension<Caller>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    caller.require("webhooks:read")?;
    let Ok(Path(id)) = path else {
        return Err(ApiError::not_found());
    };
    let st = sim.state();
    let sub = st.subscriptions.get(&id).ok_or_else(ApiError::not_found)?;
    check_access(&caller, sub)?;
    Ok(Json(Resource {
        resource: sim.subscription_resource(sub),
    })
    .into_response())
}

/// `DELETE /webhook_subscriptions/{uuid}` (scope `webhooks:write`): 204, empty body.
#[tracing::instrument(skip_all, fields(user = %caller.user))]
pub(crate) async fn delete(
    State(sim): State<Simulator>,
    Extension(caller): Extension<Caller>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    caller.require("webhooks:write")?;
    let Ok(Path(id)) = path else {
        return Err(ApiError::not_found());
    };
    let mut st = sim.state();
    let sub = st.subscriptions.get(&id).ok_or_else(ApiError::not_found)?;
    check_access(&caller, sub)?;
    st.subscriptions.remove(&id);
    // Closing the queue lets its worker finish; queued deliveries see the hook is gone.
    st.workers.remove(&id);
    tracing::info!(%id, "webhook subscription deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}
