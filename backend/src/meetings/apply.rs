//! Applying one invitee observation to the adviser's meetings, idempotently and so that any
//! order of the same deliveries ends in the same state:
//! - an attendee once canceled stays canceled (Calendly never un-cancels an invitee; a
//!   reschedule makes a new one), and the `rescheduled` flag and links only ever get set;
//! - meeting fields follow the newest `scheduled_event.updated_at` seen;
//! - no-show follows the newest envelope time;
//! - the meeting's status is derived from its attendees after every change.

use calendly::{Invitee, ScheduledEvent, Status};
use sqlx::AnyConnection;

use super::status::{derive, AttendeeState, AttendeeStatus, Derived, MeetingStatus, Source};
use crate::accounts::AdviserId;

/// The meeting an observation touched, and the newest change it recorded (for the live stream).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Applied {
    pub meeting_id: i64,
    pub seq: i64,
}

/// What a delivery (or a sync) says about an invitee.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InviteeChange {
    /// `invitee.created`, or an active invitee seen by sync.
    Created,
    /// `invitee.canceled`, or a canceled invitee seen by sync.
    Canceled,
    /// `invitee_no_show.created`
    NoShowMarked,
    /// `invitee_no_show.deleted`
    NoShowCleared,
}

impl InviteeChange {
    pub fn from_event(event: &str) -> Option<Self> {
        Some(match event {
            "invitee.created" => InviteeChange::Created,
            "invitee.canceled" => InviteeChange::Canceled,
            "invitee_no_show.created" => InviteeChange::NoShowMarked,
            "invitee_no_show.deleted" => InviteeChange::NoShowCleared,
            _ => return None,
        })
    }
}

/// Calendly's timestamp format (6 fractional digits, `Z`): sorts as text in time order.
pub fn calendly_time(t: &chrono::DateTime<chrono::Utc>) -> String {
    micros(t)
}

fn micros(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// What Calendly said of one invitee: the change, when Calendly observed it, the invitee and its
/// scheduled event.
#[derive(Clone, Copy, Debug)]
pub struct Observation<'a> {
    pub change: InviteeChange,
    pub at: &'a chrono::DateTime<chrono::Utc>,
    pub invitee: &'a Invitee,
    pub event: &'a ScheduledEvent,
}

/// Applies one observation; returns the id of the meeting it touched and records a change for
/// the live stream (`meeting_changes`). `observed_at` orders observations of the same thing
/// (the envelope's `created_at` for webhooks, the sync time for sync).
pub async fn apply_invitee(
    conn: &mut AnyConnection,
    adviser: AdviserId,
    seen: Observation<'_>,
    source: Source,
    now_ms: i64,
) -> Result<Applied, sqlx::Error> {
    let Observation {
        change,
        at: observed_at,
        invitee,
        event,
    } = seen;
    lock_adviser_meetings(conn, adviser).await?;
    let (meeting_id, meeting_status) = upsert_meeting(conn, adviser, event, source, now_ms).await?;

    let canceled = change == InviteeChange::Canceled || invitee.status == Status::Canceled;
    upsert_attendee(conn, adviser, meeting_id, seen, now_ms).await?;
    if matches!(
        change,
        InviteeChange::NoShowMarked | InviteeChange::NoShowCleared
    ) {
        set_no_show(conn, adviser, change, observed_at, invitee).await?;
    }
    // A new invitee that replaces an old one means the old one was canceled by a reschedule,
    // even if that cancel delivery has not arrived (yet).
    if let Some(old) = &invitee.old_invitee {
        mark_rescheduled(conn, adviser, old.as_str(), invitee.uri.as_str()).await?;
    }

    let mut touched = vec![meeting_id];
    touched.extend(linked_meetings(conn, adviser, meeting_id, invitee).await?);
    // The common case — an active invitee, no reschedule links, joining a meeting that is
    // active — cannot change the meeting's derived state: only the change is recorded.
    let nothing_to_derive = !canceled
        && matches!(
            change,
            InviteeChange::Created | InviteeChange::NoShowMarked | InviteeChange::NoShowCleared
        )
        && invitee.old_invitee.is_none()
        && invitee.new_invitee.is_none()
        && touched.len() == 1
        && meeting_status == MeetingStatus::Active;
    let mut seq = 0;
    for id in &touched {
        let changed = if nothing_to_derive {
            record_change(conn, adviser, *id, now_ms).await?
        } else {
            refresh_meeting(conn, adviser, *id, now_ms).await?
        };
        seq = seq.max(changed);
    }
    Ok(Applied { meeting_id, seq })
}

/// The attendee row for the invitee, inserted or merged (a cancel is never undone; the
/// `rescheduled` flag and links only ever get set).
async fn upsert_attendee(
    conn: &mut AnyConnection,
    adviser: AdviserId,
    meeting_id: i64,
    seen: Observation<'_>,
    now_ms: i64,
) -> Result<(), sqlx::Error> {
    let Observation {
        change,
        invitee,
        event,
        ..
    } = seen;
    let canceled = change == InviteeChange::Canceled || invitee.status == Status::Canceled;
    let cancellation = invitee
        .cancellation
        .as_ref()
        .or(event.cancellation.as_ref())
        .filter(|_| canceled);
    let questions = serde_json::to_string(&invitee.questions_and_answers).ok();
    sqlx::query(
        "INSERT INTO attendees (meeting_id, user_id, invitee_uri, name, email, timezone, status, rescheduled, old_invitee_uri, \
             new_invitee_uri, canceled_by, cancel_reason, canceler_type, questions, created_at, updated_at, cancel_url, reschedule_url) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) \
         ON CONFLICT (user_id, invitee_uri) DO UPDATE SET \
             name = excluded.name, email = excluded.email, timezone = COALESCE(excluded.timezone, attendees.timezone), \
             status = CASE WHEN attendees.status = 'canceled' THEN 'canceled' ELSE excluded.status END, \
             rescheduled = CASE WHEN excluded.rescheduled = 1 THEN 1 ELSE attendees.rescheduled END, \
             old_invitee_uri = COALESCE(attendees.old_invitee_uri, excluded.old_invitee_uri), \
             new_invitee_uri = COALESCE(attendees.new_invitee_uri, excluded.new_invitee_uri), \
             canceled_by = COALESCE(attendees.canceled_by, excluded.canceled_by), \
             cancel_reason = COALESCE(attendees.cancel_reason, excluded.cancel_reason), \
             canceler_type = COALESCE(attendees.canceler_type, excluded.canceler_type), \
             questions = COALESCE(excluded.questions, attendees.questions), \
             cancel_url = COALESCE(excluded.cancel_url, attendees.cancel_url), \
             reschedule_url = COALESCE(excluded.reschedule_url, attendees.reschedule_url)",
    )
    .bind(meeting_id)
    .bind(adviser.0)
    .bind(invitee.uri.as_str())
    .bind(&invitee.name)
    .bind(&invitee.email)
    .bind(invitee.timezone.as_deref())
    .bind(if canceled {
        AttendeeStatus::Canceled
    } else {
        AttendeeStatus::Active
    }
    .as_str())
    .bind(i64::from(invitee.rescheduled && canceled))
    .bind(invitee.old_invitee.as_ref().map(|u| u.as_str().to_owned()))
    .bind(invitee.new_invitee.as_ref().map(|u| u.as_str().to_owned()))
    .bind(cancellation.map(|c| c.canceled_by.clone()))
    .bind(cancellation.and_then(|c| c.reason.clone()))
    .bind(cancellation.map(|c| c.canceler_type.clone()))
    .bind(questions)
    // `created_at` is when the invitee booked (Calendly's time), not when we heard of it, so
    // a group meeting lists its attendees in booking order whatever order deliveries arrive in.
    .bind(invitee.created_at.timestamp_millis())
    .bind(now_ms)
    .bind(invitee.cancel_url.as_deref().filter(|u| is_web_link(u)))
    .bind(invitee.reschedule_url.as_deref().filter(|u| is_web_link(u)))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// No-show follows the newest envelope time.
async fn set_no_show(
    conn: &mut AnyConnection,
    adviser: AdviserId,
    change: InviteeChange,
    observed_at: &chrono::DateTime<chrono::Utc>,
    invitee: &Invitee,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE attendees SET no_show = $1, no_show_at = $2 WHERE user_id = $3 AND invitee_uri = $4 AND (no_show_at IS NULL OR no_show_at <= $2)",
    )
    .bind(i64::from(change == InviteeChange::NoShowMarked))
    .bind(micros(observed_at))
    .bind(adviser.0)
    .bind(invitee.uri.as_str())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The old invitee `old` was canceled by a reschedule to `new`.
async fn mark_rescheduled(
    conn: &mut AnyConnection,
    adviser: AdviserId,
    old: &str,
    new: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE attendees SET status = 'canceled', rescheduled = 1, new_invitee_uri = COALESCE(new_invitee_uri, $1) WHERE user_id = $2 AND invitee_uri = $3",
    )
    .bind(new)
    .bind(adviser.0)
    .bind(old)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The meeting row for a scheduled event, inserted or brought up to date. Event fields follow
/// the newest `updated_at` seen (equal counts as newer, so a conference link Calendly adds
/// without touching `updated_at` is still taken); a value Calendly leaves out (a `null` name,
/// a link not made yet) never erases one already known.
async fn upsert_meeting(
    conn: &mut AnyConnection,
    adviser: AdviserId,
    event: &ScheduledEvent,
    source: Source,
    now_ms: i64,
) -> Result<(i64, MeetingStatus), sqlx::Error> {
    let details = EventDetails::of(event);
    let newer = "excluded.calendly_updated_at >= meetings.calendly_updated_at";
    let sql = format!(
        "INSERT INTO meetings (user_id, event_uri, title, start_at, end_at, location, join_url, event_type_uri, status, source, \
             calendly_updated_at, created_at, updated_at, location_kind, location_status, location_details, guests) \
         VALUES ($1, $2, COALESCE($3, $12), $4, $5, $6, $7, $8, 'active', $9, $10, $11, $11, $13, $14, $15, $16) \
         ON CONFLICT (user_id, event_uri) DO UPDATE SET \
             title = CASE WHEN {newer} THEN COALESCE($3, meetings.title) ELSE meetings.title END, \
             start_at = CASE WHEN {newer} THEN excluded.start_at ELSE meetings.start_at END, \
             end_at = CASE WHEN {newer} THEN excluded.end_at ELSE meetings.end_at END, \
             location = CASE WHEN {newer} THEN COALESCE(excluded.location, meetings.location) ELSE COALESCE(meetings.location, excluded.location) END, \
             join_url = CASE WHEN {newer} THEN COALESCE(excluded.join_url, meetings.join_url) ELSE COALESCE(meetings.join_url, excluded.join_url) END, \
             location_kind = CASE WHEN {newer} THEN COALESCE(excluded.location_kind, meetings.location_kind) ELSE COALESCE(meetings.location_kind, excluded.location_kind) END, \
             location_status = CASE WHEN {newer} THEN COALESCE(excluded.location_status, meetings.location_status) ELSE COALESCE(meetings.location_status, excluded.location_status) END, \
             location_details = CASE WHEN {newer} THEN COALESCE(excluded.location_details, meetings.location_details) ELSE COALESCE(meetings.location_details, excluded.location_details) END, \
             guests = CASE WHEN {newer} THEN excluded.guests ELSE meetings.guests END, \
             event_type_uri = COALESCE(meetings.event_type_uri, excluded.event_type_uri), \
             calendly_updated_at = CASE WHEN {newer} THEN excluded.calendly_updated_at ELSE meetings.calendly_updated_at END \
         RETURNING id, status"
    );
    let (id, status): (i64, String) = sqlx::query_as(&sql)
        .bind(adviser.0)
        .bind(event.uri.as_str())
        .bind(
            event
                .name
                .as_deref()
                .map(str::trim)
                .filter(|n| !n.is_empty()),
        )
        .bind(event.start_time.timestamp_millis())
        .bind(event.end_time.timestamp_millis())
        .bind(details.place)
        .bind(details.join_url)
        .bind(event.event_type.as_ref().map(|e| e.as_str().to_owned()))
        .bind(source.as_str())
        .bind(micros(&event.updated_at))
        .bind(now_ms)
        .bind(calendly::DEFAULT_MEETING_TITLE)
        .bind(details.kind)
        .bind(details.status)
        .bind(details.extra)
        .bind(details.guests)
        .fetch_one(&mut *conn)
        .await?;
    Ok((id, MeetingStatus::from(status)))
}

/// Updates a known meeting from a freshly read scheduled event (no invitee involved), e.g. when
/// a conference link arrived after the booking. Records a change for the live stream only when
/// something the page shows changed; returns its sequence number.
pub async fn refresh_event(
    conn: &mut AnyConnection,
    adviser: AdviserId,
    event: &ScheduledEvent,
    now_ms: i64,
) -> Result<Option<Applied>, sqlx::Error> {
    lock_adviser_meetings(conn, adviser).await?;
    type Shown = (
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        i64,
        i64,
        Option<String>,
    );
    const SHOWN: &str = "SELECT title, location, join_url, location_status, start_at, end_at, guests FROM meetings WHERE user_id = $1 AND event_uri = $2";
    let before: Option<Shown> = sqlx::query_as(SHOWN)
        .bind(adviser.0)
        .bind(event.uri.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    if before.is_none() {
        return Ok(None); // not ours (yet): the invitees' sync creates it
    }
    let (meeting_id, _) = upsert_meeting(conn, adviser, event, Source::Sync, now_ms).await?;
    let after: Option<Shown> = sqlx::query_as(SHOWN)
        .bind(adviser.0)
        .bind(event.uri.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    if after == before {
        return Ok(None);
    }
    let seq = record_change(conn, adviser, meeting_id, now_ms).await?;
    Ok(Some(Applied { meeting_id, seq }))
}

/// The location and guests of an event, as stored on the meeting.
struct EventDetails {
    /// What the page shows as the place: an address, a phone number, or the kind of call.
    place: Option<String>,
    join_url: Option<String>,
    kind: Option<String>,
    /// Conference status: `initiated`, `processing`, `pushed`, `failed`.
    status: Option<String>,
    /// The location's extra details (`additional_info`) when the place is shown separately.
    extra: Option<String>,
    /// JSON list of guest emails.
    guests: Option<String>,
}

impl EventDetails {
    fn of(event: &ScheduledEvent) -> Self {
        let location = event.location.as_ref();
        let kind = location.map(|l| l.kind.clone()).filter(|k| !k.is_empty());
        let text = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
        };
        let address = location.and_then(|l| text(&l.location));
        let additional = location.and_then(|l| text(&l.additional_info));
        let place = address
            .clone()
            .or_else(|| additional.clone())
            .or_else(|| kind.as_deref().map(describe_location_kind));
        let extra = additional.filter(|_| address.is_some());
        let guests: Vec<&str> = event
            .event_guests
            .iter()
            .map(|g| g.email.as_str())
            .filter(|e| !e.is_empty())
            .collect();
        EventDetails {
            place,
            join_url: location
                .and_then(|l| text(&l.join_url))
                .filter(|u| is_web_link(u)),
            kind,
            status: location.and_then(|l| text(&l.status)),
            extra,
            guests: Some(serde_json::to_string(&guests).unwrap_or_else(|_| "[]".into())),
        }
    }
}

/// Only http(s) links are kept: the page renders them as links.
fn is_web_link(url: &str) -> bool {
    url.starts_with("https://") || url.starts_with("http://")
}

/// Location kinds whose link is made by a conferencing service and may arrive after the booking.
pub const CONFERENCE_KINDS: [&str; 6] = [
    "google_conference",
    "zoom",
    "zoom_conference",
    "microsoft_teams_conference",
    "webex_conference",
    "gotomeeting",
];

/// A location whose link a conferencing service makes: a known conference kind, or any location
/// that carries a conference `status` (Calendly adds kinds over time).
pub fn is_conference(kind: Option<&str>, status: Option<&str>) -> bool {
    kind.is_some() && (status.is_some() || kind.is_some_and(|k| CONFERENCE_KINDS.contains(&k)))
}

fn describe_location_kind(kind: &str) -> String {
    match kind {
        "google_conference" => "Google Meet".into(),
        "zoom" | "zoom_conference" => "Zoom".into(),
        "microsoft_teams_conference" => "Microsoft Teams".into(),
        "webex_conference" => "Webex".into(),
        "gotomeeting" => "GoTo Meeting".into(),
        "outbound_call" | "inbound_call" => "Phone call".into(),
        "ask_invitee" => "Invitee chooses".into(),
        other => other.replace('_', " "),
    }
}

/// Meetings whose derived state depends on this invitee: the ones it replaced or was replaced
/// by, and the ones that name it as their old or new self. Only the invitee just applied can
/// have changed, so only its links are followed — each by an index probe, so the cost does not
/// grow with how many meetings the adviser has.
async fn linked_meetings(
    conn: &mut AnyConnection,
    adviser: AdviserId,
    meeting_id: i64,
    invitee: &Invitee,
) -> Result<Vec<i64>, sqlx::Error> {
    let mut linked = Vec::new();
    for uri in [invitee.old_invitee.as_ref(), invitee.new_invitee.as_ref()]
        .into_iter()
        .flatten()
    {
        let row: Option<(i64,)> = sqlx::query_as(
            "SELECT meeting_id FROM attendees WHERE user_id = $1 AND invitee_uri = $2",
        )
        .bind(adviser.0)
        .bind(uri.as_str())
        .fetch_optional(&mut *conn)
        .await?;
        linked.extend(row.map(|(id,)| id));
    }
    let rows: Vec<(i64,)> = sqlx::query_as(
        "SELECT meeting_id FROM attendees WHERE user_id = $1 AND old_invitee_uri = $2 \
         UNION SELECT meeting_id FROM attendees WHERE user_id = $1 AND new_invitee_uri = $2",
    )
    .bind(adviser.0)
    .bind(invitee.uri.as_str())
    .fetch_all(&mut *conn)
    .await?;
    linked.extend(rows.into_iter().map(|(id,)| id));
    linked.sort_unstable();
    linked.dedup();
    linked.retain(|id| *id != meeting_id);
    Ok(linked)
}

/// Derives a meeting's status and reschedule links from its attendees, and records a change.
async fn refresh_meeting(
    conn: &mut AnyConnection,
    adviser: AdviserId,
    meeting_id: i64,
    now_ms: i64,
) -> Result<i64, sqlx::Error> {
    let attendees: Vec<AttendeeState> = sqlx::query_as(
        "SELECT status, rescheduled, old_invitee_uri, new_invitee_uri, canceled_by, cancel_reason, canceler_type \
         FROM attendees WHERE meeting_id = $1 ORDER BY invitee_uri",
    )
    .bind(meeting_id)
    .fetch_all(&mut *conn)
    .await?;
    let Derived {
        status,
        cancellation: cancel,
        moved_to,
        moved_from,
    } = derive(&attendees);
    let to_event = event_of_invitee(conn, adviser, moved_to).await?;
    let from_event = event_of_invitee(conn, adviser, moved_from).await?;
    let changed = sqlx::query(
        "UPDATE meetings SET status = $1, canceled_by = $2, cancel_reason = $3, canceler_type = $4, rescheduled_to = $5, \
             rescheduled_from = $6, updated_at = $7 \
         WHERE id = $8 AND NOT (status = $1 AND COALESCE(canceled_by, '') = COALESCE($2, '') AND COALESCE(cancel_reason, '') = COALESCE($3, '') \
             AND COALESCE(rescheduled_to, '') = COALESCE($5, '') AND COALESCE(rescheduled_from, '') = COALESCE($6, ''))",
    )
    .bind(status.as_str())
    .bind(cancel.and_then(|a| a.canceled_by.clone()))
    .bind(cancel.and_then(|a| a.cancel_reason.clone()))
    .bind(cancel.and_then(|a| a.canceler_type.clone()))
    .bind(to_event)
    .bind(from_event)
    .bind(now_ms)
    .bind(meeting_id)
    .execute(&mut *conn)
    .await?;
    let _ = changed;
    record_change(conn, adviser, meeting_id, now_ms).await
}

/// Taken first by every transaction that changes an adviser's meetings, and held until it ends
/// (PostgreSQL; SQLite's single writer already serialises them):
/// - **one lock order**: a reschedule's two deliveries touch the old and the new meeting and
///   attendee rows in opposite orders; applied at once they deadlocked, and one failed until its
///   retry. With this lock taken before any row, one waits for the other instead;
/// - **commit order = sequence order**: change sequence numbers are handed out at insert time,
///   and a live stream that already moved past a later one would never send an earlier one that
///   committed after it.
///
/// Transaction-level advisory locks are re-entrant, so a sync applying many invitees in one
/// transaction takes it once.
async fn lock_adviser_meetings(
    conn: &mut AnyConnection,
    adviser: AdviserId,
) -> Result<(), sqlx::Error> {
    if conn.backend_name() == "PostgreSQL" {
        sqlx::query("SELECT 1 AS locked FROM pg_advisory_xact_lock(1634, ($1 % 2147483647)::int)")
            .bind(adviser.0)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Appends to the change log the live stream reads; returns the change's sequence number.
async fn record_change(
    conn: &mut AnyConnection,
    adviser: AdviserId,
    meeting_id: i64,
    now_ms: i64,
) -> Result<i64, sqlx::Error> {
    let (seq,): (i64,) = sqlx::query_as(
        "INSERT INTO meeting_changes (user_id, meeting_id, at) VALUES ($1, $2, $3) RETURNING seq",
    )
    .bind(adviser.0)
    .bind(meeting_id)
    .bind(now_ms)
    .fetch_one(&mut *conn)
    .await?;
    Ok(seq)
}

async fn event_of_invitee(
    conn: &mut AnyConnection,
    adviser: AdviserId,
    invitee: Option<&str>,
) -> Result<Option<String>, sqlx::Error> {
    let Some(invitee) = invitee else {
        return Ok(None);
    };
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT m.event_uri FROM attendees a JOIN meetings m ON m.id = a.meeting_id WHERE a.user_id = $1 AND a.invitee_uri = $2",
    )
    .bind(adviser.0)
    .bind(invitee)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|(uri,)| uri))
}
