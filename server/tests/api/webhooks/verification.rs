//! What a delivery must pass before anything is stored: the body size limit (413), the
//! signature and its ±180 s timestamp window (401/400), and a parseable payload (400).

use std::time::Duration;

use calendly::secrets::SigningKey;
use calendly::webhook::sign;
use reqwest::StatusCode;

use super::{
    connected_adviser, counted, deliver, invitee_created, post, routed, signature_at,
    signature_now, stored,
};
use crate::helpers::{upcoming, TestApp};
use crate::on_both_databases;

/// Waits for the start of the app's next second, so a timestamp computed now is still "now"
/// when the request arrives (boundary cases at exactly ±181 s).
async fn early_in_a_second(app: &TestApp) {
    while app.clock.now_ms().rem_euclid(1000) > 300 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

on_both_databases! {
    async fn a_body_over_256_kib_is_413(app) {
        let (_adviser, _cal, token) = connected_adviser(&app, "Cy Host").await;
        let limit = backend::webhooks::MAX_BODY_BYTES;
        assert_eq!(limit, 256 * 1024);

        let too_big = vec![b' '; limit + 1];
        let signature = signature_now(&app, &too_big);
        assert_eq!(post(&app, &routed(&token), Some(&signature), too_big).await, StatusCode::PAYLOAD_TOO_LARGE);

        // Exactly at the limit the body is read, verified, and refused only as not-a-payload.
        let at_limit = vec![b' '; limit];
        let signature = signature_now(&app, &at_limit);
        assert_eq!(post(&app, &routed(&token), Some(&signature), at_limit).await, StatusCode::BAD_REQUEST);
        assert_eq!(stored(&app).await, (0, 0));
    }
}

on_both_databases! {
    async fn bad_signatures_are_401_or_400_and_create_nothing(app) {
        let (adviser, cal, token) = connected_adviser(&app, "Dee Host").await;
        let path = routed(&token);
        let body = invitee_created(&cal.uri);
        let bytes = body.as_bytes();
        let now = app.clock.now_unix();
        let good = sign(&SigningKey::new(app.sim.config().webhook_signing_key.clone()), now, bytes);
        let wrong_key = sign(&SigningKey::new("not-the-app-key".into()), now, bytes);

        let cases: Vec<(&str, Option<String>, StatusCode, &str)> = vec![
            ("missing header", None, StatusCode::UNAUTHORIZED, "signature_missing"),
            ("empty header", Some(String::new()), StatusCode::UNAUTHORIZED, "signature_missing"),
            ("garbage", Some("garbage".into()), StatusCode::BAD_REQUEST, "signature_malformed"),
            ("no t", Some(format!("v1={good}")), StatusCode::BAD_REQUEST, "signature_malformed"),
            ("empty v1", Some(format!("t={now},v1=")), StatusCode::BAD_REQUEST, "signature_empty"),
            ("no v1", Some(format!("t={now}")), StatusCode::BAD_REQUEST, "signature_empty"),
            ("non-numeric t", Some(format!("t=12a,v1={good}")), StatusCode::BAD_REQUEST, "signature_bad_timestamp"),
            ("negative t", Some(format!("t=-{now},v1={good}")), StatusCode::BAD_REQUEST, "signature_bad_timestamp"),
            ("repeated t", Some(format!("t={now},t={now},v1={good}")), StatusCode::BAD_REQUEST, "signature_repeated_timestamp"),
            ("non-hex v1", Some(format!("t={now},v1=zz{}", &good[2..])), StatusCode::BAD_REQUEST, "signature_malformed"),
            ("wrong key", Some(format!("t={now},v1={wrong_key}")), StatusCode::UNAUTHORIZED, "signature_mismatch"),
            ("truncated v1", Some(format!("t={now},v1={}", &good[..32])), StatusCode::UNAUTHORIZED, "signature_mismatch"),
            ("signature for another t", Some(format!("t={},v1={good}", now - 1)), StatusCode::UNAUTHORIZED, "signature_mismatch"),
        ];
        for (what, header, expected, _) in &cases {
            let status = post(&app, &path, header.as_deref(), body.clone().into_bytes()).await;
            assert_eq!(status, *expected, "{what}");
        }
        // One second outside the ±180 s window, either way (correctly signed for that t).
        for (offset, reason) in [(-181, "timestamp_stale"), (181, "timestamp_future")] {
            early_in_a_second(&app).await;
            let header = signature_at(&app, app.clock.now_unix() + offset, bytes);
            let status = post(&app, &path, Some(&header), body.clone().into_bytes()).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "t = now{offset:+}");
            assert_eq!(counted(&app, reason).await, 1);
        }
        // The body was changed after signing (one byte): the signature no longer matches.
        let tampered = body.replacen("Jane Prospect", "Jane Prospecu", 1);
        assert_eq!(post(&app, &path, Some(&format!("t={now},v1={good}")), tampered.into_bytes()).await, StatusCode::UNAUTHORIZED);

        assert_eq!(stored(&app).await, (0, 0), "no rejected delivery is stored");
        assert!(upcoming(&app.meetings(&adviser).await).is_empty());
        for (what, _, _, reason) in &cases {
            assert!(counted(&app, reason).await >= 1, "{what} counted as {reason}");
        }
        assert_eq!(counted(&app, "signature_mismatch").await, 4);

        // Inside the ±180 s window the very same body is accepted.
        let recent = signature_at(&app, app.clock.now_unix() - 170, bytes);
        assert_eq!(post(&app, &path, Some(&recent), body.clone().into_bytes()).await, StatusCode::OK);
        assert_eq!(stored(&app).await, (1, 1));
    }
}

on_both_databases! {
    async fn invalid_json_with_a_valid_signature_is_400(app) {
        let (_adviser, cal, token) = connected_adviser(&app, "Eve Host").await;
        let truncated = invitee_created(&cal.uri);
        let truncated = &truncated[..truncated.len() / 2];
        for body in [truncated, "", "[1,2,3]", r#"{"hello":"world"}"#, r#"{"event":"invitee.created","created_by":"x"}"#] {
            assert_eq!(deliver(&app, &routed(&token), body).await, StatusCode::BAD_REQUEST, "{body:?}");
        }
        assert_eq!(stored(&app).await, (0, 0));
        assert_eq!(counted(&app, "bad_payload").await, 5);
    }
}
