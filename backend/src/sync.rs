//! Sync from Calendly's API: the backfill after connecting, reconciliation (catches missed
//! deliveries and host-side changes) and the polling fallback when webhooks are unavailable.
//! Merged with webhook data on the invitee URI, so nothing is counted twice.

use calendly::ids::CalendlyUserUri;
use calendly::{ListInvitees, ListScheduledEvents, Status};

use crate::accounts::AdviserId;
use crate::connections::{self, with_token, TokenError};
use crate::meetings::{apply_invitee, InviteeChange};
use crate::AppState;

/// How far back a sync looks.
const LOOKBACK_DAYS: i64 = 30;
/// Safety bound on pages per sync (100 events each).
const MAX_PAGES: usize = 20;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub events: usize,
    pub invitees: usize,
    /// Invitees that were new or had changed (the rest were already up to date).
    pub applied: usize,
}

/// Runs a sync in the background (after connecting).
pub fn spawn_sync(state: AppState, user: AdviserId) {
    tokio::spawn(async move {
        if let Err(err) = sync_connection(&state, user).await {
            tracing::warn!(user_id = user.0, error = %err, "sync failed");
        }
    });
}

/// Re-reads the adviser's scheduled events from 30 days ago onwards with their invitees and
/// applies them; records the time and result on the connection.
#[tracing::instrument(skip_all, fields(user_id = user.0))]
pub async fn sync_connection(state: &AppState, user: AdviserId) -> Result<SyncReport, TokenError> {
    let result = sync_inner(state, user).await;
    let now = state.clock.now_ms();
    let (summary, outcome) = match &result {
        Ok(r) => (format!("ok: {} meetings checked", r.events), "ok"),
        Err(TokenError::NeedsReconnect) => ("needs reconnect".to_owned(), "needs_reconnect"),
        Err(e) => (format!("failed: {e}"), "error"),
    };
    state.metrics.inc(
        "calendly_syncs_total",
        "Sync runs against Calendly's API by outcome.",
        &[("outcome", outcome)],
    );
    sqlx::query("UPDATE calendar_connections SET last_sync_at = $1, last_sync_result = $2 WHERE user_id = $3")
        .bind(now)
        .bind(summary)
        .bind(user.0)
        .execute(state.db.pool())
        .await?;
    result
}

async fn sync_inner(state: &AppState, user: AdviserId) -> Result<SyncReport, TokenError> {
    let connection = connections::load(&state.db, user)
        .await?
        .ok_or(TokenError::NotConnected)?;
    let user_uri = CalendlyUserUri::parse(&connection.calendly_user_uri)
        .map_err(|e| calendly::Error::Decode(e.to_string()))?;
    let since = state.clock.now() - chrono::Duration::days(LOOKBACK_DAYS);
    let mut report = SyncReport::default();
    let mut page_token = None;
    for _ in 0..MAX_PAGES {
        let request = ListScheduledEvents {
            user: Some(user_uri.clone()),
            min_start_time: Some(since),
            sort: Some("start_time:asc".into()),
            count: Some(100),
            page_token: page_token.clone(),
            ..Default::default()
        };
        let page = with_token(state, user, |t| {
            let request = request.clone();
            async move { state.calendly.api.list_scheduled_events(&t, &request).await }
        })
        .await?;
        for event in &page.collection {
            report.events += 1;
            let mut invitee_page = None;
            for _ in 0..MAX_PAGES {
                let request = ListInvitees {
                    count: Some(100),
                    page_token: invitee_page.clone(),
                    ..Default::default()
                };
                let invitees = with_token(state, user, |t| {
                    let request = request.clone();
                    let uri = event.uri.clone();
                    async move {
                        state
                            .calendly
                            .api
                            .list_event_invitees(&t, &uri, &request)
                            .await
                    }
                })
                .await?;
                for invitee in &invitees.collection {
                    report.invitees += 1;
                    let change = if invitee.status == Status::Canceled {
                        InviteeChange::Canceled
                    } else {
                        InviteeChange::Created
                    };
                    if already_known(state, user, invitee, event).await? {
                        continue;
                    }
                    let now = state.clock.now_ms();
                    let mut tx = state.db.begin_write().await?;
                    let applied = apply_invitee(
                        &mut tx,
                        user,
                        change,
                        &state.clock.now(),
                        invitee,
                        event,
                        "sync",
                        now,
                    )
                    .await?;
                    tx.commit().await?;
                    report.applied += 1;
                    state.live.committed(state.db.kind(), user, applied.seq);
                }
                match invitees.next_page_token {
                    Some(next) => invitee_page = Some(next),
                    None => break,
                }
            }
        }
        match page.next_page_token {
            Some(next) => page_token = Some(next),
            None => break,
        }
    }
    Ok(report)
}

/// True when this invitee is stored with the same status from the same version of the event:
/// applying it again would change nothing, so it is skipped (and no live change is announced).
async fn already_known(
    state: &AppState,
    user: AdviserId,
    invitee: &calendly::Invitee,
    event: &calendly::ScheduledEvent,
) -> Result<bool, sqlx::Error> {
    let known: Option<(String, String)> = sqlx::query_as(
        "SELECT a.status, m.calendly_updated_at FROM attendees a JOIN meetings m ON m.id = a.meeting_id \
         WHERE a.user_id = $1 AND a.invitee_uri = $2",
    )
    .bind(user.0)
    .bind(invitee.uri.as_str())
    .fetch_optional(state.db.pool())
    .await?;
    let status = if invitee.status == Status::Canceled {
        "canceled"
    } else {
        "active"
    };
    Ok(known.is_some_and(|(s, updated)| {
        s == status && updated >= crate::meetings::calendly_time(&event.updated_at)
    }))
}
