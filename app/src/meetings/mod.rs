//! The live Meetings page.

mod live;
mod page;

pub use page::MeetingsPage;

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// Past meetings per page.
pub const PAST_PAGE_SIZE: i64 = 20;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
    pub upcoming: Vec<MeetingView>,
    pub past: Vec<MeetingView>,
    pub more_past: bool,
}

/// The signed-in adviser's meetings: upcoming first (soonest first), then a page of past ones.
#[server(prefix = "/api", endpoint = "list_meetings")]
pub async fn list_meetings(past_page: i64) -> Result<MeetingsView, AppError> {
    use crate::server::{current_adviser, format_clock, format_time, iso, state};
    let state = state()?;
    let adviser = current_adviser().await?;
    let connection = backend::connections::load(&state.db, adviser.id)
        .await
        .map_err(AppError::internal)?;
    let timezone = connection
        .as_ref()
        .map(|c| c.timezone.clone())
        .unwrap_or_else(|| "UTC".into());
    let past_page = past_page.clamp(0, 10_000);
    let page = backend::meetings::list_for_user(
        &state.db,
        adviser.id,
        state.clock.now_ms(),
        past_page * PAST_PAGE_SIZE,
        PAST_PAGE_SIZE,
    )
    .await
    .map_err(AppError::internal)?;
    let tz = timezone.as_str();
    let to_view = |m: backend::meetings::MeetingRow| {
        let canceled = m.status == "canceled";
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
            source: if m.source == "webhook" {
                "Calendly (live)".into()
            } else {
                "Calendly (sync)".into()
            },
            invitees: m
                .attendees
                .into_iter()
                .map(|a| InviteeView {
                    name: a.name,
                    email: a.email,
                    canceled: a.status == "canceled",
                    no_show: a.no_show,
                    questions: a.questions,
                    reschedule_url: a.reschedule_url.filter(|_| a.status != "canceled"),
                    cancel_url: a.cancel_url.filter(|_| a.status != "canceled"),
                })
                .collect(),
        }
    };
    Ok(MeetingsView {
        connection: connection
            .map(|c| c.status.as_str().to_owned())
            .unwrap_or_else(|| "none".into()),
        timezone: timezone.clone(),
        upcoming: page.upcoming.into_iter().map(&to_view).collect(),
        past: page.past.into_iter().map(&to_view).collect(),
        more_past: page.more_past,
    })
}
