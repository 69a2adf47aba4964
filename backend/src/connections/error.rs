//! What can go wrong connecting Calendly, in the words the adviser reads.

/// Why connecting did not work. The `Display` text is shown to the adviser.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("Calendly access was not granted, so nothing was connected.")]
    Denied,
    #[error("This connection attempt has expired or was already used. Click Connect Calendly to try again.")]
    InvalidState,
    #[error("Calendly did not accept the authorization (it may have expired). Click Connect Calendly to try again.")]
    Exchange(calendly::Error),
    #[error("Calendly could not be reached. Please try again in a moment.")]
    Unavailable(calendly::Error),
    /// The authorize step came back with an OAuth error other than `access_denied`.
    #[error("Calendly could not authorize Advicly ({error}). Please try again; if it keeps happening, the server's Calendly app settings need attention.")]
    AuthorizeFailed { error: String },
    /// `/users/me` refused the new token (403).
    #[error("Calendly did not let Advicly read your Calendly profile, so nothing was connected. Check that your Calendly user may use connected apps, then try again.")]
    ProfileRefused(calendly::Error),
    #[error("Calendly is not configured on this server.")]
    NotConfigured,
    #[error("Something went wrong on our side. Please try again.")]
    Database(#[from] sqlx::Error),
    #[error("Something went wrong on our side. Please try again.")]
    Crypto(#[from] crate::crypto::DecryptError),
}

impl ConnectError {
    /// A short code for the redirect back to the page (`?error=…`).
    pub fn code(&self) -> &'static str {
        match self {
            ConnectError::Denied => "denied",
            ConnectError::InvalidState => "state",
            ConnectError::Exchange(_) => "exchange",
            ConnectError::Unavailable(_) => "unavailable",
            ConnectError::AuthorizeFailed { error } if error == "invalid_scope" => "scope",
            ConnectError::AuthorizeFailed { .. } => "authorize",
            ConnectError::ProfileRefused(_) => "profile",
            ConnectError::NotConfigured => "config",
            ConnectError::Database(_) | ConnectError::Crypto(_) => "internal",
        }
    }
}
