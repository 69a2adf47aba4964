use axum::http::StatusCode;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use calendly_sim::SimConfig;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::helpers::*;

#[tokio::test]
async fn the_consent_page_asks_the_signed_in_user_to_allow_or_deny() {
    let app = spawn_sim().await;
    let dana = app.host("Dana Host");
    app.sim.set_consent_user(Some(&dana.uri));

    let params = app.authorize_params(ALL_SCOPES, &[]);
    let response = app
        .http
        .get(app.url("/oauth/authorize"))
        .query(&params[..5])
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    let page = response.text().await.unwrap();
    assert!(page.contains("Allow") && page.contains("Deny"), "{page}");
    assert!(page.contains(&dana.email));
    assert!(page.contains("webhooks:write"));
}

#[tokio::test]
async fn without_a_signed_in_user_the_consent_page_asks_for_name_and_email() {
    let app = spawn_sim().await;
    let params = app.authorize_params(ALL_SCOPES, &[]);
    let response = app
        .http
        .get(app.url("/oauth/authorize"))
        .query(&params[..5])
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    let page = response.text().await.unwrap();
    assert!(
        page.contains(r#"name="name""#) && page.contains(r#"name="email""#),
        "{page}"
    );
}

#[tokio::test]
async fn signing_in_on_the_consent_page_creates_a_calendly_user_and_connects_it() {
    let app = spawn_sim().await;
    let mut params = app.authorize_params(ALL_SCOPES, &[]);
    params.extend([("name", "Sam Adviser"), ("email", "sam@example.com")]);

    let response = app
        .http
        .post(app.url("/oauth/authorize"))
        .form(&params)
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::FOUND);
    let code = query_param(&location(&response), "code").unwrap();
    let sam = app
        .sim
        .user_by_email("sam@example.com")
        .expect("a new Calendly user");
    assert_eq!(sam.name, "Sam Adviser");
    assert_eq!(sam.plan, calendly_sim::Plan::Standard);
    let (status, body) = app.exchange_code(&code).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["owner"], json!(sam.uri));
    assert_eq!(body["organization"], json!(sam.organization));
}

#[tokio::test]
async fn allowing_redirects_with_a_64_hex_code_and_the_state() {
    let app = spawn_sim().await;
    let dana = app.host("Dana Host");

    let response = app
        .consent(&dana, &app.authorize_params(ALL_SCOPES, &[]))
        .await;

    assert_eq!(response.status(), StatusCode::FOUND);
    let to = location(&response);
    assert!(to.starts_with(REDIRECT_URI), "{to}");
    let code = query_param(&to, "code").unwrap();
    assert_eq!(code.len(), 64);
    assert!(code
        .chars()
        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    assert_eq!(query_param(&to, "state").as_deref(), Some("st4te"));
}

#[tokio::test]
async fn denying_redirects_with_access_denied_and_the_state() {
    let app = spawn_sim().await;
    let dana = app.host("Dana Host");
    let mut params = app.authorize_params(ALL_SCOPES, &[]);
    params.retain(|(k, _)| *k != "decision");
    params.push(("decision", "deny"));

    let response = app.consent(&dana, &params).await;

    assert_eq!(response.status(), StatusCode::FOUND);
    let to = location(&response);
    assert_eq!(query_param(&to, "error").as_deref(), Some("access_denied"));
    assert!(query_param(&to, "error_description").is_some());
    assert_eq!(query_param(&to, "state").as_deref(), Some("st4te"));
    assert!(query_param(&to, "code").is_none());
}

#[tokio::test]
async fn bad_authorize_requests_are_refused_before_consent() {
    let app = spawn_sim_with(SimConfig {
        redirect_uris: vec![REDIRECT_URI.into()],
        ..fast_config()
    })
    .await;
    let dana = app.host("Dana Host");
    let cases: [(&str, &str, &str); 4] = [
        ("client_id", "not-our-app", "invalid_client"),
        (
            "redirect_uri",
            "http://evil.example/cb",
            "invalid_redirect_uri",
        ),
        ("response_type", "token", "unsupported_response_type"),
        (
            "scope",
            "users:read calendar:everything",
            "The requested scope is invalid, unknown, or malformed.",
        ),
    ];
    for (key, value, expected) in cases {
        let mut params = app.authorize_params(ALL_SCOPES, &[]);
        params.retain(|(k, _)| *k != key);
        params.push((key, value));

        let shown = app
            .http
            .get(app.url("/oauth/authorize"))
            .query(&params)
            .send()
            .await
            .unwrap();
        assert_eq!(shown.status(), StatusCode::BAD_REQUEST, "{key}");
        assert!(shown.text().await.unwrap().contains(expected), "{key}");
        let decided = app.consent(&dana, &params).await;
        assert_eq!(decided.status(), StatusCode::BAD_REQUEST, "{key}");
    }
}

#[tokio::test]
async fn code_exchange_returns_the_documented_token_fields() {
    let app = spawn_sim().await;
    let dana = app.host("Dana Host");
    let code = app.authorization_code(&dana, ALL_SCOPES, &[]).await;

    let (status, body) = app.exchange_code(&code).await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 7200);
    assert!((body["created_at"].as_i64().unwrap() - app.sim.now().timestamp()).abs() <= 2);
    assert_eq!(str_of(&body, "refresh_token").len(), 64);
    assert_eq!(
        str_of(&body, "access_token").split('.').count(),
        3,
        "JWT-shaped"
    );
    assert_eq!(body["scope"], ALL_SCOPES);
    assert_eq!(body["owner"], json!(dana.uri));
    assert_eq!(body["organization"], json!(dana.organization));
}

#[tokio::test]
async fn authorization_codes_are_single_use() {
    let app = spawn_sim().await;
    let dana = app.host("Dana Host");
    let code = app.authorization_code(&dana, ALL_SCOPES, &[]).await;
    assert_eq!(app.exchange_code(&code).await.0, StatusCode::OK);

    let (status, body) = app.exchange_code(&code).await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    assert!(body["error_description"].is_string());
}

#[tokio::test]
async fn authorization_codes_expire_after_ten_minutes() {
    let app = spawn_sim().await;
    let dana = app.host("Dana Host");
    let code = app.authorization_code(&dana, ALL_SCOPES, &[]).await;

    app.sim
        .advance_clock(chrono::Duration::minutes(10) + chrono::Duration::seconds(1));

    let (status, body) = app.exchange_code(&code).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn code_exchange_requires_the_authorize_redirect_uri() {
    let app = spawn_sim().await;
    let dana = app.host("Dana Host");
    let code = app.authorization_code(&dana, ALL_SCOPES, &[]).await;

    let (status, body) = app
        .token_request(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://localhost/other"),
        ])
        .await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn client_credentials_may_be_sent_in_a_json_or_form_body() {
    let app = spawn_sim().await;
    let dana = app.host("Dana Host");
    let config = app.sim.config().clone();
    let code = app.authorization_code(&dana, ALL_SCOPES, &[]).await;

    let response = app
        .http
        .post(app.url("/oauth/token"))
        .json(&json!({
            "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
            "client_id": config.client_id, "client_secret": config.client_secret,
        }))
        .send()
        .await
        .unwrap();
    let (status, _, body) = split(response).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let response = app
        .http
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &str_of(&body, "refresh_token")),
            ("client_id", &config.client_id),
            ("client_secret", &config.client_secret),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_wrong_client_secret_is_an_invalid_client() {
    let app = spawn_sim().await;
    let dana = app.host("Dana Host");
    let code = app.authorization_code(&dana, ALL_SCOPES, &[]).await;

    let response = app
        .http
        .post(app.url("/oauth/token"))
        .basic_auth(&app.sim.config().client_id, Some("wrong"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
        ])
        .send()
        .await
        .unwrap();

    let (status, _, body) = split(response).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_client");
}

#[tokio::test]
async fn unknown_or_missing_grant_types_are_refused() {
    let app = spawn_sim().await;
    let (status, body) = app.token_request(&[("grant_type", "password")]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unsupported_grant_type"))
    );
    let (status, body) = app.token_request(&[]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
}

#[tokio::test]
async fn pkce_verifier_must_match_the_s256_challenge() {
    let app = spawn_sim().await;
    let dana = app.host("Dana Host");
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let pkce = [
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let exchange = |code: String, verifier: Option<&'static str>| {
        let mut form = vec![
            ("grant_type", "authorization_code".to_string()),
            ("code", code),
            ("redirect_uri", REDIRECT_URI.to_string()),
        ];
        if let Some(v) = verifier {
            form.push(("code_verifier", v.to_string()));
        }
        form
    };

    let code = app.authorization_code(&dana, ALL_SCOPES, &pkce).await;
    let form = exchange(code.clone(), None);
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, body) = app.token_request(&form).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );

    let form = exchange(
        code.clone(),
        Some("a-different-verifier-of-sufficient-length-000000"),
    );
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, body) = app.token_request(&form).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );

    let form = exchange(code, Some(verifier));
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, body) = app.token_request(&form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn only_the_s256_challenge_method_is_accepted() {
    let app = spawn_sim().await;
    let mut params = app.authorize_params(ALL_SCOPES, &[]);
    params.extend([
        ("code_challenge", "abc"),
        ("code_challenge_method", "plain"),
    ]);

    let response = app
        .http
        .get(app.url("/oauth/authorize"))
        .query(&params)
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.text().await.unwrap().contains("S256"));
}

#[tokio::test]
async fn refresh_token_cannot_be_used_twice() {
    let app = spawn_sim().await;
    let dana = app.host("Dana Host");
    let first = app.connect(&dana, ALL_SCOPES).await;

    let (status, rotated) = app.refresh(&first.refresh).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    assert_ne!(str_of(&rotated, "refresh_token"), first.refresh);
    assert_ne!(str_of(&rotated, "access_token"), first.access);
    assert_eq!(rotated["scope"], ALL_SCOPES);

    let (status, body) = app.refresh(&first.refresh).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");

    let (status, _) = app.refresh(&str_of(&rotated, "refresh_token")).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn access_tokens_expire_after_two_hours() {
    let app = spawn_sim().await;
    let dana = app.host("Dana Host");
    let tokens = app.connect(&dana, ALL_SCOPES).await;
    assert_eq!(app.get("/users/me", &tokens.access).await.0, StatusCode::OK);

    app.sim.advance_clock(chrono::Duration::hours(2));

    let (status, _, body) = app.get("/users/me", &tokens.access).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        body,
        json!({"title": "Unauthenticated", "message": "The access token expired"})
    );
    let (status, _) = app.refresh(&tokens.refresh).await;
    assert_eq!(status, StatusCode::OK, "refresh tokens do not expire");
}

#[tokio::test]
async fn at_most_eight_tokens_are_issued_per_user_per_minute() {
    let app = spawn_sim().await;
    let dana = app.host("Dana Host");
    let mut refresh = app.connect(&dana, ALL_SCOPES).await.refresh;
    for _ in 0..7 {
        let (status, body) = app.refresh(&refresh).await;
        assert_eq!(status, StatusCode::OK);
        refresh = str_of(&body, "refresh_token");
    }

    let (status, _) = app.refresh(&refresh).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);

    app.sim.advance_clock(chrono::Duration::seconds(61));
    let (status, _) = app.refresh(&refresh).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the refused refresh token is still usable"
    );
}

#[tokio::test]
async fn revoked_tokens_are_rejected_with_the_revoked_message() {
    let app = spawn_sim().await;
    let dana = app.host("Dana Host");
    let tokens = app.connect(&dana, ALL_SCOPES).await;
    let config = app.sim.config().clone();

    let refused = app
        .http
        .post(app.url("/oauth/revoke"))
        .form(&[
            ("client_id", config.client_id.as_str()),
            ("client_secret", "wrong"),
            ("token", &tokens.access),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    let response = app
        .http
        .post(app.url("/oauth/revoke"))
        .form(&[
            ("client_id", config.client_id.as_str()),
            ("client_secret", &config.client_secret),
            ("token", &tokens.access),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "");

    let (status, _, body) = app.get("/users/me", &tokens.access).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["message"], "The access token was revoked");
}

#[tokio::test]
async fn introspection_tells_active_tokens_from_dead_ones() {
    let app = spawn_sim().await;
    let dana = app.host("Dana Host");
    let tokens = app.connect(&dana, ALL_SCOPES).await;
    let config = app.sim.config().clone();
    let introspect = |token: String| {
        let request = app
            .http
            .post(app.url("/oauth/introspect"))
            .basic_auth(config.client_id.clone(), Some(config.client_secret.clone()))
            .form(&[("token", token)]);
        async move { split(request.send().await.unwrap()).await }
    };

    let (status, _, body) = introspect(tokens.access.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["active"], true);
    assert_eq!(body["scope"], ALL_SCOPES);
    assert_eq!(body["owner"], json!(dana.uri));
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(
        body["exp"].as_i64().unwrap() - body["iat"].as_i64().unwrap(),
        7200
    );

    let (_, _, body) = introspect("nonsense".into()).await;
    assert_eq!(body, json!({"active": false}));
}
