//! The one error type of this crate, built from the HTTP status of Calendly's answer.

use serde::{Deserialize, Serialize};

/// The start of the 403 message Calendly sends when the account's plan has no webhooks
/// (`"Please upgrade your Calendly account to Standard"`).
const PLAN_WITHOUT_WEBHOOKS: &str = "Please upgrade your Calendly account";

/// How long to wait after a 429 that carried no `X-RateLimit-Reset` header.
pub(crate) const DEFAULT_RATE_LIMIT_RESET_SECS: u64 = 60;

/// One entry of the `details` array of a 400 answer, e.g. `{"parameter":"user","message":"is missing"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    #[serde(default)]
    pub parameter: Option<String>,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub code: Option<String>,
}

/// What went wrong talking to Calendly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// 401: the access token is invalid, expired or revoked. Refresh it and try once more.
    #[error("Calendly rejected the access token: {message}")]
    Unauthorized { message: String },
    /// 403: a plan without webhooks, a missing OAuth scope, or a role that may not do this.
    #[error("Calendly refused the request ({title}): {message}")]
    Forbidden {
        title: String,
        message: String,
        required_scopes: Vec<String>,
    },
    /// 404.
    #[error("Calendly could not find the resource")]
    NotFound,
    /// 409, e.g. "Hook with this url already exists".
    #[error("Calendly reported a conflict: {message}")]
    Conflict { message: String },
    /// 400, with Calendly's per-parameter details.
    #[error("Calendly rejected the parameters: {message}")]
    InvalidArgument {
        message: String,
        details: Vec<ErrorDetail>,
    },
    /// 429; try again after `reset_secs` (from `X-RateLimit-Reset`).
    #[error("Calendly rate limit reached; retry in {reset_secs}s")]
    RateLimited { reset_secs: u64 },
    /// 5xx.
    #[error("Calendly answered with server error {status}")]
    Server { status: u16 },
    /// Any other status Calendly does not document (e.g. 405, 422).
    #[error("Calendly answered with unexpected status {status}: {message}")]
    UnexpectedStatus { status: u16, message: String },
    /// The request never got an answer: connection refused, DNS, TLS, timeout.
    #[error("could not reach Calendly: {0}")]
    Transport(String),
    /// Calendly answered, but not in the documented shape.
    #[error("could not understand Calendly's answer: {0}")]
    Decode(String),
    /// OAuth `invalid_grant`: the code or refresh token is used, expired or revoked.
    /// The only error that means "the user must connect Calendly again".
    #[error("Calendly refused the grant: {description}")]
    InvalidGrant { description: String },
    /// Any other OAuth error (`invalid_client`, `invalid_request`, …): a configuration problem.
    #[error("Calendly OAuth error {error}: {description}")]
    OAuth { error: String, description: String },
}

impl Error {
    /// Worth retrying later: the network failed, the rate limit hit, or Calendly had a 5xx.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::Transport(_) | Error::RateLimited { .. } | Error::Server { .. }
        )
    }

    /// A 403 because the account's plan does not include webhooks (Free plan).
    pub fn is_plan_without_webhooks(&self) -> bool {
        matches!(self, Error::Forbidden { message, .. } if message.starts_with(PLAN_WITHOUT_WEBHOOKS))
    }

    /// A 403 because the token lacks an OAuth scope; the user must reconnect to grant it.
    pub fn is_insufficient_scope(&self) -> bool {
        matches!(
            self,
            Error::Forbidden { title, required_scopes, .. }
                if title.eq_ignore_ascii_case("Insufficient scope") || !required_scopes.is_empty()
        )
    }

    /// The stored refresh token is dead; the user must go through OAuth again.
    pub fn is_invalid_grant(&self) -> bool {
        matches!(self, Error::InvalidGrant { .. })
    }

    /// Builds the error for a non-success API answer from its status, headers and body.
    pub(crate) fn from_api_response(
        status: u16,
        rate_limit_reset: Option<u64>,
        body: &[u8],
    ) -> Error {
        #[derive(Deserialize, Default)]
        struct Body {
            #[serde(default)]
            title: String,
            #[serde(default)]
            message: String,
            #[serde(default)]
            details: Vec<ErrorDetail>,
            #[serde(default)]
            required_scopes: Vec<String>,
        }
        let body: Body = serde_json::from_slice(body).unwrap_or_default();
        match status {
            400 => Error::InvalidArgument {
                message: body.message,
                details: body.details,
            },
            401 => Error::Unauthorized {
                message: body.message,
            },
            403 => Error::Forbidden {
                title: body.title,
                message: body.message,
                required_scopes: body.required_scopes,
            },
            404 => Error::NotFound,
            409 => Error::Conflict {
                message: body.message,
            },
            429 => Error::RateLimited {
                reset_secs: rate_limit_reset.unwrap_or(DEFAULT_RATE_LIMIT_RESET_SECS),
            },
            500.. => Error::Server { status },
            _ => Error::UnexpectedStatus {
                status,
                message: body.message,
            },
        }
    }
}

/// Reads `X-RateLimit-Reset` (seconds until the window resets).
pub(crate) fn rate_limit_reset(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    headers
        .get("x-ratelimit-reset")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

impl From<reqwest::Error> for Error {
    fn from(err: reqwest::Error) -> Self {
        // reqwest's message names the URL (never a token: those travel in headers or bodies).
        Error::Transport(err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_free_plan_403_is_recognised() {
        let err = Error::from_api_response(
            403,
            None,
            br#"{"title":"Permission Denied","message":"Please upgrade your Calendly account to Standard"}"#,
        );
        assert!(err.is_plan_without_webhooks());
        assert!(!err.is_insufficient_scope());
        assert!(!err.is_transient());
    }

    #[test]
    fn an_insufficient_scope_403_lists_the_scopes() {
        let err = Error::from_api_response(
            403,
            None,
            br#"{"title":"Insufficient scope","message":"This operation requires the scopes listed in the 'required_scopes' array.","required_scopes":["webhooks:write"]}"#,
        );
        assert!(err.is_insufficient_scope());
        assert!(!err.is_plan_without_webhooks());
        match err {
            Error::Forbidden {
                required_scopes, ..
            } => assert_eq!(required_scopes, ["webhooks:write"]),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn a_body_that_is_not_json_still_maps_by_status() {
        assert_eq!(
            Error::from_api_response(409, None, b"<html>"),
            Error::Conflict {
                message: String::new()
            }
        );
        assert_eq!(
            Error::from_api_response(502, None, b""),
            Error::Server { status: 502 }
        );
        assert_eq!(
            Error::from_api_response(429, None, b""),
            Error::RateLimited { reset_secs: 60 }
        );
    }

    #[test]
    fn transient_errors_are_transport_rate_limit_and_5xx() {
        assert!(Error::Transport("timeout".into()).is_transient());
        assert!(Error::RateLimited { reset_secs: 3 }.is_transient());
        assert!(Error::Server { status: 503 }.is_transient());
        assert!(!Error::NotFound.is_transient());
        assert!(!Error::InvalidGrant {
            description: String::new()
        }
        .is_transient());
        assert!(!Error::UnexpectedStatus {
            status: 418,
            message: String::new()
        }
        .is_transient());
    }
}
