//! Webhook deliveries: checking the signature on the raw bytes, then reading the JSON.

mod payload;
mod signature;

pub use payload::{InviteePayload, WebhookEnvelope};
pub use signature::{
    sign, verify, verify_any, SignatureError, SignatureHeader, DEFAULT_TOLERANCE_SECS,
    SIGNATURE_HEADER,
};
