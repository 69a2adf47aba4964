//! Stored delivery bodies carry bearer capabilities (the invitee's cancel and reschedule links,
//! conference passwords). A body is kept while it may have to be applied again; once a delivery is
//! settled it is kept for [`BODY_RETENTION_DAYS`] (for support and audit), then emptied. The row
//! itself stays: its natural key keeps deduplicating late replays.

use crate::{Clock, Db};

/// How long the body of a settled (processed or ignored) delivery is kept.
pub const BODY_RETENTION_DAYS: i64 = 30;

/// Empties the bodies of settled deliveries older than the retention; returns how many.
pub async fn purge_old_bodies(db: &Db, clock: &Clock) -> Result<u64, sqlx::Error> {
    let cutoff = clock.now_ms() - BODY_RETENTION_DAYS * 24 * 3600 * 1000;
    let done = sqlx::query(
        "UPDATE webhook_deliveries SET body = '' WHERE status IN ('processed', 'ignored') AND received_at < $1 AND body <> ''",
    )
    .bind(cutoff)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected())
}
