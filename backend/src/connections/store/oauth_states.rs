//! The `oauth_states` rows: a connect attempt waiting for Calendly's redirect, keyed by the hash
//! of its one-time `state`, bound to the adviser's session, with its encrypted PKCE verifier.

use crate::accounts::AdviserId;
use crate::Db;

/// A connect attempt as stored.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct PendingConnect {
    pub user_id: i64,
    pub session_hash: String,
    pub pkce_verifier_enc: Vec<u8>,
    pub expires_at: i64,
}

/// Remembers a new attempt made at `now` (and forgets expired ones).
pub async fn insert(
    db: &Db,
    state_hash: &str,
    adviser: AdviserId,
    pending: &PendingConnect,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM oauth_states WHERE expires_at < $1")
        .bind(now)
        .execute(db.pool())
        .await?;
    sqlx::query(
        "INSERT INTO oauth_states (state_hash, user_id, session_hash, pkce_verifier_enc, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(state_hash)
    .bind(adviser.0)
    .bind(&pending.session_hash)
    .bind(&pending.pkce_verifier_enc)
    .bind(now)
    .bind(pending.expires_at)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Takes the attempt with this state hash: it is deleted whatever happens next, so a `state`
/// can never be used twice.
pub async fn take(db: &Db, state_hash: &str) -> Result<Option<PendingConnect>, sqlx::Error> {
    sqlx::query_as(
        "DELETE FROM oauth_states WHERE state_hash = $1 RETURNING user_id, session_hash, pkce_verifier_enc, expires_at",
    )
    .bind(state_hash)
    .fetch_optional(db.pool())
    .await
}
