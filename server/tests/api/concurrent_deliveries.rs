//! Deliveries that arrive at the same moment: Calendly's retries run in parallel, and a
//! reschedule's two deliveries (the old invitee canceled, the new one created) touch the same
//! two meetings. Applied at once they must neither deadlock nor wait for a retry.

use std::time::Duration;

use calendly::secrets::SigningKey;
use calendly::webhook::sign;
use calendly_sim::{FailureMode, FailureRule, SimConfig};

use crate::helpers::{spawn_app_with, TestApp, TestDb};

/// Reschedules `n` bookings while the callback is failing (so Calendly has both deliveries of
/// each reschedule waiting), then delivers every one of them at once, as parallel retries do.
async fn reschedules_delivered_all_at_once_apply_on_their_first_attempt(db: TestDb) {
    // Calendly's own retries come much later than this test: only our parallel POSTs arrive.
    let app = spawn_app_with(
        db,
        SimConfig {
            retry_base: Duration::from_secs(600),
            ..SimConfig::default()
        },
        |_| {},
    )
    .await;
    let cal = app.calendly_user("Rhea Host", None);
    let adviser = app.new_adviser().await;
    app.connect(&adviser, &cal).await;
    app.initial_sync_done().await;
    const N: usize = 8;
    let booked: Vec<_> = (0..N)
        .map(|i| app.book(&cal, &format!("Client Number{i}")))
        .collect();
    app.deliveries_settle().await;
    let before = app.sim.deliveries().len();

    let callback = app.active_subscriptions_of(&cal)[0].callback_url.clone();
    app.sim.inject_failure(FailureRule {
        url_contains: callback.clone(),
        mode: FailureMode::Status(503),
        times: Some(2 * N as u32),
    });
    for (i, b) in booked.iter().enumerate() {
        let new_start = chrono::Utc::now() + chrono::Duration::days(3 + i as i64);
        app.sim.reschedule(&b.invitee_uri, new_start).unwrap();
    }
    let waiting: Vec<String> = attempts_after(&app, before, 2 * N)
        .await
        .into_iter()
        .map(|a| a.body)
        .collect();

    let posts = waiting.iter().map(|body| {
        let t = app.clock.now_unix();
        let key = SigningKey::new(app.sim.config().webhook_signing_key.clone());
        app.client
            .post(&callback)
            .header("content-type", "application/json")
            .header(
                "Calendly-Webhook-Signature",
                format!("t={t},v1={}", sign(&key, t, body.as_bytes())),
            )
            .body(body.clone())
            .send()
    });
    for answer in futures::future::join_all(posts).await {
        assert_eq!(answer.expect("POST a delivery").status(), 200);
    }

    let unapplied: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT event, error FROM webhook_deliveries WHERE status NOT IN ('processed', 'ignored')",
    )
    .fetch_all(app.state.db.pool())
    .await
    .unwrap();
    assert!(
        unapplied.is_empty(),
        "every delivery applied when it arrived: {unapplied:?}"
    );
    let page = app.meetings(&adviser).await;
    let upcoming = &page.upcoming;
    assert_eq!(upcoming.len(), N, "{page:?}");
    assert!(
        upcoming
            .iter()
            .all(|m| !m.canceled && m.rescheduled_from.is_some()),
        "each booking shows once, where it moved to: {page:?}"
    );
}

/// The `n` delivery attempts Calendly makes after its first `before`, once it has made them.
async fn attempts_after(
    app: &TestApp,
    before: usize,
    n: usize,
) -> Vec<calendly_sim::DeliveryAttempt> {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let attempts = app.sim.deliveries();
        if attempts.len() >= before + n {
            return attempts[before..before + n].to_vec();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "Calendly did not try to deliver"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reschedules_delivered_all_at_once_apply_on_their_first_attempt_on_sqlite() {
    reschedules_delivered_all_at_once_apply_on_their_first_attempt(TestDb::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reschedules_delivered_all_at_once_apply_on_their_first_attempt_on_postgres() {
    reschedules_delivered_all_at_once_apply_on_their_first_attempt(TestDb::Postgres).await;
}

/// Pages, streams and jobs holding every shared database connection: Calendly's delivery is
/// still stored and acknowledged at once, on the connections reserved for deliveries.
async fn a_delivery_is_stored_while_pages_hold_every_shared_connection(db: TestDb) {
    let app = crate::helpers::spawn_app(db).await;
    let cal = app.calendly_user("Pia Host", None);
    let adviser = app.new_adviser().await;
    app.connect(&adviser, &cal).await;
    app.initial_sync_done().await;
    let before = app.sim.deliveries().len();

    let pool = app.state.db.pool();
    let mut held = Vec::new();
    for _ in 0..pool.options().get_max_connections() {
        held.push(pool.acquire().await.expect("a shared connection"));
    }
    app.book(&cal, "Quentin Client");
    let attempt = attempts_after(&app, before, 1).await[0].status;
    assert_eq!(attempt, Some(200), "acknowledged on its first attempt");
    drop(held);
    let page = app.meetings(&adviser).await;
    assert_eq!(page.upcoming.len(), 1, "{page:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_is_stored_while_pages_hold_every_shared_connection_on_sqlite() {
    a_delivery_is_stored_while_pages_hold_every_shared_connection(TestDb::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_is_stored_while_pages_hold_every_shared_connection_on_postgres() {
    a_delivery_is_stored_while_pages_hold_every_shared_connection(TestDb::Postgres).await;
}
