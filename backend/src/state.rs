//! The one application state, provided to axum handlers, Leptos server functions and page
//! rendering alike.

use std::sync::Arc;

use crate::calendly_app::CalendlyApp;
use crate::config::{Settings, MAX_STREAMS_PER_SESSION};
use crate::limits::CalendlyLimits;
use crate::live::LiveBus;
use crate::live_slots::StreamSlots;
use crate::locks::KeyedLocks;
use crate::metrics::Metrics;
use crate::{Clock, Db};

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub settings: Arc<Settings>,
    pub clock: Clock,
    pub metrics: Metrics,
    /// Shared, so cloning the state (every request does) copies no strings.
    pub calendly: Arc<CalendlyApp>,
    pub live: LiveBus,
    /// Token refreshes, one at a time per adviser.
    pub locks: KeyedLocks,
    /// Subscription checks and repairs, one at a time per adviser.
    pub subscription_locks: KeyedLocks,
    /// Calendly's rate limits, per adviser.
    pub limits: CalendlyLimits,
    /// Open live streams, per instance and per session.
    pub streams: StreamSlots,
    /// Refused deliveries noted in the delivery log, per adviser per minute.
    pub refusal_notes: crate::webhooks::RefusalNotes,
}

impl AppState {
    /// `settings.calendly` must be set (sandbox mode fills it in with the simulator's).
    pub fn new(db: Db, settings: Settings, clock: Clock) -> Self {
        let calendly = CalendlyApp::new(
            settings
                .calendly
                .as_ref()
                .expect("Calendly settings are resolved before the state is built"),
            &settings,
        );
        let streams = StreamSlots::new(settings.max_live_streams, MAX_STREAMS_PER_SESSION);
        Self {
            db,
            settings: Arc::new(settings),
            clock,
            metrics: Metrics::default(),
            calendly: Arc::new(calendly),
            live: LiveBus::default(),
            locks: KeyedLocks::default(),
            subscription_locks: KeyedLocks::default(),
            limits: CalendlyLimits::default(),
            refusal_notes: Default::default(),
            streams,
        }
    }
}
