//! Access tokens that are always fresh. Refresh tokens are single-use (calendly-api.md §1.5), so
//! a refresh is single-flight per adviser: an in-process lock plus a short lease on the
//! connection row, so several instances never spend the same refresh token, and no connection
//! or lock is held while Calendly answers. The rotated pair is saved the moment it arrives.
//! Only `invalid_grant` means "needs reconnect".

use calendly::secrets::{AccessToken, RefreshToken};

use super::store::{self, ConnectionStatus, StoredTokens};
use crate::accounts::AdviserId;
use crate::crypto::secret_context;
use crate::AppState;

/// Refresh when the access token has less than this left.
const EXPIRY_MARGIN_MS: i64 = 5 * 60 * 1000;

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("Calendly is not connected")]
    NotConnected,
    #[error("Calendly needs to be reconnected")]
    NeedsReconnect,
    #[error(transparent)]
    Calendly(#[from] calendly::Error),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Crypto(#[from] crate::crypto::DecryptError),
    /// Another instance is refreshing this adviser's tokens and has not finished yet.
    #[error("another instance is refreshing Calendly's tokens; try again shortly")]
    RefreshInProgress,
}

/// The adviser's stored tokens, if the connection is in use: a disconnected one is
/// `NotConnected`, one that needs reconnecting `NeedsReconnect`.
async fn connected_tokens(
    state: &AppState,
    adviser: AdviserId,
) -> Result<StoredTokens, TokenError> {
    let tokens = store::stored_tokens(&state.db, adviser)
        .await?
        .ok_or(TokenError::NotConnected)?;
    match tokens.status {
        ConnectionStatus::Connected => Ok(tokens),
        ConnectionStatus::NeedsReconnect => Err(TokenError::NeedsReconnect),
        ConnectionStatus::Disconnected => Err(TokenError::NotConnected),
    }
}

/// A usable access token for the adviser, refreshed first if it is about to expire.
pub async fn access_token(state: &AppState, adviser: AdviserId) -> Result<AccessToken, TokenError> {
    readable(state, adviser, stored_or_refreshed(state, adviser).await).await
}

/// A stored token that no longer decrypts (`APP_ENCRYPTION_KEY` changed, or the format did)
/// can never work again: the connection becomes "needs reconnect" once, with one clear log
/// line, instead of every call failing with the same error forever.
async fn readable<T>(
    state: &AppState,
    adviser: AdviserId,
    result: Result<T, TokenError>,
) -> Result<T, TokenError> {
    let Err(TokenError::Crypto(err)) = result else {
        return result;
    };
    tracing::error!(
        user_id = adviser.0,
        error = %err,
        "stored Calendly tokens cannot be decrypted with APP_ENCRYPTION_KEY: connection needs reconnect"
    );
    sqlx::query(
        "UPDATE calendar_connections SET status = $1, updated_at = $2 WHERE user_id = $3 AND status = $4",
    )
    .bind(ConnectionStatus::NeedsReconnect.as_str())
    .bind(state.clock.now_ms())
    .bind(adviser.0)
    .bind(ConnectionStatus::Connected.as_str())
    .execute(state.db.pool())
    .await?;
    Err(TokenError::NeedsReconnect)
}

async fn stored_or_refreshed(
    state: &AppState,
    adviser: AdviserId,
) -> Result<AccessToken, TokenError> {
    let tokens = connected_tokens(state, adviser).await?;
    match (tokens.access_token_enc, tokens.access_expires_at) {
        (Some(access), Some(expires_at))
            if expires_at - EXPIRY_MARGIN_MS > state.clock.now_ms() =>
        {
            Ok(AccessToken::new(state.settings.encryption_key.decrypt(
                &access,
                &secret_context("access_token", adviser.0),
            )?))
        }
        _ => refresh(state, adviser, None).await,
    }
}

/// A new access token in place of `rejected` (which Calendly answered 401 to): refreshed, or
/// the one another task or instance stored meanwhile.
pub(super) async fn refresh_rejected(
    state: &AppState,
    adviser: AdviserId,
    rejected: &str,
) -> Result<AccessToken, TokenError> {
    readable(
        state,
        adviser,
        refresh(state, adviser, Some(rejected)).await,
    )
    .await
}

/// How long a refresh lease lasts: longer than any refresh takes (Calendly's answer is bounded
/// by the client's timeout), short enough that a killed instance's lease soon expires.
const REFRESH_LEASE_MS: i64 = 30_000;
/// How long a refresh waits for another instance's refresh of the same tokens to finish.
const REFRESH_WAIT: std::time::Duration = std::time::Duration::from_secs(15);

/// Refreshes unless another task (or instance) already did since `rejected` was read.
///
/// Single-flight without holding a database connection or row lock while Calendly answers (a
/// slow Calendly must not pin a connection, nor an outage cut a transaction holding the rotated
/// pair): an in-process lock, and across instances a short lease on the connection row taken
/// by a conditional UPDATE. The rotated pair is saved as soon as Calendly answers.
async fn refresh(
    state: &AppState,
    adviser: AdviserId,
    rejected: Option<&str>,
) -> Result<AccessToken, TokenError> {
    let lock = state.locks.for_key(adviser.0);
    let _guard = lock.lock().await;
    let waited = std::time::Instant::now();
    loop {
        if let Some(token) = usable_token(state, adviser, rejected).await? {
            return Ok(token);
        }
        if claim_refresh_lease(state, adviser).await? {
            break;
        }
        if waited.elapsed() > REFRESH_WAIT {
            return Err(TokenError::RefreshInProgress);
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // Another instance may have finished just before the lease was ours.
    let (result, released) = match usable_token(state, adviser, rejected).await {
        Ok(Some(token)) => (Ok(token), false),
        Ok(None) => {
            let refreshed = refresh_leased(state, adviser).await;
            let saved = refreshed.is_ok();
            (refreshed, saved) // saving the rotated pair released the lease
        }
        Err(err) => (Err(err), false),
    };
    if !released {
        let _ = sqlx::query(
            "UPDATE calendar_connections SET refresh_lease_until = NULL WHERE user_id = $1",
        )
        .bind(adviser.0)
        .execute(state.db.pool())
        .await;
    }
    result
}

/// The stored access token, if it is good for a while yet and is not the one Calendly rejected.
async fn usable_token(
    state: &AppState,
    adviser: AdviserId,
    rejected: Option<&str>,
) -> Result<Option<AccessToken>, TokenError> {
    let tokens = connected_tokens(state, adviser).await?;
    if let (Some(access), Some(expires_at)) = (&tokens.access_token_enc, tokens.access_expires_at) {
        let current = state
            .settings
            .encryption_key
            .decrypt(access, &secret_context("access_token", adviser.0))?;
        if expires_at - EXPIRY_MARGIN_MS > state.clock.now_ms()
            && rejected != Some(current.as_str())
        {
            return Ok(Some(AccessToken::new(current)));
        }
    }
    Ok(None)
}

/// Takes the refresh lease unless another instance holds it.
async fn claim_refresh_lease(state: &AppState, adviser: AdviserId) -> Result<bool, sqlx::Error> {
    let now = state.clock.now_ms();
    let claimed = sqlx::query(
        "UPDATE calendar_connections SET refresh_lease_until = $1 WHERE user_id = $2 AND status = 'connected' \
         AND (refresh_lease_until IS NULL OR refresh_lease_until <= $3)",
    )
    .bind(now + REFRESH_LEASE_MS)
    .bind(adviser.0)
    .bind(now)
    .execute(state.db.pool())
    .await?;
    Ok(claimed.rows_affected() == 1)
}

/// The refresh itself, under the lease; every write releases it.
async fn refresh_leased(state: &AppState, adviser: AdviserId) -> Result<AccessToken, TokenError> {
    let key = &state.settings.encryption_key;
    let refresh_enc = connected_tokens(state, adviser).await?.refresh_token_enc;
    let now = state.clock.now_ms();
    if let Err(wait) = state.limits.take_token_request(adviser.0, now) {
        tracing::warn!(
            user_id = adviser.0,
            wait,
            "token request limit reached (8 per minute); waiting"
        );
        return Err(calendly::Error::RateLimited { reset_secs: wait }.into());
    }
    let refresh_token = RefreshToken::new(key.decrypt(
        &refresh_enc.ok_or(TokenError::NotConnected)?,
        &secret_context("refresh_token", adviser.0),
    )?);
    let outcome = |o: &'static str| {
        state.metrics.inc(
            "calendly_token_refreshes_total",
            "Calendly token refreshes by outcome.",
            &[("outcome", o)],
        )
    };
    match state.calendly.oauth.refresh(&refresh_token).await {
        Ok(tokens) => {
            let access = keep_rotated(state, adviser, tokens, now).await?;
            outcome("ok");
            Ok(access)
        }
        Err(err) if err.is_invalid_grant() => {
            super::store::mark_needs_reconnect(&state.db, adviser, now).await?;
            tracing::warn!(
                user_id = adviser.0,
                "Calendly refused the refresh token: connection needs reconnect"
            );
            outcome("invalid_grant");
            Err(TokenError::NeedsReconnect)
        }
        Err(err) => {
            outcome("error");
            Err(err.into())
        }
    }
}

/// The old refresh token died the moment Calendly answered: the new pair is saved before
/// anything else can fail. Fields a refresh answer may leave out keep their stored values; a
/// changed organization is taken over. If the adviser disconnected meanwhile, these fresh tokens
/// must not outlive the connection: they are revoked.
async fn keep_rotated(
    state: &AppState,
    adviser: AdviserId,
    tokens: calendly::oauth::TokenSet,
    now: i64,
) -> Result<AccessToken, TokenError> {
    if save_rotated(state, adviser, &tokens, now).await? {
        return Ok(tokens.access_token);
    }
    let oauth = &state.calendly.oauth;
    let _ = oauth.revoke(tokens.refresh_token.expose_secret()).await;
    let _ = oauth.revoke(tokens.access_token.expose_secret()).await;
    Err(TokenError::NotConnected)
}

/// Saves a rotated pair (and releases the lease): `false` when the adviser disconnected
/// meanwhile. The old refresh token died when Calendly answered, so a failing database is
/// retried for a while before the pair is given up.
async fn save_rotated(
    state: &AppState,
    adviser: AdviserId,
    tokens: &calendly::oauth::TokenSet,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let key = &state.settings.encryption_key;
    let access = key.encrypt(
        tokens.access_token.expose_secret(),
        &secret_context("access_token", adviser.0),
    );
    let refresh = key.encrypt(
        tokens.refresh_token.expose_secret(),
        &secret_context("refresh_token", adviser.0),
    );
    let organization = tokens.organization.as_ref().map(|o| o.as_str().to_owned());
    let mut attempt = 0;
    loop {
        let saved = sqlx::query(
            "UPDATE calendar_connections SET access_token_enc = $1, refresh_token_enc = $2, access_expires_at = $3, updated_at = $4, \
             organization_uri = COALESCE($6, organization_uri), refresh_lease_until = NULL WHERE user_id = $5 AND status = 'connected'",
        )
        .bind(&access)
        .bind(&refresh)
        .bind(now + tokens.expires_in * 1000)
        .bind(now)
        .bind(adviser.0)
        .bind(organization.as_deref())
        .execute(state.db.pool())
        .await;
        match saved {
            Ok(done) => return Ok(done.rows_affected() == 1),
            Err(err) if attempt < 20 => {
                attempt += 1;
                tracing::warn!(user_id = adviser.0, error = %err, attempt, "saving rotated Calendly tokens failed; retrying");
                tokio::time::sleep(std::time::Duration::from_millis(500 * attempt.min(6))).await;
            }
            Err(err) => {
                tracing::error!(user_id = adviser.0, error = %err, "rotated Calendly tokens could not be saved: the adviser will need to reconnect");
                return Err(err);
            }
        }
    }
}
