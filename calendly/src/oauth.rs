//! Calendly's OAuth 2 authorisation-code flow (with PKCE), refresh and revoke, on the `oauth2` crate.
//!
//! Calendly rotates refresh tokens: every successful refresh returns a new refresh token and
//! kills the old one, so callers must store the returned [`TokenSet`] every time and must not
//! refresh the same token twice concurrently.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;

use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AsyncHttpClient, AuthUrl, AuthorizationCode, ClientId, CsrfToken, EndpointNotSet, EndpointSet,
    ExtraTokenFields, HttpClientError, HttpRequest, HttpResponse, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope, StandardRevocableToken,
    StandardTokenResponse, TokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::{rate_limit_reset, Error, DEFAULT_RATE_LIMIT_RESET_SECS};
use crate::ids::{CalendlyUserUri, OrganizationUri};
use crate::secrets::{AccessToken, ClientSecret, RefreshToken};

/// A `reqwest` client fit for OAuth and the API: it never follows redirects (a redirect from a
/// token endpoint must not be replayed with credentials) and gives up after `timeout`.
pub fn http_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .user_agent(concat!("advicly-calendly/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("the TLS backend initialises")
}

/// The OAuth application's settings.
#[derive(Debug, Clone)]
pub struct OAuthSettings {
    pub client_id: String,
    pub client_secret: ClientSecret,
    /// e.g. `https://auth.calendly.com` (the simulator's base URL in tests).
    pub auth_base_url: Url,
    /// Where Calendly sends the browser back; must be registered with the app.
    pub redirect_url: Url,
}

/// Where to send the browser, and what to remember (server-side) until it comes back.
#[derive(Clone)]
pub struct AuthorizeRequest {
    pub url: Url,
    /// Random CSRF state; compare with the `state` query parameter of the callback.
    pub state: String,
    /// PKCE verifier to pass to [`CalendlyOAuth::exchange_code`].
    pub pkce_verifier: String,
}

impl fmt::Debug for AuthorizeRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizeRequest")
            .field("url", &self.url.as_str())
            .field("state", &self.state)
            .field("pkce_verifier", &"***")
            .finish()
    }
}

/// What a successful code exchange or refresh returns.
#[derive(Debug, Clone)]
pub struct TokenSet {
    pub access_token: AccessToken,
    /// Single-use: replaces the previous refresh token.
    pub refresh_token: RefreshToken,
    /// Seconds the access token lives; [`DEFAULT_EXPIRES_IN_SECS`] when Calendly leaves it out.
    pub expires_in: i64,
    /// Unix seconds when Calendly issued the token.
    pub created_at: Option<i64>,
    /// Granted scopes, space-separated (`"default"` for legacy apps).
    pub scope: Option<String>,
    /// The Calendly user who authorised the app. Optional: a refresh answer may leave it out,
    /// and the new tokens must be kept whatever else is missing (calendly-api.md §0).
    pub owner: Option<CalendlyUserUri>,
    pub organization: Option<OrganizationUri>,
}

/// Calendly's access tokens live two hours.
pub const DEFAULT_EXPIRES_IN_SECS: i64 = 7200;
/// The longest access-token lifetime believed.
pub const MAX_EXPIRES_IN_SECS: i64 = 24 * 3600;

/// Calendly's additions to the RFC 6749 token response.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CalendlyTokenFields {
    #[serde(default, deserialize_with = "crate::lenient::lenient_option")]
    created_at: Option<i64>,
    #[serde(default, deserialize_with = "crate::lenient::lenient_option")]
    owner: Option<String>,
    #[serde(default, deserialize_with = "crate::lenient::lenient_option")]
    organization: Option<String>,
}

impl ExtraTokenFields for CalendlyTokenFields {}

type CalendlyTokenResponse = StandardTokenResponse<CalendlyTokenFields, BasicTokenType>;

type OAuthClient = oauth2::Client<
    BasicErrorResponse,
    CalendlyTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

type TokenError = RequestTokenError<HttpClientError<reqwest::Error>, BasicErrorResponse>;

/// Calendly's OAuth endpoints (`/oauth/authorize`, `/oauth/token`, `/oauth/revoke`).
#[derive(Clone)]
pub struct CalendlyOAuth {
    client: OAuthClient,
    client_id: String,
    client_secret: ClientSecret,
    revoke_url: Url,
    http: reqwest::Client,
}

impl fmt::Debug for CalendlyOAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CalendlyOAuth")
            .field("client_id", &self.client_id)
            .field("token_url", &self.client.token_uri().as_str())
            .finish_non_exhaustive()
    }
}

/// `base` with `segments` appended to its path (keeps any path prefix of the base).
pub(crate) fn endpoint(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    url.set_query(None);
    url.set_fragment(None);
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    url
}

impl CalendlyOAuth {
    /// `http` should come from [`http_client`] (no redirects).
    pub fn new(settings: OAuthSettings, http: reqwest::Client) -> Self {
        let auth_url = endpoint(&settings.auth_base_url, &["oauth", "authorize"]);
        let token_url = endpoint(&settings.auth_base_url, &["oauth", "token"]);
        let revoke_url = endpoint(&settings.auth_base_url, &["oauth", "revoke"]);
        let client: OAuthClient = oauth2::Client::<
            BasicErrorResponse,
            CalendlyTokenResponse,
            BasicTokenIntrospectionResponse,
            StandardRevocableToken,
            BasicRevocationErrorResponse,
        >::new(ClientId::new(settings.client_id.clone()))
        .set_client_secret(oauth2::ClientSecret::new(
            settings.client_secret.expose_secret().to_owned(),
        ))
        .set_auth_uri(AuthUrl::from_url(auth_url))
        .set_token_uri(TokenUrl::from_url(token_url))
        .set_redirect_uri(RedirectUrl::from_url(settings.redirect_url));
        CalendlyOAuth {
            client,
            client_id: settings.client_id,
            client_secret: settings.client_secret,
            revoke_url,
            http,
        }
    }

    /// Builds the consent URL: `response_type=code`, PKCE S256, a random `state`, and `scopes`
    /// space-separated (e.g. [`crate::REQUIRED_SCOPES`] split on spaces).
    pub fn authorize_url(&self, scopes: &[&str]) -> AuthorizeRequest {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state) = self
            .client
            .authorize_url(CsrfToken::new_random)
            .add_scopes(scopes.iter().map(|scope| Scope::new((*scope).to_owned())))
            .set_pkce_challenge(challenge)
            .url();
        AuthorizeRequest {
            url,
            state: state.into_secret(),
            pkce_verifier: verifier.into_secret(),
        }
    }

    /// Trades the callback's `code` for tokens (client authenticated with HTTP Basic).
    #[tracing::instrument(name = "calendly.oauth.exchange_code", skip_all)]
    pub async fn exchange_code(&self, code: &str, pkce_verifier: &str) -> Result<TokenSet, Error> {
        let http = RecordingClient::new(&self.http);
        let result = self
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()))
            .request_async(&http)
            .await;
        finish(result, &http)
    }

    /// Trades a refresh token for a new token set. `Err(Error::InvalidGrant)` means the token
    /// was already used or revoked: the user must connect again.
    #[tracing::instrument(name = "calendly.oauth.refresh", skip_all)]
    pub async fn refresh(&self, refresh: &RefreshToken) -> Result<TokenSet, Error> {
        let http = RecordingClient::new(&self.http);
        let token = oauth2::RefreshToken::new(refresh.expose_secret().to_owned());
        let result = self
            .client
            .exchange_refresh_token(&token)
            .request_async(&http)
            .await;
        finish(result, &http)
    }

    /// Revokes an access or refresh token. Calendly wants the client credentials in the form
    /// body here, so this one is plain `reqwest`.
    #[tracing::instrument(name = "calendly.oauth.revoke", skip_all)]
    pub async fn revoke(&self, token: &str) -> Result<(), Error> {
        let response = self
            .http
            .post(self.revoke_url.clone())
            .form(&[
                ("client_id", self.client_id.as_str()),
                ("client_secret", self.client_secret.expose_secret()),
                ("token", token),
            ])
            .send()
            .await?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let reset = rate_limit_reset(response.headers());
        let body = response.bytes().await?;
        let error = oauth_error(status.as_u16(), reset, parse_rfc_error(&body));
        tracing::warn!(status = status.as_u16(), %error, "Calendly refused to revoke a token");
        Err(error)
    }
}

/// Wraps the `reqwest` client to remember the status and rate-limit header of the token
/// endpoint's answer, which the `oauth2` crate does not report for error bodies it cannot parse.
///
/// Why a named type without lifetime parameters (owning a cheap clone of the client) rather
/// than a closure or a borrowing wrapper: either of those leaves a higher-ranked lifetime in
/// `oauth2`'s future, and the compiler then refuses it as `Send` ("implementation of `Send` is
/// not general enough"), which breaks axum handlers and `tokio::spawn`. See the
/// `every_future_is_send` test.
struct RecordingClient {
    http: reqwest::Client,
    seen: Mutex<Option<(u16, Option<u64>)>>,
}

impl RecordingClient {
    fn new(http: &reqwest::Client) -> Self {
        RecordingClient {
            http: http.clone(),
            seen: Mutex::new(None),
        }
    }

    fn seen(&self) -> Option<(u16, Option<u64>)> {
        *self
            .seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl<'c> AsyncHttpClient<'c> for RecordingClient {
    type Error = HttpClientError<reqwest::Error>;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, Self::Error>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let response = self.http.call(request).await?;
            let seen = (
                response.status().as_u16(),
                rate_limit_reset(response.headers()),
            );
            *self
                .seen
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(seen);
            Ok(response)
        })
    }
}

/// Turns the `oauth2` crate's result into a [`TokenSet`] or one of our errors.
fn finish(
    result: Result<CalendlyTokenResponse, TokenError>,
    http: &RecordingClient,
) -> Result<TokenSet, Error> {
    let outcome = match result {
        Ok(response) => token_set(response),
        Err(err) => Err(token_error(err, http.seen())),
    };
    if let Err(error) = &outcome {
        tracing::warn!(%error, "Calendly token request failed");
    }
    outcome
}

fn token_set(response: CalendlyTokenResponse) -> Result<TokenSet, Error> {
    let missing = |field: &str| Error::Decode(format!("token response has no {field}"));
    let extra = response.extra_fields();
    // Only the two tokens are essential. Anything else odd is logged and left out, because a
    // refresh answer that is thrown away loses the rotated refresh token for good.
    let uri = |field: &'static str, value: Option<&str>| -> Option<String> {
        let value = value?;
        if value.is_empty() {
            return None;
        }
        Some(value.to_owned()).filter(|_| {
            let ok = url::Url::parse(value).is_ok();
            if !ok {
                tracing::warn!(field, "token response carried an unreadable URI; ignored");
            }
            ok
        })
    };
    let owner = uri("owner", extra.owner.as_deref()).and_then(|v| CalendlyUserUri::parse(&v).ok());
    let organization = uri("organization", extra.organization.as_deref())
        .and_then(|v| OrganizationUri::parse(&v).ok());
    Ok(TokenSet {
        access_token: AccessToken::new(response.access_token().secret().clone()),
        refresh_token: RefreshToken::new(
            response
                .refresh_token()
                .ok_or_else(|| missing("refresh_token"))?
                .secret()
                .clone(),
        ),
        expires_in: response
            .expires_in()
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .filter(|secs| *secs > 0)
            // Never trust a lifetime beyond a day (or an overflowing one): refreshing early is
            // harmless, using a dead token is not.
            .map(|secs| secs.min(MAX_EXPIRES_IN_SECS))
            .unwrap_or(DEFAULT_EXPIRES_IN_SECS),
        created_at: extra.created_at,
        scope: response.scopes().map(|scopes| {
            scopes
                .iter()
                .map(|scope| scope.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        }),
        owner,
        organization,
    })
}

fn token_error(err: TokenError, seen: Option<(u16, Option<u64>)>) -> Error {
    let (status, reset) = seen.unwrap_or((0, None));
    match err {
        RequestTokenError::ServerResponse(response) => oauth_error(
            status,
            reset,
            Some(RfcError {
                error: response.error().as_ref().to_owned(),
                error_description: response.error_description().cloned(),
            }),
        ),
        RequestTokenError::Request(err) => Error::Transport(error_chain(&err)),
        // Never echo a successful response's body: it holds the tokens.
        RequestTokenError::Parse(err, _) if status == 200 => {
            Error::Decode(format!("token response: {err}"))
        }
        RequestTokenError::Parse(_, body) => oauth_error(status, reset, parse_rfc_error(&body)),
        RequestTokenError::Other(message) => match oauth_error(status, reset, None) {
            Error::Decode(_) => Error::Decode(message),
            other => other,
        },
    }
}

/// RFC 6749 §5.2 error body: `{"error": "...", "error_description": "..."}`.
struct RfcError {
    error: String,
    error_description: Option<String>,
}

fn parse_rfc_error(body: &[u8]) -> Option<RfcError> {
    #[derive(Deserialize)]
    struct Wire {
        error: String,
        #[serde(default)]
        error_description: Option<String>,
    }
    let wire: Wire = serde_json::from_slice(body).ok()?;
    Some(RfcError {
        error: wire.error,
        error_description: wire.error_description,
    })
}

/// Maps an OAuth endpoint's failure. Rate limits and server errors win over the body, so a
/// transient failure is never mistaken for a dead grant.
fn oauth_error(status: u16, reset: Option<u64>, body: Option<RfcError>) -> Error {
    match (status, body) {
        (429, _) => Error::RateLimited {
            reset_secs: reset.unwrap_or(DEFAULT_RATE_LIMIT_RESET_SECS),
        },
        (500.., _) => Error::Server { status },
        (_, Some(rfc)) if rfc.error == "invalid_grant" => Error::InvalidGrant {
            description: rfc.error_description.unwrap_or_default(),
        },
        (_, Some(rfc)) => Error::OAuth {
            error: rfc.error,
            description: rfc.error_description.unwrap_or_default(),
        },
        (status, None) => Error::Decode(format!(
            "HTTP {status} from the OAuth server without an OAuth error body"
        )),
    }
}

/// An error and its sources on one line (the `oauth2` wrappers hide the useful part in sources).
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_keep_the_base_path_prefix() {
        let base = Url::parse("http://127.0.0.1:9000").unwrap();
        assert_eq!(
            endpoint(&base, &["oauth", "token"]).as_str(),
            "http://127.0.0.1:9000/oauth/token"
        );
        let prefixed = Url::parse("http://127.0.0.1:9000/auth/").unwrap();
        assert_eq!(
            endpoint(&prefixed, &["oauth", "token"]).as_str(),
            "http://127.0.0.1:9000/auth/oauth/token"
        );
    }

    #[test]
    fn rate_limits_and_server_errors_win_over_the_body() {
        let grant = || {
            Some(RfcError {
                error: "invalid_grant".into(),
                error_description: None,
            })
        };
        assert_eq!(
            oauth_error(429, Some(7), grant()),
            Error::RateLimited { reset_secs: 7 }
        );
        assert_eq!(
            oauth_error(503, None, grant()),
            Error::Server { status: 503 }
        );
        assert!(oauth_error(400, None, grant()).is_invalid_grant());
    }

    #[test]
    fn the_documented_token_response_becomes_a_token_set() {
        let response: CalendlyTokenResponse =
            serde_json::from_str(include_str!("../tests/fixtures/token_response.json")).unwrap();
        let tokens = token_set(response).unwrap();
        assert_eq!(tokens.expires_in, 7200);
        assert_eq!(tokens.created_at, Some(1548689183));
        assert_eq!(tokens.scope.as_deref(), Some("default"));
        assert_eq!(tokens.owner.as_ref().unwrap().uuid(), "EBHAAFHDCAEQTSEZ");
        assert_eq!(
            tokens.organization.as_ref().unwrap().uuid(),
            "EBHAAFHDCAEQTSEZ"
        );
        assert_eq!(
            tokens.refresh_token.expose_secret(),
            "b77a76ffce83d3bc20531ddfa76704e584f0ee963f6041b8bfc70c91373267d5"
        );
        assert!(!format!("{tokens:?}").contains("b77a76ff"));
    }

    #[test]
    fn an_absurd_token_lifetime_is_clamped() {
        let response: CalendlyTokenResponse = serde_json::from_str(
            r#"{"access_token":"a","refresh_token":"r","token_type":"Bearer","expires_in":18446744073709551615}"#,
        )
        .unwrap();
        assert_eq!(token_set(response).unwrap().expires_in, MAX_EXPIRES_IN_SECS);
    }

    #[test]
    fn a_refresh_answer_with_only_the_tokens_still_becomes_a_token_set() {
        let response: CalendlyTokenResponse = serde_json::from_str(
            r#"{"access_token":"new-access","refresh_token":"new-refresh","token_type":"Bearer","created_at":null,"owner":null,"organization":"not a uri"}"#,
        )
        .unwrap();
        let tokens = token_set(response).unwrap();
        assert_eq!(tokens.refresh_token.expose_secret(), "new-refresh");
        assert_eq!(tokens.expires_in, DEFAULT_EXPIRES_IN_SECS);
        assert_eq!(tokens.owner, None);
        assert_eq!(tokens.organization, None);
    }
}
