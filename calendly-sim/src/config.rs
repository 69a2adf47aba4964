//! The simulated OAuth app and the knobs tests turn (retry speed, signing hypothesis, limits).

use std::fmt;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;

/// Which key signs deliveries of subscriptions created with an OAuth token.
///
/// Calendly documents one app-level key for OAuth apps; whether a `signing_key` passed on create
/// under OAuth is honoured is undocumented (calendly-api.md §4), so tests can try both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SigningMode {
    /// Always the OAuth app's webhook signing key (documented behaviour).
    #[default]
    AppKey,
    /// The `signing_key` given at create time when there was one, else the app key.
    ProvidedKeyIfAny,
}

/// What makes two webhook subscriptions "the same hook" for the 409 check.
///
/// Calendly documents (November 2026): "In one organization, subscriptions for the same user
/// cannot share a URL." That is the default; the older guesses stay selectable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UniquenessKey {
    /// One subscription per (organization, user, callback_url): colleagues may share a URL, one
    /// user may not reuse it. Organization- and group-scope hooks have no user, so two of them
    /// in one organization may not share a URL either (documented rule).
    #[default]
    OrganizationUser,
    /// One subscription per (organization, callback_url), whatever its scope or user.
    Organization,
    /// One subscription per (organization, user, scope, callback_url).
    OrganizationUserScope,
}

/// Settings of one simulator: the OAuth app's credentials and the behaviour switches.
#[derive(Clone)]
pub struct SimConfig {
    pub client_id: String,
    pub client_secret: String,
    /// The OAuth app's webhook signing key (shown once in Calendly's developer console).
    pub webhook_signing_key: String,
    /// Registered redirect URIs; empty accepts any absolute http(s) URI.
    pub redirect_uris: Vec<String>,
    pub signing_mode: SigningMode,
    pub uniqueness: UniquenessKey,
    /// Delay before the first retry of a failed delivery; doubles after each failure.
    pub retry_base: Duration,
    /// How long a subscription may fail before it becomes `disabled` (Calendly: 24 h).
    pub retry_window: Duration,
    /// Whole-request timeout of one delivery (Calendly: 15 s read timeout).
    pub delivery_timeout: Duration,
    /// API requests per user per minute on paid plans (Free plans get a tenth of it, min 1).
    pub rate_limit_per_minute: u32,
    /// Refuse callback URLs that are not public `https` (localhost, loopback, private,
    /// link-local, unspecified IPs) with a 400, as Calendly requires a public URL. Off by
    /// default so tests can use a receiver on 127.0.0.1; see
    /// `Simulator::set_require_public_callback_url`.
    pub require_public_callback_url: bool,
    /// Retries resend the first attempt's `Calendly-Webhook-Signature` unchanged (same `t`), so
    /// a retry hours later carries an old timestamp. Off by default (each attempt is signed
    /// when sent); see `Simulator::set_sign_retries_at_first_attempt`.
    pub sign_retries_at_first_attempt: bool,
}

impl Default for SimConfig {
    /// Random credentials, Calendly's documented timings and limits.
    fn default() -> Self {
        Self {
            client_id: random_token(32),
            client_secret: random_token(32),
            webhook_signing_key: random_token(32),
            redirect_uris: Vec::new(),
            signing_mode: SigningMode::AppKey,
            uniqueness: UniquenessKey::OrganizationUser,
            retry_base: Duration::from_secs(60),
            retry_window: Duration::from_secs(24 * 60 * 60),
            delivery_timeout: Duration::from_secs(15),
            rate_limit_per_minute: 500,
            require_public_callback_url: false,
            sign_retries_at_first_attempt: false,
        }
    }
}

impl fmt::Debug for SimConfig {
    /// Secrets are never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimConfig")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("webhook_signing_key", &"[redacted]")
            .field("redirect_uris", &self.redirect_uris)
            .field("signing_mode", &self.signing_mode)
            .field("uniqueness", &self.uniqueness)
            .field("retry_base", &self.retry_base)
            .field("retry_window", &self.retry_window)
            .field("delivery_timeout", &self.delivery_timeout)
            .field("rate_limit_per_minute", &self.rate_limit_per_minute)
            .field(
                "require_public_callback_url",
                &self.require_public_callback_url,
            )
            .field(
                "sign_retries_at_first_attempt",
                &self.sign_retries_at_first_attempt,
            )
            .finish()
    }
}

impl SimConfig {
    /// The default configuration with credentials taken from the environment when set:
    /// `CALENDLY_SIM_CLIENT_ID`, `CALENDLY_SIM_CLIENT_SECRET`, `CALENDLY_SIM_WEBHOOK_SIGNING_KEY`,
    /// `CALENDLY_SIM_REDIRECT_URIS` (comma-separated), `CALENDLY_SIM_SIGNING_MODE`
    /// (`app_key` | `provided_key_if_any`), and the switches `CALENDLY_SIM_REQUIRE_PUBLIC_URL`
    /// and `CALENDLY_SIM_SIGN_AT_FIRST_ATTEMPT` (`1`/`true` | `0`/`false`).
    pub fn from_env() -> Result<Self, String> {
        let mut config = Self::default();
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        if let Some(v) = var("CALENDLY_SIM_CLIENT_ID") {
            config.client_id = v;
        }
        if let Some(v) = var("CALENDLY_SIM_CLIENT_SECRET") {
            config.client_secret = v;
        }
        if let Some(v) = var("CALENDLY_SIM_WEBHOOK_SIGNING_KEY") {
            config.webhook_signing_key = v;
        }
        if let Some(v) = var("CALENDLY_SIM_REDIRECT_URIS") {
            config.redirect_uris = v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
        }
        if let Some(v) = var("CALENDLY_SIM_SIGNING_MODE") {
            config.signing_mode = match v.as_str() {
                "app_key" => SigningMode::AppKey,
                "provided_key_if_any" => SigningMode::ProvidedKeyIfAny,
                other => {
                    return Err(format!(
                        "CALENDLY_SIM_SIGNING_MODE must be app_key or provided_key_if_any, not {other:?}"
                    ))
                }
            };
        }
        if let Some(v) = var("CALENDLY_SIM_REQUIRE_PUBLIC_URL") {
            config.require_public_callback_url = flag("CALENDLY_SIM_REQUIRE_PUBLIC_URL", &v)?;
        }
        if let Some(v) = var("CALENDLY_SIM_SIGN_AT_FIRST_ATTEMPT") {
            config.sign_retries_at_first_attempt = flag("CALENDLY_SIM_SIGN_AT_FIRST_ATTEMPT", &v)?;
        }
        Ok(config)
    }
}

/// An on/off environment variable: `1`/`true`/`yes`/`on` or `0`/`false`/`no`/`off`.
fn flag(name: &str, raw: &str) -> Result<bool, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        other => Err(format!("{name} must be 1 or 0, not {other:?}")),
    }
}

/// `bytes` random bytes as unpadded base64url, the shape of Calendly's keys and client ids.
pub(crate) fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// `bytes` random bytes as lowercase hex (authorization codes, refresh tokens).
pub(crate) fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

/// A fresh v4 UUID as text.
pub(crate) fn new_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switch_variables_accept_one_and_zero_and_refuse_anything_else() {
        assert_eq!(flag("X", "1"), Ok(true));
        assert_eq!(flag("X", " TRUE "), Ok(true));
        assert_eq!(flag("X", "0"), Ok(false));
        assert!(flag("X", "maybe").is_err());
    }

    #[test]
    fn the_default_uniqueness_is_per_organization_and_user() {
        assert_eq!(
            SimConfig::default().uniqueness,
            UniquenessKey::OrganizationUser
        );
    }
}
