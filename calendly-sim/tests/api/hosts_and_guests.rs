use axum::http::StatusCode;
use calendly_sim::{Booking, Plan, Role, SimError};
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn guests_and_co_hosts_appear_on_the_event() {
    let app = spawn_sim().await;
    let dana = app.host("Dana Host");
    let colleague = app.member("Col League", &dana.organization, Role::User, Plan::Standard);
    let token = app.sim.issue_personal_access_token(&dana.uri);

    let booked = app
        .sim
        .book(Booking {
            host: dana.uri.clone(),
            guests: vec![
                "partner@example.com".into(),
                "accountant@example.com".into(),
            ],
            co_hosts: vec![colleague.uri.clone()],
            ..Default::default()
        })
        .unwrap();

    let (status, _, body) = app
        .get(&booked.event_uri.replace(&app.sim.base_url(), ""), &token)
        .await;
    assert_eq!(status, StatusCode::OK);
    let event = &body["resource"];
    assert_eq!(
        event["event_memberships"],
        json!([
            {"user": dana.uri, "user_email": dana.email, "user_name": dana.name},
            {"user": colleague.uri, "user_email": colleague.email, "user_name": colleague.name},
        ])
    );
    let guests = event["event_guests"].as_array().unwrap();
    let emails: Vec<&str> = guests
        .iter()
        .map(|g| g["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, ["partner@example.com", "accountant@example.com"]);
    let mut keys: Vec<&str> = guests[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(keys, ["created_at", "email", "updated_at"]);
    assert_eq!(guests[0]["created_at"], event["created_at"]);
}

#[tokio::test]
async fn events_without_guests_or_co_hosts_have_one_membership_and_no_guests() {
    let app = spawn_sim().await;
    let dana = app.host("Dana Host");
    let token = app.sim.issue_personal_access_token(&dana.uri);
    let booked = app
        .sim
        .book(Booking {
            host: dana.uri.clone(),
            ..Default::default()
        })
        .unwrap();

    let (_, _, body) = app
        .get(&booked.event_uri.replace(&app.sim.base_url(), ""), &token)
        .await;

    assert_eq!(body["resource"]["event_guests"], json!([]));
    assert_eq!(
        body["resource"]["event_memberships"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn co_hosts_list_and_read_the_event_and_get_its_invitee_webhooks() {
    let app = spawn_sim().await;
    let receiver = Receiver::start().await;
    let dana = app.host("Dana Host");
    let colleague = app.member("Col League", &dana.organization, Role::User, Plan::Standard);
    let dana_token = app.sim.issue_personal_access_token(&dana.uri);
    let colleague_token = app.sim.issue_personal_access_token(&colleague.uri);
    app.subscribe_user(&dana_token, &dana, &receiver.url("/dana"), &ALL_EVENTS)
        .await;
    app.subscribe_user(
        &colleague_token,
        &colleague,
        &receiver.url("/col"),
        &ALL_EVENTS,
    )
    .await;

    let booked = app
        .sim
        .book(Booking {
            host: dana.uri.clone(),
            co_hosts: vec![colleague.uri.clone()],
            ..Default::default()
        })
        .unwrap();
    app.settle().await;

    let (status, _, body) = app
        .get(
            &format!("/scheduled_events?user={}", colleague.uri),
            &colleague_token,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["collection"][0]["uri"], json!(booked.event_uri));
    let path = booked.event_uri.replace(&app.sim.base_url(), "");
    assert_eq!(app.get(&path, &colleague_token).await.0, StatusCode::OK);
    assert_eq!(
        app.get(&format!("{path}/invitees"), &colleague_token)
            .await
            .0,
        StatusCode::OK
    );

    let mut deliveries: Vec<(String, String)> = receiver
        .received()
        .iter()
        .map(|r| (r.path.clone(), str_of(&r.json(), "created_by")))
        .collect();
    deliveries.sort();
    assert_eq!(
        deliveries,
        [
            ("/col".to_string(), colleague.uri.clone()),
            ("/dana".to_string(), dana.uri.clone())
        ]
    );
}

#[tokio::test]
async fn an_organization_hook_gets_one_delivery_for_an_event_with_several_hosts() {
    let app = spawn_sim().await;
    let receiver = Receiver::start().await;
    let dana = app.host("Dana Host");
    let colleague = app.member("Col League", &dana.organization, Role::User, Plan::Standard);
    let token = app.sim.issue_personal_access_token(&dana.uri);
    app.subscribe_org(&token, &dana, &receiver.url("/org"), &["invitee.created"])
        .await;

    app.sim
        .book(Booking {
            host: dana.uri.clone(),
            co_hosts: vec![
                colleague.uri.clone(),
                colleague.uri.clone(),
                dana.uri.clone(),
            ],
            ..Default::default()
        })
        .unwrap();
    app.settle().await;

    assert_eq!(receiver.received().len(), 1);
    let event = &receiver.received()[0].json()["payload"]["scheduled_event"];
    assert_eq!(
        event["event_memberships"].as_array().unwrap().len(),
        2,
        "deduplicated"
    );
}

#[tokio::test]
async fn unknown_co_hosts_and_bad_guest_emails_are_refused() {
    let app = spawn_sim().await;
    let dana = app.host("Dana Host");

    let unknown = app.sim.book(Booking {
        host: dana.uri.clone(),
        co_hosts: vec![format!("{}/users/nobody", app.sim.base_url())],
        ..Default::default()
    });
    assert!(
        matches!(unknown, Err(SimError::UnknownUser(_))),
        "{unknown:?}"
    );
    let bad_guest = app.sim.book(Booking {
        host: dana.uri.clone(),
        guests: vec!["not-an-email".into()],
        ..Default::default()
    });
    assert!(
        matches!(bad_guest, Err(SimError::Invalid(_))),
        "{bad_guest:?}"
    );
}

#[tokio::test]
async fn the_book_control_route_accepts_guests_and_co_hosts() {
    let app = spawn_sim().await;
    let dana = app.host("Dana Host");
    let colleague = app.member("Col League", &dana.organization, Role::User, Plan::Standard);
    let token = app.sim.issue_personal_access_token(&colleague.uri);

    let response = app
        .http
        .post(app.url("/_sim/book"))
        .json(&json!({"host": dana.uri, "guests": ["g@example.com"], "co_hosts": [colleague.uri]}))
        .send()
        .await
        .unwrap();
    let (status, _, booked) = split(response).await;
    assert_eq!(status, StatusCode::CREATED, "{booked}");

    let (_, _, body) = app
        .get(
            &str_of(&booked, "event_uri").replace(&app.sim.base_url(), ""),
            &token,
        )
        .await;
    assert_eq!(
        body["resource"]["event_guests"][0]["email"],
        "g@example.com"
    );
    assert_eq!(
        body["resource"]["event_memberships"][1]["user"],
        json!(colleague.uri)
    );
}
