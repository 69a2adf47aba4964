//! The simulator's clock: real time plus an offset tests can move forward.
//!
//! Everything time-dependent (code and token expiry, signature `t`, `created_at` fields, rate
//! windows, the retry window) reads this clock, so `advance_clock` ages all of it at once.

use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Duration, Utc};
use tokio::sync::Notify;

pub(crate) struct Clock {
    offset: Mutex<Duration>,
    advanced: Notify,
}

impl Clock {
    pub(crate) fn new() -> Self {
        Self {
            offset: Mutex::new(Duration::zero()),
            advanced: Notify::new(),
        }
    }

    /// Now, truncated to microseconds so stored times print exactly as they compare.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        let offset = *self.offset.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Utc::now() + offset;
        DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
    }

    pub(crate) fn advance(&self, by: Duration) {
        *self.offset.lock().unwrap_or_else(PoisonError::into_inner) += by;
        // Wake sleeping retries so they re-check their due time against the new "now".
        self.advanced.notify_waiters();
    }

    /// Notified whenever the clock is advanced.
    pub(crate) fn advanced(&self) -> &Notify {
        &self.advanced
    }
}

/// Calendly's timestamp format: ISO-8601, six fractional digits, `Z`.
pub(crate) fn timestamp(at: &DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// A std duration as a chrono one, saturating at a century.
pub(crate) fn chrono_duration(d: std::time::Duration) -> Duration {
    Duration::from_std(d).unwrap_or_else(|_| Duration::days(36_500))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_have_six_fractional_digits_and_a_z() {
        let at = DateTime::parse_from_rfc3339("2025-05-14T15:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(timestamp(&at), "2025-05-14T15:30:00.000000Z");
    }

    #[test]
    fn advancing_moves_now_forward() {
        let clock = Clock::new();
        let before = clock.now();
        clock.advance(Duration::hours(3));
        assert!(clock.now() - before >= Duration::hours(3));
    }
}
