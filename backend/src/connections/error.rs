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
            ConnectError::NotConfigured => "config",
            ConnectError::Database(_) | ConnectError::Crypto(_) => "internal",
        }
    }
}
