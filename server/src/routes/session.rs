//! The signed-in adviser as an axum extractor (for the non-Leptos routes).

use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Redirect, Response};
use backend::accounts::Adviser;
use backend::AppState;
use http::request::Parts;
use http::StatusCode;

use crate::server_state::ServerState;

pub struct SignedIn {
    pub adviser: Adviser,
    pub session_token: String,
}

/// Without a session: browsers are sent to sign in; anything else gets a 401.
pub struct NotSignedIn {
    wants_html: bool,
}

impl IntoResponse for NotSignedIn {
    fn into_response(self) -> Response {
        if self.wants_html {
            Redirect::to("/login").into_response()
        } else {
            (StatusCode::UNAUTHORIZED, "Please sign in.").into_response()
        }
    }
}

impl FromRequestParts<ServerState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ServerState,
    ) -> Result<Self, Self::Rejection> {
        let app: &AppState = &state.app;
        let wants_html = parts
            .headers
            .get(http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/html"));
        let token = parts
            .headers
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|h| {
                backend::sessions::token_from_cookie_header(h, app.settings.secure_cookies())
            })
            .map(str::to_owned);
        let Some(token) = token else {
            return Err(NotSignedIn { wants_html }.into_response());
        };
        match backend::sessions::adviser_for(&app.db, &app.clock, &token).await {
            Ok(Some(adviser)) => Ok(SignedIn {
                adviser,
                session_token: token,
            }),
            Ok(None) => Err(NotSignedIn { wants_html }.into_response()),
            Err(err) => {
                tracing::error!(error = %err, "session lookup failed");
                Err((
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The service is temporarily unavailable. Please retry.",
                )
                    .into_response())
            }
        }
    }
}
