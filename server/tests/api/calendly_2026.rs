//! Calendly as it behaves since October–November 2026 (calendly-api.md §0), black-box: the real
//! server against the simulator, on both databases.

use std::time::Duration;

use app::meetings::{MeetingView, MeetingsView};
use calendly::secrets::SigningKey;
use calendly::webhook::sign;
use calendly_sim::{Booking, Plan, SimConfig, SimUser};
use reqwest::StatusCode;

use crate::helpers::{spawn_app_with, upcoming, Adviser, TestApp, TestDb};
use crate::on_both_databases;

fn adviser_id(n: i64) -> backend::accounts::AdviserId {
    backend::accounts::AdviserId(n)
}

async fn connected(app: &TestApp, name: &str) -> (Adviser, SimUser) {
    let cal = app.calendly_user(name, None);
    let adviser = app.new_adviser().await;
    app.connect(&adviser, &cal).await;
    app.initial_sync_done().await;
    (adviser, cal)
}

fn in_days(days: i64) -> chrono::DateTime<chrono::Utc> {
    let t = chrono::Utc::now() + chrono::Duration::days(days);
    chrono::DurationRound::duration_trunc(t, chrono::Duration::hours(1)).unwrap()
}

async fn post_signed(app: &TestApp, path: &str, key: &str, t: i64, body: &str) -> StatusCode {
    let signature = format!(
        "t={t},v1={}",
        sign(&SigningKey::new(key.into()), t, body.as_bytes())
    );
    app.client
        .post(app.url(path))
        .header("content-type", "application/json")
        .header("Calendly-Webhook-Signature", signature)
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
        .status()
}

/// A delivery the simulator made earlier, to replay by hand.
fn a_delivered_body(app: &TestApp) -> String {
    app.sim
        .deliveries()
        .into_iter()
        .find(|d| d.succeeded())
        .expect("a delivery was made")
        .body
}

/// Waits for the backfill after connecting (longer than the usual helper: large accounts).
async fn backfill_done(app: &TestApp, max: Duration) {
    let started = std::time::Instant::now();
    while started.elapsed() < max {
        let (pending,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM calendar_connections WHERE last_sync_at IS NULL")
                .fetch_one(app.state.db.pool())
                .await
                .unwrap();
        if pending == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the backfill did not finish within {max:?}");
}

fn meeting<'a>(meetings: &'a MeetingsView, title: &str) -> &'a MeetingView {
    meetings
        .upcoming
        .iter()
        .find(|m| m.title == title)
        .unwrap_or_else(|| panic!("no meeting {title}: {meetings:?}"))
}

on_both_databases! {
    async fn a_free_plan_adviser_gets_a_live_user_scoped_subscription(app) {
        let cal = app.calendly_user("Fay Free", None);
        app.sim.set_plan(&cal.uri, Plan::Free);
        let adviser = app.new_adviser().await;
        app.connect(&adviser, &cal).await;
        app.initial_sync_done().await;

        let status = app.connection_status(&adviser).await;
        assert_eq!(status.live, "active", "{status:?}");
        let subs = app.active_subscriptions_of(&cal);
        assert_eq!(subs.len(), 1);
        assert_eq!(subs[0].scope, calendly_sim::SubscriptionScope::User);
        app.book(&cal, "Free Plan Client");
        app.deliveries_settle().await;
        let meetings = upcoming(&app.meetings(&adviser).await);
        assert_eq!(meetings[0].1, vec!["Free Plan Client".to_string()], "arrived by webhook");
    }
}

on_both_databases! {
    async fn a_booking_whose_event_has_no_name_appears_as_a_meeting(app) {
        let (adviser, cal) = connected(&app, "Nell Noname").await;
        app.sim
            .book(Booking { host: cal.uri.clone(), event_name: None, invitee_name: "Una Named".into(), ..Default::default() })
            .unwrap();
        app.deliveries_settle().await;
        let meetings = upcoming(&app.meetings(&adviser).await);
        assert_eq!(meetings, vec![("Meeting".to_string(), vec!["Una Named".to_string()], false)]);
        // The sync reads the same event from the API: still one meeting, still titled.
        backend::jobs::reconcile(&app.state, adviser_id(1)).await;
        assert_eq!(upcoming(&app.meetings(&adviser).await), meetings);
    }
}

/// A Teams meeting's link arrives after the booking, with no webhook; the next round finds it,
/// whether or not Calendly changed the event's `updated_at`.
async fn a_late_conference_link_reaches_the_meeting(db: TestDb, touch_updated_at: bool) {
    let app = spawn_app_with(db, fast_sim(), |_| {}).await;
    let (adviser, cal) = connected(&app, "Tia Teams").await;
    let booked = app
        .sim
        .book(Booking {
            host: cal.uri.clone(),
            event_name: Some("Teams Review".into()),
            location: Some(serde_json::json!({"type": "microsoft_teams_conference", "status": "processing", "join_url": null})),
            ..Default::default()
        })
        .unwrap();
    app.deliveries_settle().await;
    let before = app.meetings(&adviser).await;
    let m = meeting(&before, "Teams Review");
    assert!(m.join_url.is_none());
    assert!(m.awaiting_link);

    let link = "https://teams.microsoft.com/l/meetup-join/abc";
    app.sim
        .push_conference_link(&booked.event_uri, link, touch_updated_at)
        .unwrap();
    backend::jobs::scheduled_round(&app.state, adviser_id(1)).await;
    let after = app.meetings(&adviser).await;
    let m = meeting(&after, "Teams Review");
    assert_eq!(m.join_url.as_deref(), Some(link), "{after:?}");
    assert!(!m.awaiting_link);
}

mod a_late_conference_link_reaches_the_meeting {
    use crate::helpers::TestDb;
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_sqlite_without_a_new_updated_at() {
        super::a_late_conference_link_reaches_the_meeting(TestDb::Sqlite, false).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_postgres_without_a_new_updated_at() {
        super::a_late_conference_link_reaches_the_meeting(TestDb::Postgres, false).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_sqlite_with_a_new_updated_at() {
        super::a_late_conference_link_reaches_the_meeting(TestDb::Sqlite, true).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_postgres_with_a_new_updated_at() {
        super::a_late_conference_link_reaches_the_meeting(TestDb::Postgres, true).await;
    }
}

fn fast_sim() -> SimConfig {
    SimConfig {
        retry_base: Duration::from_millis(100),
        ..SimConfig::default()
    }
}

on_both_databases! {
    async fn a_delivery_to_a_url_no_longer_in_use_gets_410_and_calendly_drops_the_orphan(app) {
        let (adviser, cal) = connected(&app, "Otto Orphan").await;
        let orphan = app.active_subscriptions_of(&cal).remove(0);
        // As if a disconnect had happened while Calendly was unreachable and its clean-up was
        // lost: our row is retired, Calendly still has the subscription.
        sqlx::query("UPDATE calendly_webhook_subscriptions SET is_active = 0, state = 'retired'")
            .execute(app.state.db.pool()).await.unwrap();
        sqlx::query("UPDATE calendar_connections SET status = 'disconnected'")
            .execute(app.state.db.pool()).await.unwrap();

        app.book(&cal, "Late Booking");
        app.deliveries_settle().await;
        let attempts: Vec<_> = app.sim.deliveries().into_iter().filter(|d| d.subscription == orphan.uri).collect();
        assert_eq!(attempts.iter().map(|d| d.status).collect::<Vec<_>>(), vec![Some(410)], "answered 410 once, never retried");
        assert!(app.sim.subscriptions().iter().all(|s| s.uri != orphan.uri), "Calendly deleted the orphan");
        let (stored,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM webhook_deliveries").fetch_one(app.state.db.pool()).await.unwrap();
        assert_eq!(stored, 0, "nothing is stored for it");
        assert!(upcoming(&app.meetings(&adviser).await).is_empty(), "nothing is shown for it");
    }
}

on_both_databases! {
    async fn only_a_genuine_delivery_can_get_a_410_and_a_token_never_issued_stays_404(app) {
        let (_adviser, cal) = connected(&app, "Ria Retired").await;
        app.book(&cal, "Someone");
        app.deliveries_settle().await;
        let body = a_delivered_body(&app);
        let token = app.active_subscriptions_of(&cal)[0].callback_url.rsplit('/').next().unwrap().to_owned();
        sqlx::query("UPDATE calendly_webhook_subscriptions SET is_active = 0, state = 'retired'")
            .execute(app.state.db.pool()).await.unwrap();
        let path = format!("/api/calendly/webhook/{token}");
        let now = app.clock.now_unix();
        let key = app.sim.config().webhook_signing_key.clone();
        assert_eq!(post_signed(&app, &path, "not-the-app-key", now, &body).await, StatusCode::UNAUTHORIZED,
            "a forged delivery must not make us ask Calendly to delete anything");
        assert_eq!(post_signed(&app, &path, &key, now, &body).await, StatusCode::GONE);
        assert_eq!(post_signed(&app, "/api/calendly/webhook/AAAAAAAAAAAAAAAAAAAAAA", &key, now, &body).await, StatusCode::NOT_FOUND);
        assert_eq!(post_signed(&app, "/api/calendly/webhook/not-a-token", &key, now, &body).await, StatusCode::NOT_FOUND);
    }
}

/// Key rotation without a flag day, and a configurable timestamp tolerance.
async fn deliveries_signed_with_the_previous_key_or_within_a_wider_tolerance_verify(db: TestDb) {
    let old_key = "previous-app-signing-key".to_owned();
    let app = spawn_app_with(db, fast_sim(), |vars| {
        vars.insert(
            "CALENDLY_WEBHOOK_SIGNING_KEY_PREVIOUS".into(),
            old_key.clone(),
        );
        vars.insert("APP_WEBHOOK_TOLERANCE_SECS".into(), "900".into());
    })
    .await;
    let (_adviser, cal) = connected(&app, "Kai Keys").await;
    app.book(&cal, "Key Client");
    app.deliveries_settle().await;
    let body = a_delivered_body(&app);
    let token = app.active_subscriptions_of(&cal)[0]
        .callback_url
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    let path = format!("/api/calendly/webhook/{token}");
    let now = app.clock.now_unix();
    let current = app.sim.config().webhook_signing_key.clone();
    assert_eq!(
        post_signed(&app, &path, &old_key, now, &body).await,
        StatusCode::OK,
        "previous key"
    );
    assert_eq!(
        post_signed(&app, &path, &current, now - 600, &body).await,
        StatusCode::OK,
        "10 minutes old, tolerance 15"
    );
    assert_eq!(
        post_signed(&app, &path, &current, now - 1000, &body).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        post_signed(&app, &path, "some-other-key", now, &body).await,
        StatusCode::UNAUTHORIZED
    );
}

mod deliveries_signed_with_the_previous_key_or_within_a_wider_tolerance_verify {
    use crate::helpers::TestDb;
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_sqlite() {
        super::deliveries_signed_with_the_previous_key_or_within_a_wider_tolerance_verify(
            TestDb::Sqlite,
        )
        .await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_postgres() {
        super::deliveries_signed_with_the_previous_key_or_within_a_wider_tolerance_verify(
            TestDb::Postgres,
        )
        .await;
    }
}

on_both_databases! {
    async fn a_callback_url_calendly_refuses_is_reported_as_the_operators_to_fix_and_the_adviser_is_polled(app) {
        app.sim.set_require_public_callback_url(true);
        let (adviser, cal) = connected(&app, "Pat Polled").await;
        let status = app.connection_status(&adviser).await;
        assert_eq!(status.live, "unavailable");
        let reason = status.live_reason.as_deref().unwrap();
        assert!(reason.contains("APP_PUBLIC_URL"), "{reason}");
        assert!(!reason.to_lowercase().contains("plan"), "no plan copy without Calendly saying so: {reason}");
        assert!(!reason.contains("reconnect"), "{reason}");

        app.book(&cal, "Polled Client");
        backend::jobs::scheduled_round(&app.state, adviser_id(1)).await;
        assert_eq!(upcoming(&app.meetings(&adviser).await)[0].1, vec!["Polled Client".to_string()]);
        let page = adviser.client.get(app.url("/settings/calendar")).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("Live updates unavailable:"), "the page says why");
        assert!(page.contains("syncing every 5 minutes"));
    }
}

on_both_databases! {
    async fn polling_applies_no_shows(app) {
        app.sim.set_require_public_callback_url(true);
        let (adviser, cal) = connected(&app, "Nora Noshow").await;
        let start = chrono::Utc::now() - chrono::Duration::hours(2);
        let booked = app.sim.book(Booking { host: cal.uri.clone(), start_time: start, invitee_name: "Absent Client".into(), ..Default::default() }).unwrap();
        backend::jobs::scheduled_round(&app.state, adviser_id(1)).await;
        app.sim.mark_no_show(&booked.invitee_uri).unwrap();
        backend::jobs::scheduled_round(&app.state, adviser_id(1)).await;
        let meetings = app.meetings(&adviser).await;
        let past = &meetings.past;
        assert_eq!(past.len(), 1, "{meetings:?}");
        assert!(past[0].invitees[0].no_show, "{meetings:?}");
    }
}

on_both_databases! {
    async fn guests_and_the_invitees_own_links_are_kept_for_the_adviser(app) {
        let (adviser, cal) = connected(&app, "Gil Guests").await;
        app.sim
            .book(Booking {
                host: cal.uri.clone(),
                event_name: Some("Family Review".into()),
                guests: vec!["partner@example.com".into()],
                location: Some(serde_json::json!({"type": "physical", "location": "1 High St", "additional_info": "Second floor, ring twice"})),
                ..Default::default()
            })
            .unwrap();
        app.deliveries_settle().await;
        let meetings = app.meetings(&adviser).await;
        let m = meeting(&meetings, "Family Review");
        assert_eq!(m.guests, ["partner@example.com"]);
        assert_eq!(m.location.as_deref(), Some("1 High St"));
        assert_eq!(m.location_details.as_deref(), Some("Second floor, ring twice"));
        let invitee = &m.invitees[0];
        assert!(invitee.reschedule_url.as_deref().unwrap().starts_with("http"), "{invitee:?}");
        assert!(invitee.cancel_url.as_deref().unwrap().starts_with("http"), "{invitee:?}");
    }
}

on_both_databases! {
    async fn a_refresh_answer_without_owner_organization_or_expiry_keeps_the_adviser_connected(app) {
        let (adviser, cal) = connected(&app, "Ray Refresh").await;
        app.sim.set_minimal_refresh_responses(true);
        // Two refreshes in a row: the second only works if the first one's rotated refresh
        // token was stored (Calendly revoked the old one when it answered).
        for round in 0..2 {
            app.clock.advance(Duration::from_secs(2 * 3600 + 60));
            app.sim.advance_clock(chrono::Duration::seconds(2 * 3600 + 60));
            let report = backend::sync::sync_connection(&app.state, adviser_id(1), backend::sync::SyncKind::Reconcile).await;
            assert!(report.is_ok(), "round {round}: {report:?}");
        }
        let status = app.connection_status(&adviser).await;
        assert_eq!(status.status, "connected", "{status:?}");
        let (org,): (String,) = sqlx::query_as("SELECT organization_uri FROM calendar_connections").fetch_one(app.state.db.pool()).await.unwrap();
        assert_eq!(org, cal.organization, "a missing organization keeps the stored one");
    }
}

/// 600 events, nothing changed: a reconciliation lists the events and reads no invitees.
async fn a_sync_of_600_unchanged_events_stays_far_under_the_free_plan_limit(db: TestDb) {
    let sim = SimConfig {
        rate_limit_per_minute: 100_000,
        ..fast_sim()
    };
    let app = spawn_app_with(db, sim, |_| {}).await;
    let cal = app.calendly_user("Max Many", None);
    for i in 0..600 {
        app.sim
            .book(Booking {
                host: cal.uri.clone(),
                start_time: in_days(1 + i / 4) + chrono::Duration::hours(i % 4),
                invitee_name: format!("Client {i}"),
                invitee_email: format!("client{i}@example.com"),
                ..Default::default()
            })
            .unwrap();
    }
    let adviser = app.new_adviser().await;
    let before_connect = app.sim.api_calls(&cal.uri);
    app.connect(&adviser, &cal).await;
    backfill_done(&app, Duration::from_secs(180)).await;
    let backfill = app.sim.api_calls(&cal.uri) - before_connect;
    let (meetings,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM meetings")
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(meetings, 600);
    assert!(backfill < 620, "one backfill, not two: {backfill} requests");
    assert!(
        backend::jobs::claim_due_connections(&app.state)
            .await
            .unwrap()
            .is_empty(),
        "no second sync straight after connecting"
    );

    let before = app.sim.api_calls(&cal.uri);
    backend::jobs::reconcile(&app.state, adviser_id(1)).await;
    let reconcile = app.sim.api_calls(&cal.uri) - before;
    eprintln!("requests: backfill {backfill}, reconciliation of 600 unchanged events {reconcile}");
    assert!(reconcile < 50, "{reconcile} requests");

    let before = app.sim.api_calls(&cal.uri);
    backend::jobs::scheduled_round(&app.state, adviser_id(1)).await;
    let round = app.sim.api_calls(&cal.uri) - before;
    assert!(round <= 2, "an interval's cheap checks: {round} requests");
}

mod a_sync_of_600_unchanged_events_stays_far_under_the_free_plan_limit {
    use crate::helpers::TestDb;
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_sqlite() {
        super::a_sync_of_600_unchanged_events_stays_far_under_the_free_plan_limit(TestDb::Sqlite)
            .await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_postgres() {
        super::a_sync_of_600_unchanged_events_stays_far_under_the_free_plan_limit(TestDb::Postgres)
            .await;
    }
}

/// The sync leaves half of the shared limit to the adviser's other integrations: it pauses
/// instead of running into a 429, and resumes where it stopped.
async fn a_long_backfill_paces_itself_and_resumes_where_it_stopped(db: TestDb) {
    let sim = SimConfig {
        rate_limit_per_minute: 40,
        ..fast_sim()
    };
    let app = spawn_app_with(db, sim, |_| {}).await;
    let cal = app.calendly_user("Pia Paced", None);
    for i in 0..30 {
        app.sim
            .book(Booking {
                host: cal.uri.clone(),
                start_time: in_days(1 + i),
                invitee_name: format!("Paced {i}"),
                invitee_email: format!("paced{i}@example.com"),
                ..Default::default()
            })
            .unwrap();
    }
    let adviser = app.new_adviser().await;
    app.connect(&adviser, &cal).await;
    app.initial_sync_done().await;
    let first = upcoming(&app.meetings(&adviser).await).len();
    assert!(first > 0 && first < 30, "paused part way: {first}");
    let status = app.connection_status(&adviser).await;
    assert!(
        status
            .last_sync_result
            .as_deref()
            .unwrap()
            .contains("paused"),
        "{status:?}"
    );
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        !metrics.contains("calendly_rate_limited_total"),
        "never ran into a 429"
    );

    for _ in 0..4 {
        app.clock.advance(Duration::from_secs(61));
        app.sim.advance_clock(chrono::Duration::seconds(61));
        backend::jobs::scheduled_round(&app.state, adviser_id(1)).await;
    }
    assert_eq!(upcoming(&app.meetings(&adviser).await).len(), 30);
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        !metrics.contains("calendly_rate_limited_total"),
        "never ran into a 429"
    );
}

mod a_long_backfill_paces_itself_and_resumes_where_it_stopped {
    use crate::helpers::TestDb;
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_sqlite() {
        super::a_long_backfill_paces_itself_and_resumes_where_it_stopped(TestDb::Sqlite).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_postgres() {
        super::a_long_backfill_paces_itself_and_resumes_where_it_stopped(TestDb::Postgres).await;
    }
}

on_both_databases! {
    async fn an_authorization_error_other_than_access_denied_gets_its_own_message(app) {
        let adviser = app.new_adviser().await;
        let authorize = app.start_connect(&adviser).await;
        let state = authorize.query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned();
        let callback = format!("{}/api/calendly/oauth/callback?error=invalid_scope&error_description=unknown+scope&state={state}", app.address);
        let landing = app.finish_connect(&adviser, &callback).await;
        assert_eq!(landing, "/settings/calendar?error=scope");
        let page = adviser.client.get(app.url(&landing)).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("invalid scope"), "the page says what happened");
    }
}
