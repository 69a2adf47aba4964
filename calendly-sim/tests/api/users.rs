use axum::http::StatusCode;
use calendly_sim::{Plan, Role, SimConfig};
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn users_me_returns_the_documented_user_resource() {
    let app = spawn_sim().await;
    let dana = app.host("Dana Host");
    let tokens = app.connect(&dana, "users:read").await;

    let response = app
        .http
        .get(app.url("/users/me"))
        .bearer_auth(&tokens.access)
        .send()
        .await
        .unwrap();
    let raw = response.text().await.unwrap();
    let body: serde_json::Value = serde_json::from_str(&raw).unwrap();

    let user = &body["resource"];
    assert_eq!(user["uri"], json!(dana.uri));
    assert!(dana
        .uri
        .starts_with(&format!("{}/users/", app.sim.base_url())));
    assert_eq!(user["email"], json!(dana.email));
    assert_eq!(user["name"], "Dana Host");
    assert_eq!(user["slug"], "dana-host");
    assert_eq!(user["scheduling_url"], "https://calendly.com/dana-host");
    assert_eq!(user["current_organization"], json!(dana.organization));
    assert_eq!(user["resource_type"], "User");
    assert_eq!(user["avatar_url"], serde_json::Value::Null);
    let created_at = user["created_at"].as_str().unwrap();
    assert_eq!(
        created_at.len(),
        "2024-05-22T09:45:15.000000Z".len(),
        "{created_at}"
    );
    assert!(created_at.ends_with('Z'));
    assert_key_order(
        &raw,
        &[
            "avatar_url",
            "created_at",
            "current_organization",
            "email",
            "locale",
            "name",
            "resource_type",
            "scheduling_url",
            "slug",
            "time_notation",
            "timezone",
            "updated_at",
            "uri",
        ],
    );
}

#[tokio::test]
async fn users_can_be_read_by_uuid_within_the_organization() {
    let app = spawn_sim().await;
    let dana = app.host("Dana Host");
    let colleague = app.member("Col League", &dana.organization, Role::User, Plan::Standard);
    let stranger = app.host("Stra Nger");
    let token = app.sim.issue_personal_access_token(&dana.uri);

    let (status, _, body) = app.get(&format!("/users/{}", colleague.uuid), &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["resource"]["uri"], json!(colleague.uri));

    let (status, _, body) = app.get(&format!("/users/{}", stranger.uuid), &token).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["title"], "Permission Denied");

    let (status, _, body) = app
        .get("/users/0b8e2c1a-7d3f-4c55-9e61-2a4b6c8d0e1f", &token)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        json!({"title": "Resource Not Found", "message": "The server could not find the requested resource."})
    );
}

#[tokio::test]
async fn requests_without_a_valid_token_are_unauthenticated() {
    let app = spawn_sim().await;

    let response = app.http.get(app.url("/users/me")).send().await.unwrap();
    let (status, headers, body) = split(response).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        body,
        json!({"title": "Unauthenticated", "message": "The access token is invalid"})
    );
    assert!(headers.contains_key("x-ratelimit-limit"));

    let (status, _, body) = app.get("/users/me", "not-a-token").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["message"], "The access token is invalid");
}

#[tokio::test]
async fn a_token_without_the_scope_gets_the_insufficient_scope_body() {
    let app = spawn_sim().await;
    let dana = app.host("Dana Host");
    let tokens = app.connect(&dana, "webhooks:read").await;

    let (status, _, body) = app.get("/users/me", &tokens.access).await;

    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        body,
        json!({
            "title": "Insufficient scope",
            "message": "This operation requires the scopes listed in the 'required_scopes' array.",
            "required_scopes": ["users:read"],
        })
    );
}

#[tokio::test]
async fn revoking_all_tokens_kills_personal_access_tokens_too() {
    let app = spawn_sim().await;
    let dana = app.host("Dana Host");
    let pat = app.sim.issue_personal_access_token(&dana.uri);
    let oauth = app.connect(&dana, ALL_SCOPES).await;
    assert_eq!(app.get("/users/me", &pat).await.0, StatusCode::OK);

    app.sim.revoke_all_tokens(&dana.uri);

    for token in [&pat, &oauth.access] {
        let (status, _, body) = app.get("/users/me", token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["message"], "The access token was revoked");
    }
    assert_eq!(app.refresh(&oauth.refresh).await.0, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn api_responses_carry_rate_limit_headers_and_429_past_the_limit() {
    let app = spawn_sim_with(SimConfig {
        rate_limit_per_minute: 3,
        ..fast_config()
    })
    .await;
    let dana = app.host("Dana Host");
    let token = app.sim.issue_personal_access_token(&dana.uri);

    let mut remaining = Vec::new();
    for _ in 0..3 {
        let (status, headers, _) = app.get("/users/me", &token).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["x-ratelimit-limit"], "3");
        assert!(
            headers["x-ratelimit-reset"]
                .to_str()
                .unwrap()
                .parse::<u32>()
                .unwrap()
                <= 60
        );
        remaining.push(
            headers["x-ratelimit-remaining"]
                .to_str()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(remaining, ["2", "1", "0"]);

    let (status, headers, body) = app.get("/users/me", &token).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(headers["x-ratelimit-remaining"], "0");
    assert!(body["title"].is_string());

    app.sim.advance_clock(chrono::Duration::seconds(60));
    assert_eq!(app.get("/users/me", &token).await.0, StatusCode::OK);
}

#[tokio::test]
async fn free_plans_get_a_tenth_of_the_rate_limit() {
    let app = spawn_sim_with(SimConfig {
        rate_limit_per_minute: 500,
        ..fast_config()
    })
    .await;
    let dana = app.host("Dana Host");
    app.sim.set_plan(&dana.uri, Plan::Free);
    let token = app.sim.issue_personal_access_token(&dana.uri);

    let (_, headers, _) = app.get("/users/me", &token).await;

    assert_eq!(headers["x-ratelimit-limit"], "50");
}

#[tokio::test]
async fn unknown_routes_and_methods_get_calendlys_404_body() {
    let app = spawn_sim().await;
    let dana = app.host("Dana Host");
    let token = app.sim.issue_personal_access_token(&dana.uri);
    let not_found = json!({"title": "Resource Not Found", "message": "The server could not find the requested resource."});

    let (status, headers, body) = app.get("/event_types/nope", &token).await;
    assert_eq!((status, &body), (StatusCode::NOT_FOUND, &not_found));
    assert!(headers.contains_key("x-ratelimit-remaining"));

    let (status, body) = app.delete("/users/me", &token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap(),
        not_found
    );
}
