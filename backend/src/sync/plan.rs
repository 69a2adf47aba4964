//! The decisions of a sync, as pure functions: which window to read, whose invitees to fetch,
//! when to stop to leave Calendly's shared rate limit to the adviser's other integrations, and
//! what a background round does.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use calendly::{RateLimit, ScheduledEvent, Status};

/// How far back a sync looks (missed cancellations and no-shows of recent meetings).
pub const LOOKBACK_DAYS: i64 = 30;
/// How far ahead a sync looks.
pub const LOOKAHEAD_DAYS: i64 = 180;
/// Meetings that ended this recently are re-read when polling: no-shows are marked after the
/// meeting, and Calendly does not change the event's `updated_at` for them.
pub const NO_SHOW_WINDOW_HOURS: i64 = 48;
/// A paused sync resumes where it stopped if it began this recently; otherwise it starts over
/// (its window would be stale).
pub const RESUME_WITHIN_MS: i64 = 60 * 60 * 1000;

/// Why a sync runs. Each reads the events in the window; they differ in whose invitees it
/// fetches beyond the new and changed events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncKind {
    /// Right after connecting.
    Backfill,
    /// A connection with live updates: catches what webhooks missed.
    Reconcile,
    /// A connection without webhooks: this is how its meetings arrive.
    Poll,
}

/// Where a sync is, saved before each page so a 429 or a pause resumes there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub kind: SyncKind,
    pub min_start_ms: i64,
    pub max_start_ms: i64,
    /// The page being read (`None`: the first).
    pub page_token: Option<String>,
    pub started_ms: i64,
}

impl Cursor {
    /// A fresh sync over the window around `now`.
    pub fn start(kind: SyncKind, now: DateTime<Utc>) -> Cursor {
        Cursor {
            kind,
            min_start_ms: (now - Duration::days(LOOKBACK_DAYS)).timestamp_millis(),
            max_start_ms: (now + Duration::days(LOOKAHEAD_DAYS)).timestamp_millis(),
            page_token: None,
            started_ms: now.timestamp_millis(),
        }
    }

    /// The saved cursor if it is recent enough to resume, else a fresh one. A backfill is never
    /// downgraded: resuming one keeps its kind.
    pub fn resume_or_start(saved: Option<Cursor>, kind: SyncKind, now: DateTime<Utc>) -> Cursor {
        match saved {
            Some(c) if now.timestamp_millis() - c.started_ms <= RESUME_WITHIN_MS => c,
            _ => Cursor::start(kind, now),
        }
    }
}

/// What we hold of an event: its `updated_at` as stored (Calendly's text format, which sorts in
/// time order) and how many of its attendees are active.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEvent {
    pub updated_at: String,
    pub active_attendees: i64,
}

/// Whether to list an event's invitees: it is new to us, changed since we stored it, or its
/// active-invitee count differs from ours (a delivery for one seat of a group event was lost
/// while a later one moved our `updated_at` on).
pub fn needs_invitees(
    kind: SyncKind,
    stored: Option<&StoredEvent>,
    event: &ScheduledEvent,
    now: DateTime<Utc>,
) -> bool {
    let Some(stored) = stored else {
        return true;
    };
    if stored.updated_at.as_str() < crate::meetings::calendly_time(&event.updated_at).as_str() {
        return true;
    }
    if event
        .invitees_counter
        .is_some_and(|c| i64::from(c.active) != stored.active_attendees)
    {
        return true;
    }
    kind == SyncKind::Poll
        && event.status == Status::Active
        && event.end_time <= now
        && event.end_time > now - Duration::hours(NO_SHOW_WINDOW_HOURS)
}

/// Continue, or stop until the window resets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pace {
    Continue,
    Pause { resume_in_secs: u64 },
}

/// Calendly's per-user limit is shared with the adviser's other integrations (calendly-api.md
/// §0): a sync uses at most half of what is left in a window, then waits for the reset.
pub fn pace(rate: Option<RateLimit>) -> Pace {
    match rate {
        Some(r) if r.remaining <= r.limit / 2 => Pace::Pause {
            resume_in_secs: r.reset_secs.max(1),
        },
        _ => Pace::Continue,
    }
}

/// What a scheduled round re-reads beyond its cheap checks: a polling connection is polled every
/// interval, a paused sync resumes, and a live connection re-reads only every full interval.
pub fn round_sync(
    live: bool,
    has_cursor: bool,
    last_full_sync_ms: Option<i64>,
    now_ms: i64,
    full_interval_ms: i64,
) -> Option<SyncKind> {
    if !live {
        return Some(SyncKind::Poll);
    }
    if has_cursor || last_full_sync_ms.is_none_or(|at| now_ms - at >= full_interval_ms) {
        return Some(SyncKind::Reconcile);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(updated: &str, end: DateTime<Utc>, status: &str) -> ScheduledEvent {
        serde_json::from_value(serde_json::json!({
            "uri": "https://api.calendly.com/scheduled_events/E1", "name": "x", "status": status,
            "start_time": (end - Duration::minutes(30)).to_rfc3339(), "end_time": end.to_rfc3339(),
            "created_at": updated, "updated_at": updated,
        }))
        .unwrap()
    }

    fn stored(updated_at: &str, active_attendees: i64) -> Option<StoredEvent> {
        Some(StoredEvent {
            updated_at: updated_at.into(),
            active_attendees,
        })
    }

    #[test]
    fn only_new_or_changed_events_have_their_invitees_read() {
        let now = Utc::now();
        let e = event(
            "2026-11-01T10:00:00.000000Z",
            now + Duration::days(3),
            "active",
        );
        assert!(needs_invitees(SyncKind::Reconcile, None, &e, now));
        assert!(needs_invitees(
            SyncKind::Reconcile,
            stored("2026-10-31T10:00:00.000000Z", 1).as_ref(),
            &e,
            now
        ));
        assert!(!needs_invitees(
            SyncKind::Reconcile,
            stored("2026-11-01T10:00:00.000000Z", 1).as_ref(),
            &e,
            now
        ));
        assert!(!needs_invitees(
            SyncKind::Poll,
            stored("2026-11-01T10:00:00.000000Z", 1).as_ref(),
            &e,
            now
        ));
    }

    #[test]
    fn a_group_event_whose_seat_count_differs_from_ours_is_read_again() {
        let now = Utc::now();
        let mut e = event(
            "2026-11-01T10:00:00.000000Z",
            now + Duration::days(3),
            "active",
        );
        e.invitees_counter = Some(calendly::InviteesCounter {
            total: 3,
            active: 3,
            limit: 5,
        });
        assert!(needs_invitees(
            SyncKind::Reconcile,
            stored("2026-11-01T10:00:00.000000Z", 2).as_ref(),
            &e,
            now
        ));
        assert!(!needs_invitees(
            SyncKind::Reconcile,
            stored("2026-11-01T10:00:00.000000Z", 3).as_ref(),
            &e,
            now
        ));
    }

    #[test]
    fn polling_rereads_meetings_that_just_ended_for_no_shows() {
        let now = Utc::now();
        let ended = event(
            "2026-11-01T10:00:00.000000Z",
            now - Duration::hours(2),
            "active",
        );
        let known = stored("2026-11-01T10:00:00.000000Z", 1);
        assert!(needs_invitees(SyncKind::Poll, known.as_ref(), &ended, now));
        assert!(!needs_invitees(
            SyncKind::Reconcile,
            known.as_ref(),
            &ended,
            now
        ));
        let long_ago = event(
            "2026-11-01T10:00:00.000000Z",
            now - Duration::days(5),
            "active",
        );
        assert!(!needs_invitees(
            SyncKind::Poll,
            known.as_ref(),
            &long_ago,
            now
        ));
    }

    #[test]
    fn a_sync_leaves_half_of_the_shared_limit_to_other_integrations() {
        let rate = |remaining| {
            Some(RateLimit {
                limit: 50,
                remaining,
                reset_secs: 42,
            })
        };
        assert_eq!(pace(rate(26)), Pace::Continue);
        assert_eq!(pace(rate(25)), Pace::Pause { resume_in_secs: 42 });
        assert_eq!(pace(None), Pace::Continue);
    }

    #[test]
    fn a_recent_cursor_resumes_and_a_stale_one_starts_over() {
        let now = Utc::now();
        let mut saved = Cursor::start(SyncKind::Backfill, now - Duration::minutes(5));
        saved.page_token = Some("p2".into());
        let resumed = Cursor::resume_or_start(Some(saved.clone()), SyncKind::Reconcile, now);
        assert_eq!(resumed, saved);
        let stale = Cursor::start(SyncKind::Reconcile, now - Duration::hours(2));
        let fresh = Cursor::resume_or_start(Some(stale), SyncKind::Reconcile, now);
        assert_eq!(fresh.page_token, None);
        assert_eq!(fresh.started_ms, now.timestamp_millis());
    }

    #[test]
    fn a_live_connection_rereads_hourly_and_a_polling_one_every_round() {
        let hour = 3_600_000;
        assert_eq!(
            round_sync(false, false, Some(0), 1, hour),
            Some(SyncKind::Poll)
        );
        assert_eq!(round_sync(true, false, Some(0), 1, hour), None);
        assert_eq!(
            round_sync(true, false, Some(0), hour, hour),
            Some(SyncKind::Reconcile)
        );
        assert_eq!(
            round_sync(true, true, Some(0), 1, hour),
            Some(SyncKind::Reconcile),
            "a paused sync resumes"
        );
        assert_eq!(
            round_sync(true, false, None, 1, hour),
            Some(SyncKind::Reconcile)
        );
    }
}
