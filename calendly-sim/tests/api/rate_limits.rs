use axum::http::StatusCode;
use calendly_sim::SimConfig;
use serde_json::json;

use crate::helpers::*;

async fn spawn_with_limit(limit: u32) -> TestSim {
    spawn_sim_with(SimConfig {
        rate_limit_per_minute: limit,
        ..fast_config()
    })
    .await
}

fn remaining(headers: &axum::http::HeaderMap) -> String {
    headers["x-ratelimit-remaining"]
        .to_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn all_tokens_of_a_user_share_one_rate_limit_window() {
    let app = spawn_with_limit(4).await;
    let dana = app.host("Dana Host");
    let pat = app.sim.issue_personal_access_token(&dana.uri);
    let oauth = app.connect(&dana, ALL_SCOPES).await;
    let other_oauth = app.sim.issue_oauth_tokens(&dana.uri, &["users:read"]);

    let (_, headers, _) = app.get("/users/me", &pat).await;
    assert_eq!(remaining(&headers), "3");
    let (_, headers, _) = app.get("/users/me", &oauth.access).await;
    assert_eq!(remaining(&headers), "2");
    let (_, headers, _) = app.get("/users/me", &other_oauth.access_token).await;
    assert_eq!(remaining(&headers), "1");
    app.get("/users/me", &pat).await;

    let (status, headers, _) = app.get("/users/me", &oauth.access).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(remaining(&headers), "0");
    assert!(headers.contains_key("x-ratelimit-limit") && headers.contains_key("x-ratelimit-reset"));

    let colleague = app.host("Other User");
    let theirs = app.sim.issue_personal_access_token(&colleague.uri);
    assert_eq!(
        app.get("/users/me", &theirs).await.0,
        StatusCode::OK,
        "per user"
    );
}

#[tokio::test]
async fn api_calls_counts_every_request_of_the_user_including_429s_but_not_oauth_calls() {
    let app = spawn_with_limit(2).await;
    let dana = app.host("Dana Host");
    let tokens = app.connect(&dana, ALL_SCOPES).await;
    assert_eq!(
        app.sim.api_calls(&dana.uri),
        0,
        "authorize and token calls are not counted"
    );

    for _ in 0..3 {
        app.get("/users/me", &tokens.access).await;
    }
    let (status, _) = app.refresh(&tokens.refresh).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = app.get("/users/me", &tokens.access).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);

    assert_eq!(app.sim.api_calls(&dana.uri), 4);
    let response = app
        .http
        .get(app.url("/_sim/api_calls"))
        .query(&[("user", dana.uri.as_str())])
        .send()
        .await
        .unwrap();
    let (status, _, body) = split(response).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"user": dana.uri, "api_calls": 4}));
}

#[tokio::test]
async fn other_integrations_of_the_user_spend_the_same_window() {
    let app = spawn_with_limit(10).await;
    let dana = app.host("Dana Host");
    let token = app.sim.issue_personal_access_token(&dana.uri);

    app.sim.consume_rate_limit(&dana.uri, 7);
    let (status, headers, _) = app.get("/users/me", &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(remaining(&headers), "2");

    let response = app
        .http
        .post(app.url("/_sim/rate_limit/consume"))
        .json(&json!({"user": dana.uri, "n": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (status, headers, _) = app.get("/users/me", &token).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(remaining(&headers), "0");
    assert_eq!(
        app.sim.api_calls(&dana.uri),
        2,
        "spent requests are not this app's calls"
    );

    app.sim.advance_clock(chrono::Duration::seconds(60));
    let (status, headers, _) = app.get("/users/me", &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(remaining(&headers), "9");
}
