//! Sign-up, sign-in and sign-out: the server functions and their pages.

mod pages;

pub use pages::{SignInPage, SignUpPage};

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// What the browser may know about the signed-in adviser.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdviserView {
    pub email: String,
    /// The app runs against the built-in Calendly simulator.
    pub sandbox: bool,
}

/// Creates an account, signs it in and goes to Meetings.
#[server(prefix = "/api", endpoint = "sign_up")]
pub async fn sign_up(
    email: String,
    password: String,
    timezone: Option<String>,
) -> Result<(), AppError> {
    use crate::server::state;
    let state = state()?;
    let adviser = backend::accounts::sign_up(&state.db, &state.clock, &email, &password)
        .await
        .map_err(AppError::from)?;
    // The browser's zone, when the page sent it. Best effort: the account exists already, and a
    // zone can be chosen later in Settings.
    if let Err(err) =
        backend::accounts::adopt_browser_timezone(&state.db, adviser.id, timezone.as_deref()).await
    {
        tracing::warn!(error = %err, "could not store the new adviser's time zone");
    }
    start_session(&state, adviser.id).await?;
    leptos_axum::redirect("/meetings");
    Ok(())
}

/// Signs in with email and password and goes to Meetings.
#[server(prefix = "/api", endpoint = "sign_in")]
pub async fn sign_in(email: String, password: String) -> Result<(), AppError> {
    use crate::server::{client_address, state};
    let state = state()?;
    let client = client_address();
    let adviser = backend::accounts::sign_in(&state.db, &state.clock, &email, &password, &client)
        .await
        .map_err(AppError::from)?;
    start_session(&state, adviser.id).await?;
    leptos_axum::redirect("/meetings");
    Ok(())
}

/// Ends the session and goes to the sign-in page.
#[server(prefix = "/api", endpoint = "sign_out")]
pub async fn sign_out() -> Result<(), AppError> {
    use crate::server::{session_token, set_cookie, state};
    let state = state()?;
    if let Some(token) = session_token() {
        backend::sessions::end(&state.db, &state.live, &token).await?;
    }
    set_cookie(&backend::sessions::clearing_cookie(
        state.settings.secure_cookies(),
    ));
    leptos_axum::redirect("/login");
    Ok(())
}

/// The signed-in adviser (401 without a session).
#[server(prefix = "/api", endpoint = "current_adviser")]
pub async fn current_adviser() -> Result<AdviserView, AppError> {
    let state = crate::server::state()?;
    let adviser = crate::server::current_adviser().await?;
    Ok(AdviserView {
        email: adviser.email,
        sandbox: state.settings.is_sandbox(),
    })
}

#[cfg(feature = "ssr")]
async fn start_session(
    state: &backend::AppState,
    adviser: backend::accounts::AdviserId,
) -> Result<(), AppError> {
    // A new id every sign-in (no fixation); the one the browser sent is ended first, so it
    // cannot be reused.
    if let Some(previous) = crate::server::session_token() {
        backend::sessions::end(&state.db, &state.live, &previous).await?;
    }
    let ttl = state.settings.session_ttl;
    let token = backend::sessions::start(&state.db, &state.clock, adviser, ttl).await?;
    crate::server::set_cookie(&backend::sessions::cookie(
        &token,
        ttl,
        state.settings.secure_cookies(),
    ));
    Ok(())
}
