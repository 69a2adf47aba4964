//! The one application state, provided to axum handlers, Leptos server functions and page
//! rendering alike.

use std::sync::Arc;

use crate::config::Settings;
use crate::metrics::Metrics;
use crate::{Clock, Db};

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub settings: Arc<Settings>,
    pub clock: Clock,
    pub metrics: Metrics,
    /// The built-in Calendly simulator when running in sandbox mode.
    pub sandbox: Option<calendly_sim::Simulator>,
}

impl AppState {
    pub fn new(db: Db, settings: Settings, clock: Clock, sandbox: Option<calendly_sim::Simulator>) -> Self {
        Self { db, settings: Arc::new(settings), clock, metrics: Metrics::default(), sandbox }
    }
}
