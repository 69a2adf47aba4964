//! Grants: minting access / refresh / personal access tokens and authorization codes, and the
//! library helpers tests use to connect users without a browser.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};

use crate::config::{new_uuid, random_hex};
use crate::scopes::GrantedScopes;
use crate::signature::sign;
use crate::state::{id_of, AuthCode, Grant, State as SimState, TokenKind, TokenRef};
use crate::subscriptions::CreatedWith;
use crate::Simulator;

/// Access-token lifetime.
pub(crate) const ACCESS_TOKEN_SECONDS: i64 = 7200;
/// Authorization-code lifetime.
pub(crate) const CODE_MINUTES: i64 = 10;

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
            expires_in: response.expires_in.unwrap_or(ACCESS_TOKEN_SECONDS),
            owner: response.owner.unwrap_or_default(),
            organization: response.organization.unwrap_or_default(),
        }
    }

    /// Revokes every token of the user, OAuth and personal (as a password or email change does).
    pub fn revoke_all_tokens(&self, user_uri: &str) {
        let mut st = self.state();
        let Some(user) = id_of(user_uri, "users").map(String::from) else {
            return;
        };
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
    pub(crate) fn issue_grant(
        &self,
        st: &mut SimState,
        user: &str,
        via: CreatedWith,
        scopes: &GrantedScopes,
        now: DateTime<Utc>,
    ) -> usize {
        let (expires_at, refresh_token) = match via {
            CreatedWith::OAuth => (
                Some(now + Duration::seconds(ACCESS_TOKEN_SECONDS)),
                Some(random_hex(32)),
            ),
            CreatedWith::Pat => (None, None),
        };
        let access_token = self.jwt_shaped_token(user, via, &scopes.text, now, expires_at);
        let index = st.grants.len();
        st.tokens.insert(
            access_token.clone(),
            TokenRef {
                grant: index,
                kind: TokenKind::Access,
            },
        );
        if let Some(refresh) = &refresh_token {
            st.tokens.insert(
                refresh.clone(),
                TokenRef {
                    grant: index,
                    kind: TokenKind::Refresh,
                },
            );
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
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mac = hex::decode(sign(
            &self.config().client_secret,
            0,
            signing_input.as_bytes(),
        ))
        .unwrap_or_default();
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(mac))
    }
}

/// The uuid of a user that must exist (library helpers panic otherwise).
fn known_user(st: &SimState, user_uri: &str) -> String {
    match id_of(user_uri, "users").filter(|id| st.users.contains_key(*id)) {
        Some(id) => id.to_string(),
        None => panic!("calendly-sim: no user with URI {user_uri}"),
    }
}
