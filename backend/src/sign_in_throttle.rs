//! How long a sign-in attempt must wait, from the failures before it. Only failures count, per
//! (email, client address) and per client address (many emails from one place); each failure
//! past a free allowance doubles the wait, up to a cap. There is no lock: once the wait has
//! passed one more attempt goes through, and a client that has not failed for an email is never
//! held back by someone else's failures for it.

/// Failures are remembered this long.
pub const WINDOW_MS: i64 = 60 * 60 * 1000;
/// Failures for one email from one client before any wait.
pub const FREE_PER_EMAIL: i64 = 5;
/// Failures from one client, over all emails, before any wait.
pub const FREE_PER_CLIENT: i64 = 20;
/// The longest wait.
pub const MAX_WAIT_MS: i64 = 15 * 60 * 1000;

/// Earlier failures of one kind within the window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Failures {
    pub count: i64,
    /// When the newest of them happened (ms).
    pub last_at: Option<i64>,
}

/// The wait (ms) that `count` failures earn, given `free` of them cost nothing: 1 s after the
/// first one past the allowance, doubling, at most [`MAX_WAIT_MS`].
pub fn wait_after(count: i64, free: i64) -> i64 {
    if count < free {
        return 0;
    }
    let doublings = (count - free).min(20) as u32;
    (1000_i64 << doublings).min(MAX_WAIT_MS)
}

/// Milliseconds this attempt must still wait, or `None` when it may go ahead.
pub fn must_wait(per_email: Failures, per_client: Failures, now_ms: i64) -> Option<i64> {
    let remaining = |f: Failures, free: i64| match f.last_at {
        Some(last) => last.saturating_add(wait_after(f.count, free)) - now_ms,
        None => 0,
    };
    let wait = remaining(per_email, FREE_PER_EMAIL).max(remaining(per_client, FREE_PER_CLIENT));
    (wait > 0).then_some(wait)
}

/// "8 seconds", "4 minutes": a wait as the sign-in form says it.
pub fn describe_wait(ms: i64) -> String {
    let secs = (ms.max(1) + 999) / 1000;
    match secs {
        1 => "1 second".into(),
        s if s < 60 => format!("{s} seconds"),
        s => match (s + 59) / 60 {
            1 => "1 minute".into(),
            m => format!("{m} minutes"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(count: i64, last_at: i64) -> Failures {
        Failures {
            count,
            last_at: Some(last_at),
        }
    }

    #[test]
    fn the_first_failures_cost_nothing_then_each_one_doubles_the_wait_up_to_a_cap() {
        let waits: Vec<i64> = (0..9).map(|n| wait_after(n, 5)).collect();
        assert_eq!(waits, vec![0, 0, 0, 0, 0, 1000, 2000, 4000, 8000]);
        assert_eq!(wait_after(40, 5), MAX_WAIT_MS);
        assert_eq!(wait_after(i64::MAX, 5), MAX_WAIT_MS);
    }

    #[test]
    fn an_attempt_waits_only_until_its_last_failure_has_earned_its_wait() {
        let none = Failures::default();
        assert_eq!(must_wait(failed(4, 10_000), none, 10_001), None);
        assert_eq!(must_wait(failed(6, 10_000), none, 10_500), Some(1500));
        assert_eq!(
            must_wait(failed(6, 10_000), none, 12_000),
            None,
            "then it goes through"
        );
    }

    #[test]
    fn many_emails_from_one_client_earn_a_wait_of_their_own() {
        let none = Failures::default();
        assert_eq!(must_wait(none, failed(19, 0), 1), None);
        assert_eq!(must_wait(none, failed(21, 0), 1), Some(1999));
    }

    #[test]
    fn a_client_without_failures_never_waits() {
        assert_eq!(must_wait(Failures::default(), Failures::default(), 0), None);
    }

    #[test]
    fn waits_read_as_seconds_or_minutes() {
        assert_eq!(describe_wait(1), "1 second");
        assert_eq!(describe_wait(8_000), "8 seconds");
        assert_eq!(describe_wait(60_000), "1 minute");
        assert_eq!(describe_wait(MAX_WAIT_MS), "15 minutes");
    }
}
