//! Content-Security-Policy for the app's pages. Scripts run only from our origin or with this
//! response's nonce (Leptos puts it on its hydration and resource scripts), WASM may compile,
//! and nothing may frame the page, load from elsewhere, or have a form post anywhere but here
//! and Calendly's sign-in (connecting is a form post answered with a redirect there).

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use backend::AppState;
use http::{header, HeaderValue};
use leptos::prelude::*;

/// This request's script nonce, made by [`content_security_policy`] before the page renders.
#[derive(Clone, Debug)]
pub struct CspNonce(pub String);

/// The policy for a page rendered with `nonce`; `calendly_auth` is where connecting goes.
pub fn policy(nonce: &str, calendly_auth: &url::Url) -> String {
    let auth = calendly_auth.origin().ascii_serialization();
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
         object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self' {auth}"
    )
}

/// Makes a nonce for the request and sends the policy with every HTML answer.
pub async fn content_security_policy(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let nonce = backend::crypto::random_token(16);
    request.extensions_mut().insert(CspNonce(nonce.clone()));
    let mut response = next.run(request).await;
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    let auth = state.settings.calendly.as_ref().map(|c| &c.auth_url);
    if let (true, Some(auth)) = (is_html, auth) {
        if let Ok(value) = HeaderValue::from_str(&policy(&nonce, auth)) {
            response
                .headers_mut()
                .insert(header::CONTENT_SECURITY_POLICY, value);
        }
    }
    response
}

/// In the Leptos render context: the nonce Leptos puts on its scripts is the one in the header.
pub fn provide_nonce_from_request() {
    let nonce = use_context::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<CspNonce>().cloned());
    if let Some(CspNonce(nonce)) = nonce {
        provide_context(leptos::nonce::Nonce::from_value(nonce));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_need_the_nonce_and_forms_may_go_only_here_or_to_calendly() {
        let p = policy("abc", &"https://auth.calendly.com/oauth".parse().unwrap());
        assert!(p.contains("script-src 'self' 'nonce-abc' 'wasm-unsafe-eval';"));
        assert!(!p.contains("unsafe-inline"));
        assert!(p.contains("form-action 'self' https://auth.calendly.com"));
        assert!(p.contains("frame-ancestors 'none'"));
    }
}
