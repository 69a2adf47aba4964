use axum::http::StatusCode;
use calendly_sim::{Booking, Canceler, Plan, Role, SimError, SimUser};
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::json;

use crate::helpers::*;

fn at(hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 5, 14, hour, 30, 0).unwrap()
}

fn booking(host: &SimUser, hour: u32, email: &str) -> Booking {
    Booking {
        host: host.uri.clone(),
        start_time: at(hour),
        invitee_email: email.into(),
        invitee_name: "Jane Prospect".into(),
        questions: vec![(
            "What is the name of your business?".into(),
            "Acme Corp".into(),
        )],
        ..Default::default()
    }
}

fn uris(body: &serde_json::Value) -> Vec<String> {
    body["collection"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| str_of(e, "uri"))
        .collect()
}

#[tokio::test]
async fn hosts_list_their_own_events_with_filters() {
    let app = spawn_sim().await;
    let dana = app.host("Dana Host");
    let token = app.sim.issue_personal_access_token(&dana.uri);
    let nine = app.sim.book(booking(&dana, 9, "a@example.com")).unwrap();
    let ten = app.sim.book(booking(&dana, 10, "b@example.com")).unwrap();
    let eleven = app.sim.book(booking(&dana, 11, "c@example.com")).unwrap();
    app.sim
        .cancel(&ten.invitee_uri, Canceler::Invitee, None)
        .unwrap();
    let mine = format!("/scheduled_events?user={}", dana.uri);

    let (status, _, body) = app.get(&mine, &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        uris(&body),
        [
            nine.event_uri.as_str(),
            ten.event_uri.as_str(),
            eleven.event_uri.as_str()
        ]
    );

    let (_, _, body) = app
        .get(
            &format!("{mine}&status=active&sort=start_time:desc"),
            &token,
        )
        .await;
    assert_eq!(
        uris(&body),
        [eleven.event_uri.as_str(), nine.event_uri.as_str()]
    );

    let window =
        format!("{mine}&min_start_time=2030-05-14T10:00:00.000000Z&max_start_time=2030-05-14T11:30:00.000000Z");
    let (_, _, body) = app.get(&window, &token).await;
    assert_eq!(uris(&body), [ten.event_uri.as_str()]);

    let (_, _, body) = app
        .get(&format!("{mine}&invitee_email=C@example.com"), &token)
        .await;
    assert_eq!(uris(&body), [eleven.event_uri.as_str()]);

    let (_, _, body) = app.get(&format!("{mine}&count=1"), &token).await;
    assert_eq!(uris(&body), [nine.event_uri.as_str()]);
    let next = str_of(&body["pagination"], "next_page");
    let (_, _, body) = app.get(&next, &token).await;
    assert_eq!(uris(&body), [ten.event_uri.as_str()]);
}

#[tokio::test]
async fn bad_list_parameters_are_invalid_arguments() {
    let app = spawn_sim().await;
    let dana = app.host("Dana Host");
    let token = app.sim.issue_personal_access_token(&dana.uri);

    for query in [
        "status=bogus",
        "min_start_time=yesterday",
        "sort=name:asc",
        "count=0",
    ] {
        let (status, _, body) = app
            .get(
                &format!("/scheduled_events?user={}&{query}", dana.uri),
                &token,
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(body["title"], "Invalid Argument");
    }
    let (status, _, _) = app.get("/scheduled_events", &token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn admins_list_their_organization_and_members_cannot() {
    let app = spawn_sim().await;
    let owner = app.host("Olive Owner");
    let member = app.member("Mo Member", &owner.organization, Role::User, Plan::Standard);
    let owners = app.sim.book(booking(&owner, 9, "a@example.com")).unwrap();
    let members = app.sim.book(booking(&member, 10, "b@example.com")).unwrap();
    let org_list = format!("/scheduled_events?organization={}", owner.organization);

    let owner_token = app.sim.issue_personal_access_token(&owner.uri);
    let (status, _, body) = app.get(&org_list, &owner_token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        uris(&body),
        [owners.event_uri.as_str(), members.event_uri.as_str()]
    );
    let (_, _, body) = app
        .get(&format!("{org_list}&user={}", member.uri), &owner_token)
        .await;
    assert_eq!(uris(&body), [members.event_uri.as_str()]);

    let member_token = app.sim.issue_personal_access_token(&member.uri);
    let (status, _, body) = app.get(&org_list, &member_token).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        body["message"],
        "You do not have permission to access this resource."
    );
}

#[tokio::test]
async fn asking_for_someone_elses_events_follows_the_role_rules() {
    let app = spawn_sim().await;
    let owner = app.host("Olive Owner");
    let member = app.member("Mo Member", &owner.organization, Role::User, Plan::Standard);
    let stranger = app.host("Stra Nger");
    let owner_token = app.sim.issue_personal_access_token(&owner.uri);

    let (status, _, body) = app
        .get(
            &format!("/scheduled_events?user={}", member.uri),
            &owner_token,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        body["message"],
        "Please also specify organization when requesting events for a user within your organization."
    );

    let (status, _, body) = app
        .get(
            &format!("/scheduled_events?user={}", stranger.uri),
            &owner_token,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["message"], "This user is not in your organization");

    let (status, _, body) = app
        .get(
            &format!("/scheduled_events?organization={}", stranger.organization),
            &owner_token,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["message"], "You do not have permission");
}

#[tokio::test]
async fn events_and_invitees_can_be_read_by_uuid() {
    let app = spawn_sim().await;
    let dana = app.host("Dana Host");
    let token = app.sim.issue_personal_access_token(&dana.uri);
    let booked = app.sim.book(booking(&dana, 9, "jane@example.com")).unwrap();
    let other = app
        .sim
        .book(booking(&dana, 12, "other@example.com"))
        .unwrap();
    let event_path = booked
        .event_uri
        .trim_start_matches(&app.sim.base_url())
        .to_string();

    let (status, _, body) = app.get(&event_path, &token).await;
    assert_eq!(status, StatusCode::OK);
    let event = &body["resource"];
    assert_eq!(event["uri"], json!(booked.event_uri));
    assert_eq!(event["name"], "30 Minute Meeting");
    assert_eq!(event["status"], "active");
    assert_eq!(event["start_time"], "2030-05-14T09:30:00.000000Z");
    assert_eq!(event["end_time"], "2030-05-14T10:00:00.000000Z");
    assert_eq!(
        event["invitees_counter"],
        json!({"total": 1, "active": 1, "limit": 1})
    );
    assert_eq!(
        event["event_memberships"],
        json!([{"user": dana.uri, "user_email": dana.email, "user_name": dana.name}])
    );
    assert_eq!(event["location"]["type"], "google_conference");
    assert!(
        str_of(event, "event_type").starts_with(&format!("{}/event_types/", app.sim.base_url()))
    );
    assert!(event.as_object().unwrap().contains_key("calendar_event"));

    let (status, _, body) = app.get(&format!("{event_path}/invitees"), &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(uris(&body), [booked.invitee_uri.as_str()]);
    let invitee = &body["collection"][0];
    assert_eq!(invitee["event"], json!(booked.event_uri));
    assert!(invitee.get("scheduled_event").is_none());
    assert_eq!(
        invitee["questions_and_answers"],
        json!([{"answer": "Acme Corp", "position": 0, "question": "What is the name of your business?"}])
    );

    let invitee_path = booked
        .invitee_uri
        .trim_start_matches(&app.sim.base_url())
        .to_string();
    let (status, _, body) = app.get(&invitee_path, &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["resource"]["email"], "jane@example.com");

    let other_invitee = other.invitee_uri.rsplit('/').next().unwrap();
    let (status, _, _) = app
        .get(&format!("{event_path}/invitees/{other_invitee}"), &token)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = app
        .get(
            "/scheduled_events/5f443a67-564e-4e90-a900-b0e92c02ec25",
            &token,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn invitee_lists_filter_by_status_and_email() {
    let app = spawn_sim().await;
    let dana = app.host("Dana Host");
    let token = app.sim.issue_personal_access_token(&dana.uri);
    let first = app
        .sim
        .book(Booking {
            max_invitees: 3,
            ..booking(&dana, 9, "a@example.com")
        })
        .unwrap();
    let join = |email: &str| Booking {
        join_event: Some(first.event_uri.clone()),
        ..booking(&dana, 9, email)
    };
    let second = app.sim.book(join("b@example.com")).unwrap();
    let third = app.sim.book(join("c@example.com")).unwrap();
    assert_eq!(second.event_uri, first.event_uri);
    assert!(matches!(
        app.sim.book(join("d@example.com")),
        Err(SimError::EventFull(_))
    ));
    app.sim
        .cancel(&second.invitee_uri, Canceler::Invitee, Some("busy".into()))
        .unwrap();
    let path = format!(
        "{}/invitees",
        first.event_uri.trim_start_matches(&app.sim.base_url())
    );

    let (_, _, body) = app.get(&format!("{path}?status=active"), &token).await;
    assert_eq!(
        uris(&body),
        [first.invitee_uri.as_str(), third.invitee_uri.as_str()]
    );
    let (_, _, body) = app
        .get(&format!("{path}?email=b@example.com"), &token)
        .await;
    assert_eq!(uris(&body), [second.invitee_uri.as_str()]);
    assert_eq!(body["collection"][0]["cancellation"]["reason"], "busy");
    let (_, _, body) = app
        .get(&format!("{path}?sort=created_at:desc&count=1"), &token)
        .await;
    assert_eq!(uris(&body), [third.invitee_uri.as_str()]);

    let (_, _, body) = app
        .get(
            first.event_uri.trim_start_matches(&app.sim.base_url()),
            &token,
        )
        .await;
    assert_eq!(
        body["resource"]["status"], "active",
        "a group event stays active"
    );
    assert_eq!(
        body["resource"]["invitees_counter"],
        json!({"total": 3, "active": 2, "limit": 3})
    );
}

#[tokio::test]
async fn colleagues_cannot_view_each_others_events() {
    let app = spawn_sim().await;
    let owner = app.host("Olive Owner");
    let member = app.member("Mo Member", &owner.organization, Role::User, Plan::Standard);
    let booked = app.sim.book(booking(&owner, 9, "a@example.com")).unwrap();
    let member_token = app.sim.issue_personal_access_token(&member.uri);
    let path = booked
        .event_uri
        .trim_start_matches(&app.sim.base_url())
        .to_string();

    assert_eq!(app.get(&path, &member_token).await.0, StatusCode::FORBIDDEN);
    let (status, _, body) = app.get(&format!("{path}/invitees"), &member_token).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["message"], "You are not allowed to view this event");
}

#[tokio::test]
async fn listing_events_needs_the_scheduled_events_read_scope() {
    let app = spawn_sim().await;
    let dana = app.host("Dana Host");
    let tokens = app.connect(&dana, "users:read").await;

    let (status, _, body) = app
        .get(
            &format!("/scheduled_events?user={}", dana.uri),
            &tokens.access,
        )
        .await;

    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["required_scopes"], json!(["scheduled_events:read"]));
}

#[tokio::test]
async fn rescheduling_moves_the_invitee_to_a_new_event() {
    let app = spawn_sim().await;
    let dana = app.host("Dana Host");
    let booked = app.sim.book(booking(&dana, 9, "a@example.com")).unwrap();

    let moved = app
        .sim
        .reschedule(&booked.invitee_uri, at(15) + Duration::days(1))
        .unwrap();

    assert_ne!(moved.event_uri, booked.event_uri);
    let token = app.sim.issue_personal_access_token(&dana.uri);
    let (_, _, body) = app
        .get(
            moved.event_uri.trim_start_matches(&app.sim.base_url()),
            &token,
        )
        .await;
    assert_eq!(
        body["resource"]["start_time"],
        "2030-05-15T15:30:00.000000Z"
    );
    let (_, _, body) = app
        .get(
            booked.invitee_uri.trim_start_matches(&app.sim.base_url()),
            &token,
        )
        .await;
    assert_eq!(body["resource"]["status"], "canceled");
    assert_eq!(body["resource"]["rescheduled"], true);
    assert_eq!(body["resource"]["new_invitee"], json!(moved.invitee_uri));
    assert!(matches!(
        app.sim.reschedule(&booked.invitee_uri, at(16)),
        Err(SimError::InviteeNotActive(_))
    ));
}
