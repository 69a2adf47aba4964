//! Advicly's OAuth app at Calendly: the OAuth client, the API client and the webhook signing
//! key, built once from the configuration.

use std::time::Duration;

use calendly::oauth::{CalendlyOAuth, OAuthSettings};
use calendly::secrets::SigningKey;

use crate::config::{CalendlySettings, Settings};

/// The path every adviser's webhook callback URL starts with; the route token follows.
pub const WEBHOOK_PATH: &str = "/api/calendly/webhook";
pub const OAUTH_CALLBACK_PATH: &str = "/api/calendly/oauth/callback";

#[derive(Clone, Debug)]
pub struct CalendlyApp {
    pub oauth: CalendlyOAuth,
    pub api: calendly::Client,
    /// Signs every webhook delivery of this OAuth app (calendly-api.md §4); also sent as
    /// `signing_key` when a subscription is created.
    pub signing_key: SigningKey,
    /// The key being retired during a rotation: deliveries signed with it still verify.
    pub previous_signing_key: Option<SigningKey>,
}

impl CalendlyApp {
    /// Every key a genuine delivery may be signed with, current first.
    pub fn verifying_keys(&self) -> impl Iterator<Item = &SigningKey> {
        std::iter::once(&self.signing_key).chain(self.previous_signing_key.as_ref())
    }
}

impl CalendlyApp {
    pub fn new(calendly: &CalendlySettings, settings: &Settings) -> Self {
        let http = calendly::http_client(Duration::from_secs(20));
        let redirect_url = url::Url::parse(&settings.public_link(OAUTH_CALLBACK_PATH))
            .expect("public URL is valid");
        let oauth = CalendlyOAuth::new(
            OAuthSettings {
                client_id: calendly.client_id.clone(),
                client_secret: calendly.client_secret.clone(),
                auth_base_url: calendly.auth_url.clone(),
                redirect_url,
            },
            http.clone(),
        );
        Self {
            oauth,
            api: calendly::Client::new(calendly.api_url.clone(), http),
            signing_key: calendly.webhook_signing_key.clone(),
            previous_signing_key: calendly.previous_webhook_signing_key.clone(),
        }
    }
}
