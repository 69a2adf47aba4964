//! The OAuth helper against a mock Calendly auth server.

mod common;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use calendly::oauth::{CalendlyOAuth, OAuthSettings};
use calendly::secrets::{ClientSecret, RefreshToken};
use calendly::Error;
use common::{fixture, http, Mock, Reply};
use serde_json::json;
use sha2::{Digest, Sha256};
use url::Url;

const REDIRECT: &str = "http://localhost:3000/connections/calendly/callback";

fn oauth(base: &Url) -> CalendlyOAuth {
    CalendlyOAuth::new(
        OAuthSettings {
            client_id: "client-id".into(),
            client_secret: ClientSecret::new("client-secret".into()),
            auth_base_url: base.clone(),
            redirect_url: Url::parse(REDIRECT).unwrap(),
        },
        http(),
    )
}

fn query(url: &Url, key: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

#[test]
fn the_authorize_url_carries_code_pkce_state_and_scopes() {
    let oauth = oauth(&Url::parse("https://auth.calendly.com").unwrap());
    let scopes: Vec<&str> = calendly::REQUIRED_SCOPES.split(' ').collect();

    let request = oauth.authorize_url(&scopes);

    let url = &request.url;
    assert_eq!(
        url.origin().ascii_serialization(),
        "https://auth.calendly.com"
    );
    assert_eq!(url.path(), "/oauth/authorize");
    assert_eq!(query(url, "response_type").as_deref(), Some("code"));
    assert_eq!(query(url, "client_id").as_deref(), Some("client-id"));
    assert_eq!(query(url, "redirect_uri").as_deref(), Some(REDIRECT));
    assert_eq!(
        query(url, "scope").as_deref(),
        Some(calendly::REQUIRED_SCOPES)
    );
    assert_eq!(query(url, "state"), Some(request.state.clone()));
    assert_eq!(query(url, "code_challenge_method").as_deref(), Some("S256"));
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(request.pkce_verifier.as_bytes()));
    assert_eq!(query(url, "code_challenge"), Some(challenge));
    assert!(!format!("{request:?}").contains(&request.pkce_verifier));

    let again = oauth.authorize_url(&scopes);
    assert_ne!(again.state, request.state);
    assert_ne!(again.pkce_verifier, request.pkce_verifier);
}

#[tokio::test]
async fn exchanging_a_code_posts_basic_auth_and_the_form() {
    let mock = Mock::start(Reply::json(200, fixture("token_response.json"))).await;

    let tokens = oauth(&mock.base)
        .exchange_code("f04281d6", "the-verifier")
        .await
        .unwrap();

    let request = mock.only_request();
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/oauth/token");
    let basic = format!("Basic {}", STANDARD.encode("client-id:client-secret"));
    assert_eq!(request.header("authorization"), Some(basic.as_str()));
    assert!(request
        .header("content-type")
        .unwrap()
        .starts_with("application/x-www-form-urlencoded"));
    assert_eq!(
        request.form_value("grant_type").as_deref(),
        Some("authorization_code")
    );
    assert_eq!(request.form_value("code").as_deref(), Some("f04281d6"));
    assert_eq!(
        request.form_value("redirect_uri").as_deref(),
        Some(REDIRECT)
    );
    assert_eq!(
        request.form_value("code_verifier").as_deref(),
        Some("the-verifier")
    );
    assert_eq!(request.form_value("client_secret"), None);

    assert!(tokens
        .access_token
        .expose_secret()
        .starts_with("eyJhbGciOiJIUzI1NiJ9."));
    assert_eq!(
        tokens.refresh_token.expose_secret(),
        "b77a76ffce83d3bc20531ddfa76704e584f0ee963f6041b8bfc70c91373267d5"
    );
    assert_eq!(tokens.expires_in, 7200);
    assert_eq!(tokens.created_at, Some(1548689183));
    assert_eq!(tokens.scope.as_deref(), Some("default"));
    assert_eq!(
        tokens.owner.as_ref().unwrap().as_str(),
        "https://api.calendly.com/users/EBHAAFHDCAEQTSEZ"
    );
    assert_eq!(
        tokens.organization.as_ref().unwrap().as_str(),
        "https://api.calendly.com/organizations/EBHAAFHDCAEQTSEZ"
    );
}

#[tokio::test]
async fn refreshing_posts_the_refresh_token_grant_and_returns_the_new_refresh_token() {
    let mut body = fixture("token_response.json");
    body["refresh_token"] = "rotated-refresh-token".into();
    body["scope"] = calendly::REQUIRED_SCOPES.into();
    let mock = Mock::start(Reply::json(200, body)).await;

    let tokens = oauth(&mock.base)
        .refresh(&RefreshToken::new("old-refresh-token".into()))
        .await
        .unwrap();

    let request = mock.only_request();
    assert_eq!(request.path, "/oauth/token");
    assert!(request
        .header("authorization")
        .unwrap()
        .starts_with("Basic "));
    assert_eq!(
        request.form_value("grant_type").as_deref(),
        Some("refresh_token")
    );
    assert_eq!(
        request.form_value("refresh_token").as_deref(),
        Some("old-refresh-token")
    );
    assert_eq!(
        tokens.refresh_token.expose_secret(),
        "rotated-refresh-token"
    );
    assert_eq!(tokens.scope.as_deref(), Some(calendly::REQUIRED_SCOPES));
}

#[tokio::test]
async fn a_reused_refresh_token_is_invalid_grant() {
    let mock = Mock::start(Reply::json(
        400,
        json!({"error": "invalid_grant", "error_description": "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client."}),
    ))
    .await;

    let error = oauth(&mock.base)
        .refresh(&RefreshToken::new("used-refresh-token".into()))
        .await
        .unwrap_err();

    assert!(error.is_invalid_grant(), "{error:?}");
    assert!(!error.is_transient());
}

#[tokio::test]
async fn an_expired_code_is_invalid_grant() {
    let mock = Mock::start(Reply::json(400, json!({"error": "invalid_grant"}))).await;

    let error = oauth(&mock.base)
        .exchange_code("stale", "v")
        .await
        .unwrap_err();

    assert_eq!(
        error,
        Error::InvalidGrant {
            description: String::new()
        }
    );
}

#[tokio::test]
async fn a_wrong_client_secret_is_an_oauth_error_not_invalid_grant() {
    let mock = Mock::start(Reply::json(
        401,
        json!({"error": "invalid_client", "error_description": "Client authentication failed."}),
    ))
    .await;

    let error = oauth(&mock.base)
        .refresh(&RefreshToken::new("r".into()))
        .await
        .unwrap_err();

    assert_eq!(
        error,
        Error::OAuth {
            error: "invalid_client".into(),
            description: "Client authentication failed.".into()
        }
    );
    assert!(!error.is_invalid_grant());
}

#[tokio::test]
async fn a_429_at_the_token_endpoint_is_rate_limited_not_a_dead_grant() {
    let mock = Mock::start(Reply::empty(429).with_header("x-ratelimit-reset", "42")).await;

    let error = oauth(&mock.base)
        .refresh(&RefreshToken::new("r".into()))
        .await
        .unwrap_err();

    assert_eq!(error, Error::RateLimited { reset_secs: 42 });
    assert!(error.is_transient());
}

#[tokio::test]
async fn a_503_at_the_token_endpoint_is_transient() {
    let mock = Mock::start(
        Reply::empty(503)
            .with_header("content-type", "text/html")
            .with_body("<html>down</html>"),
    )
    .await;

    let error = oauth(&mock.base)
        .refresh(&RefreshToken::new("r".into()))
        .await
        .unwrap_err();

    assert_eq!(error, Error::Server { status: 503 });
    assert!(error.is_transient());
}

#[tokio::test]
async fn a_refresh_answer_without_owner_organization_or_expiry_still_yields_the_new_tokens() {
    let mut body = fixture("token_response.json");
    for field in ["owner", "organization", "expires_in"] {
        body.as_object_mut().unwrap().remove(field);
    }
    let mock = Mock::start(Reply::json(200, body)).await;

    let tokens = oauth(&mock.base)
        .refresh(&RefreshToken::new("r".into()))
        .await
        .unwrap();

    assert_eq!(tokens.owner, None);
    assert_eq!(tokens.organization, None);
    assert_eq!(tokens.expires_in, calendly::oauth::DEFAULT_EXPIRES_IN_SECS);
    assert_eq!(
        tokens.refresh_token.expose_secret(),
        "b77a76ffce83d3bc20531ddfa76704e584f0ee963f6041b8bfc70c91373267d5"
    );
}

#[tokio::test]
async fn a_token_response_without_a_refresh_token_is_a_decode_error() {
    let mut body = fixture("token_response.json");
    body.as_object_mut().unwrap().remove("refresh_token");
    let mock = Mock::start(Reply::json(200, body)).await;

    let error = oauth(&mock.base).exchange_code("c", "v").await.unwrap_err();

    assert!(
        matches!(&error, Error::Decode(message) if message.contains("refresh_token")),
        "{error:?}"
    );
}

#[tokio::test]
async fn an_unreachable_token_endpoint_is_a_transport_error() {
    let base = common::unreachable_base().await;

    let error = oauth(&base).exchange_code("c", "v").await.unwrap_err();

    assert!(matches!(error, Error::Transport(_)), "{error:?}");
    assert!(error.is_transient());
}

#[tokio::test]
async fn revoking_posts_client_credentials_and_the_token_in_the_form() {
    let mock = Mock::start(Reply::empty(200)).await;

    oauth(&mock.base).revoke("token-to-revoke").await.unwrap();

    let request = mock.only_request();
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/oauth/revoke");
    assert!(request
        .header("content-type")
        .unwrap()
        .starts_with("application/x-www-form-urlencoded"));
    assert_eq!(
        request.form_value("client_id").as_deref(),
        Some("client-id")
    );
    assert_eq!(
        request.form_value("client_secret").as_deref(),
        Some("client-secret")
    );
    assert_eq!(
        request.form_value("token").as_deref(),
        Some("token-to-revoke")
    );
}

#[tokio::test]
async fn a_refused_revoke_maps_the_oauth_error() {
    let mock = Mock::start(Reply::json(
        400,
        json!({"error": "invalid_request", "error_description": "The request is missing a required parameter."}),
    ))
    .await;

    let error = oauth(&mock.base).revoke("t").await.unwrap_err();

    assert_eq!(
        error,
        Error::OAuth {
            error: "invalid_request".into(),
            description: "The request is missing a required parameter.".into()
        }
    );
}

/// Axum handlers and `tokio::spawn`ed jobs need `Send` futures.
#[test]
fn every_future_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let base = Url::parse("http://127.0.0.1:9").unwrap();
    let oauth = oauth(&base);
    let refresh = RefreshToken::new("r".into());
    assert_send(&oauth.exchange_code("c", "v"));
    assert_send(&oauth.refresh(&refresh));
    assert_send(&oauth.revoke("t"));
    let client = calendly::Client::new(base, http());
    let token = calendly::secrets::AccessToken::new("t".into());
    assert_send(&client.get_current_user(&token));
    let list = calendly::ListScheduledEvents::default();
    assert_send(&client.list_scheduled_events(&token, &list));
}

#[tokio::test]
async fn a_refresh_can_run_in_a_spawned_task() {
    let mock = Mock::start(Reply::json(200, fixture("token_response.json"))).await;
    let oauth = oauth(&mock.base);

    let task = tokio::spawn(async move {
        let refresh = RefreshToken::new("r".into());
        oauth.refresh(&refresh).await
    });

    assert!(task.await.unwrap().is_ok());
}
