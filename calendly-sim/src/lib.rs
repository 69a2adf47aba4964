//! A faithful local Calendly: OAuth (`/oauth/*`), API v2 (`/users`, `/webhook_subscriptions`,
//! `/scheduled_events`), and signed webhook deliveries with retries, all from one base URL.
//!
//! Behaviour follows `shared/calendly-api.md`; where Calendly is silent the simulator makes a
//! documented choice (see `SimConfig`). Tests drive it through the library methods on
//! [`Simulator`] or over HTTP under `/_sim/` (see `control.rs`).
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use calendly_sim::{Booking, NewUser, SimConfig, Simulator};
//! let sim = Simulator::start(SimConfig::default()).await?;
//! let host = sim.create_user(NewUser { name: "Dana Host".into(), email: "dana@example.com".into(), ..Default::default() });
//! let booked = sim.book(Booking { host: host.uri.clone(), ..Default::default() }).expect("booking");
//! # let _ = booked; Ok(()) }
//! ```

mod auth;
mod bookings;
mod callback_urls;
mod clock;
mod conferences;
mod config;
mod consent;
mod control;
mod deliveries;
mod errors;
mod oauth;
mod pagination;
mod rate_limits;
mod scheduled_events;
mod scopes;
mod server;
pub mod signature;
mod state;
mod subscriptions;
mod switches;
mod tokens;
mod users;
mod webhook_events;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::{watch, Notify};

pub use bookings::{BookedInvitee, Booking, Canceler};
pub use config::{SigningMode, SimConfig, UniquenessKey};
pub use deliveries::{DeliveryAttempt, FailureMode, FailureRule};
pub use errors::SimError;
pub use signature::{sign, signature_header, SIGNATURE_HEADER};
pub use subscriptions::{CreatedWith, SubscriptionScope, SubscriptionState, SubscriptionView};
pub use switches::RuntimeSwitches;
pub use tokens::IssuedTokens;
pub use users::{NewUser, Plan, Role, SimUser, UserOrigin};

use clock::Clock;
use state::State;
use switches::Switches;

/// A running simulator. Cheap to clone; every clone drives the same Calendly.
#[derive(Clone)]
pub struct Simulator {
    inner: Arc<Inner>,
}

struct Inner {
    config: SimConfig,
    /// Behaviour switches flipped at run time (initialised from `config`).
    switches: Switches,
    base_url: String,
    clock: Clock,
    state: Mutex<State>,
    /// Where delivery tasks are spawned, so sync methods like `book` can start them.
    runtime: tokio::runtime::Handle,
    http: reqwest::Client,
    /// Deliveries not yet finished (first attempt pending, or retrying).
    pending: watch::Sender<usize>,
    shutdown: Notify,
}

impl Simulator {
    /// Starts a simulator on `127.0.0.1:0` (a free port), serving in a tokio task.
    pub async fn start(config: SimConfig) -> std::io::Result<Simulator> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), config).await
    }

    /// Starts a simulator on `addr`.
    pub async fn start_on(addr: SocketAddr, config: SimConfig) -> std::io::Result<Simulator> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.delivery_timeout)
            .connect_timeout(
                config
                    .delivery_timeout
                    .min(std::time::Duration::from_secs(10)),
            )
            .no_proxy()
            .user_agent("Calendly")
            .build()
            .map_err(std::io::Error::other)?;
        let sim = Simulator {
            inner: Arc::new(Inner {
                switches: Switches::from_config(&config),
                config,
                base_url: format!("http://{local}"),
                clock: Clock::new(),
                state: Mutex::new(State::default()),
                runtime: tokio::runtime::Handle::current(),
                http,
                pending: watch::Sender::new(0),
                shutdown: Notify::new(),
            }),
        };
        let app = server::router(sim.clone());
        let stopper = sim.clone();
        tokio::spawn(async move {
            let stopped = async move { stopper.inner.shutdown.notified().await };
            if let Err(error) = axum::serve(listener, app)
                .with_graceful_shutdown(stopped)
                .await
            {
                tracing::error!(%error, "calendly simulator stopped serving");
            }
        });
        tracing::info!(base_url = %sim.base_url(), "calendly simulator listening");
        Ok(sim)
    }

    /// `http://127.0.0.1:PORT`: the auth host (`/oauth/...`) and the API host at once.
    pub fn base_url(&self) -> String {
        self.inner.base_url.clone()
    }

    /// The configuration the simulator was started with (runtime switches: `switches()`).
    pub fn config(&self) -> &SimConfig {
        &self.inner.config
    }

    /// The simulator's clock (real time plus everything passed to `advance_clock`).
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.inner.clock.now()
    }

    /// Moves the simulator's clock forward: expires codes and tokens, ages retry windows,
    /// shifts signature timestamps and `created_at` fields.
    pub fn advance_clock(&self, by: chrono::Duration) {
        self.inner.clock.advance(by);
    }

    /// Waits until no delivery is pending or retrying; false if `max` passed first.
    pub async fn wait_idle(&self, max: std::time::Duration) -> bool {
        let mut pending = self.inner.pending.subscribe();
        let idle = matches!(
            tokio::time::timeout(max, pending.wait_for(|n| *n == 0)).await,
            Ok(Ok(_))
        );
        idle
    }

    /// Stops accepting HTTP requests (deliveries already under way go on).
    pub fn shutdown(&self) {
        self.inner.shutdown.notify_one();
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// `{base}/{collection}/{id}`.
    pub(crate) fn uri(&self, collection: &str, id: &str) -> String {
        format!("{}/{collection}/{id}", self.inner.base_url)
    }

    pub(crate) fn invitee_uri(&self, event: &str, invitee: &str) -> String {
        format!(
            "{}/scheduled_events/{event}/invitees/{invitee}",
            self.inner.base_url
        )
    }
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("base_url", &self.inner.base_url)
            .finish_non_exhaustive()
    }
}
