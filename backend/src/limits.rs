//! Respecting Calendly's limits (calendly-api.md §9): after a 429, no call for that adviser until
//! `X-RateLimit-Reset` has passed; and at most 8 token requests per adviser per minute.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// Calendly issues at most this many OAuth tokens per user per minute.
pub const TOKEN_REQUESTS_PER_MINUTE: usize = 8;

#[derive(Clone, Default)]
pub struct CalendlyLimits(Arc<Mutex<Inner>>);

#[derive(Default)]
struct Inner {
    /// Adviser → no API calls before this time (ms).
    blocked_until: HashMap<i64, i64>,
    /// Adviser → times (ms) of recent token requests.
    token_requests: HashMap<i64, VecDeque<i64>>,
}

impl CalendlyLimits {
    /// Seconds to wait before calling Calendly for this adviser, if a 429 asked us to.
    pub fn wait_secs(&self, user: i64, now_ms: i64) -> Option<u64> {
        let inner = self.0.lock().expect("limits");
        inner
            .blocked_until
            .get(&user)
            .filter(|until| **until > now_ms)
            .map(|until| ((until - now_ms) as u64).div_ceil(1000))
    }

    /// Calendly answered 429: back off until its reset.
    pub fn rate_limited(&self, user: i64, now_ms: i64, reset_secs: u64) {
        let mut inner = self.0.lock().expect("limits");
        inner
            .blocked_until
            .insert(user, now_ms + (reset_secs.max(1) as i64) * 1000);
    }

    /// Records a token request if one is allowed now; `Err(seconds to wait)` otherwise.
    pub fn take_token_request(&self, user: i64, now_ms: i64) -> Result<(), u64> {
        let mut inner = self.0.lock().expect("limits");
        let window = inner.token_requests.entry(user).or_default();
        while window.front().is_some_and(|t| *t <= now_ms - 60_000) {
            window.pop_front();
        }
        if window.len() >= TOKEN_REQUESTS_PER_MINUTE {
            let oldest = *window.front().expect("non-empty");
            return Err(((oldest + 60_000 - now_ms).max(1) as u64).div_ceil(1000));
        }
        window.push_back(now_ms);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_429_blocks_calls_until_its_reset() {
        let limits = CalendlyLimits::default();
        limits.rate_limited(1, 0, 60);
        assert_eq!(limits.wait_secs(1, 1_000), Some(59));
        assert_eq!(
            limits.wait_secs(2, 1_000),
            None,
            "other advisers are not affected"
        );
        assert_eq!(limits.wait_secs(1, 60_000), None);
    }

    #[test]
    fn at_most_eight_token_requests_per_minute() {
        let limits = CalendlyLimits::default();
        for i in 0..8 {
            assert!(limits.take_token_request(1, i * 1000).is_ok());
        }
        assert_eq!(limits.take_token_request(1, 10_000), Err(50));
        assert!(limits.take_token_request(2, 10_000).is_ok());
        assert!(
            limits.take_token_request(1, 60_001).is_ok(),
            "the window slides"
        );
    }
}
