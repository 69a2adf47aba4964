//! The live Meetings page.

mod live;
mod notify;
mod page;
mod patch;

pub use page::MeetingsPage;

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct InviteeView {
    pub name: String,
    pub email: String,
    pub canceled: bool,
    pub no_show: bool,
    pub questions: Vec<(String, String)>,
    /// The invitee's own Calendly links, for the adviser to send on.
    pub reschedule_url: Option<String>,
    pub cancel_url: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MeetingView {
    pub id: i64,
    pub title: String,
    /// "Tue 24 Nov 2026, 15:30 – 16:00"
    pub when: String,
    pub start_iso: String,
    pub canceled: bool,
    pub cancel_note: Option<String>,
    /// When this booking was moved here from another time: the old start.
    pub rescheduled_from: Option<String>,
    pub location: Option<String>,
    pub location_details: Option<String>,
    pub join_url: Option<String>,
    /// A conference meeting whose link Calendly is still making.
    pub awaiting_link: bool,
    pub guests: Vec<String>,
    pub source: String,
    pub invitees: Vec<InviteeView>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MeetingsView {
    /// `none`, `connected`, `needs_reconnect` or `disconnected`.
    pub connection: String,
    pub timezone: String,
    /// What is listed: `all`, `upcoming`, `past` or `canceled`.
    pub show: String,
    /// The search in invitee names and emails, as applied.
    pub search: String,
    /// The page of a single list (0-based) and its size.
    pub page: i64,
    pub page_size: i64,
    pub upcoming: Vec<MeetingView>,
    pub upcoming_total: i64,
    pub past: Vec<MeetingView>,
    pub past_total: i64,
    pub canceled: Vec<MeetingView>,
    pub canceled_total: i64,
}

/// The signed-in adviser's meetings. `show`: `all` (default: the soonest upcoming and the latest
/// past ones), `upcoming`, `past` or `canceled` (one list, `page` by page); `q` searches invitee
/// names and emails.
#[server(prefix = "/api", endpoint = "list_meetings")]
pub async fn list_meetings(
    show: Option<String>,
    q: Option<String>,
    page: Option<i64>,
) -> Result<MeetingsView, AppError> {
    read_meetings(show, q, page, None).await
}

/// What a live change means for the page showing `show`/`q`/`page`: the meetings `ids` (from the
/// stream's `change` event) that belong to each of its lists, and each list's new total. The
/// page patches only those; a changed meeting in no list has left the view.
#[server(prefix = "/api", endpoint = "changed_meetings")]
pub async fn changed_meetings(
    ids: Vec<i64>,
    show: Option<String>,
    q: Option<String>,
    page: Option<i64>,
) -> Result<MeetingsView, AppError> {
    // The page asks for at most this many; a longer list is not from the page.
    if ids.len() > backend::meetings::MAX_CHANGED {
        return Err(AppError::Invalid(format!(
            "At most {} changed meetings at a time.",
            backend::meetings::MAX_CHANGED
        )));
    }
    read_meetings(show, q, page, Some(ids)).await
}

#[cfg(feature = "ssr")]
async fn read_meetings(
    show: Option<String>,
    q: Option<String>,
    page: Option<i64>,
    only: Option<Vec<i64>>,
) -> Result<MeetingsView, AppError> {
    use crate::server::{current_adviser, format_clock, format_time, iso, shown_timezone, state};
    use backend::meetings::{MeetingsQuery, Show};
    let state = state()?;
    let adviser = current_adviser().await?;
    let connection = backend::connections::load(&state.db, adviser.id).await?;
    let timezone = shown_timezone(&adviser, connection.as_ref());
    let query = MeetingsQuery {
        show: Show::parse(show.as_deref().unwrap_or_default()),
        search: q
            .unwrap_or_default()
            .trim()
            .chars()
            .take(backend::meetings::MAX_SEARCH_CHARS)
            .collect(),
        page: page.unwrap_or(0).clamp(0, 100_000),
    };
    let now = state.clock.now_ms();
    let listed = match &only {
        None => backend::meetings::list_for_user(&state.db, adviser.id, now, &query).await,
        Some(ids) => {
            backend::meetings::changed_in_view(&state.db, adviser.id, now, &query, ids).await
        }
    }?;
    let tz = timezone.as_str();
    let to_view = |m: backend::meetings::MeetingRow| {
        use backend::meetings::{AttendeeStatus, MeetingStatus, Source};
        let canceled = m.status == MeetingStatus::Canceled;
        // Worded without "Canceled": the tag already says it, once.
        let cancel_note = canceled
            .then(|| {
                let who = match (m.canceler_type.as_deref(), m.canceled_by.as_deref()) {
                    (Some("host"), _) => Some("you".to_owned()),
                    (_, Some(name)) if !name.is_empty() => Some(name.to_owned()),
                    _ => None,
                };
                let reason = m.cancel_reason.as_deref().filter(|r| !r.is_empty());
                match (who, reason) {
                    (Some(who), Some(reason)) => format!("Called off by {who}: “{reason}”"),
                    (Some(who), None) => format!("Called off by {who}"),
                    (None, Some(reason)) => format!("Reason: “{reason}”"),
                    (None, None) => String::new(),
                }
            })
            .filter(|note| !note.is_empty());
        MeetingView {
            id: m.id,
            title: m.title,
            when: format!(
                "{} – {}",
                format_time(m.start_at, tz),
                format_clock(m.end_at, tz)
            ),
            start_iso: iso(m.start_at),
            canceled,
            cancel_note,
            rescheduled_from: m.rescheduled_from_start.map(|t| format_time(t, tz)),
            location: m.location,
            location_details: m.location_details,
            awaiting_link: m.awaiting_link,
            guests: m.guests,
            join_url: m
                .join_url
                .filter(|u| u.starts_with("https://") || u.starts_with("http://")),
            source: match m.source {
                Source::Webhook => "Calendly (live)".into(),
                Source::Sync => "Calendly (sync)".into(),
            },
            invitees: m
                .attendees
                .into_iter()
                .map(|a| InviteeView {
                    name: a.name,
                    email: a.email,
                    canceled: a.status == AttendeeStatus::Canceled,
                    no_show: a.no_show,
                    questions: a.questions,
                    reschedule_url: a
                        .reschedule_url
                        .filter(|_| a.status == AttendeeStatus::Active),
                    cancel_url: a.cancel_url.filter(|_| a.status == AttendeeStatus::Active),
                })
                .collect(),
        }
    };
    Ok(MeetingsView {
        connection: connection
            .map(|c| c.status.as_str().to_owned())
            .unwrap_or_else(|| "none".into()),
        timezone: timezone.clone(),
        show: query.show.as_str().to_owned(),
        search: query.search.clone(),
        page: query.page,
        page_size: backend::meetings::PAGE_SIZE,
        upcoming_total: listed.upcoming.total,
        upcoming: listed.upcoming.meetings.into_iter().map(&to_view).collect(),
        past_total: listed.past.total,
        past: listed.past.meetings.into_iter().map(&to_view).collect(),
        canceled_total: listed.canceled.total,
        canceled: listed.canceled.meetings.into_iter().map(&to_view).collect(),
    })
}
