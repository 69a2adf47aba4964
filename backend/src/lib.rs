//! Advicly's server side, independent of HTTP and of Leptos: typed configuration, the database,
//! adviser accounts and sessions, secrets at rest and the shared application state. The axum
//! binary (`server`) and the Leptos server functions (`app` with `ssr`) both call into it.

pub mod accounts;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod db;
pub mod metrics;
pub mod sessions;
pub mod state;

pub use clock::Clock;
pub use config::Settings;
pub use db::Db;
pub use state::AppState;
