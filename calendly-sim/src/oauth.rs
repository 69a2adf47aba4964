//! The OAuth token endpoints (calendly-api.md §1.4–§1.6): `POST /oauth/token` (code exchange
//! with optional PKCE, single-use refresh rotation, 8 tokens per user per minute),
//! `POST /oauth/revoke` and `POST /oauth/introspect`.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::errors::OAuthError;
use crate::scopes::GrantedScopes;
use crate::state::{State as SimState, TokenKind, Window};
use crate::subscriptions::CreatedWith;
use crate::tokens::ACCESS_TOKEN_SECONDS;
use crate::Simulator;

/// OAuth tokens issued per user per minute.
const TOKENS_PER_MINUTE: u32 = 8;

/// The 200 body of `POST /oauth/token` (§1.4), in the documented key order. `expires_in`,
/// `owner` and `organization` are left out of minimal refresh responses.
#[derive(Debug, Serialize)]
pub(crate) struct TokenResponse {
    pub token_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<i64>,
    pub created_at: i64,
    pub refresh_token: String,
    pub access_token: String,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
}

impl TokenResponse {
    /// Only `access_token`, `refresh_token`, `token_type`, `created_at` and `scope`.
    fn minimal(self) -> Self {
        Self {
            expires_in: None,
            owner: None,
            organization: None,
            ..self
        }
    }
}

/// The 200 body of `POST /oauth/introspect` (§1.6).
#[derive(Debug, Default, Serialize)]
struct Introspection {
    active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    owner: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    organization: Option<String>,
}

impl Simulator {
    pub(crate) fn token_response(&self, st: &SimState, index: usize) -> TokenResponse {
        let grant = &st.grants[index];
        let org = st
            .users
            .get(&grant.user)
            .map(|u| u.org.clone())
            .unwrap_or_default();
        TokenResponse {
            token_type: "Bearer",
            expires_in: Some(ACCESS_TOKEN_SECONDS),
            created_at: grant.issued_at.timestamp(),
            refresh_token: grant.refresh_token.clone().unwrap_or_default(),
            access_token: grant.access_token.clone(),
            scope: grant.scope_text.clone(),
            owner: Some(self.uri("users", &grant.user)),
            organization: Some(self.uri("organizations", &org)),
        }
    }

    fn client_is_valid(&self, id: Option<&str>, secret: Option<&str>) -> bool {
        id == Some(self.config().client_id.as_str())
            && secret == Some(self.config().client_secret.as_str())
    }

    /// Counts one token issuance against the user's 8-per-minute budget.
    fn allow_token_issuance(st: &mut SimState, user: &str, now: DateTime<Utc>) -> bool {
        st.token_issuance
            .entry(user.to_string())
            .or_insert_with(|| Window::new(now))
            .hit(now, TOKENS_PER_MINUTE)
            .allowed
    }

    fn exchange(&self, headers: &HeaderMap, body: Bytes) -> Result<TokenResponse, OAuthError> {
        let params = parse_params(headers, &body)?;
        let (id, secret) = client_credentials(headers, &params);
        if !self.client_is_valid(id.as_deref(), secret.as_deref()) {
            return Err(OAuthError::invalid_client());
        }
        match params.get("grant_type").map(String::as_str) {
            Some("authorization_code") => self.exchange_code(&params),
            Some("refresh_token") => self.exchange_refresh_token(&params),
            Some(_) => Err(OAuthError::unsupported_grant_type()),
            None => Err(OAuthError::malformed()),
        }
    }

    fn exchange_code(&self, params: &HashMap<String, String>) -> Result<TokenResponse, OAuthError> {
        let code = params.get("code").ok_or_else(OAuthError::malformed)?;
        let now = self.now();
        let mut st = self.state();
        let record = st
            .codes
            .get(code)
            .filter(|c| !c.used && c.expires_at > now)
            .ok_or_else(OAuthError::invalid_grant)?;
        if params.get("redirect_uri") != Some(&record.redirect_uri) {
            return Err(OAuthError::invalid_grant());
        }
        if let Some(challenge) = &record.code_challenge {
            let verifier = params.get("code_verifier").ok_or_else(|| {
                OAuthError::invalid_request(
                    "The code_verifier parameter is required because a code_challenge was sent.",
                )
            })?;
            if URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) != *challenge {
                return Err(OAuthError::invalid_grant());
            }
        }
        let user = record.user.clone();
        let scopes = GrantedScopes {
            text: record.scope_text.clone(),
            set: record.scopes.clone(),
        };
        if !Self::allow_token_issuance(&mut st, &user, now) {
            return Err(OAuthError::too_many_tokens());
        }
        if let Some(record) = st.codes.get_mut(code) {
            record.used = true;
        }
        let index = self.issue_grant(&mut st, &user, CreatedWith::OAuth, &scopes, now);
        Ok(self.token_response(&st, index))
    }

    fn exchange_refresh_token(
        &self,
        params: &HashMap<String, String>,
    ) -> Result<TokenResponse, OAuthError> {
        let refresh = params
            .get("refresh_token")
            .ok_or_else(OAuthError::malformed)?;
        let now = self.now();
        let mut st = self.state();
        let old = st
            .tokens
            .get(refresh)
            .filter(|r| r.kind == TokenKind::Refresh)
            .map(|r| r.grant)
            .filter(|&i| {
                !st.grants[i].revoked
                    && !st.grants[i].refresh_used
                    && st.grants[i].via == CreatedWith::OAuth
            })
            .ok_or_else(OAuthError::invalid_grant)?;
        let user = st.grants[old].user.clone();
        let scopes = GrantedScopes {
            text: st.grants[old].scope_text.clone(),
            set: st.grants[old].scopes.clone(),
        };
        if !Self::allow_token_issuance(&mut st, &user, now) {
            return Err(OAuthError::too_many_tokens());
        }
        // Rotation: the used refresh token dies now; its access token lives out its 2 hours.
        st.grants[old].refresh_used = true;
        let index = self.issue_grant(&mut st, &user, CreatedWith::OAuth, &scopes, now);
        let response = self.token_response(&st, index);
        if self.switches().minimal_refresh_responses {
            return Ok(response.minimal());
        }
        Ok(response)
    }

    fn introspection(&self, token: &str) -> Introspection {
        let now = self.now();
        let st = self.state();
        let Some(r) = st.tokens.get(token) else {
            return Introspection::default();
        };
        let grant = &st.grants[r.grant];
        let active = !grant.revoked
            && match r.kind {
                TokenKind::Access => grant.expires_at.is_none_or(|at| at > now),
                TokenKind::Refresh => !grant.refresh_used,
            };
        if !active {
            return Introspection::default();
        }
        let org = st
            .users
            .get(&grant.user)
            .map(|u| u.org.clone())
            .unwrap_or_default();
        Introspection {
            active: true,
            scope: Some(grant.scope_text.clone()),
            client_id: Some(self.config().client_id.clone()),
            token_type: Some("Bearer"),
            exp: grant.expires_at.map(|at| at.timestamp()),
            iat: Some(grant.issued_at.timestamp()),
            owner: Some(self.uri("users", &grant.user)),
            organization: Some(self.uri("organizations", &org)),
        }
    }
}

/// The body as a flat map: JSON when the Content-Type says so, else form-urlencoded.
pub(crate) fn parse_params(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<HashMap<String, String>, OAuthError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("json"));
    if !is_json {
        return Ok(url::form_urlencoded::parse(body)
            .into_owned()
            .filter(|(_, v)| !v.is_empty())
            .collect());
    }
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| OAuthError::malformed())?;
    let object = value.as_object().ok_or_else(OAuthError::malformed)?;
    Ok(object
        .iter()
        .filter_map(|(k, v)| match v {
            serde_json::Value::String(s) if !s.is_empty() => Some((k.clone(), s.clone())),
            serde_json::Value::Number(n) => Some((k.clone(), n.to_string())),
            serde_json::Value::Bool(b) => Some((k.clone(), b.to_string())),
            _ => None,
        })
        .collect())
}

/// Client id and secret from HTTP Basic, else from the body.
pub(crate) fn client_credentials(
    headers: &HeaderMap,
    params: &HashMap<String, String>,
) -> (Option<String>, Option<String>) {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .and_then(|(_, encoded)| STANDARD.decode(encoded.trim()).ok())
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|pair| {
            pair.split_once(':')
                .map(|(id, secret)| (id.to_string(), secret.to_string()))
        });
    match basic {
        Some((id, secret)) => (Some(id), Some(secret)),
        None => (
            params.get("client_id").cloned(),
            params.get("client_secret").cloned(),
        ),
    }
}

/// `POST /oauth/token`: `authorization_code` and `refresh_token` grants.
#[tracing::instrument(skip_all)]
pub(crate) async fn token(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Ok(body) = body else {
        return OAuthError::malformed().into_response();
    };
    match sim.exchange(&headers, body) {
        Ok(tokens) => {
            let mut response = Json(tokens).into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(error) => error.into_response(),
    }
}

/// `POST /oauth/revoke`: 200 with an empty body, whether or not the token existed (RFC 7009).
#[tracing::instrument(skip_all)]
pub(crate) async fn revoke(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Ok(body) = body else {
        return OAuthError::malformed().into_response();
    };
    let params = match parse_params(&headers, &body) {
        Ok(params) => params,
        Err(error) => return error.into_response(),
    };
    let (id, secret) = client_credentials(&headers, &params);
    if !sim.client_is_valid(id.as_deref(), secret.as_deref()) {
        return OAuthError::unauthorized_client().into_response();
    }
    let Some(token) = params.get("token") else {
        return OAuthError::malformed().into_response();
    };
    let mut st = sim.state();
    if let Some(index) = st.tokens.get(token).map(|r| r.grant) {
        st.grants[index].revoked = true;
    }
    StatusCode::OK.into_response()
}

/// `POST /oauth/introspect`.
#[tracing::instrument(skip_all)]
pub(crate) async fn introspect(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Ok(body) = body else {
        return OAuthError::malformed().into_response();
    };
    let params = match parse_params(&headers, &body) {
        Ok(params) => params,
        Err(error) => return error.into_response(),
    };
    let (id, secret) = client_credentials(&headers, &params);
    if !sim.client_is_valid(id.as_deref(), secret.as_deref()) {
        return OAuthError::invalid_client().into_response();
    }
    let Some(token) = params.get("token") else {
        return OAuthError::malformed().into_response();
    };
    Json(sim.introspection(token)).into_response()
}
