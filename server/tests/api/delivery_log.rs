//! The delivery log on Calendar Connections: each delivery as received, repeats as ignored
//! duplicates, refused ones with their reason — bounded, so a flood cannot fill the database.

use app::connections::ConnectionView;
use calendly::secrets::SigningKey;
use calendly::webhook::sign;

use crate::helpers::{Adviser, TestApp};
use crate::on_both_databases;

async fn post_signed(app: &TestApp, url: &str, body: &str, key: &str) -> u16 {
    let t = app.clock.now_unix();
    let key = SigningKey::new(key.to_owned());
    app.client
        .post(url)
        .header("content-type", "application/json")
        .header(
            "Calendly-Webhook-Signature",
            format!("t={t},v1={}", sign(&key, t, body.as_bytes())),
        )
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn outcomes(status: &ConnectionView) -> Vec<String> {
    status.recent.iter().map(|d| d.outcome.clone()).collect()
}

async fn connected(app: &TestApp) -> (Adviser, String, String) {
    let cal = app.calendly_user("Lia Host", None);
    let adviser = app.new_adviser().await;
    app.connect(&adviser, &cal).await;
    app.initial_sync_done().await;
    app.book(&cal, "First Client");
    app.deliveries_settle().await;
    let callback = app.active_subscriptions_of(&cal)[0].callback_url.clone();
    let body = app.sim.deliveries().last().unwrap().body.clone();
    (adviser, callback, body)
}

on_both_databases! {
    async fn a_repeated_delivery_shows_as_an_ignored_duplicate_and_changes_nothing(app) {
        let (adviser, callback, body) = connected(&app).await;
        let key = app.sim.config().webhook_signing_key.clone();
        assert_eq!(outcomes(&app.connection_status(&adviser).await), ["Received: applied"]);
        assert_eq!(post_signed(&app, &callback, &body, &key).await, 200);
        assert_eq!(post_signed(&app, &callback, &body, &key).await, 200);
        let log = outcomes(&app.connection_status(&adviser).await);
        assert_eq!(log, ["Ignored: duplicate (already received; 2 repeats)", "Received: applied"]);
        assert_eq!(crate::helpers::upcoming(&app.meetings(&adviser).await).len(), 1);
        let status = app.connection_status(&adviser).await;
        assert!(status.last_webhook.is_some(), "the last successful delivery is shown");
    }
}

on_both_databases! {
    async fn a_refused_delivery_shows_its_reason_and_a_flood_is_noted_only_a_few_times_a_minute(app) {
        let (adviser, callback, body) = connected(&app).await;
        for _ in 0..20 {
            assert_eq!(post_signed(&app, &callback, &body, "not-the-signing-key").await, 401);
        }
        // Noted after the answer: wait for the notes, then make sure no more come.
        let refused = || async {
            let log = outcomes(&app.connection_status(&adviser).await);
            log.iter().filter(|o| *o == "Refused: signature did not match (was it sent by Calendly?)").count()
        };
        for _ in 0..50 {
            if refused().await >= backend::webhooks::MAX_REFUSALS_PER_MINUTE as usize {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert_eq!(refused().await, backend::webhooks::MAX_REFUSALS_PER_MINUTE as usize);
        let (rows,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM webhook_refusals")
            .fetch_one(app.state.db.pool())
            .await
            .unwrap();
        assert_eq!(rows, backend::webhooks::MAX_REFUSALS_PER_MINUTE);

        // Another adviser's log is not touched by requests to this adviser's URL.
        let other = app.new_adviser().await;
        assert!(outcomes(&app.connection_status(&other).await).is_empty());
    }
}
