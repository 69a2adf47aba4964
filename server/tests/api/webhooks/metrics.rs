//! `GET /metrics`: every delivery is counted in `webhook_deliveries_total` by its outcome.

use super::{connected_adviser, deliver, invitee_created, post, routed, signature_at};
use crate::on_both_databases;

on_both_databases! {
    async fn rejections_are_counted_by_outcome_in_metrics(app) {
        let (_adviser, cal, token) = connected_adviser(&app, "Gil Host").await;
        let (_other, other_cal, _) = connected_adviser(&app, "Hub Host").await;
        let path = routed(&token);
        let body = invitee_created(&cal.uri);
        let now = app.clock.now_unix();
        post(&app, &path, None, body.clone().into_bytes()).await;
        post(&app, &path, Some(&format!("t={now},v1={}", "ab".repeat(32))), body.clone().into_bytes()).await;
        post(&app, &path, Some(&format!("t={now},v1={}", "ab".repeat(32))), body.clone().into_bytes()).await;
        post(&app, &path, Some(&signature_at(&app, now - 600, body.as_bytes())), body.clone().into_bytes()).await;
        post(&app, &path, Some("t=1,t=2,v1=ab"), body.clone().into_bytes()).await;
        deliver(&app, &routed("nope"), &body).await;
        deliver(&app, &path, "not json").await;
        deliver(&app, &path, &invitee_created(&other_cal.uri)).await;
        deliver(&app, &path, &body).await;
        deliver(&app, &path, &body).await;

        let text = app.get("/metrics").await.text().await.unwrap();
        for line in [
            "webhook_deliveries_total{outcome=\"signature_missing\"} 1",
            "webhook_deliveries_total{outcome=\"signature_mismatch\"} 2",
            "webhook_deliveries_total{outcome=\"timestamp_stale\"} 1",
            "webhook_deliveries_total{outcome=\"signature_repeated_timestamp\"} 1",
            "webhook_deliveries_total{outcome=\"unknown_route\"} 1",
            "webhook_deliveries_total{outcome=\"bad_payload\"} 1",
            "webhook_deliveries_total{outcome=\"created_by_mismatch\"} 1",
            "webhook_deliveries_total{outcome=\"stored\"} 1",
            "webhook_deliveries_total{outcome=\"duplicate\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
        assert!(text.contains("# TYPE webhook_deliveries_total counter"));
    }
}
