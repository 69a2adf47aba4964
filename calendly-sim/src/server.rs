//! The router: auth-host paths, API paths (behind bearer auth), `/_sim/*`, and Calendly-shaped
//! 404s for everything else.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{middleware, Router};

use crate::auth::{authenticate, with_rate_headers};
use crate::errors::ApiError;
use crate::{consent, control, oauth, scheduled_events, subscriptions, users, Simulator};

pub(crate) fn router(sim: Simulator) -> Router {
    let api = Router::new()
        .route("/users/{uuid}", get(users::show))
        .route(
            "/webhook_subscriptions",
            get(subscriptions::list).post(subscriptions::create),
        )
        .route(
            "/webhook_subscriptions/{uuid}",
            get(subscriptions::show).delete(subscriptions::delete),
        )
        .route("/scheduled_events", get(scheduled_events::list))
        .route("/scheduled_events/{uuid}", get(scheduled_events::show))
        .route(
            "/scheduled_events/{uuid}/invitees",
            get(scheduled_events::invitees),
        )
        .route(
            "/scheduled_events/{uuid}/invitees/{invitee_uuid}",
            get(scheduled_events::invitee),
        )
        .method_not_allowed_fallback(not_found)
        .route_layer(middleware::from_fn_with_state(sim.clone(), authenticate))
        .route_layer(middleware::from_fn_with_state(sim.clone(), api_fault));
    let auth_host = Router::new()
        .route("/oauth/authorize", get(consent::show).post(consent::decide))
        .route("/oauth/token", post(oauth::token))
        .route("/oauth/revoke", post(oauth::revoke))
        .route("/oauth/introspect", post(oauth::introspect))
        .method_not_allowed_fallback(not_found)
        .route_layer(middleware::from_fn_with_state(sim.clone(), api_fault));
    Router::new()
        .merge(auth_host)
        .merge(api)
        .nest("/_sim", control::router())
        .fallback(not_found)
        .with_state(sim)
}

/// A slow or failing Calendly, as the runtime switches say (`Simulator::set_api_fault`).
async fn api_fault(
    State(sim): State<Simulator>,
    request: axum::extract::Request,
    next: middleware::Next,
) -> Response {
    let switches = sim.switches();
    if request.uri().path() == "/oauth/token" && switches.token_delay_ms > 0 {
        // Handled after the delay even if the client has gone: the request was sent. Spawned so
        // that the client going away does not cancel it.
        let delay = std::time::Duration::from_millis(switches.token_delay_ms);
        let handled = tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            next.run(request).await
        });
        return handled
            .await
            .unwrap_or_else(|_| axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response());
    }
    if switches.api_delay_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(switches.api_delay_ms)).await;
    }
    if let Some(code) = switches.api_failure_status {
        let status = axum::http::StatusCode::from_u16(code)
            .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
        return (status, axum::Json(serde_json::json!({"title": "Internal Server Error", "message": "The server encountered an unexpected condition."}))).into_response();
    }
    next.run(request).await
}

/// Unknown routes (and unknown methods on known ones): Calendly's 404 body.
async fn not_found(State(sim): State<Simulator>) -> Response {
    with_rate_headers(ApiError::not_found().into_response(), sim.uncounted_rate())
}
