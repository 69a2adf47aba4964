//! The delivery log on Calendar Connections: what arrived for this adviser and what became of
//! it — stored deliveries, repeats of them, and deliveries refused before anything was stored.

use crate::accounts::AdviserId;
use crate::Db;

/// What became of one delivery (or of its repeats).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogOutcome {
    /// Stored; `status` is the delivery's (`processed`, `ignored`, `failed`, `pending`).
    Stored { status: String },
    /// The same delivery arrived again `times` times (a Calendly retry or a replay); the last
    /// one at the entry's time. Nothing changed.
    Duplicate { times: i64 },
    /// Refused before storing (`reason`: [`super::Rejection::reason`]).
    Refused { reason: String },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    pub at: i64,
    /// The event name, when the delivery was genuine enough to read it.
    pub event: Option<String>,
    pub outcome: LogOutcome,
}

/// Refusals kept per adviser per minute: enough to see what is wrong, bounded so that a flood
/// of bad requests to an adviser's callback URL costs one cheap query each, not a row each.
pub const MAX_REFUSALS_PER_MINUTE: i64 = 5;
/// How long refusals are kept.
pub const REFUSAL_RETENTION_DAYS: i64 = 7;

/// Per instance, per adviser: how many refusals were noted in the current minute, so that only
/// [`MAX_REFUSALS_PER_MINUTE`] a minute reach the database at all.
#[derive(Clone, Default)]
pub struct RefusalNotes(
    std::sync::Arc<std::sync::Mutex<std::collections::HashMap<i64, (i64, i64)>>>,
);

impl RefusalNotes {
    /// Takes one of this minute's notes for `user`; false when they are used up.
    pub fn take(&self, adviser: i64, now_ms: i64) -> bool {
        let minute = now_ms.div_euclid(60_000);
        let mut notes = self.0.lock().expect("refusal notes");
        if notes.len() > 10_000 {
            notes.retain(|_, (m, _)| *m == minute);
        }
        let (at, count) = notes.entry(adviser).or_insert((minute, 0));
        if *at != minute {
            *at = minute;
            *count = 0;
        }
        *count += 1;
        *count <= MAX_REFUSALS_PER_MINUTE
    }
}

/// The newest `limit` entries, newest first.
pub async fn delivery_log(
    db: &Db,
    adviser: AdviserId,
    limit: i64,
) -> Result<Vec<LogEntry>, sqlx::Error> {
    let stored: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT received_at, event, status FROM webhook_deliveries WHERE user_id = $1 ORDER BY received_at DESC, id DESC LIMIT $2",
    )
    .bind(adviser.0)
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    let repeated: Vec<(i64, String, i64)> = sqlx::query_as(
        "SELECT last_duplicate_at, event, duplicates FROM webhook_deliveries \
         WHERE user_id = $1 AND last_duplicate_at IS NOT NULL ORDER BY last_duplicate_at DESC, id DESC LIMIT $2",
    )
    .bind(adviser.0)
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    let refused: Vec<(i64, String)> = sqlx::query_as(
        "SELECT at, reason FROM webhook_refusals WHERE user_id = $1 ORDER BY at DESC, id DESC LIMIT $2",
    )
    .bind(adviser.0)
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    let entries = stored
        .into_iter()
        .map(|(at, event, status)| LogEntry {
            at,
            event: Some(event),
            outcome: LogOutcome::Stored { status },
        })
        .chain(repeated.into_iter().map(|(at, event, times)| LogEntry {
            at,
            event: Some(event),
            outcome: LogOutcome::Duplicate { times },
        }))
        .chain(refused.into_iter().map(|(at, reason)| LogEntry {
            at,
            event: None,
            outcome: LogOutcome::Refused { reason },
        }));
    Ok(newest_first(entries, limit as usize))
}

/// Merges the three sources into one log, newest first.
fn newest_first(entries: impl Iterator<Item = LogEntry>, limit: usize) -> Vec<LogEntry> {
    let mut all: Vec<LogEntry> = entries.collect();
    // Stable: at equal times the stored delivery comes before its repeat.
    all.sort_by_key(|e| std::cmp::Reverse(e.at));
    all.truncate(limit);
    all
}

/// Notes that a stored delivery arrived again.
pub async fn record_duplicate(
    conn: &mut sqlx::AnyConnection,
    adviser: AdviserId,
    natural_key: &str,
    at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE webhook_deliveries SET duplicates = duplicates + 1, last_duplicate_at = $1 WHERE user_id = $2 AND natural_key = $3",
    )
    .bind(at)
    .bind(adviser.0)
    .bind(natural_key)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Notes a refused delivery to this adviser's callback URL, unless
/// [`MAX_REFUSALS_PER_MINUTE`] are already noted for the last minute (across instances; each
/// instance also bounds itself in memory first).
pub async fn record_refusal(
    db: &Db,
    adviser: AdviserId,
    at: i64,
    reason: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO webhook_refusals (user_id, at, reason) SELECT $1, $2, $3 \
         WHERE (SELECT COUNT(*) FROM webhook_refusals WHERE user_id = $1 AND at > $4) < $5",
    )
    .bind(adviser.0)
    .bind(at)
    .bind(reason)
    .bind(at - 60_000)
    .bind(MAX_REFUSALS_PER_MINUTE)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Forgets refusals older than [`REFUSAL_RETENTION_DAYS`].
pub async fn purge_old_refusals(db: &Db, now_ms: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM webhook_refusals WHERE at < $1")
        .bind(now_ms - REFUSAL_RETENTION_DAYS * 24 * 3600 * 1000)
        .execute(db.pool())
        .await?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(at: i64, outcome: LogOutcome) -> LogEntry {
        LogEntry {
            at,
            event: None,
            outcome,
        }
    }

    #[test]
    fn refusal_notes_allow_a_few_a_minute_per_adviser() {
        let notes = RefusalNotes::default();
        let taken = (0..20).filter(|_| notes.take(1, 120_000)).count();
        assert_eq!(taken as i64, MAX_REFUSALS_PER_MINUTE);
        assert!(
            notes.take(2, 120_000),
            "another adviser has notes of their own"
        );
        assert!(notes.take(1, 180_000), "the next minute starts afresh");
    }

    #[test]
    fn the_log_merges_its_sources_newest_first_and_keeps_the_limit() {
        let stored = LogOutcome::Stored {
            status: "processed".into(),
        };
        let refused = LogOutcome::Refused {
            reason: "signature_mismatch".into(),
        };
        let log = newest_first(
            [
                entry(10, stored.clone()),
                entry(30, LogOutcome::Duplicate { times: 2 }),
                entry(20, refused.clone()),
                entry(5, stored.clone()),
            ]
            .into_iter(),
            3,
        );
        let ats: Vec<i64> = log.iter().map(|e| e.at).collect();
        assert_eq!(ats, vec![30, 20, 10]);
    }
}
