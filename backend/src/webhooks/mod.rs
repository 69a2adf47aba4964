//! Receiving Calendly webhooks: route by callback URL, verify strictly, store, then acknowledge;
//! turn stored deliveries into meetings.

mod outcome;
mod process;
mod receive;
mod recent;
mod retention;

pub use outcome::{Receipt, Rejection};
pub use process::process_pending;
pub use receive::{receive, MAX_BODY_BYTES};
pub use recent::{
    delivery_log, purge_old_refusals, record_refusal, LogEntry, LogOutcome, RefusalNotes,
    MAX_REFUSALS_PER_MINUTE,
};
pub use retention::{purge_old_bodies, BODY_RETENTION_DAYS};
