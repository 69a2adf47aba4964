//! Store-then-acknowledge, and turning stored deliveries into meetings.
//!
//! The common path is one transaction: insert the delivery (deduplicated on its natural key),
//! apply it to the meetings, mark it processed, commit — then the caller answers 2xx. If applying
//! fails, that transaction is rolled back and the delivery is stored alone as `failed`, still
//! acknowledged (it is safely stored) and retried by [`process_pending`]. If nothing can be
//! stored, the caller answers 503 and Calendly retries.

use calendly::webhook::WebhookEnvelope;

use super::outcome::{Receipt, Rejection};
use crate::accounts::AdviserId;
use crate::connections::SubscriptionRow;
use crate::meetings::{apply_invitee, InviteeChange, Source};
use crate::AppState;

/// Calendly sends no delivery id; an event, its subject and its creation time identify it.
fn natural_key(envelope: &WebhookEnvelope) -> String {
    let subject = envelope
        .payload
        .get("uri")
        .and_then(|u| u.as_str())
        .unwrap_or("");
    format!(
        "{}|{}|{}",
        envelope.event,
        subject,
        envelope.created_at.format("%Y-%m-%dT%H:%M:%S%.6fZ")
    )
}

/// A delivery whose signature, timestamp and sender checked out.
pub(super) struct Verified<'a> {
    pub subscription: &'a SubscriptionRow,
    pub envelope: &'a WebhookEnvelope,
    /// The signature header's `t`.
    pub signature_t: i64,
    /// The exact bytes Calendly signed.
    pub body: &'a [u8],
}

/// Stores and applies a verified delivery on `conn`, the connection its route was looked up on.
pub(super) async fn store_and_process(
    state: &AppState,
    conn: &mut sqlx::AnyConnection,
    verified: Verified<'_>,
) -> Result<Receipt, Rejection> {
    let Verified {
        subscription,
        envelope,
        signature_t,
        body,
    } = verified;
    let body = std::str::from_utf8(body).map_err(|e| Rejection::BadPayload(e.to_string()))?;
    let key = natural_key(envelope);
    let adviser = subscription.user_id;
    let now = state.clock.now_ms();

    // Whether the event changes meetings is known from its name; the row is inserted with its
    // final status, since it commits (or not) together with the change it describes.
    let delivery = NewDelivery {
        adviser,
        subscription_id: subscription.id,
        event: &envelope.event,
        key: &key,
        signature_t,
        now,
        body,
    };
    let status = if InviteeChange::from_event(&envelope.event).is_some() {
        "processed"
    } else {
        "ignored"
    };
    let attempt = async {
        let mut tx = state.db.begin_write_on(&mut *conn).await?;
        let inserted = delivery.insert(&mut tx, status, None).await?;
        let Some(id) = inserted else {
            return Ok::<_, ProcessError>((None, None));
        };
        let seq = apply(&mut tx, adviser, envelope, now).await?;
        tx.commit().await?;
        Ok((Some(id), seq))
    }
    .await;

    match attempt {
        Ok((None, _)) => {
            // Already stored: the log shows it arrived again. Best effort — the delivery
            // itself is safe, so a failure here must not make Calendly retry.
            if let Err(e) = super::recent::record_duplicate(conn, adviser, &key, now).await {
                tracing::warn!(error = %e, "could not note a duplicate delivery");
            }
            Ok(Receipt {
                delivery_id: None,
                duplicate: true,
                user_id: adviser.0,
                change_seq: None,
            })
        }
        Ok((Some(id), seq)) => {
            if let Some(seq) = seq {
                state.live.committed(state.db.kind(), adviser, seq);
            }
            Ok(Receipt {
                delivery_id: Some(id),
                duplicate: false,
                user_id: adviser.0,
                change_seq: seq,
            })
        }
        Err(ProcessError::Database(e)) if is_unavailable(&e) => Err(Rejection::Unavailable(e)),
        Err(err) => {
            // Keep the delivery (it verified); a worker retries applying it.
            tracing::warn!(error = %err, "applying a delivery failed; stored for retry");
            let stored = delivery
                .insert(conn, "failed", Some(&err.to_string()))
                .await;
            match stored {
                Ok(row) => Ok(Receipt {
                    delivery_id: row,
                    duplicate: false,
                    user_id: adviser.0,
                    change_seq: None,
                }),
                Err(e) => Err(Rejection::Unavailable(e)),
            }
        }
    }
}

/// A verified delivery about to be stored.
struct NewDelivery<'a> {
    adviser: AdviserId,
    subscription_id: i64,
    event: &'a str,
    key: &'a str,
    signature_t: i64,
    now: i64,
    body: &'a str,
}

impl NewDelivery<'_> {
    /// Inserts the delivery unless it is already stored (same natural key): its id, or `None`
    /// for a duplicate.
    async fn insert(
        &self,
        conn: &mut sqlx::AnyConnection,
        status: &str,
        error: Option<&str>,
    ) -> Result<Option<i64>, sqlx::Error> {
        let processed_at = (status != "failed").then_some(self.now);
        let row: Option<(i64,)> = sqlx::query_as(
            "INSERT INTO webhook_deliveries (user_id, subscription_id, event, natural_key, signature_t, received_at, body, status, attempts, \
                 processed_at, error) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9, $10) ON CONFLICT (user_id, natural_key) DO NOTHING RETURNING id",
        )
        .bind(self.adviser.0)
        .bind(self.subscription_id)
        .bind(self.event)
        .bind(self.key)
        .bind(self.signature_t)
        .bind(self.now)
        .bind(self.body)
        .bind(status)
        .bind(processed_at)
        .bind(error)
        .fetch_optional(&mut *conn)
        .await?;
        Ok(row.map(|(id,)| id))
    }
}

fn is_unavailable(e: &sqlx::Error) -> bool {
    matches!(
        e,
        sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
    ) || matches!(e, sqlx::Error::Database(db) if db.message().contains("database is locked"))
}

impl ProcessError {
    /// What the Calendar Connections page may show (details go to the log).
    fn reason(&self) -> &'static str {
        match self {
            ProcessError::Database(_) => "could not be saved yet",
            ProcessError::Payload(_) => "payload not understood",
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum ProcessError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("payload does not match its event type: {0}")]
    Payload(#[from] serde_json::Error),
}

/// Applies one delivery; the newest change sequence for the live stream, or `None` when the
/// event does not change meetings (it is still stored).
async fn apply(
    conn: &mut sqlx::AnyConnection,
    adviser: AdviserId,
    envelope: &WebhookEnvelope,
    now: i64,
) -> Result<Option<i64>, ProcessError> {
    let Some(change) = InviteeChange::from_event(&envelope.event) else {
        return Ok(None);
    };
    let payload = envelope.invitee_payload()?;
    let seen = crate::meetings::Observation {
        change,
        at: &envelope.created_at,
        invitee: &payload.invitee,
        event: &payload.scheduled_event,
    };
    let applied = apply_invitee(conn, adviser, seen, Source::Webhook, now).await?;
    Ok(Some(applied.seq))
}

/// Attempts made every round before a failing delivery is retried on a slower schedule.
const QUICK_ATTEMPTS: i64 = 10;

/// When a delivery that failed its `attempts`-th time is tried again (ms from now): at the next
/// round for the first [`QUICK_ATTEMPTS`], then after 5 minutes, doubling up to 6 hours. It is
/// never given up: the Calendar Connections page shows it as not applied yet.
pub fn retry_delay_ms(attempts: i64) -> i64 {
    if attempts < QUICK_ATTEMPTS {
        return 0;
    }
    let doublings = (attempts - QUICK_ATTEMPTS).min(16) as u32;
    ((5 * 60 * 1000_i64) << doublings).min(6 * 3600 * 1000)
}

/// Applies stored deliveries that could not be applied when they arrived.
pub async fn process_pending(state: &AppState) -> Result<usize, sqlx::Error> {
    let rows: Vec<(i64, i64, String, i64)> = sqlx::query_as(
        "SELECT id, user_id, body, attempts FROM webhook_deliveries WHERE status IN ('pending', 'failed') \
         AND COALESCE(next_attempt_at, 0) <= $1 ORDER BY id LIMIT 100",
    )
    .bind(state.clock.now_ms())
    .fetch_all(state.db.pool())
    .await?;
    let mut done = 0;
    for (id, user_id, body, attempts) in rows {
        let adviser = AdviserId(user_id);
        let now = state.clock.now_ms();
        // Marking the row done comes first: on PostgreSQL it locks the row, so another instance
        // running the same round waits, then finds it done and skips it.
        let result: Result<Option<Option<i64>>, ProcessError> = async {
            let envelope: WebhookEnvelope = serde_json::from_str(&body)?;
            let status = if InviteeChange::from_event(&envelope.event).is_some() { "processed" } else { "ignored" };
            let mut tx = state.db.begin_write().await?;
            let claimed = sqlx::query(
                "UPDATE webhook_deliveries SET status = $1, processed_at = $2, attempts = attempts + 1, error = NULL \
                 WHERE id = $3 AND status IN ('pending', 'failed')",
            )
            .bind(status)
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            if claimed.rows_affected() != 1 {
                return Ok(None);
            }
            let seq = apply(&mut tx, adviser, &envelope, now).await?;
            tx.commit().await?;
            Ok(Some(seq))
        }
        .await;
        match result {
            Ok(None) => {}
            Ok(Some(seq)) => {
                done += 1;
                if let Some(seq) = seq {
                    state.live.committed(state.db.kind(), adviser, seq);
                }
            }
            Err(err) => {
                tracing::warn!(delivery = id, error = %err, "re-applying a stored delivery failed");
                state.metrics.inc(
                    "webhook_reapply_failures_total",
                    "Stored deliveries that failed to apply again (retried later, never dropped).",
                    &[],
                );
                sqlx::query("UPDATE webhook_deliveries SET status = 'failed', attempts = attempts + 1, error = $1, next_attempt_at = $2 WHERE id = $3")
                    .bind(err.reason())
                    .bind(now + retry_delay_ms(attempts + 1))
                    .bind(id)
                    .execute(state.db.pool())
                    .await?;
            }
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::retry_delay_ms;

    #[test]
    fn a_failing_delivery_is_retried_every_round_then_more_slowly_but_never_dropped() {
        assert_eq!(retry_delay_ms(1), 0);
        assert_eq!(retry_delay_ms(9), 0);
        assert_eq!(retry_delay_ms(10), 5 * 60 * 1000);
        assert_eq!(retry_delay_ms(11), 10 * 60 * 1000);
        assert_eq!(retry_delay_ms(1_000), 6 * 3600 * 1000);
    }
}
