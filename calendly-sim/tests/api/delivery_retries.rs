use std::time::Duration;

use axum::http::StatusCode;
use calendly_sim::{Booking, FailureMode, FailureRule, SimConfig, SubscriptionState};

use crate::helpers::*;

fn book(app: &TestSim, host: &calendly_sim::SimUser) {
    app.sim
        .book(Booking {
            host: host.uri.clone(),
            ..Default::default()
        })
        .unwrap();
}

/// Waits (real time) until `n` attempts are logged.
async fn attempts_logged(app: &TestSim, n: usize) {
    tokio::time::timeout(Duration::from_secs(5), async {
        while app.sim.deliveries().len() < n {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("delivery attempts");
}

#[tokio::test]
async fn a_410_gone_deletes_the_subscription_at_once_without_retry() {
    let app = spawn_sim().await;
    let receiver = Receiver::start().await;
    receiver.respond_with(410);
    let (host, tokens) = subscribed_host(&app, &receiver, "/gone").await;
    let uri = app.sim.subscriptions()[0].uri.clone();
    let path = uri.replace(&app.sim.base_url(), "");

    book(&app, &host);
    app.settle().await;

    let attempts = app.sim.deliveries();
    assert_eq!(attempts.len(), 1, "no retry: {attempts:?}");
    assert_eq!((attempts[0].attempt, attempts[0].status), (1, Some(410)));
    assert!(app.sim.subscriptions().is_empty());
    assert_eq!(
        app.get(&path, &tokens.access).await.0,
        StatusCode::NOT_FOUND
    );
    let list = format!(
        "/webhook_subscriptions?organization={}&scope=user&user={}",
        host.organization, host.uri
    );
    let (_, _, body) = app.get(&list, &tokens.access).await;
    assert_eq!(body["collection"], serde_json::json!([]));

    receiver.respond_with(200);
    book(&app, &host);
    app.settle().await;
    assert_eq!(app.sim.deliveries().len(), 1, "no more deliveries");
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn an_injected_410_after_other_failures_also_deletes_the_subscription() {
    let app = spawn_sim().await;
    let receiver = Receiver::start().await;
    let (host, _) = subscribed_host(&app, &receiver, "/flaky").await;
    app.sim.inject_failure(FailureRule {
        url_contains: "/flaky".into(),
        mode: FailureMode::Status(500),
        times: Some(1),
    });
    app.sim.inject_failure(FailureRule {
        url_contains: "/flaky".into(),
        mode: FailureMode::Status(410),
        times: Some(1),
    });

    book(&app, &host);
    app.settle().await;

    let statuses: Vec<Option<u16>> = app.sim.deliveries().iter().map(|a| a.status).collect();
    assert_eq!(statuses, [Some(500), Some(410)]);
    assert!(app.sim.subscriptions().is_empty());
}

#[tokio::test]
async fn other_4xx_answers_are_still_retried_and_keep_the_subscription() {
    let app = spawn_sim().await;
    let receiver = Receiver::start().await;
    let (host, _) = subscribed_host(&app, &receiver, "/h").await;
    app.sim.inject_failure(FailureRule {
        url_contains: "/h".into(),
        mode: FailureMode::Status(404),
        times: Some(1),
    });

    book(&app, &host);
    app.settle().await;

    let statuses: Vec<Option<u16>> = app.sim.deliveries().iter().map(|a| a.status).collect();
    assert_eq!(statuses, [Some(404), Some(200)]);
    assert_eq!(app.sim.subscriptions()[0].state, SubscriptionState::Active);
}

/// One failed first attempt, then a retry two simulated minutes later; returns the two
/// attempts' signature headers (the receiver got only the successful retry).
async fn failed_then_retried_two_minutes_later(app: &TestSim) -> (String, String) {
    let receiver = Receiver::start().await;
    let (host, _) = subscribed_host(app, &receiver, "/late").await;
    app.sim.inject_failure(FailureRule {
        url_contains: "/late".into(),
        mode: FailureMode::Status(500),
        times: Some(1),
    });
    book(app, &host);
    attempts_logged(app, 1).await;
    app.sim.advance_clock(chrono::Duration::minutes(2));
    app.settle().await;
    let attempts = app.sim.deliveries();
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert!(attempts[1].succeeded());
    let received = receiver.received();
    assert_eq!(received.len(), 1);
    let key = &app.sim.config().webhook_signing_key;
    let t = verify(&received[0].signature().unwrap(), key, &received[0].body);
    assert!(t <= attempts[1].at.timestamp());
    (
        attempts[0].signature.clone().unwrap(),
        attempts[1].signature.clone().unwrap(),
    )
}

#[tokio::test]
async fn retries_carry_the_first_attempts_signature_when_so_configured() {
    let app = spawn_sim_with(SimConfig {
        sign_retries_at_first_attempt: true,
        ..SimConfig::default()
    })
    .await;

    let (first, retry) = failed_then_retried_two_minutes_later(&app).await;

    assert_eq!(first, retry, "same header, same t");
    let attempts = app.sim.deliveries();
    let t: i64 = first
        .trim_start_matches("t=")
        .split(',')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(attempts[1].at.timestamp() - t >= 120, "an old timestamp");
}

#[tokio::test]
async fn retries_are_signed_afresh_by_default_and_the_switch_flips_at_run_time() {
    let app = spawn_sim_with(SimConfig::default()).await;
    let (first, retry) = failed_then_retried_two_minutes_later(&app).await;
    assert_ne!(first, retry);

    let app = spawn_sim_with(SimConfig::default()).await;
    app.sim.set_sign_retries_at_first_attempt(true);
    let (first, retry) = failed_then_retried_two_minutes_later(&app).await;
    assert_eq!(first, retry);
}
