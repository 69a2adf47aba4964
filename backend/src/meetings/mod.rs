//! Meetings: built from Calendly's invitee events (webhooks or sync), listed for the page, and
//! every change recorded for the live stream.

// Flows stay short: gather, decide in a pure function, apply (clippy.toml: at most 60 lines,
// at most 5 parameters).
#![deny(clippy::too_many_lines)]

mod apply;
mod list;
mod status;

pub use apply::{
    apply_invitee, calendly_time, is_conference, refresh_event, Applied, InviteeChange,
    Observation, CONFERENCE_KINDS,
};
pub use list::{
    changed_in_view, changes_since, has_invitee, latest_change, list_for_user, AttendeeRow,
    MeetingRow, MeetingsPage, MeetingsQuery, Section, Show, ALL_PAST, ALL_UPCOMING, MAX_CHANGED,
    MAX_SEARCH_CHARS, PAGE_SIZE,
};
pub use status::{AttendeeStatus, MeetingStatus, Source};
