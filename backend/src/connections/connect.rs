//! Connect: the OAuth authorization-code flow with PKCE (S256) and a one-time `state` bound to
//! the adviser's session; then the connection is stored and its webhook subscription ensured.

use url::Url;

use super::error::ConnectError;
use super::store::oauth_states::{self, PendingConnect};
use super::store::{self, ConnectionStatus, NewConnection};
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
#[tracing::instrument(skip_all, fields(user_id = adviser.0))]
pub async fn begin_connect(
    state: &AppState,
    adviser: AdviserId,
    session_token: &str,
) -> Result<Url, ConnectError> {
    let request = state
        .calendly
        .oauth
        .authorize_url(&calendly::REQUIRED_SCOPES.split(' ').collect::<Vec<_>>());
    let now = state.clock.now_ms();
    let pending = PendingConnect {
        user_id: adviser.0,
        session_hash: sha256_hex(session_token),
        pkce_verifier_enc: state.settings.encryption_key.encrypt(
            &request.pkce_verifier,
            &secret_context("pkce_verifier", adviser.0),
        ),
        expires_at: now + STATE_TTL_MS,
    };
    oauth_states::insert(
        &state.db,
        &sha256_hex(&request.state),
        adviser,
        &pending,
        now,
    )
    .await?;
    Ok(request.url)
}

/// Finishes connecting from Calendly's redirect (the caller then starts the first sync). The
/// `state` is consumed whatever happens, so it can never be replayed; it must belong to this
/// adviser's current session and be unexpired.
#[tracing::instrument(skip_all, fields(user_id = adviser.0))]
pub async fn finish_connect(
    state: &AppState,
    adviser: AdviserId,
    session_token: &str,
    params: CallbackParams,
) -> Result<(), ConnectError> {
    let pending = take_pending(state, adviser, session_token, &params).await?;
    authorized(&params)?;
    let code = params
        .code
        .as_deref()
        .filter(|c| !c.is_empty())
        .ok_or(ConnectError::InvalidState)?;
    let verifier = state.settings.encryption_key.decrypt(
        &pending.pkce_verifier_enc,
        &secret_context("pkce_verifier", adviser.0),
    )?;
    let (tokens, me) = exchange(state, code, &verifier).await?;
    // Reconnecting with a different Calendly account: the old account's subscription and grant
    // are cleaned up exactly as a disconnect would, so its deliveries stop reaching this adviser.
    if let Some(previous) = store::load(&state.db, adviser).await? {
        let active = previous.status != ConnectionStatus::Disconnected;
        if active && previous.calendly_user_uri != me.uri.as_str() {
            super::disconnect::disconnect(state, adviser).await?;
        }
    }
    store_connection(state, adviser, &tokens, &me).await?;
    tracing::info!(calendly_user = %me.uri, "Calendly connected");

    // Live updates are best effort here: a refusal is recorded and shown, not a failed connect.
    if let Err(err) = ensure_subscription(state, adviser).await {
        tracing::warn!(error = %err, "could not ensure the webhook subscription");
    }
    Ok(())
}

/// Consumes the attempt the returned `state` names; it must be this session's and unexpired.
async fn take_pending(
    state: &AppState,
    adviser: AdviserId,
    session_token: &str,
    params: &CallbackParams,
) -> Result<PendingConnect, ConnectError> {
    let returned_state = params
        .state
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or(ConnectError::InvalidState)?;
    let Some(pending) = oauth_states::take(&state.db, &sha256_hex(returned_state)).await? else {
        tracing::warn!("OAuth callback with an unknown or already used state");
        return Err(ConnectError::InvalidState);
    };
    let now = state.clock.now_ms();
    if pending.user_id != adviser.0
        || pending.session_hash != sha256_hex(session_token)
        || pending.expires_at < now
    {
        tracing::warn!(
            state_owner = pending.user_id,
            "OAuth callback state does not belong to this session or has expired"
        );
        return Err(ConnectError::InvalidState);
    }
    Ok(pending)
}

/// The authorize step's own answer: consent refused, or an OAuth error that is not the adviser's
/// choice (invalid_scope, unauthorized_client, server_error…).
fn authorized(params: &CallbackParams) -> Result<(), ConnectError> {
    let Some(error) = params.error.as_deref() else {
        return Ok(());
    };
    let description = params.error_description.as_deref().unwrap_or("");
    if error == "access_denied" {
        tracing::info!(error, description, "Calendly consent not granted");
        return Err(ConnectError::Denied);
    }
    tracing::warn!(
        error,
        description,
        "Calendly's authorization answered with an error"
    );
    Err(ConnectError::AuthorizeFailed {
        error: error.to_owned(),
    })
}

/// The code for tokens, and whose they are (`/users/me` is authoritative; the token answer's
/// owner, when present, must agree).
async fn exchange(
    state: &AppState,
    code: &str,
    verifier: &str,
) -> Result<(calendly::oauth::TokenSet, calendly::User), ConnectError> {
    let tokens = state
        .calendly
        .oauth
        .exchange_code(code, verifier)
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
    if tokens.owner.as_ref().is_some_and(|owner| owner != &me.uri) {
        tracing::warn!(security_event = true, "token owner and /users/me disagree");
        return Err(ConnectError::Exchange(calendly::Error::Decode(
            "token owner does not match the current user".into(),
        )));
    }
    Ok((tokens, me))
}

async fn store_connection(
    state: &AppState,
    adviser: AdviserId,
    tokens: &calendly::oauth::TokenSet,
    me: &calendly::User,
) -> Result<(), sqlx::Error> {
    let key = &state.settings.encryption_key;
    let now = state.clock.now_ms();
    let organization = tokens
        .organization
        .as_ref()
        .unwrap_or(&me.current_organization);
    let connection = NewConnection {
        calendly_user_uri: me.uri.as_str(),
        organization_uri: organization.as_str(),
        calendly_name: &me.name,
        calendly_email: &me.email,
        timezone: &me.timezone,
        access_token_enc: key.encrypt(
            tokens.access_token.expose_secret(),
            &secret_context("access_token", adviser.0),
        ),
        refresh_token_enc: key.encrypt(
            tokens.refresh_token.expose_secret(),
            &secret_context("refresh_token", adviser.0),
        ),
        access_expires_at: now + tokens.expires_in * 1000,
        scope: tokens.scope.as_deref(),
        // The backfill that follows connecting is this interval's sync: the background round
        // must not run a second one straight away.
        next_sync_at: now + state.settings.sync_interval.as_millis() as i64,
    };
    store::upsert_connected(&state.db, adviser, &connection, now).await
}
