//! Advicly's server side, independent of HTTP and of Leptos: typed configuration, the database,
//! adviser accounts and sessions, Calendly connections, webhooks, meetings, sync and the live
//! change bus. The axum binary (`server`) and the Leptos server functions (`app` with `ssr`)
//! both call into it.

pub mod accounts;
pub mod calendly_app;
pub mod clock;
pub mod config;
pub mod connections;
pub mod crypto;
pub mod db;
pub mod jobs;
pub mod limits;
pub mod live;
pub mod live_slots;
pub mod locks;
pub mod meetings;
pub mod metrics;
pub mod net;
pub mod sessions;
pub mod sign_in_throttle;
pub mod state;
pub mod sync;
pub mod time_zone;
pub mod webhooks;

pub use clock::Clock;
pub use config::Settings;
pub use db::Db;
pub use state::AppState;
