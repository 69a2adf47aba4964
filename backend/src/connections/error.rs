//! What can go wrong connecting Calendly. The adviser reads each by its [`ConnectError::code`],
//! in the words of `app::connections::message_for_error` (the one place for them); the `Display`
//! text is for the server's log and carries the details the adviser is not shown.

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("the adviser did not grant Calendly access")]
    Denied,
    #[error("OAuth state unknown, already used, expired or another session's")]
    InvalidState,
    #[error("Calendly refused the authorization code: {0}")]
    Exchange(calendly::Error),
    #[error("Calendly could not be reached while connecting: {0}")]
    Unavailable(calendly::Error),
    /// The authorize step came back with an OAuth error other than `access_denied`.
    #[error("Calendly's authorize step answered {error}")]
    AuthorizeFailed { error: String },
    /// `/users/me` refused the new token (403).
    #[error("Calendly refused /users/me with the new token: {0}")]
    ProfileRefused(calendly::Error),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("the PKCE verifier could not be decrypted: {0}")]
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
            ConnectError::Database(_) | ConnectError::Crypto(_) => "internal",
        }
    }
}
