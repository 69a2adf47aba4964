use std::time::Duration;

use crate::helpers::{browser, captured_logs, upcoming};
use crate::on_both_databases;

on_both_databases! {
    async fn two_advisers_in_one_organization_each_get_their_own_user_scoped_subscription(app) {
        let org = app.sim.create_organization("Acme Advice");
        let (ann_cal, bob_cal) = (app.calendly_user("Ann Host", Some(&org)), app.calendly_user("Bob Host", Some(&org)));
        let (ann, bob) = (app.new_adviser().await, app.new_adviser().await);
        app.connect(&ann, &ann_cal).await;
        app.connect(&bob, &bob_cal).await;

        let (ann_subs, bob_subs) = (app.active_subscriptions_of(&ann_cal), app.active_subscriptions_of(&bob_cal));
        assert_eq!(ann_subs.len(), 1);
        assert_eq!(bob_subs.len(), 1);
        assert_eq!(ann_subs[0].scope, calendly_sim::SubscriptionScope::User);
        assert_ne!(ann_subs[0].callback_url, bob_subs[0].callback_url);
        assert!(ann_subs[0].callback_url.starts_with(&format!("{}/api/calendly/webhook/", app.address)));

        app.disconnect(&ann).await;
        assert!(app.active_subscriptions_of(&ann_cal).is_empty(), "Ann's subscription is deleted at Calendly");
        let still = app.active_subscriptions_of(&bob_cal);
        assert_eq!(still.len(), 1);
        assert_eq!(still[0].uri, bob_subs[0].uri, "Bob's subscription is untouched");

        app.book(&bob_cal, "Carol Client");
        app.deliveries_settle().await;
        let bobs = upcoming(&app.meetings(&bob).await);
        assert_eq!(bobs.len(), 1, "{bobs:?}");
        assert_eq!(bobs[0].1, vec!["Carol Client".to_string()]);
        assert!(upcoming(&app.meetings(&ann).await).is_empty(), "nothing leaks to Ann");
    }
}

on_both_databases! {
    async fn the_page_shows_the_connected_account_and_live_updates(app) {
        let cal = app.calendly_user("Dana Host", None);
        let adviser = app.new_adviser().await;
        app.connect(&adviser, &cal).await;
        let status = app.connection_status(&adviser).await;
        assert_eq!(status.status, "connected");
        assert_eq!(status.calendly_email, cal.email.as_str());
        assert_eq!(status.calendly_name, "Dana Host");
        assert_eq!(status.live, "active");
        let page = adviser.client.get(app.url("/settings/calendar")).send().await.unwrap().text().await.unwrap();
        assert!(page.contains(&cal.email), "the page shows the Calendly email");
        assert!(page.contains("Disconnect"));
    }
}

on_both_databases! {
    async fn connecting_twice_or_reconnecting_never_leaves_duplicate_subscriptions(app) {
        let cal = app.calendly_user("Erin Host", None);
        let adviser = app.new_adviser().await;
        app.connect(&adviser, &cal).await;
        app.connect(&adviser, &cal).await;
        assert_eq!(app.active_subscriptions_of(&cal).len(), 1);
        app.disconnect(&adviser).await;
        assert_eq!(app.active_subscriptions_of(&cal).len(), 0);
        app.connect(&adviser, &cal).await;
        assert_eq!(app.active_subscriptions_of(&cal).len(), 1);
        let (active,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM calendly_webhook_subscriptions WHERE is_active = 1")
            .fetch_one(app.state.db.pool())
            .await
            .unwrap();
        assert_eq!(active, 1);
    }
}

on_both_databases! {
    async fn a_subscription_calendly_already_has_is_adopted_not_duplicated(app) {
        let cal = app.calendly_user("Fay Host", None);
        let adviser = app.new_adviser().await;
        app.connect(&adviser, &cal).await;
        let before = app.active_subscriptions_of(&cal);
        // As if the create response had been lost: we no longer know the subscription's URI.
        sqlx::query("UPDATE calendly_webhook_subscriptions SET subscription_uri = NULL").execute(app.state.db.pool()).await.unwrap();
        let user = backend::accounts::AdviserId(1);
        backend::connections::ensure_subscription(&app.state, user).await.unwrap();
        let after = app.active_subscriptions_of(&cal);
        assert_eq!(after.len(), 1);
        assert_eq!(after[0].uri, before[0].uri);
    }
}

on_both_databases! {
    async fn a_subscription_calendly_refuses_still_connects_and_says_why(app) {
        let cal = app.calendly_user("Gus Host", None);
        app.sim.set_require_public_callback_url(true);
        let adviser = app.new_adviser().await;
        app.connect(&adviser, &cal).await;
        let status = app.connection_status(&adviser).await;
        assert_eq!(status.status, "connected");
        assert_eq!(status.live, "unavailable");
        assert!(status.live_reason.as_deref().unwrap().contains("public https"), "{status:?}");
        assert!(app.active_subscriptions_of(&cal).is_empty());
    }
}

on_both_databases! {
    async fn consent_denied_stores_nothing_and_says_so(app) {
        let cal = app.calendly_user("Hal Host", None);
        let adviser = app.new_adviser().await;
        let authorize = app.start_connect(&adviser).await;
        let callback = app.consent(&authorize, &cal.email, "deny").await;
        assert!(callback.contains("error=access_denied"));
        assert_eq!(app.finish_connect(&adviser, &callback).await, "/settings/calendar?error=denied");
        assert_eq!(app.connection_status(&adviser).await.status, "none");
    }
}

on_both_databases! {
    async fn state_attacks_fail_closed(app) {
        let cal = app.calendly_user("Ida Host", None);
        let ann = app.new_adviser().await;
        let mallory = app.new_adviser().await;

        // Missing state.
        let no_state = app.finish_connect(&ann, &app.url("/api/calendly/oauth/callback?code=abc")).await;
        assert_eq!(no_state, "/settings/calendar?error=state");

        // Another adviser's state: Mallory lures Ann into completing Mallory's authorization.
        let authorize = app.start_connect(&mallory).await;
        let callback = app.consent(&authorize, &cal.email, "allow").await;
        assert_eq!(app.finish_connect(&ann, &callback).await, "/settings/calendar?error=state");
        assert_eq!(app.connection_status(&ann).await.status, "none");
        // ...and the state is now spent for Mallory too.
        assert_eq!(app.finish_connect(&mallory, &callback).await, "/settings/calendar?error=state");
        assert_eq!(app.connection_status(&mallory).await.status, "none");

        // Replay of a completed callback.
        let authorize = app.start_connect(&ann).await;
        let callback = app.consent(&authorize, &cal.email, "allow").await;
        assert_eq!(app.finish_connect(&ann, &callback).await, "/settings/calendar?connected=1");
        assert_eq!(app.finish_connect(&ann, &callback).await, "/settings/calendar?error=state");

        // The same adviser in another session (state is bound to the session).
        let other_session = crate::helpers::Adviser { email: ann.email.clone(), client: browser() };
        app.server_fn_as(&other_session.client, "sign_in", &[("email", &ann.email), ("password", crate::helpers::PASSWORD)]).await;
        let authorize = app.start_connect(&ann).await;
        let callback = app.consent(&authorize, &cal.email, "allow").await;
        assert_eq!(app.finish_connect(&other_session, &callback).await, "/settings/calendar?error=state");

        // An expired state.
        let authorize = app.start_connect(&ann).await;
        let callback = app.consent(&authorize, &cal.email, "allow").await;
        app.clock.advance(Duration::from_secs(11 * 60));
        assert_eq!(app.finish_connect(&ann, &callback).await, "/settings/calendar?error=state");
    }
}

on_both_databases! {
    async fn a_wrong_pkce_verifier_fails_closed(app) {
        let cal = app.calendly_user("Jo Host", None);
        let adviser = app.new_adviser().await;
        let authorize = app.start_connect(&adviser).await;
        let forged = app.state.settings.encryption_key.encrypt("a-verifier-that-does-not-match-the-challenge-0123456789", &backend::crypto::secret_context("pkce_verifier", 1));
        sqlx::query("UPDATE oauth_states SET pkce_verifier_enc = $1").bind(forged).execute(app.state.db.pool()).await.unwrap();
        let callback = app.consent(&authorize, &cal.email, "allow").await;
        assert_eq!(app.finish_connect(&adviser, &callback).await, "/settings/calendar?error=exchange");
        assert_eq!(app.connection_status(&adviser).await.status, "none");
    }
}

on_both_databases! {
    async fn tokens_are_encrypted_at_rest_and_never_logged(app) {
        let cal = app.calendly_user("Kim Host", None);
        let adviser = app.new_adviser().await;
        app.connect(&adviser, &cal).await;
        let (access, refresh): (Vec<u8>, Vec<u8>) =
            sqlx::query_as("SELECT access_token_enc, refresh_token_enc FROM calendar_connections").fetch_one(app.state.db.pool()).await.unwrap();
        let key = &app.state.settings.encryption_key;
        let access = key.decrypt(&access, &backend::crypto::secret_context("access_token", 1)).unwrap();
        let refresh = key.decrypt(&refresh, &backend::crypto::secret_context("refresh_token", 1)).unwrap();
        let everything = dump_database(&app).await;
        for secret in [&access, &refresh, &app.sim.config().client_secret, &app.sim.config().webhook_signing_key] {
            assert!(!everything.contains(secret.as_str()), "a secret is stored in plain text");
        }
        let logs = captured_logs();
        for secret in [&access, &refresh, &app.sim.config().client_secret, &app.sim.config().webhook_signing_key] {
            assert!(!logs.contains(secret.as_str()), "a secret appears in the logs");
        }
    }
}

/// Every row of every table as text (plus, for SQLite, the raw database files).
async fn dump_database(app: &crate::helpers::TestApp) -> String {
    let url = app.state.db.url().to_owned();
    if url.starts_with("sqlite") {
        let path = url
            .trim_start_matches("sqlite://")
            .split('?')
            .next()
            .unwrap()
            .to_owned();
        let mut all = Vec::new();
        for suffix in ["", "-wal"] {
            if let Ok(bytes) = std::fs::read(format!("{path}{suffix}")) {
                all.extend(bytes);
            }
        }
        String::from_utf8_lossy(&all).into_owned()
    } else {
        let mut text = String::new();
        for table in [
            "calendar_connections",
            "calendly_webhook_subscriptions",
            "oauth_states",
            "webhook_deliveries",
            "calendly_cleanup_jobs",
        ] {
            let rows: Vec<(String,)> = sqlx::query_as(&format!("SELECT t::text FROM {table} t"))
                .fetch_all(app.state.db.pool())
                .await
                .unwrap();
            for (row,) in rows {
                text.push_str(&row);
            }
        }
        text
    }
}

on_both_databases! {
    async fn concurrent_refreshes_never_lose_the_connection(app) {
        let cal = app.calendly_user("Lee Host", None);
        let adviser = app.new_adviser().await;
        app.connect(&adviser, &cal).await;
        // Both clocks move past the access token's two hours.
        app.clock.advance(Duration::from_secs(3 * 3600));
        app.sim.advance_clock(chrono::Duration::hours(3));
        let user = backend::accounts::AdviserId(1);
        let calls = (0..6).map(|_| backend::connections::access_token(&app.state, user));
        let results = futures::future::join_all(calls).await;
        for r in &results {
            assert!(r.is_ok(), "{r:?}");
        }
        let tokens: std::collections::HashSet<String> = results.into_iter().map(|r| r.unwrap().expose_secret().to_owned()).collect();
        assert_eq!(tokens.len(), 1, "one refresh served every caller");
        assert_eq!(app.connection_status(&adviser).await.status, "connected");
        // The rotated refresh token was saved: a later refresh works too.
        app.clock.advance(Duration::from_secs(3 * 3600));
        app.sim.advance_clock(chrono::Duration::hours(3));
        assert!(backend::connections::access_token(&app.state, user).await.is_ok());
    }
}

on_both_databases! {
    async fn tokens_that_no_longer_decrypt_make_the_connection_need_a_reconnect_once(app) {
        let cal = app.calendly_user("Kit Host", None);
        let adviser = app.new_adviser().await;
        app.connect(&adviser, &cal).await;
        // As after APP_ENCRYPTION_KEY changed: the stored ciphertexts are someone else's.
        sqlx::query("UPDATE calendar_connections SET access_token_enc = $1, refresh_token_enc = $1")
            .bind(vec![7u8; 60])
            .execute(app.state.db.pool())
            .await
            .unwrap();
        let user = backend::accounts::AdviserId(1);
        let err = backend::connections::access_token(&app.state, user).await.unwrap_err();
        assert!(matches!(err, backend::connections::TokenError::NeedsReconnect), "{err:?}");
        assert_eq!(app.connection_status(&adviser).await.status, "needs_reconnect");
        let page = adviser.client.get(app.url("/settings/calendar")).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("Reconnect"));
    }
}

on_both_databases! {
    async fn a_revoked_grant_marks_the_connection_needs_reconnect(app) {
        let cal = app.calendly_user("Max Host", None);
        let adviser = app.new_adviser().await;
        app.connect(&adviser, &cal).await;
        app.sim.revoke_all_tokens(&cal.uri);
        app.clock.advance(Duration::from_secs(3 * 3600));
        app.sim.advance_clock(chrono::Duration::hours(3));
        let user = backend::accounts::AdviserId(1);
        let err = backend::connections::access_token(&app.state, user).await.unwrap_err();
        assert!(matches!(err, backend::connections::TokenError::NeedsReconnect), "{err:?}");
        assert_eq!(app.connection_status(&adviser).await.status, "needs_reconnect");
        let page = adviser.client.get(app.url("/settings/calendar")).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("Reconnect"));
    }
}

on_both_databases! {
    async fn disconnecting_while_calendly_is_down_is_immediate_and_retried_later(app) {
        let cal = app.calendly_user("Ned Host", None);
        let adviser = app.new_adviser().await;
        app.connect(&adviser, &cal).await;
        app.sim.shutdown();
        tokio::time::sleep(Duration::from_millis(200)).await;
        app.disconnect(&adviser).await;
        assert_eq!(app.connection_status(&adviser).await.status, "disconnected");
        let (jobs, attempts): (i64, i64) = sqlx::query_as("SELECT COUNT(*), COALESCE(MAX(attempts), 0) FROM calendly_cleanup_jobs")
            .fetch_one(app.state.db.pool())
            .await
            .unwrap();
        assert_eq!(jobs, 1, "the remote clean-up waits for Calendly");
        assert_eq!(attempts, 1);
        let (tokens,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM calendar_connections WHERE access_token_enc IS NOT NULL OR refresh_token_enc IS NOT NULL")
            .fetch_one(app.state.db.pool())
            .await
            .unwrap();
        assert_eq!(tokens, 0, "the connection's stored tokens are purged at once");
    }
}

on_both_databases! {
    async fn two_advisers_sharing_one_calendly_account_keep_each_others_subscriptions(app) {
        let cal = app.calendly_user("Shared Host", None);
        let (ann, bob) = (app.new_adviser().await, app.new_adviser().await);
        app.connect(&ann, &cal).await;
        app.connect(&bob, &cal).await;
        assert_eq!(app.active_subscriptions_of(&cal).len(), 2);
        for id in [1, 2] {
            backend::connections::ensure_subscription(&app.state, backend::accounts::AdviserId(id)).await.unwrap();
        }
        assert_eq!(app.active_subscriptions_of(&cal).len(), 2, "neither deleted the other's");
    }
}

on_both_databases! {
    async fn reconnecting_with_another_calendly_account_retires_the_old_ones_subscription(app) {
        let (old_cal, new_cal) = (app.calendly_user("Old Account", None), app.calendly_user("New Account", None));
        let adviser = app.new_adviser().await;
        app.connect(&adviser, &old_cal).await;
        app.connect(&adviser, &new_cal).await;
        assert!(app.active_subscriptions_of(&old_cal).is_empty(), "the old account's subscription is deleted");
        assert_eq!(app.active_subscriptions_of(&new_cal).len(), 1);
        let status = app.connection_status(&adviser).await;
        assert_eq!(status.calendly_email, new_cal.email.as_str());
        app.book(&old_cal, "Old Client");
        app.deliveries_settle().await;
        assert!(upcoming(&app.meetings(&adviser).await).is_empty(), "the old account's bookings no longer arrive");
    }
}

on_both_databases! {
    async fn a_subscription_under_our_path_with_a_token_nobody_holds_is_cleaned_up(app) {
        let cal = app.calendly_user("Orla Orphan", None);
        // Left behind by an attempt that died before it stored its route token.
        let pat = calendly::secrets::AccessToken::new(app.sim.issue_personal_access_token(&cal.uri));
        let api = calendly::Client::new(url::Url::parse(&app.sim.base_url()).unwrap(), calendly::http_client(Duration::from_secs(5)));
        let orphan_url = app.state.settings.public_link(&format!("{}/{}", backend::calendly_app::WEBHOOK_PATH, "Zorphan0000000000000000"[..22].to_owned()));
        let orphan = api
            .create_webhook_subscription(&pat, &calendly::CreateWebhookSubscription {
                url: orphan_url,
                events: vec!["invitee.created".into()],
                organization: calendly::ids::OrganizationUri::parse(&cal.organization).unwrap(),
                user: Some(calendly::ids::CalendlyUserUri::parse(&cal.uri).unwrap()),
                scope: calendly::SubscriptionScope::User,
                signing_key: None,
            })
            .await
            .unwrap();

        let adviser = app.new_adviser().await;
        app.connect(&adviser, &cal).await;
        assert!(app.sim.subscriptions().iter().all(|s| s.uri != orphan.uri.as_str()), "the orphan is deleted");
        assert_eq!(app.active_subscriptions_of(&cal).len(), 1);
    }
}

on_both_databases! {
    async fn two_instances_ensuring_at_once_leave_exactly_one_subscription(app) {
        let other = app.second_instance().await;
        let cal = app.calendly_user("Twin Host", None);
        let adviser = app.new_adviser().await;
        app.connect(&adviser, &cal).await;
        for sub in app.active_subscriptions_of(&cal) {
            app.sim.disable_subscription(&sub.uri);
        }
        let user = backend::accounts::AdviserId(1);
        let (a, b) = tokio::join!(
            backend::connections::ensure_subscription(&app.state, user),
            backend::connections::ensure_subscription(&other.state, user)
        );
        a.unwrap();
        b.unwrap();
        let active = app.active_subscriptions_of(&cal);
        assert_eq!(active.len(), 1, "{active:?}");
        let (stored,): (String,) = sqlx::query_as("SELECT route_token FROM calendly_webhook_subscriptions WHERE is_active = 1")
            .fetch_one(app.state.db.pool()).await.unwrap();
        assert!(active[0].callback_url.ends_with(&stored), "the one at Calendly is the one we stored");
    }
}

on_both_databases! {
    async fn the_delivery_log_says_what_happened_without_quoting_internal_errors(app) {
        let cal = app.calendly_user("Dee Log", None);
        let adviser = app.new_adviser().await;
        app.connect(&adviser, &cal).await;
        app.initial_sync_done().await;
        app.book(&cal, "Logged Client");
        app.deliveries_settle().await;
        sqlx::query("UPDATE webhook_deliveries SET status = 'failed', error = 'error returned from database: relation \"meetings\" is locked'")
            .execute(app.state.db.pool()).await.unwrap();
        let page = adviser.client.get(app.url("/settings/calendar")).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("Received: not applied yet, retrying"), "{page}");
        assert!(!page.contains("relation"), "internal error text reached the page");
    }
}

/// No background round may refresh the tokens meanwhile (it would hold the adviser's token
/// lock through Calendly's slow answer): only the disconnect's own refresh is measured.
async fn a_disconnect_that_outlasts_the_pages_wait_still_finishes_with_the_rotated_tokens(
    db: crate::helpers::TestDb,
) {
    let app = crate::helpers::spawn_app_with(db, calendly_sim::SimConfig::default(), |vars| {
        vars.insert("APP_SYNC_INTERVAL_SECS".into(), "3600".into());
        vars.insert("APP_FULL_SYNC_INTERVAL_SECS".into(), "3600".into());
    })
    .await;
    let cal = app.calendly_user("Ora Host", None);
    let adviser = app.new_adviser().await;
    app.connect(&adviser, &cal).await;
    app.initial_sync_done().await;
    assert_eq!(app.active_subscriptions_of(&cal).len(), 1);
    // The access token has expired, so the clean-up must refresh first — and Calendly takes
    // 10 s to answer that, longer than the page waits (8 s).
    app.sim.advance_clock(chrono::Duration::hours(3));
    app.sim.set_token_delay(Duration::from_secs(10));
    let started = std::time::Instant::now();
    app.disconnect(&adviser).await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the page does not wait for Calendly"
    );
    assert_eq!(app.connection_status(&adviser).await.status, "disconnected");
    // The refresh Calendly answered is not cut off: its rotated tokens delete the
    // subscription and are revoked, without waiting for a background retry.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while !app.active_subscriptions_of(&cal).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the subscription was left behind at Calendly"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.sim.set_token_delay(Duration::ZERO);
}

mod a_disconnect_that_outlasts_the_pages_wait_still_finishes_with_the_rotated_tokens {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_sqlite() {
        super::a_disconnect_that_outlasts_the_pages_wait_still_finishes_with_the_rotated_tokens(
            crate::helpers::TestDb::Sqlite,
        )
        .await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_postgres() {
        super::a_disconnect_that_outlasts_the_pages_wait_still_finishes_with_the_rotated_tokens(
            crate::helpers::TestDb::Postgres,
        )
        .await;
    }
}

on_both_databases! {
    async fn two_instances_refreshing_at_once_spend_the_refresh_token_once(app) {
        let cal = app.calendly_user("Uli Host", None);
        let adviser = app.new_adviser().await;
        app.connect(&adviser, &cal).await;
        let other = app.second_instance().await;
        app.clock.advance(Duration::from_secs(3 * 3600));
        other.clock.advance(Duration::from_secs(3 * 3600));
        app.sim.advance_clock(chrono::Duration::hours(3));
        app.sim.set_token_delay(Duration::from_millis(500));
        let user = backend::accounts::AdviserId(1);
        let (a, b) = tokio::join!(
            backend::connections::access_token(&app.state, user),
            backend::connections::access_token(&other.state, user),
        );
        app.sim.set_token_delay(Duration::ZERO);
        let (a, b) = (a.expect("first instance"), b.expect("second instance"));
        assert_eq!(a.expose_secret(), b.expose_secret(), "one refresh served both instances");
        assert_eq!(app.connection_status(&adviser).await.status, "connected");
    }
}

on_both_databases! {
    async fn a_refresh_holds_no_database_connection_while_calendly_answers(app) {
        let cal = app.calendly_user("Vi Host", None);
        let adviser = app.new_adviser().await;
        app.connect(&adviser, &cal).await;
        app.clock.advance(Duration::from_secs(3 * 3600));
        app.sim.advance_clock(chrono::Duration::hours(3));
        app.sim.set_token_delay(Duration::from_secs(4));
        let state = app.state.clone();
        let refresh = tokio::spawn(async move {
            backend::connections::access_token(&state, backend::accounts::AdviserId(1)).await
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        // Every shared connection can be had while the refresh waits for Calendly.
        let pool = app.state.db.pool();
        let mut held = Vec::new();
        for _ in 0..pool.options().get_max_connections() {
            let conn = tokio::time::timeout(Duration::from_millis(1500), pool.acquire()).await;
            held.push(conn.expect("a connection is held across the call to Calendly").unwrap());
        }
        drop(held);
        app.sim.set_token_delay(Duration::ZERO);
        assert!(refresh.await.unwrap().is_ok());
        assert_eq!(app.connection_status(&adviser).await.status, "connected");
    }
}

on_both_databases! {
    async fn a_flow_already_talking_to_calendly_stops_at_its_next_call_once_the_adviser_disconnects(app) {
        let cal = app.calendly_user("Flo Host", None);
        let adviser = app.new_adviser().await;
        app.connect(&adviser, &cal).await;
        let id = backend::accounts::AdviserId(1);
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let count = || {
            calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async { Ok::<_, calendly::Error>(()) }
        };
        // A sync (say) holds its handle across many calls...
        let calendly = backend::connections::calendly_for(&app.state, id);
        assert!(calendly.call(|_| count()).await.is_ok());
        // ...while the adviser disconnects: its next call must not reach Calendly.
        backend::connections::disconnect(&app.state, id).await.unwrap();
        let after = calendly.call(|_| count()).await;
        assert!(matches!(after, Err(backend::connections::TokenError::NotConnected)), "{after:?}");
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1, "no call after the disconnect");
    }
}

on_both_databases! {
    async fn outside_sandbox_mode_the_sandbox_actions_are_not_there_even_for_a_connected_adviser(app) {
        let cal = app.calendly_user("Sam Host", None);
        let adviser = app.new_adviser().await;
        app.connect(&adviser, &cal).await;
        let booked = app.book(&cal, "Pat Prospect");
        for (name, form) in [
            ("sandbox_overview", vec![]),
            ("sandbox_book", vec![("name", "Pat"), ("email", "pat@example.com"), ("title", ""), ("start", "2030-01-07T10:00"), ("minutes", "30")]),
            ("sandbox_cancel", vec![("invitee", booked.invitee_uri.as_str()), ("reason", "")]),
            ("sandbox_reschedule", vec![("invitee", booked.invitee_uri.as_str()), ("start", "2030-01-08T10:00")]),
        ] {
            let response = app.server_fn_as(&adviser.client, name, &form).await;
            assert_eq!(response.status(), 404, "{name}");
        }
        app.deliveries_settle().await;
        // Nothing was booked, canceled or moved at Calendly by those calls.
        assert_eq!(upcoming(&app.meetings(&adviser).await).len(), 1);
    }
}
