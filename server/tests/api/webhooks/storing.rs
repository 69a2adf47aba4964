//! Store, then acknowledge: a verified delivery is stored once (replays and retries are
//! duplicates), unknown event types are kept without a meeting, old bodies are emptied, and
//! while storage is down Calendly gets 503 and its retry makes exactly one meeting.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use sqlx::Connection;

use super::{
    connected_adviser, counted, deliver, invitee_created, post, routed, signature_at,
    signature_now, stamp, stored, LEGACY,
};
use crate::helpers::{upcoming, TestApp};
use crate::on_both_databases;

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

on_both_databases! {
    async fn a_url_never_issued_is_refused_without_touching_the_database(app) {
        let (_adviser, cal, _token) = connected_adviser(&app, "Kit Host").await;
        let body = invitee_created(&cal.uri);
        app.state.db.close().await;
        assert_eq!(deliver(&app, "/api/calendly/webhook/not-a-token", &body).await, StatusCode::NOT_FOUND);
        // A token of the issued shape can only be told apart by looking it up.
        assert_eq!(deliver(&app, &routed("AAAAAAAAAAAAAAAAAAAAAA"), &body).await, StatusCode::SERVICE_UNAVAILABLE);
    }
}

on_both_databases! {
    async fn a_verified_delivery_that_cannot_become_a_meeting_is_acknowledged_and_kept_for_retry(app) {
        let (adviser, cal, token) = connected_adviser(&app, "Lou Host").await;
        let mut bad: serde_json::Value = serde_json::from_str(&invitee_created(&cal.uri)).unwrap();
        bad["payload"]["scheduled_event"] = "not an event".into();
        assert_eq!(deliver(&app, &routed(&token), &bad.to_string()).await, StatusCode::OK);
        let (status, error): (String, Option<String>) =
            sqlx::query_as("SELECT status, error FROM webhook_deliveries WHERE event = 'invitee.created'")
                .fetch_one(app.state.db.pool())
                .await
                .unwrap();
        assert_eq!(status, "failed", "{error:?}");
        assert!(upcoming(&app.meetings(&adviser).await).is_empty());
        // The connection the failed attempt ran on serves the next delivery.
        assert_eq!(deliver(&app, &routed(&token), &invitee_created(&cal.uri)).await, StatusCode::OK);
        assert_eq!(upcoming(&app.meetings(&adviser).await).len(), 1);
    }
}
