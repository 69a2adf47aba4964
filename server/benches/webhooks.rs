//! Webhook receiver benchmark (PostgreSQL): verified deliveries per second and latency with 1,
//! 1,000 and 100,000 connected advisers, next to the seed design's "load every adviser's key and
//! try each one" verification at the same counts.
//!
//! `cargo bench -p server --bench webhooks` (options: `-- --advisers 1,1000,100000
//! --requests 20000 --concurrency 16 --rate 500 --rate-secs 10`). Needs PostgreSQL at
//! `TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`). The load generator
//! runs in the same process as the server, on the same cores.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use calendly::secrets::SigningKey;
use sqlx::{Connection, Executor};

mod support;
use support::{delivery, ms, percentile, route_token};

struct Options {
    advisers: Vec<i64>,
    requests: usize,
    concurrency: usize,
    rate: u64,
    rate_secs: u64,
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().collect();
    let get = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    Options {
        advisers: get("--advisers")
            .unwrap_or_else(|| "1,1000,100000".into())
            .split(',')
            .map(|n| n.trim().parse().expect("--advisers: numbers"))
            .collect(),
        requests: get("--requests")
            .map(|n| n.parse().unwrap())
            .unwrap_or(20_000),
        concurrency: get("--concurrency")
            .map(|n| n.parse().unwrap())
            .unwrap_or(16),
        rate: get("--rate").map(|n| n.parse().unwrap()).unwrap_or(500),
        rate_secs: get("--rate-secs").map(|n| n.parse().unwrap()).unwrap_or(10),
    }
}

/// Where the load goes: the app's address and the key Calendly signs with.
struct Target {
    address: String,
    app_key: SigningKey,
}

struct Bench {
    target: Target,
    db_url: String,
    state: backend::AppState,
}

async fn start(admin: &str, advisers: i64) -> Bench {
    let name = format!("advicly_bench_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(admin)
        .await
        .expect("PostgreSQL (TEST_POSTGRES_URL)");
    conn.execute(format!("CREATE DATABASE \"{name}\"").as_str())
        .await
        .unwrap();
    let db_url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
    let dir = std::env::temp_dir().join(&name);
    let (sim, address, state) = support::start_app(db_url.clone(), &dir).await;

    // N connected advisers, each with an active user-scoped subscription and (for the seed
    // design's baseline) a per-adviser signing key.
    let pool = state.db.pool();
    let seed = [
        format!("INSERT INTO advisers (email, password_hash, created_at) SELECT 'adviser' || g || '@example.com', 'x', 0 FROM generate_series(1, {advisers}) g"),
        format!(
            "INSERT INTO calendly_webhook_subscriptions (user_id, scope, user_uri, organization_uri, subscription_uri, route_token, callback_url, state, is_active, created_at, updated_at) \
             SELECT g, 'user', 'https://api.calendly.com/users/bench-user-' || g, 'https://api.calendly.com/organizations/bench', \
                    'https://api.calendly.com/webhook_subscriptions/bench-' || g, 'benchroute' || lpad(g::text, 12, '0'), \
                    'http://bench/api/calendly/webhook/' || g, 'active', 1, 0, 0 FROM generate_series(1, {advisers}) g"
        ),
        "CREATE TABLE seed_signing_keys (user_id BIGINT PRIMARY KEY, signing_key TEXT NOT NULL)".into(),
        format!("INSERT INTO seed_signing_keys SELECT g, md5(g::text || 'seed-key') FROM generate_series(1, {advisers}) g"),
        // Advisers in use have meetings already: at least 20,000 (each with its attendee and
        // the delivery that made it), spread over the advisers. On empty tables PostgreSQL plans
        // sequential scans, and keeps those plans for the minute before autovacuum first
        // analyses the new rows: a benchmark of that minute measures the planner, not ingest.
        format!(
            "INSERT INTO meetings (user_id, event_uri, title, start_at, end_at, location, join_url, event_type_uri, status, source, \
                 calendly_updated_at, created_at, updated_at, location_kind, location_status, guests) \
             SELECT u, 'https://api.calendly.com/scheduled_events/seed-' || u || '-' || k, 'Financial review', 1, 2, 'Google Meet', \
                 'https://calendly.com/events/x/google_meet', 'https://api.calendly.com/event_types/x', 'active', 'webhook', \
                 '2026-12-01T00:00:00.000000Z', 0, 0, 'google_conference', 'pushed', '[]' \
             FROM generate_series(1, {advisers}) u, generate_series(1, {}) k",
            (20_000 / advisers).max(1)
        ),
        "INSERT INTO attendees (meeting_id, user_id, invitee_uri, name, email, timezone, status, questions, created_at, updated_at) \
         SELECT id, user_id, event_uri || '/invitees/seed', 'Client', 'client@example.com', 'Europe/London', 'active', '[]', 0, 0 FROM meetings".into(),
        "INSERT INTO webhook_deliveries (user_id, subscription_id, event, natural_key, signature_t, received_at, body, status, attempts, processed_at) \
         SELECT user_id, user_id, 'invitee.created', 'seed|' || id, 0, 0, '{}', 'processed', 1, 0 FROM meetings".into(),
        "ANALYZE".into(),
        // The seeding's own writes are flushed now, not by a checkpoint in the middle of the
        // measurement.
        "CHECKPOINT".into(),
    ];
    for sql in seed {
        sqlx::query(&sql).execute(pool).await.unwrap();
    }
    Bench {
        target: Target {
            address,
            app_key: SigningKey::new(sim.config().webhook_signing_key.clone()),
        },
        db_url,
        state,
    }
}

/// Closed loop: `concurrency` workers post `requests` signed deliveries to random advisers.
async fn closed_loop(
    b: &Target,
    advisers: i64,
    requests: usize,
    concurrency: usize,
) -> (f64, Vec<Duration>) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .unwrap();
    let counter = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..concurrency {
        let (client, counter, address, key) = (
            client.clone(),
            counter.clone(),
            b.address.clone(),
            b.app_key.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut n = w as u64 * 1_000_000;
            while counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < requests {
                n += 1;
                let i = 1 + (rand_index(n) % advisers as u64) as i64;
                let body = delivery(i, n);
                let t = chrono::Utc::now().timestamp();
                let header = format!("t={t},v1={}", calendly::webhook::sign(&key, t, &body));
                let sent = Instant::now();
                let response = client
                    .post(format!("{address}/api/calendly/webhook/{}", route_token(i)))
                    .header("content-type", "application/json")
                    .header("calendly-webhook-signature", header)
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(
                    response.status(),
                    200,
                    "{}",
                    response.text().await.unwrap_or_default()
                );
                latencies.push(sent.elapsed());
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap());
    }
    let rate = all.len() as f64 / started.elapsed().as_secs_f64();
    all.sort();
    (rate, all)
}

/// Open loop: a fixed arrival rate, latency measured per request.
async fn open_loop(b: &Bench, advisers: i64, rate: u64, secs: u64) -> Vec<Duration> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = Vec::new();
    for n in 0..rate * secs {
        ticker.tick().await;
        let (client, address, key) = (
            client.clone(),
            b.target.address.clone(),
            b.target.app_key.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let i = 1 + (rand_index(n + 7) % advisers as u64) as i64;
            let body = delivery(i, n + 50_000_000);
            let t = chrono::Utc::now().timestamp();
            let header = format!("t={t},v1={}", calendly::webhook::sign(&key, t, &body));
            let sent = Instant::now();
            let response = client
                .post(format!("{address}/api/calendly/webhook/{}", route_token(i)))
                .header("calendly-webhook-signature", header)
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            sent.elapsed()
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.push(t.await.unwrap());
    }
    all.sort();
    all
}

/// Cheap deterministic spread of adviser indexes.
fn rand_index(n: u64) -> u64 {
    n.wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407)
        >> 17
}

/// The verification step alone: our route-token lookup + one HMAC, against the seed design's
/// "load every adviser's key and try each" — per request, in process, same database.
async fn verification_only(b: &Bench, advisers: i64) -> (Duration, Duration) {
    let rounds_ours = 2000u64;
    let rounds_seed: u64 = if advisers >= 100_000 {
        10
    } else if advisers >= 1000 {
        200
    } else {
        2000
    };
    let seed_keys: HashMap<i64, SigningKey> =
        sqlx::query_as::<_, (i64, String)>("SELECT user_id, signing_key FROM seed_signing_keys")
            .fetch_all(b.state.db.pool())
            .await
            .unwrap()
            .into_iter()
            .map(|(id, key)| (id, SigningKey::new(key)))
            .collect();

    let mut ours = Duration::ZERO;
    for n in 0..rounds_ours {
        let i = 1 + (rand_index(n) % advisers as u64) as i64;
        let body = delivery(i, n);
        let t = chrono::Utc::now().timestamp();
        let raw = format!(
            "t={t},v1={}",
            calendly::webhook::sign(&b.target.app_key, t, &body)
        );
        let timer = Instant::now();
        let sub = backend::connections::subscription_by_route_token(&b.state.db, &route_token(i))
            .await
            .unwrap()
            .unwrap();
        let header = calendly::webhook::SignatureHeader::parse(&raw).unwrap();
        calendly::webhook::verify(&b.target.app_key, &header, &body, t, 180).unwrap();
        ours += timer.elapsed();
        assert_eq!(sub.user_id.0, i);
    }

    let mut seed = Duration::ZERO;
    for n in 0..rounds_seed {
        let i = 1 + (rand_index(n) % advisers as u64) as i64;
        let body = delivery(i, n);
        let t = chrono::Utc::now().timestamp();
        // The seed design: every adviser has a key; this delivery is signed with adviser i's.
        let raw = format!(
            "t={t},v1={}",
            calendly::webhook::sign(&seed_keys[&i], t, &body)
        );
        let timer = Instant::now();
        let keys: Vec<(i64, String)> =
            sqlx::query_as("SELECT user_id, signing_key FROM seed_signing_keys")
                .fetch_all(b.state.db.pool())
                .await
                .unwrap();
        let header = calendly::webhook::SignatureHeader::parse(&raw).unwrap();
        let found = keys.iter().find(|(_, key)| {
            calendly::webhook::verify(&SigningKey::new(key.clone()), &header, &body, t, 180).is_ok()
        });
        seed += timer.elapsed();
        assert_eq!(found.map(|(id, _)| *id), Some(i));
    }
    let (ours, seed) = (ours / rounds_ours as u32, seed / rounds_seed as u32);
    (ours, seed)
}

/// What the receiver's own work allows on this machine with no database at all: the same load
/// generator, HTTP stack and request handling up to the point where a delivery would be stored —
/// signature and timestamp check on the exact bytes, JSON parse, `created_by` read — then 200.
/// No design that stores deliveries can go faster than this.
async fn no_database_ceiling(app_key: SigningKey, requests: usize, concurrency: usize) -> f64 {
    use axum::body::Bytes;
    use axum::http::{HeaderMap, StatusCode};
    let key = app_key.clone();
    let handler = move |headers: HeaderMap, body: Bytes| {
        let key = key.clone();
        async move {
            let signature = headers
                .get("calendly-webhook-signature")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let Ok(header) = calendly::webhook::SignatureHeader::parse(signature) else {
                return StatusCode::UNAUTHORIZED;
            };
            let now = chrono::Utc::now().timestamp();
            if calendly::webhook::verify_any([&key], &header, &body, now, 180).is_err() {
                return StatusCode::UNAUTHORIZED;
            }
            match serde_json::from_slice::<calendly::webhook::WebhookEnvelope>(&body) {
                Ok(envelope) if !envelope.created_by.is_empty() => StatusCode::OK,
                _ => StatusCode::BAD_REQUEST,
            }
        }
    };
    let router = axum::Router::new().route(
        "/api/calendly/webhook/{token}",
        axum::routing::post(handler),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    let target = Target { address, app_key };
    closed_loop(&target, 1000, 200, concurrency).await;
    let (rate, _) = closed_loop(&target, 1000, requests, concurrency).await;
    server.abort();
    rate
}

/// For comparison, what storing deliveries batched across requests would give: per transaction,
/// `batch` deliveries from random advisers — their advisory locks in one statement, the delivery
/// rows (of a delivery's size) in one multi-row insert, and the meetings, attendees and change-log
/// rows (foreign keys, unique keys) in one more — from `pgbench` against the app's own schema. No
/// HTTP, no route lookup, no reads, no merging; deliveries per second.
async fn batched_storage(
    db_url: &str,
    advisers: i64,
    batch: usize,
    clients: usize,
    secs: u64,
) -> Option<f64> {
    let random_advisers = format!(
        "(SELECT 1 + (random() * {})::int AS u FROM generate_series(1, {batch})) s",
        advisers - 1
    );
    let body = "x".repeat(delivery(1, 1).len());
    let script = format!(
        "BEGIN;\n\
         SELECT pg_advisory_xact_lock(1634, u) FROM (SELECT DISTINCT u FROM {random_advisers} ORDER BY 1) l;\n\
         INSERT INTO webhook_deliveries (user_id, subscription_id, event, natural_key, signature_t, received_at, body, status, attempts, processed_at) \
           SELECT u, u, 'invitee.created', md5(random()::text), 0, 0, '{body}', 'processed', 1, 0 FROM {random_advisers} \
           ON CONFLICT (user_id, natural_key) DO NOTHING RETURNING id;\n\
         WITH m AS (INSERT INTO meetings (user_id, event_uri, title, start_at, end_at, location, join_url, event_type_uri, status, source, \
             calendly_updated_at, created_at, updated_at, location_kind, location_status, guests) \
           SELECT u, 'https://api.calendly.com/scheduled_events/' || md5(random()::text), 'Financial review', 1, 2, 'Google Meet', \
             'https://calendly.com/events/x/google_meet', 'https://api.calendly.com/event_types/x', 'active', 'webhook', \
             '2026-12-03T00:00:00.000000Z', 0, 0, 'google_conference', 'processing', '[]' FROM {random_advisers} \
           ON CONFLICT (user_id, event_uri) DO UPDATE SET title = excluded.title RETURNING id, user_id), \
         a AS (INSERT INTO attendees (meeting_id, user_id, invitee_uri, name, email, timezone, status, questions, created_at, updated_at, cancel_url, reschedule_url) \
           SELECT id, user_id, 'https://api.calendly.com/scheduled_events/x/invitees/' || md5(random()::text), 'Client', 'client@example.com', \
             'Europe/London', 'active', '[]', 0, 0, 'https://calendly.com/cancellations/x', 'https://calendly.com/reschedulings/x' FROM m \
           ON CONFLICT (user_id, invitee_uri) DO NOTHING RETURNING meeting_id, user_id) \
         INSERT INTO meeting_changes (user_id, meeting_id, at) SELECT user_id, meeting_id, 0 FROM a RETURNING seq;\n\
         COMMIT;\n"
    );
    let file = std::env::temp_dir().join(format!("advicly_bench_floor_{}.sql", std::process::id()));
    std::fs::write(&file, script).ok()?;
    let tps = pgbench_tps(&file, db_url, clients, secs);
    let _ = std::fs::remove_file(&file);
    tps.map(|tps| tps * batch as f64)
}

/// Runs `pgbench` with `script` against `url` for `secs` seconds: its transactions per second.
fn pgbench_tps(script: &std::path::Path, url: &str, clients: usize, secs: u64) -> Option<f64> {
    let out = std::process::Command::new("pgbench")
        .args([
            "-n",
            "-c",
            &clients.to_string(),
            "-j",
            "2",
            "-T",
            &secs.to_string(),
            "-f",
        ])
        .arg(script)
        .arg(url)
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|v| v.parse().ok())
}

/// What the database allows on this machine right now: durable single-row inserts of a ~3 KB row
/// (the size of a delivery) per second, from `pgbench` with as many clients as the closed loop
/// has requests in flight, into a fresh database on the same server.
async fn durable_insert_rate(admin: &str, clients: usize, secs: u64) -> Option<f64> {
    let name = format!("advicly_bench_pgbench_{}", std::process::id());
    let mut conn = sqlx::PgConnection::connect(admin).await.ok()?;
    let _ = conn
        .execute(format!("DROP DATABASE IF EXISTS \"{name}\"").as_str())
        .await;
    conn.execute(format!("CREATE DATABASE \"{name}\"").as_str())
        .await
        .ok()?;
    let url = format!("{}/{name}", admin.rsplit_once('/')?.0);
    let mut db = sqlx::PgConnection::connect(&url).await.ok()?;
    db.execute("CREATE TABLE deliveries (id BIGSERIAL PRIMARY KEY, body TEXT NOT NULL, received_at BIGINT NOT NULL)")
        .await
        .ok()?;
    drop(db);
    let script = std::env::temp_dir().join(format!("{name}.sql"));
    let body = "x".repeat(delivery(1, 1).len());
    std::fs::write(
        &script,
        format!("INSERT INTO deliveries (body, received_at) VALUES ('{body}', 0);\n"),
    )
    .ok()?;
    let tps = pgbench_tps(&script, &url, clients, secs);
    let _ = conn
        .execute(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)").as_str())
        .await;
    tps
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let o = options();
    let admin = std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    println!("webhook receiver benchmark — PostgreSQL, {} cores, server and load generator in one process", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    let limit = durable_insert_rate(&admin, o.concurrency, 10).await;
    match limit {
        Some(tps) => println!("the database's limit, measured now: pgbench, {} clients, one durable INSERT of a {}-byte row per transaction: {tps:.0}/s", o.concurrency, delivery(1, 1).len()),
        None => println!("pgbench could not run: no ratio to the database's limit"),
    }
    let ceiling = no_database_ceiling(
        SigningKey::new("bench-ceiling-signing-key".into()),
        o.requests,
        o.concurrency,
    )
    .await;
    let share = limit
        .map(|tps| format!(" = {:.0} % of pgbench's rate", ceiling * 100.0 / tps))
        .unwrap_or_default();
    println!("the receiver's ceiling with no database (same load generator; verify, parse, answer 200): {ceiling:.0}/s{share}");
    {
        let b = start(&admin, 1000).await;
        let floor = batched_storage(&b.db_url, 1000, 16, 4, 10).await;
        drop_bench(&admin, b).await;
        if let (Some(floor), Some(tps)) = (floor, limit) {
            println!("for comparison, storing deliveries batched 16 per transaction in multi-row statements (pgbench, 4 clients, the app's schema, no HTTP): {floor:.0}/s = {:.0} % of pgbench's rate", floor * 100.0 / tps);
        }
    }
    println!("| advisers | deliveries/s (closed loop, {} in flight) | ÷ pgbench insert rate | p50 | p99 | p50 @ {} req/s | p99 @ {} req/s | verify step: ours | verify step: seed design |", o.concurrency, o.rate, o.rate);
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for &n in &o.advisers {
        let b = start(&admin, n).await;
        // Warm up connections and caches.
        closed_loop(&b.target, n, 200, o.concurrency).await;
        let before = HandlerTime::read(&b.state);
        let (rate, lat) = closed_loop(&b.target, n, o.requests, o.concurrency).await;
        HandlerTime::read(&b.state).since(&before).print();
        let open = open_loop(&b, n, o.rate, o.rate_secs).await;
        let (ours, seed) = verification_only(&b, n).await;
        let ratio = limit
            .map(|tps| format!("{:.0} %", rate * 100.0 / tps))
            .unwrap_or_else(|| "–".into());
        println!(
            "| {n} | {rate:.0} | {ratio} | {} | {} | {} | {} | {} | {} |",
            ms(percentile(&lat, 0.5)),
            ms(percentile(&lat, 0.99)),
            ms(percentile(&open, 0.5)),
            ms(percentile(&open, 0.99)),
            ms(ours),
            ms(seed)
        );
        drop_bench(&admin, b).await;
    }
}

/// The time the server itself spent in its webhook handler (from its own metrics): what the
/// closed loop's latency is made of.
struct HandlerTime {
    seconds: f64,
    deliveries: f64,
}

impl HandlerTime {
    fn read(state: &backend::AppState) -> Self {
        let text = state.metrics.render();
        let value = |name: &str| -> f64 {
            let prefix = format!(r#"{name}{{route="/api/calendly/webhook/{{route_token}}"}} "#);
            text.lines()
                .filter_map(|l| l.strip_prefix(&prefix))
                .filter_map(|v| v.trim().parse::<f64>().ok())
                .sum()
        };
        HandlerTime {
            seconds: value("http_request_duration_seconds_sum"),
            deliveries: value("http_request_duration_seconds_count"),
        }
    }

    fn since(&self, before: &HandlerTime) -> HandlerTime {
        HandlerTime {
            seconds: self.seconds - before.seconds,
            deliveries: self.deliveries - before.deliveries,
        }
    }

    fn print(&self) {
        if self.deliveries > 0.0 {
            println!(
                "  the server's own time per delivery (its request histogram): {:.2} ms",
                self.seconds * 1000.0 / self.deliveries
            );
        }
    }
}

async fn drop_bench(admin: &str, b: Bench) {
    b.state.db.close().await;
    let mut conn = sqlx::PgConnection::connect(admin).await.unwrap();
    let name = b.db_url.rsplit_once('/').unwrap().1.to_owned();
    let _ = conn
        .execute(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)").as_str())
        .await;
}
