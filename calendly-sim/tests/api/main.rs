//! Black-box tests: a started simulator driven over HTTP with reqwest, plus a tiny receiver for
//! webhook deliveries. One binary (faster to link), one module per area.

mod control;
mod deliveries;
mod helpers;
mod oauth;
mod scheduled_events;
mod users;
mod webhook_subscriptions;
