use std::time::Duration;

use crate::helpers::{spawn_app, TestDb};
use crate::on_both_databases;

const WAIT: Duration = Duration::from_secs(10);

on_both_databases! {
    async fn the_live_stream_refuses_visitors_without_a_session(app) {
        let response = reqwest::Client::new().get(app.url("/api/meetings/stream")).send().await.unwrap();
        assert_eq!(response.status(), 401);
    }
}

on_both_databases! {
    async fn the_live_stream_carries_only_the_advisers_own_changes(app) {
        let (ann_cal, bob_cal) = (app.calendly_user("Ann Host", None), app.calendly_user("Bob Host", None));
        let (ann, bob) = (app.new_adviser().await, app.new_adviser().await);
        app.connect(&ann, &ann_cal).await;
        app.connect(&bob, &bob_cal).await;
        let mut ann_stream = app.open_stream(&ann, None).await;
        let mut bob_stream = app.open_stream(&bob, None).await;
        assert!(ann_stream.next_named("ready", WAIT).await.is_some());
        assert!(bob_stream.next_named("ready", WAIT).await.is_some());

        app.book(&ann_cal, "Client Of Ann");
        let change = ann_stream.next_named("change", WAIT).await.expect("Ann hears about her booking");
        assert!(change.id.is_some());
        assert!(bob_stream.next_named("change", Duration::from_millis(700)).await.is_none(), "Bob hears nothing");
    }
}

on_both_databases! {
    async fn a_reconnecting_stream_catches_up_from_last_event_id(app) {
        let cal = app.calendly_user("Cat Host", None);
        let adviser = app.new_adviser().await;
        app.connect(&adviser, &cal).await;
        let mut stream = app.open_stream(&adviser, None).await;
        let ready = stream.next_named("ready", WAIT).await.unwrap();
        drop(stream);
        // Changes while the browser is away.
        app.book(&cal, "Missed One");
        app.book(&cal, "Missed Two");
        app.deliveries_settle().await;
        let mut resumed = app.open_stream(&adviser, ready.id.as_deref()).await;
        let change = resumed.next_named("change", WAIT).await.expect("the missed changes are replayed");
        let meetings: Vec<&str> = change.data.split(',').collect();
        assert_eq!(meetings.len(), 2, "both missed meetings: {}", change.data);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_received_by_one_instance_reaches_a_stream_on_another() {
    let a = spawn_app(TestDb::Postgres).await;
    let b = a.second_instance().await;
    let cal = a.calendly_user("Multi Host", None);
    let adviser = a.new_adviser().await;
    a.connect(&adviser, &cal).await; // the subscription's callback URL points at instance A
    let mut on_b = b.open_stream(&adviser, None).await;
    assert!(on_b.next_named("ready", WAIT).await.is_some());
    let started = std::time::Instant::now();
    a.book(&cal, "Cross Instance");
    let change = on_b
        .next_named("change", WAIT)
        .await
        .expect("instance B streams a change committed by A");
    assert!(!change.data.is_empty());
    eprintln!(
        "cross-instance change reached B after {:?}",
        started.elapsed()
    );
}

on_both_databases! {
    async fn a_signed_out_advisers_stream_ends_at_once_even_while_others_keep_the_bus_busy(app) {
        let (ann_cal, bob_cal) = (app.calendly_user("Ada Host", None), app.calendly_user("Ben Host", None));
        let (ann, bob) = (app.new_adviser().await, app.new_adviser().await);
        app.connect(&ann, &ann_cal).await;
        app.connect(&bob, &bob_cal).await;
        let mut ann_stream = app.open_stream(&ann, None).await;
        assert!(ann_stream.next_named("ready", WAIT).await.is_some());
        let out = app.server_fn_as(&ann.client, "sign_out", &[]).await;
        assert!(crate::helpers::succeeded(&out), "{}", out.status());

        // Bob's bookings keep signals flowing on the shared bus the whole time.
        let traffic = {
            let sim = app.sim.clone();
            let host = bob_cal.uri.clone();
            tokio::spawn(async move {
                for i in 0..60 {
                    let _ = sim.book(calendly_sim::Booking {
                        host: host.clone(),
                        invitee_name: format!("Busy {i}"),
                        invitee_email: format!("busy{i}@example.com"),
                        ..Default::default()
                    });
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            })
        };
        // Told at once, not found out by polling.
        assert!(ann_stream.ends_within(Duration::from_secs(3)).await, "the stream outlived the sign-out");
        traffic.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_on_one_instance_ends_the_stream_open_on_another() {
    let a = spawn_app(TestDb::Postgres).await;
    let b = a.second_instance().await;
    let adviser = a.new_adviser().await;
    let mut on_b = b.open_stream(&adviser, None).await;
    assert!(on_b.next_named("ready", WAIT).await.is_some());
    let out = a.server_fn_as(&adviser.client, "sign_out", &[]).await;
    assert!(crate::helpers::succeeded(&out), "{}", out.status());
    assert!(
        on_b.ends_within(Duration::from_secs(3)).await,
        "B's stream outlived the sign-out on A"
    );
}

on_both_databases! {
    async fn signing_in_again_ends_the_streams_of_the_session_it_replaces(app) {
        let adviser = app.new_adviser().await;
        let mut stream = app.open_stream(&adviser, None).await;
        assert!(stream.next_named("ready", WAIT).await.is_some());
        // The same browser signs in again: its old session id is ended (no fixation).
        let again = app
            .server_fn_as(&adviser.client, "sign_in", &[("email", &adviser.email), ("password", crate::helpers::PASSWORD)])
            .await;
        assert!(crate::helpers::succeeded(&again), "{}", again.status());
        assert!(stream.ends_within(Duration::from_secs(3)).await, "the replaced session's stream lived on");
    }
}

/// Opens the live stream in `adviser`'s browser; the answer's status.
async fn stream_status(
    app: &crate::helpers::TestApp,
    adviser: &crate::helpers::Adviser,
) -> (u16, reqwest::Response) {
    let response = adviser
        .client
        .get(app.url("/api/meetings/stream"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response)
}

on_both_databases! {
    async fn one_session_cannot_open_streams_without_limit_and_a_closed_stream_frees_its_place(app) {
        let ann = app.new_adviser().await;
        let mut open = Vec::new();
        for _ in 0..backend::config::MAX_STREAMS_PER_SESSION {
            let (status, response) = stream_status(&app, &ann).await;
            assert_eq!(status, 200);
            open.push(response);
        }
        let (status, refused) = stream_status(&app, &ann).await;
        assert_eq!(status, 429);
        assert!(refused.text().await.unwrap().contains("Too many live pages are open"));
        let bob = app.new_adviser().await;
        assert_eq!(stream_status(&app, &bob).await.0, 200, "another session is unaffected");

        drop(open.pop());
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let (status, response) = stream_status(&app, &ann).await;
            if status == 200 {
                open.push(response);
                break;
            }
            assert!(std::time::Instant::now() < deadline, "the closed stream's place never came back");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_serves_at_most_its_configured_number_of_streams() {
    let app = crate::helpers::spawn_app_with(
        TestDb::Sqlite,
        calendly_sim::SimConfig::default(),
        |vars| {
            vars.insert("APP_MAX_LIVE_STREAMS".into(), "3".into());
        },
    )
    .await;
    let mut open = Vec::new();
    for _ in 0..3 {
        let adviser = app.new_adviser().await;
        let (status, response) = stream_status(&app, &adviser).await;
        assert_eq!(status, 200);
        open.push(response);
    }
    let late = app.new_adviser().await;
    assert_eq!(stream_status(&app, &late).await.0, 429);
    assert_eq!(app.state.streams.open(), 3);
}
