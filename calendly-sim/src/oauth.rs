//! OAuth tokens (calendly-api.md §1.3–§1.7): `POST /oauth/token` (code exchange with optional
//! PKCE, single-use refresh rotation), `/oauth/revoke`, `/oauth/introspect`, the scope catalog,
//! and the library helpers that mint tokens for tests.

use std::collections::{BTreeSet, HashMap};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::config::{new_uuid, random_hex};
use crate::errors::OAuthError;
use crate::signature::sign;
use crate::state::{id_of, AuthCode, Grant, State as SimState, TokenKind, TokenRef, Window};
use crate::subscriptions::CreatedWith;
use crate::Simulator;

/// Access-token lifetime.
pub(crate) const ACCESS_TOKEN_SECONDS: i64 = 7200;
/// Authorization-code lifetime.
pub(crate) const CODE_MINUTES: i64 = 10;
/// OAuth tokens issued per user per minute.
const TOKENS_PER_MINUTE: u32 = 8;

/// Every scope Calendly's catalog knows (§1.7); anything else is `invalid_scope`.
pub(crate) const SCOPE_CATALOG: &[&str] = &[
    "users:read",
    "organizations:read",
    "organizations:write",
    "groups:read",
    "scheduled_events:read",
    "scheduled_events:write",
    "event_types:read",
    "event_types:write",
    "availability:read",
    "availability:write",
    "locations:read",
    "routing_forms:read",
    "shares:write",
    "scheduling_links:write",
    "webhooks:read",
    "webhooks:write",
    "activity_log:read",
    "data_compliance:write",
    "outgoing_communications:read",
];

/// What a token may do: a space-separated list, or the legacy full-access `default`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct GrantedScopes {
    pub text: String,
    pub set: Option<BTreeSet<String>>,
}

impl GrantedScopes {
    /// No `scope` parameter (or `default`): legacy full access, reported as `"default"`.
    pub(crate) fn legacy() -> Self {
        Self { text: "default".into(), set: None }
    }

    /// `None` when any requested scope is not in the catalog.
    pub(crate) fn parse(raw: Option<&str>) -> Option<Self> {
        let mut list: Vec<&str> = Vec::new();
        for scope in raw.unwrap_or("").split([' ', '+', '\t', '\n']).filter(|s| !s.is_empty()) {
            if scope == "default" {
                continue;
            }
            if !SCOPE_CATALOG.contains(&scope) {
                return None;
            }
            if !list.contains(&scope) {
                list.push(scope);
            }
        }
        if list.is_empty() {
            return Some(Self::legacy());
        }
        Some(Self { text: list.join(" "), set: Some(list.into_iter().map(String::from).collect()) })
    }
}

/// `:write` implies `:read` in the same domain; `None` allows everything.
pub(crate) fn scope_allows(set: Option<&BTreeSet<String>>, scope: &str) -> bool {
    match set {
        None => true,
        Some(set) => {
            set.contains(scope)
                || scope.strip_suffix(":read").is_some_and(|domain| set.contains(&format!("{domain}:write")))
        }
    }
}

/// Tokens minted by `Simulator::issue_oauth_tokens`, shaped like a token response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedTokens {
    pub access_token: String,
    pub refresh_token: String,
    /// Granted scopes, space-separated (`default` for legacy full access).
    pub scope: String,
    pub expires_in: i64,
    pub owner: String,
    pub organization: String,
}

/// The 200 body of `POST /oauth/token` (§1.4), in the documented key order.
#[derive(Debug, Serialize)]
struct TokenResponse {
    token_type: &'static str,
    expires_in: i64,
    created_at: i64,
    refresh_token: String,
    access_token: String,
    scope: String,
    owner: String,
    organization: String,
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
    /// A personal access token with full access and no expiry.
    ///
    /// # Panics
    /// If the user is unknown.
    pub fn issue_personal_access_token(&self, user_uri: &str) -> String {
        self.issue_pat(user_uri, GrantedScopes::legacy())
    }

    /// A personal access token limited to `scopes` (catalog names, e.g. `webhooks:write`).
    ///
    /// # Panics
    /// If the user is unknown or a scope is not in the catalog.
    pub fn issue_scoped_personal_access_token(&self, user_uri: &str, scopes: &[&str]) -> String {
        let scopes = GrantedScopes::parse(Some(&scopes.join(" ")))
            .unwrap_or_else(|| panic!("calendly-sim: unknown scope in {scopes:?}"));
        self.issue_pat(user_uri, scopes)
    }

    fn issue_pat(&self, user_uri: &str, scopes: GrantedScopes) -> String {
        let now = self.now();
        let mut st = self.state();
        let user = known_user(&st, user_uri);
        let index = self.issue_grant(&mut st, &user, CreatedWith::Pat, &scopes, now);
        st.grants[index].access_token.clone()
    }

    /// OAuth tokens for `user_uri` as if they had consented to `scopes` (empty = legacy
    /// `default`), without the browser round trip. Not counted against the 8/minute limit.
    ///
    /// # Panics
    /// If the user is unknown or a scope is not in the catalog.
    pub fn issue_oauth_tokens(&self, user_uri: &str, scopes: &[&str]) -> IssuedTokens {
        let scopes = GrantedScopes::parse(Some(&scopes.join(" ")))
            .unwrap_or_else(|| panic!("calendly-sim: unknown scope in {scopes:?}"));
        let now = self.now();
        let mut st = self.state();
        let user = known_user(&st, user_uri);
        let index = self.issue_grant(&mut st, &user, CreatedWith::OAuth, &scopes, now);
        let response = self.token_response(&st, index);
        IssuedTokens {
            access_token: response.access_token,
            refresh_token: response.refresh_token,
            scope: response.scope,
            expires_in: response.expires_in,
            owner: response.owner,
            organization: response.organization,
        }
    }

    /// Revokes every token of the user, OAuth and personal (as a password or email change does).
    pub fn revoke_all_tokens(&self, user_uri: &str) {
        let mut st = self.state();
        let Some(user) = id_of(user_uri, "users").map(String::from) else { return };
        for grant in st.grants.iter_mut().filter(|g| g.user == user) {
            grant.revoked = true;
        }
        for code in st.codes.values_mut().filter(|c| c.user == user) {
            code.used = true;
        }
    }

    /// A fresh authorization code for a consented request.
    pub(crate) fn create_code(
        &self,
        user: &str,
        redirect_uri: &str,
        scopes: &GrantedScopes,
        code_challenge: Option<String>,
    ) -> String {
        let code = random_hex(32);
        let expires_at = self.now() + Duration::minutes(CODE_MINUTES);
        self.state().codes.insert(
            code.clone(),
            AuthCode {
                user: user.to_string(),
                redirect_uri: redirect_uri.to_string(),
                scope_text: scopes.text.clone(),
                scopes: scopes.set.clone(),
                code_challenge,
                expires_at,
                used: false,
            },
        );
        code
    }

    /// Records a new grant and indexes its tokens; returns its index.
    fn issue_grant(
        &self,
        st: &mut SimState,
        user: &str,
        via: CreatedWith,
        scopes: &GrantedScopes,
        now: DateTime<Utc>,
    ) -> usize {
        let (expires_at, refresh_token) = match via {
            CreatedWith::OAuth => (Some(now + Duration::seconds(ACCESS_TOKEN_SECONDS)), Some(random_hex(32))),
            CreatedWith::Pat => (None, None),
        };
        let access_token = self.jwt_shaped_token(user, via, &scopes.text, now, expires_at);
        let index = st.grants.len();
        st.tokens.insert(access_token.clone(), TokenRef { grant: index, kind: TokenKind::Access });
        if let Some(refresh) = &refresh_token {
            st.tokens.insert(refresh.clone(), TokenRef { grant: index, kind: TokenKind::Refresh });
        }
        st.grants.push(Grant {
            user: user.to_string(),
            via,
            access_token,
            refresh_token,
            scope_text: scopes.text.clone(),
            scopes: scopes.set.clone(),
            issued_at: now,
            expires_at,
            revoked: false,
            refresh_used: false,
        });
        index
    }

    /// Calendly's access tokens are JWTs since 2021; clients must not size-limit them.
    fn jwt_shaped_token(
        &self,
        user: &str,
        via: CreatedWith,
        scope: &str,
        now: DateTime<Utc>,
        expires_at: Option<DateTime<Utc>>,
    ) -> String {
        let header = serde_json::json!({"alg": "HS256", "typ": if via == CreatedWith::Pat { "PAT" } else { "JWT" }});
        let claims = serde_json::json!({
            "iss": self.base_url(),
            "iat": now.timestamp(),
            "exp": expires_at.map(|at| at.timestamp()),
            "jti": new_uuid(),
            "user_uuid": user,
            "app_uid": self.config().client_id,
            "scope": scope,
        });
        let signing_input =
            format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
        let mac = hex::decode(sign(&self.config().client_secret, 0, signing_input.as_bytes())).unwrap_or_default();
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(mac))
    }

    fn token_response(&self, st: &SimState, index: usize) -> TokenResponse {
        let grant = &st.grants[index];
        let org = st.users.get(&grant.user).map(|u| u.org.clone()).unwrap_or_default();
        TokenResponse {
            token_type: "Bearer",
            expires_in: ACCESS_TOKEN_SECONDS,
            created_at: grant.issued_at.timestamp(),
            refresh_token: grant.refresh_token.clone().unwrap_or_default(),
            access_token: grant.access_token.clone(),
            scope: grant.scope_text.clone(),
            owner: self.uri("users", &grant.user),
            organization: self.uri("organizations", &org),
        }
    }

    fn client_is_valid(&self, id: Option<&str>, secret: Option<&str>) -> bool {
        id == Some(self.config().client_id.as_str()) && secret == Some(self.config().client_secret.as_str())
    }

    /// Counts one token issuance against the user's 8-per-minute budget.
    fn allow_token_issuance(st: &mut SimState, user: &str, now: DateTime<Utc>) -> bool {
        st.token_issuance.entry(user.to_string()).or_insert_with(|| Window::new(now)).hit(now, TOKENS_PER_MINUTE).allowed
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
        let record = st.codes.get(code).filter(|c| !c.used && c.expires_at > now).ok_or_else(OAuthError::invalid_grant)?;
        if params.get("redirect_uri") != Some(&record.redirect_uri) {
            return Err(OAuthError::invalid_grant());
        }
        if let Some(challenge) = &record.code_challenge {
            let verifier = params.get("code_verifier").ok_or_else(|| {
                OAuthError::invalid_request("The code_verifier parameter is required because a code_challenge was sent.")
            })?;
            if URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) != *challenge {
                return Err(OAuthError::invalid_grant());
            }
        }
        let user = record.user.clone();
        let scopes = GrantedScopes { text: record.scope_text.clone(), set: record.scopes.clone() };
        if !Self::allow_token_issuance(&mut st, &user, now) {
            return Err(OAuthError::too_many_tokens());
        }
        if let Some(record) = st.codes.get_mut(code) {
            record.used = true;
        }
        let index = self.issue_grant(&mut st, &user, CreatedWith::OAuth, &scopes, now);
        Ok(self.token_response(&st, index))
    }

    fn exchange_refresh_token(&self, params: &HashMap<String, String>) -> Result<TokenResponse, OAuthError> {
        let refresh = params.get("refresh_token").ok_or_else(OAuthError::malformed)?;
        let now = self.now();
        let mut st = self.state();
        let old = st
            .tokens
            .get(refresh)
            .filter(|r| r.kind == TokenKind::Refresh)
            .map(|r| r.grant)
            .filter(|&i| !st.grants[i].revoked && !st.grants[i].refresh_used && st.grants[i].via == CreatedWith::OAuth)
            .ok_or_else(OAuthError::invalid_grant)?;
        let user = st.grants[old].user.clone();
        let scopes = GrantedScopes { text: st.grants[old].scope_text.clone(), set: st.grants[old].scopes.clone() };
        if !Self::allow_token_issuance(&mut st, &user, now) {
            return Err(OAuthError::too_many_tokens());
        }
        // Rotation: the used refresh token dies now; its access token lives out its 2 hours.
        st.grants[old].refresh_used = true;
        let index = self.issue_grant(&mut st, &user, CreatedWith::OAuth, &scopes, now);
        Ok(self.token_response(&st, index))
    }

    fn introspection(&self, token: &str) -> Introspection {
        let now = self.now();
        let st = self.state();
        let Some(r) = st.tokens.get(token) else { return Introspection::default() };
        let grant = &st.grants[r.grant];
        let active = !grant.revoked
            && match r.kind {
                TokenKind::Access => grant.expires_at.is_none_or(|at| at > now),
                TokenKind::Refresh => !grant.refresh_used,
            };
        if !active {
            return Introspection::default();
        }
        let org = st.users.get(&grant.user).map(|u| u.org.clone()).unwrap_or_default();
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

/// The uuid of a user that must exist (library helpers panic otherwise).
fn known_user(st: &SimState, user_uri: &str) -> String {
    match id_of(user_uri, "users").filter(|id| st.users.contains_key(*id)) {
        Some(id) => id.to_string(),
        None => panic!("calendly-sim: no user with URI {user_uri}"),
    }
}

/// The body as a flat map: JSON when the Content-Type says so, else form-urlencoded.
pub(crate) fn parse_params(headers: &HeaderMap, body: &[u8]) -> Result<HashMap<String, String>, OAuthError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("json"));
    if !is_json {
        return Ok(url::form_urlencoded::parse(body).into_owned().filter(|(_, v)| !v.is_empty()).collect());
    }
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|_| OAuthError::malformed())?;
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
        .and_then(|pair| pair.split_once(':').map(|(id, secret)| (id.to_string(), secret.to_string())));
    match basic {
        Some((id, secret)) => (Some(id), Some(secret)),
        None => (params.get("client_id").cloned(), params.get("client_secret").cloned()),
    }
}

/// `POST /oauth/token`: `authorization_code` and `refresh_token` grants.
#[tracing::instrument(skip_all)]
pub(crate) async fn token(State(sim): State<Simulator>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    let Ok(body) = body else { return OAuthError::malformed().into_response() };
    match sim.exchange(&headers, body) {
        Ok(tokens) => {
            let mut response = Json(tokens).into_response();
            response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(error) => error.into_response(),
    }
}

/// `POST /oauth/revoke`: 200 with an empty body, whether or not the token existed (RFC 7009).
#[tracing::instrument(skip_all)]
pub(crate) async fn revoke(State(sim): State<Simulator>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    let Ok(body) = body else { return OAuthError::malformed().into_response() };
    let params = match parse_params(&headers, &body) {
        Ok(params) => params,
        Err(error) => return error.into_response(),
    };
    let (id, secret) = client_credentials(&headers, &params);
    if !sim.client_is_valid(id.as_deref(), secret.as_deref()) {
        return OAuthError::unauthorized_client().into_response();
    }
    let Some(token) = params.get("token") else { return OAuthError::malformed().into_response() };
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
    let Ok(body) = body else { return OAuthError::malformed().into_response() };
    let params = match parse_params(&headers, &body) {
        Ok(params) => params,
        Err(error) => return error.into_response(),
    };
    let (id, secret) = client_credentials(&headers, &params);
    if !sim.client_is_valid(id.as_deref(), secret.as_deref()) {
        return OAuthError::invalid_client().into_response();
    }
    let Some(token) = params.get("token") else { return OAuthError::malformed().into_response() };
    Json(sim.introspection(token)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_checked_against_the_catalog() {
        assert_eq!(GrantedScopes::parse(None), Some(GrantedScopes::legacy()));
        assert_eq!(GrantedScopes::parse(Some("default")), Some(GrantedScopes::legacy()));
        let granted = GrantedScopes::parse(Some("users:read webhooks:write users:read")).unwrap();
        assert_eq!(granted.text, "users:read webhooks:write");
        assert_eq!(GrantedScopes::parse(Some("users:read calendar:all")), None);
    }

    #[test]
    fn write_scopes_imply_read_scopes_of_the_same_domain() {
        let set: BTreeSet<String> = ["webhooks:write".to_string()].into();
        assert!(scope_allows(Some(&set), "webhooks:read"));
        assert!(scope_allows(Some(&set), "webhooks:write"));
        assert!(!scope_allows(Some(&set), "users:read"));
        assert!(scope_allows(None, "users:read"));
    }
}
