use calendly_sim::{Booking, Canceler, SimUser};
use serde_json::Value;

use crate::helpers::*;

/// The event's `updated_at` as the API shows it.
async fn updated_at(app: &TestSim, token: &str, event_uri: &str) -> String {
    let (_, _, body) = app
        .get(&event_uri.replace(&app.sim.base_url(), ""), token)
        .await;
    str_of(&body["resource"], "updated_at")
}

async fn invitee(app: &TestSim, token: &str, invitee_uri: &str) -> Value {
    let (_, _, body) = app
        .get(&invitee_uri.replace(&app.sim.base_url(), ""), token)
        .await;
    body["resource"].clone()
}

fn tick(app: &TestSim) {
    app.sim.advance_clock(chrono::Duration::minutes(1));
}

fn group_booking(host: &SimUser, email: &str, join: Option<String>) -> Booking {
    Booking {
        host: host.uri.clone(),
        invitee_email: email.into(),
        max_invitees: 3,
        join_event: join,
        ..Default::default()
    }
}

#[tokio::test]
async fn every_change_to_an_event_or_its_invitees_bumps_the_events_updated_at() {
    let app = spawn_sim().await;
    let host = app.host("Dana Host");
    let token = app.sim.issue_personal_access_token(&host.uri);
    let first = app
        .sim
        .book(group_booking(&host, "a@example.com", None))
        .unwrap();
    let event = first.event_uri.clone();
    let mut seen = vec![updated_at(&app, &token, &event).await];

    tick(&app);
    let second = app
        .sim
        .book(group_booking(&host, "b@example.com", Some(event.clone())))
        .unwrap();
    seen.push(updated_at(&app, &token, &event).await);

    tick(&app);
    app.sim
        .cancel(&second.invitee_uri, Canceler::Invitee, None)
        .unwrap();
    seen.push(updated_at(&app, &token, &event).await);

    tick(&app);
    let moved = app
        .sim
        .reschedule(
            &first.invitee_uri,
            app.sim.now() + chrono::Duration::days(1),
        )
        .unwrap();
    let (_, _, body) = app
        .get(&event.replace(&app.sim.base_url(), ""), &token)
        .await;
    assert_eq!(
        body["resource"]["status"], "canceled",
        "its last invitee left"
    );
    seen.push(str_of(&body["resource"], "updated_at"));

    for pair in seen.windows(2) {
        assert!(pair[0] < pair[1], "updated_at moves on: {seen:?}");
    }
    let new_event = updated_at(&app, &token, &moved.event_uri).await;
    assert!(new_event >= seen[3]);
}

#[tokio::test]
async fn no_show_marks_change_the_invitee_but_not_the_events_updated_at() {
    let app = spawn_sim().await;
    let host = app.host("Dana Host");
    let token = app.sim.issue_personal_access_token(&host.uri);
    let booked = app
        .sim
        .book(Booking {
            host: host.uri.clone(),
            ..Default::default()
        })
        .unwrap();
    let event_before = updated_at(&app, &token, &booked.event_uri).await;
    let invitee_before = invitee(&app, &token, &booked.invitee_uri).await;

    tick(&app);
    app.sim.mark_no_show(&booked.invitee_uri).unwrap();
    let marked = invitee(&app, &token, &booked.invitee_uri).await;
    tick(&app);
    app.sim.unmark_no_show(&booked.invitee_uri).unwrap();
    let unmarked = invitee(&app, &token, &booked.invitee_uri).await;

    assert!(marked["no_show"].is_object());
    assert!(unmarked["no_show"].is_null());
    assert!(str_of(&marked, "updated_at") > str_of(&invitee_before, "updated_at"));
    assert!(str_of(&unmarked, "updated_at") > str_of(&marked, "updated_at"));
    assert_eq!(
        updated_at(&app, &token, &booked.event_uri).await,
        event_before
    );
}
