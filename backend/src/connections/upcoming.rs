//! The adviser's upcoming active bookings, read straight from their Calendly account (the sandbox
//! page lists them so a tester can cancel or move one).

use calendly::ids::CalendlyUserUri;
use calendly::{ListInvitees, ListScheduledEvents, Status};
use chrono::{DateTime, Utc};

use super::calendly::calendly_for;
use super::tokens::TokenError;
use crate::accounts::AdviserId;
use crate::AppState;

/// How many upcoming events one read lists.
pub const UPCOMING_EVENTS: u32 = 50;

/// One active invitee of an upcoming event.
#[derive(Clone, Debug, PartialEq)]
pub struct UpcomingInvitee {
    pub invitee_uri: String,
    pub title: String,
    pub invitee_name: String,
    pub start_time: DateTime<Utc>,
}

/// The active invitees of `user`'s next [`UPCOMING_EVENTS`] active events starting after `now`,
/// soonest first.
pub async fn upcoming_invitees(
    state: &AppState,
    adviser: AdviserId,
    user: CalendlyUserUri,
    now: DateTime<Utc>,
) -> Result<Vec<UpcomingInvitee>, TokenError> {
    let request = ListScheduledEvents {
        user: Some(user),
        status: Some(Status::Active),
        min_start_time: Some(now),
        sort: Some("start_time:asc".into()),
        count: Some(UPCOMING_EVENTS),
        ..Default::default()
    };
    let calendly = calendly_for(state, adviser);
    let api = calendly.api();
    let events = calendly
        .call(|t| {
            let (api, request) = (api.clone(), request.clone());
            async move { api.list_scheduled_events(&t, &request).await }
        })
        .await?;
    let active = ListInvitees {
        status: Some(Status::Active),
        ..Default::default()
    };
    let mut upcoming = Vec::new();
    for event in events.collection {
        let invitees = calendly
            .call(|t| {
                let (api, uri, active) = (api.clone(), event.uri.clone(), active.clone());
                async move { api.list_event_invitees(&t, &uri, &active).await }
            })
            .await?;
        upcoming.extend(
            invitees
                .collection
                .into_iter()
                .map(|invitee| UpcomingInvitee {
                    invitee_uri: invitee.uri.as_str().to_owned(),
                    title: event.title().to_owned(),
                    invitee_name: invitee.name,
                    start_time: event.start_time,
                }),
        );
    }
    Ok(upcoming)
}
