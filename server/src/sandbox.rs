//! Sandbox mode: with no Calendly credentials, the built-in simulator plays Calendly so the whole
//! flow works with one command and no Calendly account.

use std::net::SocketAddr;

use app::sandbox::{NewBooking, SandboxCalendly};
use backend::config::CalendlySettings;
use backend::Settings;
use calendly_sim::{Booking, Canceler, SimConfig, Simulator};

/// The simulator listens on loopback only, next to the app's port (port + 100) when that port is
/// free, else on any free loopback port. Its control API (`/_sim/*`: the signing key, the client
/// secret, every delivery) must never be reachable from another machine.
pub async fn start(settings: &mut Settings) -> std::io::Result<Simulator> {
    let config = SimConfig::default();
    if !settings.site_addr.ip().is_loopback() {
        tracing::warn!(
            addr = %settings.site_addr,
            "SANDBOX MODE ON A NON-LOOPBACK ADDRESS: anyone who can reach this server can sign up and use the simulated Calendly. \
             Sandbox mode is for trying Advicly on your own machine; configure CALENDLY_CLIENT_ID for real use."
        );
    }
    let preferred = SocketAddr::new(
        std::net::Ipv4Addr::LOCALHOST.into(),
        settings.site_addr.port().wrapping_add(100),
    );
    let simulator = match (settings.site_addr.port() != 0).then_some(preferred) {
        Some(addr) => match Simulator::start_on(addr, config.clone()).await {
            Ok(sim) => sim,
            Err(_) => Simulator::start(config).await?,
        },
        None => Simulator::start(config).await?,
    };
    let base = url::Url::parse(&simulator.base_url()).map_err(std::io::Error::other)?;
    settings.calendly = Some(CalendlySettings {
        client_id: simulator.config().client_id.clone(),
        client_secret: calendly::secrets::ClientSecret::new(
            simulator.config().client_secret.clone(),
        ),
        webhook_signing_key: calendly::secrets::SigningKey::new(
            simulator.config().webhook_signing_key.clone(),
        ),
        previous_webhook_signing_key: None,
        auth_url: base.clone(),
        api_url: base,
    });
    tracing::info!(calendly = %simulator.base_url(), "sandbox mode: using the built-in Calendly simulator");
    Ok(simulator)
}

/// The sandbox page's invitee actions, played on the simulator.
pub struct SimulatedInvitee(pub Simulator);

impl SandboxCalendly for SimulatedInvitee {
    fn book(&self, booking: NewBooking) -> Result<(), String> {
        self.0
            .book(Booking {
                host: booking.host_uri,
                event_name: Some(booking.title),
                start_time: booking.start_time,
                duration_minutes: booking.minutes,
                invitee_name: booking.invitee_name,
                invitee_email: booking.invitee_email,
                timezone: booking.timezone,
                ..Default::default()
            })
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn cancel(&self, invitee_uri: &str, reason: Option<String>) -> Result<(), String> {
        self.0
            .cancel(invitee_uri, Canceler::Invitee, reason)
            .map_err(|e| e.to_string())
    }

    fn reschedule(
        &self,
        invitee_uri: &str,
        start: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), String> {
        self.0
            .reschedule(invitee_uri, start)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}
