//! The `calendly_cleanup_jobs` rows: the remote half of a disconnect (delete the subscription
//! at Calendly, revoke the tokens), kept with the encrypted tokens it needs until it is done.

use sqlx::{Any, Transaction};

use crate::accounts::AdviserId;
use crate::Db;

/// A job as stored; the tokens are still encrypted.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct CleanupJob {
    pub subscription_uri: Option<String>,
    pub access_token_enc: Option<Vec<u8>>,
    pub refresh_token_enc: Option<Vec<u8>>,
    pub attempts: i64,
    pub user_id: i64,
}

/// Adds a job due at once, in the disconnect's transaction; its id.
pub async fn insert(
    tx: &mut Transaction<'static, Any>,
    adviser: AdviserId,
    job: &CleanupJob,
    now: i64,
) -> Result<i64, sqlx::Error> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO calendly_cleanup_jobs (user_id, subscription_uri, access_token_enc, refresh_token_enc, next_attempt_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
    )
    .bind(adviser.0)
    .bind(job.subscription_uri.as_deref())
    .bind(job.access_token_enc.as_deref())
    .bind(job.refresh_token_enc.as_deref())
    .bind(now)
    .fetch_one(&mut **tx)
    .await?;
    Ok(id)
}

/// Up to `limit` jobs due at `now`, oldest first.
pub async fn due(db: &Db, now: i64, limit: i64) -> Result<Vec<i64>, sqlx::Error> {
    let rows: Vec<(i64,)> = sqlx::query_as(
        "SELECT id FROM calendly_cleanup_jobs WHERE next_attempt_at <= $1 ORDER BY id LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

pub async fn load(db: &Db, id: i64) -> Result<Option<CleanupJob>, sqlx::Error> {
    sqlx::query_as(
        "SELECT subscription_uri, access_token_enc, refresh_token_enc, attempts, user_id FROM calendly_cleanup_jobs WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db.pool())
    .await
}

/// Claims the job's next attempt if it is due: it is not due again until `lease_until` (so the
/// inline run and the background loop, or two instances, never run it at once, and a crash
/// mid-attempt leaves it due again later). Whether this caller got it.
pub async fn claim(db: &Db, id: i64, now: i64, lease_until: i64) -> Result<bool, sqlx::Error> {
    let claimed = sqlx::query(
        "UPDATE calendly_cleanup_jobs SET next_attempt_at = $1 WHERE id = $2 AND next_attempt_at <= $3",
    )
    .bind(lease_until)
    .bind(id)
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(claimed.rows_affected() == 1)
}

/// Keeps a rotated token pair (encrypted) with the job, so a later attempt can still finish.
pub async fn keep_tokens(
    db: &Db,
    id: i64,
    access_token_enc: &[u8],
    refresh_token_enc: &[u8],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE calendly_cleanup_jobs SET access_token_enc = $1, refresh_token_enc = $2 WHERE id = $3",
    )
    .bind(access_token_enc)
    .bind(refresh_token_enc)
    .bind(id)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// The job is done: deleting it deletes the last copy of its tokens.
pub async fn delete(db: &Db, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM calendly_cleanup_jobs WHERE id = $1")
        .bind(id)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Counts a failed attempt and makes the job due again at `next_attempt_at`.
pub async fn retry_at(
    db: &Db,
    id: i64,
    next_attempt_at: i64,
    error: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE calendly_cleanup_jobs SET attempts = attempts + 1, next_attempt_at = $1, last_error = $2 WHERE id = $3",
    )
    .bind(next_attempt_at)
    .bind(error)
    .bind(id)
    .execute(db.pool())
    .await?;
    Ok(())
}
