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
    match connections::begin_connect(&state, who.adviser.id, &who.session_token).await {
        Ok(url) => Redirect::to(url.as_str()).into_response(),
        Err(err) => {
            tracing::error!(error = ?err, "could not start connecting");
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
    match connections::finish_connect(&state, who.adviser.id, &who.session_token, params).await {
        Ok(()) => Redirect::to(&format!("{PAGE}?connected=1")).into_response(),
        Err(err) => {
            tracing::warn!(error = ?err, code = err.code(), "connecting Calendly failed");
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
