//! The OAuth scope catalog (calendly-api.md §1.7) and what a granted set allows.

use std::collections::BTreeSet;

/// Every scope Calendly's catalog knows (§1.7, plus the Contacts and Notetaker scopes of the
/// 2026 release notes); anything else is `invalid_scope`.
pub(crate) const SCOPE_CATALOG: &[&str] = &[
    "users:read",
    "organizations:read",
    "organizations:write",
    "groups:read",
    "scheduled_events:read",
    "scheduled_events:write",
    "event_types:read",
    "event_types:write",
    "availability:read",
    "availability:write",
    "locations:read",
    "routing_forms:read",
    "shares:write",
    "scheduling_links:write",
    "webhooks:read",
    "webhooks:write",
    "activity_log:read",
    "data_compliance:write",
    "outgoing_communications:read",
    "contacts:read",
    "contacts:write",
    "meeting_recaps:read",
    "meeting_recaps:write",
];

/// What a token may do: a space-separated list, or the legacy full-access `default`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct GrantedScopes {
    pub text: String,
    pub set: Option<BTreeSet<String>>,
}

impl GrantedScopes {
    /// No `scope` parameter (or `default`): legacy full access, reported as `"default"`.
    pub(crate) fn legacy() -> Self {
        Self {
            text: "default".into(),
            set: None,
        }
    }

    /// `None` when any requested scope is not in the catalog.
    pub(crate) fn parse(raw: Option<&str>) -> Option<Self> {
        let mut list: Vec<&str> = Vec::new();
        for scope in raw
            .unwrap_or("")
            .split([' ', '+', '\t', '\n'])
            .filter(|s| !s.is_empty())
        {
            if scope == "default" {
                continue;
            }
            if !SCOPE_CATALOG.contains(&scope) {
                return None;
            }
            if !list.contains(&scope) {
                list.push(scope);
            }
        }
        if list.is_empty() {
            return Some(Self::legacy());
        }
        Some(Self {
            text: list.join(" "),
            set: Some(list.into_iter().map(String::from).collect()),
        })
    }
}

/// `:write` implies `:read` in the same domain; `None` allows everything.
pub(crate) fn scope_allows(set: Option<&BTreeSet<String>>, scope: &str) -> bool {
    match set {
        None => true,
        Some(set) => {
            set.contains(scope)
                || scope
                    .strip_suffix(":read")
                    .is_some_and(|domain| set.contains(&format!("{domain}:write")))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn scopes_are_checked_against_the_catalog() {
        assert_eq!(GrantedScopes::parse(None), Some(GrantedScopes::legacy()));
        assert_eq!(
            GrantedScopes::parse(Some("default")),
            Some(GrantedScopes::legacy())
        );
        let granted = GrantedScopes::parse(Some("users:read webhooks:write users:read")).unwrap();
        assert_eq!(granted.text, "users:read webhooks:write");
        assert_eq!(GrantedScopes::parse(Some("users:read calendar:all")), None);
    }

    #[test]
    fn write_scopes_imply_read_scopes_of_the_same_domain() {
        let set: BTreeSet<String> = ["webhooks:write".to_string()].into();
        assert!(scope_allows(Some(&set), "webhooks:read"));
        assert!(scope_allows(Some(&set), "webhooks:write"));
        assert!(!scope_allows(Some(&set), "users:read"));
        assert!(scope_allows(None, "users:read"));
    }
}
