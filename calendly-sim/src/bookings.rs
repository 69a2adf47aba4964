//! What invitees do on Calendly's side: book, cancel, reschedule, and what hosts do: mark
//! no-shows. Each change publishes the matching webhook event (calendly-api.md §6.3–§6.6).
//!
//! Every change to an event or its invitees (a booking, an invitee joining a group event, a
//! cancellation, a reschedule) bumps the event's `updated_at`. No-show marks change only the
//! invitee (`no_show`, `updated_at`): Calendly does not say whether the event changes, and the
//! no-show is the invitee's, so the simulator leaves the event's `updated_at` alone.

use chrono::{DateTime, Duration, DurationRound, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::conferences::{google_meet, is_google_meet};
use crate::config::new_uuid;
use crate::deliveries::publish;
use crate::errors::SimError;
use crate::state::{
    id_of, Cancellation, EventRecord, GuestRecord, InviteeRecord, NoShow, State as SimState, Status,
};
use crate::Simulator;

/// A booking made through Calendly. `Default` books a 30-minute "30 Minute Meeting" for Jane
/// Prospect tomorrow, without guests or co-hosts; `host` must always be set.
///
/// As control-route JSON every field is optional except `host`; `"event_name": null` gives an
/// event whose `name` is `null`, an omitted `event_name` the default name.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct Booking {
    /// Host user URI.
    pub host: String,
    /// The scheduled event's `name`; `None` makes it `null` (the field is nullable upstream).
    pub event_name: Option<String>,
    pub start_time: DateTime<Utc>,
    pub duration_minutes: i64,
    pub invitee_name: String,
    pub invitee_email: String,
    /// The invitee's timezone.
    pub timezone: String,
    /// (question, answer) pairs, in form order.
    pub questions: Vec<(String, String)>,
    /// The event's `location` object, stored as given; `None` gives a Google Meet location like
    /// real bookings. A conference whose link comes later looks like
    /// `{"type": "microsoft_teams_conference", "status": "processing", "join_url": null}`
    /// (Zoom's type is `zoom`); `Simulator::push_conference_link` delivers the link.
    pub location: Option<Value>,
    /// An existing scheduled event URI: add this invitee to that (group) event instead.
    pub join_event: Option<String>,
    /// `invitees_counter.limit` of a new event.
    pub max_invitees: u32,
    /// Guest emails: the event's `event_guests` (on `join_event`, added to the event's guests).
    pub guests: Vec<String>,
    /// URIs of further hosts (other simulator users): extra `event_memberships` after `host`.
    /// Their user-scope subscriptions get the invitee webhooks too. New events only.
    pub co_hosts: Vec<String>,
}

impl Default for Booking {
    fn default() -> Self {
        let tomorrow = Utc::now() + Duration::days(1);
        Self {
            host: String::new(),
            event_name: Some("30 Minute Meeting".into()),
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
            guests: Vec::new(),
            co_hosts: Vec::new(),
        }
    }
}

/// What a new scheduled event is made of (host and co-hosts as user uuids).
struct NewEvent {
    host: String,
    co_hosts: Vec<String>,
    name: Option<String>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    location: Option<Value>,
    limit: u32,
    guests: Vec<String>,
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
        if let Some(bad) = booking.guests.iter().find(|g| !g.contains('@')) {
            return Err(SimError::Invalid(format!(
                "guest {bad:?} is not an email address"
            )));
        }
        let mut st = self.state();
        let host = id_of(&booking.host, "users")
            .filter(|id| st.users.contains_key(*id))
            .ok_or_else(|| SimError::UnknownUser(booking.host.clone()))?
            .to_string();
        let co_hosts = co_hosts(&st, &booking.co_hosts, &host)?;
        let event_id = match &booking.join_event {
            Some(_) if !co_hosts.is_empty() => {
                return Err(SimError::Invalid(
                    "co_hosts can only be given for a new event, not with join_event".into(),
                ))
            }
            Some(uri) => {
                let id = join_event(&st, uri, &host)?;
                add_guests(&mut st, &id, &booking.guests, now);
                id
            }
            None => {
                if booking.duration_minutes <= 0 {
                    return Err(SimError::Invalid(
                        "duration_minutes must be positive".into(),
                    ));
                }
                let start = booking.start_time;
                let spec = NewEvent {
                    host: host.clone(),
                    co_hosts,
                    name: booking.event_name.clone(),
                    start,
                    end: start + Duration::minutes(booking.duration_minutes),
                    location: booking.location.clone(),
                    limit: booking.max_invitees,
                    guests: booking.guests.clone(),
                };
                self.new_event(&mut st, spec, now)
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
        let (old_event_id, booking, spec) = {
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
                guests: ev.guests.iter().map(|g| g.email.clone()).collect(),
                co_hosts: Vec::new(),
            };
            let spec = NewEvent {
                host: ev.host.clone(),
                co_hosts: ev.co_hosts.clone(),
                name: ev.name.clone(),
                start: new_start,
                end: new_start + (ev.end - ev.start),
                location: booking.location.clone(),
                limit: ev.limit,
                guests: booking.guests.clone(),
            };
            (old.event.clone(), booking, spec)
        };
        let new_event_id = self.new_event(&mut st, spec, now);
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

    /// Marks an active invitee as a no-show; delivers `invitee_no_show.created`. Sets the
    /// invitee's `no_show` and `updated_at`; the event's `updated_at` stays (see module docs).
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

    /// Removes a no-show mark; delivers `invitee_no_show.deleted` (with `no_show: null`). Like
    /// marking, it changes the invitee's `updated_at` but not the event's.
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

    fn new_event(&self, st: &mut SimState, spec: NewEvent, now: DateTime<Utc>) -> String {
        let uuid = new_uuid();
        let org = st
            .users
            .get(&spec.host)
            .map(|u| u.org.clone())
            .unwrap_or_default();
        let event_type = st
            .event_types
            .entry((spec.host.clone(), spec.name.clone()))
            .or_insert_with(new_uuid)
            .clone();
        let location = spec.location.unwrap_or_else(|| google_meet(&uuid));
        let seq = st.next_seq();
        st.events.insert(
            uuid.clone(),
            EventRecord {
                uuid: uuid.clone(),
                seq,
                name: spec.name,
                host: spec.host,
                co_hosts: spec.co_hosts,
                guests: Vec::new(),
                org,
                event_type,
                start: spec.start,
                end: spec.end,
                location,
                limit: spec.limit.max(1),
                invitees: Vec::new(),
                status: Status::Active,
                cancellation: None,
                created_at: now,
                updated_at: now,
            },
        );
        add_guests(st, &uuid, &spec.guests, now);
        uuid
    }
}

/// The uuids of `uris` (known users other than `host`, each once), in order.
fn co_hosts(st: &SimState, uris: &[String], host: &str) -> Result<Vec<String>, SimError> {
    let mut ids: Vec<String> = Vec::new();
    for uri in uris {
        let id = id_of(uri, "users")
            .filter(|id| st.users.contains_key(*id))
            .ok_or_else(|| SimError::UnknownUser(uri.clone()))?;
        if id != host && !ids.iter().any(|known| known == id) {
            ids.push(id.to_string());
        }
    }
    Ok(ids)
}

/// Adds guests the event does not have yet (case-insensitive emails).
fn add_guests(st: &mut SimState, event_id: &str, emails: &[String], now: DateTime<Utc>) {
    let Some(ev) = st.events.get_mut(event_id) else {
        return;
    };
    for email in emails.iter().map(|e| e.trim()) {
        if !ev
            .guests
            .iter()
            .any(|g| g.email.eq_ignore_ascii_case(email))
        {
            ev.guests.push(GuestRecord {
                email: email.to_string(),
                created_at: now,
                updated_at: now,
            });
            ev.updated_at = now;
        }
    }
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
