//! What Calendly POSTs to a webhook subscription's callback URL.

use std::ops::Deref;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::types::{Invitee, ScheduledEvent};

/// The outer object of every delivery. `payload` stays raw JSON until the event name says what
/// it is (see [`WebhookEnvelope::invitee_payload`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookEnvelope {
    /// e.g. `invitee.created`; see [`crate::INVITEE_EVENTS`].
    pub event: String,
    pub created_at: DateTime<Utc>,
    /// URI of the user who created the subscription: routes a delivery to a connection.
    pub created_by: String,
    pub payload: serde_json::Value,
}

impl WebhookEnvelope {
    /// True for `invitee.*` and `invitee_no_show.*`, whose payload is an [`InviteePayload`].
    pub fn is_invitee_event(&self) -> bool {
        crate::INVITEE_EVENTS.contains(&self.event.as_str())
    }

    /// Reads `payload` as an invitee payload (for `invitee.*` and `invitee_no_show.*` events).
    pub fn invitee_payload(&self) -> Result<InviteePayload, serde_json::Error> {
        InviteePayload::deserialize(&self.payload)
    }
}

/// The payload of `invitee.created`, `invitee.canceled`, `invitee_no_show.created|deleted`:
/// every [`Invitee`] field (reachable directly, e.g. `payload.email`, through `Deref`) plus the
/// embedded scheduled event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InviteePayload {
    #[serde(flatten)]
    pub invitee: Invitee,
    pub scheduled_event: ScheduledEvent,
}

impl Deref for InviteePayload {
    type Target = Invitee;

    fn deref(&self) -> &Invitee {
        &self.invitee
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Status;

    fn envelope(json: &str) -> WebhookEnvelope {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn the_documented_invitee_created_delivery_deserializes() {
        let envelope = envelope(include_str!("../../tests/fixtures/invitee_created.json"));
        assert_eq!(envelope.event, "invitee.created");
        assert!(envelope.is_invitee_event());
        assert_eq!(
            envelope.created_by,
            "https://api.calendly.com/users/dadbc523-d6f9-4008-a9a9-58cc11ed564c"
        );
        let payload = envelope.invitee_payload().unwrap();
        assert_eq!(payload.email, "jane.prospect@example.com");
        assert_eq!(payload.name, "Jane Prospect");
        assert_eq!(payload.first_name, None);
        assert_eq!(payload.status, Status::Active);
        assert_eq!(payload.uri.uuid(), "9cbca8f8-c422-48fb-8fd7-60a8d1bc5c6e");
        assert_eq!(payload.event, payload.scheduled_event.uri);
        assert!(!payload.rescheduled);
        assert_eq!(payload.old_invitee, None);
        assert_eq!(payload.no_show, None);
        assert_eq!(payload.cancellation, None);
        assert_eq!(payload.questions_and_answers.len(), 2);
        assert_eq!(payload.questions_and_answers[0].answer, "Acme Corp");
        assert_eq!(
            payload.tracking.as_ref().unwrap().utm_campaign.as_deref(),
            Some("cta_click")
        );

        let event = &payload.scheduled_event;
        assert_eq!(event.title(), "30 Minute Meeting");
        assert_eq!(event.status, Status::Active);
        assert_eq!(event.start_time.to_rfc3339(), "2025-05-14T15:30:00+00:00");
        let location = event.location.as_ref().unwrap();
        assert_eq!(location.kind, "google_conference");
        assert_eq!(location.status.as_deref(), Some("processing"));
        assert!(location
            .join_url
            .as_deref()
            .unwrap()
            .ends_with("/google_meet"));
        assert_eq!(
            event.event_memberships[0].user.as_str(),
            envelope.created_by
        );
        assert_eq!(
            event.event_memberships[0].user_email.as_deref(),
            Some("host@example.com")
        );
        assert_eq!(event.invitees_counter.unwrap().active, 1);
    }

    #[test]
    fn the_documented_invitee_canceled_delivery_deserializes() {
        let envelope = envelope(include_str!("../../tests/fixtures/invitee_canceled.json"));
        assert_eq!(envelope.event, "invitee.canceled");
        let payload = envelope.invitee_payload().unwrap();
        assert_eq!(payload.status, Status::Canceled);
        assert_eq!(payload.scheduling_method.as_deref(), Some("api"));
        let cancellation = payload.cancellation.as_ref().unwrap();
        assert_eq!(cancellation.canceled_by, "Jane Doe");
        assert_eq!(cancellation.canceler_type, "invitee");
        assert_eq!(cancellation.reason.as_deref(), Some("Conflict came up"));

        let event = &payload.scheduled_event;
        assert_eq!(event.status, Status::Canceled);
        assert!(event.cancellation.is_some());
        let location = event.location.as_ref().unwrap();
        assert_eq!(location.kind, "zoom");
        assert_eq!(location.data.as_ref().unwrap()["id"], 10000000002u64);
    }

    #[test]
    fn a_reschedule_cancel_links_the_new_invitee_and_unknown_fields_are_ignored() {
        let mut value: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/fixtures/invitee_canceled.json"))
                .unwrap();
        let new_invitee = "https://api.calendly.com/scheduled_events/aaaa/invitees/bbbb";
        value["payload"]["rescheduled"] = true.into();
        value["payload"]["new_invitee"] = new_invitee.into();
        value["payload"]["a_field_from_the_future"] = serde_json::json!({"x": [1, 2]});
        value["payload"]["scheduled_event"]["location"] = serde_json::json!({"type": "physical", "location": "1 Main St", "additional_info": "2nd floor"});
        let envelope: WebhookEnvelope = serde_json::from_value(value).unwrap();
        let payload = envelope.invitee_payload().unwrap();
        assert!(payload.rescheduled);
        assert_eq!(payload.new_invitee.as_ref().unwrap().as_str(), new_invitee);
        let location = payload.scheduled_event.location.as_ref().unwrap();
        assert_eq!(location.location.as_deref(), Some("1 Main St"));
    }

    #[test]
    fn a_no_show_payload_carries_the_no_show() {
        let mut value: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/fixtures/invitee_created.json"))
                .unwrap();
        value["event"] = "invitee_no_show.created".into();
        value["payload"]["no_show"] = serde_json::json!({
            "uri": "https://api.calendly.com/invitee_no_shows/6d5c4b3a",
            "created_at": "2025-05-14T16:05:00.000000Z"
        });
        let envelope: WebhookEnvelope = serde_json::from_value(value).unwrap();
        assert!(envelope.is_invitee_event());
        let no_show = envelope.invitee_payload().unwrap().invitee.no_show.unwrap();
        assert!(no_show.uri.ends_with("/invitee_no_shows/6d5c4b3a"));
    }

    #[test]
    fn a_routing_form_event_is_not_an_invitee_event() {
        let envelope = envelope(
            r#"{"event":"routing_form_submission.created","created_at":"2025-05-12T21:17:13.000000Z","created_by":"https://api.calendly.com/users/x","payload":{"uri":"https://api.calendly.com/routing_form_submissions/1"}}"#,
        );
        assert!(!envelope.is_invitee_event());
        assert!(envelope.invitee_payload().is_err());
    }
}
