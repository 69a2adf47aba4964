use axum::http::StatusCode;
use calendly_sim::{Booking, SimError};
use serde_json::{json, Value};

use crate::helpers::*;

async fn event(app: &TestSim, token: &str, uri: &str) -> Value {
    let (status, _, body) = app.get(&uri.replace(&app.sim.base_url(), ""), token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["resource"].clone()
}

#[tokio::test]
async fn a_processing_conference_location_is_stored_as_booked() {
    let app = spawn_sim().await;
    let receiver = Receiver::start().await;
    let (host, tokens) = subscribed_host(&app, &receiver, "/h").await;
    let teams =
        json!({"type": "microsoft_teams_conference", "status": "processing", "join_url": null});

    let booked = app
        .sim
        .book(Booking {
            host: host.uri.clone(),
            location: Some(teams.clone()),
            ..Default::default()
        })
        .unwrap();
    app.settle().await;

    assert_eq!(
        event(&app, &tokens.access, &booked.event_uri).await["location"],
        teams
    );
    assert_eq!(
        receiver.received()[0].json()["payload"]["scheduled_event"]["location"],
        teams
    );
}

#[tokio::test]
async fn pushing_a_conference_link_sends_no_webhook_and_keeps_updated_at_unless_asked() {
    let app = spawn_sim().await;
    let receiver = Receiver::start().await;
    let (host, tokens) = subscribed_host(&app, &receiver, "/h").await;
    let booked = app
        .sim
        .book(Booking {
            host: host.uri.clone(),
            location: Some(json!({"type": "zoom", "status": "processing", "join_url": null})),
            ..Default::default()
        })
        .unwrap();
    app.settle().await;
    let before = event(&app, &tokens.access, &booked.event_uri).await;
    app.sim.advance_clock(chrono::Duration::minutes(5));

    app.sim
        .push_conference_link(&booked.event_uri, "https://zoom.us/j/123", false)
        .unwrap();
    app.settle().await;

    let after = event(&app, &tokens.access, &booked.event_uri).await;
    assert_eq!(
        after["location"],
        json!({"type": "zoom", "status": "pushed", "join_url": "https://zoom.us/j/123"})
    );
    assert_eq!(after["updated_at"], before["updated_at"]);
    assert_eq!(receiver.received().len(), 1, "no webhook for the link");

    app.sim
        .push_conference_link(&booked.event_uri, "https://zoom.us/j/456", true)
        .unwrap();
    let touched = event(&app, &tokens.access, &booked.event_uri).await;
    assert_eq!(touched["location"]["join_url"], "https://zoom.us/j/456");
    assert_ne!(touched["updated_at"], before["updated_at"]);
    app.settle().await;
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn the_control_surface_pushes_conference_links() {
    let app = spawn_sim().await;
    let host = app.host("Matt Host");
    let token = app.sim.issue_personal_access_token(&host.uri);
    let booked = app
        .sim
        .book(Booking {
            host: host.uri.clone(),
            location: Some(
                json!({"type": "webex_conference", "status": "processing", "join_url": null}),
            ),
            ..Default::default()
        })
        .unwrap();
    let before = event(&app, &token, &booked.event_uri).await;
    app.sim.advance_clock(chrono::Duration::minutes(1));

    let response = app
        .http
        .post(app.url("/_sim/push_conference_link"))
        .json(&json!({"event_uri": booked.event_uri, "join_url": "https://webex.example/m/1", "touch_updated_at": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let after = event(&app, &token, &booked.event_uri).await;
    assert_eq!(after["location"]["status"], "pushed");
    assert_eq!(after["location"]["join_url"], "https://webex.example/m/1");
    assert_ne!(after["updated_at"], before["updated_at"]);

    let response = app
        .http
        .post(app.url("/_sim/push_conference_link"))
        .json(&json!({"event_uri": "nope", "join_url": "https://x.example"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(matches!(
        app.sim
            .push_conference_link("nope", "https://x.example", false),
        Err(SimError::UnknownEvent(_))
    ));
}
