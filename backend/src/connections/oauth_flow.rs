//! Connect: the OAuth authorization-code flow with PKCE (S256) and a one-time `state` bound to
//! the adviser's session; then the connection is stored and its webhook subscription ensured.

use calendly::secrets::AccessToken;
use url::Url;

use super::error::ConnectError;
use super::store::LiveUpdates;
use super::subscription::ensure_subscription;
use crate::accounts::AdviserId;
use crate::crypto::{secret_context, sha256_hex};
use crate::AppState;

/// A pending authorization is valid this long (Calendly's codes live 10 minutes).
const STATE_TTL_MS: i64 = 10 * 60 * 1000;

/// The query string Calendly sends the browser back with.
#[derive(Debug, Default, serde::Deserialize)]
pub struct CallbackParams {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// Starts connecting: remembers state + PKCE verifier for this session, returns Calendly's
/// consent URL.
#[tracing::instrument(skip_all, fields(user_id = user.0))]
pub async fn begin_connect(
    state: &AppState,
    user: AdviserId,
    session_token: &str,
) -> Result<Url, ConnectError> {
    let request = state
        .calendly
        .oauth
        .authorize_url(&calendly::REQUIRED_SCOPES.split(' ').collect::<Vec<_>>());
    let now = state.clock.now_ms();
    sqlx::query("DELETE FROM oauth_states WHERE expires_at < $1")
        .bind(now)
        .execute(state.db.pool())
        .await?;
    sqlx::query(
        "INSERT INTO oauth_states (state_hash, user_id, session_hash, pkce_verifier_enc, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(sha256_hex(&request.state))
    .bind(user.0)
    .bind(sha256_hex(session_token))
    .bind(state.settings.encryption_key.encrypt(&request.pkce_verifier, &secret_context("pkce_verifier", user.0)))
    .bind(now)
    .bind(now + STATE_TTL_MS)
    .execute(state.db.pool())
    .await?;
    Ok(request.url)
}

/// Finishes connecting from Calendly's redirect (the caller then starts the first sync). The
/// `state` is consumed whatever happens, so it can never be replayed; it must belong to this
/// adviser's current session and be unexpired.
#[tracing::instrument(skip_all, fields(user_id = user.0))]
pub async fn finish_connect(
    state: &AppState,
    user: AdviserId,
    session_token: &str,
    params: CallbackParams,
) -> Result<(), ConnectError> {
    let returned_state = params
        .state
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or(ConnectError::InvalidState)?;
    let pending: Option<(i64, String, Vec<u8>, i64)> = sqlx::query_as(
        "DELETE FROM oauth_states WHERE state_hash = $1 RETURNING user_id, session_hash, pkce_verifier_enc, expires_at",
    )
    .bind(sha256_hex(returned_state))
    .fetch_optional(state.db.pool())
    .await?;
    let Some((owner, session_hash, verifier_enc, expires_at)) = pending else {
        tracing::warn!("OAuth callback with an unknown or already used state");
        return Err(ConnectError::InvalidState);
    };
    let now = state.clock.now_ms();
    if owner != user.0 || session_hash != sha256_hex(session_token) || expires_at < now {
        tracing::warn!(
            state_owner = owner,
            "OAuth callback state does not belong to this session or has expired"
        );
        return Err(ConnectError::InvalidState);
    }
    if let Some(error) = params.error.as_deref() {
        let description = params.error_description.as_deref().unwrap_or("");
        if error == "access_denied" {
            tracing::info!(error, description, "Calendly consent not granted");
            return Err(ConnectError::Denied);
        }
        // invalid_scope, unauthorized_client, server_error…: not the adviser's choice.
        tracing::warn!(
            error,
            description,
            "Calendly's authorization answered with an error"
        );
        return Err(ConnectError::AuthorizeFailed {
            error: error.to_owned(),
        });
    }
    let code = params
        .code
        .as_deref()
        .filter(|c| !c.is_empty())
        .ok_or(ConnectError::InvalidState)?;
    let verifier = state
        .settings
        .encryption_key
        .decrypt(&verifier_enc, &secret_context("pkce_verifier", user.0))?;

    let tokens = state
        .calendly
        .oauth
        .exchange_code(code, &verifier)
        .await
        .map_err(|e| {
            if e.is_transient() {
                ConnectError::Unavailable(e)
            } else {
                ConnectError::Exchange(e)
            }
        })?;
    let me = state
        .calendly
        .api
        .get_current_user(&tokens.access_token)
        .await
        .map_err(|e| match e {
            calendly::Error::Forbidden { .. } | calendly::Error::Unauthorized { .. } => {
                ConnectError::ProfileRefused(e)
            }
            e => ConnectError::Unavailable(e),
        })?;
    // `/users/me` is authoritative; the token answer's owner, when present, must agree.
    if tokens.owner.as_ref().is_some_and(|owner| owner != &me.uri) {
        tracing::warn!(security_event = true, "token owner and /users/me disagree");
        return Err(ConnectError::Exchange(calendly::Error::Decode(
            "token owner does not match the current user".into(),
        )));
    }
    // Reconnecting with a different Calendly account: the old account's subscription and grant
    // are cleaned up exactly as a disconnect would, so its deliveries stop reaching this adviser.
    if let Some(previous) = super::store::load(&state.db, user).await? {
        let active = previous.status != super::store::ConnectionStatus::Disconnected;
        if active && previous.calendly_user_uri != me.uri.as_str() {
            super::disconnect::disconnect(state, user).await?;
        }
    }
    store_connection(state, user, &tokens, &me).await?;
    tracing::info!(calendly_user = %me.uri, "Calendly connected");

    // Live updates are best effort here: a refusal is recorded and shown, not a failed connect.
    if let Err(err) = ensure_subscription(state, user).await {
        tracing::warn!(error = %err, "could not ensure the webhook subscription");
    }
    Ok(())
}

async fn store_connection(
    state: &AppState,
    user: AdviserId,
    tokens: &calendly::oauth::TokenSet,
    me: &calendly::User,
) -> Result<(), sqlx::Error> {
    let key = &state.settings.encryption_key;
    let now = state.clock.now_ms();
    let access: &AccessToken = &tokens.access_token;
    sqlx::query(
        "INSERT INTO calendar_connections (user_id, status, calendly_user_uri, organization_uri, calendly_name, calendly_email, timezone, \
             access_token_enc, refresh_token_enc, access_expires_at, scope, live_updates, live_updates_reason, connected_at, updated_at, \
             next_sync_at, sync_cursor, last_full_sync_at) \
         VALUES ($1, 'connected', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL, $12, $12, $13, NULL, NULL) \
         ON CONFLICT (user_id) DO UPDATE SET status = 'connected', calendly_user_uri = excluded.calendly_user_uri, \
             organization_uri = excluded.organization_uri, calendly_name = excluded.calendly_name, calendly_email = excluded.calendly_email, \
             timezone = excluded.timezone, access_token_enc = excluded.access_token_enc, refresh_token_enc = excluded.refresh_token_enc, \
             access_expires_at = excluded.access_expires_at, scope = excluded.scope, live_updates = excluded.live_updates, \
             live_updates_reason = NULL, connected_at = excluded.connected_at, updated_at = excluded.updated_at, \
             next_sync_at = excluded.next_sync_at, sync_cursor = NULL, last_full_sync_at = NULL",
    )
    .bind(user.0)
    .bind(me.uri.as_str())
    .bind(
        tokens
            .organization
            .as_ref()
            .unwrap_or(&me.current_organization)
            .as_str(),
    )
    .bind(&me.name)
    .bind(&me.email)
    .bind(&me.timezone)
    .bind(key.encrypt(access.expose_secret(), &secret_context("access_token", user.0)))
    .bind(key.encrypt(tokens.refresh_token.expose_secret(), &secret_context("refresh_token", user.0)))
    .bind(now + tokens.expires_in * 1000)
    .bind(tokens.scope.as_deref())
    .bind(LiveUpdates::Pending.as_str())
    .bind(now)
    // The backfill that follows connecting is this interval's sync: the background round must
    // not run a second one straight away.
    .bind(now + state.settings.sync_interval.as_millis() as i64)
    .execute(state.db.pool())
    .await?;
    Ok(())
}
