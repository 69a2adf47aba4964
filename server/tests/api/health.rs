use crate::on_both_databases;

on_both_databases! {
    async fn healthz_answers_200_when_the_database_is_up(app) {
        let response = app.get("/healthz").await;
        assert_eq!(response.status(), 200);
    }
}

on_both_databases! {
    async fn metrics_count_requests_by_route_in_prometheus_format(app) {
        app.get("/healthz").await;
        app.get("/healthz").await;
        let text = app.get("/metrics").await.text().await.unwrap();
        assert!(text.contains("# TYPE http_requests_total counter"), "{text}");
        assert!(text.contains(r#"http_requests_total{route="/healthz",method="GET",status="200"} 2"#), "{text}");
        assert!(text.contains("http_request_duration_seconds_bucket{route=\"/healthz\""), "{text}");
    }
}

on_both_databases! {
    async fn healthz_answers_503_when_the_database_is_gone(app) {
        app.state.db.close().await;
        let response = app.get("/healthz").await;
        assert_eq!(response.status(), 503);
    }
}

on_both_databases! {
    async fn pages_carry_basic_security_headers(app) {
        let response = app.get("/login").await;
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        assert_eq!(response.headers()["x-frame-options"], "DENY");
        assert_eq!(response.headers()["referrer-policy"], "same-origin");
    }
}

on_both_databases! {
    async fn made_up_http_methods_share_one_metrics_label(app) {
        for i in 0..5 {
            let method = reqwest::Method::from_bytes(format!("PROBE{i}").as_bytes()).unwrap();
            app.client.request(method, app.url("/healthz")).send().await.unwrap();
        }
        let text = app.get("/metrics").await.text().await.unwrap();
        assert!(!text.contains("PROBE"), "a client-chosen method became a label: {text}");
        assert!(text.contains(r#"method="other""#), "{text}");
    }
}

on_both_databases! {
    async fn signed_in_pages_are_never_cached_and_plain_http_gets_no_hsts(app) {
        let adviser = app.new_adviser().await;
        let page = adviser.client.get(app.url("/meetings")).send().await.unwrap();
        assert_eq!(page.status(), 200);
        assert_eq!(page.headers()["cache-control"], "no-store");
        assert!(page.headers().get("strict-transport-security").is_none(), "HSTS only over https");
    }
}

async fn over_https_every_response_carries_hsts(db: crate::helpers::TestDb) {
    let app = crate::helpers::spawn_app_with(db, calendly_sim::SimConfig::default(), |vars| {
        vars.insert("APP_PUBLIC_URL".into(), "https://127.0.0.1".into());
    })
    .await;
    let response = app.get("/login").await;
    assert_eq!(
        response.headers()["strict-transport-security"],
        "max-age=31536000; includeSubDomains"
    );
}

mod over_https_every_response_carries_hsts {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_sqlite() {
        super::over_https_every_response_carries_hsts(crate::helpers::TestDb::Sqlite).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_postgres() {
        super::over_https_every_response_carries_hsts(crate::helpers::TestDb::Postgres).await;
    }
}

on_both_databases! {
    async fn a_client_that_never_finishes_its_headers_is_disconnected(app) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = app.address.trim_start_matches("http://").to_owned();
        let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
        slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: advicly\r\nX-Slow: ").await.unwrap();
        let started = std::time::Instant::now();
        let mut buf = [0u8; 512];
        let closed = tokio::time::timeout(
            server::serve::HEADER_READ_TIMEOUT + std::time::Duration::from_secs(5),
            async {
                loop {
                    match slow.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {} // a 408 answer, then the close
                    }
                }
            },
        )
        .await;
        assert!(closed.is_ok(), "the connection was still open after {:?}", started.elapsed());
        assert!(started.elapsed() >= server::serve::HEADER_READ_TIMEOUT - std::time::Duration::from_secs(1));
        // Everyone else is served as usual.
        assert_eq!(app.get("/healthz").await.status(), 200);
    }
}

async fn over_https_the_session_cookie_is_host_prefixed_and_an_unprefixed_one_is_ignored(
    db: crate::helpers::TestDb,
) {
    let app = crate::helpers::spawn_app_with(db, calendly_sim::SimConfig::default(), |vars| {
        vars.insert("APP_PUBLIC_URL".into(), "https://127.0.0.1".into());
    })
    .await;
    let signed_up = app
        .sign_up("hana@example.com", crate::helpers::PASSWORD)
        .await;
    let cookie = crate::helpers::set_cookies(&signed_up)
        .into_iter()
        .find(|c| c.contains("advicly_session"))
        .expect("a session cookie");
    assert!(cookie.starts_with("__Host-advicly_session="), "{cookie}");
    assert!(cookie.contains("; Secure") && cookie.contains("Path=/") && !cookie.contains("Domain"));
    let token = cookie["__Host-advicly_session=".len()..]
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let ask = |cookie: String| {
        reqwest::Client::new()
            .post(app.url("/api/current_adviser"))
            .header("cookie", cookie)
            .send()
    };
    assert_eq!(
        ask(format!("__Host-advicly_session={token}"))
            .await
            .unwrap()
            .status(),
        200
    );
    // A cookie another subdomain could have planted is not a session.
    assert_eq!(
        ask(format!("advicly_session={token}"))
            .await
            .unwrap()
            .status(),
        401
    );
}

mod over_https_the_session_cookie_is_host_prefixed_and_an_unprefixed_one_is_ignored {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_sqlite() {
        super::over_https_the_session_cookie_is_host_prefixed_and_an_unprefixed_one_is_ignored(
            crate::helpers::TestDb::Sqlite,
        )
        .await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_postgres() {
        super::over_https_the_session_cookie_is_host_prefixed_and_an_unprefixed_one_is_ignored(
            crate::helpers::TestDb::Postgres,
        )
        .await;
    }
}

on_both_databases! {
    async fn every_inline_script_on_a_page_carries_the_nonce_its_policy_allows(app) {
        app.signed_in_adviser().await;
        let mut nonces = Vec::new();
        for path in ["/login", "/meetings", "/settings/calendar", "/no-such-page"] {
            let client = if path == "/login" { reqwest::Client::new() } else { app.client.clone() };
            let response = client.get(app.url(path)).send().await.unwrap();
            let policy = response.headers()["content-security-policy"].to_str().unwrap().to_owned();
            assert!(!policy.contains("unsafe-inline"), "{policy}");
            let nonce = policy
                .split("'nonce-")
                .nth(1)
                .and_then(|rest| rest.split('\'').next())
                .expect("a script nonce")
                .to_owned();
            let html = response.text().await.unwrap();
            let scripts: Vec<&str> = html.split("<script").skip(1).map(|s| &s[..s.find('>').unwrap()]).collect();
            assert!(!scripts.is_empty(), "{path} has the hydration script");
            for tag in scripts {
                assert!(tag.contains(&format!("nonce=\"{nonce}\"")), "{path}: <script{tag}> lacks the nonce");
            }
            nonces.push(nonce);
        }
        nonces.sort();
        nonces.dedup();
        assert_eq!(nonces.len(), 4, "a fresh nonce per response");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_metrics_token_only_the_scraper_that_sends_it_reads_metrics() {
    let app = crate::helpers::spawn_app_with(
        crate::helpers::TestDb::Sqlite,
        calendly_sim::SimConfig::default(),
        |vars| {
            vars.insert("APP_METRICS_TOKEN".into(), "scrape-secret".into());
        },
    )
    .await;
    assert_eq!(app.get("/metrics").await.status(), 401);
    let wrong = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth("scrape-secreT")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let right = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth("scrape-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 200);
    assert!(right.text().await.unwrap().contains("http_requests_total"));
}
