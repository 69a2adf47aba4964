//! Every error body the simulator sends is built here (calendly-api.md §1.6, §1.7, §3.6):
//! API errors are `{title, message, details?}`, OAuth errors `{error, error_description}`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

/// 403 message: caller is not an admin/owner, or not the user concerned.
pub(crate) const NO_ACCESS: &str = "You do not have permission to access this resource.";
/// 403 message: the organization is not the caller's.
pub(crate) const NOT_YOUR_ORGANIZATION: &str = "You do not have permission";
/// 403 message: an admin asked for another member's events without `organization`.
pub(crate) const ALSO_SPECIFY_ORGANIZATION: &str =
    "Please also specify organization when requesting events for a user within your organization.";
/// 403 message: the user asked about is in another organization.
pub(crate) const USER_NOT_IN_ORGANIZATION: &str = "This user is not in your organization";
/// 403 message on invitee endpoints.
pub(crate) const NOT_ALLOWED_TO_VIEW_EVENT: &str = "You are not allowed to view this event";

/// 401 messages.
pub(crate) const TOKEN_INVALID: &str = "The access token is invalid";
pub(crate) const TOKEN_EXPIRED: &str = "The access token expired";
pub(crate) const TOKEN_REVOKED: &str = "The access token was revoked";

/// One entry of an API error's `details`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct Detail {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameter: Option<String>,
    pub message: String,
}

impl Detail {
    /// `{"parameter": p, "message": "is missing"}`.
    pub(crate) fn missing(parameter: &str) -> Self {
        Self {
            parameter: Some(parameter.to_string()),
            message: "is missing".to_string(),
        }
    }

    pub(crate) fn invalid(parameter: &str, message: &str) -> Self {
        Self {
            parameter: Some(parameter.to_string()),
            message: message.to_string(),
        }
    }
}

/// An API (api.calendly.com) error response.
#[derive(Clone, Debug)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub title: String,
    pub message: String,
    pub details: Vec<Detail>,
    pub required_scopes: Vec<String>,
}

#[derive(Serialize)]
struct ApiErrorBody {
    title: String,
    message: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    details: Vec<Detail>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    required_scopes: Vec<String>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, title: &str, message: &str) -> Self {
        Self {
            status,
            title: title.into(),
            message: message.into(),
            details: Vec::new(),
            required_scopes: Vec::new(),
        }
    }

    /// 400 Invalid Argument / "The supplied parameters are invalid." with `details` when any.
    pub(crate) fn invalid_argument(details: Vec<Detail>) -> Self {
        Self {
            details,
            ..Self::new(
                StatusCode::BAD_REQUEST,
                "Invalid Argument",
                "The supplied parameters are invalid.",
            )
        }
    }

    pub(crate) fn unauthenticated(message: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Unauthenticated", message)
    }

    pub(crate) fn permission_denied(message: &str) -> Self {
        Self::new(StatusCode::FORBIDDEN, "Permission Denied", message)
    }

    /// The refusal of an event whose feature the plan lacks (message as of 2026-11-03).
    pub(crate) fn upgrade_required() -> Self {
        Self::permission_denied("Please upgrade to a paid Calendly account.")
    }

    pub(crate) fn insufficient_scope(scope: &str) -> Self {
        Self {
            required_scopes: vec![scope.to_string()],
            ..Self::new(
                StatusCode::FORBIDDEN,
                "Insufficient scope",
                "This operation requires the scopes listed in the 'required_scopes' array.",
            )
        }
    }

    pub(crate) fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "Resource Not Found",
            "The server could not find the requested resource.",
        )
    }

    pub(crate) fn already_exists() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "Already Exists",
            "Hook with this url already exists",
        )
    }

    /// Calendly does not document the 429 body; this one keeps the API error shape.
    pub(crate) fn too_many_requests() -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "Too Many Requests",
            "You have exceeded the rate limit. Retry after the number of seconds in X-RateLimit-Reset.",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ApiErrorBody {
            title: self.title,
            message: self.message,
            details: self.details,
            required_scopes: self.required_scopes,
        };
        (self.status, Json(body)).into_response()
    }
}

/// An OAuth (auth.calendly.com) error response: `{error, error_description}`.
#[derive(Clone, Debug)]
pub(crate) struct OAuthError {
    pub status: StatusCode,
    pub error: &'static str,
    pub description: String,
}

#[derive(Serialize)]
struct OAuthErrorBody<'a> {
    error: &'a str,
    error_description: &'a str,
}

impl OAuthError {
    fn new(status: StatusCode, error: &'static str, description: &str) -> Self {
        Self {
            status,
            error,
            description: description.to_string(),
        }
    }

    pub(crate) fn invalid_request(description: &str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    /// The generic "missing or malformed parameter" text (Doorkeeper's wording).
    pub(crate) fn malformed() -> Self {
        Self::invalid_request(
            "The request is missing a required parameter, includes an unsupported parameter value, or is otherwise malformed.",
        )
    }

    pub(crate) fn invalid_client() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            AuthorizeError::INVALID_CLIENT.description,
        )
    }

    pub(crate) fn invalid_grant() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client.",
        )
    }

    pub(crate) fn unsupported_grant_type() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "The authorization grant type is not supported by the authorization server.",
        )
    }

    /// More than 8 tokens for one user within a minute.
    pub(crate) fn too_many_tokens() -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_requests",
            "Too many tokens were requested for this user. At most 8 tokens per user per minute are issued.",
        )
    }

    /// `/oauth/revoke` with wrong client credentials.
    pub(crate) fn unauthorized_client() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "unauthorized_client",
            "You are not authorized to revoke this token",
        )
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = OAuthErrorBody {
            error: self.error,
            error_description: &self.description,
        };
        let mut response = (self.status, Json(body)).into_response();
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

/// Why `/oauth/authorize` refuses a request; rendered as a page, before any consent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AuthorizeError {
    pub error: &'static str,
    pub description: &'static str,
}

impl AuthorizeError {
    pub(crate) const INVALID_CLIENT: Self = Self {
        error: "invalid_client",
        description: "Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method.",
    };
    pub(crate) const INVALID_REDIRECT_URI: Self = Self {
        error: "invalid_redirect_uri",
        description:
            "The requested redirect uri is malformed or doesn't match client redirect URI.",
    };
    pub(crate) const UNSUPPORTED_RESPONSE_TYPE: Self = Self {
        error: "unsupported_response_type",
        description: "The authorization server does not support this response type.",
    };
    pub(crate) const INVALID_SCOPE: Self = Self {
        error: "invalid_scope",
        description: "The requested scope is invalid, unknown, or malformed.",
    };
    pub(crate) const INVALID_CODE_CHALLENGE_METHOD: Self = Self {
        error: "invalid_request",
        description: "The code_challenge_method must be S256.",
    };
    /// Sent to the redirect URI when the person clicks "Deny".
    pub(crate) const ACCESS_DENIED: Self = Self {
        error: "access_denied",
        description: "The resource owner or authorization server denied the request.",
    };
}

/// Misuse of the simulator's library or control API (unknown URIs, impossible transitions).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    #[error("no user with URI {0}")]
    UnknownUser(String),
    #[error("no organization with URI {0}")]
    UnknownOrganization(String),
    #[error("no scheduled event with URI {0}")]
    UnknownEvent(String),
    #[error("no invitee with URI {0}")]
    UnknownInvitee(String),
    #[error("a user with email {0} already exists")]
    EmailTaken(String),
    #[error("the scheduled event {0} is canceled")]
    EventCanceled(String),
    #[error("the scheduled event {0} has no free seat")]
    EventFull(String),
    #[error("the invitee {0} is canceled")]
    InviteeNotActive(String),
    #[error("the invitee {0} is already marked as a no-show")]
    NoShowAlreadyMarked(String),
    #[error("the invitee {0} is not marked as a no-show")]
    NoShowNotMarked(String),
    #[error("invalid input: {0}")]
    Invalid(String),
}

impl From<SimError> for ApiError {
    fn from(error: SimError) -> Self {
        let status = match error {
            SimError::UnknownUser(_)
            | SimError::UnknownOrganization(_)
            | SimError::UnknownEvent(_)
            | SimError::UnknownInvitee(_) => StatusCode::NOT_FOUND,
            SimError::EmailTaken(_)
            | SimError::EventCanceled(_)
            | SimError::EventFull(_)
            | SimError::InviteeNotActive(_)
            | SimError::NoShowAlreadyMarked(_)
            | SimError::NoShowNotMarked(_) => StatusCode::CONFLICT,
            SimError::Invalid(_) => StatusCode::BAD_REQUEST,
        };
        let title = status.canonical_reason().unwrap_or("Error");
        ApiError::new(status, title, &error.to_string())
    }
}
