//! Store, acknowledge, then apply.
//!
//! A verified delivery is inserted (deduplicated on its natural key) and committed before its
//! caller answers 2xx — together with the deliveries that arrived at the same moment, in one
//! statement ([`super::commit_group`]). One that changes meetings is stored `pending` and applied
//! right after by this instance's [`super::applier`], in its own transaction that marks it
//! `processed`; the live streams hear of the change when that commits. If applying fails, the
//! delivery stays stored as `failed` and is retried by [`process_pending`]. If nothing can be
//! stored, the caller answers 503 and Calendly retries.

use calendly::webhook::WebhookEnvelope;

use super::outcome::Rejection;
use crate::accounts::AdviserId;
use crate::connections::{RouteLookup, SubscriptionRow};
use crate::meetings::{apply_invitee, InviteeChange, Source};
use crate::AppState;

/// Where a delivery was sent: an adviser's callback URL (its route token, looked up when the
/// delivery is stored), or the legacy bare URL, already routed by `created_by`.
pub(super) enum Route {
    Token(String),
    Known(SubscriptionRow),
}

/// A delivery whose signature and timestamp checked out, not yet routed.
pub(super) struct Arrival {
    pub route: Route,
    pub envelope: WebhookEnvelope,
    pub signature_t: i64,
    pub body: String,
}

impl Arrival {
    /// Routes it with `routes` (what its group's route tokens name) and cross-checks its sender;
    /// refused, the reason and the adviser whose URL it was sent to, if any.
    pub fn routed(
        self,
        routes: &std::collections::HashMap<String, RouteLookup>,
    ) -> Result<Verified, (Rejection, Option<AdviserId>)> {
        let subscription = match self.route {
            Route::Known(subscription) => subscription,
            Route::Token(token) => match routes.get(&token) {
                None => return Err((Rejection::UnknownRoute, None)),
                Some(RouteLookup::Retired) => return Err((Rejection::RetiredRoute, None)),
                Some(RouteLookup::Active(subscription)) => subscription.clone(),
            },
        };
        if self.envelope.created_by != subscription.user_uri {
            let adviser = subscription.user_id;
            return Err((
                Rejection::WrongUser {
                    created_by: self.envelope.created_by,
                },
                Some(adviser),
            ));
        }
        Ok(Verified {
            subscription,
            envelope: self.envelope,
            signature_t: self.signature_t,
            body: self.body,
        })
    }
}

impl From<Verified> for Arrival {
    fn from(v: Verified) -> Self {
        Arrival {
            route: Route::Known(v.subscription),
            envelope: v.envelope,
            signature_t: v.signature_t,
            body: v.body,
        }
    }
}

/// A delivery whose signature, timestamp and sender checked out, ready to be stored.
pub(super) struct Verified {
    pub subscription: SubscriptionRow,
    pub envelope: WebhookEnvelope,
    /// The signature header's `t`.
    pub signature_t: i64,
    /// The exact bytes Calendly signed.
    pub body: String,
}

impl Verified {
    pub fn adviser(&self) -> AdviserId {
        self.subscription.user_id
    }

    /// Calendly sends no delivery id; an event, its subject and its creation time identify it.
    pub fn natural_key(&self) -> String {
        let envelope = &self.envelope;
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

    /// Whether it is applied after it is stored (`pending`), or only kept (`ignored`).
    pub fn changes_meetings(&self) -> bool {
        InviteeChange::from_event(&self.envelope.event).is_some()
    }
}

/// Inserts deliveries in one statement (one commit), unless already stored: for each, in order,
/// its new id, or `None` for one stored before (same adviser and natural key). The caller passes
/// each natural key at most once.
pub(super) async fn insert_deliveries(
    conn: &mut sqlx::AnyConnection,
    deliveries: &[&Verified],
    now: i64,
) -> Result<Vec<Option<i64>>, sqlx::Error> {
    const COLUMNS: usize = 9;
    let rows: Vec<String> = (0..deliveries.len())
        .map(|i| {
            let p: Vec<String> = (1..=COLUMNS)
                .map(|c| format!("${}", i * COLUMNS + c))
                .collect();
            format!("({}, 0)", p.join(", "))
        })
        .collect();
    let sql = format!(
        "INSERT INTO webhook_deliveries (user_id, subscription_id, event, natural_key, signature_t, received_at, body, status, \
             processed_at, attempts) VALUES {} \
         ON CONFLICT (user_id, natural_key) DO NOTHING RETURNING id, user_id, natural_key",
        rows.join(", ")
    );
    let keys: Vec<String> = deliveries.iter().map(|d| d.natural_key()).collect();
    let mut query = sqlx::query_as::<_, (i64, i64, String)>(&sql);
    for (d, key) in deliveries.iter().zip(&keys) {
        let (status, processed_at) = if d.changes_meetings() {
            ("pending", None)
        } else {
            ("ignored", Some(now))
        };
        query = query
            .bind(d.adviser().0)
            .bind(d.subscription.id)
            .bind(d.envelope.event.as_str())
            .bind(key.as_str())
            .bind(d.signature_t)
            .bind(now)
            .bind(d.body.as_str())
            .bind(status)
            .bind(processed_at);
    }
    let inserted: std::collections::HashMap<(i64, String), i64> = query
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|(id, user_id, key)| ((user_id, key), id))
        .collect();
    Ok(deliveries
        .iter()
        .zip(keys)
        .map(|(d, key)| inserted.get(&(d.adviser().0, key)).copied())
        .collect())
}

/// The database cannot be reached or is overloaded: Calendly should retry later (503).
pub(super) fn is_unavailable(e: &sqlx::Error) -> bool {
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

/// A stored delivery still to be applied.
pub(super) struct StoredDelivery {
    pub id: i64,
    pub adviser: AdviserId,
    pub body: String,
    /// Attempts made so far.
    pub attempts: i64,
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
    apply_all(state, rows).await
}

/// Applies `pending` deliveries stored at least `age_ms` ago: ones whose instance stopped
/// before applying them (the [`super::applier`] sweeps for them).
pub(super) async fn process_stranded(state: &AppState, age_ms: i64) -> Result<usize, sqlx::Error> {
    let rows: Vec<(i64, i64, String, i64)> = sqlx::query_as(
        "SELECT id, user_id, body, attempts FROM webhook_deliveries WHERE status = 'pending' \
         AND received_at <= $1 ORDER BY id LIMIT 100",
    )
    .bind(state.clock.now_ms() - age_ms)
    .fetch_all(state.db.pool())
    .await?;
    apply_all(state, rows).await
}

async fn apply_all(
    state: &AppState,
    rows: Vec<(i64, i64, String, i64)>,
) -> Result<usize, sqlx::Error> {
    let mut done = 0;
    for (id, user_id, body, attempts) in rows {
        let stored = StoredDelivery {
            id,
            adviser: AdviserId(user_id),
            body,
            attempts,
        };
        if apply_stored(state, &stored).await? {
            done += 1;
        }
    }
    Ok(done)
}

/// Applies one stored delivery in its own transaction, unless another worker already has:
/// whether this call applied it. If applying fails, the delivery is marked `failed` with its
/// next attempt scheduled; `Err` only when the database cannot be written to at all.
pub(super) async fn apply_stored(
    state: &AppState,
    stored: &StoredDelivery,
) -> Result<bool, sqlx::Error> {
    let StoredDelivery {
        id,
        adviser,
        ref body,
        attempts,
    } = *stored;
    let now = state.clock.now_ms();
    // Marking the row done comes first: on PostgreSQL it locks the row, so another instance
    // running the same round waits, then finds it done and skips it.
    let result: Result<Option<Option<i64>>, ProcessError> = async {
        let envelope: WebhookEnvelope = serde_json::from_str(body)?;
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
        Ok(None) => Ok(false),
        Ok(Some(seq)) => {
            if let Some(seq) = seq {
                state.live.committed(state.db.kind(), adviser, seq);
            }
            Ok(true)
        }
        Err(ProcessError::Database(e)) if is_unavailable(&e) => Err(e),
        Err(err) => {
            tracing::warn!(delivery = id, error = %err, "applying a stored delivery failed");
            state.metrics.inc(
                "webhook_reapply_failures_total",
                "Stored deliveries that failed to apply (retried later, never dropped).",
                &[],
            );
            sqlx::query("UPDATE webhook_deliveries SET status = 'failed', attempts = attempts + 1, error = $1, next_attempt_at = $2 WHERE id = $3")
                .bind(err.reason())
                .bind(now + retry_delay_ms(attempts + 1))
                .bind(id)
                .execute(state.db.pool())
                .await?;
            Ok(false)
        }
    }
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
