//! Background work, safe with several instances: each round claims due connections atomically
//! (a conditional UPDATE of `next_sync_at`), so one connection is handled once per round.

use std::time::Duration;

use crate::accounts::AdviserId;
use crate::connections::{self, LiveUpdates};
use crate::AppState;

/// Runs forever: clean-ups after disconnect, stored deliveries to re-apply, reconciliation.
pub fn spawn(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let tick = Duration::from_secs(state.settings.sync_interval.as_secs().clamp(1, 30));
        loop {
            tokio::time::sleep(tick).await;
            if let Err(err) = run_once(&state).await {
                tracing::warn!(error = %err, "background round failed");
            }
        }
    })
}

pub async fn run_once(state: &AppState) -> Result<(), sqlx::Error> {
    connections::run_cleanup_jobs(state).await?;
    crate::webhooks::process_pending(state).await?;
    crate::sessions::purge_expired(&state.db, &state.clock).await?;
    crate::accounts::purge_old_failures(&state.db, &state.clock).await?;
    crate::webhooks::purge_old_bodies(&state.db, &state.clock).await?;
    crate::webhooks::purge_old_refusals(&state.db, state.clock.now_ms()).await?;
    for adviser in claim_due_connections(state).await? {
        scheduled_round(state, adviser).await;
    }
    Ok(())
}

/// Connections due for reconciliation, each claimed by exactly one instance.
pub async fn claim_due_connections(state: &AppState) -> Result<Vec<AdviserId>, sqlx::Error> {
    let now = state.clock.now_ms();
    let interval = state.settings.sync_interval.as_millis() as i64;
    let due: Vec<(i64, Option<i64>)> = sqlx::query_as(
        "SELECT user_id, next_sync_at FROM calendar_connections WHERE status = 'connected' AND (next_sync_at IS NULL OR next_sync_at <= $1) LIMIT 100",
    )
    .bind(now)
    .fetch_all(state.db.pool())
    .await?;
    let mut claimed = Vec::new();
    for (user_id, next) in due {
        let won = sqlx::query(
            "UPDATE calendar_connections SET next_sync_at = $1 WHERE user_id = $2 AND status = 'connected' AND COALESCE(next_sync_at, -1) = $3",
        )
        .bind(now + interval)
        .bind(user_id)
        .bind(next.unwrap_or(-1))
        .execute(state.db.pool())
        .await?;
        if won.rows_affected() == 1 {
            claimed.push(AdviserId(user_id));
        }
    }
    Ok(claimed)
}

/// One interval's work for a connection: the cheap checks (subscription state, conference links
/// still missing) always; a re-read of the events only when polling, when a paused sync must
/// resume, or once per `APP_FULL_SYNC_INTERVAL_SECS` for a live connection.
#[tracing::instrument(skip_all, fields(user_id = adviser.0))]
pub async fn scheduled_round(state: &AppState, adviser: AdviserId) {
    let sync_state = match connections::sync_state(&state.db, adviser).await {
        Ok(Some(s)) => s,
        Ok(None) => return,
        Err(err) => {
            tracing::warn!(error = %err, "could not read the sync state");
            return;
        }
    };
    // A paused sync is resumed as soon as Calendly's window allows; the cheap checks keep to the
    // regular interval and run once it has finished.
    let live = if sync_state.has_cursor == 1 {
        matches!(connections::load(&state.db, adviser).await, Ok(Some(c)) if c.live_updates == LiveUpdates::Active)
    } else {
        cheap_checks(state, adviser).await
    };
    let kind = crate::sync::round_sync(
        live,
        sync_state.has_cursor == 1,
        sync_state.last_full_sync_at,
        state.clock.now_ms(),
        state.settings.full_sync_interval.as_millis() as i64,
    );
    if let Some(kind) = kind {
        if let Err(err) = crate::sync::sync_connection(state, adviser, kind).await {
            tracing::warn!(error = %err, "reconciliation sync failed");
        }
    }
}

/// Checks the subscription (repairing a disabled or missing one), the conference links, and
/// re-reads the events now, whatever the schedule says.
#[tracing::instrument(skip_all, fields(user_id = adviser.0))]
pub async fn reconcile(state: &AppState, adviser: AdviserId) {
    let live = cheap_checks(state, adviser).await;
    let kind = if live {
        crate::sync::SyncKind::Reconcile
    } else {
        crate::sync::SyncKind::Poll
    };
    if let Err(err) = crate::sync::sync_connection(state, adviser, kind).await {
        tracing::warn!(error = %err, "reconciliation sync failed");
    }
}

/// The checks every interval: is the subscription working (repaired if not), and did Calendly
/// make the conference links that were still missing. Returns whether live updates are on.
async fn cheap_checks(state: &AppState, adviser: AdviserId) -> bool {
    let live = match connections::ensure_subscription(state, adviser).await {
        Ok(LiveUpdates::Active) => true,
        Ok(other) => {
            tracing::info!(live = other.as_str(), "live updates unavailable; polling");
            false
        }
        Err(err) => {
            tracing::warn!(error = %err, "could not check the webhook subscription");
            // Unknown: keep to the schedule of a live connection unless it is known to poll.
            matches!(connections::load(&state.db, adviser).await, Ok(Some(c)) if c.live_updates == LiveUpdates::Active)
        }
    };
    match crate::sync::check_conference_links(state, adviser).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(meetings = n, "conference links arrived"),
        Err(err) => tracing::warn!(error = %err, "could not check conference links"),
    }
    live
}
