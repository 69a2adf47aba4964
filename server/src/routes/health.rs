//! Health (`/healthz`) and metrics (`/metrics`) for load balancers and operators.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use backend::AppState;
use http::{header, StatusCode};

/// `GET /healthz`: 200 when the database answers, 503 otherwise.
#[tracing::instrument(skip_all)]
pub async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    match state.db.ping().await {
        Ok(()) => (StatusCode::OK, "ok"),
        Err(err) => {
            tracing::warn!(error = %err, "health check: database unavailable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
    }
}

/// `GET /metrics`: Prometheus text format. With `APP_METRICS_TOKEN` set, only a scraper
/// sending `Authorization: Bearer <token>` gets them (compared in constant time).
pub async fn metrics(State(state): State<AppState>, headers: http::HeaderMap) -> Response {
    if let Some(expected) = &state.settings.metrics_token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !backend::crypto::constant_time_eq(given.as_bytes(), expected.as_bytes()) {
            return (
                http::StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "Metrics need the scraper's token.",
            )
                .into_response();
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}
