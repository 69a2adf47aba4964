//! The webhook receiver, black-box: what Calendly (or an attacker) POSTs, what comes back, what
//! is stored, and what the adviser then sees on the Meetings page. The helpers below are shared
//! by the files of this group.

mod meetings;
mod metrics;
mod order_independence;
mod routing;
mod storing;
mod verification;

use calendly::secrets::SigningKey;
use calendly::webhook::sign;
use calendly_sim::SimUser;
use reqwest::StatusCode;

use crate::helpers::{Adviser, TestApp};

/// Signs up an adviser, connects `name`'s new Calendly account, returns the route token of the
/// subscription's callback URL.
pub(super) async fn connected_adviser(app: &TestApp, name: &str) -> (Adviser, SimUser, String) {
    let cal = app.calendly_user(name, None);
    let adviser = app.new_adviser().await;
    app.connect(&adviser, &cal).await;
    app.initial_sync_done().await;
    let subs = app.active_subscriptions_of(&cal);
    assert_eq!(subs.len(), 1, "one active subscription for {name}");
    let token = subs[0].callback_url.rsplit('/').next().unwrap().to_owned();
    (adviser, cal, token)
}

pub(super) fn routed(token: &str) -> String {
    format!("/api/calendly/webhook/{token}")
}

pub(super) const LEGACY: &str = "/api/calendly/webhook";

/// `t=…,v1=…` for `body` at `t`, made with the app's signing key (what Calendly sends).
pub(super) fn signature_at(app: &TestApp, t: i64, body: &[u8]) -> String {
    let key = SigningKey::new(app.sim.config().webhook_signing_key.clone());
    format!("t={t},v1={}", sign(&key, t, body))
}

pub(super) fn signature_now(app: &TestApp, body: &[u8]) -> String {
    signature_at(app, app.clock.now_unix(), body)
}

pub(super) async fn post(
    app: &TestApp,
    path: &str,
    signature: Option<&str>,
    body: Vec<u8>,
) -> StatusCode {
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
pub(super) async fn deliver(app: &TestApp, path: &str, body: &str) -> StatusCode {
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
pub(super) async fn stored(app: &TestApp) -> (i64, i64) {
    (
        count(app, "webhook_deliveries").await,
        count(app, "meetings").await,
    )
}

pub(super) fn stamp(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// A realistic `invitee.created` delivery (the documented one, §6.3) for a fresh event and
/// invitee, created by `created_by`, starting in two days.
pub(super) fn invitee_created(created_by: &str) -> String {
    let mut v: serde_json::Value = serde_json::from_str(include_str!(
        "../../../../calendly/tests/fixtures/invitee_created.json"
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

/// `GET /metrics`: the value of `webhook_deliveries_total{outcome="…"}` (0 when absent).
pub(super) async fn counted(app: &TestApp, outcome: &str) -> u64 {
    let text = app.get("/metrics").await.text().await.unwrap();
    let prefix = format!("webhook_deliveries_total{{outcome=\"{outcome}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(0)
}

/// A meeting as the page shows it: event URI, status, and its attendees (name, canceled, no-show).
pub type ShownMeeting = (String, String, Vec<(String, bool, bool)>);
