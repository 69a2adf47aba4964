//! Builds the application from settings: database, Calendly (or the sandbox simulator), router,
//! background jobs; binds; runs.

use std::net::SocketAddr;

use axum::Router;
use backend::{AppState, Clock, Db, Settings};
use http::{header, HeaderValue};
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tokio::net::TcpListener;
use tower_http::compression::CompressionLayer;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::server_state::ServerState;
use crate::{assets, csp, middleware, routes, sandbox};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("could not listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("sandbox Calendly simulator: {0}")]
    Sandbox(std::io::Error),
}

pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        Self::build_with_clock(settings, Clock::default()).await
    }

    /// As [`Application::build`], with a clock tests can move.
    pub async fn build_with_clock(
        mut settings: Settings,
        clock: Clock,
    ) -> Result<Self, StartupError> {
        let listener = TcpListener::bind(settings.site_addr)
            .await
            .map_err(|source| StartupError::Bind {
                addr: settings.site_addr,
                source,
            })?;
        let local = listener.local_addr().map_err(|source| StartupError::Bind {
            addr: settings.site_addr,
            source,
        })?;
        // With port 0 the real port is known only now; keep callback URLs pointing at it.
        if settings.site_addr.port() == 0 {
            settings.site_addr = local;
            if settings.public_url.port_or_known_default() == Some(0)
                || settings.public_url.port() == Some(0)
            {
                let _ = settings.public_url.set_port(Some(local.port()));
            }
        }
        let db = Db::connect(&settings.database_url).await?;
        let simulator = if settings.is_sandbox() {
            Some(
                sandbox::start(&mut settings)
                    .await
                    .map_err(StartupError::Sandbox)?,
            )
        } else {
            None
        };
        let state = AppState::new(db, settings, clock);
        let sandbox = simulator
            .map(|sim| app::sandbox::Sandbox(std::sync::Arc::new(sandbox::SimulatedInvitee(sim))));
        let router = router(state.clone(), sandbox);
        Ok(Self {
            listener,
            router,
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let addr = self.listener.local_addr()?;
        let _listener = self.state.live.spawn_listener(&self.state.db);
        let _jobs = backend::jobs::spawn(self.state.clone());
        tracing::info!(%addr, public_url = %self.state.settings.public_url, sandbox = self.state.settings.is_sandbox(), "Advicly is listening");
        crate::serve::serve(self.listener, self.router, shutdown_signal()).await
    }
}

/// The built-in site options when there is no `Leptos.toml` (a test checks they equal it).
pub const OUTPUT_NAME: &str = "advicly";
pub const SITE_PKG_DIR: &str = "pkg";

/// The Leptos site options: `Leptos.toml` (or the file `LEPTOS_CONFIG` names) with `LEPTOS_*`
/// variables layered over it; without the file, the same values built in. The listen address is
/// always the resolved one (port 0 becomes the real port).
fn leptos_options(settings: &Settings) -> LeptosOptions {
    let path = settings.leptos_config.as_str();
    let from_file = match leptos::config::get_configuration(Some(path)) {
        Ok(conf) => Some(conf.leptos_options),
        Err(leptos::config::errors::LeptosConfigError::ConfigNotFound) => None,
        Err(err) => {
            tracing::warn!(path = %path, error = %err, "Leptos.toml could not be read; using built-in site options");
            None
        }
    };
    let mut options = from_file.unwrap_or_else(|| {
        LeptosOptions::builder()
            .output_name(OUTPUT_NAME)
            .site_root(settings.site_root.as_str())
            .site_pkg_dir(SITE_PKG_DIR)
            .site_addr(settings.site_addr)
            .build()
    });
    options.site_addr = settings.site_addr;
    options
}

/// The whole router; `sandbox` is the simulated Calendly the sandbox page books with (sandbox
/// mode only).
pub fn router(state: AppState, sandbox: Option<app::sandbox::Sandbox>) -> Router {
    let leptos_options = leptos_options(&state.settings);
    let server_state = ServerState {
        leptos_options: leptos_options.clone(),
        app: state.clone(),
    };
    let leptos_routes = generate_route_list(app::App);
    let context_state = state.clone();
    let secure = state.settings.secure_cookies();
    let pkg = assets::router(
        &leptos_options.site_root,
        &leptos_options.site_pkg_dir,
        leptos_options.hash_files,
    );
    Router::new()
        .nest_service(&format!("/{}", leptos_options.site_pkg_dir), pkg)
        .leptos_routes_with_context(
            &server_state,
            leptos_routes,
            move || {
                provide_context(context_state.clone());
                if let Some(sandbox) = &sandbox {
                    provide_context(sandbox.clone());
                }
                csp::provide_nonce_from_request();
            },
            {
                let options = leptos_options.clone();
                move || app::shell(options.clone())
            },
        )
        .fallback(leptos_axum::file_and_error_handler_with_context::<
            ServerState,
            _,
        >(csp::provide_nonce_from_request, app::shell))
        // Pages and server-function answers compressed as they are sent (brotli or gzip, as the
        // browser takes them); `/pkg` files come precompressed. The plain routes merged below
        // (the live stream, Calendly's webhooks, OAuth, health) are left alone: an event stream
        // must not wait in a compressor's buffer, and each open stream would carry a compressor's
        // state for as long as the page is open.
        .layer(axum::middleware::from_fn(
            middleware::server_fn_error_status,
        ))
        .layer(CompressionLayer::new())
        .merge(routes::router())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::guard_pages,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::refuse_cross_site,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            csp::content_security_policy,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::track_requests,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state,
            middleware::identify_client,
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        // Served over https: browsers must never fall back to plain http for this site.
        .layer(tower::util::option_layer(secure.then(|| {
            SetResponseHeaderLayer::if_not_present(
                header::STRICT_TRANSPORT_SECURITY,
                HeaderValue::from_static("max-age=31536000; includeSubDomains"),
            )
        })))
        .with_state(server_state)
}

/// Ctrl-C or SIGTERM (what process managers and orchestrators send): finish in-flight requests.
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}
