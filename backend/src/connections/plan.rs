//! Pure decisions about an adviser's subscriptions at Calendly: given what Calendly lists, which
//! one to adopt, which to delete before creating, and which are stale. No I/O.

use calendly::ids::SubscriptionUri;
use calendly::{SubscriptionState, WebhookSubscription};

/// A subscription Calendly lists for the adviser's Calendly user.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub sub: WebhookSubscription,
    /// At another callback URL under our webhook path that is this adviser's to clean up (one
    /// of their route tokens, or a token no adviser of ours holds).
    pub another_of_ours: bool,
}

/// What to do with the listed subscriptions.
#[derive(Clone, Debug, Default)]
pub struct SubscriptionPlan {
    /// A working subscription already at our callback URL: keep it instead of creating one.
    pub adopt: Option<WebhookSubscription>,
    /// At our callback URL but unusable (disabled, missing events, or a second copy): delete
    /// before creating, or creating would conflict.
    pub delete_first: Vec<SubscriptionUri>,
    /// Ours at another URL: delete once the new one exists.
    pub stale: Vec<SubscriptionUri>,
}

/// Whether a subscription delivers every invitee event we handle.
pub fn covers_our_events(sub: &WebhookSubscription) -> bool {
    calendly::INVITEE_EVENTS
        .iter()
        .all(|e| sub.events.iter().any(|have| have == e))
}

/// Sorts what Calendly lists into adopt / delete first / stale; anything else (another app's,
/// another adviser's) is left alone.
pub fn sort_out(candidates: Vec<Candidate>, callback_url: &str) -> SubscriptionPlan {
    let mut plan = SubscriptionPlan::default();
    for Candidate {
        sub,
        another_of_ours,
    } in candidates
    {
        let at_our_url = sub.callback_url == callback_url;
        let working = sub.state == SubscriptionState::Active && covers_our_events(&sub);
        if at_our_url && working && plan.adopt.is_none() {
            plan.adopt = Some(sub);
        } else if at_our_url {
            plan.delete_first.push(sub.uri);
        } else if another_of_ours {
            plan.stale.push(sub.uri);
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    const OURS: &str = "https://advicly.example.com/api/calendly/webhook/AAAAAAAAAAAAAAAAAAAAAA";

    fn sub(n: u32, url: &str, state: SubscriptionState, events: &[&str]) -> WebhookSubscription {
        let json = serde_json::json!({
            "uri": format!("https://api.calendly.com/webhook_subscriptions/SUB{n}"),
            "callback_url": url,
            "created_at": "2026-11-01T10:00:00.000000Z",
            "updated_at": "2026-11-01T10:00:00.000000Z",
            "retry_started_at": null,
            "state": state.as_str(),
            "events": events,
            "scope": "user",
            "organization": "https://api.calendly.com/organizations/ORG",
            "user": "https://api.calendly.com/users/ME",
            "creator": "https://api.calendly.com/users/ME",
        });
        serde_json::from_value(json).expect("a subscription as Calendly lists it")
    }

    fn candidate(sub: WebhookSubscription, another_of_ours: bool) -> Candidate {
        Candidate {
            sub,
            another_of_ours,
        }
    }

    fn uri(n: u32) -> String {
        format!("https://api.calendly.com/webhook_subscriptions/SUB{n}")
    }

    fn uris(list: &[SubscriptionUri]) -> Vec<String> {
        list.iter().map(|u| u.as_str().to_owned()).collect()
    }

    #[test]
    fn a_working_subscription_at_our_url_is_adopted_and_nothing_is_deleted() {
        let plan = sort_out(
            vec![candidate(
                sub(
                    1,
                    OURS,
                    SubscriptionState::Active,
                    &calendly::INVITEE_EVENTS,
                ),
                false,
            )],
            OURS,
        );
        assert_eq!(plan.adopt.map(|s| s.uri.as_str().to_owned()), Some(uri(1)));
        assert!(plan.delete_first.is_empty() && plan.stale.is_empty());
    }

    #[test]
    fn a_disabled_or_incomplete_one_at_our_url_is_deleted_before_creating() {
        let plan = sort_out(
            vec![
                candidate(
                    sub(
                        1,
                        OURS,
                        SubscriptionState::Disabled,
                        &calendly::INVITEE_EVENTS,
                    ),
                    false,
                ),
                candidate(
                    sub(2, OURS, SubscriptionState::Active, &["invitee.created"]),
                    false,
                ),
            ],
            OURS,
        );
        assert!(plan.adopt.is_none());
        assert_eq!(uris(&plan.delete_first), vec![uri(1), uri(2)]);
    }

    #[test]
    fn of_two_working_copies_at_our_url_the_first_is_kept_and_the_second_deleted() {
        let plan = sort_out(
            vec![
                candidate(
                    sub(
                        1,
                        OURS,
                        SubscriptionState::Active,
                        &calendly::INVITEE_EVENTS,
                    ),
                    false,
                ),
                candidate(
                    sub(
                        2,
                        OURS,
                        SubscriptionState::Active,
                        &calendly::INVITEE_EVENTS,
                    ),
                    false,
                ),
            ],
            OURS,
        );
        assert_eq!(plan.adopt.map(|s| s.uri.as_str().to_owned()), Some(uri(1)));
        assert_eq!(uris(&plan.delete_first), vec![uri(2)]);
    }

    #[test]
    fn our_old_urls_are_stale_and_everyone_elses_are_left_alone() {
        let old = "https://advicly.example.com/api/calendly/webhook/BBBBBBBBBBBBBBBBBBBBBB";
        let other_adviser =
            "https://advicly.example.com/api/calendly/webhook/CCCCCCCCCCCCCCCCCCCCCC";
        let other_app = "https://elsewhere.example.com/hooks";
        let plan = sort_out(
            vec![
                candidate(
                    sub(1, old, SubscriptionState::Active, &calendly::INVITEE_EVENTS),
                    true,
                ),
                candidate(
                    sub(
                        2,
                        other_adviser,
                        SubscriptionState::Active,
                        &calendly::INVITEE_EVENTS,
                    ),
                    false,
                ),
                candidate(
                    sub(
                        3,
                        other_app,
                        SubscriptionState::Active,
                        &calendly::INVITEE_EVENTS,
                    ),
                    false,
                ),
            ],
            OURS,
        );
        assert!(plan.adopt.is_none() && plan.delete_first.is_empty());
        assert_eq!(uris(&plan.stale), vec![uri(1)]);
    }
}
