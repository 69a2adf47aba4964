//! Plain axum routes (everything that is not a Leptos page or server function).

mod calendly_oauth;
mod health;
pub mod live;
pub mod session;
mod webhook;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;

use crate::server_state::ServerState;

pub fn router() -> Router<ServerState> {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(health::metrics))
        .route("/api/calendly/connect", post(calendly_oauth::connect))
        .route(
            "/api/calendly/oauth/callback",
            get(calendly_oauth::callback),
        )
        .route("/api/calendly/disconnect", post(calendly_oauth::disconnect))
        .route("/api/calendly/sync", post(calendly_oauth::sync_now))
        .route("/api/meetings/stream", get(live::stream))
        .route(
            "/api/calendly/webhook/{route_token}",
            post(webhook::receive_routed)
                .layer(DefaultBodyLimit::max(backend::webhooks::MAX_BODY_BYTES)),
        )
        .route(
            "/api/calendly/webhook",
            post(webhook::receive_legacy)
                .layer(DefaultBodyLimit::max(backend::webhooks::MAX_BODY_BYTES)),
        )
}
