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

/// Who sent a request with these headers ([`backend::sessions::signed_in`] over its cookies);
/// a database failure is the answer to send instead (503: the client may retry).
pub async fn signed_in(
    app: &AppState,
    headers: &http::HeaderMap,
) -> Result<Option<backend::sessions::SignedIn>, Response> {
    let cookies = headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok());
    let secure = app.settings.secure_cookies();
    backend::sessions::signed_in(&app.db, &app.clock, cookies, secure)
        .await
        .map_err(|err| {
            tracing::error!(error = %err, "session lookup failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "The service is temporarily unavailable. Please retry.",
            )
                .into_response()
        })
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
        match signed_in(app, &parts.headers).await? {
            Some(who) => Ok(SignedIn {
                adviser: who.adviser,
                session_token: who.token,
            }),
            None => Err(NotSignedIn { wants_html }.into_response()),
        }
    }
}
