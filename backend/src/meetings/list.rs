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
}

#[derive(Clone, Debug, PartialEq)]
pub struct MeetingRow {
    pub id: i64,
    pub event_uri: String,
    pub title: String,
    pub start_at: i64,
    pub end_at: i64,
    pub location: Option<String>,
    pub join_url: Option<String>,
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

type Row = (
    i64,
    String,
    String,
    i64,
    i64,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    String,
);

const SELECT: &str = "SELECT m.id, m.event_uri, m.title, m.start_at, m.end_at, m.location, m.join_url, m.status, m.canceled_by, \
    m.cancel_reason, m.canceler_type, prev.start_at, m.source FROM meetings m \
    LEFT JOIN meetings prev ON prev.user_id = m.user_id AND prev.event_uri = m.rescheduled_from";

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
        let attendees: Vec<(String, String, Option<String>, String, i64, i64, Option<String>)> = sqlx::query_as(
            "SELECT name, email, timezone, status, rescheduled, no_show, questions FROM attendees WHERE meeting_id = $1 ORDER BY created_at, invitee_uri",
        )
        .bind(r.0)
        .fetch_all(db.pool())
        .await?;
        out.push(MeetingRow {
            id: r.0,
            event_uri: r.1,
            title: r.2,
            start_at: r.3,
            end_at: r.4,
            location: r.5,
            join_url: r.6,
            status: r.7,
            canceled_by: r.8,
            cancel_reason: r.9,
            canceler_type: r.10,
            rescheduled_from_start: r.11,
            source: r.12,
            attendees: attendees
                .into_iter()
                .map(|a| AttendeeRow {
                    name: a.0,
                    email: a.1,
                    timezone: a.2,
                    status: a.3,
                    rescheduled: a.4 == 1,
                    no_show: a.5 == 1,
                    questions: a
                        .6
                        .and_then(|q| {
                            serde_json::from_str::<Vec<calendly::QuestionAndAnswer>>(&q).ok()
                        })
                        .unwrap_or_default()
                        .into_iter()
                        .map(|qa| (qa.question, qa.answer))
                        .collect(),
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
