use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

impl TestSim {
    async fn control(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> (StatusCode, Value) {
        let response = self
            .http
            .request(method, self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        let (status, _, body) = split(response).await;
        (status, body)
    }

    async fn control_post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.control(reqwest::Method::POST, path, body).await
    }

    async fn control_get(&self, path: &str) -> Value {
        let (status, body) = self.control(reqwest::Method::GET, path, Value::Null).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }
}

#[tokio::test]
async fn the_control_surface_drives_a_whole_scenario() {
    let app = spawn_sim().await;
    let receiver = Receiver::start().await;

    let (status, org) = app
        .control_post("/_sim/organizations", json!({"name": "Acme Advisers"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, host) = app
        .control_post(
            "/_sim/users",
            json!({"name": "Matt Host", "email": "matt@example.com", "organization": org["uri"], "role": "admin"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{host}");
    assert_eq!(host["organization"], org["uri"]);
    assert_eq!(
        app.control_get("/_sim/users")
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let (status, _) = app
        .control_post(
            "/_sim/users",
            json!({"name": "Again", "email": "matt@example.com"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    let (_, token) = app
        .control_post("/_sim/tokens", json!({"user": host["uri"]}))
        .await;
    let token = str_of(&token, "access_token");
    let body = json!({"url": receiver.url("/h"), "events": ["invitee.created", "invitee.canceled", "invitee_no_show.created", "invitee_no_show.deleted"],
                      "organization": host["organization"], "scope": "organization"});
    assert_eq!(
        app.post_json("/webhook_subscriptions", &token, &body)
            .await
            .0,
        StatusCode::CREATED
    );
    let subs = app.control_get("/_sim/subscriptions").await;
    assert_eq!(subs[0]["created_with"], "pat");
    assert_eq!(subs[0]["state"], "active");

    let (status, booked) = app
        .control_post(
            "/_sim/book",
            json!({"host": host["uri"], "invitee_email": "jane@example.com", "start_time": "2030-01-02T10:00:00Z",
                   "questions": [["Company?", "Acme"]]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{booked}");
    let (_, moved) = app
        .control_post(
            "/_sim/reschedule",
            json!({"invitee": booked["invitee_uri"], "new_start": "2030-01-03T10:00:00Z"}),
        )
        .await;
    let (status, _) = app
        .control_post("/_sim/no_show", json!({"invitee": moved["invitee_uri"]}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .control(
            reqwest::Method::DELETE,
            "/_sim/no_show",
            json!({"invitee": moved["invitee_uri"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .control_post(
            "/_sim/cancel",
            json!({"invitee": moved["invitee_uri"], "by": "host", "reason": "ill"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        app.control_get("/_sim/idle?max_ms=5000").await["idle"],
        true
    );

    let events: Vec<String> = app
        .control_get("/_sim/deliveries")
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|d| str_of(d, "event"))
        .collect();
    assert_eq!(
        events,
        [
            "invitee.created",
            "invitee.canceled",
            "invitee.created",
            "invitee_no_show.created",
            "invitee_no_show.deleted",
            "invitee.canceled"
        ]
    );
    assert_eq!(receiver.received().len(), 6);
}

#[tokio::test]
async fn the_control_surface_moves_the_clock_and_injects_failures() {
    let app = spawn_sim().await;
    let receiver = Receiver::start().await;
    let host = app.host("Matt Host");
    let token = app.sim.issue_personal_access_token(&host.uri);
    app.subscribe_user(&token, &host, &receiver.url("/h"), &["invitee.created"])
        .await;

    let before = app.control_get("/_sim/clock").await["unix"]
        .as_i64()
        .unwrap();
    let (_, after) = app
        .control_post("/_sim/clock/advance", json!({"hours": 1, "minutes": 1}))
        .await;
    assert!(after["unix"].as_i64().unwrap() - before >= 3660);

    let rule = json!({"url_contains": "/h", "mode": {"status": 500}, "times": 1});
    assert_eq!(
        app.control_post("/_sim/failures", rule).await.0,
        StatusCode::CREATED
    );
    let (status, _) = app
        .control(reqwest::Method::DELETE, "/_sim/failures", Value::Null)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    app.control_post("/_sim/book", json!({"host": host.uri}))
        .await;
    assert_eq!(app.control_get("/_sim/idle").await["idle"], true);
    assert_eq!(app.control_get("/_sim/deliveries").await[0]["status"], 200);

    let sub = app.control_get("/_sim/subscriptions").await[0]["uri"].clone();
    app.control_post("/_sim/subscriptions/disable", json!({"uri": sub}))
        .await;
    assert_eq!(
        app.control_get("/_sim/subscriptions").await[0]["state"],
        "disabled"
    );
}

#[tokio::test]
async fn the_control_surface_sets_the_consent_user_and_issues_oauth_tokens() {
    let app = spawn_sim().await;
    let host = app.host("Matt Host");

    let (status, body) = app
        .control_post("/_sim/consent_user", json!({"email": host.email}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["consent_user"]["uri"], json!(host.uri));
    let params = app.authorize_params(ALL_SCOPES, &[]);
    let page = app
        .http
        .get(app.url("/oauth/authorize"))
        .query(&params[..5])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Matt Host"));

    let (status, tokens) = app
        .control_post(
            "/_sim/tokens",
            json!({"user": host.uri, "kind": "oauth", "scopes": ["users:read"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(tokens["scope"], "users:read");
    assert_eq!(
        app.get("/users/me", &str_of(&tokens, "access_token"))
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        app.refresh(&str_of(&tokens, "refresh_token")).await.0,
        StatusCode::OK
    );

    let config = app.control_get("/_sim/config").await;
    assert_eq!(config["client_id"], json!(app.sim.config().client_id));
}

#[tokio::test]
async fn control_errors_are_json_4xx() {
    let app = spawn_sim().await;

    let (status, body) = app
        .control_post("/_sim/book", json!({"host": "http://nowhere/users/nobody"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["message"].as_str().unwrap().contains("no user"));

    let response = app
        .http
        .post(app.url("/_sim/users"))
        .body("{oops")
        .send()
        .await
        .unwrap();
    let (status, _, body) = split(response).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["title"], "Invalid Argument");

    let (status, _) = app
        .control_post("/_sim/cancel", json!({"invitee": "nope"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
