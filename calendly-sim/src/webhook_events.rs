//! The webhook event catalog (calendly-api.md §0, §1.7, §3.1): which events a subscription may
//! ask for, which need a paid plan, which OAuth read scope each needs, and which subscription
//! scopes each allows.
//!
//! Since 2026-11-03 webhooks are on all plans; only events whose feature a Free plan lacks are
//! refused (`routing_form_submission.created`, `meeting_recap.*`; `contact.*` became free on
//! 2026-11-19). The simulator only *delivers* `invitee.*` and `invitee_no_show.*`.

use crate::subscriptions::SubscriptionScope;

/// Every event the create body's enum accepts.
pub(crate) const KNOWN_EVENTS: [&str; 14] = [
    "invitee.created",
    "invitee.canceled",
    "invitee_no_show.created",
    "invitee_no_show.deleted",
    "routing_form_submission.created",
    "event_type.created",
    "event_type.updated",
    "event_type.deleted",
    "meeting_recap.created",
    "meeting_recap.updated",
    "meeting_recap.deleted",
    "contact.created",
    "contact.updated",
    "contact.deleted",
];

/// The event's family: the part before the dot.
fn family(event: &str) -> &str {
    event.split_once('.').map_or(event, |(family, _)| family)
}

/// Whether a Free plan lacks the feature behind this event.
pub(crate) fn needs_paid_plan(event: &str) -> bool {
    matches!(family(event), "routing_form_submission" | "meeting_recap")
}

/// The OAuth read scope needed to subscribe to this event (a missing one is a 400, §1.7).
pub(crate) fn read_scope(event: &str) -> &'static str {
    match family(event) {
        "invitee" | "invitee_no_show" => "scheduled_events:read",
        "event_type" => "event_types:read",
        "routing_form_submission" => "routing_forms:read",
        "meeting_recap" => "meeting_recaps:read",
        "contact" => "contacts:read",
        _ => "webhooks:read",
    }
}

/// The only subscription scope this event allows, when it is restricted (else any scope).
pub(crate) fn only_scope(event: &str) -> Option<SubscriptionScope> {
    match family(event) {
        "routing_form_submission" => Some(SubscriptionScope::Organization),
        "meeting_recap" => Some(SubscriptionScope::User),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_routing_forms_and_meeting_recaps_need_a_paid_plan() {
        let paid: Vec<&str> = KNOWN_EVENTS
            .into_iter()
            .filter(|e| needs_paid_plan(e))
            .collect();
        assert_eq!(
            paid,
            [
                "routing_form_submission.created",
                "meeting_recap.created",
                "meeting_recap.updated",
                "meeting_recap.deleted"
            ]
        );
    }

    #[test]
    fn each_event_family_needs_its_own_read_scope() {
        assert_eq!(read_scope("invitee.created"), "scheduled_events:read");
        assert_eq!(
            read_scope("invitee_no_show.deleted"),
            "scheduled_events:read"
        );
        assert_eq!(read_scope("event_type.updated"), "event_types:read");
        assert_eq!(read_scope("contact.created"), "contacts:read");
    }
}
