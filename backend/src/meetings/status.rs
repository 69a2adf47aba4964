//! The states a meeting and its attendees are in, decoded once where rows are read, and the pure
//! rule that derives a meeting's state from its attendees.

/// A meeting's state, derived from its attendees ([`derive`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MeetingStatus {
    /// Some attendee is still coming (or none is known yet).
    Active,
    /// Every attendee canceled, at least one not by a reschedule.
    Canceled,
    /// Every attendee moved to another time: the booking is shown there instead.
    Rescheduled,
}

impl MeetingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MeetingStatus::Active => "active",
            MeetingStatus::Canceled => "canceled",
            MeetingStatus::Rescheduled => "rescheduled",
        }
    }
}

impl From<String> for MeetingStatus {
    fn from(s: String) -> Self {
        match s.as_str() {
            "canceled" => MeetingStatus::Canceled,
            "rescheduled" => MeetingStatus::Rescheduled,
            _ => MeetingStatus::Active,
        }
    }
}

/// An attendee's state: Calendly never un-cancels an invitee.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttendeeStatus {
    Active,
    Canceled,
}

impl AttendeeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AttendeeStatus::Active => "active",
            AttendeeStatus::Canceled => "canceled",
        }
    }
}

impl From<String> for AttendeeStatus {
    fn from(s: String) -> Self {
        if s == "canceled" {
            AttendeeStatus::Canceled
        } else {
            AttendeeStatus::Active
        }
    }
}

/// Where a meeting was last learnt from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// A webhook delivery (live).
    Webhook,
    /// Reading Calendly's API (backfill, reconciliation, Sync now).
    Sync,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Webhook => "webhook",
            Source::Sync => "sync",
        }
    }
}

impl From<String> for Source {
    fn from(s: String) -> Self {
        if s == "webhook" {
            Source::Webhook
        } else {
            Source::Sync
        }
    }
}

/// What [`derive`] needs of one attendee.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct AttendeeState {
    #[sqlx(try_from = "String")]
    pub status: AttendeeStatus,
    #[sqlx(try_from = "i64")]
    pub rescheduled: Flag,
    pub old_invitee_uri: Option<String>,
    pub new_invitee_uri: Option<String>,
    pub canceled_by: Option<String>,
    pub cancel_reason: Option<String>,
    pub canceler_type: Option<String>,
}

/// A 0/1 column as a bool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flag(pub bool);

impl From<i64> for Flag {
    fn from(v: i64) -> Self {
        Flag(v != 0)
    }
}

/// A meeting's state as its attendees make it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Derived<'a> {
    pub status: MeetingStatus,
    /// Whose cancellation the meeting shows: the first canceled attendee (in the given order)
    /// that was not moved by a reschedule.
    pub cancellation: Option<&'a AttendeeState>,
    /// An invitee this booking was moved to, and one it was moved from.
    pub moved_to: Option<&'a str>,
    pub moved_from: Option<&'a str>,
}

/// Active while anyone is still coming (or nobody is known yet); rescheduled when everyone moved
/// elsewhere; otherwise canceled.
pub fn derive(attendees: &[AttendeeState]) -> Derived<'_> {
    let any_active = attendees.iter().any(|a| a.status == AttendeeStatus::Active);
    let canceled_by_move =
        |a: &AttendeeState| a.status == AttendeeStatus::Canceled && a.rescheduled.0;
    let status = if any_active || attendees.is_empty() {
        MeetingStatus::Active
    } else if attendees.iter().all(canceled_by_move) {
        MeetingStatus::Rescheduled
    } else {
        MeetingStatus::Canceled
    };
    Derived {
        status,
        cancellation: attendees
            .iter()
            .find(|a| a.status == AttendeeStatus::Canceled && !a.rescheduled.0),
        moved_to: attendees.iter().find_map(|a| a.new_invitee_uri.as_deref()),
        moved_from: attendees.iter().find_map(|a| a.old_invitee_uri.as_deref()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attendee(status: AttendeeStatus, rescheduled: bool) -> AttendeeState {
        AttendeeState {
            status,
            rescheduled: Flag(rescheduled),
            old_invitee_uri: None,
            new_invitee_uri: None,
            canceled_by: None,
            cancel_reason: None,
            canceler_type: None,
        }
    }

    use AttendeeStatus::{Active, Canceled};

    #[test]
    fn a_meeting_is_active_while_anyone_is_still_coming_or_nobody_is_known() {
        assert_eq!(derive(&[]).status, MeetingStatus::Active);
        let group = [attendee(Canceled, false), attendee(Active, false)];
        assert_eq!(derive(&group).status, MeetingStatus::Active);
    }

    #[test]
    fn a_meeting_everyone_moved_away_from_is_rescheduled_not_canceled() {
        let moved = [attendee(Canceled, true), attendee(Canceled, true)];
        assert_eq!(derive(&moved).status, MeetingStatus::Rescheduled);
        let mixed = [attendee(Canceled, true), attendee(Canceled, false)];
        let derived = derive(&mixed);
        assert_eq!(derived.status, MeetingStatus::Canceled);
        assert_eq!(derived.cancellation, Some(&mixed[1]));
    }

    #[test]
    fn stored_values_decode_to_the_same_states() {
        for s in [
            MeetingStatus::Active,
            MeetingStatus::Canceled,
            MeetingStatus::Rescheduled,
        ] {
            assert_eq!(MeetingStatus::from(s.as_str().to_owned()), s);
        }
        for s in [AttendeeStatus::Active, AttendeeStatus::Canceled] {
            assert_eq!(AttendeeStatus::from(s.as_str().to_owned()), s);
        }
        for s in [Source::Webhook, Source::Sync] {
            assert_eq!(Source::from(s.as_str().to_owned()), s);
        }
    }
}
