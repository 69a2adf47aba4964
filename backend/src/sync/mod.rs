//! Sync from Calendly's API: the backfill after connecting, reconciliation (catches missed
//! deliveries and host-side changes), the polling fallback when webhooks are unavailable, and the
//! check for conference links Calendly adds after a booking without any webhook. Merged with
//! webhook data on the invitee URI, so nothing is counted twice.
//!
//! Calendly's per-user rate limit is shared with the adviser's other integrations
//! (calendly-api.md §0), so a sync reads only what can have changed: the events in a bounded
//! window, and invitees only of events that are new or whose `updated_at` moved. It paces
//! itself by `X-RateLimit-Remaining` and, after a pause or a 429, resumes from the page where it
//! stopped.

mod now;
mod plan;

use std::collections::HashMap;

use calendly::ids::{CalendlyUserUri, ScheduledEventUri};
use calendly::{ListInvitees, ListScheduledEvents, ScheduledEvent, Status};

pub use now::{sync_now, SyncNow};
pub use plan::{needs_invitees, pace, round_sync, Cursor, Pace, StoredEvent, SyncKind};

use crate::accounts::AdviserId;
use crate::connections::{self, calendly_for, AdviserCalendly, TokenError};
use crate::meetings::{
    apply_invitee, refresh_event, AttendeeStatus, InviteeChange, Source, CONFERENCE_KINDS,
};
use crate::AppState;

/// Safety bound on event pages per sync (100 events each).
const MAX_PAGES: usize = 40;
/// At most this many meetings awaiting a conference link are re-checked per round.
const MAX_LINK_CHECKS: i64 = 10;
/// Events whose invitees a run reads before it honours a pause: a sync always makes progress,
/// even while the adviser's other integrations keep the shared budget low.
const MIN_EVENTS_PER_RUN: usize = 3;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub events: usize,
    /// Events whose invitees were read (new or changed ones).
    pub events_read: usize,
    pub invitees: usize,
    /// Invitees that were new or had changed (the rest were already up to date).
    pub applied: usize,
    /// Stopped to stay within the shared rate limit; resumes after this many seconds.
    pub paused_for_secs: Option<u64>,
}

/// Runs the backfill in the background (after connecting).
pub fn spawn_sync(state: AppState, adviser: AdviserId) {
    tokio::spawn(async move {
        if let Err(err) = sync_connection(&state, adviser, SyncKind::Backfill).await {
            tracing::warn!(user_id = adviser.0, error = %err, "sync failed");
        }
    });
}

/// Re-reads the adviser's events in the sync window and applies what changed; records the time
/// and result on the connection. A sync that paused (or hit a 429) resumes from its cursor.
#[tracing::instrument(skip_all, fields(user_id = adviser.0, kind = ?kind))]
pub async fn sync_connection(
    state: &AppState,
    adviser: AdviserId,
    kind: SyncKind,
) -> Result<SyncReport, TokenError> {
    let result = sync_inner(state, adviser, kind).await;
    if let Err(TokenError::Calendly(e)) = &result {
        if !e.is_transient() {
            // Calendly refused this sync's request (say, a page token it no longer accepts):
            // the next one starts afresh rather than repeating it.
            save_cursor(&state.db, adviser, None).await?;
        }
    }
    let now = state.clock.now_ms();
    let (summary, outcome) = match &result {
        Ok(r) if r.paused_for_secs.is_some() => (
            format!(
                "paused to stay within Calendly's rate limit; {} meetings checked so far",
                r.events
            ),
            "paused",
        ),
        Ok(r) => (format!("ok: {} meetings checked", r.events), "ok"),
        Err(TokenError::NeedsReconnect) => ("needs reconnect".to_owned(), "needs_reconnect"),
        Err(e) => (format!("failed: {e}"), "error"),
    };
    state.metrics.inc(
        "calendly_syncs_total",
        "Sync runs against Calendly's API by outcome.",
        &[("outcome", outcome)],
    );
    let completed = matches!(&result, Ok(r) if r.paused_for_secs.is_none());
    let resume_at = match &result {
        Ok(SyncReport {
            paused_for_secs: Some(secs),
            ..
        }) => Some(now.saturating_add((*secs).min(3600) as i64 * 1000)),
        Err(TokenError::Calendly(calendly::Error::RateLimited { reset_secs })) => {
            Some(now.saturating_add((*reset_secs).clamp(1, 3600) as i64 * 1000))
        }
        _ => None,
    };
    let outcome = connections::SyncOutcome {
        at: now,
        summary: &summary,
        completed,
        resume_at,
    };
    connections::record_sync(&state.db, adviser, outcome).await?;
    result
}

async fn sync_inner(
    state: &AppState,
    adviser: AdviserId,
    kind: SyncKind,
) -> Result<SyncReport, TokenError> {
    let connection = connections::load(&state.db, adviser)
        .await?
        .ok_or(TokenError::NotConnected)?;
    let user_uri = CalendlyUserUri::parse(&connection.calendly_user_uri)
        .map_err(|e| calendly::Error::Decode(e.to_string()))?;
    let now = state.clock.now();
    let saved = load_cursor(&state.db, adviser).await?;
    let mut cursor = Cursor::resume_or_start(saved, kind, now);
    let time = |ms: i64| chrono::DateTime::from_timestamp_millis(ms).unwrap_or(now);
    let mut report = SyncReport::default();
    let calendly = calendly_for(state, adviser);
    for _ in 0..MAX_PAGES {
        save_cursor(&state.db, adviser, Some(&cursor)).await?;
        let request = ListScheduledEvents {
            user: Some(user_uri.clone()),
            min_start_time: Some(time(cursor.min_start_ms)),
            max_start_time: Some(time(cursor.max_start_ms)),
            sort: Some("start_time:asc".into()),
            count: Some(100),
            page_token: cursor.page_token.clone(),
            ..Default::default()
        };
        let api = calendly.api();
        let page = calendly
            .call(|t| {
                let request = request.clone();
                async move { api.list_scheduled_events(&t, &request).await }
            })
            .await?;
        let stored = stored_versions(state, adviser, &page.collection).await?;
        let mut pace_now = pace(page.rate_limit);
        for event in &page.collection {
            report.events += 1;
            if !needs_invitees(cursor.kind, stored.get(event.uri.as_str()), event, now) {
                continue;
            }
            if let (Pace::Pause { resume_in_secs }, true) =
                (pace_now, report.events_read >= MIN_EVENTS_PER_RUN)
            {
                // Stop before this event; the page is read again on resume, and the events
                // already applied are skipped as unchanged.
                report.paused_for_secs = Some(resume_in_secs);
                return Ok(report);
            }
            report.events_read += 1;
            pace_now = sync_event_invitees(state, &calendly, event, &mut report).await?;
        }
        match page.next_page_token.filter(|_| !page.collection.is_empty()) {
            Some(next) => cursor.page_token = Some(next),
            None => {
                save_cursor(&state.db, adviser, None).await?;
                return Ok(report);
            }
        }
        if let Pace::Pause { resume_in_secs } = pace(page.rate_limit).max_with(pace_now) {
            save_cursor(&state.db, adviser, Some(&cursor)).await?;
            report.paused_for_secs = Some(resume_in_secs);
            return Ok(report);
        }
    }
    // More pages than one run reads: the cursor stays, and the next round goes on from it.
    report.paused_for_secs = Some(1);
    Ok(report)
}

impl Pace {
    /// The stricter of two paces.
    fn max_with(self, other: Pace) -> Pace {
        match (self, other) {
            (Pace::Pause { resume_in_secs: a }, Pace::Pause { resume_in_secs: b }) => Pace::Pause {
                resume_in_secs: a.max(b),
            },
            (Pace::Pause { .. }, _) => self,
            _ => other,
        }
    }
}

/// Reads one event's invitees and applies those that changed; returns the pace the last page
/// of invitees allows.
async fn sync_event_invitees(
    state: &AppState,
    calendly: &AdviserCalendly<'_>,
    event: &ScheduledEvent,
    report: &mut SyncReport,
) -> Result<Pace, TokenError> {
    let mut invitee_page = None;
    let mut last_pace = Pace::Continue;
    for _ in 0..MAX_PAGES {
        let request = ListInvitees {
            count: Some(100),
            page_token: invitee_page.clone(),
            ..Default::default()
        };
        let api = calendly.api();
        let invitees = calendly
            .call(|t| {
                let request = request.clone();
                let uri = event.uri.clone();
                async move { api.list_event_invitees(&t, &uri, &request).await }
            })
            .await?;
        last_pace = pace(invitees.rate_limit);
        for invitee in &invitees.collection {
            report.invitees += 1;
            if apply_synced_invitee(state, calendly.adviser(), invitee, event).await? {
                report.applied += 1;
            }
        }
        match invitees
            .next_page_token
            .filter(|_| !invitees.collection.is_empty())
        {
            Some(next) => invitee_page = Some(next),
            None => break,
        }
    }
    Ok(last_pace)
}

/// Applies what Calendly says about one invitee now (status and no-show) unless it is already
/// stored exactly so. Returns whether anything was applied.
async fn apply_synced_invitee(
    state: &AppState,
    adviser: AdviserId,
    invitee: &calendly::Invitee,
    event: &ScheduledEvent,
) -> Result<bool, TokenError> {
    let known = known_invitee(state, adviser, invitee).await?;
    let canceled = invitee.status == Status::Canceled;
    let no_show = invitee.no_show.is_some();
    let status_current = known.as_ref().is_some_and(|k| {
        (k.status == AttendeeStatus::Canceled) == canceled
            && k.calendly_updated_at >= crate::meetings::calendly_time(&event.updated_at)
    });
    let no_show_current = known.as_ref().map(|k| k.no_show == 1).unwrap_or(false) == no_show;
    if status_current && no_show_current {
        return Ok(false);
    }
    let now = state.clock.now_ms();
    let mut changes = vec![if canceled {
        InviteeChange::Canceled
    } else {
        InviteeChange::Created
    }];
    if !no_show_current {
        // Calendly's own record as read just now (it need not move the invitee's `updated_at`).
        changes.push(if no_show {
            InviteeChange::NoShowMarked
        } else {
            InviteeChange::NoShowCleared
        });
    }
    let mut tx = state.db.begin_write().await?;
    let mut seq = 0;
    for change in changes {
        let observed_at = state.clock.now();
        let seen = crate::meetings::Observation {
            change,
            at: &observed_at,
            invitee,
            event,
        };
        let applied = apply_invitee(&mut tx, adviser, seen, Source::Sync, now).await?;
        seq = applied.seq;
    }
    tx.commit().await?;
    state.live.committed(state.db.kind(), adviser, seq);
    Ok(true)
}

#[derive(sqlx::FromRow)]
struct KnownInvitee {
    #[sqlx(try_from = "String")]
    status: AttendeeStatus,
    no_show: i64,
    calendly_updated_at: String,
}

async fn known_invitee(
    state: &AppState,
    adviser: AdviserId,
    invitee: &calendly::Invitee,
) -> Result<Option<KnownInvitee>, sqlx::Error> {
    sqlx::query_as(
        "SELECT a.status, a.no_show, m.calendly_updated_at FROM attendees a JOIN meetings m ON m.id = a.meeting_id \
         WHERE a.user_id = $1 AND a.invitee_uri = $2",
    )
    .bind(adviser.0)
    .bind(invitee.uri.as_str())
    .fetch_optional(state.db.pool())
    .await
}

/// What we hold of the page's events that we already know (one query per page).
async fn stored_versions(
    state: &AppState,
    adviser: AdviserId,
    events: &[ScheduledEvent],
) -> Result<HashMap<String, StoredEvent>, sqlx::Error> {
    if events.is_empty() {
        return Ok(HashMap::new());
    }
    let placeholders: Vec<String> = (0..events.len()).map(|i| format!("${}", i + 2)).collect();
    let sql = format!(
        "SELECT m.event_uri, m.calendly_updated_at, \
             (SELECT COUNT(*) FROM attendees a WHERE a.meeting_id = m.id AND a.status = 'active') AS active_attendees \
         FROM meetings m WHERE m.user_id = $1 AND m.event_uri IN ({})",
        placeholders.join(", ")
    );
    let mut query = sqlx::query_as::<_, (String, String, i64)>(&sql).bind(adviser.0);
    for event in events {
        query = query.bind(event.uri.as_str());
    }
    Ok(query
        .fetch_all(state.db.pool())
        .await?
        .into_iter()
        .map(|(uri, updated_at, active_attendees)| {
            (
                uri,
                StoredEvent {
                    updated_at,
                    active_attendees,
                },
            )
        })
        .collect())
}

/// Conference links Calendly makes after the booking arrive without any webhook (and perhaps
/// without a new `updated_at`): each upcoming meeting still waiting for one is read again.
/// Returns how many meetings got their link.
#[tracing::instrument(skip_all, fields(user_id = adviser.0))]
pub async fn check_conference_links(
    state: &AppState,
    adviser: AdviserId,
) -> Result<usize, TokenError> {
    let kinds: Vec<String> = (0..CONFERENCE_KINDS.len())
        .map(|i| format!("${}", i + 4))
        .collect();
    let sql = format!(
        "SELECT event_uri FROM meetings WHERE user_id = $1 AND join_url IS NULL AND location_kind IS NOT NULL \
         AND status = 'active' AND end_at > $2 AND COALESCE(location_status, '') <> 'failed' \
         AND (location_status IS NOT NULL OR location_kind IN ({})) ORDER BY start_at LIMIT $3",
        kinds.join(", ")
    );
    let mut query = sqlx::query_as::<_, (String,)>(&sql)
        .bind(adviser.0)
        .bind(state.clock.now_ms())
        .bind(MAX_LINK_CHECKS);
    for kind in CONFERENCE_KINDS {
        query = query.bind(kind);
    }
    let waiting = query.fetch_all(state.db.pool()).await?;
    let mut linked = 0;
    let calendly = calendly_for(state, adviser);
    let api = calendly.api();
    for (uri,) in waiting {
        let Ok(uri) = ScheduledEventUri::parse(&uri) else {
            continue;
        };
        let event = match calendly
            .call(|t| {
                let uri = uri.clone();
                async move { api.get_scheduled_event(&t, &uri).await }
            })
            .await
        {
            Ok(event) => event,
            Err(TokenError::Calendly(calendly::Error::NotFound)) => continue,
            Err(e) => return Err(e),
        };
        if event
            .location
            .as_ref()
            .and_then(|l| l.join_url.as_ref())
            .is_none()
        {
            continue;
        }
        let mut tx = state.db.begin_write().await?;
        let applied = refresh_event(&mut tx, adviser, &event, state.clock.now_ms()).await?;
        tx.commit().await?;
        if let Some(applied) = applied {
            state.live.committed(state.db.kind(), adviser, applied.seq);
            linked += 1;
        }
    }
    Ok(linked)
}

/// Where an unfinished sync stopped, if one did (an unreadable cursor starts over).
async fn load_cursor(db: &crate::Db, adviser: AdviserId) -> Result<Option<Cursor>, sqlx::Error> {
    Ok(connections::load_sync_cursor(db, adviser)
        .await?
        .and_then(|json| serde_json::from_str(&json).ok()))
}

/// Saves (or, with `None`, clears) the cursor of the sync in progress.
async fn save_cursor(
    db: &crate::Db,
    adviser: AdviserId,
    cursor: Option<&Cursor>,
) -> Result<(), sqlx::Error> {
    let json = cursor.and_then(|c| serde_json::to_string(c).ok());
    connections::save_sync_cursor(db, adviser, json.as_deref()).await
}
