//! Exactly one active user-scoped webhook subscription per connected adviser, each with its own
//! callback URL `{APP_PUBLIC_URL}/api/calendly/webhook/{route_token}`. Ensuring is idempotent:
//! adopt what already matches, replace what is stale, create what is missing.

use calendly::ids::{CalendlyUserUri, OrganizationUri, SubscriptionUri};
use calendly::{
    CreateWebhookSubscription, ListWebhookSubscriptions, SubscriptionScope, SubscriptionState,
    WebhookSubscription,
};

use super::calendly::{calendly_for, AdviserCalendly};
use super::plan::{self, Candidate};
use super::store::subscriptions::{self, SavedSubscription, SubscriptionRow};
use super::store::{self, LiveUpdates};
use super::tokens::TokenError;
use crate::accounts::AdviserId;
use crate::calendly_app::WEBHOOK_PATH;
use crate::crypto::random_token;
use crate::AppState;

fn events() -> Vec<String> {
    calendly::INVITEE_EVENTS
        .iter()
        .map(|e| e.to_string())
        .collect()
}

/// How long a lease lasts if its holder dies (longer than any ensure: a few Calendly calls).
const LEASE_MS: i64 = 120_000;

/// Makes sure the adviser has one working subscription and records whether live updates are on.
/// Returns the resulting live-updates state (a refusal by Calendly is not an error).
#[tracing::instrument(skip_all, fields(user_id = adviser.0))]
pub async fn ensure_subscription(
    state: &AppState,
    adviser: AdviserId,
) -> Result<LiveUpdates, TokenError> {
    // One ensure per adviser at a time in this process (connect and reconciliation may overlap)…
    let lock = state.subscription_locks.for_key(adviser.0);
    let _guard = lock.lock().await;
    // …and across instances: a lease on the connection row.
    let now = state.clock.now_ms();
    if !subscriptions::take_lease(&state.db, adviser, now, now + LEASE_MS).await? {
        tracing::info!("another instance is ensuring this subscription; leaving it to that one");
        return Ok(store::load(&state.db, adviser)
            .await?
            .map(|c| c.live_updates)
            .unwrap_or(LiveUpdates::Pending));
    }
    let result = ensure_leased(state, adviser).await;
    if let Err(err) = subscriptions::release_lease(&state.db, adviser).await {
        tracing::warn!(error = %err, "could not release the subscription lease; it expires by itself");
    }
    result
}

/// The Calendly identities a subscription is made for.
struct Owner {
    user_uri: CalendlyUserUri,
    org_uri: OrganizationUri,
}

async fn ensure_leased(state: &AppState, adviser: AdviserId) -> Result<LiveUpdates, TokenError> {
    let connection = store::load(&state.db, adviser)
        .await?
        .ok_or(TokenError::NotConnected)?;
    let owner = Owner {
        user_uri: CalendlyUserUri::parse(&connection.calendly_user_uri)
            .map_err(|e| calendly::Error::Decode(e.to_string()))?,
        org_uri: OrganizationUri::parse(&connection.organization_uri)
            .map_err(|e| calendly::Error::Decode(e.to_string()))?,
    };
    let now = state.clock.now_ms();
    let local = subscriptions::active_for_user(&state.db, adviser).await?;
    let calendly = calendly_for(state, adviser);

    // 1. Our recorded subscription still exists, is active and points at our URL: keep it.
    let broken = match recorded_is_working(&calendly, local.as_ref()).await? {
        Recorded::Working(remote) => {
            let id = local.as_ref().map(|l| l.id).unwrap_or_default();
            subscriptions::record_remote(&state.db, id, &remote, now).await?;
            store::set_live_updates(&state.db, adviser, LiveUpdates::Active, None, now).await?;
            return Ok(LiveUpdates::Active);
        }
        Recorded::Broken => true,
        Recorded::Unknown => false,
    };

    // 2. A disabled or vanished subscription is replaced under a new URL, so the new one can be
    //    created before the old one is deleted. Otherwise keep our route token.
    let reuse = local.as_ref().filter(|_| !broken);
    let (route_token, callback_url) = route_for(state, reuse);

    // 3. Adopt what Calendly already has under this URL, else create it; what else of ours is
    //    there is stale and goes once the new one exists.
    let (remote, stale) = match adopt_or_create(state, &calendly, &owner, &callback_url).await? {
        Ok(found) => found,
        Err(refusal) => return refused(state, adviser, refusal, now).await,
    };
    let saved = SavedSubscription {
        user_uri: &connection.calendly_user_uri,
        organization_uri: &connection.organization_uri,
        route_token: &route_token,
        callback_url: &callback_url,
        remote: &remote,
    };
    if !subscriptions::save(&state.db, adviser, &saved, reuse.map(|l| l.id), now).await? {
        return Err(TokenError::NotConnected);
    }
    store::set_live_updates(&state.db, adviser, LiveUpdates::Active, None, now).await?;
    if broken {
        state.metrics.inc(
            "calendly_subscription_repairs_total",
            "Webhook subscriptions replaced because Calendly disabled or lost them.",
            &[],
        );
    }
    for uri in stale {
        if let Err(err) = delete_remote(&calendly, &uri).await {
            tracing::warn!(error = %err, subscription = %uri, "could not delete a stale subscription; reconciliation will retry");
        }
    }
    Ok(LiveUpdates::Active)
}

/// The route token and callback URL to subscribe with: the recorded ones, or fresh ones.
fn route_for(state: &AppState, reuse: Option<&SubscriptionRow>) -> (String, String) {
    match reuse {
        Some(l) => (l.route_token.clone(), l.callback_url.clone()),
        None => {
            let token = random_token(16);
            let url = state
                .settings
                .public_link(&format!("{WEBHOOK_PATH}/{token}"));
            (token, url)
        }
    }
}

/// What became of the subscription we recorded.
enum Recorded {
    /// Active at Calendly and pointing at our URL.
    Working(Box<WebhookSubscription>),
    /// Disabled, pointing elsewhere, or gone.
    Broken,
    /// None recorded (or its URI unreadable).
    Unknown,
}

async fn recorded_is_working(
    calendly: &AdviserCalendly<'_>,
    local: Option<&SubscriptionRow>,
) -> Result<Recorded, TokenError> {
    let Some(local) = local else {
        return Ok(Recorded::Unknown);
    };
    let Some(uri) = local
        .subscription_uri
        .as_deref()
        .and_then(|u| SubscriptionUri::parse(u).ok())
    else {
        return Ok(Recorded::Unknown);
    };
    let api = calendly.api();
    let remote = calendly
        .call(|t| {
            let uri = uri.clone();
            async move { api.get_webhook_subscription(&t, &uri).await }
        })
        .await;
    match remote {
        Ok(remote)
            if remote.state == SubscriptionState::Active
                && remote.callback_url == local.callback_url =>
        {
            Ok(Recorded::Working(Box::new(remote)))
        }
        Ok(_) | Err(TokenError::Calendly(calendly::Error::NotFound)) => Ok(Recorded::Broken),
        Err(e) => Err(e),
    }
}

/// The working subscription at `callback_url` (adopted or created) and the stale ones of ours to
/// delete after; or Calendly's refusal (the inner `Err`).
async fn adopt_or_create(
    state: &AppState,
    calendly: &AdviserCalendly<'_>,
    owner: &Owner,
    callback_url: &str,
) -> Result<Result<(WebhookSubscription, Vec<SubscriptionUri>), TokenError>, TokenError> {
    let our_prefix = state.settings.public_link(WEBHOOK_PATH);
    let mut candidates = Vec::new();
    for sub in list_user_subscriptions(calendly, owner).await? {
        let another_of_ours = sub.callback_url != callback_url
            && is_ours(state, calendly.adviser(), &our_prefix, &sub.callback_url).await?;
        candidates.push(Candidate {
            sub,
            another_of_ours,
        });
    }
    let plan = plan::sort_out(candidates, callback_url);
    for uri in &plan.delete_first {
        delete_remote(calendly, uri).await?;
    }
    if let Some(sub) = plan.adopt {
        return Ok(Ok((sub, plan.stale)));
    }
    let created = match create(state, calendly, owner, callback_url).await {
        Err(TokenError::Calendly(calendly::Error::Conflict { .. })) => {
            // Calendly already has this URL: adopt it if it is a working one of ours, else
            // replace it.
            let candidates = list_user_subscriptions(calendly, owner)
                .await?
                .into_iter()
                .map(|sub| Candidate {
                    sub,
                    another_of_ours: false,
                });
            let retry = plan::sort_out(candidates.collect(), callback_url);
            for uri in &retry.delete_first {
                delete_remote(calendly, uri).await?;
            }
            match retry.adopt {
                Some(sub) => Ok(sub),
                None => create(state, calendly, owner, callback_url).await,
            }
        }
        other => other,
    };
    Ok(created.map(|sub| (sub, plan.stale)))
}

/// A subscription of this Calendly user under our webhook path that is this adviser's to clean
/// up: one of *this adviser's* route tokens (past or present), or a token no adviser of ours
/// holds (an orphan, e.g. created by an attempt that died before storing it). Another adviser may
/// have connected the same Calendly account; their tokens are not ours to delete.
async fn is_ours(
    state: &AppState,
    adviser: AdviserId,
    prefix: &str,
    callback_url: &str,
) -> Result<bool, sqlx::Error> {
    let Some(token) = callback_url
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('/'))
    else {
        return Ok(false);
    };
    let holders = subscriptions::route_token_holders(&state.db, token).await?;
    Ok(holders.is_empty() || holders.contains(&adviser))
}

/// Calendly said no for a reason that retrying will not fix: record it for the page (the
/// connection is polled meanwhile) and keep trying at each reconciliation.
async fn refused(
    state: &AppState,
    adviser: AdviserId,
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
        adviser,
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
    calendly: &AdviserCalendly<'_>,
    owner: &Owner,
) -> Result<Vec<WebhookSubscription>, TokenError> {
    let mut all = Vec::new();
    let mut page_token = None;
    loop {
        let request = ListWebhookSubscriptions {
            organization: owner.org_uri.clone(),
            scope: SubscriptionScope::User,
            user: Some(owner.user_uri.clone()),
            count: Some(100),
            page_token: page_token.clone(),
        };
        let api = calendly.api();
        let page = calendly
            .call(|t| {
                let request = request.clone();
                async move { api.list_webhook_subscriptions(&t, &request).await }
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
    calendly: &AdviserCalendly<'_>,
    owner: &Owner,
    callback_url: &str,
) -> Result<WebhookSubscription, TokenError> {
    let signing_key = state.calendly.signing_key.clone();
    let api = calendly.api();
    calendly
        .call(|t| {
            let signing_key = signing_key.clone();
            async move {
                let request = CreateWebhookSubscription {
                    url: callback_url.to_owned(),
                    events: events(),
                    organization: owner.org_uri.clone(),
                    user: Some(owner.user_uri.clone()),
                    scope: SubscriptionScope::User,
                    // Under OAuth Calendly signs with the app key anyway; sending the same key means
                    // either Calendly behaviour verifies (calendly-api.md §4).
                    signing_key: Some(&signing_key),
                };
                api.create_webhook_subscription(&t, &request).await
            }
        })
        .await
}

/// Deletes a subscription at Calendly; 404 counts as already gone.
async fn delete_remote(
    calendly: &AdviserCalendly<'_>,
    uri: &SubscriptionUri,
) -> Result<(), TokenError> {
    let api = calendly.api();
    match calendly
        .call(|t| {
            let uri = uri.clone();
            async move { api.delete_webhook_subscription(&t, &uri).await }
        })
        .await
    {
        Ok(()) | Err(TokenError::Calendly(calendly::Error::NotFound)) => Ok(()),
        Err(e) => Err(e),
    }
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
