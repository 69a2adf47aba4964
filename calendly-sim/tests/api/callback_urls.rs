use axum::http::StatusCode;
use calendly_sim::SimConfig;
use serde_json::json;

use crate::helpers::*;

const EVENTS: [&str; 1] = ["invitee.created"];

#[tokio::test]
async fn strict_mode_refuses_callback_urls_that_are_not_public_https() {
    let app = spawn_sim_with(SimConfig {
        require_public_callback_url: true,
        ..fast_config()
    })
    .await;
    let dana = app.host("Dana Host");
    let token = app.sim.issue_personal_access_token(&dana.uri);
    let refusal = json!({
        "title": "Invalid Argument", "message": "The supplied parameters are invalid.",
        "details": [{"parameter": "url", "message": "must be a publicly reachable https URL"}],
    });

    for url in [
        "http://hooks.example.com/calendly",
        "https://localhost/hooks",
        "https://127.0.0.1/hooks",
        "https://10.0.0.8/hooks",
        "https://172.20.1.1/hooks",
        "https://192.168.0.2/hooks",
        "https://169.254.1.1/hooks",
        "https://0.0.0.0/hooks",
        "https://[::1]/hooks",
        "https://[fe80::1]/hooks",
        "https://[::]/hooks",
    ] {
        let (status, body) = app.subscribe_user(&token, &dana, url, &EVENTS).await;
        assert_eq!(
            (status, &body),
            (StatusCode::BAD_REQUEST, &refusal),
            "{url}"
        );
    }
    let (status, body) = app
        .subscribe_user(&token, &dana, "https://hooks.example.com/calendly", &EVENTS)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test]
async fn strict_mode_can_be_switched_at_run_time_and_over_the_control_surface() {
    let app = spawn_sim().await;
    let dana = app.host("Dana Host");
    let token = app.sim.issue_personal_access_token(&dana.uri);
    let local = "http://127.0.0.1:9/hooks";
    assert!(!app.sim.switches().require_public_callback_url);

    app.sim.set_require_public_callback_url(true);
    let (status, _) = app.subscribe_user(&token, &dana, local, &EVENTS).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let response = app
        .http
        .post(app.url("/_sim/switches"))
        .json(&json!({"require_public_callback_url": false}))
        .send()
        .await
        .unwrap();
    let (status, _, switches) = split(response).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(switches["require_public_callback_url"], false);
    let (status, _) = app.subscribe_user(&token, &dana, local, &EVENTS).await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn callback_urls_cannot_be_changed_after_creation() {
    let app = spawn_sim().await;
    let dana = app.host("Dana Host");
    let token = app.sim.issue_personal_access_token(&dana.uri);
    let (_, created) = app
        .subscribe_user(&token, &dana, "https://h.example/old", &EVENTS)
        .await;
    let path = str_of(&created["resource"], "uri").replace(&app.sim.base_url(), "");

    for method in [reqwest::Method::PATCH, reqwest::Method::PUT] {
        let response = app
            .http
            .request(method.clone(), app.url(&path))
            .bearer_auth(&token)
            .json(&json!({"url": "https://h.example/new"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{method}");
    }
    let (_, _, body) = app.get(&path, &token).await;
    assert_eq!(body["resource"]["callback_url"], "https://h.example/old");
}
