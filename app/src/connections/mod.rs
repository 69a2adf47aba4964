//! Settings → Calendar Connections: connect, see the connection's health, disconnect.

mod page;

pub use page::CalendarConnectionsPage;

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeliveryView {
    pub at: String,
    pub event: String,
    pub outcome: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConnectionView {
    /// `none`, `connected`, `needs_reconnect` or `disconnected`.
    pub status: String,
    pub calendly_name: String,
    pub calendly_email: String,
    pub timezone: String,
    pub connected_since: String,
    /// `active`, `unavailable` or `pending`.
    pub live: String,
    pub live_reason: Option<String>,
    pub sync_every_minutes: u64,
    /// How often a live connection re-reads its meetings (`APP_FULL_SYNC_INTERVAL_SECS`).
    pub full_sync_every_minutes: u64,
    pub last_webhook: Option<String>,
    pub last_sync: Option<String>,
    pub last_sync_result: Option<String>,
    pub recent: Vec<DeliveryView>,
    pub sandbox: bool,
}

/// What the page's `?error=` codes mean to the adviser.
pub fn message_for_error(code: &str) -> &'static str {
    match code {
        "denied" => "Calendly access was not granted, so nothing was connected.",
        "state" => "This connection attempt has expired or was already used. Click Connect Calendly to try again.",
        "exchange" => "Calendly did not accept the authorization (it may have expired). Click Connect Calendly to try again.",
        "unavailable" => "Calendly could not be reached. Please try again in a moment.",
        "scope" => "Calendly refused the permissions Advicly asks for (invalid scope), so nothing was connected. The server's Calendly app must allow: users:read, webhooks:read, webhooks:write, scheduled_events:read.",
        "authorize" => "Calendly could not authorize Advicly, so nothing was connected. Please try again; if it keeps happening, the server's Calendly app settings need attention.",
        "not_connected" => "Calendly is not connected, so there is nothing to sync. Connect your Calendly account first.",
        "needs_reconnect" => "Calendly needs to be reconnected before meetings can be synced.",
        "sync_failed" => "The sync did not finish: Calendly could not be reached or refused the request. Meetings keep syncing on their own; try again in a few minutes.",
        "profile" => "Calendly did not let Advicly read your Calendly profile, so nothing was connected. Check that your Calendly user may use connected apps, then try again.",
        _ => "Something went wrong on our side. Please try again.",
    }
}

/// A delivery log line as the adviser reads it. Stored errors are for the server log (they may
/// quote internals or the payload); the adviser gets what they mean for them.
#[cfg(feature = "ssr")]
fn log_outcome(outcome: &backend::webhooks::LogOutcome) -> String {
    use backend::webhooks::LogOutcome;
    match outcome {
        LogOutcome::Stored { status } => match status.as_str() {
            "processed" => "Received: applied".into(),
            "ignored" => "Received: no meeting change".into(),
            "failed" => "Received: not applied yet, retrying".into(),
            _ => "Received".into(),
        },
        LogOutcome::Duplicate { times: 1 } => "Ignored: duplicate (already received)".into(),
        LogOutcome::Duplicate { times } => {
            format!("Ignored: duplicate (already received; {times} repeats)")
        }
        LogOutcome::Refused { reason } => format!(
            "Refused: {}",
            match reason.as_str() {
                "signature_mismatch" => "signature did not match (was it sent by Calendly?)",
                "signature_missing" => "no Calendly signature",
                "timestamp_stale" => "too old (a replay, or a clock far off)",
                "timestamp_future" => "dated in the future",
                "bad_payload" => "not a Calendly webhook",
                "created_by_mismatch" => "sent for another Calendly user",
                _ => "malformed signature",
            }
        ),
    }
}

/// What the page says after "Sync now" (`?synced=` / `?sync_wait=`).
pub fn message_for_sync(synced: Option<&str>, wait_secs: Option<&str>) -> Option<String> {
    let wait = wait_secs.and_then(|s| s.parse::<u32>().ok());
    if let (Some("limited"), Some(secs)) = (synced, wait) {
        return Some(format!(
            "Calendly asked Advicly to slow down (its rate limit is shared with your other Calendly apps). Syncing resumes by itself; try again in {secs} s."
        ));
    }
    if let Some(secs) = wait {
        return Some(format!(
            "A sync ran less than a minute ago. To stay within Calendly's rate limit, try again in {secs} s."
        ));
    }
    Some(match synced? {
        "running" => "A sync is already under way (or paused to stay within Calendly's rate limit); it carries on by itself.".to_owned(),
        "started" => "Sync started: it goes on in the background, and new meetings appear on your Meetings page as it finds them.".to_owned(),
        "paused" => "Synced part of your meetings, then paused to stay within Calendly's rate limit; the rest follows automatically.".to_owned(),
        n => match n.parse::<u32>() {
            Ok(1) => "Synced with Calendly: 1 meeting checked.".to_owned(),
            Ok(n) => format!("Synced with Calendly: {n} meetings checked."),
            Err(_) => return None,
        },
    })
}

/// The signed-in adviser's Calendly connection and its health.
#[server(prefix = "/api", endpoint = "connection_status")]
pub async fn connection_status() -> Result<ConnectionView, AppError> {
    use crate::server::{current_adviser, format_time, shown_timezone, state};
    let state = state()?;
    let adviser = current_adviser().await?;
    let row = backend::connections::load(&state.db, adviser.id).await?;
    let recent = backend::webhooks::delivery_log(&state.db, adviser.id, 10).await?;
    let sync_every_minutes = (state.settings.sync_interval.as_secs() / 60).max(1);
    let full_sync_every_minutes = (state.settings.full_sync_interval.as_secs() / 60).max(1);
    let sandbox = state.settings.is_sandbox();
    let Some(c) = row else {
        return Ok(ConnectionView {
            status: "none".into(),
            calendly_name: String::new(),
            calendly_email: String::new(),
            timezone: String::new(),
            connected_since: String::new(),
            live: "pending".into(),
            live_reason: None,
            sync_every_minutes,
            full_sync_every_minutes,
            last_webhook: None,
            last_sync: None,
            last_sync_result: None,
            recent: Vec::new(),
            sandbox,
        });
    };
    let tz = shown_timezone(&adviser, Some(&c));
    Ok(ConnectionView {
        status: c.status.as_str().into(),
        calendly_name: c.calendly_name,
        calendly_email: c.calendly_email,
        connected_since: format_time(c.connected_at, &tz),
        live: c.live_updates.as_str().into(),
        live_reason: c.live_updates_reason,
        sync_every_minutes,
        full_sync_every_minutes,
        last_webhook: c.last_webhook_at.map(|t| format_time(t, &tz)),
        last_sync: c.last_sync_at.map(|t| format_time(t, &tz)),
        last_sync_result: c.last_sync_result,
        recent: recent
            .into_iter()
            .map(|d| DeliveryView {
                at: format_time(d.at, &tz),
                event: d.event.unwrap_or_else(|| "—".into()),
                outcome: log_outcome(&d.outcome),
            })
            .collect(),
        timezone: tz,
        sandbox,
    })
}
