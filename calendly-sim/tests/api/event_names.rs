use axum::http::StatusCode;
use calendly_sim::Booking;
use serde_json::{json, Value};

use crate::helpers::*;

#[tokio::test]
async fn an_event_without_a_name_has_a_null_name_in_the_api_and_in_webhooks() {
    let app = spawn_sim().await;
    let receiver = Receiver::start().await;
    let (host, tokens) = subscribed_host(&app, &receiver, "/h").await;

    let booked = app
        .sim
        .book(Booking {
            host: host.uri.clone(),
            event_name: None,
            ..Default::default()
        })
        .unwrap();
    app.settle().await;

    let path = booked.event_uri.replace(&app.sim.base_url(), "");
    let (_, _, body) = app.get(&path, &tokens.access).await;
    let event = body["resource"].as_object().unwrap();
    assert_eq!(event.get("name"), Some(&Value::Null), "present and null");
    let raw = String::from_utf8(receiver.received()[0].body.to_vec()).unwrap();
    assert!(raw.contains(r#""name":null"#), "{raw}");
    assert_eq!(
        receiver.received()[0].json()["payload"]["scheduled_event"]["name"],
        Value::Null
    );
}

#[tokio::test]
async fn a_rescheduled_event_keeps_its_missing_name() {
    let app = spawn_sim().await;
    let host = app.host("Dana Host");
    let token = app.sim.issue_personal_access_token(&host.uri);
    let booked = app
        .sim
        .book(Booking {
            host: host.uri.clone(),
            event_name: None,
            ..Default::default()
        })
        .unwrap();

    let moved = app
        .sim
        .reschedule(
            &booked.invitee_uri,
            app.sim.now() + chrono::Duration::days(2),
        )
        .unwrap();

    let (_, _, body) = app
        .get(&moved.event_uri.replace(&app.sim.base_url(), ""), &token)
        .await;
    assert_eq!(body["resource"]["name"], Value::Null);
}

#[tokio::test]
async fn the_book_control_route_maps_a_null_name_to_none_and_an_omitted_one_to_the_default() {
    let app = spawn_sim().await;
    let host = app.host("Dana Host");
    let token = app.sim.issue_personal_access_token(&host.uri);
    let mut names = Vec::new();

    for body in [
        json!({"host": host.uri, "event_name": null}),
        json!({"host": host.uri}),
        json!({"host": host.uri, "event_name": "Pension Review"}),
    ] {
        let response = app
            .http
            .post(app.url("/_sim/book"))
            .json(&body)
            .send()
            .await
            .unwrap();
        let (status, _, booked) = split(response).await;
        assert_eq!(status, StatusCode::CREATED, "{booked}");
        let (_, _, event) = app
            .get(
                &str_of(&booked, "event_uri").replace(&app.sim.base_url(), ""),
                &token,
            )
            .await;
        names.push(event["resource"]["name"].clone());
    }

    assert_eq!(
        names,
        [
            Value::Null,
            json!("30 Minute Meeting"),
            json!("Pension Review")
        ]
    );
}
