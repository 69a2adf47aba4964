//! Access tokens that are always fresh. Refresh tokens are single-use (calendly-api.md §1.5), so
//! a refresh is single-flight per adviser: an in-process lock plus, on PostgreSQL, a row lock
//! (`FOR UPDATE`) so several instances never spend the same refresh token. The rotated token is
//! saved in the same transaction. Only `invalid_grant` means "needs reconnect".

use std::future::Future;

use calendly::secrets::{AccessToken, RefreshToken};

use super::store::ConnectionStatus;
use crate::accounts::AdviserId;
use crate::crypto::secret_context;
use crate::db::DbKind;
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
}

type TokenRow = (String, Option<Vec<u8>>, Option<Vec<u8>>, Option<i64>);

/// A usable access token for the adviser, refreshed first if it is about to expire.
pub async fn access_token(state: &AppState, user: AdviserId) -> Result<AccessToken, TokenError> {
    readable(state, user, stored_or_refreshed(state, user).await).await
}

/// A stored token that no longer decrypts (`APP_ENCRYPTION_KEY` changed, or the format did)
/// can never work again: the connection becomes "needs reconnect" once, with one clear log
/// line, instead of every call failing with the same error forever.
async fn readable<T>(
    state: &AppState,
    user: AdviserId,
    result: Result<T, TokenError>,
) -> Result<T, TokenError> {
    let Err(TokenError::Crypto(err)) = result else {
        return result;
    };
    tracing::error!(
        user_id = user.0,
        error = %err,
        "stored Calendly tokens cannot be decrypted with APP_ENCRYPTION_KEY: connection needs reconnect"
    );
    sqlx::query(
        "UPDATE calendar_connections SET status = $1, updated_at = $2 WHERE user_id = $3 AND status = $4",
    )
    .bind(ConnectionStatus::NeedsReconnect.as_str())
    .bind(state.clock.now_ms())
    .bind(user.0)
    .bind(ConnectionStatus::Connected.as_str())
    .execute(state.db.pool())
    .await?;
    Err(TokenError::NeedsReconnect)
}

async fn stored_or_refreshed(state: &AppState, user: AdviserId) -> Result<AccessToken, TokenError> {
    let row: Option<TokenRow> = sqlx::query_as(
        "SELECT status, access_token_enc, refresh_token_enc, access_expires_at FROM calendar_connections WHERE user_id = $1",
    )
    .bind(user.0)
    .fetch_optional(state.db.pool())
    .await?;
    let (status, access, _, expires_at) = row.ok_or(TokenError::NotConnected)?;
    check_status(&status)?;
    match (access, expires_at) {
        (Some(access), Some(expires_at))
            if expires_at - EXPIRY_MARGIN_MS > state.clock.now_ms() =>
        {
            Ok(AccessToken::new(state.settings.encryption_key.decrypt(
                &access,
                &secret_context("access_token", user.0),
            )?))
        }
        _ => refresh(state, user, None).await,
    }
}

/// Runs `call` with a fresh token; on a 401 refreshes once and retries.
pub async fn with_token<T, F, Fut>(
    state: &AppState,
    user: AdviserId,
    call: F,
) -> Result<T, TokenError>
where
    F: Fn(AccessToken) -> Fut,
    Fut: Future<Output = Result<T, calendly::Error>>,
{
    if let Some(reset_secs) = state.limits.wait_secs(user.0, state.clock.now_ms()) {
        return Err(calendly::Error::RateLimited { reset_secs }.into());
    }
    let token = access_token(state, user).await?;
    let used = token.expose_secret().to_owned();
    let result = match call(token).await {
        Err(calendly::Error::Unauthorized { .. }) => {
            let token = readable(state, user, refresh(state, user, Some(&used)).await).await?;
            call(token).await
        }
        other => other,
    };
    if let Err(calendly::Error::RateLimited { reset_secs }) = &result {
        state
            .limits
            .rate_limited(user.0, state.clock.now_ms(), *reset_secs);
        state.metrics.inc(
            "calendly_rate_limited_total",
            "Calendly 429 answers (calls then wait for the reset).",
            &[],
        );
        tracing::warn!(
            user_id = user.0,
            reset_secs,
            "Calendly rate limit reached; backing off"
        );
    }
    Ok(result?)
}

fn check_status(status: &str) -> Result<(), TokenError> {
    match status {
        s if s == ConnectionStatus::Connected.as_str() => Ok(()),
        s if s == ConnectionStatus::NeedsReconnect.as_str() => Err(TokenError::NeedsReconnect),
        _ => Err(TokenError::NotConnected),
    }
}

/// Refreshes unless another task (or instance) already did since `rejected` was read.
///
/// PostgreSQL (several instances): the connection row is locked `FOR UPDATE` for the whole
/// refresh. SQLite (one instance): the in-process lock is enough, and no transaction is held
/// across the call to Calendly (it would block every other writer); the rotated tokens are
/// saved by one atomic UPDATE.
async fn refresh(
    state: &AppState,
    user: AdviserId,
    rejected: Option<&str>,
) -> Result<AccessToken, TokenError> {
    let lock = state.locks.for_key(user.0);
    let _guard = lock.lock().await;
    match state.db.kind() {
        DbKind::Postgres => {
            let mut tx = state.db.begin_write().await?;
            let result = refresh_on(state, &mut tx, user, rejected, " FOR UPDATE").await;
            // Only the success and invalid_grant paths wrote anything; both must stick.
            tx.commit().await?;
            result
        }
        DbKind::Sqlite => {
            let mut conn = state.db.pool().acquire().await?;
            refresh_on(state, &mut conn, user, rejected, "").await
        }
    }
}

async fn refresh_on(
    state: &AppState,
    conn: &mut sqlx::AnyConnection,
    user: AdviserId,
    rejected: Option<&str>,
    lock_clause: &str,
) -> Result<AccessToken, TokenError> {
    let key = &state.settings.encryption_key;
    let row: Option<TokenRow> = sqlx::query_as(&format!(
        "SELECT status, access_token_enc, refresh_token_enc, access_expires_at FROM calendar_connections WHERE user_id = $1{lock_clause}"
    ))
    .bind(user.0)
    .fetch_optional(&mut *conn)
    .await?;
    let (status, access, refresh_enc, expires_at) = row.ok_or(TokenError::NotConnected)?;
    check_status(&status)?;
    let now = state.clock.now_ms();
    if let (Some(access), Some(expires_at)) = (&access, expires_at) {
        let current = key.decrypt(access, &secret_context("access_token", user.0))?;
        let still_good = expires_at - EXPIRY_MARGIN_MS > now;
        if still_good && rejected != Some(current.as_str()) {
            return Ok(AccessToken::new(current));
        }
    }
    if let Err(wait) = state.limits.take_token_request(user.0, now) {
        tracing::warn!(
            user_id = user.0,
            wait,
            "token request limit reached (8 per minute); waiting"
        );
        return Err(calendly::Error::RateLimited { reset_secs: wait }.into());
    }
    let refresh_token = RefreshToken::new(key.decrypt(
        &refresh_enc.ok_or(TokenError::NotConnected)?,
        &secret_context("refresh_token", user.0),
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
            // The old refresh token died the moment Calendly answered: the new pair is saved
            // before anything else can fail. Fields a refresh answer may leave out keep their
            // stored values; a changed organization is taken over.
            let saved = sqlx::query(
                "UPDATE calendar_connections SET access_token_enc = $1, refresh_token_enc = $2, access_expires_at = $3, updated_at = $4, \
                 organization_uri = COALESCE($6, organization_uri) WHERE user_id = $5 AND status = 'connected'",
            )
            .bind(key.encrypt(tokens.access_token.expose_secret(), &secret_context("access_token", user.0)))
            .bind(key.encrypt(tokens.refresh_token.expose_secret(), &secret_context("refresh_token", user.0)))
            .bind(now + tokens.expires_in * 1000)
            .bind(now)
            .bind(user.0)
            .bind(tokens.organization.as_ref().map(|o| o.as_str().to_owned()))
            .execute(&mut *conn)
            .await?;
            if saved.rows_affected() != 1 {
                // Disconnected meanwhile: these fresh tokens must not outlive the connection.
                let _ = state
                    .calendly
                    .oauth
                    .revoke(tokens.refresh_token.expose_secret())
                    .await;
                let _ = state
                    .calendly
                    .oauth
                    .revoke(tokens.access_token.expose_secret())
                    .await;
                return Err(TokenError::NotConnected);
            }
            outcome("ok");
            Ok(tokens.access_token)
        }
        Err(err) if err.is_invalid_grant() => {
            sqlx::query(
                "UPDATE calendar_connections SET status = $1, updated_at = $2 WHERE user_id = $3",
            )
            .bind(ConnectionStatus::NeedsReconnect.as_str())
            .bind(now)
            .bind(user.0)
            .execute(&mut *conn)
            .await?;
            tracing::warn!(
                user_id = user.0,
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
