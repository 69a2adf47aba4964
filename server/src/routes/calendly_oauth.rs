//! Connect / callback / disconnect: plain form posts and redirects, so they work before (or
//! without) hydration.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use backend::connections::{self, CallbackParams};
use backend::AppState;

use super::session::SignedIn;

const PAGE: &str = "/settings/calendar";

/// `POST /api/calendly/connect`: starts OAuth and sends the browser to Calendly's consent page.
#[tracing::instrument(skip_all, fields(user_id = who.adviser.id.0))]
pub async fn connect(State(state): State<AppState>, who: SignedIn) -> Response {
    match connections::begin_connect(&state, who.adviser.id, who.session_token.as_str()).await {
        Ok(url) => Redirect::to(url.as_str()).into_response(),
        Err(err) => {
            tracing::error!(error = %err, "could not start connecting");
            Redirect::to(&format!("{PAGE}?error={}", err.code())).into_response()
        }
    }
}

/// `GET /api/calendly/oauth/callback`: Calendly's redirect back with `code` + `state` (or `error`).
#[tracing::instrument(skip_all, fields(user_id = who.adviser.id.0))]
pub async fn callback(
    State(state): State<AppState>,
    who: SignedIn,
    Query(params): Query<CallbackParams>,
) -> Response {
    match connections::finish_connect(&state, who.adviser.id, who.session_token.as_str(), params)
        .await
    {
        Ok(()) => {
            // The adviser's meetings so far, fetched in the background while the page loads.
            backend::sync::spawn_sync(state.clone(), who.adviser.id);
            Redirect::to(&format!("{PAGE}?connected=1")).into_response()
        }
        Err(err) => {
            tracing::warn!(error = %err, code = err.code(), "connecting Calendly failed");
            Redirect::to(&format!("{PAGE}?error={}", err.code())).into_response()
        }
    }
}

/// `POST /api/calendly/disconnect`: disconnects this adviser's Calendly (and nobody else's).
#[tracing::instrument(skip_all, fields(user_id = who.adviser.id.0))]
pub async fn disconnect(State(state): State<AppState>, who: SignedIn) -> Response {
    match connections::disconnect(&state, who.adviser.id).await {
        Ok(()) => Redirect::to(&format!("{PAGE}?disconnected=1")).into_response(),
        Err(err) => {
            tracing::error!(error = %err, "disconnect failed");
            Redirect::to(&format!("{PAGE}?error=internal")).into_response()
        }
    }
}

/// `POST /api/calendly/sync`: "Sync now" — reads this adviser's meetings from Calendly again,
/// at most once a minute, and comes back to the page saying what happened.
#[tracing::instrument(skip_all, fields(user_id = who.adviser.id.0))]
pub async fn sync_now(State(state): State<AppState>, who: SignedIn) -> Response {
    use backend::sync::SyncNow;
    let to = match backend::sync::sync_now(&state, who.adviser.id).await {
        Ok(SyncNow::Done(report)) if report.paused_for_secs.is_some() => {
            format!("{PAGE}?synced=paused")
        }
        Ok(SyncNow::Done(report)) => format!("{PAGE}?synced={}", report.events),
        Ok(SyncNow::Started) => format!("{PAGE}?synced=started"),
        Ok(SyncNow::TooSoon { wait_secs }) => format!("{PAGE}?sync_wait={wait_secs}"),
        Ok(SyncNow::AlreadyRunning) => format!("{PAGE}?synced=running"),
        Ok(SyncNow::RateLimited { wait_secs }) => {
            format!("{PAGE}?synced=limited&sync_wait={wait_secs}")
        }
        Ok(SyncNow::NotConnected) => format!("{PAGE}?error=not_connected"),
        Ok(SyncNow::NeedsReconnect) => format!("{PAGE}?error=needs_reconnect"),
        Ok(SyncNow::Failed(err)) => {
            tracing::warn!(error = %err, "sync now failed");
            format!("{PAGE}?error=sync_failed")
        }
        Err(err) => {
            tracing::error!(error = %err, "sync now failed");
            format!("{PAGE}?error=internal")
        }
    };
    Redirect::to(&to).into_response()
}
