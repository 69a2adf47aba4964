//! Exactly one active user-scoped webhook subscription per connected adviser, each with its own
//! callback URL `{APP_PUBLIC_URL}/api/calendly/webhook/{route_token}`. Ensuring is idempotent:
//! adopt what already matches, replace what is stale, create what is missing.

use calendly::ids::{CalendlyUserUri, OrganizationUri, SubscriptionUri};
use calendly::{
    CreateWebhookSubscription, ListWebhookSubscriptions, SubscriptionScope, SubscriptionState,
    WebhookSubscription,
};

use super::store::{self, LiveUpdates};
use super::tokens::{with_token, TokenError};
use crate::accounts::AdviserId;
use crate::calendly_app::WEBHOOK_PATH;
use crate::crypto::random_token;
use crate::AppState;

/// Our local record of a subscription.
#[derive(Clone, Debug)]
pub struct SubscriptionRow {
    pub id: i64,
    pub user_id: AdviserId,
    pub user_uri: String,
    pub subscription_uri: Option<String>,
    pub route_token: String,
    pub callback_url: String,
    pub state: String,
}

type Row = (i64, i64, String, Option<String>, String, String, String);
/// A subscription row and whether it is the adviser's active one.
type RouteRow = (
    i64,
    i64,
    String,
    Option<String>,
    String,
    String,
    String,
    i64,
);
const COLUMNS: &str = "id, user_id, user_uri, subscription_uri, route_token, callback_url, state";

fn from_row(r: Row) -> SubscriptionRow {
    SubscriptionRow {
        id: r.0,
        user_id: AdviserId(r.1),
        user_uri: r.2,
        subscription_uri: r.3,
        route_token: r.4,
        callback_url: r.5,
        state: r.6,
    }
}

/// The adviser's active subscription row, if any.
pub async fn active_for_user(
    db: &crate::Db,
    user: AdviserId,
) -> Result<Option<SubscriptionRow>, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM calendly_webhook_subscriptions WHERE user_id = $1 AND is_active = 1 AND scope = 'user'"
    ))
    .bind(user.0)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(from_row))
}

/// The active subscription a route token belongs to (the webhook route's O(1) lookup).
pub async fn by_route_token(
    db: &crate::Db,
    token: &str,
) -> Result<Option<SubscriptionRow>, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM calendly_webhook_subscriptions WHERE route_token = $1 AND is_active = 1 AND scope = 'user'"
    ))
    .bind(token)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(from_row))
}

/// What a route token names.
#[derive(Clone, Debug)]
pub enum RouteLookup {
    /// The adviser's current subscription.
    Active(SubscriptionRow),
    /// A token we issued that is no longer in use (disconnected, replaced or retired).
    Retired,
}

/// The webhook route's O(1) lookup: the subscription a route token belongs to, or that it is one
/// of ours no longer in use; `None` for a token we never issued. One indexed query: every
/// delivery makes it.
pub async fn route_by_token(
    db: &crate::Db,
    token: &str,
) -> Result<Option<RouteLookup>, sqlx::Error> {
    // Route tokens are 16 random bytes, base64url (22 characters); anything else was never issued.
    if token.len() != 22
        || !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Ok(None);
    }
    let found: Option<RouteRow> =
        sqlx::query_as(&format!(
            "SELECT {COLUMNS}, is_active FROM calendly_webhook_subscriptions WHERE route_token = $1 AND scope = 'user' ORDER BY is_active DESC LIMIT 1"
        ))
        .bind(token)
        .fetch_optional(db.pool())
        .await?;
    Ok(found.map(|(a, b, c, d, e, f, g, is_active)| {
        if is_active == 1 {
            RouteLookup::Active(from_row((a, b, c, d, e, f, g)))
        } else {
            RouteLookup::Retired
        }
    }))
}

/// The active subscription created by a Calendly user (legacy bare-URL route, indexed).
pub async fn by_user_uri(
    db: &crate::Db,
    user_uri: &str,
) -> Result<Option<SubscriptionRow>, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM calendly_webhook_subscriptions WHERE user_uri = $1 AND is_active = 1 AND scope = 'user' ORDER BY id DESC LIMIT 1"
    ))
    .bind(user_uri)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(from_row))
}

fn events() -> Vec<String> {
    calendly::INVITEE_EVENTS
        .iter()
        .map(|e| e.to_string())
        .collect()
}

fn covers_our_events(sub: &WebhookSubscription) -> bool {
    calendly::INVITEE_EVENTS
        .iter()
        .all(|e| sub.events.iter().any(|have| have == e))
}

/// Makes sure the adviser has one working subscription and records whether live updates are on.
/// Returns the resulting live-updates state (a refusal by Calendly is not an error).
#[tracing::instrument(skip_all, fields(user_id = user.0))]
pub async fn ensure_subscription(
    state: &AppState,
    user: AdviserId,
) -> Result<LiveUpdates, TokenError> {
    // One ensure per adviser at a time in this process (connect and reconciliation may overlap)…
    let lock = state.subscription_locks.for_key(user.0);
    let _guard = lock.lock().await;
    // …and across instances: a lease on the connection row.
    if !take_lease(state, user).await? {
        tracing::info!("another instance is ensuring this subscription; leaving it to that one");
        return Ok(store::load(&state.db, user)
            .await?
            .map(|c| c.live_updates)
            .unwrap_or(LiveUpdates::Pending));
    }
    let result = ensure_leased(state, user).await;
    if let Err(err) = release_lease(state, user).await {
        tracing::warn!(error = %err, "could not release the subscription lease; it expires by itself");
    }
    result
}

/// How long a lease lasts if its holder dies (longer than any ensure: a few Calendly calls).
const LEASE_MS: i64 = 120_000;

async fn take_lease(state: &AppState, user: AdviserId) -> Result<bool, sqlx::Error> {
    let now = state.clock.now_ms();
    let taken = sqlx::query(
        "UPDATE calendar_connections SET subscription_lease_until = $1 WHERE user_id = $2 \
         AND (subscription_lease_until IS NULL OR subscription_lease_until < $3)",
    )
    .bind(now + LEASE_MS)
    .bind(user.0)
    .bind(now)
    .execute(state.db.pool())
    .await?;
    Ok(taken.rows_affected() == 1)
}

async fn release_lease(state: &AppState, user: AdviserId) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE calendar_connections SET subscription_lease_until = NULL WHERE user_id = $1",
    )
    .bind(user.0)
    .execute(state.db.pool())
    .await?;
    Ok(())
}

async fn ensure_leased(state: &AppState, user: AdviserId) -> Result<LiveUpdates, TokenError> {
    let connection = store::load(&state.db, user)
        .await?
        .ok_or(TokenError::NotConnected)?;
    let user_uri = CalendlyUserUri::parse(&connection.calendly_user_uri)
        .map_err(|e| calendly::Error::Decode(e.to_string()))?;
    let org_uri = OrganizationUri::parse(&connection.organization_uri)
        .map_err(|e| calendly::Error::Decode(e.to_string()))?;
    let now = state.clock.now_ms();
    let local = active_for_user(&state.db, user).await?;

    // 1. Our recorded subscription still exists, is active and points at our URL: keep it.
    let mut broken = false;
    if let Some(sub_uri) = local.as_ref().and_then(|l| l.subscription_uri.clone()) {
        if let Ok(uri) = SubscriptionUri::parse(&sub_uri) {
            let remote = with_token(state, user, |t| {
                let uri = uri.clone();
                async move { state.calendly.api.get_webhook_subscription(&t, &uri).await }
            })
            .await;
            match remote {
                Ok(remote)
                    if remote.state == SubscriptionState::Active
                        && Some(&remote.callback_url)
                            == local.as_ref().map(|l| &l.callback_url) =>
                {
                    record_remote(state, local.as_ref().unwrap().id, &remote, now).await?;
                    store::set_live_updates(&state.db, user, LiveUpdates::Active, None, now)
                        .await?;
                    return Ok(LiveUpdates::Active);
                }
                Ok(_) | Err(TokenError::Calendly(calendly::Error::NotFound)) => broken = true,
                Err(e) => return Err(e),
            }
        }
    }

    // 2. A disabled or vanished subscription is replaced under a new URL, so the new one can be
    //    created before the old one is deleted. Otherwise keep our route token.
    let reuse = local.as_ref().filter(|_| !broken);
    let (route_token, callback_url) = match reuse {
        Some(l) => (l.route_token.clone(), l.callback_url.clone()),
        None => {
            let token = random_token(16);
            let url = state
                .settings
                .public_link(&format!("{WEBHOOK_PATH}/{token}"));
            (token, url)
        }
    };

    // 3. Look at what Calendly has for this user: adopt an exact match; everything else pointing
    //    at our webhook path is stale and goes once the new one exists.
    let existing = list_user_subscriptions(state, user, &org_uri, &user_uri).await?;
    let our_prefix = state.settings.public_link(WEBHOOK_PATH);
    let mut adopted = None;
    let mut stale = Vec::new();
    for sub in existing {
        let ours = sub.callback_url == callback_url;
        if ours
            && sub.state == SubscriptionState::Active
            && covers_our_events(&sub)
            && adopted.is_none()
        {
            adopted = Some(sub);
        } else if ours {
            // Same URL but unusable: must go first, or creating would conflict.
            delete_remote(state, user, &sub.uri).await?;
        } else if is_ours(state, user, &our_prefix, &sub.callback_url).await? {
            stale.push(sub.uri);
        }
    }

    let created = match adopted {
        Some(sub) => sub,
        None => match create(state, user, &org_uri, &user_uri, &callback_url).await {
            Ok(sub) => sub,
            Err(TokenError::Calendly(calendly::Error::Conflict { .. })) => {
                // Calendly already has this URL: adopt it if it is a working one of ours, else
                // replace it.
                let mut found = None;
                for sub in list_user_subscriptions(state, user, &org_uri, &user_uri).await? {
                    if sub.callback_url != callback_url {
                        continue;
                    }
                    if found.is_none()
                        && sub.state == SubscriptionState::Active
                        && covers_our_events(&sub)
                    {
                        found = Some(sub);
                    } else {
                        delete_remote(state, user, &sub.uri).await?;
                    }
                }
                match found {
                    Some(sub) => sub,
                    None => match create(state, user, &org_uri, &user_uri, &callback_url).await {
                        Ok(sub) => sub,
                        Err(e) => return refused(state, user, e, now).await,
                    },
                }
            }
            Err(e) => return refused(state, user, e, now).await,
        },
    };
    let saved = save_local(
        state,
        user,
        &connection,
        &route_token,
        &callback_url,
        &created,
        reuse,
        now,
    )
    .await?;
    if !saved {
        return Err(TokenError::NotConnected);
    }
    store::set_live_updates(&state.db, user, LiveUpdates::Active, None, now).await?;
    if broken {
        state.metrics.inc(
            "calendly_subscription_repairs_total",
            "Webhook subscriptions replaced because Calendly disabled or lost them.",
            &[],
        );
    }
    for uri in stale {
        if let Err(err) = delete_remote(state, user, &uri).await {
            tracing::warn!(error = %err, subscription = %uri, "could not delete a stale subscription; reconciliation will retry");
        }
    }
    Ok(LiveUpdates::Active)
}

/// A subscription of this Calendly user under our webhook path that is this adviser's to clean
/// up: one of *this adviser's* route tokens (past or present), or a token no adviser of ours
/// holds (an orphan, e.g. created by an attempt that died before storing it). Another adviser may
/// have connected the same Calendly account; their tokens are not ours to delete.
async fn is_ours(
    state: &AppState,
    user: AdviserId,
    prefix: &str,
    callback_url: &str,
) -> Result<bool, sqlx::Error> {
    let Some(token) = callback_url
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('/'))
    else {
        return Ok(false);
    };
    let holders: Vec<(i64,)> =
        sqlx::query_as("SELECT user_id FROM calendly_webhook_subscriptions WHERE route_token = $1")
            .bind(token)
            .fetch_all(state.db.pool())
            .await?;
    Ok(holders.is_empty() || holders.iter().any(|(id,)| *id == user.0))
}

/// Calendly said no for a reason that retrying will not fix: record it for the page (the
/// connection is polled meanwhile) and keep trying at each reconciliation.
async fn refused(
    state: &AppState,
    user: AdviserId,
    err: TokenError,
    now: i64,
) -> Result<LiveUpdates, TokenError> {
    let TokenError::Calendly(calendly_error) = &err else {
        return Err(err);
    };
    let Some(reason) = refusal_reason(calendly_error, &state.settings.public_url) else {
        return Err(err);
    };
    if calendly_error.is_invalid_parameter("url") {
        // Not the adviser's doing: the operator must fix APP_PUBLIC_URL.
        tracing::error!(public_url = %state.settings.public_url, error = %calendly_error, "Calendly refuses our webhook callback URL; check APP_PUBLIC_URL");
    }
    tracing::warn!(reason, "live updates unavailable; falling back to polling");
    store::set_live_updates(
        &state.db,
        user,
        LiveUpdates::Unavailable,
        Some(&reason),
        now,
    )
    .await?;
    Ok(LiveUpdates::Unavailable)
}

/// What the Calendar Connections page says when Calendly refuses a subscription; `None` for an
/// error that is not a refusal (it is retried instead). Each reason says what applies — the
/// plan message only when Calendly's 403 says so.
pub fn refusal_reason(err: &calendly::Error, public_url: &url::Url) -> Option<String> {
    Some(match err {
        e if e.is_plan_refusal() => {
            "Calendly says your plan does not include these webhooks (\u{201c}Please upgrade to a paid Calendly account.\u{201d})".to_owned()
        }
        e if e.is_insufficient_scope() => {
            "Calendly did not grant permission to manage webhooks; reconnect to grant it".to_owned()
        }
        e if e.is_invalid_parameter("url") => format!(
            "Calendly will not deliver webhooks to this server's address ({}{}); the server's operator must set APP_PUBLIC_URL to a public https address",
            public_url.as_str().trim_end_matches('/'),
            e.details_text().map(|d| format!(": {d}")).unwrap_or_default()
        ),
        calendly::Error::InvalidArgument { .. } => {
            "Calendly refused the webhook subscription (missing permission to read scheduled events); reconnect to grant it".to_owned()
        }
        calendly::Error::Forbidden { message, .. } if !message.is_empty() => {
            format!("Calendly refused webhooks (\u{201c}{message}\u{201d})")
        }
        calendly::Error::Forbidden { .. } => "Calendly refused webhooks for this account".to_owned(),
        _ => return None,
    })
}

async fn list_user_subscriptions(
    state: &AppState,
    user: AdviserId,
    org: &OrganizationUri,
    user_uri: &CalendlyUserUri,
) -> Result<Vec<WebhookSubscription>, TokenError> {
    let mut all = Vec::new();
    let mut page_token = None;
    loop {
        let request = ListWebhookSubscriptions {
            organization: org.clone(),
            scope: SubscriptionScope::User,
            user: Some(user_uri.clone()),
            count: Some(100),
            page_token: page_token.clone(),
        };
        let page = with_token(state, user, |t| {
            let request = request.clone();
            async move {
                state
                    .calendly
                    .api
                    .list_webhook_subscriptions(&t, &request)
                    .await
            }
        })
        .await?;
        // An empty page that still offers a next token would otherwise loop forever.
        let empty = page.collection.is_empty();
        all.extend(page.collection);
        match page.next_page_token {
            Some(next) if !empty && all.len() < 1000 => page_token = Some(next),
            _ => return Ok(all),
        }
    }
}

async fn create(
    state: &AppState,
    user: AdviserId,
    org: &OrganizationUri,
    user_uri: &CalendlyUserUri,
    callback_url: &str,
) -> Result<WebhookSubscription, TokenError> {
    let signing_key = state.calendly.signing_key.clone();
    with_token(state, user, |t| {
        let signing_key = signing_key.clone();
        async move {
            let request = CreateWebhookSubscription {
                url: callback_url.to_owned(),
                events: events(),
                organization: org.clone(),
                user: Some(user_uri.clone()),
                scope: SubscriptionScope::User,
                // Under OAuth Calendly signs with the app key anyway; sending the same key means
                // either Calendly behaviour verifies (calendly-api.md §4).
                signing_key: Some(&signing_key),
            };
            state
                .calendly
                .api
                .create_webhook_subscription(&t, &request)
                .await
        }
    })
    .await
}

/// Deletes a subscription at Calendly; 404 counts as already gone.
pub(super) async fn delete_remote(
    state: &AppState,
    user: AdviserId,
    uri: &SubscriptionUri,
) -> Result<(), TokenError> {
    match with_token(state, user, |t| {
        let uri = uri.clone();
        async move {
            state
                .calendly
                .api
                .delete_webhook_subscription(&t, &uri)
                .await
        }
    })
    .await
    {
        Ok(()) | Err(TokenError::Calendly(calendly::Error::NotFound)) => Ok(()),
        Err(e) => Err(e),
    }
}

async fn record_remote(
    state: &AppState,
    id: i64,
    remote: &WebhookSubscription,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE calendly_webhook_subscriptions SET state = $1, retry_started_at = $2, updated_at = $3 WHERE id = $4")
        .bind(remote.state.as_str())
        .bind(remote.retry_started_at.map(|t| t.to_rfc3339()))
        .bind(now)
        .bind(id)
        .execute(state.db.pool())
        .await?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn save_local(
    state: &AppState,
    user: AdviserId,
    connection: &store::ConnectionRow,
    route_token: &str,
    callback_url: &str,
    remote: &WebhookSubscription,
    local: Option<&SubscriptionRow>,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let mut tx = state.db.begin_write().await?;
    // Disconnected (by another instance) while Calendly was being asked: record nothing active.
    let (status,): (String,) =
        sqlx::query_as("SELECT status FROM calendar_connections WHERE user_id = $1")
            .bind(user.0)
            .fetch_one(&mut *tx)
            .await?;
    if status != "connected" {
        return Ok(false);
    }
    match local {
        Some(l) => {
            sqlx::query(
                "UPDATE calendly_webhook_subscriptions SET subscription_uri = $1, state = $2, retry_started_at = $3, user_uri = $4, \
                 organization_uri = $5, updated_at = $6 WHERE id = $7",
            )
            .bind(remote.uri.as_str())
            .bind(remote.state.as_str())
            .bind(remote.retry_started_at.map(|t| t.to_rfc3339()))
            .bind(&connection.calendly_user_uri)
            .bind(&connection.organization_uri)
            .bind(now)
            .bind(l.id)
            .execute(&mut *tx)
            .await?;
        }
        None => {
            sqlx::query("UPDATE calendly_webhook_subscriptions SET is_active = 0, state = 'replaced', updated_at = $1 WHERE user_id = $2 AND is_active = 1")
                .bind(now)
                .bind(user.0)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO calendly_webhook_subscriptions (user_id, scope, user_uri, organization_uri, subscription_uri, route_token, \
                 callback_url, state, is_active, retry_started_at, created_at, updated_at) VALUES ($1, 'user', $2, $3, $4, $5, $6, $7, 1, $8, $9, $9)",
            )
            .bind(user.0)
            .bind(&connection.calendly_user_uri)
            .bind(&connection.organization_uri)
            .bind(remote.uri.as_str())
            .bind(route_token)
            .bind(callback_url)
            .bind(remote.state.as_str())
            .bind(remote.retry_started_at.map(|t| t.to_rfc3339()))
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forbidden(message: &str) -> calendly::Error {
        calendly::Error::Forbidden {
            title: "Permission Denied".into(),
            message: message.into(),
            required_scopes: vec![],
        }
    }

    fn public_url() -> url::Url {
        url::Url::parse("https://advicly.example.com").unwrap()
    }

    #[test]
    fn the_plan_copy_appears_only_when_calendlys_403_says_so() {
        let plan = refusal_reason(
            &forbidden("Please upgrade to a paid Calendly account."),
            &public_url(),
        )
        .unwrap();
        assert!(plan.contains("plan"), "{plan}");
        let other =
            refusal_reason(&forbidden("You do not have permission"), &public_url()).unwrap();
        assert!(!other.contains("plan"), "{other}");
        assert!(other.contains("You do not have permission"), "{other}");
    }

    #[test]
    fn a_refused_callback_url_is_the_operators_to_fix_not_a_reconnect() {
        let err = calendly::Error::InvalidArgument {
            message: "The supplied parameters are invalid.".into(),
            details: vec![calendly::ErrorDetail {
                parameter: Some("url".into()),
                message: "must be a publicly reachable https URL".into(),
                code: None,
            }],
        };
        let reason = refusal_reason(&err, &public_url()).unwrap();
        assert!(
            reason.contains("APP_PUBLIC_URL") && reason.contains("https://advicly.example.com"),
            "{reason}"
        );
        assert!(!reason.contains("reconnect"), "{reason}");
    }

    #[test]
    fn transient_errors_are_not_refusals() {
        assert_eq!(
            refusal_reason(&calendly::Error::Server { status: 503 }, &public_url()),
            None
        );
        assert_eq!(
            refusal_reason(&calendly::Error::Transport("down".into()), &public_url()),
            None
        );
    }
}
