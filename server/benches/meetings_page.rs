//! The Meetings page with many meetings: one adviser with 1,000 and 10,000 upcoming meetings
//! (stored through the real webhook path), on SQLite and PostgreSQL. Times the server render of
//! `/meetings` (the first page of each list and the counts), the last page of the upcoming list,
//! and what a live change costs the page (`changed_meetings` for one meeting).
//!
//! `cargo bench -p server --bench meetings_page` (options: `-- --meetings 1000,10000 --samples 100`).
//! PostgreSQL at `TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`).

use calendly_sim::Simulator;
use std::sync::Arc;
use std::time::{Duration, Instant};

use calendly::secrets::SigningKey;
use sqlx::{Connection, Executor};

mod support;
use support::{delivery, ms, percentile, route_token, user_uri};

fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| default.into())
}

struct Page {
    address: String,
    key: SigningKey,
    cookie: String,
    state: backend::AppState,
    _sim: Simulator,
}

async fn start(database_url: String, dir: &std::path::Path) -> Page {
    let (sim, address, state) = support::start_app(database_url, dir).await;

    let email = format!("bench-{}@example.com", uuid::Uuid::new_v4().simple());
    let signed_up = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{address}/api/sign_up"))
        .header("origin", &address)
        .form(&[
            ("email", email.as_str()),
            ("password", "correct horse battery"),
        ])
        .send()
        .await
        .unwrap();
    let cookie = signed_up
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(backend::sessions::COOKIE_NAME))
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_owned();
    let (id,): (i64,) = sqlx::query_as("SELECT id FROM advisers WHERE email = $1")
        .bind(&email)
        .fetch_one(state.db.pool())
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO calendly_webhook_subscriptions (user_id, scope, user_uri, organization_uri, subscription_uri, route_token, callback_url, state, is_active, created_at, updated_at) \
         VALUES ($1, 'user', $2, 'https://api.calendly.com/organizations/bench', $3, $4, 'http://bench/', 'active', 1, 0, 0)",
    )
    .bind(id)
    .bind(user_uri(id))
    .bind(format!("https://api.calendly.com/webhook_subscriptions/bench-{id}"))
    .bind(route_token(id))
    .execute(state.db.pool())
    .await
    .unwrap();
    Page {
        address,
        key: SigningKey::new(sim.config().webhook_signing_key.clone()),
        cookie,
        state,
        _sim: sim,
    }
}

/// Stores `count` meetings for the adviser through the webhook route, 16 at a time.
async fn book(page: &Page, adviser: i64, count: u64) {
    let key = page.key.clone();
    let client = reqwest::Client::new();
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut workers = Vec::new();
    for _ in 0..16 {
        let (client, next, key, address) = (
            client.clone(),
            next.clone(),
            key.clone(),
            page.address.clone(),
        );
        workers.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= count {
                    return;
                }
                let body = delivery(adviser, n);
                let t = chrono::Utc::now().timestamp();
                let header = format!("t={t},v1={}", calendly::webhook::sign(&key, t, &body));
                let response = client
                    .post(format!(
                        "{address}/api/calendly/webhook/{}",
                        route_token(adviser)
                    ))
                    .header("calendly-webhook-signature", header)
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200);
            }
        }));
    }
    for w in workers {
        w.await.unwrap();
    }
}

/// `samples` timings of one request, sorted, and the size of the last answer.
async fn time(
    samples: usize,
    request: impl Fn() -> reqwest::RequestBuilder,
) -> (Vec<Duration>, usize) {
    let mut all = Vec::with_capacity(samples);
    let mut size = 0;
    for _ in 0..samples {
        let started = Instant::now();
        let response = request().send().await.unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        size = response.bytes().await.unwrap().len();
        all.push(started.elapsed());
    }
    all.sort();
    (all, size)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let counts: Vec<u64> = arg("--meetings", "1000,10000")
        .split(',')
        .map(|n| n.trim().parse().unwrap())
        .collect();
    let samples: usize = arg("--samples", "100").parse().unwrap();
    let admin = std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    println!("| database | meetings | GET /meetings p50 | p99 | HTML | last upcoming page p50 | one live change (changed_meetings) p50 | p99 |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for database in ["SQLite", "PostgreSQL"] {
        for &count in &counts {
            let dir = std::env::temp_dir().join(format!(
                "advicly-bench-page-{}",
                uuid::Uuid::new_v4().simple()
            ));
            std::fs::create_dir_all(&dir).unwrap();
            let pg_name = format!("advicly_bench_page_{}", uuid::Uuid::new_v4().simple());
            let url = if database == "SQLite" {
                format!("sqlite://{}/page.db?mode=rwc", dir.display())
            } else {
                let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
                conn.execute(format!("CREATE DATABASE \"{pg_name}\"").as_str())
                    .await
                    .unwrap();
                format!("{}/{pg_name}", admin.rsplit_once('/').unwrap().0)
            };
            let page = start(url, &dir).await;
            let (adviser,): (i64,) = sqlx::query_as("SELECT MAX(id) FROM advisers")
                .fetch_one(page.state.db.pool())
                .await
                .unwrap();
            book(&page, adviser, count).await;
            let _ = page.state.db.pool().execute("ANALYZE").await;
            let client = reqwest::Client::new();
            let get = |path: String| {
                let (client, cookie, address) =
                    (client.clone(), page.cookie.clone(), page.address.clone());
                move || {
                    client
                        .get(format!("{address}{path}"))
                        .header("cookie", &cookie)
                }
            };
            // Warm up.
            time(5, get("/meetings".into())).await;
            let (first, html) = time(samples, get("/meetings".into())).await;
            let last_page =
                (count.saturating_sub(1) / backend::meetings::PAGE_SIZE as u64).to_string();
            let (last, _) = time(
                samples,
                get(format!("/meetings?show=upcoming&page={last_page}")),
            )
            .await;
            let (one,): (i64,) = sqlx::query_as("SELECT MAX(id) FROM meetings")
                .fetch_one(page.state.db.pool())
                .await
                .unwrap();
            let patch = {
                let (client, cookie, address) =
                    (client.clone(), page.cookie.clone(), page.address.clone());
                move || {
                    client
                        .post(format!("{address}/api/changed_meetings"))
                        .header("cookie", &cookie)
                        .header("origin", &address)
                        .form(&[("ids[0]", one.to_string())])
                }
            };
            let (changed, _) = time(samples, patch).await;
            println!(
                "| {database} | {count} | {} | {} | {} KB | {} | {} | {} |",
                ms(percentile(&first, 0.5)),
                ms(percentile(&first, 0.99)),
                html / 1024,
                ms(percentile(&last, 0.5)),
                ms(percentile(&changed, 0.5)),
                ms(percentile(&changed, 0.99)),
            );
            page.state.db.close().await;
            if database == "PostgreSQL" {
                let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
                let _ = conn
                    .execute(format!("DROP DATABASE IF EXISTS \"{pg_name}\" WITH (FORCE)").as_str())
                    .await;
            }
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}
