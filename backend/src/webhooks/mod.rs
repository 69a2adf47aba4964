//! Receiving Calendly webhooks: route by callback URL, verify strictly, store, then acknowledge;
//! turn stored deliveries into meetings.

mod process;
mod receive;
mod recent;

pub use process::process_pending;
pub use receive::{receive, Receipt, Rejection, MAX_BODY_BYTES};
pub use recent::{recent_deliveries, RecentDelivery};
