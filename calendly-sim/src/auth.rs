//! Bearer authentication of API routes, and the X-RateLimit-* headers on their responses
//! (the counting itself is in `rate_limits.rs`).

use std::collections::BTreeSet;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::errors::{ApiError, TOKEN_EXPIRED, TOKEN_INVALID, TOKEN_REVOKED};
use crate::scopes::scope_allows;
use crate::state::{TokenKind, WindowHit};
use crate::subscriptions::CreatedWith;
use crate::users::{Plan, Role};
use crate::Simulator;

/// The authenticated user behind an API request.
#[derive(Clone, Debug)]
pub(crate) struct Caller {
    /// User uuid.
    pub user: String,
    /// Organization uuid.
    pub org: String,
    pub role: Role,
    pub plan: Plan,
    /// `None` = full access (legacy `default` scope or unscoped PAT).
    pub scopes: Option<BTreeSet<String>>,
    pub via: CreatedWith,
}

impl Caller {
    pub(crate) fn has(&self, scope: &str) -> bool {
        scope_allows(self.scopes.as_ref(), scope)
    }

    /// The Insufficient-scope 403 unless the token carries `scope` (or its `:write` sibling).
    pub(crate) fn require(&self, scope: &str) -> Result<(), ApiError> {
        if self.has(scope) {
            Ok(())
        } else {
            Err(ApiError::insufficient_scope(scope))
        }
    }

    pub(crate) fn is_admin(&self) -> bool {
        self.role.is_admin()
    }
}

impl Simulator {
    /// The caller owning `token`, or the documented 401.
    pub(crate) fn caller_for(&self, token: &str) -> Result<Caller, ApiError> {
        let now = self.now();
        let st = self.state();
        let grant = st
            .tokens
            .get(token)
            .filter(|r| r.kind == TokenKind::Access)
            .and_then(|r| st.grants.get(r.grant))
            .ok_or_else(|| ApiError::unauthenticated(TOKEN_INVALID))?;
        if grant.revoked {
            return Err(ApiError::unauthenticated(TOKEN_REVOKED));
        }
        if grant.expires_at.is_some_and(|at| at <= now) {
            return Err(ApiError::unauthenticated(TOKEN_EXPIRED));
        }
        let user = st
            .users
            .get(&grant.user)
            .ok_or_else(|| ApiError::unauthenticated(TOKEN_INVALID))?;
        Ok(Caller {
            user: user.uuid.clone(),
            org: user.org.clone(),
            role: user.role,
            plan: user.plan,
            scopes: grant.scopes.clone(),
            via: grant.via,
        })
    }

    /// Headers for responses that are not counted against any user (401s, unknown routes).
    pub(crate) fn uncounted_rate(&self) -> WindowHit {
        let limit = self.config().rate_limit_per_minute.max(1);
        WindowHit {
            allowed: true,
            limit,
            remaining: limit,
            reset: 60,
        }
    }
}

/// Middleware on every API route: authenticate, count, then add the rate-limit headers.
pub(crate) async fn authenticate(
    State(sim): State<Simulator>,
    mut request: Request,
    next: Next,
) -> Response {
    let caller =
        match bearer(request.headers()).ok_or_else(|| ApiError::unauthenticated(TOKEN_INVALID)) {
            Ok(token) => sim.caller_for(token),
            Err(e) => Err(e),
        };
    let caller = match caller {
        Ok(caller) => caller,
        Err(error) => return with_rate_headers(error.into_response(), sim.uncounted_rate()),
    };
    let hit = sim.count_request(&caller);
    if !hit.allowed {
        return with_rate_headers(ApiError::too_many_requests().into_response(), hit);
    }
    request.extensions_mut().insert(caller);
    with_rate_headers(next.run(request).await, hit)
}

/// The token of an `Authorization: Bearer …` header.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

pub(crate) fn with_rate_headers(mut response: Response, hit: WindowHit) -> Response {
    let headers = response.headers_mut();
    headers.insert("x-ratelimit-limit", HeaderValue::from(hit.limit));
    headers.insert("x-ratelimit-remaining", HeaderValue::from(hit.remaining));
    headers.insert("x-ratelimit-reset", HeaderValue::from(hit.reset));
    response
}
