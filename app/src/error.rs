//! The error every server function returns. Messages for 4xx say what to do; 5xx details are
//! logged on the server and never shown.

use leptos::prelude::{FromServerFnError, ServerFnErrorErr};
use leptos::server_fn::codec::JsonEncoding;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    /// Input the adviser can fix; the message says how.
    #[error("{0}")]
    Invalid(String),
    #[error("Please sign in to continue.")]
    Unauthorized,
    #[error("That was not found.")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    TooManyRequests(String),
    /// Calendly (or another service we depend on) is unavailable right now.
    #[error("{0}")]
    Unavailable(String),
    #[error("Something went wrong on our side. Please try again.")]
    Internal,
    #[error("The request could not be completed: {0}")]
    ServerFn(ServerFnErrorErr),
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        AppError::ServerFn(value)
    }
}

#[cfg(feature = "ssr")]
impl AppError {
    pub fn status(&self) -> http::StatusCode {
        use http::StatusCode;
        match self {
            AppError::Invalid(_) => StatusCode::BAD_REQUEST,
            AppError::Unauthorized => StatusCode::UNAUTHORIZED,
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal | AppError::ServerFn(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Logs server-side details and returns the generic error.
    pub fn internal(err: impl std::fmt::Display) -> Self {
        tracing::error!(error = %err, "internal error");
        AppError::Internal
    }
}

/// A database failure is ours, never the adviser's to fix: logged, shown as the generic error.
#[cfg(feature = "ssr")]
impl From<sqlx::Error> for AppError {
    fn from(err: sqlx::Error) -> Self {
        AppError::internal(err)
    }
}

#[cfg(feature = "ssr")]
impl From<backend::accounts::AccountError> for AppError {
    fn from(err: backend::accounts::AccountError) -> Self {
        use backend::accounts::AccountError as E;
        match err {
            E::InvalidEmail | E::PasswordTooShort | E::PasswordTooLong | E::UnknownTimeZone => {
                AppError::Invalid(err.to_string())
            }
            E::EmailTaken => AppError::Conflict(err.to_string()),
            E::InvalidCredentials => AppError::Invalid(err.to_string()),
            E::Throttled { .. } => AppError::TooManyRequests(err.to_string()),
            E::Busy => AppError::Unavailable(err.to_string()),
            E::Database(_) | E::Hashing(_) => AppError::internal(err),
        }
    }
}
