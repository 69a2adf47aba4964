//! Behaviour switches tests flip while the simulator runs (the `SimConfig` is fixed at start).

use std::sync::atomic::{AtomicBool, Ordering};

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
}

/// The switches behind the simulator's shared state; lock-free so any path may read them.
pub(crate) struct Switches {
    require_public_callback_url: AtomicBool,
    sign_retries_at_first_attempt: AtomicBool,
    minimal_refresh_responses: AtomicBool,
}

impl Switches {
    /// Starts from the configuration's values (minimal refresh responses start off).
    pub(crate) fn from_config(config: &SimConfig) -> Self {
        Self {
            require_public_callback_url: AtomicBool::new(config.require_public_callback_url),
            sign_retries_at_first_attempt: AtomicBool::new(config.sign_retries_at_first_attempt),
            minimal_refresh_responses: AtomicBool::new(false),
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
}
