//! Server-side helpers for server functions and page rendering: the application state and the
//! signed-in adviser, taken from the Leptos context that `server` provides.

use backend::accounts::Adviser;
use backend::AppState;
use leptos::prelude::*;

use crate::error::AppError;

pub fn state() -> Result<AppState, AppError> {
    use_context::<AppState>()
        .ok_or_else(|| AppError::internal("AppState missing from the Leptos context"))
}

/// The session token from this request's cookie, if any.
pub fn session_token() -> Option<String> {
    let parts = use_context::<http::request::Parts>()?;
    let secure = state().ok()?.settings.secure_cookies();
    let token = request_cookies(&parts)
        .find_map(|h| backend::sessions::token_from_cookie_header(h, secure).map(str::to_owned));
    token
}

/// The request's `Cookie` header values.
fn request_cookies(parts: &http::request::Parts) -> impl Iterator<Item = &str> {
    parts
        .headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
}

/// Who sent this request (the server's middleware records it).
pub fn client_address() -> backend::net::ClientAddress {
    use_context::<http::request::Parts>()
        .and_then(|parts| {
            parts
                .extensions
                .get::<backend::net::ClientAddress>()
                .copied()
        })
        .unwrap_or(backend::net::ClientAddress(std::net::IpAddr::V4(
            std::net::Ipv4Addr::UNSPECIFIED,
        )))
}

/// The signed-in adviser ([`backend::sessions::signed_in`] decides), or `Unauthorized` (with a
/// 401 status).
pub async fn current_adviser() -> Result<Adviser, AppError> {
    let state = state()?;
    let parts = use_context::<http::request::Parts>();
    let cookies = parts.iter().flat_map(request_cookies);
    let secure = state.settings.secure_cookies();
    backend::sessions::signed_in(&state.db, &state.clock, cookies, secure)
        .await?
        .map(|who| who.adviser)
        .ok_or(AppError::Unauthorized)
}

/// The zone the adviser reads times in ([`backend::time_zone::shown`]).
pub fn shown_timezone(
    adviser: &Adviser,
    connection: Option<&backend::connections::ConnectionRow>,
) -> String {
    backend::time_zone::shown(
        adviser.timezone.as_deref(),
        connection.map(|c| c.timezone.as_str()),
    )
}

/// Adds a `Set-Cookie` header to the response.
pub fn set_cookie(value: &str) {
    if let (Some(response), Ok(value)) = (
        use_context::<leptos_axum::ResponseOptions>(),
        http::HeaderValue::from_str(value),
    ) {
        response.append_header(http::header::SET_COOKIE, value);
    }
}

/// A timestamp (Unix ms) as the adviser reads it: "Tue 24 Nov 2026, 15:30", in `timezone`
/// (an IANA name; UTC if unknown).
pub fn format_time(ms: i64, timezone: &str) -> String {
    with_tz(ms, timezone, "%a %-d %b %Y, %H:%M")
}

/// Just the clock time, for the end of a range.
pub fn format_clock(ms: i64, timezone: &str) -> String {
    with_tz(ms, timezone, "%H:%M")
}

fn with_tz(ms: i64, timezone: &str, pattern: &str) -> String {
    use chrono::TimeZone;
    let tz: chrono_tz::Tz = timezone.parse().unwrap_or(chrono_tz::UTC);
    match chrono::Utc.timestamp_millis_opt(ms).single() {
        Some(t) => t.with_timezone(&tz).format(pattern).to_string(),
        None => String::new(),
    }
}

/// ISO 8601 UTC, for `<time datetime=…>`.
pub fn iso(ms: i64) -> String {
    use chrono::TimeZone;
    chrono::Utc
        .timestamp_millis_opt(ms)
        .single()
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}
