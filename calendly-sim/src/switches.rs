//! Behaviour switches tests flip while the simulator runs (the `SimConfig` is fixed at start).

use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::SimConfig;
use crate::Simulator;

/// The current runtime switches, as `GET /_sim/switches` shows them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeSwitches {
    /// Create refuses callback URLs that are not public `https` (400).
    pub require_public_callback_url: bool,
    /// Retries resend the first attempt's signature header (same `t`).
    pub sign_retries_at_first_attempt: bool,
    /// A successful refresh answers only `access_token`, `refresh_token`, `token_type`,
    /// `created_at` and `scope` (no `owner`, `organization`, `expires_in`).
    pub minimal_refresh_responses: bool,
    /// Every API and token request waits this long before it is handled (a slow Calendly).
    pub api_delay_ms: u64,
    /// Every API and token request is answered with this status (a failing Calendly).
    pub api_failure_status: Option<u16>,
    /// Token requests only (`/oauth/token`) wait this long, after the request is read and
    /// before it is handled: a client that gives up meanwhile still spends its refresh token.
    pub token_delay_ms: u64,
}

/// The switches behind the simulator's shared state; lock-free so any path may read them.
pub(crate) struct Switches {
    require_public_callback_url: AtomicBool,
    sign_retries_at_first_attempt: AtomicBool,
    minimal_refresh_responses: AtomicBool,
    api_delay_ms: AtomicU64,
    /// 0: none.
    api_failure_status: AtomicU16,
    token_delay_ms: AtomicU64,
}

impl Switches {
    /// Starts from the configuration's values (minimal refresh responses start off).
    pub(crate) fn from_config(config: &SimConfig) -> Self {
        Self {
            require_public_callback_url: AtomicBool::new(config.require_public_callback_url),
            sign_retries_at_first_attempt: AtomicBool::new(config.sign_retries_at_first_attempt),
            minimal_refresh_responses: AtomicBool::new(false),
            api_delay_ms: AtomicU64::new(0),
            api_failure_status: AtomicU16::new(0),
            token_delay_ms: AtomicU64::new(0),
        }
    }
}

impl Simulator {
    /// The switches as they are now.
    pub fn switches(&self) -> RuntimeSwitches {
        let s = &self.inner.switches;
        RuntimeSwitches {
            require_public_callback_url: s.require_public_callback_url.load(Ordering::SeqCst),
            sign_retries_at_first_attempt: s.sign_retries_at_first_attempt.load(Ordering::SeqCst),
            minimal_refresh_responses: s.minimal_refresh_responses.load(Ordering::SeqCst),
            api_delay_ms: s.api_delay_ms.load(Ordering::SeqCst),
            api_failure_status: match s.api_failure_status.load(Ordering::SeqCst) {
                0 => None,
                code => Some(code),
            },
            token_delay_ms: s.token_delay_ms.load(Ordering::SeqCst),
        }
    }

    /// Turns the strict public-URL check of `POST /webhook_subscriptions` on or off.
    pub fn set_require_public_callback_url(&self, on: bool) {
        self.inner
            .switches
            .require_public_callback_url
            .store(on, Ordering::SeqCst);
    }

    /// When on, every retry carries exactly the first attempt's `Calendly-Webhook-Signature`.
    pub fn set_sign_retries_at_first_attempt(&self, on: bool) {
        self.inner
            .switches
            .sign_retries_at_first_attempt
            .store(on, Ordering::SeqCst);
    }

    /// When on, refresh-token grants answer without `owner`, `organization` and `expires_in`
    /// (the old refresh token is still revoked at once).
    pub fn set_minimal_refresh_responses(&self, on: bool) {
        self.inner
            .switches
            .minimal_refresh_responses
            .store(on, Ordering::SeqCst);
    }

    /// Token requests wait `delay` before they are handled (`ZERO` turns it off).
    pub fn set_token_delay(&self, delay: Duration) {
        self.inner
            .switches
            .token_delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// Makes Calendly slow (`delay` before each API and token request is handled) and/or
    /// failing (every such request answered `status`, e.g. 500); `ZERO`/`None` turn it off.
    pub fn set_api_fault(&self, delay: Duration, status: Option<u16>) {
        let s = &self.inner.switches;
        s.api_delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
        s.api_failure_status
            .store(status.unwrap_or(0), Ordering::SeqCst);
    }
}
