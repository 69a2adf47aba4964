//! Reading an adviser's meetings for the page, and the change log for the live stream.

use crate::accounts::AdviserId;
use crate::Db;

#[derive(Clone, Debug, PartialEq)]
pub struct AttendeeRow {
    pub name: String,
    pub email: String,
    pub timezone: Option<String>,
    pub status: String,
    pub rescheduled: bool,
    pub no_show: bool,
    pub questions: Vec<(String, String)>,
    /// The invitee's own links, for the adviser to pass on.
    pub cancel_url: Option<String>,
    pub reschedule_url: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct MeetingRow {
    pub id: i64,
    pub event_uri: String,
    pub title: String,
    pub start_at: i64,
    pub end_at: i64,
    pub location: Option<String>,
    /// The location's extra details (e.g. directions), when Calendly has them.
    pub location_details: Option<String>,
    pub join_url: Option<String>,
    /// A conference meeting whose link Calendly has not made yet.
    pub awaiting_link: bool,
    /// Guests the invitee added (emails).
    pub guests: Vec<String>,
    pub status: String,
    pub canceled_by: Option<String>,
    pub cancel_reason: Option<String>,
    pub canceler_type: Option<String>,
    pub rescheduled_from_start: Option<i64>,
    pub source: String,
    pub attendees: Vec<AttendeeRow>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct MeetingsPage {
    pub upcoming: Vec<MeetingRow>,
    pub past: Vec<MeetingRow>,
    pub more_past: bool,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    event_uri: String,
    title: String,
    start_at: i64,
    end_at: i64,
    location: Option<String>,
    location_details: Option<String>,
    location_kind: Option<String>,
    location_status: Option<String>,
    join_url: Option<String>,
    guests: Option<String>,
    status: String,
    canceled_by: Option<String>,
    cancel_reason: Option<String>,
    canceler_type: Option<String>,
    rescheduled_from_start: Option<i64>,
    source: String,
}

#[derive(sqlx::FromRow)]
struct Attendee {
    name: String,
    email: String,
    timezone: Option<String>,
    status: String,
    rescheduled: i64,
    no_show: i64,
    questions: Option<String>,
    cancel_url: Option<String>,
    reschedule_url: Option<String>,
}

const SELECT: &str = "SELECT m.id, m.event_uri, m.title, m.start_at, m.end_at, m.location, m.location_details, m.location_kind, m.location_status, \
    m.join_url, m.guests, m.status, m.canceled_by, m.cancel_reason, m.canceler_type, prev.start_at AS rescheduled_from_start, m.source \
    FROM meetings m LEFT JOIN meetings prev ON prev.user_id = m.user_id AND prev.event_uri = m.rescheduled_from";

/// Upcoming meetings (soonest first), then up to `past_limit` past ones (latest first) after
/// skipping `past_offset`. Meetings that were moved elsewhere by a reschedule are left out:
/// the booking shows once, at its new time, marked Rescheduled.
pub async fn list_for_user(
    db: &Db,
    user: AdviserId,
    now_ms: i64,
    past_offset: i64,
    past_limit: i64,
) -> Result<MeetingsPage, sqlx::Error> {
    let upcoming: Vec<Row> = sqlx::query_as(&format!(
        "{SELECT} WHERE m.user_id = $1 AND m.end_at >= $2 AND m.status <> 'rescheduled' ORDER BY m.start_at ASC, m.id ASC LIMIT 500"
    ))
    .bind(user.0)
    .bind(now_ms)
    .fetch_all(db.pool())
    .await?;
    let past: Vec<Row> = sqlx::query_as(&format!(
        "{SELECT} WHERE m.user_id = $1 AND m.end_at < $2 AND m.status <> 'rescheduled' ORDER BY m.start_at DESC, m.id DESC LIMIT $3 OFFSET $4"
    ))
    .bind(user.0)
    .bind(now_ms)
    .bind(past_limit + 1)
    .bind(past_offset)
    .fetch_all(db.pool())
    .await?;
    let more_past = past.len() as i64 > past_limit;
    let mut upcoming = with_attendees(db, upcoming).await?;
    let mut past = with_attendees(db, past.into_iter().take(past_limit as usize).collect()).await?;
    upcoming.shrink_to_fit();
    past.shrink_to_fit();
    Ok(MeetingsPage {
        upcoming,
        past,
        more_past,
    })
}

async fn with_attendees(db: &Db, rows: Vec<Row>) -> Result<Vec<MeetingRow>, sqlx::Error> {
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let attendees: Vec<Attendee> = sqlx::query_as(
            "SELECT name, email, timezone, status, rescheduled, no_show, questions, cancel_url, reschedule_url \
             FROM attendees WHERE meeting_id = $1 ORDER BY created_at, invitee_uri",
        )
        .bind(r.id)
        .fetch_all(db.pool())
        .await?;
        let awaiting_link = r.join_url.is_none()
            && r.status == "active"
            && super::is_conference(r.location_kind.as_deref(), r.location_status.as_deref());
        out.push(MeetingRow {
            id: r.id,
            event_uri: r.event_uri,
            title: r.title,
            start_at: r.start_at,
            end_at: r.end_at,
            location: r.location,
            location_details: r.location_details,
            join_url: r.join_url,
            awaiting_link,
            guests: r
                .guests
                .and_then(|g| serde_json::from_str(&g).ok())
                .unwrap_or_default(),
            status: r.status,
            canceled_by: r.canceled_by,
            cancel_reason: r.cancel_reason,
            canceler_type: r.canceler_type,
            rescheduled_from_start: r.rescheduled_from_start,
            source: r.source,
            attendees: attendees
                .into_iter()
                .map(|a| AttendeeRow {
                    name: a.name,
                    email: a.email,
                    timezone: a.timezone,
                    status: a.status,
                    rescheduled: a.rescheduled == 1,
                    no_show: a.no_show == 1,
                    questions: a
                        .questions
                        .and_then(|q| {
                            serde_json::from_str::<Vec<calendly::QuestionAndAnswer>>(&q).ok()
                        })
                        .unwrap_or_default()
                        .into_iter()
                        .map(|qa| (qa.question, qa.answer))
                        .collect(),
                    cancel_url: a.cancel_url,
                    reschedule_url: a.reschedule_url,
                })
                .collect(),
        });
    }
    Ok(out)
}

/// Changes after `seq` for this adviser, oldest first: `(seq, meeting_id)`.
pub async fn changes_since(
    db: &Db,
    user: AdviserId,
    seq: i64,
) -> Result<Vec<(i64, i64)>, sqlx::Error> {
    sqlx::query_as("SELECT seq, meeting_id FROM meeting_changes WHERE user_id = $1 AND seq > $2 ORDER BY seq LIMIT 1000")
        .bind(user.0)
        .bind(seq)
        .fetch_all(db.pool())
        .await
}

/// The adviser's newest change sequence number (0 if none).
pub async fn latest_change(db: &Db, user: AdviserId) -> Result<i64, sqlx::Error> {
    let (seq,): (Option<i64>,) =
        sqlx::query_as("SELECT MAX(seq) FROM meeting_changes WHERE user_id = $1")
            .bind(user.0)
            .fetch_one(db.pool())
            .await?;
    Ok(seq.unwrap_or(0))
}
