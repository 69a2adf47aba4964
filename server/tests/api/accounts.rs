use std::time::Duration;

use crate::helpers::{browser, set_cookies, succeeded, PASSWORD};
use crate::on_both_databases;

on_both_databases! {
    async fn sign_up_with_a_malformed_email_is_rejected_with_a_clear_message(app) {
        let response = app.sign_up("not-an-email", PASSWORD).await;
        assert_eq!(response.status(), 400);
        assert!(response.text().await.unwrap().contains("Enter a valid email address"));
    }
}

on_both_databases! {
    async fn sign_up_with_a_short_password_is_rejected_with_a_clear_message(app) {
        let response = app.sign_up("ann@example.com", "short").await;
        assert_eq!(response.status(), 400);
        assert!(response.text().await.unwrap().contains("at least 10 characters"));
    }
}

on_both_databases! {
    async fn sign_up_with_an_email_already_registered_is_rejected(app) {
        assert!(succeeded(&app.sign_up("ann@example.com", PASSWORD).await));
        let again = app.server_fn_as(&browser(), "sign_up", &[("email", "ANN@example.com"), ("password", PASSWORD)]).await;
        assert_eq!(again.status(), 409);
        assert!(again.text().await.unwrap().contains("already exists"));
    }
}

on_both_databases! {
    async fn sign_up_signs_the_adviser_in_with_a_safe_cookie(app) {
        let response = app.sign_up("ann@example.com", PASSWORD).await;
        assert!(succeeded(&response), "{}", response.status());
        let cookie = set_cookies(&response).into_iter().find(|c| c.starts_with("advicly_session=")).expect("session cookie");
        assert!(cookie.contains("HttpOnly"), "{cookie}");
        assert!(cookie.contains("SameSite=Lax"), "{cookie}");
        assert!(!cookie.contains("Secure"), "plain http must not set Secure: {cookie}");
        let page = app.get("/meetings").await;
        assert_eq!(page.status(), 200);
        assert!(page.text().await.unwrap().contains("ann@example.com"));
    }
}

on_both_databases! {
    async fn a_wrong_password_and_an_unknown_email_get_the_same_answer(app) {
        app.sign_up("ann@example.com", PASSWORD).await;
        let other = browser();
        let wrong = app.server_fn_as(&other, "sign_in", &[("email", "ann@example.com"), ("password", "wrong password!")]).await;
        let (status_wrong, body_wrong) = (wrong.status(), wrong.text().await.unwrap());
        let unknown = app.server_fn_as(&other, "sign_in", &[("email", "nobody@example.com"), ("password", "wrong password!")]).await;
        assert_eq!(status_wrong, 400);
        assert_eq!(unknown.status(), status_wrong);
        assert_eq!(unknown.text().await.unwrap(), body_wrong);
        assert!(body_wrong.contains("Email or password is incorrect"));
    }
}

/// A sign-in attempt from `client` (the test app trusts 127.0.0.1 as its reverse proxy, so
/// `X-Forwarded-For` says who the client is).
async fn sign_in_from(
    app: &crate::helpers::TestApp,
    client: &str,
    email: &str,
    password: &str,
) -> reqwest::Response {
    browser()
        .post(app.url("/api/sign_in"))
        .header("x-forwarded-for", client)
        .form(&[("email", email), ("password", password)])
        .send()
        .await
        .expect("sign in")
}

on_both_databases! {
    async fn an_attackers_failures_slow_the_attacker_but_never_keep_the_adviser_out(app) {
        app.sign_up("ann@example.com", PASSWORD).await;
        let attacker = "203.0.113.5";
        let wrong = "wrong password!";
        for _ in 0..5 {
            assert_eq!(sign_in_from(&app, attacker, "ann@example.com", wrong).await.status(), 400);
        }
        // Each further failure doubles the wait: 1 s after the 6th, 2 s after the 7th, 4 s after the 8th.
        app.clock.advance(Duration::from_secs(1));
        assert_eq!(sign_in_from(&app, attacker, "ann@example.com", wrong).await.status(), 400);
        app.clock.advance(Duration::from_secs(2));
        assert_eq!(sign_in_from(&app, attacker, "ann@example.com", wrong).await.status(), 400);
        // The attacker must now wait, even with the right password…
        let r = sign_in_from(&app, attacker, "ann@example.com", PASSWORD).await;
        assert_eq!(r.status(), 429);
        assert!(r.text().await.unwrap().contains("Too many failed sign-in attempts. Try again in"));
        // …while Ann, from her own address, signs in at once.
        let r = sign_in_from(&app, "198.51.100.7", "ann@example.com", PASSWORD).await;
        assert!(succeeded(&r), "{}", r.status());

        // There is no lock: once the wait has passed, the right password goes through.
        app.clock.advance(Duration::from_secs(4));
        let r = sign_in_from(&app, attacker, "ann@example.com", PASSWORD).await;
        assert!(succeeded(&r), "after the wait, the right password goes through: {}", r.status());
    }
}

on_both_databases! {
    async fn parallel_guesses_from_one_client_get_no_more_tries_than_sequential_ones(app) {
        app.sign_up("ann@example.com", PASSWORD).await;
        let guesses = (0..12).map(|_| sign_in_from(&app, "203.0.113.5", "ann@example.com", "wrong password!"));
        let statuses: Vec<u16> = futures::future::join_all(guesses).await.iter().map(|r| r.status().as_u16()).collect();
        let checked = statuses.iter().filter(|s| **s == 400).count();
        assert!(checked <= 5, "at most the free 5 are checked (parallel ones may all see each other and wait): {statuses:?}");
        assert!(statuses.iter().all(|s| [400, 429, 503].contains(s)), "{statuses:?}");
    }
}

on_both_databases! {
    async fn one_client_trying_many_emails_is_slowed_down_too(app) {
        for i in 0..22 {
            // 20 are free; then 1 s, then 2 s of waiting earn the 21st and 22nd tries.
            match i {
                20 => app.clock.advance(Duration::from_secs(1)),
                21 => app.clock.advance(Duration::from_secs(2)),
                _ => {}
            }
            let r = sign_in_from(&app, "203.0.113.5", &format!("user{i}@example.com"), "wrong password!").await;
            assert_eq!(r.status(), 400, "attempt {i}");
        }
        let r = sign_in_from(&app, "203.0.113.5", "someone-new@example.com", "wrong password!").await;
        assert_eq!(r.status(), 429);
        let r = sign_in_from(&app, "198.51.100.7", "someone-new@example.com", "wrong password!").await;
        assert_eq!(r.status(), 400, "another client is unaffected");
    }
}

on_both_databases! {
    async fn failures_are_forgotten_after_an_hour(app) {
        app.sign_up("ann@example.com", PASSWORD).await;
        for _ in 0..8 {
            sign_in_from(&app, "203.0.113.5", "ann@example.com", "wrong password!").await;
            app.clock.advance(Duration::from_secs(1));
        }
        assert_eq!(sign_in_from(&app, "203.0.113.5", "ann@example.com", PASSWORD).await.status(), 429);
        app.clock.advance(Duration::from_secs(61 * 60));
        let r = sign_in_from(&app, "203.0.113.5", "ann@example.com", PASSWORD).await;
        assert!(succeeded(&r), "{}", r.status());
    }
}

on_both_databases! {
    async fn pages_redirect_to_sign_in_without_a_session(app) {
        for path in ["/meetings", "/settings/calendar", "/"] {
            let response = app.get(path).await;
            assert!(response.status().is_redirection(), "{path}: {}", response.status());
            assert_eq!(response.headers()["location"], "/login", "{path}");
        }
    }
}

on_both_databases! {
    async fn server_functions_refuse_requests_without_a_session(app) {
        let response = app.server_fn("current_adviser", &[]).await;
        assert_eq!(response.status(), 401);
        let forged = reqwest::Client::new()
            .post(app.url("/api/current_adviser"))
            .header("cookie", "advicly_session=forged-token")
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status(), 401);
    }
}

on_both_databases! {
    async fn a_session_is_invalid_after_sign_out(app) {
        app.signed_in_adviser().await;
        let token = app.client.get(app.url("/meetings")).send().await.unwrap();
        assert_eq!(token.status(), 200);
        let cookie_value = session_cookie_value(&app).await;
        let out = app.sign_out().await;
        assert!(succeeded(&out));
        assert!(set_cookies(&out).iter().any(|c| c.starts_with("advicly_session=;") && c.contains("Max-Age=0")));
        // Even a client that kept the old cookie is refused.
        let replay = reqwest::Client::new()
            .post(app.url("/api/current_adviser"))
            .header("cookie", format!("advicly_session={cookie_value}"))
            .send()
            .await
            .unwrap();
        assert_eq!(replay.status(), 401);
    }
}

on_both_databases! {
    async fn a_session_expires(app) {
        app.signed_in_adviser().await;
        assert_eq!(app.server_fn("current_adviser", &[]).await.status(), 200);
        app.clock.advance(app.state.settings.session_ttl + Duration::from_secs(1));
        assert_eq!(app.server_fn("current_adviser", &[]).await.status(), 401);
        assert!(app.get("/meetings").await.status().is_redirection());
    }
}

on_both_databases! {
    async fn signing_in_again_replaces_the_session_id(app) {
        let email = app.signed_in_adviser().await;
        let first = session_cookie_value(&app).await;
        let again = app.sign_in(&email, crate::helpers::PASSWORD).await;
        assert!(succeeded(&again));
        let second = session_cookie_value(&app).await;
        assert_ne!(first, second);
        let old = reqwest::Client::new()
            .post(app.url("/api/current_adviser"))
            .header("cookie", format!("advicly_session={first}"))
            .send()
            .await
            .unwrap();
        assert_eq!(old.status(), 401, "the pre-sign-in session id must stop working");
    }
}

/// The session token currently in the app client's cookie jar.
async fn session_cookie_value(app: &crate::helpers::TestApp) -> String {
    use reqwest::cookie::CookieStore;
    let url: url::Url = app.address.parse().unwrap();
    let header = app.jar.cookies(&url).expect("cookies");
    backend::sessions::token_from_cookie_header(header.to_str().unwrap(), false)
        .expect("session cookie")
        .to_owned()
}

on_both_databases! {
    async fn a_cross_site_form_post_is_refused(app) {
        app.sign_up("ann@example.com", PASSWORD).await;
        // Login CSRF: another site posting our sign-in form with its own credentials.
        let forged = browser()
            .post(app.url("/api/sign_in"))
            .header("origin", "https://evil.example")
            .form(&[("email", "ann@example.com"), ("password", PASSWORD)])
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status(), 403);
        assert!(set_cookies(&forged).is_empty(), "no session is handed out");
        let fetch_metadata = browser()
            .post(app.url("/api/calendly/connect"))
            .header("sec-fetch-site", "cross-site")
            .send()
            .await
            .unwrap();
        assert_eq!(fetch_metadata.status(), 403);
        // The same request from our own page is fine.
        let ours = browser()
            .post(app.url("/api/sign_in"))
            .header("origin", app.address.as_str())
            .form(&[("email", "ann@example.com"), ("password", PASSWORD)])
            .send()
            .await
            .unwrap();
        assert!(succeeded(&ours), "{}", ours.status());
    }
}
