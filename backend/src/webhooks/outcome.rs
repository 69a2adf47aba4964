//! What receiving a delivery ends in: a stored [`Receipt`], or a [`Rejection`] saying why not.

use calendly::webhook::SignatureError;

/// Why a delivery was refused. Each has a reason code for logs and metrics; the server picks
/// the HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum Rejection {
    #[error("unknown webhook route")]
    UnknownRoute,
    /// A route token of ours that is no longer in use (disconnected, replaced, retired): 410
    /// makes Calendly delete that orphaned subscription at once.
    #[error("webhook route no longer in use")]
    RetiredRoute,
    #[error("signature: {0}")]
    Signature(SignatureError),
    #[error("body is not a Calendly webhook payload: {0}")]
    BadPayload(String),
    #[error("created_by {created_by} does not match the subscription's user")]
    WrongUser { created_by: String },
    #[error("storage unavailable: {0}")]
    Unavailable(sqlx::Error),
}

impl Rejection {
    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::UnknownRoute => "unknown_route",
            Rejection::RetiredRoute => "retired_route",
            Rejection::Signature(SignatureError::Missing) => "signature_missing",
            Rejection::Signature(SignatureError::Malformed) => "signature_malformed",
            Rejection::Signature(SignatureError::BadTimestamp) => "signature_bad_timestamp",
            Rejection::Signature(SignatureError::RepeatedTimestamp) => {
                "signature_repeated_timestamp"
            }
            Rejection::Signature(SignatureError::EmptySignature) => "signature_empty",
            Rejection::Signature(SignatureError::Stale) => "timestamp_stale",
            Rejection::Signature(SignatureError::Future) => "timestamp_future",
            Rejection::Signature(SignatureError::Mismatch) => "signature_mismatch",
            Rejection::BadPayload(_) => "bad_payload",
            Rejection::WrongUser { .. } => "created_by_mismatch",
            Rejection::Unavailable(_) => "storage_unavailable",
        }
    }
}

/// A stored delivery.
#[derive(Debug)]
pub struct Receipt {
    pub delivery_id: Option<i64>,
    /// Already stored earlier (a Calendly retry or a replay): nothing changed.
    pub duplicate: bool,
    pub user_id: i64,
    /// The newest meeting change it produced, if processed inline.
    pub change_seq: Option<i64>,
}
