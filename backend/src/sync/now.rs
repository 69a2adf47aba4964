//! "Sync now": the adviser asks for a sync from Calendar Connections. Calendly's rate limit is
//! shared with the adviser's other integrations (calendly-api.md §0), so at most one manual sync
//! starts per [`COOLDOWN_MS`] per adviser (claimed in the database: double clicks and several
//! instances included), and a sync that Calendly slowed down still paces itself and resumes.

use super::{sync_connection, SyncKind, SyncReport};
use crate::accounts::AdviserId;
use crate::connections::{self, ConnectionStatus, LiveUpdates, TokenError};
use crate::AppState;

/// One manual sync per adviser per minute.
pub const COOLDOWN_MS: i64 = 60_000;
/// How long the request waits for the sync before answering "started" (it goes on regardless).
pub const WAIT_MS: u64 = 8_000;

#[derive(Debug, PartialEq, Eq)]
pub enum SyncNow {
    /// It ran to the end (or paused for Calendly's rate limit) within [`WAIT_MS`].
    Done(SyncReport),
    /// Still running; its result appears under "Last sync".
    Started,
    /// Another manual sync started less than a minute ago: try again after this many seconds.
    TooSoon {
        wait_secs: i64,
    },
    /// A sync is under way, or paused for Calendly's rate limit: it carries on by itself.
    AlreadyRunning,
    /// Calendly answered 429 for this adviser: no call before its reset.
    RateLimited {
        wait_secs: u64,
    },
    NotConnected,
    NeedsReconnect,
    Failed(String),
}

/// When a manual sync may start, given the last one: `None` now, else after this many ms.
pub fn must_wait(last_manual_at: Option<i64>, now_ms: i64) -> Option<i64> {
    let last = last_manual_at?;
    let wait = last.saturating_add(COOLDOWN_MS).saturating_sub(now_ms);
    (wait > 0).then_some(wait)
}

pub async fn sync_now(state: &AppState, adviser: AdviserId) -> Result<SyncNow, sqlx::Error> {
    let Some(connection) = connections::load(&state.db, adviser).await? else {
        return Ok(SyncNow::NotConnected);
    };
    match connection.status {
        ConnectionStatus::Connected => {}
        ConnectionStatus::NeedsReconnect => return Ok(SyncNow::NeedsReconnect),
        _ => return Ok(SyncNow::NotConnected),
    }
    let now = state.clock.now_ms();
    if let Some(wait_secs) = state.limits.wait_secs(adviser.0, now) {
        return Ok(SyncNow::RateLimited { wait_secs });
    }
    // A sync keeps a cursor while it runs or is paused: a second one would only repeat its work.
    if connections::sync_state(&state.db, adviser)
        .await?
        .is_some_and(|s| s.has_cursor == 1)
    {
        return Ok(SyncNow::AlreadyRunning);
    }
    if !connections::claim_manual_sync(&state.db, adviser, now, COOLDOWN_MS).await? {
        let last = connections::manual_sync_at(&state.db, adviser).await?;
        let wait_ms = must_wait(last, now).unwrap_or(1000);
        return Ok(SyncNow::TooSoon {
            wait_secs: (wait_ms + 999) / 1000,
        });
    }
    let kind = if connection.live_updates == LiveUpdates::Active {
        SyncKind::Reconcile
    } else {
        SyncKind::Poll
    };
    let task_state = state.clone();
    let run = tokio::spawn(async move { sync_connection(&task_state, adviser, kind).await });
    match tokio::time::timeout(std::time::Duration::from_millis(WAIT_MS), run).await {
        Err(_) => Ok(SyncNow::Started),
        Ok(Err(join)) => Ok(SyncNow::Failed(join.to_string())),
        Ok(Ok(Ok(report))) => Ok(SyncNow::Done(report)),
        Ok(Ok(Err(TokenError::NeedsReconnect))) => Ok(SyncNow::NeedsReconnect),
        Ok(Ok(Err(TokenError::NotConnected))) => Ok(SyncNow::NotConnected),
        Ok(Ok(Err(e))) => Ok(SyncNow::Failed(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_first_manual_sync_may_start_at_once() {
        assert_eq!(must_wait(None, 1_000_000), None);
    }

    #[test]
    fn a_second_within_a_minute_waits_for_the_rest_of_it() {
        assert_eq!(must_wait(Some(1_000_000), 1_015_000), Some(45_000));
        assert_eq!(must_wait(Some(1_000_000), 1_060_000), None);
    }
}
