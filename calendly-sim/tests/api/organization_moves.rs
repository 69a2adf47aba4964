use axum::http::StatusCode;
use calendly_sim::{Booking, SimError};
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn token_responses_and_users_me_report_the_organization_a_user_moved_to() {
    let app = spawn_sim().await;
    let dana = app.host("Dana Host");
    let tokens = app.connect(&dana, ALL_SCOPES).await;
    let new_org = app.sim.create_organization("Bigger Firm");

    app.sim
        .move_user_to_organization(&dana.uri, &new_org)
        .unwrap();

    let (status, body) = app.refresh(&tokens.refresh).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["organization"], json!(new_org));
    let (_, _, me) = app.get("/users/me", &str_of(&body, "access_token")).await;
    assert_eq!(me["resource"]["current_organization"], json!(new_org));
    assert_eq!(app.sim.user(&dana.uri).unwrap().organization, new_org);
}

#[tokio::test]
async fn user_scope_hooks_in_the_old_organization_stop_receiving_after_a_move() {
    let app = spawn_sim().await;
    let receiver = Receiver::start().await;
    let (host, _) = subscribed_host(&app, &receiver, "/h").await;
    let new_org = app.sim.create_organization("Bigger Firm");

    app.sim
        .move_user_to_organization(&host.uri, &new_org)
        .unwrap();
    app.sim
        .book(Booking {
            host: host.uri.clone(),
            ..Default::default()
        })
        .unwrap();
    app.settle().await;

    assert!(receiver.received().is_empty());
}

#[tokio::test]
async fn moving_needs_a_known_user_and_organization_and_works_over_the_control_surface() {
    let app = spawn_sim().await;
    let dana = app.host("Dana Host");
    let new_org = app.sim.create_organization("Bigger Firm");
    assert!(matches!(
        app.sim
            .move_user_to_organization(&dana.uri, "http://x/organizations/nope"),
        Err(SimError::UnknownOrganization(_))
    ));
    assert!(matches!(
        app.sim
            .move_user_to_organization("http://x/users/nope", &new_org),
        Err(SimError::UnknownUser(_))
    ));

    let response = app
        .http
        .post(app.url("/_sim/users/organization"))
        .json(&json!({"user": dana.uri, "organization": new_org}))
        .send()
        .await
        .unwrap();
    let (status, _, body) = split(response).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["organization"], json!(new_org));
}
