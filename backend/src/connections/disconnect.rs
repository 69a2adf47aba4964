//! Disconnect: at once, locally — the connection is marked disconnected, its tokens purged and
//! its subscription deactivated, in one transaction. The remote half (delete this adviser's
//! subscription at Calendly, revoke the tokens) runs right after, as a clean-up job that keeps
//! the encrypted tokens it needs until Calendly has accepted it; on a network error it is
//! retried in the background. Nobody else's subscription is touched.

use std::time::Duration;

use calendly::ids::SubscriptionUri;
use calendly::secrets::{AccessToken, RefreshToken};

use super::store::ConnectionStatus;
use crate::accounts::AdviserId;
use crate::crypto::secret_context;
use crate::AppState;

/// How long the page waits for Calendly before leaving the clean-up to the background job.
const INLINE_CLEANUP_BUDGET: Duration = Duration::from_secs(8);

#[tracing::instrument(skip_all, fields(user_id = user.0))]
pub async fn disconnect(state: &AppState, user: AdviserId) -> Result<(), sqlx::Error> {
    let job_id = disconnect_locally(state, user).await?;
    if let Some(id) = job_id {
        // The clean-up runs as a task of its own: when the page stops waiting it carries on,
        // so a token refresh Calendly has answered is never cut off before its rotated pair is
        // saved with the job (the old refresh token is already spent by then).
        let job = tokio::spawn({
            let state = state.clone();
            async move { run_job(&state, id).await }
        });
        match tokio::time::timeout(INLINE_CLEANUP_BUDGET, job).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(err))) => {
                tracing::warn!(error = %err, "remote clean-up failed; will retry in the background")
            }
            Ok(Err(err)) => {
                tracing::error!(error = %err, "remote clean-up task failed; will retry in the background")
            }
            Err(_) => {
                tracing::warn!("Calendly is slow; remote clean-up continues in the background")
            }
        }
    }
    Ok(())
}

/// The local half, in one transaction; the clean-up job's id if there is remote work to do.
/// Waits for a subscription check or token refresh of this adviser in progress (in this
/// process: their locks; a refresh on another instance that finishes after this finds the
/// connection gone and revokes what it got), so the
/// tokens and subscription it hands to the clean-up job are the latest ones.
async fn disconnect_locally(state: &AppState, user: AdviserId) -> Result<Option<i64>, sqlx::Error> {
    let subscription_lock = state.subscription_locks.for_key(user.0);
    let _subscription_guard = subscription_lock.lock().await;
    let token_lock = state.locks.for_key(user.0);
    let _token_guard = token_lock.lock().await;
    let now = state.clock.now_ms();
    let mut tx = state.db.begin_write().await?;
    let lock_clause = if state.db.kind() == crate::db::DbKind::Postgres {
        " FOR UPDATE"
    } else {
        ""
    };
    let row: Option<StoredTokens> = sqlx::query_as(&format!(
        "SELECT status, access_token_enc, refresh_token_enc FROM calendar_connections WHERE user_id = $1{lock_clause}"
    ))
    .bind(user.0)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((status, access, refresh)) = row else {
        return Ok(None);
    };
    let subscription: Option<(Option<String>,)> = sqlx::query_as(
        "SELECT subscription_uri FROM calendly_webhook_subscriptions WHERE user_id = $1 AND is_active = 1",
    )
    .bind(user.0)
    .fetch_optional(&mut *tx)
    .await?;
    let subscription_uri = subscription.and_then(|(uri,)| uri);
    let job_id = if status != ConnectionStatus::Disconnected.as_str()
        && (access.is_some() || subscription_uri.is_some())
    {
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO calendly_cleanup_jobs (user_id, subscription_uri, access_token_enc, refresh_token_enc, next_attempt_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
        )
        .bind(user.0)
        .bind(subscription_uri.as_deref())
        .bind(access)
        .bind(refresh)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        Some(id)
    } else {
        None
    };
    sqlx::query(
        "UPDATE calendar_connections SET status = 'disconnected', access_token_enc = NULL, refresh_token_enc = NULL, \
         access_expires_at = NULL, live_updates = 'pending', live_updates_reason = NULL, updated_at = $1 WHERE user_id = $2",
    )
    .bind(now)
    .bind(user.0)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE calendly_webhook_subscriptions SET is_active = 0, state = 'deleted', updated_at = $1 WHERE user_id = $2 AND is_active = 1")
        .bind(now)
        .bind(user.0)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    tracing::info!("Calendly disconnected locally");
    Ok(job_id)
}

/// Retries due clean-up jobs (called by the background scheduler).
pub async fn run_cleanup_jobs(state: &AppState) -> Result<usize, sqlx::Error> {
    let due: Vec<(i64,)> = sqlx::query_as(
        "SELECT id FROM calendly_cleanup_jobs WHERE next_attempt_at <= $1 ORDER BY id LIMIT 50",
    )
    .bind(state.clock.now_ms())
    .fetch_all(state.db.pool())
    .await?;
    for (id,) in &due {
        if let Err(err) = run_job(state, *id).await {
            tracing::warn!(job = id, error = %err, "remote clean-up still failing");
        }
    }
    Ok(due.len())
}

#[derive(Debug, thiserror::Error)]
enum CleanupError {
    #[error(transparent)]
    Calendly(#[from] calendly::Error),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// One attempt at a clean-up job. Success (or a definitive "already gone") deletes the job and
/// with it the last copy of the tokens; a transient failure reschedules it with back-off.
async fn run_job(state: &AppState, id: i64) -> Result<(), sqlx::Error> {
    let job: Option<CleanupJob> = sqlx::query_as(
        "SELECT subscription_uri, access_token_enc, refresh_token_enc, attempts, user_id FROM calendly_cleanup_jobs WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(state.db.pool())
    .await?;
    let Some((subscription_uri, access, refresh, attempts, user_id)) = job else {
        return Ok(());
    };
    // Claim the attempt (the inline run and the background loop, or two instances, must not run
    // the same job at once); a crash mid-attempt leaves it due again in a minute.
    let now = state.clock.now_ms();
    let claimed = sqlx::query("UPDATE calendly_cleanup_jobs SET next_attempt_at = $1 WHERE id = $2 AND next_attempt_at <= $3")
        .bind(now + 60_000)
        .bind(id)
        .bind(now)
        .execute(state.db.pool())
        .await?;
    if claimed.rows_affected() != 1 {
        return Ok(());
    }
    let key = &state.settings.encryption_key;
    let access = access
        .and_then(|a| {
            key.decrypt(&a, &secret_context("access_token", user_id))
                .ok()
        })
        .map(AccessToken::new);
    let refresh = refresh
        .and_then(|r| {
            key.decrypt(&r, &secret_context("refresh_token", user_id))
                .ok()
        })
        .map(RefreshToken::new);

    match clean_up_remote(
        state,
        id,
        user_id,
        subscription_uri.as_deref(),
        access,
        refresh,
    )
    .await
    {
        Ok(()) => {
            sqlx::query("DELETE FROM calendly_cleanup_jobs WHERE id = $1")
                .bind(id)
                .execute(state.db.pool())
                .await?;
            state.metrics.inc(
                "calendly_cleanups_total",
                "Remote clean-ups after disconnect by outcome.",
                &[("outcome", "done")],
            );
            Ok(())
        }
        Err(err) => {
            let delay_ms = (30_000i64 << attempts.min(8)).min(3_600_000);
            sqlx::query("UPDATE calendly_cleanup_jobs SET attempts = attempts + 1, next_attempt_at = $1, last_error = $2 WHERE id = $3")
                .bind(state.clock.now_ms() + delay_ms)
                .bind(err.to_string())
                .bind(id)
                .execute(state.db.pool())
                .await?;
            state.metrics.inc(
                "calendly_cleanups_total",
                "Remote clean-ups after disconnect by outcome.",
                &[("outcome", "retry")],
            );
            tracing::warn!(error = %err, "remote clean-up will be retried");
            Ok(())
        }
    }
}

async fn clean_up_remote(
    state: &AppState,
    job: i64,
    user_id: i64,
    subscription_uri: Option<&str>,
    access: Option<AccessToken>,
    refresh: Option<RefreshToken>,
) -> Result<(), CleanupError> {
    let api = &state.calendly.api;
    let mut access = access;
    let mut refresh = refresh;
    if let Some(uri) = subscription_uri.and_then(|u| SubscriptionUri::parse(u).ok()) {
        let mut deleted = false;
        if let Some(token) = &access {
            match api.delete_webhook_subscription(token, &uri).await {
                Ok(()) | Err(calendly::Error::NotFound) => deleted = true,
                Err(calendly::Error::Unauthorized { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if !deleted {
            // The access token expired: one refresh (its rotated tokens are revoked below).
            if let Some(rt) = refresh.take() {
                match state.calendly.oauth.refresh(&rt).await {
                    Ok(tokens) => {
                        // The old refresh token is spent: keep the rotated pair with the job so
                        // a later retry can still finish (and revoke them).
                        let key = &state.settings.encryption_key;
                        sqlx::query("UPDATE calendly_cleanup_jobs SET access_token_enc = $1, refresh_token_enc = $2 WHERE id = $3")
                            .bind(key.encrypt(tokens.access_token.expose_secret(), &secret_context("access_token", user_id)))
                            .bind(key.encrypt(tokens.refresh_token.expose_secret(), &secret_context("refresh_token", user_id)))
                            .bind(job)
                            .execute(state.db.pool())
                            .await?;
                        match api
                            .delete_webhook_subscription(&tokens.access_token, &uri)
                            .await
                        {
                            Ok(()) | Err(calendly::Error::NotFound) => {}
                            Err(e) => return Err(e.into()),
                        }
                        access = Some(tokens.access_token);
                        refresh = Some(tokens.refresh_token);
                    }
                    // The grant is dead: Calendly already dropped the app's access for this user.
                    Err(e) if e.is_invalid_grant() => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    for token in [
        refresh.map(|r| r.expose_secret().to_owned()),
        access.map(|a| a.expose_secret().to_owned()),
    ]
    .into_iter()
    .flatten()
    {
        match state.calendly.oauth.revoke(&token).await {
            Ok(()) => {}
            Err(e) if e.is_transient() => return Err(e.into()),
            // Already revoked / unknown: nothing left to revoke.
            Err(_) => {}
        }
    }
    Ok(())
}

/// A connection's status and its encrypted access and refresh tokens.
type StoredTokens = (String, Option<Vec<u8>>, Option<Vec<u8>>);
/// A clean-up job: subscription URI, encrypted tokens, attempts so far, adviser.
type CleanupJob = (Option<String>, Option<Vec<u8>>, Option<Vec<u8>>, i64, i64);
