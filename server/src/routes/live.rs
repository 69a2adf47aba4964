//! `GET /api/meetings/stream`: the signed-in adviser's meeting changes as Server-Sent Events.
//! Authorized when it opens; carries only that adviser's changes; each event's id is the change
//! sequence, so a reconnecting browser (`Last-Event-ID`) gets everything it missed.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use backend::accounts::AdviserId;
use backend::live::AdviserWatch;
use backend::live_slots::{StreamRefusal, StreamSlot};
use backend::sessions::SessionToken;
use backend::AppState;
use futures::StreamExt;
use http::{header, HeaderMap, StatusCode};

use super::session::SignedIn;

/// The longest a stream goes without looking at its session by itself: a stream learns of a
/// sign-out at once (the bus says so), and of the session's expiry by a timer set to it; this
/// bounds that timer, so a wrong clock cannot keep a stream for weeks.
pub const SESSION_RECHECK_AT_MOST_EVERY: Duration = Duration::from_secs(3600);
/// After the session could not be read (the database away), when to try again.
const SESSION_RETRY: Duration = Duration::from_secs(30);
/// After the change log could not be read (the database away, the pool busy after a resync),
/// when to read it again: a stream never waits for the adviser's next change to catch up.
const CATCH_UP_RETRY: Duration = Duration::from_secs(3);

/// What one open stream keeps while the page is open (ten thousand of them fit in ~300 MB, so
/// only what it uses: not the whole application state).
struct Cursor {
    db: backend::Db,
    clock: backend::Clock,
    adviser: AdviserId,
    /// This adviser's signals (and the instance's resyncs) only: other advisers' changes never
    /// wake this stream.
    watch: AdviserWatch,
    /// The adviser's session-end count last looked at.
    sessions_seen: u64,
    /// The session the stream was opened with; re-checked when one of the adviser's sessions
    /// ends and when it expires, so a stream ends at sign-out or expiry.
    session_token: SessionToken,
    /// The last change sequence sent (or the client's Last-Event-ID).
    seen: Option<i64>,
    started: bool,
    /// When this stream next looks at its session by itself (its expiry), or retries reading
    /// the change log after a failed read.
    recheck_at: tokio::time::Instant,
    /// The last read of the change log failed: read it again at `recheck_at`.
    catch_up_failed: bool,
    /// This stream's place among the open ones; given back when the stream ends.
    _slot: StreamSlot,
}

pub async fn stream(State(state): State<AppState>, who: SignedIn, headers: HeaderMap) -> Response {
    let slot = match state
        .streams
        .try_open(&backend::crypto::sha256_hex(who.session_token.as_str()))
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
    // Watch before the first read of the log (and of the session), so no change and no sign-out
    // can fall between the two.
    let watch = state.live.watch(who.adviser.id);
    let sessions_seen = watch.pulse.borrow().sessions;
    let recheck_at = session_recheck_at(&state.db, &state.clock, who.session_token.as_str()).await;
    let cursor = Cursor {
        sessions_seen,
        watch,
        db: state.db.clone(),
        clock: state.clock.clone(),
        adviser: who.adviser.id,
        session_token: who.session_token,
        seen,
        started: false,
        recheck_at,
        catch_up_failed: false,
        _slot: slot,
    };
    let events = futures::stream::unfold(cursor, next_batch).flat_map(|batch: Vec<Event>| {
        futures::stream::iter(batch.into_iter().map(Ok::<_, Infallible>))
    });
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

/// When the stream should look at its session by itself: when it expires (at most
/// [`SESSION_RECHECK_AT_MOST_EVERY`] from now); soon if it could not be read.
async fn session_recheck_at(
    db: &backend::Db,
    clock: &backend::Clock,
    token: &str,
) -> tokio::time::Instant {
    let now = tokio::time::Instant::now();
    match backend::sessions::expires_at(db, token).await {
        Ok(Some(at)) => {
            let left = u64::try_from(at.saturating_sub(clock.now_ms())).unwrap_or(0);
            now + Duration::from_millis(left).min(SESSION_RECHECK_AT_MOST_EVERY)
        }
        Ok(None) => now,
        Err(err) => {
            tracing::warn!(error = %err, "live stream could not read its session's expiry");
            now + SESSION_RETRY
        }
    }
}

/// Whether the stream's session still belongs to its adviser. A database error is not proof of
/// a sign-out: the stream stays and looks again soon.
async fn still_signed_in(c: &mut Cursor) -> bool {
    match backend::sessions::adviser_for(&c.db, &c.clock, c.session_token.as_str()).await {
        Ok(Some(ref a)) if a.id == c.adviser => {
            c.recheck_at = session_recheck_at(&c.db, &c.clock, c.session_token.as_str()).await;
            true
        }
        Ok(_) => false,
        Err(err) => {
            tracing::warn!(error = %err, "live stream could not re-check its session");
            c.recheck_at = tokio::time::Instant::now() + SESSION_RETRY;
            true
        }
    }
}

/// Waits for a reason to look (a signal for this adviser, a resync, one of the adviser's
/// sessions ending, or this session's expiry), then sends every change after the cursor as one
/// `change` event. An idle stream costs nothing: no timer reads the database meanwhile. The
/// database reads are boxed: a stream waits with only its watch, resync and timer futures in
/// memory, not the largest query's state (this future lives as long as the page is open).
async fn next_batch(mut c: Cursor) -> Option<(Vec<Event>, Cursor)> {
    if !c.started {
        c.started = true;
        let mut events = Vec::new();
        match c.seen {
            None => {
                // Without the log's position the stream starts from the beginning: its first
                // catch-up names every changed meeting, the page reads its lists again, and
                // nothing that changed meanwhile is missed (ending the stream instead would lose
                // what changes before the browser reopens it).
                let latest = Box::pin(backend::meetings::latest_change(&c.db, c.adviser))
                    .await
                    .unwrap_or_else(|err| {
                        tracing::warn!(error = %err, "live stream could not read where the change log is; starting from its beginning");
                        0
                    });
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
                events.extend(Box::pin(catch_up(&mut c)).await);
            }
        }
        return Some((events, c));
    }
    loop {
        let wake = tokio::select! {
            moved = c.watch.pulse.changed() => {
                if moved.is_err() {
                    return None;
                }
                let pulse = *c.watch.pulse.borrow_and_update();
                if pulse.sessions != c.sessions_seen {
                    c.sessions_seen = pulse.sessions;
                    if !Box::pin(still_signed_in(&mut c)).await {
                        return None;
                    }
                }
                true
            },
            moved = c.watch.resync.changed() => {
                if moved.is_err() {
                    return None;
                }
                c.watch.resync.borrow_and_update();
                true
            },
            _ = tokio::time::sleep_until(c.recheck_at) => {
                if !Box::pin(still_signed_in(&mut c)).await {
                    return None;
                }
                std::mem::take(&mut c.catch_up_failed)
            }
        };
        if wake {
            let events = Box::pin(catch_up(&mut c)).await;
            if !events.is_empty() {
                return Some((events, c));
            }
        }
    }
}

async fn catch_up(c: &mut Cursor) -> Vec<Event> {
    let since = c.seen.unwrap_or(0);
    let changes = match backend::meetings::changes_since(&c.db, c.adviser, since).await {
        Ok(changes) => changes,
        Err(err) => {
            tracing::warn!(error = %err, "live stream could not read the change log; retrying in a few seconds");
            c.catch_up_failed = true;
            c.recheck_at = c
                .recheck_at
                .min(tokio::time::Instant::now() + CATCH_UP_RETRY);
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
