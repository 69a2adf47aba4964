//! `GET /api/meetings/stream`: the signed-in adviser's meeting changes as Server-Sent Events.
//! Authorized when it opens; carries only that adviser's changes; each event's id is the change
//! sequence, so a reconnecting browser (`Last-Event-ID`) gets everything it missed.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use backend::accounts::AdviserId;
use backend::live::LiveSignal;
use backend::live_slots::{StreamRefusal, StreamSlot};
use backend::AppState;
use futures::StreamExt;
use http::{header, HeaderMap, StatusCode};
use tokio::sync::broadcast::{error::RecvError, Receiver};

use super::session::SignedIn;

/// Each stream re-checks its session on its own timer, whatever traffic the shared bus carries,
/// so a stream ends this soon after sign-out or expiry; the same tick re-reads the log as a safety
/// net. An idle stream costs two small queries per interval, not a query every few seconds.
pub const SESSION_RECHECK_EVERY: Duration = Duration::from_secs(20);

struct Cursor {
    state: AppState,
    user: AdviserId,
    signals: Receiver<LiveSignal>,
    /// The session the stream was opened with; re-checked on the periodic catch-up, so a
    /// stream ends soon after sign-out or expiry.
    session_token: String,
    /// The last change sequence sent (or the client's Last-Event-ID).
    seen: Option<i64>,
    started: bool,
    /// When this stream next re-checks its session.
    recheck_at: tokio::time::Instant,
    /// This stream's place among the open ones; given back when the stream ends.
    _slot: StreamSlot,
}

pub async fn stream(State(state): State<AppState>, who: SignedIn, headers: HeaderMap) -> Response {
    let slot = match state
        .streams
        .try_open(&backend::crypto::sha256_hex(&who.session_token))
    {
        Ok(slot) => slot,
        Err(refusal) => {
            let reason = match refusal {
                StreamRefusal::SessionFull => "session_full",
                StreamRefusal::InstanceFull => "instance_full",
            };
            state.metrics.inc(
                "live_streams_refused_total",
                "Live meeting streams refused, by reason.",
                &[("reason", reason)],
            );
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, "30")],
                "Too many live pages are open. Close some tabs and reload.",
            )
                .into_response();
        }
    };
    let seen: Option<i64> = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    state.metrics.inc(
        "live_streams_opened_total",
        "Live meeting streams opened.",
        &[],
    );
    let cursor = Cursor {
        signals: state.live.subscribe(),
        state,
        user: who.adviser.id,
        session_token: who.session_token,
        seen,
        started: false,
        recheck_at: tokio::time::Instant::now() + SESSION_RECHECK_EVERY,
        _slot: slot,
    };
    let events = futures::stream::unfold(cursor, next_batch).flat_map(|batch: Vec<Event>| {
        futures::stream::iter(batch.into_iter().map(Ok::<_, Infallible>))
    });
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

/// Waits for a reason to look (a signal for this adviser, a resync, or the safety-net timer),
/// then sends every change after the cursor as one `change` event.
async fn next_batch(mut c: Cursor) -> Option<(Vec<Event>, Cursor)> {
    if !c.started {
        c.started = true;
        let mut events = Vec::new();
        match c.seen {
            None => {
                let latest = backend::meetings::latest_change(&c.state.db, c.user)
                    .await
                    .unwrap_or(0);
                c.seen = Some(latest);
                events.push(
                    Event::default()
                        .event("ready")
                        .id(latest.to_string())
                        .data(latest.to_string()),
                );
            }
            Some(seq) => {
                events.push(Event::default().event("ready").data(seq.to_string()));
                events.extend(catch_up(&mut c).await);
            }
        }
        return Some((events, c));
    }
    loop {
        let wake = tokio::select! {
            signal = c.signals.recv() => match signal {
                Ok(LiveSignal::Changed { user_id, .. }) => user_id == c.user.0,
                Ok(LiveSignal::Resync) | Err(RecvError::Lagged(_)) => true,
                Err(RecvError::Closed) => return None,
            },
            _ = tokio::time::sleep_until(c.recheck_at) => {
                c.recheck_at = tokio::time::Instant::now() + SESSION_RECHECK_EVERY;
                let still_signed_in =
                    backend::sessions::adviser_for(&c.state.db, &c.state.clock, &c.session_token)
                        .await;
                match still_signed_in {
                    Ok(Some(ref a)) if a.id == c.user => true,
                    Ok(_) => return None,
                    Err(err) => {
                        // Not proof of a sign-out: keep the stream, look again next tick.
                        tracing::warn!(error = %err, "live stream could not re-check its session");
                        false
                    }
                }
            }
        };
        if wake {
            let events = catch_up(&mut c).await;
            if !events.is_empty() {
                return Some((events, c));
            }
        }
    }
}

async fn catch_up(c: &mut Cursor) -> Vec<Event> {
    let since = c.seen.unwrap_or(0);
    let changes = match backend::meetings::changes_since(&c.state.db, c.user, since).await {
        Ok(changes) => changes,
        Err(err) => {
            tracing::warn!(error = %err, "live stream could not read the change log; retrying on the next signal or tick");
            Vec::new()
        }
    };
    match changes.last() {
        Some((seq, _)) => {
            c.seen = Some(*seq);
            // Each changed meeting once, however often it changed (say a webhook and a sync).
            let mut once = std::collections::HashSet::new();
            let ids: Vec<String> = changes
                .iter()
                .filter(|(_, meeting)| once.insert(*meeting))
                .map(|(_, meeting)| meeting.to_string())
                .collect();
            vec![Event::default()
                .event("change")
                .id(seq.to_string())
                .data(ids.join(","))]
        }
        None => Vec::new(),
    }
}
