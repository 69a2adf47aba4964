//! Real simulator deliveries turning into meetings: a booking, a cancellation with a reason, a
//! reschedule, a group event with one invitee canceling, and no-show marks.

use std::time::Duration;

use app::meetings::MeetingsView;
use calendly_sim::{Booking, Canceler};

use super::{connected_adviser, stored};
use crate::helpers::upcoming;
use crate::on_both_databases;

on_both_databases! {
    async fn a_booking_becomes_one_meeting_with_its_title_invitee_and_start(app) {
        let (adviser, cal, _) = connected_adviser(&app, "Nia Host").await;
        let start = (chrono::Utc::now() + chrono::Duration::days(3))
            .date_naive()
            .and_hms_opt(14, 30, 0)
            .unwrap()
            .and_utc();
        app.sim
            .book(Booking {
                host: cal.uri.clone(),
                event_name: Some("Pension Review".into()),
                start_time: start,
                invitee_name: "Olive Client".into(),
                invitee_email: "olive@example.com".into(),
                questions: vec![("What would you like to discuss?".into(), "My pension".into())],
                ..Default::default()
            })
            .unwrap();
        app.deliveries_settle().await;

        let page = app.meetings(&adviser).await;
        let meetings = &page.upcoming;
        assert_eq!(meetings.len(), 1, "{page:?}");
        let m = &meetings[0];
        assert_eq!(m.title, "Pension Review");
        assert_eq!(m.start_iso, start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        assert!(!m.canceled);
        assert_eq!(m.rescheduled_from, None);
        assert_eq!(m.source, "Calendly (live)");
        let invitees = &m.invitees;
        assert_eq!(invitees.len(), 1);
        assert_eq!(invitees[0].name, "Olive Client");
        assert_eq!(invitees[0].email, "olive@example.com");
        assert!(!invitees[0].no_show);
        assert_eq!(invitees[0].questions, vec![("What would you like to discuss?".to_string(), "My pension".to_string())]);
    }
}

on_both_databases! {
    async fn an_invitee_canceling_with_a_reason_marks_the_meeting_canceled_with_a_note(app) {
        let (adviser, cal, _) = connected_adviser(&app, "Pat Host").await;
        let booked = app.book(&cal, "Quinn Client");
        app.deliveries_settle().await;
        app.sim.cancel(&booked.invitee_uri, Canceler::Invitee, Some("Something came up".into())).unwrap();
        app.deliveries_settle().await;

        let page = app.meetings(&adviser).await;
        let meetings = &page.upcoming;
        assert_eq!(meetings.len(), 1, "{page:?}");
        assert!(meetings[0].canceled);
        let note = meetings[0].cancel_note.as_deref().unwrap();
        assert!(note.contains("Quinn Client") && note.contains("Something came up"), "{note}");
        assert!(meetings[0].invitees[0].canceled);
        assert_eq!(stored(&app).await, (2, 1));
    }
}

on_both_databases! {
    async fn a_reschedule_leaves_one_upcoming_meeting_that_shows_where_it_moved_from(app) {
        let (adviser, cal, _) = connected_adviser(&app, "Ray Host").await;
        let booked = app.book(&cal, "Sam Client");
        app.deliveries_settle().await;
        let before = app.meetings(&adviser).await;
        let old_when = before.upcoming[0].when.clone();
        let old_start = before.upcoming[0].start_iso.clone();

        let new_start = chrono::DateTime::parse_from_rfc3339(&old_start).unwrap().with_timezone(&chrono::Utc)
            + chrono::Duration::days(2);
        app.sim.reschedule(&booked.invitee_uri, new_start).unwrap();
        app.deliveries_settle().await;

        let page = app.meetings(&adviser).await;
        let meetings = &page.upcoming;
        assert_eq!(meetings.len(), 1, "one booking, not a cancel plus a booking: {page:?}");
        let m = &meetings[0];
        assert!(!m.canceled);
        assert_eq!(m.start_iso, new_start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        let from = m.rescheduled_from.as_deref().expect("marked as moved");
        assert!(old_when.starts_with(from), "moved from {from:?}, was {old_when:?}");
        assert_eq!(m.invitees[0].name, "Sam Client");
        assert!(!m.invitees[0].canceled);
        assert!(page.past.is_empty());
        let statuses: Vec<(String,)> = sqlx::query_as("SELECT status FROM meetings ORDER BY start_at")
            .fetch_all(app.state.db.pool()).await.unwrap();
        assert_eq!(statuses, vec![("rescheduled".to_string(),), ("active".to_string(),)]);
    }
}

on_both_databases! {
    async fn a_group_event_is_one_meeting_and_stays_active_when_one_invitee_cancels(app) {
        let (adviser, cal, _) = connected_adviser(&app, "Tess Host").await;
        let first = app.sim.book(Booking {
            host: cal.uri.clone(),
            event_name: Some("Retirement Workshop".into()),
            invitee_name: "Uma One".into(),
            invitee_email: "uma@example.com".into(),
            max_invitees: 2,
            ..Default::default()
        }).unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await; // booked a few ms later: listed second
        let second = app.sim.book(Booking {
            host: cal.uri.clone(),
            join_event: Some(first.event_uri.clone()),
            invitee_name: "Vic Two".into(),
            invitee_email: "vic@example.com".into(),
            ..Default::default()
        }).unwrap();
        assert_eq!(second.event_uri, first.event_uri);
        app.deliveries_settle().await;
        assert_eq!(
            upcoming(&app.meetings(&adviser).await),
            vec![("Retirement Workshop".to_string(), vec!["Uma One".to_string(), "Vic Two".to_string()], false)]
        );

        app.sim.cancel(&second.invitee_uri, Canceler::Invitee, Some("Busy".into())).unwrap();
        app.deliveries_settle().await;
        let page = app.meetings(&adviser).await;
        let meetings = &page.upcoming;
        assert_eq!(meetings.len(), 1);
        assert!(!meetings[0].canceled, "one invitee is still coming");
        let invitees: Vec<(String, bool)> = meetings[0].invitees.iter()
            .map(|i| (i.name.clone(), i.canceled))
            .collect();
        assert_eq!(invitees, vec![("Uma One".to_string(), false), ("Vic Two".to_string(), true)]);

        app.sim.cancel(&first.invitee_uri, Canceler::Host, None).unwrap();
        app.deliveries_settle().await;
        let page = app.meetings(&adviser).await;
        assert!(page.upcoming[0].canceled, "nobody is coming any more");
    }
}

on_both_databases! {
    async fn marking_and_unmarking_a_no_show_flags_the_attendee(app) {
        let (adviser, cal, _) = connected_adviser(&app, "Uli Host").await;
        let booked = app.book(&cal, "Wes Client");
        app.deliveries_settle().await;
        let no_show = |page: &MeetingsView| page.upcoming[0].invitees[0].no_show;
        assert!(!no_show(&app.meetings(&adviser).await));

        app.sim.mark_no_show(&booked.invitee_uri).unwrap();
        app.deliveries_settle().await;
        let page = app.meetings(&adviser).await;
        assert!(no_show(&page), "{page:?}");
        assert!(!page.upcoming[0].canceled);

        app.sim.unmark_no_show(&booked.invitee_uri).unwrap();
        app.deliveries_settle().await;
        assert!(!no_show(&app.meetings(&adviser).await));

        app.sim.mark_no_show(&booked.invitee_uri).unwrap();
        app.deliveries_settle().await;
        assert!(no_show(&app.meetings(&adviser).await));
        assert_eq!(stored(&app).await, (4, 1));
    }
}
