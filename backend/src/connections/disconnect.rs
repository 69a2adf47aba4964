//! Disconnect: at once, locally — the connection is marked disconnected, its tokens purged and
//! its subscription deactivated, in one transaction. The remote half (delete this adviser's
//! subscription at Calendly, revoke the tokens) runs right after, as a clean-up job that keeps
//! the encrypted tokens it needs until Calendly has accepted it; on a network error it is
//! retried in the background. Nobody else's subscription is touched.

use std::time::Duration;

use calendly::ids::SubscriptionUri;
use calendly::secrets::{AccessToken, RefreshToken};

use super::store::cleanup_jobs::{self, CleanupJob};
use super::store::{self, ConnectionStatus};
use crate::accounts::AdviserId;
use crate::crypto::secret_context;
use crate::AppState;

/// How long the page waits for Calendly before leaving the clean-up to the background job.
const INLINE_CLEANUP_BUDGET: Duration = Duration::from_secs(8);

#[tracing::instrument(skip_all, fields(user_id = adviser.0))]
pub async fn disconnect(state: &AppState, adviser: AdviserId) -> Result<(), sqlx::Error> {
    let job_id = disconnect_locally(state, adviser).await?;
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
/// connection gone and revokes what it got), so the tokens and subscription it hands to the
/// clean-up job are the latest ones.
async fn disconnect_locally(
    state: &AppState,
    adviser: AdviserId,
) -> Result<Option<i64>, sqlx::Error> {
    let subscription_lock = state.subscription_locks.for_key(adviser.0);
    let _subscription_guard = subscription_lock.lock().await;
    let token_lock = state.locks.for_key(adviser.0);
    let _token_guard = token_lock.lock().await;
    let now = state.clock.now_ms();
    let mut tx = state.db.begin_write().await?;
    let Some(tokens) = store::tokens_for_update(&mut tx, state.db.kind(), adviser).await? else {
        return Ok(None);
    };
    let job = CleanupJob {
        subscription_uri: store::active_subscription_uri(&mut tx, adviser).await?,
        access_token_enc: tokens.access_token_enc,
        refresh_token_enc: tokens.refresh_token_enc,
        attempts: 0,
        user_id: adviser.0,
    };
    let job_id = if needs_remote_cleanup(tokens.status, &job) {
        Some(cleanup_jobs::insert(&mut tx, adviser, &job, now).await?)
    } else {
        None
    };
    store::mark_disconnected(&mut tx, adviser, now).await?;
    tx.commit().await?;
    tracing::info!("Calendly disconnected locally");
    Ok(job_id)
}

/// A connection still in use with tokens or a subscription at Calendly leaves remote work.
fn needs_remote_cleanup(status: ConnectionStatus, job: &CleanupJob) -> bool {
    status != ConnectionStatus::Disconnected
        && (job.access_token_enc.is_some() || job.subscription_uri.is_some())
}

/// Retries due clean-up jobs (called by the background scheduler).
pub async fn run_cleanup_jobs(state: &AppState) -> Result<usize, sqlx::Error> {
    let due = cleanup_jobs::due(&state.db, state.clock.now_ms(), 50).await?;
    for id in &due {
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

/// A claimed job's work, its tokens decrypted.
struct RemoteCleanup {
    job: i64,
    user_id: i64,
    subscription_uri: Option<SubscriptionUri>,
    access: Option<AccessToken>,
    refresh: Option<RefreshToken>,
}

/// One attempt at a clean-up job. Success (or a definitive "already gone") deletes the job and
/// with it the last copy of the tokens; a transient failure reschedules it with back-off.
async fn run_job(state: &AppState, id: i64) -> Result<(), sqlx::Error> {
    let Some(job) = cleanup_jobs::load(&state.db, id).await? else {
        return Ok(());
    };
    let now = state.clock.now_ms();
    if !cleanup_jobs::claim(&state.db, id, now, now + 60_000).await? {
        return Ok(());
    }
    let attempts = job.attempts;
    let work = decrypt(state, id, job);
    let outcome = match clean_up_remote(state, work).await {
        Ok(()) => {
            cleanup_jobs::delete(&state.db, id).await?;
            "done"
        }
        Err(err) => {
            let at = state.clock.now_ms() + retry_delay_ms(attempts);
            cleanup_jobs::retry_at(&state.db, id, at, &err.to_string()).await?;
            tracing::warn!(error = %err, "remote clean-up will be retried");
            "retry"
        }
    };
    state.metrics.inc(
        "calendly_cleanups_total",
        "Remote clean-ups after disconnect by outcome.",
        &[("outcome", outcome)],
    );
    Ok(())
}

/// 30 s, doubling per failed attempt, at most an hour.
fn retry_delay_ms(attempts: i64) -> i64 {
    (30_000i64 << attempts.clamp(0, 8)).min(3_600_000)
}

/// The job's tokens decrypted (one that cannot be decrypted is left out: nothing to revoke).
fn decrypt(state: &AppState, job_id: i64, job: CleanupJob) -> RemoteCleanup {
    let key = &state.settings.encryption_key;
    let user_id = job.user_id;
    let open = |enc: Option<Vec<u8>>, what: &str| {
        enc.and_then(|e| key.decrypt(&e, &secret_context(what, user_id)).ok())
    };
    RemoteCleanup {
        job: job_id,
        user_id,
        subscription_uri: job
            .subscription_uri
            .and_then(|u| SubscriptionUri::parse(&u).ok()),
        access: open(job.access_token_enc, "access_token").map(AccessToken::new),
        refresh: open(job.refresh_token_enc, "refresh_token").map(RefreshToken::new),
    }
}

async fn clean_up_remote(state: &AppState, work: RemoteCleanup) -> Result<(), CleanupError> {
    let RemoteCleanup {
        job,
        user_id,
        subscription_uri,
        mut access,
        mut refresh,
    } = work;
    let api = &state.calendly.api;
    if let Some(uri) = subscription_uri {
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
                if let Some(tokens) = refresh_and_delete(state, (job, user_id), &rt, &uri).await? {
                    access = Some(tokens.access_token);
                    refresh = Some(tokens.refresh_token);
                }
            }
        }
    }
    revoke(
        state,
        [
            refresh.map(|r| r.expose_secret().to_owned()),
            access.map(|a| a.expose_secret().to_owned()),
        ],
    )
    .await
}

/// Refreshes the spent access token and deletes the subscription with the new one; the rotated
/// pair (to revoke), or `None` when the grant is already dead (Calendly dropped the app's access
/// for this user, subscription and all).
async fn refresh_and_delete(
    state: &AppState,
    (job, user_id): (i64, i64),
    refresh: &RefreshToken,
    uri: &SubscriptionUri,
) -> Result<Option<calendly::oauth::TokenSet>, CleanupError> {
    let tokens = match state.calendly.oauth.refresh(refresh).await {
        Ok(tokens) => tokens,
        Err(e) if e.is_invalid_grant() => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    // The old refresh token is spent: keep the rotated pair with the job so a later retry can
    // still finish (and revoke them).
    let key = &state.settings.encryption_key;
    let access_enc = key.encrypt(
        tokens.access_token.expose_secret(),
        &secret_context("access_token", user_id),
    );
    let refresh_enc = key.encrypt(
        tokens.refresh_token.expose_secret(),
        &secret_context("refresh_token", user_id),
    );
    cleanup_jobs::keep_tokens(&state.db, job, &access_enc, &refresh_enc).await?;
    match state
        .calendly
        .api
        .delete_webhook_subscription(&tokens.access_token, uri)
        .await
    {
        Ok(()) | Err(calendly::Error::NotFound) => Ok(Some(tokens)),
        Err(e) => Err(e.into()),
    }
}

/// Revokes what is left of the grant; an already revoked or unknown token is fine.
async fn revoke(state: &AppState, tokens: [Option<String>; 2]) -> Result<(), CleanupError> {
    for token in tokens.into_iter().flatten() {
        match state.calendly.oauth.revoke(&token).await {
            Ok(()) => {}
            Err(e) if e.is_transient() => return Err(e.into()),
            Err(_) => {}
        }
    }
    Ok(())
}
