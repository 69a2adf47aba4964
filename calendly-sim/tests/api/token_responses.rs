use axum::http::StatusCode;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn minimal_refresh_responses_carry_only_the_five_token_fields_and_still_rotate() {
    let app = spawn_sim().await;
    let dana = app.host("Dana Host");
    let first = app.connect(&dana, ALL_SCOPES).await;
    app.sim.set_minimal_refresh_responses(true);

    let (status, body) = app.refresh(&first.refresh).await;

    assert_eq!(status, StatusCode::OK, "{body}");
    let mut keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "access_token",
            "created_at",
            "refresh_token",
            "scope",
            "token_type"
        ]
    );
    assert_eq!(body["scope"], ALL_SCOPES);
    let (status, reused) = app.refresh(&first.refresh).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "the old refresh token is revoked: {reused}"
    );
    assert_eq!(
        app.get("/users/me", &str_of(&body, "access_token")).await.0,
        StatusCode::OK
    );
    let (status, _) = app.refresh(&str_of(&body, "refresh_token")).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn code_exchanges_stay_complete_when_refresh_responses_are_minimal() {
    let app = spawn_sim().await;
    let dana = app.host("Dana Host");
    let response = app
        .http
        .post(app.url("/_sim/switches"))
        .json(&json!({"minimal_refresh_responses": true}))
        .send()
        .await
        .unwrap();
    let (_, _, switches) = split(response).await;
    assert_eq!(switches["minimal_refresh_responses"], true);
    let code = app.authorization_code(&dana, ALL_SCOPES, &[]).await;

    let (status, body) = app.exchange_code(&code).await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["owner"], json!(dana.uri));
    assert_eq!(body["organization"], json!(dana.organization));
    assert_eq!(body["expires_in"], 7200);
}
