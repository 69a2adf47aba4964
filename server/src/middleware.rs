//! Cross-cutting request handling: who the client is, request metrics, and sending visitors
//! without a session from the app's pages to the sign-in page.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use backend::net::ClientAddress;
use backend::AppState;
use http::Method;

/// Records who sent the request ([`ClientAddress`]) for the handlers that throttle by it.
pub async fn identify_client(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let forwarded: Vec<&str> = request
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let client = ClientAddress::of(peer, &forwarded, &state.settings.trusted_proxies);
    request.extensions_mut().insert(client);
    next.run(request).await
}

/// Counts requests and records their latency, labelled by route pattern (not raw path, so
/// route tokens and ids do not explode the label set).
pub async fn track_requests(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let route = if request.uri().path().starts_with("/pkg/") {
        "/pkg/*".to_owned()
    } else {
        request
            .extensions()
            .get::<MatchedPath>()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "unmatched".into())
    };
    let method = method_label(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    state.metrics.inc(
        "http_requests_total",
        "HTTP requests by route, method and status.",
        &[("route", &route), ("method", method), ("status", &status)],
    );
    state.metrics.observe(
        "http_request_duration_seconds",
        "HTTP request latency by route.",
        &[("route", &route)],
        started.elapsed().as_secs_f64(),
    );
    response
}

/// Pages that need a signed-in adviser.
fn needs_session(path: &str) -> bool {
    path == "/"
        || path == "/meetings"
        || path.starts_with("/settings")
        || path.starts_with("/sandbox")
}

/// Pages only for visitors who are not signed in.
fn guest_only(path: &str) -> bool {
    path == "/login" || path == "/signup"
}

pub async fn guard_pages(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if request.method() != Method::GET {
        return next.run(request).await;
    }
    let path = request.uri().path().to_owned();
    if !needs_session(&path) && !guest_only(&path) {
        return next.run(request).await;
    }
    let signed_in = match crate::routes::session::signed_in(&state, request.headers()).await {
        Ok(who) => who.is_some(),
        Err(unavailable) => return unavailable,
    };
    match (signed_in, path.as_str()) {
        (true, "/") => Redirect::to("/meetings").into_response(),
        (true, p) if guest_only(p) => Redirect::to("/meetings").into_response(),
        (false, p) if needs_session(p) => Redirect::to("/login").into_response(),
        (true, p) if needs_session(p) => {
            // An adviser's meetings must not stay in a shared browser's or proxy's cache.
            let mut response = next.run(request).await;
            response.headers_mut().insert(
                http::header::CACHE_CONTROL,
                http::HeaderValue::from_static("no-store"),
            );
            response
        }
        _ => next.run(request).await,
    }
}

/// Refuses cross-site state-changing requests (CSRF): a POST to `/api/…` (server functions,
/// connect, disconnect) must come from our own pages. Browsers send `Origin` (and
/// `Sec-Fetch-Site`) on such requests; requests without them (non-browser clients) carry no
/// ambient cookies worth forging. Calendly's webhooks are exempt: they are authenticated by
/// signature, not by cookie.
pub async fn refuse_cross_site(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    let state_changing = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if state_changing && path.starts_with("/api/") && !path.starts_with("/api/calendly/webhook") {
        let headers = request.headers();
        let cross_site =
            headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) == Some("cross-site");
        if cross_site || !same_origin(headers.get(http::header::ORIGIN), &state) {
            tracing::warn!(security_event = true, path, "cross-site request refused");
            return (http::StatusCode::FORBIDDEN, "Cross-site request refused.").into_response();
        }
    }
    next.run(request).await
}

/// True when `Origin` is absent or is this app's own origin.
fn same_origin(origin: Option<&http::HeaderValue>, state: &AppState) -> bool {
    let Some(origin) = origin.and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let ours = state.settings.public_url.origin().ascii_serialization();
    let listen = format!("http://{}", state.settings.site_addr);
    origin == ours || origin == listen
}

/// A fixed set of metric labels: a client may send any method name, and each distinct label
/// would be a new series kept in memory for good.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// A server function's error is answered with the status its `AppError` names (400, 401, 404,
/// 409, 429, 503), whichever code returned it: Leptos answers 500 for every error otherwise.
/// Only 500 answers to `POST /api/…` are looked at; their bodies are a few bytes of JSON.
pub async fn server_fn_error_status(request: Request, next: Next) -> Response {
    let server_fn = request.method() == Method::POST && request.uri().path().starts_with("/api/");
    let response = next.run(request).await;
    if !server_fn || response.status() != http::StatusCode::INTERNAL_SERVER_ERROR {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return http::StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    if let Ok(err) = serde_json::from_slice::<app::error::AppError>(&bytes) {
        parts.status = err.status();
    }
    Response::from_parts(parts, axum::body::Body::from(bytes))
}
