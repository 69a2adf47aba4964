//! Calendly's deliveries: raw bytes in, verified and stored before any 2xx goes out.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use backend::AppState;
use http::{HeaderMap, StatusCode};

fn signature(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("calendly-webhook-signature")
        .and_then(|v| v.to_str().ok())
}

fn answer(result: Result<backend::webhooks::Receipt, backend::webhooks::Rejection>) -> Response {
    match result {
        Ok(_) => (StatusCode::OK, "ok").into_response(),
        Err(rejection) => {
            let status =
                StatusCode::from_u16(rejection.status()).unwrap_or(StatusCode::BAD_REQUEST);
            (status, rejection.reason()).into_response()
        }
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
