use calendly_sim::{FailureMode, FailureRule};

use crate::helpers::upcoming;
use crate::on_both_databases;

fn adviser_id(n: i64) -> backend::accounts::AdviserId {
    backend::accounts::AdviserId(n)
}

on_both_databases! {
    async fn deliveries_lost_while_the_app_was_unreachable_are_recovered_by_reconciliation(app) {
        let cal = app.calendly_user("Rita Host", None);
        let adviser = app.new_adviser().await;
        app.connect(&adviser, &cal).await;
        app.initial_sync_done().await;
        app.sim.inject_failure(FailureRule { url_contains: "/api/calendly/webhook/".into(), mode: FailureMode::Drop, times: None });
        app.book(&cal, "Lost Delivery");
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert!(upcoming(&app.meetings(&adviser).await).is_empty(), "the delivery never arrived");

        backend::jobs::reconcile(&app.state, adviser_id(1)).await;
        let meetings = upcoming(&app.meetings(&adviser).await);
        assert_eq!(meetings.len(), 1);
        assert_eq!(meetings[0].1, vec!["Lost Delivery".to_string()]);

        // When Calendly's retry finally gets through, nothing is counted twice.
        app.sim.clear_failures();
        app.deliveries_settle().await;
        assert_eq!(upcoming(&app.meetings(&adviser).await).len(), 1);
    }
}

on_both_databases! {
    async fn a_host_cancellation_missed_by_webhooks_is_caught_by_reconciliation(app) {
        let cal = app.calendly_user("Sol Host", None);
        let adviser = app.new_adviser().await;
        app.connect(&adviser, &cal).await;
        let booked = app.book(&cal, "Will Be Canceled");
        app.deliveries_settle().await;
        app.sim.inject_failure(FailureRule { url_contains: "/api/calendly/webhook/".into(), mode: FailureMode::Status(500), times: None });
        app.sim.cancel(&booked.invitee_uri, calendly_sim::Canceler::Host, Some("Adviser unavailable".into())).unwrap();
        backend::jobs::reconcile(&app.state, adviser_id(1)).await;
        let meetings = upcoming(&app.meetings(&adviser).await);
        assert_eq!(meetings.len(), 1);
        assert!(meetings[0].2, "the meeting is marked canceled");
    }
}

on_both_databases! {
    async fn a_disabled_subscription_is_replaced_and_deliveries_resume(app) {
        let cal = app.calendly_user("Tom Host", None);
        let adviser = app.new_adviser().await;
        app.connect(&adviser, &cal).await;
        let old = app.active_subscriptions_of(&cal).remove(0);
        app.sim.disable_subscription(&old.uri);

        backend::jobs::reconcile(&app.state, adviser_id(1)).await;
        let now = app.active_subscriptions_of(&cal);
        assert_eq!(now.len(), 1);
        assert_ne!(now[0].uri, old.uri);
        // A new callback URL is what lets the new subscription exist before the old one goes.
        assert_ne!(now[0].callback_url, old.callback_url);
        assert!(app.sim.subscriptions().iter().all(|s| s.uri != old.uri), "the old subscription is deleted");
        assert!(now[0].created_at >= old.created_at);

        app.book(&cal, "After Repair");
        app.deliveries_settle().await;
        let meetings = upcoming(&app.meetings(&adviser).await);
        assert!(meetings.iter().any(|m| m.1 == vec!["After Repair".to_string()]), "{meetings:?}");
        let metrics = app.get("/metrics").await.text().await.unwrap();
        assert!(metrics.contains("calendly_subscription_repairs_total 1"), "{metrics}");
    }
}

on_both_databases! {
    async fn two_instances_never_reconcile_the_same_connection_in_one_round(app) {
        let other = app.second_instance().await;
        for name in ["V One", "V Two", "V Three", "V Four"] {
            let cal = app.calendly_user(name, None);
            let adviser = app.new_adviser().await;
            app.connect(&adviser, &cal).await;
        }
        sqlx::query("UPDATE calendar_connections SET next_sync_at = NULL").execute(app.state.db.pool()).await.unwrap();
        let (mine, theirs) = tokio::join!(
            backend::jobs::claim_due_connections(&app.state),
            backend::jobs::claim_due_connections(&other.state)
        );
        let (mine, theirs) = (mine.unwrap(), theirs.unwrap());
        assert_eq!(mine.len() + theirs.len(), 4, "every connection is claimed: {mine:?} {theirs:?}");
        assert!(mine.iter().all(|id| !theirs.contains(id)), "no connection is claimed twice");
        // Nothing is due again until the interval has passed.
        assert!(backend::jobs::claim_due_connections(&app.state).await.unwrap().is_empty());
    }
}

/// Calendly's 429 (here: the adviser's other integrations spent the shared limit): no more calls
/// for that adviser until X-RateLimit-Reset has passed, then the sync resumes where it stopped.
async fn a_rate_limited_adviser_is_left_alone_until_the_reset(db: crate::helpers::TestDb) {
    let sim_config = calendly_sim::SimConfig {
        retry_base: std::time::Duration::from_millis(100),
        rate_limit_per_minute: 40,
        ..calendly_sim::SimConfig::default()
    };
    let app = crate::helpers::spawn_app_with(db, sim_config, |_| {}).await;
    let cal = app.calendly_user("Wes Host", None);
    let adviser = app.new_adviser().await;
    app.connect(&adviser, &cal).await;
    app.initial_sync_done().await;
    for _ in 0..4 {
        app.book(&cal, "Someone");
    }
    app.deliveries_settle().await;
    app.sim.consume_rate_limit(&cal.uri, 40);
    let sync = || {
        backend::sync::sync_connection(
            &app.state,
            adviser_id(1),
            backend::sync::SyncKind::Reconcile,
        )
    };
    assert!(matches!(
        sync().await,
        Err(backend::connections::TokenError::Calendly(
            calendly::Error::RateLimited { .. }
        ))
    ));
    let calls = app.sim.api_calls(&cal.uri);
    let metric = |text: &str| text.lines().any(|l| l == "calendly_rate_limited_total 1");
    // Further attempts fail fast without calling Calendly (the 429 count stays at one).
    for _ in 0..3 {
        assert!(sync().await.is_err());
    }
    assert_eq!(
        app.sim.api_calls(&cal.uri),
        calls,
        "no call before the reset"
    );
    assert!(metric(&app.get("/metrics").await.text().await.unwrap()));
    let status = app.connection_status(&adviser).await;
    assert!(
        status
            .last_sync_result
            .as_deref()
            .unwrap()
            .contains("rate limit"),
        "{status:?}"
    );
    // After the reset, syncing works again.
    app.clock.advance(std::time::Duration::from_secs(61));
    app.sim.advance_clock(chrono::Duration::seconds(61));
    let report = sync().await.unwrap();
    assert_eq!(report.paused_for_secs, None);
    assert_eq!(upcoming(&app.meetings(&adviser).await).len(), 4);
}

mod a_rate_limited_adviser_is_left_alone_until_the_reset {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_sqlite() {
        super::a_rate_limited_adviser_is_left_alone_until_the_reset(crate::helpers::TestDb::Sqlite)
            .await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_postgres() {
        super::a_rate_limited_adviser_is_left_alone_until_the_reset(
            crate::helpers::TestDb::Postgres,
        )
        .await;
    }
}

on_both_databases! {
    async fn a_stored_delivery_that_could_not_be_applied_is_applied_later_exactly_once(app) {
        let other = app.second_instance().await;
        let cal = app.calendly_user("Xena Host", None);
        let adviser = app.new_adviser().await;
        app.connect(&adviser, &cal).await;
        app.initial_sync_done().await;
        app.book(&cal, "Later Client");
        app.deliveries_settle().await;
        // As if applying had failed when it arrived: the delivery is stored, the meeting is not.
        for sql in [
            "DELETE FROM attendees",
            "DELETE FROM meetings",
            "UPDATE webhook_deliveries SET status = 'failed', error = 'could not be saved yet', processed_at = NULL",
        ] {
            sqlx::query(sql).execute(app.state.db.pool()).await.unwrap();
        }
        assert!(upcoming(&app.meetings(&adviser).await).is_empty());
        let (a, b) = tokio::join!(
            backend::webhooks::process_pending(&app.state),
            backend::webhooks::process_pending(&other.state)
        );
        assert_eq!(a.unwrap() + b.unwrap(), 1, "applied by exactly one instance");
        let meetings = upcoming(&app.meetings(&adviser).await);
        assert_eq!(meetings.len(), 1);
        assert_eq!(meetings[0].1, vec!["Later Client".to_string()]);
        let (status,): (String,) = sqlx::query_as("SELECT status FROM webhook_deliveries").fetch_one(app.state.db.pool()).await.unwrap();
        assert_eq!(status, "processed");
    }
}
