//! One adviser's Calendly for the length of one flow (a sync, an ensure, a page's read): every
//! call reads the stored token afresh (so a disconnect, a reconnect with another account or a
//! "needs reconnect" stops a running flow at its next call), refreshes it once on a 401
//! (single-flight, see [`super::tokens`]), and respects Calendly's rate limit.

use std::future::Future;

use calendly::secrets::AccessToken;

use super::tokens::{access_token, refresh_rejected, TokenError};
use crate::accounts::AdviserId;
use crate::AppState;

/// See the module: obtained with [`calendly_for`].
pub struct AdviserCalendly<'a> {
    state: &'a AppState,
    adviser: AdviserId,
}

/// The adviser's Calendly, for one flow.
pub fn calendly_for(state: &AppState, adviser: AdviserId) -> AdviserCalendly<'_> {
    AdviserCalendly { state, adviser }
}

impl AdviserCalendly<'_> {
    pub fn adviser(&self) -> AdviserId {
        self.adviser
    }

    /// Calendly's API client, for the calls passed to [`AdviserCalendly::call`].
    pub fn api(&self) -> &calendly::Client {
        &self.state.calendly.api
    }

    /// Runs `call` with the adviser's token; on a 401 refreshes once and retries. After a 429
    /// no call for this adviser is made until Calendly's reset.
    pub async fn call<T, F, Fut>(&self, call: F) -> Result<T, TokenError>
    where
        F: Fn(AccessToken) -> Fut,
        Fut: Future<Output = Result<T, calendly::Error>>,
    {
        let (state, adviser) = (self.state, self.adviser);
        if let Some(reset_secs) = state.limits.wait_secs(adviser.0, state.clock.now_ms()) {
            return Err(calendly::Error::RateLimited { reset_secs }.into());
        }
        // Read every time, never kept: the connection's status is checked at each call.
        let token = access_token(state, adviser).await?;
        let used = token.expose_secret().to_owned();
        let result = match call(token).await {
            Err(calendly::Error::Unauthorized { .. }) => {
                let token = refresh_rejected(state, adviser, &used).await?;
                call(token).await
            }
            other => other,
        };
        if let Err(calendly::Error::RateLimited { reset_secs }) = &result {
            self.rate_limited(*reset_secs);
        }
        Ok(result?)
    }

    fn rate_limited(&self, reset_secs: u64) {
        let state = self.state;
        state
            .limits
            .rate_limited(self.adviser.0, state.clock.now_ms(), reset_secs);
        state.metrics.inc(
            "calendly_rate_limited_total",
            "Calendly 429 answers (calls then wait for the reset).",
            &[],
        );
        tracing::warn!(
            user_id = self.adviser.0,
            reset_secs,
            "Calendly rate limit reached; backing off"
        );
    }
}
