//! What invitees do on Calendly's side: book, cancel, reschedule, and what hosts do: mark
//! no-shows. Each change publishes the matching webhook event (calendly-api.md §6.3–§6.6).

use chrono::{DateTime, Duration, DurationRound, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::config::new_uuid;
use crate::deliveries::publish;
use crate::errors::SimError;
use crate::state::{
    id_of, Cancellation, EventRecord, InviteeRecord, NoShow, State as SimState, Status,
};
use crate::Simulator;

/// A booking made through Calendly. `Default` books a 30-minute "30 Minute Meeting" for Jane
/// Prospect tomorrow; `host` must always be set.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct Booking {
    /// Host user URI.
    pub host: String,
    pub event_name: String,
    pub start_time: DateTime<Utc>,
    pub duration_minutes: i64,
    pub invitee_name: String,
    pub invitee_email: String,
    /// The invitee's timezone.
    pub timezone: String,
    /// (question, answer) pairs, in form order.
    pub questions: Vec<(String, String)>,
    /// The event's `location` object; `None` gives a Google Meet location like real bookings.
    pub location: Option<Value>,
    /// An existing scheduled event URI: add this invitee to that (group) event instead.
    pub join_event: Option<String>,
    /// `invitees_counter.limit` of a new event.
    pub max_invitees: u32,
}

impl Default for Booking {
    fn default() -> Self {
        let tomorrow = Utc::now() + Duration::days(1);
        Self {
            host: String::new(),
            event_name: "30 Minute Meeting".into(),
            start_time: tomorrow
                .duration_trunc(Duration::hours(1))
                .unwrap_or(tomorrow),
            duration_minutes: 30,
            invitee_name: "Jane Prospect".into(),
            invitee_email: "jane.prospect@example.com".into(),
            timezone: "America/New_York".into(),
            questions: Vec::new(),
            location: None,
            join_event: None,
            max_invitees: 1,
        }
    }
}

/// URIs of a booked invitee and its scheduled event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BookedInvitee {
    pub event_uri: String,
    pub invitee_uri: String,
}

/// Who cancels: shows up as `cancellation.canceler_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Canceler {
    Host,
    Invitee,
}

impl Canceler {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Canceler::Host => "host",
            Canceler::Invitee => "invitee",
        }
    }
}

impl Simulator {
    /// Books an invitee (new event, or a seat in `join_event`) and delivers `invitee.created`.
    pub fn book(&self, booking: Booking) -> Result<BookedInvitee, SimError> {
        let now = self.now();
        if !booking.invitee_email.contains('@') {
            return Err(SimError::Invalid(format!(
                "invitee_email {:?} is not an email address",
                booking.invitee_email
            )));
        }
        let mut st = self.state();
        let host = id_of(&booking.host, "users")
            .filter(|id| st.users.contains_key(*id))
            .ok_or_else(|| SimError::UnknownUser(booking.host.clone()))?
            .to_string();
        let event_id = match &booking.join_event {
            Some(uri) => join_event(&st, uri, &host)?,
            None => {
                if booking.duration_minutes <= 0 {
                    return Err(SimError::Invalid(
                        "duration_minutes must be positive".into(),
                    ));
                }
                let start = booking.start_time;
                let end = start + Duration::minutes(booking.duration_minutes);
                self.new_event(
                    &mut st,
                    &host,
                    &booking.event_name,
                    start,
                    end,
                    booking.location.clone(),
                    booking.max_invitees,
                    now,
                )
            }
        };
        let invitee = new_invitee(&mut st, &event_id, &booking, now);
        let booked = BookedInvitee {
            event_uri: self.uri("scheduled_events", &event_id),
            invitee_uri: self.invitee_uri(&event_id, &invitee),
        };
        publish(self, &mut st, "invitee.created", &invitee);
        Ok(booked)
    }

    /// Cancels an invitee (the event too when no active invitee is left); delivers `invitee.canceled`.
    pub fn cancel(
        &self,
        invitee_uri: &str,
        by: Canceler,
        reason: Option<String>,
    ) -> Result<(), SimError> {
        let now = self.now();
        let mut st = self.state();
        let id = active_invitee(&st, invitee_uri)?;
        let inv = &st.invitees[&id];
        let canceled_by = match by {
            Canceler::Invitee => inv.name.clone(),
            Canceler::Host => st
                .events
                .get(&inv.event)
                .and_then(|e| st.users.get(&e.host))
                .map(|u| u.name.clone())
                .unwrap_or_default(),
        };
        let cancellation = Cancellation {
            canceled_by,
            reason,
            canceler_type: by,
            created_at: now,
        };
        cancel_invitee(&mut st, &id, cancellation, now);
        publish(self, &mut st, "invitee.canceled", &id);
        Ok(())
    }

    /// Moves an invitee to `new_start`: the old invitee is canceled (`rescheduled: true`,
    /// `new_invitee`) and a new invitee on a new scheduled event is created (`old_invitee`);
    /// `invitee.canceled` is delivered, then `invitee.created`.
    pub fn reschedule(
        &self,
        invitee_uri: &str,
        new_start: DateTime<Utc>,
    ) -> Result<BookedInvitee, SimError> {
        let now = self.now();
        let mut st = self.state();
        let old_id = active_invitee(&st, invitee_uri)?;
        let (old_event_id, booking) = {
            let old = &st.invitees[&old_id];
            let ev = &st.events[&old.event];
            let booking = Booking {
                host: ev.host.clone(),
                event_name: ev.name.clone(),
                start_time: new_start,
                duration_minutes: (ev.end - ev.start).num_minutes(),
                invitee_name: old.name.clone(),
                invitee_email: old.email.clone(),
                timezone: old.timezone.clone(),
                questions: old.questions.clone(),
                // A Meet link belongs to its event: the new event gets its own.
                location: (!is_google_meet(&ev.location)).then(|| ev.location.clone()),
                join_event: None,
                max_invitees: ev.limit,
            };
            (old.event.clone(), booking)
        };
        let new_end = new_start + Duration::minutes(booking.duration_minutes);
        let new_event_id = self.new_event(
            &mut st,
            &booking.host,
            &booking.event_name,
            new_start,
            new_end,
            booking.location.clone(),
            booking.max_invitees,
            now,
        );
        let new_id = new_invitee(&mut st, &new_event_id, &booking, now);
        let old_uri = self.invitee_uri(&old_event_id, &old_id);
        let new_uri = self.invitee_uri(&new_event_id, &new_id);
        if let Some(new) = st.invitees.get_mut(&new_id) {
            new.old_invitee = Some(old_uri);
        }
        if let Some(old) = st.invitees.get_mut(&old_id) {
            old.rescheduled = true;
            old.new_invitee = Some(new_uri.clone());
        }
        let cancellation = Cancellation {
            canceled_by: booking.invitee_name.clone(),
            reason: None,
            canceler_type: Canceler::Invitee,
            created_at: now,
        };
        cancel_invitee(&mut st, &old_id, cancellation, now);
        publish(self, &mut st, "invitee.canceled", &old_id);
        publish(self, &mut st, "invitee.created", &new_id);
        Ok(BookedInvitee {
            event_uri: self.uri("scheduled_events", &new_event_id),
            invitee_uri: new_uri,
        })
    }

    /// Marks an active invitee as a no-show; delivers `invitee_no_show.created`.
    pub fn mark_no_show(&self, invitee_uri: &str) -> Result<(), SimError> {
        let now = self.now();
        let mut st = self.state();
        let id = active_invitee(&st, invitee_uri)?;
        let inv = st
            .invitees
            .get_mut(&id)
            .ok_or_else(|| SimError::UnknownInvitee(invitee_uri.into()))?;
        if inv.no_show.is_some() {
            return Err(SimError::NoShowAlreadyMarked(invitee_uri.into()));
        }
        inv.no_show = Some(NoShow {
            uuid: new_uuid(),
            created_at: now,
        });
        inv.updated_at = now;
        publish(self, &mut st, "invitee_no_show.created", &id);
        Ok(())
    }

    /// Removes a no-show mark; delivers `invitee_no_show.deleted` (with `no_show: null`).
    pub fn unmark_no_show(&self, invitee_uri: &str) -> Result<(), SimError> {
        let now = self.now();
        let mut st = self.state();
        let id = id_of(invitee_uri, "invitees")
            .filter(|id| st.invitees.contains_key(*id))
            .ok_or_else(|| SimError::UnknownInvitee(invitee_uri.into()))?
            .to_string();
        let inv = st
            .invitees
            .get_mut(&id)
            .ok_or_else(|| SimError::UnknownInvitee(invitee_uri.into()))?;
        if inv.no_show.take().is_none() {
            return Err(SimError::NoShowNotMarked(invitee_uri.into()));
        }
        inv.updated_at = now;
        publish(self, &mut st, "invitee_no_show.deleted", &id);
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn new_event(
        &self,
        st: &mut SimState,
        host: &str,
        name: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        location: Option<Value>,
        limit: u32,
        now: DateTime<Utc>,
    ) -> String {
        let uuid = new_uuid();
        let org = st
            .users
            .get(host)
            .map(|u| u.org.clone())
            .unwrap_or_default();
        let event_type = st
            .event_types
            .entry((host.to_string(), name.to_string()))
            .or_insert_with(new_uuid)
            .clone();
        let location = location.unwrap_or_else(|| google_meet(&uuid));
        let seq = st.next_seq();
        st.events.insert(
            uuid.clone(),
            EventRecord {
                uuid: uuid.clone(),
                seq,
                name: name.to_string(),
                host: host.to_string(),
                org,
                event_type,
                start,
                end,
                location,
                limit: limit.max(1),
                invitees: Vec::new(),
                status: Status::Active,
                cancellation: None,
                created_at: now,
                updated_at: now,
            },
        );
        uuid
    }
}

/// Google Meet as Calendly reports it at booking time: a calendly.com redirect, "processing".
fn google_meet(event_uuid: &str) -> Value {
    json!({
        "join_url": format!("https://calendly.com/events/{event_uuid}/google_meet"),
        "status": "processing",
        "type": "google_conference",
    })
}

fn is_google_meet(location: &Value) -> bool {
    location.get("type").and_then(Value::as_str) == Some("google_conference")
}

fn join_event(st: &SimState, uri: &str, host: &str) -> Result<String, SimError> {
    let ev = id_of(uri, "scheduled_events")
        .and_then(|id| st.events.get(id))
        .ok_or_else(|| SimError::UnknownEvent(uri.to_string()))?;
    if ev.host != host {
        return Err(SimError::Invalid(format!(
            "{uri} is hosted by someone else"
        )));
    }
    if ev.status == Status::Canceled {
        return Err(SimError::EventCanceled(uri.to_string()));
    }
    let active = ev
        .invitees
        .iter()
        .filter(|i| {
            st.invitees
                .get(*i)
                .is_some_and(|i| i.status == Status::Active)
        })
        .count();
    if active >= ev.limit as usize {
        return Err(SimError::EventFull(uri.to_string()));
    }
    Ok(ev.uuid.clone())
}

fn new_invitee(st: &mut SimState, event_id: &str, booking: &Booking, now: DateTime<Utc>) -> String {
    let uuid = new_uuid();
    let seq = st.next_seq();
    st.invitees.insert(
        uuid.clone(),
        InviteeRecord {
            uuid: uuid.clone(),
            seq,
            event: event_id.to_string(),
            name: booking.invitee_name.clone(),
            email: booking.invitee_email.trim().to_string(),
            timezone: booking.timezone.clone(),
            questions: booking.questions.clone(),
            status: Status::Active,
            cancellation: None,
            rescheduled: false,
            old_invitee: None,
            new_invitee: None,
            no_show: None,
            created_at: now,
            updated_at: now,
        },
    );
    if let Some(ev) = st.events.get_mut(event_id) {
        ev.invitees.push(uuid.clone());
        ev.updated_at = now;
    }
    uuid
}

/// The uuid of an existing, still active invitee.
fn active_invitee(st: &SimState, uri: &str) -> Result<String, SimError> {
    let inv = id_of(uri, "invitees")
        .and_then(|id| st.invitees.get(id))
        .ok_or_else(|| SimError::UnknownInvitee(uri.to_string()))?;
    if inv.status != Status::Active {
        return Err(SimError::InviteeNotActive(uri.to_string()));
    }
    Ok(inv.uuid.clone())
}

fn cancel_invitee(st: &mut SimState, id: &str, cancellation: Cancellation, now: DateTime<Utc>) {
    let Some(inv) = st.invitees.get_mut(id) else {
        return;
    };
    inv.status = Status::Canceled;
    inv.cancellation = Some(cancellation.clone());
    inv.updated_at = now;
    let event_id = inv.event.clone();
    let any_active = st.events.get(&event_id).is_some_and(|ev| {
        ev.invitees.iter().any(|i| {
            st.invitees
                .get(i)
                .is_some_and(|i| i.status == Status::Active)
        })
    });
    if let Some(ev) = st.events.get_mut(&event_id) {
        // A group event stays active while any invitee is still coming.
        if !any_active {
            ev.status = Status::Canceled;
            ev.cancellation = Some(cancellation);
        }
        ev.updated_at = now;
    }
}
