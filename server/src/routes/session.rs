//! The signed-in adviser as an axum extractor (for the non-Leptos routes).

use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Redirect, Response};
use backend::accounts::Adviser;
use backend::sessions::SessionToken;
use backend::AppState;
use http::request::Parts;
use http::StatusCode;

use crate::server_state::ServerState;

/// The signed-in adviser, for the plain routes ([`backend::sessions::signed_in`] decides).
pub struct SignedIn {
    pub adviser: Adviser,
    pub session_token: SessionToken,
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
        let cookies = parts
            .headers
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok());
        let secure = app.settings.secure_cookies();
        match backend::sessions::signed_in(&app.db, &app.clock, cookies, secure).await {
            Ok(Some(who)) => Ok(SignedIn {
                adviser: who.adviser,
                session_token: who.token,
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
