//! Calendly's deliveries: raw bytes in, verified and stored before any 2xx goes out.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use backend::webhooks::{Receipt, Rejection};
use backend::AppState;
use calendly::webhook::SignatureError;
use http::{HeaderMap, StatusCode};

fn signature(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("calendly-webhook-signature")
        .and_then(|v| v.to_str().ok())
}

/// The answer Calendly gets. 410 for a retired route makes Calendly delete that orphaned
/// subscription at once; 503 makes it retry later; every other refusal is final.
fn status(rejection: &Rejection) -> StatusCode {
    match rejection {
        Rejection::UnknownRoute => StatusCode::NOT_FOUND,
        Rejection::RetiredRoute => StatusCode::GONE,
        Rejection::Signature(
            SignatureError::Missing
            | SignatureError::Stale
            | SignatureError::Future
            | SignatureError::Mismatch,
        ) => StatusCode::UNAUTHORIZED,
        Rejection::Signature(_) | Rejection::BadPayload(_) => StatusCode::BAD_REQUEST,
        Rejection::WrongUser { .. } => StatusCode::FORBIDDEN,
        Rejection::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

fn answer(result: Result<Receipt, Rejection>) -> Response {
    match result {
        Ok(_) => (StatusCode::OK, "ok").into_response(),
        Err(rejection) => (status(&rejection), rejection.reason()).into_response(),
    }
}

/// `POST /api/calendly/webhook/{route_token}`: one adviser's subscription callback URL.
pub async fn receive_routed(
    State(state): State<AppState>,
    Path(route_token): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    answer(backend::webhooks::receive(&state, Some(&route_token), signature(&headers), &body).await)
}

/// `POST /api/calendly/webhook`: legacy bare URL (subscriptions made before route tokens).
pub async fn receive_legacy(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    answer(backend::webhooks::receive(&state, None, signature(&headers), &body).await)
}
