//! Black-box tests: a started simulator driven over HTTP with reqwest, plus a tiny receiver for
//! webhook deliveries. One binary (faster to link), one module per area.

mod callback_urls;
mod conferences;
mod consent_sessions;
mod control;
mod deliveries;
mod delivery_retries;
mod event_names;
mod event_updates;
mod helpers;
mod hosts_and_guests;
mod oauth;
mod organization_moves;
mod rate_limits;
mod scheduled_events;
mod token_responses;
mod users;
mod webhook_subscriptions;
