//! Per-user API rate limits (calendly-api.md §0, §9): 500 requests per user per minute on paid
//! plans, 50 on Free. The window is the *user's*, shared by all of the user's tokens and by
//! the user's other integrations (`consume_rate_limit`), and every request counts, including
//! those answered 429. OAuth calls (`/oauth/*`) are limited separately (8 tokens per minute).

use crate::auth::Caller;
use crate::state::{id_of, Window, WindowHit};
use crate::users::Plan;
use crate::Simulator;

impl Simulator {
    /// Requests per minute allowed for a plan (Calendly: 500 paid, 50 Free).
    pub(crate) fn api_limit(&self, plan: Plan) -> u32 {
        let paid = self.config().rate_limit_per_minute.max(1);
        match plan {
            Plan::Standard => paid,
            Plan::Free => (paid / 10).max(1),
        }
    }

    /// Counts one API request of the caller's user (whatever the token), allowed or not.
    pub(crate) fn count_request(&self, caller: &Caller) -> WindowHit {
        let now = self.now();
        let limit = self.api_limit(caller.plan);
        let mut st = self.state();
        *st.api_calls.entry(caller.user.clone()).or_default() += 1;
        st.api_usage
            .entry(caller.user.clone())
            .or_insert_with(|| Window::new(now))
            .count_every(now, limit)
    }

    /// Every API request ever made with this user's tokens, 429s included (OAuth `/oauth/*`
    /// calls and requests spent through `consume_rate_limit` are not counted); 0 for unknown
    /// users.
    pub fn api_calls(&self, user_uri: &str) -> u64 {
        let st = self.state();
        id_of(user_uri, "users")
            .and_then(|id| st.api_calls.get(id))
            .copied()
            .unwrap_or(0)
    }

    /// Another integration of the same user spends `n` requests of the current one-minute
    /// window (the user's limit is shared). Unknown users are ignored.
    pub fn consume_rate_limit(&self, user_uri: &str, n: u32) {
        let now = self.now();
        let mut st = self.state();
        let Some(id) = id_of(user_uri, "users")
            .filter(|id| st.users.contains_key(*id))
            .map(String::from)
        else {
            return;
        };
        st.api_usage
            .entry(id)
            .or_insert_with(|| Window::new(now))
            .spend(now, n);
    }
}
