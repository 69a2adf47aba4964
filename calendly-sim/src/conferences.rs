//! Conference locations (calendly-api.md §0): Google Meet, Teams, GoTo, Webex and sometimes
//! Zoom (type `zoom`; older spec `zoom_conference`) may be booked with `status: "processing"`
//! and `join_url: null`; the link is pushed later, without any webhook.

use serde_json::{json, Value};

use crate::errors::SimError;
use crate::state::id_of;
use crate::Simulator;

/// Google Meet as Calendly reports it at booking time: a calendly.com redirect, "processing".
pub(crate) fn google_meet(event_uuid: &str) -> Value {
    json!({
        "join_url": format!("https://calendly.com/events/{event_uuid}/google_meet"),
        "status": "processing",
        "type": "google_conference",
    })
}

/// Whether a location is a Google Meet (whose link belongs to one event).
pub(crate) fn is_google_meet(location: &Value) -> bool {
    location.get("type").and_then(Value::as_str) == Some("google_conference")
}

impl Simulator {
    /// The conference provider delivers the link of a booked event: sets the location's
    /// `join_url` and `status: "pushed"`. Sends no webhook (as Calendly). Whether `updated_at`
    /// changes is undocumented upstream, so the caller chooses with `touch_updated_at`.
    pub fn push_conference_link(
        &self,
        event_uri: &str,
        join_url: &str,
        touch_updated_at: bool,
    ) -> Result<(), SimError> {
        let now = self.now();
        let mut st = self.state();
        let ev = id_of(event_uri, "scheduled_events")
            .and_then(|id| st.events.get_mut(id))
            .ok_or_else(|| SimError::UnknownEvent(event_uri.to_string()))?;
        let Some(location) = ev.location.as_object_mut() else {
            return Err(SimError::Invalid(format!(
                "the location of {event_uri} is not an object"
            )));
        };
        location.insert("join_url".into(), Value::String(join_url.to_string()));
        location.insert("status".into(), Value::String("pushed".into()));
        if touch_updated_at {
            ev.updated_at = now;
        }
        Ok(())
    }
}
