//! The Meetings list: search by invitee, the upcoming / past / canceled filter, paging that
//! says how many there are, and the adviser's own time zone.

use app::meetings::{MeetingView, MeetingsView};
use calendly_sim::{Booking, Canceler};

use crate::helpers::TestApp;
use crate::on_both_databases;

fn book_at(app: &TestApp, host: &calendly_sim::SimUser, name: &str, days: i64) -> String {
    app.sim
        .book(Booking {
            host: host.uri.clone(),
            invitee_name: name.into(),
            invitee_email: format!("{}@example.com", name.to_lowercase().replace(' ', ".")),
            start_time: chrono::Utc::now() + chrono::Duration::days(days),
            ..Default::default()
        })
        .expect("booking")
        .invitee_uri
}

fn names(list: &[MeetingView]) -> Vec<String> {
    list.iter()
        .flat_map(|m| m.invitees.iter())
        .map(|i| i.name.clone())
        .collect()
}

on_both_databases! {
    async fn search_finds_meetings_by_invitee_name_or_email_and_the_filter_keeps_to_its_kind(app) {
        let cal = app.calendly_user("Sam Host", None);
        let adviser = app.new_adviser().await;
        app.connect(&adviser, &cal).await;
        app.initial_sync_done().await;
        book_at(&app, &cal, "Olive Marsh", 2);
        let canceled = book_at(&app, &cal, "Peter Quill", 3);
        book_at(&app, &cal, "Olivia Stone", 4);
        app.deliveries_settle().await;
        app.sim.cancel(&canceled, Canceler::Invitee, Some("Away".into())).unwrap();
        app.deliveries_settle().await;

        let by_name: MeetingsView = app.typed_as(&adviser, "list_meetings", &[("q", "OLIV")]).await;
        assert_eq!(names(&by_name.upcoming), ["Olive Marsh", "Olivia Stone"], "case-insensitive, by name");
        assert_eq!(by_name.upcoming_total, 2);

        let by_email: MeetingsView = app.typed_as(&adviser, "list_meetings", &[("q", "peter.quill@")]).await;
        assert_eq!(names(&by_email.upcoming), ["Peter Quill"]);

        let canceled: MeetingsView = app.typed_as(&adviser, "list_meetings", &[("show", "canceled")]).await;
        assert_eq!(names(&canceled.canceled), ["Peter Quill"]);
        assert_eq!(canceled.canceled_total, 1);
        assert!(canceled.upcoming.is_empty());

        let past: MeetingsView = app.typed_as(&adviser, "list_meetings", &[("show", "past")]).await;
        assert_eq!(past.past_total, 0);

        // LIKE's wildcards are taken literally: "%" is not "anything".
        let wildcard: MeetingsView = app.typed_as(&adviser, "list_meetings", &[("q", "%")]).await;
        assert_eq!(wildcard.upcoming_total, 0, "{wildcard:?}");
        let underscore: MeetingsView = app.typed_as(&adviser, "list_meetings", &[("q", "_live")]).await;
        assert_eq!(underscore.upcoming_total, 0, "{underscore:?}");
    }
}

on_both_databases! {
    async fn a_long_list_is_paged_and_says_how_many_there_are(app) {
        let cal = app.calendly_user("Pat Host", None);
        let adviser = app.new_adviser().await;
        app.connect(&adviser, &cal).await;
        app.initial_sync_done().await;
        for i in 0..55 {
            app.sim
                .book(Booking {
                    host: cal.uri.clone(),
                    invitee_name: format!("Client {i:02}"),
                    invitee_email: format!("client{i}@example.com"),
                    start_time: chrono::Utc::now() + chrono::Duration::hours(24 + i),
                    ..Default::default()
                })
                .unwrap();
        }
        app.deliveries_settle().await;

        let all: MeetingsView = app.typed_as(&adviser, "list_meetings", &[]).await;
        assert_eq!(all.upcoming_total, 55, "nothing is cut off silently");
        assert_eq!(all.upcoming.len(), 50);
        assert_eq!(names(&all.upcoming)[0], "Client 00", "soonest first");

        let second: MeetingsView = app
            .typed_as(&adviser, "list_meetings", &[("show", "upcoming"), ("page", "1")])
            .await;
        assert_eq!(second.upcoming_total, 55);
        assert_eq!(names(&second.upcoming), (50..55).map(|i| format!("Client {i}")).collect::<Vec<_>>());

        let html = adviser.client.get(app.url("/meetings")).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("Show all 55 upcoming meetings"), "the page links to the rest");
    }
}

on_both_databases! {
    async fn times_are_shown_in_the_browsers_zone_from_sign_up_and_the_one_chosen_in_settings(app) {
        let client = crate::helpers::browser();
        let email = format!("tz-{}@example.com", uuid::Uuid::new_v4().simple());
        let signed_up = app
            .server_fn_as(&client, "sign_up", &[("email", &email), ("password", crate::helpers::PASSWORD), ("timezone", "Asia/Tokyo")])
            .await;
        assert!(crate::helpers::succeeded(&signed_up));
        let adviser = crate::helpers::Adviser { email, client };
        let cal = app.calendly_user("Zed Host", None); // Europe/London at Calendly
        app.connect(&adviser, &cal).await;
        let page = app.meetings(&adviser).await;
        assert_eq!(page.timezone, "Asia/Tokyo", "the browser's zone, not Calendly's");

        let bogus = app.server_fn_as(&adviser.client, "set_time_zone", &[("timezone", "Mars/Olympus")]).await;
        assert_eq!(bogus.status(), 400);
        assert!(bogus.text().await.unwrap().contains("Choose a time zone from the list"));
        assert_eq!(app.meetings(&adviser).await.timezone, "Asia/Tokyo", "a refused value changes nothing");

        let chosen = app.server_fn_as(&adviser.client, "set_time_zone", &[("timezone", "America/Chicago")]).await;
        assert!(crate::helpers::succeeded(&chosen));
        assert_eq!(app.meetings(&adviser).await.timezone, "America/Chicago");

        let follow = app.server_fn_as(&adviser.client, "set_time_zone", &[("timezone", "")]).await;
        assert!(crate::helpers::succeeded(&follow));
        assert_eq!(app.meetings(&adviser).await.timezone, "Europe/London", "back to Calendly's zone");

        // Signing in from another browser changes no zone (neither a chosen one nor "follow Calendly").
        let other = crate::helpers::browser();
        let _ = app.server_fn_as(&other, "sign_in", &[("email", &adviser.email), ("password", crate::helpers::PASSWORD), ("timezone", "Pacific/Auckland")]).await;
        assert_eq!(app.meetings(&adviser).await.timezone, "Europe/London");
    }
}

fn ids(list: &[MeetingView]) -> Vec<i64> {
    list.iter().map(|m| m.id).collect()
}

on_both_databases! {
    async fn a_live_change_reads_only_the_changed_meetings_and_never_another_advisers(app) {
        let (ann_cal, bob_cal) = (app.calendly_user("Ann Patch", None), app.calendly_user("Bob Patch", None));
        let (ann, bob) = (app.new_adviser().await, app.new_adviser().await);
        app.connect(&ann, &ann_cal).await;
        app.connect(&bob, &bob_cal).await;
        app.initial_sync_done().await;
        for (n, name) in ["Cora Lane", "Dan Hale", "Eve Moss"].iter().enumerate() {
            book_at(&app, &ann_cal, name, 2 + n as i64);
        }
        book_at(&app, &bob_cal, "Finn Bobs", 2);
        app.deliveries_settle().await;
        let ann_list: MeetingsView = app.typed_as(&ann, "list_meetings", &[]).await;
        let ann_ids = ids(&ann_list.upcoming);
        let bob_ids = ids(&app.typed_as::<MeetingsView>(&bob, "list_meetings", &[]).await.upcoming);
        assert_eq!((ann_ids.len(), bob_ids.len()), (3, 1));

        // Ann's page hears that Dan's meeting and (somehow) Bob's changed.
        let (dan, bobs) = (ann_ids[1].to_string(), bob_ids[0].to_string());
        let patch: MeetingsView = app.typed_as(&ann, "changed_meetings", &[("ids[0]", &dan), ("ids[1]", &bobs)]).await;
        assert_eq!(names(&patch.upcoming), ["Dan Hale"], "only the changed meeting, only Ann's");
        assert_eq!(patch.upcoming_total, 3, "with the list's whole count");

        // Through Bob's session, Ann's meetings do not exist.
        let nosy: MeetingsView = app.typed_as(&bob, "changed_meetings", &[("ids[0]", &dan)]).await;
        assert!(nosy.upcoming.is_empty());

        // A meeting that no longer matches the view is simply not in it.
        let filtered: MeetingsView = app.typed_as(&ann, "changed_meetings", &[("ids[0]", &dan), ("q", "cora")]).await;
        assert!(filtered.upcoming.is_empty());
        assert_eq!(filtered.upcoming_total, 1);

        // More ids than a page ever sends: refused with a clear message, nothing read.
        let many: Vec<(String, String)> = (0..=backend::meetings::MAX_CHANGED)
            .map(|i| (format!("ids[{i}]"), i.to_string()))
            .collect();
        let form: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let refused = app.server_fn_as(&ann.client, "changed_meetings", &form).await;
        let status = refused.status();
        let body = refused.text().await.unwrap();
        assert_eq!(status, 400, "{body}");
        assert!(body.contains("At most 100 changed meetings"), "{body}");
    }
}
