//! Live streams at scale: one server process (the release binary) holding many open Meetings
//! streams. Prints the server's resident memory before and after opening them, what an idle
//! minute of them costs the server's CPU (no stream polls the database; keep-alive comments only),
//! and how soon one sign-out ends that session's streams while the others stay untouched.
//!
//! `cargo bench -p server --bench streams` (options: `-- --streams 10000 --idle-secs 30`).
//! SQLite by default; `BENCH_DATABASE_URL=postgres://…/postgres` runs it on a fresh PostgreSQL
//! database. Needs `ulimit -n` above the stream count (scripts/bench.sh raises it).

use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Command;

const PER_SESSION: usize = backend::config::MAX_STREAMS_PER_SESSION;

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().expect("a number"))
        .unwrap_or(default)
}

fn status_field(pid: u32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// User + system CPU time of the process, in clock ticks (1/100 s).
fn cpu_ticks(pid: u32) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = text.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let get = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    get(11) + get(12) // utime, stime (fields 14 and 15 of stat)
}

async fn database(dir: &std::path::Path) -> String {
    match std::env::var("BENCH_DATABASE_URL") {
        Ok(admin) if admin.starts_with("postgres") => {
            let name = format!("advicly_bench_streams_{}", std::process::id());
            let mut admin_db = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
                .await
                .expect("PostgreSQL");
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
                .execute(&mut admin_db)
                .await;
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut admin_db)
                .await
                .expect("create the bench database");
            let (base, _) = admin.rsplit_once('/').expect("postgres://…/db");
            format!("{base}/{name}")
        }
        _ => format!("sqlite://{}/streams.db?mode=rwc", dir.display()),
    }
}

/// Opens one stream with `token`'s session and waits for its `ready` event.
async fn open(addr: &str, token: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let request = format!(
        "GET /api/meetings/stream HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\nCookie: {}={token}\r\n\r\n",
        backend::sessions::COOKIE_NAME
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let n = stream.read(&mut buf).await.expect("read");
        assert!(
            n > 0,
            "stream closed before ready: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&seen);
        assert!(text.starts_with("HTTP/1.1 200"), "stream refused: {text}");
        if text.contains("event: ready") || text.contains("event:ready") {
            return stream;
        }
    }
}

/// Whether the server ended the event stream within `wait`: its last chunk came (the connection
/// itself may stay open for the next request) or the connection closed. Keep-alive comments are
/// read past.
async fn ends_within(stream: &mut TcpStream, wait: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + wait;
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(n)) => {
                seen.extend_from_slice(&buf[..n]);
                if seen.ends_with(b"\r\n0\r\n\r\n") || seen == b"0\r\n\r\n" {
                    return true;
                }
            }
            Err(_) => return false,
        }
    }
}

#[tokio::main]
async fn main() {
    let streams = arg("--streams", 10_000) as usize;
    let idle_secs = arg("--idle-secs", 30);
    let dir = std::env::temp_dir().join(format!("advicly-bench-streams-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = database(&dir).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut server = Command::new(env!("CARGO_BIN_EXE_server"))
        .env("DATABASE_URL", &url)
        .env("APP_DATA_DIR", &dir)
        .env("LEPTOS_SITE_ADDR", &addr)
        .env("APP_PUBLIC_URL", format!("http://{addr}"))
        .env("APP_MAX_LIVE_STREAMS", streams.to_string())
        .env("RUST_LOG", "error")
        .kill_on_drop(true)
        .spawn()
        .expect("start the server binary");
    let pid = server.id().unwrap();
    let client = reqwest::Client::new();
    let started = Instant::now();
    while client
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .map(|r| r.status() != 200)
        .unwrap_or(true)
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "server did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Advisers and their sessions, written straight into the database (signing up 625 advisers
    // would time argon2, not streams).
    let db = backend::Db::connect(&url).await.expect("database");
    let sessions = streams.div_ceil(PER_SESSION);
    let now = chrono::Utc::now().timestamp_millis();
    let mut tokens = Vec::with_capacity(sessions);
    for i in 0..sessions {
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO advisers (email, password_hash, created_at) VALUES ($1, 'x', $2) RETURNING id",
        )
        .bind(format!("bench-{i}@example.com"))
        .bind(now)
        .fetch_one(db.pool())
        .await
        .unwrap();
        let token = format!("bench-session-{i}-{}", uuid::Uuid::new_v4().simple());
        sqlx::query("INSERT INTO sessions (id_hash, adviser_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(backend::crypto::sha256_hex(&token))
            .bind(id)
            .bind(now)
            .bind(now + 86_400_000)
            .execute(db.pool())
            .await
            .unwrap();
        tokens.push(token);
    }

    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before = status_field(pid, "VmRSS:");
    let opening = Instant::now();
    let mut open_streams: Vec<TcpStream> = futures::stream::iter(0..streams)
        .map(|i| {
            let (addr, token) = (addr.clone(), tokens[i / PER_SESSION].clone());
            async move { open(&addr, &token).await }
        })
        .buffered(64)
        .collect()
        .await;
    let open_secs = opening.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = status_field(pid, "VmRSS:");
    let peak = status_field(pid, "VmHWM:");

    let cpu_before = cpu_ticks(pid);
    tokio::time::sleep(Duration::from_secs(idle_secs)).await;
    let idle_cpu = (cpu_ticks(pid) - cpu_before) as f64 / 100.0;

    // One session signs out: its streams end, the others stay.
    let (mine, others) = open_streams.split_at_mut(PER_SESSION);
    let signing_out = Instant::now();
    let out = client
        .post(format!("http://{addr}/api/sign_out"))
        .header("origin", format!("http://{addr}"))
        .header(
            "cookie",
            format!("{}={}", backend::sessions::COOKIE_NAME, tokens[0]),
        )
        .send()
        .await
        .unwrap();
    assert!(
        out.status().is_success() || out.status().is_redirection(),
        "{}",
        out.status()
    );
    let mut ended = 0;
    for stream in mine.iter_mut() {
        if ends_within(stream, Duration::from_secs(5)).await {
            ended += 1;
        }
    }
    let sign_out_ms = signing_out.elapsed().as_secs_f64() * 1000.0;
    let mut still_open = 0;
    for stream in others.iter_mut().take(200) {
        if !ends_within(stream, Duration::from_millis(5)).await {
            still_open += 1;
        }
    }

    println!(
        "live streams on one instance ({}):",
        if url.starts_with("postgres") {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    );
    println!("  open streams                 {streams} ({sessions} sessions, {PER_SESSION} each)");
    println!("  opened in                    {open_secs:.1} s");
    println!(
        "  server RSS before / after    {} MB / {} MB (peak {} MB; target ≤ 300 MB)",
        rss_before / 1024,
        rss_after / 1024,
        peak / 1024
    );
    println!(
        "  per open stream              {:.1} KB",
        (rss_after.saturating_sub(rss_before)) as f64 / streams as f64
    );
    println!(
        "  server CPU over {idle_secs} s idle     {idle_cpu:.2} s ({:.1} % of one core)",
        idle_cpu * 100.0 / idle_secs as f64
    );
    println!("  one sign-out ends its streams {ended}/{PER_SESSION} within {sign_out_ms:.0} ms; 200 others checked, {still_open} still open");

    drop(open_streams);
    let _ = server.kill().await;
    db.close().await;
    if let (Ok(admin), Some((_, name))) =
        (std::env::var("BENCH_DATABASE_URL"), url.rsplit_once('/'))
    {
        if url.starts_with("postgres") {
            if let Ok(mut admin_db) =
                <sqlx::PgConnection as sqlx::Connection>::connect(&admin).await
            {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin_db)
                    .await;
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
