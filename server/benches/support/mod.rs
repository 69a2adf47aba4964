//! What the benchmarks share: Calendly-shaped deliveries for bench advisers, and percentiles.
#![allow(dead_code)]

use std::collections::HashMap;
use std::time::Duration;

use backend::{Clock, Settings};
use calendly_sim::{SimConfig, Simulator};
use server::Application;

/// A running server (release build, in this process) on `database_url` with a fresh Calendly
/// simulator as its Calendly: the simulator, the server's address and its state.
pub async fn start_app(
    database_url: String,
    dir: &std::path::Path,
) -> (Simulator, String, backend::AppState) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let vars: HashMap<&str, String> = HashMap::from([
        ("DATABASE_URL", database_url),
        ("LEPTOS_SITE_ADDR", "127.0.0.1:0".into()),
        ("APP_PUBLIC_URL", "http://127.0.0.1:0".into()),
        ("APP_DATA_DIR", dir.display().to_string()),
        (
            "APP_ENCRYPTION_KEY",
            "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=".into(),
        ),
        ("CALENDLY_CLIENT_ID", sim.config().client_id.clone()),
        ("CALENDLY_CLIENT_SECRET", sim.config().client_secret.clone()),
        (
            "CALENDLY_WEBHOOK_SIGNING_KEY",
            sim.config().webhook_signing_key.clone(),
        ),
        ("CALENDLY_AUTH_URL", sim.base_url()),
        ("CALENDLY_API_URL", sim.base_url()),
        ("APP_SYNC_INTERVAL_SECS", "86400".into()),
    ]);
    let settings = Settings::from_lookup(|k| vars.get(k).cloned()).unwrap();
    let app = Application::build_with_clock(settings, Clock::default())
        .await
        .unwrap();
    let address = format!("http://127.0.0.1:{}", app.port());
    let state = app.state().clone();
    tokio::spawn(app.run_until_stopped());
    (sim, address, state)
}

pub fn user_uri(i: i64) -> String {
    format!("https://api.calendly.com/users/bench-user-{i}")
}

/// A route token of the issued shape (22 characters of base64url; anything else is never
/// looked up).
pub fn route_token(i: i64) -> String {
    format!("benchroute{i:012}")
}

/// A realistic `invitee.created` body (calendly-api.md §6.3) for adviser `i`.
pub fn delivery(i: i64, n: u64) -> Vec<u8> {
    let event = uuid::Uuid::new_v4();
    let invitee = uuid::Uuid::new_v4();
    let start = chrono::Utc::now() + chrono::Duration::days(1 + (n % 30) as i64);
    let fmt = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
    serde_json::to_vec(&serde_json::json!({
        "created_at": fmt(chrono::Utc::now()),
        "created_by": user_uri(i),
        "event": "invitee.created",
        "payload": {
            "cancel_url": format!("https://calendly.com/cancellations/{invitee}"),
            "created_at": fmt(chrono::Utc::now()),
            "email": format!("client{n}@example.com"),
            "event": format!("https://api.calendly.com/scheduled_events/{event}"),
            "first_name": null, "invitee_scheduled_by": null, "last_name": null,
            "name": format!("Client {n}"),
            "new_invitee": null, "no_show": null, "old_invitee": null, "payment": null,
            "questions_and_answers": [{"answer": "Pension review", "position": 0, "question": "What would you like to discuss?"}],
            "reconfirmation": null,
            "reschedule_url": format!("https://calendly.com/reschedulings/{invitee}"),
            "rescheduled": false, "routing_form_submission": null,
            "scheduled_event": {
                "created_at": fmt(chrono::Utc::now()),
                "end_time": fmt(start + chrono::Duration::minutes(30)),
                "event_guests": [],
                "event_memberships": [{"user": user_uri(i), "user_email": "adviser@example.com", "user_name": "Adviser"}],
                "event_type": "https://api.calendly.com/event_types/706a491b-3a3b-462b-9705-0a8527645061",
                "invitees_counter": {"total": 1, "active": 1, "limit": 1},
                "location": {"join_url": format!("https://calendly.com/events/{event}/google_meet"), "status": "processing", "type": "google_conference"},
                "meeting_notes_html": null, "meeting_notes_plain": null,
                "name": "Financial review",
                "start_time": fmt(start),
                "status": "active",
                "updated_at": fmt(chrono::Utc::now()),
                "uri": format!("https://api.calendly.com/scheduled_events/{event}")
            },
            "scheduling_method": null, "status": "active", "text_reminder_number": null,
            "timezone": "Europe/London",
            "tracking": {"utm_campaign": null, "utm_source": null, "utm_medium": null, "utm_content": null, "utm_term": null, "salesforce_uuid": null},
            "updated_at": fmt(chrono::Utc::now()),
            "uri": format!("https://api.calendly.com/scheduled_events/{event}/invitees/{invitee}")
        }
    }))
    .unwrap()
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}
