//! "Sync now" on Calendar Connections: reads the adviser's meetings from Calendly at once, and
//! at most once a minute (Calendly's rate limit is shared with the adviser's other apps).

use std::time::Duration;

use crate::helpers::{Adviser, TestApp};
use crate::on_both_databases;

async fn sync_now(app: &TestApp, adviser: &Adviser) -> String {
    let response = adviser
        .client
        .post(app.url("/api/calendly/sync"))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_redirection(), "{}", response.status());
    response.headers()["location"].to_str().unwrap().to_owned()
}

on_both_databases! {
    async fn sync_now_reads_calendly_at_once_and_at_most_once_a_minute(app) {
        let cal = app.calendly_user("Nia Host", None);
        let adviser = app.new_adviser().await;
        app.connect(&adviser, &cal).await;
        app.initial_sync_done().await;
        // A booking whose webhook never arrives: only a sync can find it.
        let callback = app.active_subscriptions_of(&cal)[0].callback_url.clone();
        app.sim.inject_failure(calendly_sim::FailureRule {
            url_contains: callback,
            mode: calendly_sim::FailureMode::Status(500),
            times: None,
        });
        app.book(&cal, "Missed Webhook");
        assert!(crate::helpers::upcoming(&app.meetings(&adviser).await).is_empty());

        let landing = sync_now(&app, &adviser).await;
        assert_eq!(landing, "/settings/calendar?synced=1");
        let shown = crate::helpers::upcoming(&app.meetings(&adviser).await);
        assert_eq!(shown.len(), 1, "the sync found it");

        let requests_before = app.sim.api_calls(&cal.uri);
        assert_eq!(sync_now(&app, &adviser).await, "/settings/calendar?sync_wait=60");
        assert_eq!(app.sim.api_calls(&cal.uri), requests_before, "a second click within a minute asks Calendly nothing");

        app.clock.advance(Duration::from_secs(61));
        assert!(sync_now(&app, &adviser).await.starts_with("/settings/calendar?synced="));
    }
}

on_both_databases! {
    async fn sync_now_without_a_connection_says_so(app) {
        let adviser = app.new_adviser().await;
        assert_eq!(sync_now(&app, &adviser).await, "/settings/calendar?error=not_connected");
        let anonymous = crate::helpers::browser().post(app.url("/api/calendly/sync")).send().await.unwrap();
        assert_eq!(anonymous.status(), 401);
    }
}
