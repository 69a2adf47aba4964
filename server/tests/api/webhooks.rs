//! The webhook receiver, black-box: what Calendly (or an attacker) POSTs, what comes back, what
//! is stored, and what the adviser then sees on the Meetings page.

use std::time::{Duration, Instant};

use calendly::secrets::SigningKey;
use calendly::webhook::sign;
use calendly_sim::{Booking, Canceler, SimUser};
use reqwest::StatusCode;
use sqlx::Connection;

use crate::helpers::{captured_logs, upcoming, Adviser, TestApp};
use crate::on_both_databases;

// ---------------------------------------------------------------------------------------------
// Helpers

/// Signs up an adviser, connects `name`'s new Calendly account, returns the route token of the
/// subscription's callback URL.
async fn connected_adviser(app: &TestApp, name: &str) -> (Adviser, SimUser, String) {
    let cal = app.calendly_user(name, None);
    let adviser = app.new_adviser().await;
    app.connect(&adviser, &cal).await;
    app.initial_sync_done().await;
    let subs = app.active_subscriptions_of(&cal);
    assert_eq!(subs.len(), 1, "one active subscription for {name}");
    let token = subs[0].callback_url.rsplit('/').next().unwrap().to_owned();
    (adviser, cal, token)
}

fn routed(token: &str) -> String {
    format!("/api/calendly/webhook/{token}")
}

const LEGACY: &str = "/api/calendly/webhook";

/// `t=…,v1=…` for `body` at `t`, made with the app's signing key (what Calendly sends).
fn signature_at(app: &TestApp, t: i64, body: &[u8]) -> String {
    let key = SigningKey::new(app.sim.config().webhook_signing_key.clone());
    format!("t={t},v1={}", sign(&key, t, body))
}

fn signature_now(app: &TestApp, body: &[u8]) -> String {
    signature_at(app, app.clock.now_unix(), body)
}

async fn post(app: &TestApp, path: &str, signature: Option<&str>, body: Vec<u8>) -> StatusCode {
    let mut request = app
        .client
        .post(app.url(path))
        .header("content-type", "application/json")
        .body(body);
    if let Some(signature) = signature {
        request = request.header("Calendly-Webhook-Signature", signature);
    }
    request.send().await.expect("POST a delivery").status()
}

/// Posts `body` signed now, as Calendly would.
async fn deliver(app: &TestApp, path: &str, body: &str) -> StatusCode {
    let signature = signature_now(app, body.as_bytes());
    post(app, path, Some(&signature), body.as_bytes().to_vec()).await
}

async fn count(app: &TestApp, table: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    n
}

/// (webhook_deliveries rows, meetings rows) in the whole database.
async fn stored(app: &TestApp) -> (i64, i64) {
    (
        count(app, "webhook_deliveries").await,
        count(app, "meetings").await,
    )
}

fn stamp(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// A realistic `invitee.created` delivery (the documented one, §6.3) for a fresh event and
/// invitee, created by `created_by`, starting in two days.
fn invitee_created(created_by: &str) -> String {
    let mut v: serde_json::Value = serde_json::from_str(include_str!(
        "../../../calendly/tests/fixtures/invitee_created.json"
    ))
    .unwrap();
    let event = format!(
        "https://api.calendly.com/scheduled_events/{}",
        uuid::Uuid::new_v4()
    );
    let invitee = format!("{event}/invitees/{}", uuid::Uuid::new_v4());
    let now = chrono::Utc::now();
    let start = now + chrono::Duration::days(2);
    v["created_at"] = stamp(now).into();
    v["created_by"] = created_by.into();
    let p = &mut v["payload"];
    p["uri"] = invitee.into();
    p["event"] = event.clone().into();
    p["created_at"] = stamp(now).into();
    p["updated_at"] = stamp(now).into();
    let e = &mut p["scheduled_event"];
    e["uri"] = event.into();
    e["start_time"] = stamp(start).into();
    e["end_time"] = stamp(start + chrono::Duration::minutes(30)).into();
    e["created_at"] = stamp(now).into();
    e["updated_at"] = stamp(now).into();
    e["event_memberships"][0]["user"] = created_by.into();
    serde_json::to_string(&v).unwrap()
}

/// Waits for the start of the app's next second, so a timestamp computed now is still "now"
/// when the request arrives (boundary cases at exactly ±181 s).
async fn early_in_a_second(app: &TestApp) {
    while app.clock.now_ms().rem_euclid(1000) > 300 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `GET /metrics`: the value of `webhook_deliveries_total{outcome="…"}` (0 when absent).
async fn counted(app: &TestApp, outcome: &str) -> u64 {
    let text = app.get("/metrics").await.text().await.unwrap();
    let prefix = format!("webhook_deliveries_total{{outcome=\"{outcome}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// Routing, size, signature, payload

on_both_databases! {
    async fn a_correctly_signed_delivery_to_the_advisers_url_is_stored_and_becomes_a_meeting(app) {
        let (adviser, cal, token) = connected_adviser(&app, "Ava Host").await;
        let body = invitee_created(&cal.uri);
        assert_eq!(deliver(&app, &routed(&token), &body).await, StatusCode::OK);
        assert_eq!(stored(&app).await, (1, 1));
        let meetings = upcoming(&app.meetings(&adviser).await);
        assert_eq!(meetings, vec![("30 Minute Meeting".to_string(), vec!["Jane Prospect".to_string()], false)]);
        let (status,): (String,) = sqlx::query_as("SELECT status FROM webhook_deliveries")
            .fetch_one(app.state.db.pool()).await.unwrap();
        assert_eq!(status, "processed");
        assert_eq!(counted(&app, "stored").await, 1);
    }
}

on_both_databases! {
    async fn an_unknown_route_token_is_404_a_retired_one_410_and_neither_stores_anything(app) {
        let (adviser, cal, token) = connected_adviser(&app, "Bea Host").await;
        let body = invitee_created(&cal.uri);

        let unknown = routed("AAAAAAAAAAAAAAAAAAAAAA");
        assert_eq!(deliver(&app, &unknown, &body).await, StatusCode::NOT_FOUND);
        assert_eq!(post(&app, &unknown, None, b"{}".to_vec()).await, StatusCode::NOT_FOUND, "routing comes before the signature");

        app.disconnect(&adviser).await;
        assert_eq!(deliver(&app, &routed(&token), &body).await, StatusCode::GONE, "a disconnected adviser's URL is gone: Calendly deletes its subscription");

        assert_eq!(stored(&app).await, (0, 0));
        assert_eq!(counted(&app, "unknown_route").await, 2);
        assert_eq!(counted(&app, "retired_route").await, 1);
    }
}

on_both_databases! {
    async fn a_body_over_256_kib_is_413(app) {
        let (_adviser, _cal, token) = connected_adviser(&app, "Cy Host").await;
        let limit = backend::webhooks::MAX_BODY_BYTES;
        assert_eq!(limit, 256 * 1024);

        let too_big = vec![b' '; limit + 1];
        let signature = signature_now(&app, &too_big);
        assert_eq!(post(&app, &routed(&token), Some(&signature), too_big).await, StatusCode::PAYLOAD_TOO_LARGE);

        // Exactly at the limit the body is read, verified, and refused only as not-a-payload.
        let at_limit = vec![b' '; limit];
        let signature = signature_now(&app, &at_limit);
        assert_eq!(post(&app, &routed(&token), Some(&signature), at_limit).await, StatusCode::BAD_REQUEST);
        assert_eq!(stored(&app).await, (0, 0));
    }
}

on_both_databases! {
    async fn bad_signatures_are_401_or_400_and_create_nothing(app) {
        let (adviser, cal, token) = connected_adviser(&app, "Dee Host").await;
        let path = routed(&token);
        let body = invitee_created(&cal.uri);
        let bytes = body.as_bytes();
        let now = app.clock.now_unix();
        let good = sign(&SigningKey::new(app.sim.config().webhook_signing_key.clone()), now, bytes);
        let wrong_key = sign(&SigningKey::new("not-the-app-key".into()), now, bytes);

        let cases: Vec<(&str, Option<String>, StatusCode, &str)> = vec![
            ("missing header", None, StatusCode::UNAUTHORIZED, "signature_missing"),
            ("empty header", Some(String::new()), StatusCode::UNAUTHORIZED, "signature_missing"),
            ("garbage", Some("garbage".into()), StatusCode::BAD_REQUEST, "signature_malformed"),
            ("no t", Some(format!("v1={good}")), StatusCode::BAD_REQUEST, "signature_malformed"),
            ("empty v1", Some(format!("t={now},v1=")), StatusCode::BAD_REQUEST, "signature_empty"),
            ("no v1", Some(format!("t={now}")), StatusCode::BAD_REQUEST, "signature_empty"),
            ("non-numeric t", Some(format!("t=12a,v1={good}")), StatusCode::BAD_REQUEST, "signature_bad_timestamp"),
            ("negative t", Some(format!("t=-{now},v1={good}")), StatusCode::BAD_REQUEST, "signature_bad_timestamp"),
            ("repeated t", Some(format!("t={now},t={now},v1={good}")), StatusCode::BAD_REQUEST, "signature_repeated_timestamp"),
            ("non-hex v1", Some(format!("t={now},v1=zz{}", &good[2..])), StatusCode::BAD_REQUEST, "signature_malformed"),
            ("wrong key", Some(format!("t={now},v1={wrong_key}")), StatusCode::UNAUTHORIZED, "signature_mismatch"),
            ("truncated v1", Some(format!("t={now},v1={}", &good[..32])), StatusCode::UNAUTHORIZED, "signature_mismatch"),
            ("signature for another t", Some(format!("t={},v1={good}", now - 1)), StatusCode::UNAUTHORIZED, "signature_mismatch"),
        ];
        for (what, header, expected, _) in &cases {
            let status = post(&app, &path, header.as_deref(), body.clone().into_bytes()).await;
            assert_eq!(status, *expected, "{what}");
        }
        // One second outside the ±180 s window, either way (correctly signed for that t).
        for (offset, reason) in [(-181, "timestamp_stale"), (181, "timestamp_future")] {
            early_in_a_second(&app).await;
            let header = signature_at(&app, app.clock.now_unix() + offset, bytes);
            let status = post(&app, &path, Some(&header), body.clone().into_bytes()).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "t = now{offset:+}");
            assert_eq!(counted(&app, reason).await, 1);
        }
        // The body was changed after signing (one byte): the signature no longer matches.
        let tampered = body.replacen("Jane Prospect", "Jane Prospecu", 1);
        assert_eq!(post(&app, &path, Some(&format!("t={now},v1={good}")), tampered.into_bytes()).await, StatusCode::UNAUTHORIZED);

        assert_eq!(stored(&app).await, (0, 0), "no rejected delivery is stored");
        assert!(upcoming(&app.meetings(&adviser).await).is_empty());
        for (what, _, _, reason) in &cases {
            assert!(counted(&app, reason).await >= 1, "{what} counted as {reason}");
        }
        assert_eq!(counted(&app, "signature_mismatch").await, 4);

        // Inside the ±180 s window the very same body is accepted.
        let recent = signature_at(&app, app.clock.now_unix() - 170, bytes);
        assert_eq!(post(&app, &path, Some(&recent), body.clone().into_bytes()).await, StatusCode::OK);
        assert_eq!(stored(&app).await, (1, 1));
    }
}

on_both_databases! {
    async fn invalid_json_with_a_valid_signature_is_400(app) {
        let (_adviser, cal, token) = connected_adviser(&app, "Eve Host").await;
        let truncated = invitee_created(&cal.uri);
        let truncated = &truncated[..truncated.len() / 2];
        for body in [truncated, "", "[1,2,3]", r#"{"hello":"world"}"#, r#"{"event":"invitee.created","created_by":"x"}"#] {
            assert_eq!(deliver(&app, &routed(&token), body).await, StatusCode::BAD_REQUEST, "{body:?}");
        }
        assert_eq!(stored(&app).await, (0, 0));
        assert_eq!(counted(&app, "bad_payload").await, 5);
    }
}

on_both_databases! {
    async fn a_delivery_for_another_adviser_sent_to_my_url_is_403_and_logged_as_a_security_event(app) {
        let (ann, _ann_cal, ann_token) = connected_adviser(&app, "Ann Host").await;
        let (bob, bob_cal, _bob_token) = connected_adviser(&app, "Bob Host").await;
        // Correctly signed with the app key (every adviser's deliveries are), but it is Bob's.
        let body = invitee_created(&bob_cal.uri);
        assert_eq!(deliver(&app, &routed(&ann_token), &body).await, StatusCode::FORBIDDEN);

        assert_eq!(stored(&app).await, (0, 0));
        assert!(upcoming(&app.meetings(&ann).await).is_empty());
        assert!(upcoming(&app.meetings(&bob).await).is_empty());
        assert_eq!(counted(&app, "created_by_mismatch").await, 1);
        let logs = captured_logs();
        let line = logs
            .lines()
            .find(|l| l.contains(&bob_cal.uri) && l.contains("created_by"))
            .expect("the refusal is logged");
        assert!(line.contains("security_event"), "{line}");
        assert!(line.contains("WARN"), "{line}");
    }
}

on_both_databases! {
    async fn a_replayed_delivery_is_acknowledged_twice_and_stored_once(app) {
        let (adviser, cal, token) = connected_adviser(&app, "Fox Host").await;
        let body = invitee_created(&cal.uri);
        let signature = signature_now(&app, body.as_bytes());
        for _ in 0..2 {
            let status = post(&app, &routed(&token), Some(&signature), body.clone().into_bytes()).await;
            assert_eq!(status, StatusCode::OK);
        }
        // A Calendly retry: same bytes, a new signature timestamp.
        let later = signature_at(&app, app.clock.now_unix() + 5, body.as_bytes());
        assert_eq!(post(&app, &routed(&token), Some(&later), body.clone().into_bytes()).await, StatusCode::OK);

        assert_eq!(stored(&app).await, (1, 1));
        assert_eq!(upcoming(&app.meetings(&adviser).await).len(), 1);
        assert_eq!(counted(&app, "stored").await, 1);
        assert_eq!(counted(&app, "duplicate").await, 2);
    }
}

on_both_databases! {
    async fn a_settled_deliverys_body_is_emptied_after_the_retention_and_its_replay_still_deduplicates(app) {
        let (adviser, cal, token) = connected_adviser(&app, "Ret Host").await;
        let body = invitee_created(&cal.uri);
        assert_eq!(deliver(&app, &routed(&token), &body).await, StatusCode::OK);
        let body_of = || async {
            let (b,): (String,) = sqlx::query_as("SELECT body FROM webhook_deliveries").fetch_one(app.state.db.pool()).await.unwrap();
            b
        };
        backend::jobs::run_once(&app.state).await.unwrap();
        assert!(!body_of().await.is_empty(), "kept within the retention");

        app.clock.advance(Duration::from_secs((backend::webhooks::BODY_RETENTION_DAYS as u64 + 1) * 24 * 3600));
        backend::jobs::run_once(&app.state).await.unwrap();
        assert_eq!(body_of().await, "", "the invitee's links and conference details are gone");

        // A very late replay of the same delivery is still recognised, not applied again.
        let late = signature_at(&app, app.clock.now_unix(), body.as_bytes());
        assert_eq!(post(&app, &routed(&token), Some(&late), body.clone().into_bytes()).await, StatusCode::OK);
        assert_eq!(stored(&app).await, (1, 1), "one delivery, one meeting");
        assert_eq!(counted(&app, "duplicate").await, 1);
        let _ = adviser;
    }
}

on_both_databases! {
    async fn rejections_are_counted_by_outcome_in_metrics(app) {
        let (_adviser, cal, token) = connected_adviser(&app, "Gil Host").await;
        let (_other, other_cal, _) = connected_adviser(&app, "Hub Host").await;
        let path = routed(&token);
        let body = invitee_created(&cal.uri);
        let now = app.clock.now_unix();
        post(&app, &path, None, body.clone().into_bytes()).await;
        post(&app, &path, Some(&format!("t={now},v1={}", "ab".repeat(32))), body.clone().into_bytes()).await;
        post(&app, &path, Some(&format!("t={now},v1={}", "ab".repeat(32))), body.clone().into_bytes()).await;
        post(&app, &path, Some(&signature_at(&app, now - 600, body.as_bytes())), body.clone().into_bytes()).await;
        post(&app, &path, Some("t=1,t=2,v1=ab"), body.clone().into_bytes()).await;
        deliver(&app, &routed("nope"), &body).await;
        deliver(&app, &path, "not json").await;
        deliver(&app, &path, &invitee_created(&other_cal.uri)).await;
        deliver(&app, &path, &body).await;
        deliver(&app, &path, &body).await;

        let text = app.get("/metrics").await.text().await.unwrap();
        for line in [
            "webhook_deliveries_total{outcome=\"signature_missing\"} 1",
            "webhook_deliveries_total{outcome=\"signature_mismatch\"} 2",
            "webhook_deliveries_total{outcome=\"timestamp_stale\"} 1",
            "webhook_deliveries_total{outcome=\"signature_repeated_timestamp\"} 1",
            "webhook_deliveries_total{outcome=\"unknown_route\"} 1",
            "webhook_deliveries_total{outcome=\"bad_payload\"} 1",
            "webhook_deliveries_total{outcome=\"created_by_mismatch\"} 1",
            "webhook_deliveries_total{outcome=\"stored\"} 1",
            "webhook_deliveries_total{outcome=\"duplicate\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
        assert!(text.contains("# TYPE webhook_deliveries_total counter"));
    }
}

on_both_databases! {
    async fn unknown_event_types_are_stored_and_acknowledged_without_a_meeting(app) {
        let (adviser, cal, token) = connected_adviser(&app, "Ike Host").await;
        let body = serde_json::json!({
            "created_at": stamp(chrono::Utc::now()),
            "created_by": cal.uri,
            "event": "routing_form_submission.created",
            "payload": {
                "created_at": "2026-06-17T01:40:15.793613Z",
                "questions_and_answers": [{"answer": "Pensions", "question": "Topic?", "question_uuid": "q-1"}],
                "result": {"type": "event_type", "value": "https://api.calendly.com/event_types/abc"},
                "routing_form": "https://api.calendly.com/routing_forms/rf-1",
                "submitter": null,
                "submitter_type": null,
                "tracking": {"utm_campaign": null, "utm_source": null, "utm_medium": null, "utm_content": null, "utm_term": null, "salesforce_uuid": null},
                "updated_at": "2026-06-17T01:40:15.793613Z",
                "uri": "https://api.calendly.com/routing_form_submissions/rfs-1"
            }
        })
        .to_string();
        assert_eq!(deliver(&app, &routed(&token), &body).await, StatusCode::OK);
        assert_eq!(deliver(&app, &routed(&token), &body).await, StatusCode::OK, "and its replay");
        assert_eq!(stored(&app).await, (1, 0));
        let (event, status): (String, String) = sqlx::query_as("SELECT event, status FROM webhook_deliveries")
            .fetch_one(app.state.db.pool()).await.unwrap();
        assert_eq!((event.as_str(), status.as_str()), ("routing_form_submission.created", "ignored"));
        assert!(upcoming(&app.meetings(&adviser).await).is_empty());
    }
}

// ---------------------------------------------------------------------------------------------
// Storage unavailable

on_both_databases! {
    async fn with_the_database_gone_a_verified_delivery_gets_503(app) {
        let (_adviser, cal, token) = connected_adviser(&app, "Jo Host").await;
        let body = invitee_created(&cal.uri);
        app.state.db.close().await;
        assert_eq!(deliver(&app, &routed(&token), &body).await, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(deliver(&app, LEGACY, &body).await, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(counted(&app, "storage_unavailable").await, 2);
    }
}

/// Makes the app's database refuse work for a while, without touching the app.
/// SQLite: another connection holds the write lock (longer than the app's 5 s busy timeout).
/// PostgreSQL: the database stops accepting connections and the app's are terminated.
enum Outage {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection, String),
}

impl Outage {
    async fn start(app: &TestApp) -> Outage {
        let url = app.state.db.url().to_owned();
        match app.state.db.kind() {
            backend::db::DbKind::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
                sqlx::query("BEGIN EXCLUSIVE")
                    .execute(&mut conn)
                    .await
                    .unwrap();
                Outage::Sqlite(conn)
            }
            backend::db::DbKind::Postgres => {
                let name = url.rsplit('/').next().unwrap().to_owned();
                let mut admin = sqlx::PgConnection::connect(&crate::helpers::postgres_admin())
                    .await
                    .unwrap();
                sqlx::query(&format!(
                    "ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS false"
                ))
                .execute(&mut admin)
                .await
                .unwrap();
                sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()")
                    .bind(&name)
                    .execute(&mut admin)
                    .await
                    .unwrap();
                Outage::Postgres(admin, name)
            }
        }
    }

    async fn end(self) {
        match self {
            Outage::Sqlite(mut conn) => {
                sqlx::query("ROLLBACK").execute(&mut conn).await.unwrap();
            }
            Outage::Postgres(mut admin, name) => {
                sqlx::query(&format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS true"))
                    .execute(&mut admin)
                    .await
                    .unwrap();
            }
        }
    }
}

on_both_databases! {
    async fn while_storage_is_unavailable_calendly_gets_503_and_its_retry_makes_exactly_one_meeting(app) {
        let (adviser, cal, _token) = connected_adviser(&app, "Kit Host").await;
        let outage = Outage::start(&app).await;
        app.book(&cal, "Rita Retry");

        let deadline = Instant::now() + Duration::from_secs(20);
        while !app.sim.deliveries().iter().any(|d| d.status == Some(503)) {
            assert!(Instant::now() < deadline, "no 503 during the outage: {:?}", app.sim.deliveries());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        outage.end().await;
        app.deliveries_settle().await;

        let attempts = app.sim.deliveries();
        assert!(attempts.len() >= 2, "{attempts:?}");
        let (last, failed) = attempts.split_last().unwrap();
        assert!(failed.iter().all(|a| a.status == Some(503)), "only 503s before the success: {attempts:?}");
        assert_eq!(last.status, Some(200));
        assert!(attempts.iter().all(|a| a.body == last.body), "the same delivery each time");

        assert_eq!(stored(&app).await, (1, 1), "exactly one delivery and one meeting");
        let meetings = upcoming(&app.meetings(&adviser).await);
        assert_eq!(meetings, vec![("30 Minute Meeting".to_string(), vec!["Rita Retry".to_string()], false)]);
        assert!(counted(&app, "storage_unavailable").await >= 1);
    }
}

// ---------------------------------------------------------------------------------------------
// The legacy bare URL

on_both_databases! {
    async fn the_legacy_url_routes_a_verified_delivery_by_created_by(app) {
        let (adviser, cal, _token) = connected_adviser(&app, "Lou Host").await;
        let (other, _other_cal, _) = connected_adviser(&app, "Max Host").await;
        let body = invitee_created(&cal.uri);

        assert_eq!(post(&app, LEGACY, None, body.clone().into_bytes()).await, StatusCode::UNAUTHORIZED);
        let wrong = format!("t={},v1={}", app.clock.now_unix(), "00".repeat(32));
        assert_eq!(post(&app, LEGACY, Some(&wrong), body.clone().into_bytes()).await, StatusCode::UNAUTHORIZED);

        let stranger = invitee_created("https://api.calendly.com/users/nobody-we-know");
        assert_eq!(deliver(&app, LEGACY, &stranger).await, StatusCode::NOT_FOUND);
        assert_eq!(stored(&app).await, (0, 0));

        assert_eq!(deliver(&app, LEGACY, &body).await, StatusCode::OK);
        assert_eq!(upcoming(&app.meetings(&adviser).await).len(), 1);
        assert!(upcoming(&app.meetings(&other).await).is_empty());
        assert_eq!(stored(&app).await, (1, 1));
    }
}

// ---------------------------------------------------------------------------------------------
// Meetings, from real simulator deliveries

on_both_databases! {
    async fn a_booking_becomes_one_meeting_with_its_title_invitee_and_start(app) {
        let (adviser, cal, _) = connected_adviser(&app, "Nia Host").await;
        let start = (chrono::Utc::now() + chrono::Duration::days(3))
            .date_naive()
            .and_hms_opt(14, 30, 0)
            .unwrap()
            .and_utc();
        app.sim
            .book(Booking {
                host: cal.uri.clone(),
                event_name: Some("Pension Review".into()),
                start_time: start,
                invitee_name: "Olive Client".into(),
                invitee_email: "olive@example.com".into(),
                questions: vec![("What would you like to discuss?".into(), "My pension".into())],
                ..Default::default()
            })
            .unwrap();
        app.deliveries_settle().await;

        let page = app.meetings(&adviser).await;
        let meetings = page["upcoming"].as_array().unwrap();
        assert_eq!(meetings.len(), 1, "{page}");
        let m = &meetings[0];
        assert_eq!(m["title"], "Pension Review");
        assert_eq!(m["start_iso"], start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        assert_eq!(m["canceled"], false);
        assert_eq!(m["rescheduled_from"], serde_json::Value::Null);
        assert_eq!(m["source"], "Calendly (live)");
        let invitees = m["invitees"].as_array().unwrap();
        assert_eq!(invitees.len(), 1);
        assert_eq!(invitees[0]["name"], "Olive Client");
        assert_eq!(invitees[0]["email"], "olive@example.com");
        assert_eq!(invitees[0]["no_show"], false);
        assert_eq!(invitees[0]["questions"], serde_json::json!([["What would you like to discuss?", "My pension"]]));
    }
}

on_both_databases! {
    async fn an_invitee_canceling_with_a_reason_marks_the_meeting_canceled_with_a_note(app) {
        let (adviser, cal, _) = connected_adviser(&app, "Pat Host").await;
        let booked = app.book(&cal, "Quinn Client");
        app.deliveries_settle().await;
        app.sim.cancel(&booked.invitee_uri, Canceler::Invitee, Some("Something came up".into())).unwrap();
        app.deliveries_settle().await;

        let page = app.meetings(&adviser).await;
        let meetings = page["upcoming"].as_array().unwrap();
        assert_eq!(meetings.len(), 1, "{page}");
        assert_eq!(meetings[0]["canceled"], true);
        let note = meetings[0]["cancel_note"].as_str().unwrap();
        assert!(note.contains("Quinn Client") && note.contains("Something came up"), "{note}");
        assert_eq!(meetings[0]["invitees"][0]["canceled"], true);
        assert_eq!(stored(&app).await, (2, 1));
    }
}

on_both_databases! {
    async fn a_reschedule_leaves_one_upcoming_meeting_that_shows_where_it_moved_from(app) {
        let (adviser, cal, _) = connected_adviser(&app, "Ray Host").await;
        let booked = app.book(&cal, "Sam Client");
        app.deliveries_settle().await;
        let before = app.meetings(&adviser).await;
        let old_when = before["upcoming"][0]["when"].as_str().unwrap().to_owned();
        let old_start = before["upcoming"][0]["start_iso"].as_str().unwrap().to_owned();

        let new_start = chrono::DateTime::parse_from_rfc3339(&old_start).unwrap().with_timezone(&chrono::Utc)
            + chrono::Duration::days(2);
        app.sim.reschedule(&booked.invitee_uri, new_start).unwrap();
        app.deliveries_settle().await;

        let page = app.meetings(&adviser).await;
        let meetings = page["upcoming"].as_array().unwrap();
        assert_eq!(meetings.len(), 1, "one booking, not a cancel plus a booking: {page}");
        let m = &meetings[0];
        assert_eq!(m["canceled"], false);
        assert_eq!(m["start_iso"], new_start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        let from = m["rescheduled_from"].as_str().expect("marked as moved");
        assert!(old_when.starts_with(from), "moved from {from:?}, was {old_when:?}");
        assert_eq!(m["invitees"][0]["name"], "Sam Client");
        assert_eq!(m["invitees"][0]["canceled"], false);
        assert!(page["past"].as_array().unwrap().is_empty());
        let statuses: Vec<(String,)> = sqlx::query_as("SELECT status FROM meetings ORDER BY start_at")
            .fetch_all(app.state.db.pool()).await.unwrap();
        assert_eq!(statuses, vec![("rescheduled".to_string(),), ("active".to_string(),)]);
    }
}

on_both_databases! {
    async fn a_group_event_is_one_meeting_and_stays_active_when_one_invitee_cancels(app) {
        let (adviser, cal, _) = connected_adviser(&app, "Tess Host").await;
        let first = app.sim.book(Booking {
            host: cal.uri.clone(),
            event_name: Some("Retirement Workshop".into()),
            invitee_name: "Uma One".into(),
            invitee_email: "uma@example.com".into(),
            max_invitees: 2,
            ..Default::default()
        }).unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await; // booked a few ms later: listed second
        let second = app.sim.book(Booking {
            host: cal.uri.clone(),
            join_event: Some(first.event_uri.clone()),
            invitee_name: "Vic Two".into(),
            invitee_email: "vic@example.com".into(),
            ..Default::default()
        }).unwrap();
        assert_eq!(second.event_uri, first.event_uri);
        app.deliveries_settle().await;
        assert_eq!(
            upcoming(&app.meetings(&adviser).await),
            vec![("Retirement Workshop".to_string(), vec!["Uma One".to_string(), "Vic Two".to_string()], false)]
        );

        app.sim.cancel(&second.invitee_uri, Canceler::Invitee, Some("Busy".into())).unwrap();
        app.deliveries_settle().await;
        let page = app.meetings(&adviser).await;
        let meetings = page["upcoming"].as_array().unwrap();
        assert_eq!(meetings.len(), 1);
        assert_eq!(meetings[0]["canceled"], false, "one invitee is still coming");
        let invitees: Vec<(String, bool)> = meetings[0]["invitees"].as_array().unwrap().iter()
            .map(|i| (i["name"].as_str().unwrap().to_owned(), i["canceled"].as_bool().unwrap()))
            .collect();
        assert_eq!(invitees, vec![("Uma One".to_string(), false), ("Vic Two".to_string(), true)]);

        app.sim.cancel(&first.invitee_uri, Canceler::Host, None).unwrap();
        app.deliveries_settle().await;
        let page = app.meetings(&adviser).await;
        assert_eq!(page["upcoming"][0]["canceled"], true, "nobody is coming any more");
    }
}

on_both_databases! {
    async fn marking_and_unmarking_a_no_show_flags_the_attendee(app) {
        let (adviser, cal, _) = connected_adviser(&app, "Uli Host").await;
        let booked = app.book(&cal, "Wes Client");
        app.deliveries_settle().await;
        let no_show = |page: &serde_json::Value| page["upcoming"][0]["invitees"][0]["no_show"].as_bool().unwrap();
        assert!(!no_show(&app.meetings(&adviser).await));

        app.sim.mark_no_show(&booked.invitee_uri).unwrap();
        app.deliveries_settle().await;
        let page = app.meetings(&adviser).await;
        assert!(no_show(&page), "{page}");
        assert_eq!(page["upcoming"][0]["canceled"], false);

        app.sim.unmark_no_show(&booked.invitee_uri).unwrap();
        app.deliveries_settle().await;
        assert!(!no_show(&app.meetings(&adviser).await));

        app.sim.mark_no_show(&booked.invitee_uri).unwrap();
        app.deliveries_settle().await;
        assert!(no_show(&app.meetings(&adviser).await));
        assert_eq!(stored(&app).await, (4, 1));
    }
}

// ---------------------------------------------------------------------------------------------
// Property: any order of the same deliveries, with duplicates, ends in the same meetings.

mod order_independence {
    use backend::accounts::AdviserId;
    use backend::meetings::{
        apply_invitee, list_for_user, InviteeChange, MeetingRow, MeetingsQuery, Show, PAGE_SIZE,
    };
    use backend::Db;
    use calendly::ids::{CalendlyUserUri, EventTypeUri, InviteeUri, ScheduledEventUri};
    use calendly::{
        Cancellation, EventMembership, Invitee, InviteesCounter, Location, NoShow,
        QuestionAndAnswer, ScheduledEvent, Status, Tracking,
    };
    use chrono::{DateTime, Duration, TimeZone, Utc};
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestCaseError, TestRunner};

    const HOST: &str = "https://api.calendly.com/users/host-0001";
    const HOST_NAME: &str = "Dana Host";

    fn base() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2030, 1, 7, 9, 0, 0).unwrap()
    }

    /// What happens at Calendly, one step at a time. Indices pick among the invitees or
    /// events for which the step makes sense (modulo their number); impossible steps are skipped.
    #[derive(Clone, Debug)]
    enum Step {
        Book {
            seats: u32,
        },
        Join {
            event: usize,
        },
        Cancel {
            who: usize,
            by_host: bool,
            reason: bool,
        },
        Reschedule {
            who: usize,
        },
        MarkNoShow {
            who: usize,
        },
        UnmarkNoShow {
            who: usize,
        },
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            3 => (1u32..=2).prop_map(|seats| Step::Book { seats }),
            2 => (0usize..4).prop_map(|event| Step::Join { event }),
            2 => (0usize..4, any::<bool>(), any::<bool>())
                .prop_map(|(who, by_host, reason)| Step::Cancel { who, by_host, reason }),
            2 => (0usize..4).prop_map(|who| Step::Reschedule { who }),
            1 => (0usize..4).prop_map(|who| Step::MarkNoShow { who }),
            1 => (0usize..4).prop_map(|who| Step::UnmarkNoShow { who }),
        ]
    }

    struct Ev {
        id: String,
        name: String,
        start: DateTime<Utc>,
        limit: u32,
        invitees: Vec<usize>,
        status: Status,
        cancellation: Option<Cancellation>,
        created_at: DateTime<Utc>,
        updated_at: DateTime<Utc>,
    }

    struct Inv {
        id: String,
        event: usize,
        name: String,
        status: Status,
        cancellation: Option<Cancellation>,
        rescheduled: bool,
        old: Option<usize>,
        new: Option<usize>,
        no_show: Option<NoShow>,
        created_at: DateTime<Utc>,
        updated_at: DateTime<Utc>,
    }

    #[derive(Clone, Debug)]
    struct Delivery {
        change: InviteeChange,
        at: DateTime<Utc>,
        invitee: Invitee,
        event: ScheduledEvent,
    }

    /// A tiny Calendly (same rules as the simulator) that records the deliveries it would send.
    struct World {
        now: DateTime<Utc>,
        events: Vec<Ev>,
        invitees: Vec<Inv>,
        deliveries: Vec<Delivery>,
        ids: usize,
    }

    impl World {
        fn run(steps: &[Step]) -> World {
            let mut w = World {
                now: base() - Duration::days(5),
                events: Vec::new(),
                invitees: Vec::new(),
                deliveries: Vec::new(),
                ids: 0,
            };
            for step in steps {
                w.now += Duration::seconds(1) + Duration::microseconds(w.ids as i64 * 7 % 1000);
                w.apply(step);
            }
            w
        }

        fn id(&mut self, prefix: &str) -> String {
            self.ids += 1;
            format!("{prefix}-{:04}", self.ids)
        }

        fn active(&self) -> Vec<usize> {
            (0..self.invitees.len())
                .filter(|i| self.invitees[*i].status == Status::Active)
                .collect()
        }

        fn new_event(&mut self, name: &str, start: DateTime<Utc>, limit: u32) -> usize {
            let id = self.id("ev");
            self.events.push(Ev {
                id,
                name: name.into(),
                start,
                limit,
                invitees: Vec::new(),
                status: Status::Active,
                cancellation: None,
                created_at: self.now,
                updated_at: self.now,
            });
            self.events.len() - 1
        }

        fn new_invitee(&mut self, event: usize, name: String) -> usize {
            let id = self.id("inv");
            self.invitees.push(Inv {
                id,
                event,
                name,
                status: Status::Active,
                cancellation: None,
                rescheduled: false,
                old: None,
                new: None,
                no_show: None,
                created_at: self.now,
                updated_at: self.now,
            });
            let i = self.invitees.len() - 1;
            self.events[event].invitees.push(i);
            self.events[event].updated_at = self.now;
            i
        }

        fn cancel(&mut self, i: usize, cancellation: Cancellation) {
            let inv = &mut self.invitees[i];
            inv.status = Status::Canceled;
            inv.cancellation = Some(cancellation.clone());
            inv.updated_at = self.now;
            let e = inv.event;
            let any_active = self.events[e]
                .invitees
                .iter()
                .any(|j| self.invitees[*j].status == Status::Active);
            let ev = &mut self.events[e];
            if !any_active {
                ev.status = Status::Canceled;
                ev.cancellation = Some(cancellation);
            }
            ev.updated_at = self.now;
        }

        fn deliver(&mut self, change: InviteeChange, i: usize) {
            let delivery = Delivery {
                change,
                at: self.now,
                invitee: self.invitee(i),
                event: self.scheduled_event(self.invitees[i].event),
            };
            self.deliveries.push(delivery);
        }

        fn apply(&mut self, step: &Step) {
            match *step {
                Step::Book { seats } => {
                    let start =
                        base() + Duration::days(7) + Duration::hours(self.events.len() as i64);
                    let e = self.new_event("Financial Review", start, seats);
                    let name = format!("Client {}", self.invitees.len() + 1);
                    let i = self.new_invitee(e, name);
                    self.deliver(InviteeChange::Created, i);
                }
                Step::Join { event } => {
                    let open: Vec<usize> = (0..self.events.len())
                        .filter(|e| {
                            let ev = &self.events[*e];
                            let active = ev
                                .invitees
                                .iter()
                                .filter(|j| self.invitees[**j].status == Status::Active)
                                .count();
                            ev.status == Status::Active && (active as u32) < ev.limit
                        })
                        .collect();
                    if open.is_empty() {
                        return;
                    }
                    let e = open[event % open.len()];
                    let name = format!("Client {}", self.invitees.len() + 1);
                    let i = self.new_invitee(e, name);
                    self.deliver(InviteeChange::Created, i);
                }
                Step::Cancel {
                    who,
                    by_host,
                    reason,
                } => {
                    let active = self.active();
                    if active.is_empty() {
                        return;
                    }
                    let i = active[who % active.len()];
                    let cancellation = Cancellation {
                        canceled_by: if by_host {
                            HOST_NAME.into()
                        } else {
                            self.invitees[i].name.clone()
                        },
                        reason: reason.then(|| "Something came up".to_string()),
                        canceler_type: if by_host { "host" } else { "invitee" }.into(),
                        created_at: Some(self.now),
                    };
                    self.cancel(i, cancellation);
                    self.deliver(InviteeChange::Canceled, i);
                }
                Step::Reschedule { who } => {
                    let active = self.active();
                    if active.is_empty() {
                        return;
                    }
                    let old = active[who % active.len()];
                    let old_event = self.invitees[old].event;
                    let (name, start, limit) = {
                        let ev = &self.events[old_event];
                        (
                            ev.name.clone(),
                            ev.start
                                + Duration::days(1)
                                + Duration::minutes(self.events.len() as i64),
                            ev.limit,
                        )
                    };
                    let e = self.new_event(&name, start, limit);
                    let person = self.invitees[old].name.clone();
                    let new = self.new_invitee(e, person.clone());
                    self.invitees[new].old = Some(old);
                    self.invitees[old].rescheduled = true;
                    self.invitees[old].new = Some(new);
                    let cancellation = Cancellation {
                        canceled_by: person,
                        reason: None,
                        canceler_type: "invitee".into(),
                        created_at: Some(self.now),
                    };
                    self.cancel(old, cancellation);
                    self.deliver(InviteeChange::Canceled, old);
                    self.deliver(InviteeChange::Created, new);
                }
                Step::MarkNoShow { who } => {
                    let candidates: Vec<usize> = self
                        .active()
                        .into_iter()
                        .filter(|i| self.invitees[*i].no_show.is_none())
                        .collect();
                    if candidates.is_empty() {
                        return;
                    }
                    let i = candidates[who % candidates.len()];
                    let uri = format!(
                        "https://api.calendly.com/invitee_no_shows/{}",
                        self.id("ns")
                    );
                    self.invitees[i].no_show = Some(NoShow {
                        uri,
                        created_at: Some(self.now),
                    });
                    self.invitees[i].updated_at = self.now;
                    self.deliver(InviteeChange::NoShowMarked, i);
                }
                Step::UnmarkNoShow { who } => {
                    let marked: Vec<usize> = (0..self.invitees.len())
                        .filter(|i| self.invitees[*i].no_show.is_some())
                        .collect();
                    if marked.is_empty() {
                        return;
                    }
                    let i = marked[who % marked.len()];
                    self.invitees[i].no_show = None;
                    self.invitees[i].updated_at = self.now;
                    self.deliver(InviteeChange::NoShowCleared, i);
                }
            }
        }

        fn event_uri(&self, e: usize) -> String {
            format!(
                "https://api.calendly.com/scheduled_events/{}",
                self.events[e].id
            )
        }

        fn invitee_uri(&self, i: usize) -> InviteeUri {
            let inv = &self.invitees[i];
            InviteeUri::parse(&format!(
                "{}/invitees/{}",
                self.event_uri(inv.event),
                inv.id
            ))
            .unwrap()
        }

        fn scheduled_event(&self, e: usize) -> ScheduledEvent {
            let ev = &self.events[e];
            let active = ev
                .invitees
                .iter()
                .filter(|j| self.invitees[**j].status == Status::Active)
                .count();
            ScheduledEvent {
                uri: ScheduledEventUri::parse(&self.event_uri(e)).unwrap(),
                name: Some(ev.name.clone()),
                status: ev.status.clone(),
                start_time: ev.start,
                end_time: ev.start + Duration::minutes(30),
                event_type: Some(
                    EventTypeUri::parse("https://api.calendly.com/event_types/et-0001").unwrap(),
                ),
                location: Some(Location {
                    kind: "google_conference".into(),
                    join_url: Some(format!("https://calendly.com/events/{}/google_meet", ev.id)),
                    status: Some("processing".into()),
                    ..Location::default()
                }),
                invitees_counter: Some(InviteesCounter {
                    total: ev.invitees.len() as u32,
                    active: active as u32,
                    limit: ev.limit,
                }),
                event_memberships: vec![EventMembership {
                    user: CalendlyUserUri::parse(HOST).unwrap(),
                    user_email: Some("host@example.com".into()),
                    user_name: Some(HOST_NAME.into()),
                }],
                event_guests: Vec::new(),
                meeting_notes_plain: None,
                meeting_notes_html: None,
                cancellation: ev.cancellation.clone(),
                created_at: ev.created_at,
                updated_at: ev.updated_at,
            }
        }

        fn invitee(&self, i: usize) -> Invitee {
            let inv = &self.invitees[i];
            let email = format!("{}@example.com", inv.name.to_lowercase().replace(' ', "."));
            Invitee {
                uri: self.invitee_uri(i),
                email,
                name: inv.name.clone(),
                first_name: None,
                last_name: None,
                status: inv.status.clone(),
                timezone: Some("Europe/London".into()),
                event: ScheduledEventUri::parse(&self.event_uri(inv.event)).unwrap(),
                created_at: inv.created_at,
                updated_at: inv.updated_at,
                questions_and_answers: vec![QuestionAndAnswer {
                    question: "What would you like to discuss?".into(),
                    answer: format!("Savings of {}", inv.name),
                    position: 0,
                }],
                tracking: Some(Tracking::default()),
                text_reminder_number: None,
                rescheduled: inv.rescheduled,
                old_invitee: inv.old.map(|o| self.invitee_uri(o)),
                new_invitee: inv.new.map(|n| self.invitee_uri(n)),
                cancel_url: Some(format!("https://calendly.com/cancellations/{}", inv.id)),
                reschedule_url: Some(format!("https://calendly.com/reschedulings/{}", inv.id)),
                routing_form_submission: None,
                payment: None,
                no_show: inv.no_show.clone(),
                reconfirmation: None,
                cancellation: inv.cancellation.clone(),
                scheduling_method: None,
                invitee_scheduled_by: None,
            }
        }

        /// What the page should show per event: (event uri, status, sorted attendees
        /// (name, canceled, no-show)), for events not moved away by a reschedule.
        fn expected(&self) -> Vec<crate::webhooks::ShownMeeting> {
            let mut out: Vec<_> = (0..self.events.len())
                .filter_map(|e| {
                    let invs: Vec<&Inv> = self.events[e]
                        .invitees
                        .iter()
                        .map(|i| &self.invitees[*i])
                        .collect();
                    let any_active = invs.iter().any(|i| i.status == Status::Active);
                    let moved = invs
                        .iter()
                        .all(|i| i.status == Status::Canceled && i.rescheduled);
                    if moved {
                        return None;
                    }
                    let mut attendees: Vec<(String, bool, bool)> = invs
                        .iter()
                        .map(|i| {
                            (
                                i.name.clone(),
                                i.status == Status::Canceled,
                                i.no_show.is_some(),
                            )
                        })
                        .collect();
                    attendees.sort();
                    let status = if any_active { "active" } else { "canceled" };
                    Some((self.event_uri(e), status.to_string(), attendees))
                })
                .collect();
            out.sort();
            out
        }
    }

    async fn new_adviser(db: &Db) -> AdviserId {
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO advisers (email, password_hash, created_at) VALUES ($1, 'x', 0) RETURNING id",
        )
        .bind(format!("{}@example.com", uuid::Uuid::new_v4().simple()))
        .fetch_one(db.pool())
        .await
        .unwrap();
        AdviserId(id)
    }

    /// Applies deliveries as the receiver does: one transaction each, `now` = arrival time.
    async fn apply_all(db: &Db, user: AdviserId, deliveries: &[&Delivery]) {
        let arrival = base().timestamp_millis();
        for (n, d) in deliveries.iter().enumerate() {
            let mut tx = db.pool().begin().await.unwrap();
            let seen = backend::meetings::Observation {
                change: d.change,
                at: &d.at,
                invitee: &d.invitee,
                event: &d.event,
            };
            apply_invitee(&mut tx, user, seen, "webhook", arrival + n as i64 * 1000)
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }
    }

    async fn meetings(db: &Db, user: AdviserId) -> Vec<MeetingRow> {
        let mut all = Vec::new();
        for show in [Show::Upcoming, Show::Past] {
            let query = MeetingsQuery {
                show,
                ..Default::default()
            };
            let page = list_for_user(db, user, base().timestamp_millis(), &query)
                .await
                .unwrap();
            let section = if show == Show::Upcoming {
                page.upcoming
            } else {
                page.past
            };
            assert!(section.total <= PAGE_SIZE, "one page holds them all");
            all.extend(section.meetings);
        }
        all.into_iter().map(|m| MeetingRow { id: 0, ..m }).collect()
    }

    #[test]
    fn any_order_of_the_same_deliveries_with_duplicates_ends_in_the_same_meetings() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let dir = std::env::temp_dir().join(format!("advicly-prop-{}", uuid::Uuid::new_v4()));
        let db = rt
            .block_on(Db::connect(&format!(
                "sqlite://{}/x.db?mode=rwc",
                dir.display()
            )))
            .unwrap();
        let mut runner = TestRunner::new(Config {
            // 64 by default (a few seconds); PROPTEST_CASES=5000 for a deeper search.
            cases: std::env::var("PROPTEST_CASES")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(64),
            failure_persistence: None,
            ..Config::default()
        });
        let strategy = (
            prop::collection::vec(step(), 1..10),
            prop::collection::vec(any::<u32>(), 20),
            prop::collection::vec((any::<usize>(), any::<usize>()), 0..5),
        );
        let result = runner.run(&strategy, |(steps, keys, duplicates)| {
            let world = World::run(&steps);
            let n = world.deliveries.len();
            let mut order: Vec<usize> = (0..n).collect();
            order.sort_by_key(|i| (keys[*i], *i));
            if n > 0 {
                for (which, at) in &duplicates {
                    let d = order[which % n];
                    order.insert(at % (order.len() + 1), d);
                }
            }
            let canonical: Vec<&Delivery> = world.deliveries.iter().collect();
            let shuffled: Vec<&Delivery> = order.iter().map(|i| &world.deliveries[*i]).collect();
            let (expected, got) = rt.block_on(async {
                let a = new_adviser(&db).await;
                apply_all(&db, a, &canonical).await;
                let b = new_adviser(&db).await;
                apply_all(&db, b, &shuffled).await;
                (meetings(&db, a).await, meetings(&db, b).await)
            });

            // In canonical order the result is what Calendly says...
            let mut seen: Vec<crate::webhooks::ShownMeeting> = expected
                .iter()
                .map(|m| {
                    let mut attendees: Vec<_> = m
                        .attendees
                        .iter()
                        .map(|a| (a.name.clone(), a.status == "canceled", a.no_show))
                        .collect();
                    attendees.sort();
                    (m.event_uri.clone(), m.status.clone(), attendees)
                })
                .collect();
            seen.sort();
            prop_assert_eq!(&seen, &world.expected(), "canonical order vs the model");
            // ...and any order, with duplicates, ends in the same state.
            prop_assert_eq!(&got, &expected, "order {:?}", order);
            Ok::<(), TestCaseError>(())
        });
        if let Err(e) = result {
            panic!("{e}");
        }
    }
}

/// A meeting as the page shows it: event URI, status, and its attendees (name, canceled, no-show).
pub type ShownMeeting = (String, String, Vec<(String, bool, bool)>);
