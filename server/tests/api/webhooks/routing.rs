//! Which adviser a delivery belongs to: the route token in the URL (unknown 404, retired 410),
//! a delivery for another adviser sent to my URL (403), and the legacy bare URL (by `created_by`).

use reqwest::StatusCode;

use super::{connected_adviser, counted, deliver, invitee_created, post, routed, stored, LEGACY};
use crate::helpers::{captured_logs, upcoming};
use crate::on_both_databases;

on_both_databases! {
    async fn an_unknown_route_token_is_404_a_retired_one_410_and_neither_stores_anything(app) {
        let (adviser, cal, token) = connected_adviser(&app, "Bea Host").await;
        let body = invitee_created(&cal.uri);

        let unknown = routed("AAAAAAAAAAAAAAAAAAAAAA");
        assert_eq!(deliver(&app, &unknown, &body).await, StatusCode::NOT_FOUND);
        assert_eq!(post(&app, &unknown, None, b"{}".to_vec()).await, StatusCode::NOT_FOUND, "routing comes before the signature");

        app.disconnect(&adviser).await;
        assert_eq!(deliver(&app, &routed(&token), &body).await, StatusCode::GONE, "a disconnected adviser's URL is gone: Calendly deletes its subscription");

        assert_eq!(stored(&app).await, (0, 0));
        assert_eq!(counted(&app, "unknown_route").await, 2);
        assert_eq!(counted(&app, "retired_route").await, 1);
    }
}

on_both_databases! {
    async fn a_delivery_for_another_adviser_sent_to_my_url_is_403_and_logged_as_a_security_event(app) {
        let (ann, _ann_cal, ann_token) = connected_adviser(&app, "Ann Host").await;
        let (bob, bob_cal, _bob_token) = connected_adviser(&app, "Bob Host").await;
        // Correctly signed with the app key (every adviser's deliveries are), but it is Bob's.
        let body = invitee_created(&bob_cal.uri);
        assert_eq!(deliver(&app, &routed(&ann_token), &body).await, StatusCode::FORBIDDEN);

        assert_eq!(stored(&app).await, (0, 0));
        assert!(upcoming(&app.meetings(&ann).await).is_empty());
        assert!(upcoming(&app.meetings(&bob).await).is_empty());
        assert_eq!(counted(&app, "created_by_mismatch").await, 1);
        let logs = captured_logs();
        let line = logs
            .lines()
            .find(|l| l.contains(&bob_cal.uri) && l.contains("created_by"))
            .expect("the refusal is logged");
        assert!(line.contains("security_event"), "{line}");
        assert!(line.contains("WARN"), "{line}");
    }
}

on_both_databases! {
    async fn the_legacy_url_routes_a_verified_delivery_by_created_by(app) {
        let (adviser, cal, _token) = connected_adviser(&app, "Lou Host").await;
        let (other, _other_cal, _) = connected_adviser(&app, "Max Host").await;
        let body = invitee_created(&cal.uri);

        assert_eq!(post(&app, LEGACY, None, body.clone().into_bytes()).await, StatusCode::UNAUTHORIZED);
        let wrong = format!("t={},v1={}", app.clock.now_unix(), "00".repeat(32));
        assert_eq!(post(&app, LEGACY, Some(&wrong), body.clone().into_bytes()).await, StatusCode::UNAUTHORIZED);

        let stranger = invitee_created("https://api.calendly.com/users/nobody-we-know");
        assert_eq!(deliver(&app, LEGACY, &stranger).await, StatusCode::NOT_FOUND);
        assert_eq!(stored(&app).await, (0, 0));

        assert_eq!(deliver(&app, LEGACY, &body).await, StatusCode::OK);
        assert_eq!(upcoming(&app.meetings(&adviser).await).len(), 1);
        assert!(upcoming(&app.meetings(&other).await).is_empty());
        assert_eq!(stored(&app).await, (1, 1));
    }
}
