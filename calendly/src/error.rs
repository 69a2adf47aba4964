//! The one error type of this crate, built from the HTTP status of Calendly's answer.

use serde::{Deserialize, Serialize};

/// The 403 messages Calendly sends when the account's plan lacks the feature asked for: today's
/// (since November 2026, only for events a Free plan cannot have, e.g. routing forms) and the
/// older one (`"Please upgrade your Calendly account to Standard"`).
const PLAN_REFUSALS: [&str; 2] = [
    "Please upgrade to a paid Calendly account",
    "Please upgrade your Calendly account",
];

/// How long to wait after a 429 that carried no `X-RateLimit-Reset` header.
pub(crate) const DEFAULT_RATE_LIMIT_RESET_SECS: u64 = 60;

/// One entry of the `details` array of a 400 answer, e.g. `{"parameter":"user","message":"is missing"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    #[serde(default)]
    pub parameter: Option<String>,
    #[serde(default, deserialize_with = "crate::lenient::null_default")]
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

    /// A 403 because the account's plan does not include what was asked for (Calendly says
    /// "Please upgrade to a paid Calendly account."). Any other 403 is a different refusal.
    pub fn is_plan_refusal(&self) -> bool {
        matches!(self, Error::Forbidden { message, .. }
            if PLAN_REFUSALS.iter().any(|prefix| message.trim_start().starts_with(prefix)))
    }

    /// A 400 whose `details` name this parameter (e.g. `url` for a callback URL Calendly will
    /// not call).
    pub fn is_invalid_parameter(&self, parameter: &str) -> bool {
        matches!(self, Error::InvalidArgument { details, .. }
            if details.iter().any(|d| d.parameter.as_deref() == Some(parameter)))
    }

    /// The `details` of a 400 as one line, e.g. `url: must be a publicly reachable https URL`.
    pub fn details_text(&self) -> Option<String> {
        let Error::InvalidArgument { details, .. } = self else {
            return None;
        };
        let parts: Vec<String> = details
            .iter()
            .map(|d| match &d.parameter {
                Some(parameter) => format!("{parameter}: {}", d.message),
                None => d.message.clone(),
            })
            .collect();
        (!parts.is_empty()).then(|| parts.join("; "))
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
            #[serde(default, deserialize_with = "crate::lenient::null_default")]
            title: String,
            #[serde(default, deserialize_with = "crate::lenient::null_default")]
            message: String,
            #[serde(default, deserialize_with = "crate::lenient::lenient_vec")]
            details: Vec<ErrorDetail>,
            #[serde(default, deserialize_with = "crate::lenient::lenient_vec")]
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

/// The `X-RateLimit-*` headers Calendly puts on every API answer: the per-user budget, which
/// the user's other integrations share (calendly-api.md §0, §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the window resets.
    pub reset_secs: u64,
}

impl RateLimit {
    pub(crate) fn from_headers(headers: &reqwest::header::HeaderMap) -> Option<RateLimit> {
        let number =
            |name: &str| -> Option<u64> { headers.get(name)?.to_str().ok()?.trim().parse().ok() };
        Some(RateLimit {
            limit: u32::try_from(number("x-ratelimit-limit")?).ok()?,
            remaining: u32::try_from(number("x-ratelimit-remaining")?).ok()?,
            reset_secs: clamp_reset(
                number("x-ratelimit-reset").unwrap_or(DEFAULT_RATE_LIMIT_RESET_SECS),
            ),
        })
    }
}

/// Calendly's windows are a minute; a reset beyond an hour is not believed (it would silence an
/// adviser's sync for that long, and a huge number would overflow time arithmetic).
pub const MAX_RATE_LIMIT_RESET_SECS: u64 = 3600;

fn clamp_reset(secs: u64) -> u64 {
    secs.clamp(1, MAX_RATE_LIMIT_RESET_SECS)
}

/// Reads `X-RateLimit-Reset` (seconds until the window resets), clamped to a sane range.
pub(crate) fn rate_limit_reset(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    headers
        .get("x-ratelimit-reset")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
        .map(clamp_reset)
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
    fn todays_plan_refusal_is_recognised_and_other_403s_are_not() {
        let plan = Error::from_api_response(
            403,
            None,
            br#"{"title":"Permission Denied","message":"Please upgrade to a paid Calendly account."}"#,
        );
        assert!(plan.is_plan_refusal());
        let role = Error::from_api_response(
            403,
            None,
            br#"{"title":"Permission Denied","message":"You do not have permission"}"#,
        );
        assert!(!role.is_plan_refusal());
    }

    #[test]
    fn an_absurd_rate_limit_reset_is_clamped() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("x-ratelimit-reset", "18446744073709551615".parse().unwrap());
        headers.insert("x-ratelimit-limit", "500".parse().unwrap());
        headers.insert("x-ratelimit-remaining", "0".parse().unwrap());
        assert_eq!(rate_limit_reset(&headers), Some(MAX_RATE_LIMIT_RESET_SECS));
        assert_eq!(
            RateLimit::from_headers(&headers).unwrap().reset_secs,
            MAX_RATE_LIMIT_RESET_SECS
        );
        headers.insert("x-ratelimit-reset", "0".parse().unwrap());
        assert_eq!(rate_limit_reset(&headers), Some(1));
    }

    #[test]
    fn a_400_names_the_parameter_it_is_about() {
        let err = Error::from_api_response(
            400,
            None,
            br#"{"title":"Invalid Argument","message":"The supplied parameters are invalid.","details":[{"parameter":"url","message":"must be a publicly reachable https URL"}]}"#,
        );
        assert!(err.is_invalid_parameter("url"));
        assert!(!err.is_invalid_parameter("user"));
        assert_eq!(
            err.details_text().as_deref(),
            Some("url: must be a publicly reachable https URL")
        );
    }

    #[test]
    fn a_free_plan_403_is_recognised() {
        let err = Error::from_api_response(
            403,
            None,
            br#"{"title":"Permission Denied","message":"Please upgrade your Calendly account to Standard"}"#,
        );
        assert!(err.is_plan_refusal());
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
        assert!(!err.is_plan_refusal());
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
