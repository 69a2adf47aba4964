use std::time::Duration;

use axum::http::StatusCode;
use calendly_sim::{
    Booking, Canceler, FailureMode, FailureRule, Plan, Role, SigningMode, SimConfig, SimUser,
    SubscriptionState,
};
use serde_json::{json, Value};

use crate::helpers::*;

fn book(app: &TestSim, host: &SimUser) -> calendly_sim::BookedInvitee {
    app.sim
        .book(Booking {
            host: host.uri.clone(),
            invitee_email: "jane.prospect@example.com".into(),
            questions: vec![(
                "What is the name of your business?".into(),
                "Acme Corp".into(),
            )],
            ..Default::default()
        })
        .unwrap()
}

#[tokio::test]
async fn booking_delivers_a_signed_invitee_created_payload() {
    let app = spawn_sim().await;
    let receiver = Receiver::start().await;
    let (host, _) = subscribed_host(&app, &receiver, "/hooks/calendly").await;

    let booked = book(&app, &host);
    app.settle().await;

    let received = receiver.received();
    assert_eq!(received.len(), 1);
    let delivery = &received[0];
    assert_eq!(delivery.path, "/hooks/calendly");
    assert_eq!(delivery.headers["content-type"], "application/json");
    let t = verify(
        &delivery.signature().expect("signed"),
        &app.sim.config().webhook_signing_key,
        &delivery.body,
    );
    assert!((t - app.sim.now().timestamp()).abs() <= 2);

    let body = delivery.json();
    assert_eq!(body["event"], "invitee.created");
    assert_eq!(body["created_by"], json!(host.uri));
    let payload = &body["payload"];
    assert_eq!(payload["uri"], json!(booked.invitee_uri));
    assert_eq!(payload["event"], json!(booked.event_uri));
    assert_eq!(payload["status"], "active");
    assert_eq!(payload["rescheduled"], false);
    assert_eq!(payload["old_invitee"], Value::Null);
    assert_eq!(payload["no_show"], Value::Null);
    assert_eq!(payload["email"], "jane.prospect@example.com");
    let invitee_uuid = booked.invitee_uri.rsplit('/').next().unwrap();
    assert_eq!(
        payload["cancel_url"],
        format!("https://calendly.com/cancellations/{invitee_uuid}")
    );
    assert_eq!(
        payload["reschedule_url"],
        format!("https://calendly.com/reschedulings/{invitee_uuid}")
    );
    assert_eq!(payload["questions_and_answers"][0]["position"], 0);
    let event = &payload["scheduled_event"];
    assert_eq!(event["uri"], json!(booked.event_uri));
    assert_eq!(
        event["invitees_counter"],
        json!({"total": 1, "active": 1, "limit": 1})
    );
    assert_eq!(event["event_memberships"][0]["user"], json!(host.uri));
    assert!(event.get("calendar_event").is_none());
    assert!(payload.get("cancellation").is_none());
}

#[tokio::test]
async fn payload_keys_are_serialized_like_real_captures() {
    let app = spawn_sim().await;
    let receiver = Receiver::start().await;
    let (host, _) = subscribed_host(&app, &receiver, "/hooks").await;

    book(&app, &host);
    app.settle().await;

    let raw = String::from_utf8(receiver.received()[0].body.to_vec()).unwrap();
    assert!(raw.starts_with(r#"{"created_at":""#), "{raw}");
    assert_key_order(&raw, &["created_at", "created_by", "event", "payload"]);
    assert_key_order(
        &raw,
        &[
            "cancel_url",
            "created_at",
            "email",
            "event",
            "first_name",
            "invitee_scheduled_by",
            "last_name",
            "name",
            "new_invitee",
            "no_show",
            "old_invitee",
            "payment",
            "questions_and_answers",
            "reconfirmation",
            "reschedule_url",
            "rescheduled",
            "routing_form_submission",
            "scheduled_event",
            "scheduling_method",
            "status",
            "text_reminder_number",
            "timezone",
            "tracking",
            "updated_at",
            "uri",
        ],
    );
    assert!(
        raw.contains(r#""invitees_counter":{"total":1,"active":1,"limit":1}"#),
        "{raw}"
    );
    assert!(raw.contains(
        r#""tracking":{"utm_campaign":null,"utm_source":null,"utm_medium":null,"utm_content":null,"utm_term":null,"salesforce_uuid":null}"#
    ));
    let created_at = receiver.received()[0].json()["created_at"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        created_at.len(),
        "2025-05-12T21:17:13.000000Z".len(),
        "{created_at}"
    );
}

#[tokio::test]
async fn canceling_delivers_invitee_canceled_with_the_cancellation() {
    let app = spawn_sim().await;
    let receiver = Receiver::start().await;
    let (host, _) = subscribed_host(&app, &receiver, "/hooks").await;
    let booked = book(&app, &host);

    app.sim
        .cancel(
            &booked.invitee_uri,
            Canceler::Host,
            Some("Conflict came up".into()),
        )
        .unwrap();
    app.settle().await;

    let received = receiver.received();
    assert_eq!(received.len(), 2);
    let body = received[1].json();
    assert_eq!(body["event"], "invitee.canceled");
    let payload = &body["payload"];
    assert_eq!(payload["status"], "canceled");
    assert_eq!(payload["rescheduled"], false);
    assert_eq!(payload["cancellation"]["canceler_type"], "host");
    assert_eq!(payload["cancellation"]["canceled_by"], "Matt Host");
    assert_eq!(payload["cancellation"]["reason"], "Conflict came up");
    assert_eq!(payload["scheduled_event"]["status"], "canceled");
    assert_eq!(
        payload["scheduled_event"]["cancellation"],
        payload["cancellation"]
    );
    assert_eq!(
        payload["scheduled_event"]["invitees_counter"],
        json!({"total": 1, "active": 0, "limit": 1})
    );
}

#[tokio::test]
async fn rescheduling_delivers_canceled_then_created_linking_old_and_new() {
    let app = spawn_sim().await;
    let receiver = Receiver::start().await;
    let (host, _) = subscribed_host(&app, &receiver, "/hooks").await;
    let old = book(&app, &host);

    let new = app
        .sim
        .reschedule(&old.invitee_uri, app.sim.now() + chrono::Duration::days(3))
        .unwrap();
    app.settle().await;

    let bodies: Vec<Value> = receiver.received().iter().map(|r| r.json()).collect();
    let events: Vec<&str> = bodies
        .iter()
        .map(|b| b["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        events,
        ["invitee.created", "invitee.canceled", "invitee.created"]
    );
    let canceled = &bodies[1]["payload"];
    assert_eq!(canceled["uri"], json!(old.invitee_uri));
    assert_eq!(canceled["rescheduled"], true);
    assert_eq!(canceled["new_invitee"], json!(new.invitee_uri));
    assert_eq!(canceled["cancellation"]["canceler_type"], "invitee");
    let created = &bodies[2]["payload"];
    assert_eq!(created["uri"], json!(new.invitee_uri));
    assert_eq!(created["old_invitee"], json!(old.invitee_uri));
    assert_eq!(created["status"], "active");
    assert_eq!(created["scheduled_event"]["uri"], json!(new.event_uri));
    assert_ne!(new.event_uri, old.event_uri);
}

#[tokio::test]
async fn no_show_marks_deliver_created_then_deleted() {
    let app = spawn_sim().await;
    let receiver = Receiver::start().await;
    let (host, _) = subscribed_host(&app, &receiver, "/hooks").await;
    let booked = book(&app, &host);

    app.sim.mark_no_show(&booked.invitee_uri).unwrap();
    assert!(app.sim.mark_no_show(&booked.invitee_uri).is_err());
    app.sim.unmark_no_show(&booked.invitee_uri).unwrap();
    assert!(app.sim.unmark_no_show(&booked.invitee_uri).is_err());
    app.settle().await;

    let bodies: Vec<Value> = receiver.received().iter().map(|r| r.json()).collect();
    assert_eq!(bodies[1]["event"], "invitee_no_show.created");
    let no_show = &bodies[1]["payload"]["no_show"];
    assert!(no_show["uri"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{}/invitee_no_shows/", app.sim.base_url())));
    assert!(no_show["created_at"].is_string());
    assert_eq!(bodies[1]["payload"]["status"], "active");
    assert_eq!(bodies[2]["event"], "invitee_no_show.deleted");
    assert_eq!(bodies[2]["payload"]["no_show"], Value::Null);
}

#[tokio::test]
async fn subscriptions_get_only_the_events_and_hosts_they_cover() {
    let app = spawn_sim().await;
    let receiver = Receiver::start().await;
    let owner = app.host("Olive Owner");
    let member = app.member("Mo Member", &owner.organization, Role::User, Plan::Standard);
    let outsider = app.host("Out Sider");
    let owner_token = app.sim.issue_personal_access_token(&owner.uri);
    let member_token = app.sim.issue_personal_access_token(&member.uri);
    app.subscribe_org(
        &owner_token,
        &owner,
        &receiver.url("/org"),
        &["invitee.created"],
    )
    .await;
    app.subscribe_user(
        &member_token,
        &member,
        &receiver.url("/member"),
        &["invitee.canceled"],
    )
    .await;

    let owners = book(&app, &owner);
    let members = book(&app, &member);
    book(&app, &outsider);
    app.sim
        .cancel(&owners.invitee_uri, Canceler::Invitee, None)
        .unwrap();
    app.sim
        .cancel(&members.invitee_uri, Canceler::Invitee, None)
        .unwrap();
    app.settle().await;

    let mut seen: Vec<(String, String, String)> = receiver
        .received()
        .iter()
        .map(|r| {
            let body = r.json();
            (
                r.path.clone(),
                str_of(&body, "event"),
                str_of(&body["payload"], "uri"),
            )
        })
        .collect();
    seen.sort();
    let mut expected = vec![
        (
            "/member".to_string(),
            "invitee.canceled".to_string(),
            members.invitee_uri.clone(),
        ),
        (
            "/org".to_string(),
            "invitee.created".to_string(),
            members.invitee_uri.clone(),
        ),
        (
            "/org".to_string(),
            "invitee.created".to_string(),
            owners.invitee_uri.clone(),
        ),
    ];
    expected.sort();
    assert_eq!(seen, expected);
    let org_delivery = receiver
        .received()
        .into_iter()
        .find(|r| r.path == "/org")
        .unwrap();
    assert_eq!(
        org_delivery.json()["created_by"],
        json!(owner.uri),
        "created_by is the subscription's creator"
    );
}

#[tokio::test]
async fn pat_subscriptions_sign_with_their_own_key_or_not_at_all() {
    let app = spawn_sim().await;
    let receiver = Receiver::start().await;
    let host = app.host("Matt Host");
    let pat = app.sim.issue_personal_access_token(&host.uri);
    let with_key = json!({"url": receiver.url("/keyed"), "events": ["invitee.created"], "organization": host.organization,
                          "user": host.uri, "scope": "user", "signing_key": "pat-key-123"});
    assert_eq!(
        app.post_json("/webhook_subscriptions", &pat, &with_key)
            .await
            .0,
        StatusCode::CREATED
    );
    app.subscribe_user(&pat, &host, &receiver.url("/unkeyed"), &["invitee.created"])
        .await;

    book(&app, &host);
    app.settle().await;

    let received = receiver.received();
    let keyed = received.iter().find(|r| r.path == "/keyed").unwrap();
    verify(&keyed.signature().unwrap(), "pat-key-123", &keyed.body);
    let unkeyed = received.iter().find(|r| r.path == "/unkeyed").unwrap();
    assert_eq!(unkeyed.signature(), None);
}

#[tokio::test]
async fn oauth_subscriptions_sign_with_the_app_key_or_the_given_key_per_signing_mode() {
    for (mode, expected_key) in [
        (SigningMode::AppKey, None),
        (SigningMode::ProvidedKeyIfAny, Some("given-key")),
    ] {
        let app = spawn_sim_with(SimConfig {
            signing_mode: mode,
            ..fast_config()
        })
        .await;
        let receiver = Receiver::start().await;
        let host = app.host("Matt Host");
        let tokens = app.connect(&host, ALL_SCOPES).await;
        let body = json!({"url": receiver.url("/h"), "events": ["invitee.created"], "organization": host.organization,
                          "user": host.uri, "scope": "user", "signing_key": "given-key"});
        assert_eq!(
            app.post_json("/webhook_subscriptions", &tokens.access, &body)
                .await
                .0,
            StatusCode::CREATED
        );

        book(&app, &host);
        app.settle().await;

        let delivery = &receiver.received()[0];
        let key = expected_key
            .map(String::from)
            .unwrap_or_else(|| app.sim.config().webhook_signing_key.clone());
        verify(&delivery.signature().unwrap(), &key, &delivery.body);
    }
}

#[tokio::test]
async fn failed_deliveries_are_retried_then_the_subscription_is_disabled() {
    let app = spawn_sim().await;
    let receiver = Receiver::start().await;
    receiver.respond_with(500);
    let (host, tokens) = subscribed_host(&app, &receiver, "/down").await;

    book(&app, &host);
    app.settle().await;

    let attempts = app.sim.deliveries();
    assert!(attempts.len() >= 4, "{attempts:?}");
    assert_eq!(
        attempts.iter().map(|a| a.attempt).collect::<Vec<_>>(),
        (1..=attempts.len() as u32).collect::<Vec<_>>()
    );
    assert!(attempts
        .iter()
        .all(|a| a.status == Some(500) && !a.succeeded()));
    let gaps: Vec<i64> = attempts
        .windows(2)
        .map(|w| (w[1].at - w[0].at).num_milliseconds())
        .collect();
    assert!(
        gaps[0] >= 45 && gaps[1] >= 95 && gaps[2] >= 195,
        "back-off doubles: {gaps:?}"
    );
    assert!((attempts.last().unwrap().at - attempts[0].at).num_milliseconds() >= 1000);
    assert_eq!(receiver.received().len(), attempts.len());

    let view = &app.sim.subscriptions()[0];
    assert_eq!(view.state, SubscriptionState::Disabled);
    let (_, _, body) = app
        .get(
            view.uri.trim_start_matches(&app.sim.base_url()),
            &tokens.access,
        )
        .await;
    assert_eq!(body["resource"]["state"], "disabled");
    assert!(body["resource"]["retry_started_at"].is_string());

    receiver.respond_with(200);
    book(&app, &host);
    app.settle().await;
    assert_eq!(
        app.sim.deliveries().len(),
        attempts.len(),
        "disabled subscriptions get nothing"
    );
}

#[tokio::test]
async fn a_delivery_that_fails_twice_then_succeeds_keeps_the_subscription_active() {
    let app = spawn_sim().await;
    let receiver = Receiver::start().await;
    let (host, _) = subscribed_host(&app, &receiver, "/flaky").await;
    app.sim.inject_failure(FailureRule {
        url_contains: "/flaky".into(),
        mode: FailureMode::Status(503),
        times: Some(2),
    });

    book(&app, &host);
    app.settle().await;

    let attempts = app.sim.deliveries();
    assert_eq!(
        attempts
            .iter()
            .map(|a| (a.attempt, a.status))
            .collect::<Vec<_>>(),
        [(1, Some(503)), (2, Some(503)), (3, Some(200))]
    );
    assert_eq!(
        attempts[0].body, attempts[2].body,
        "a retry resends the same body"
    );
    assert_eq!(receiver.received().len(), 1);
    let view = &app.sim.subscriptions()[0];
    assert_eq!(view.state, SubscriptionState::Active);
    assert!(view.retry_started_at.is_some());
}

#[tokio::test]
async fn redirects_timeouts_and_dropped_connections_are_failures() {
    let app = spawn_sim_with(SimConfig {
        delivery_timeout: Duration::from_millis(200),
        ..fast_config()
    })
    .await;
    let receiver = Receiver::start().await;
    let (host, _) = subscribed_host(&app, &receiver, "/moved").await;
    receiver.respond_with(302);
    app.sim.inject_failure(FailureRule {
        url_contains: "/moved".into(),
        mode: FailureMode::Timeout,
        times: Some(1),
    });
    app.sim.inject_failure(FailureRule {
        url_contains: "/moved".into(),
        mode: FailureMode::Drop,
        times: Some(1),
    });

    book(&app, &host);
    tokio::time::sleep(Duration::from_millis(600)).await;
    receiver.respond_with(204);
    app.settle().await;

    let attempts = app.sim.deliveries();
    assert!(
        attempts[0].error.as_deref().unwrap().contains("timed out"),
        "{attempts:?}"
    );
    assert!(attempts[1].error.is_some() && attempts[1].status.is_none());
    assert_eq!(attempts[2].status, Some(302), "redirects are not followed");
    assert!(!attempts[2].succeeded());
    assert_eq!(attempts.last().unwrap().status, Some(204));
    assert_eq!(app.sim.subscriptions()[0].state, SubscriptionState::Active);
}

#[tokio::test]
async fn advancing_the_clock_past_the_retry_window_disables_a_failing_subscription() {
    let app = spawn_sim_with(SimConfig::default()).await;
    let receiver = Receiver::start().await;
    receiver.respond_with(500);
    let (host, _) = subscribed_host(&app, &receiver, "/down").await;

    book(&app, &host);
    tokio::time::timeout(Duration::from_secs(5), async {
        while app.sim.deliveries().is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
    assert!(
        !app.sim.wait_idle(Duration::from_millis(100)).await,
        "a retry waits a minute"
    );

    app.sim.advance_clock(chrono::Duration::hours(25));
    app.settle().await;

    assert_eq!(
        app.sim.subscriptions()[0].state,
        SubscriptionState::Disabled
    );
    assert_eq!(app.sim.deliveries().len(), 2);
}

#[tokio::test]
async fn the_signature_timestamp_follows_the_simulator_clock() {
    let app = spawn_sim().await;
    let receiver = Receiver::start().await;
    let (host, _) = subscribed_host(&app, &receiver, "/h").await;
    app.sim.advance_clock(chrono::Duration::days(2));

    book(&app, &host);
    app.settle().await;

    let delivery = &receiver.received()[0];
    let t = verify(
        &delivery.signature().unwrap(),
        &app.sim.config().webhook_signing_key,
        &delivery.body,
    );
    assert!(t - chrono::Utc::now().timestamp() >= 2 * 86_400 - 5);
}

#[tokio::test]
async fn disabled_or_deleted_subscriptions_receive_nothing() {
    let app = spawn_sim().await;
    let receiver = Receiver::start().await;
    let (host, tokens) = subscribed_host(&app, &receiver, "/h").await;
    let uri = app.sim.subscriptions()[0].uri.clone();

    app.sim.disable_subscription(&uri);
    book(&app, &host);
    app.settle().await;
    assert!(receiver.received().is_empty());

    let (status, body) = app
        .subscribe_user(&tokens.access, &host, &receiver.url("/h"), &ALL_EVENTS)
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a disabled hook still holds its URL: {body}"
    );
    assert_eq!(
        app.delete(uri.trim_start_matches(&app.sim.base_url()), &tokens.access)
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.subscribe_user(&tokens.access, &host, &receiver.url("/h"), &ALL_EVENTS)
            .await
            .0,
        StatusCode::CREATED
    );
    book(&app, &host);
    app.settle().await;
    assert_eq!(receiver.received().len(), 1);
}
