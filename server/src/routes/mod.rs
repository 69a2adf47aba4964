//! Plain axum routes (everything that is not a Leptos page or server function).

mod health;

use axum::routing::get;
use axum::Router;

use crate::startup::ServerState;

pub fn router() -> Router<ServerState> {
    Router::new().route("/healthz", get(health::healthz)).route("/metrics", get(health::metrics))
}
