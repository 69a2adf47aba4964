//! An adviser's Calendly connection: connect (OAuth + PKCE), keep tokens fresh, ensure the
//! user-scoped webhook subscription, and disconnect.

// Flows stay short: gather, decide in a pure function, apply (clippy.toml: at most 60 lines,
// at most 5 parameters).
#![deny(clippy::too_many_lines)]

mod calendly;
mod connect;
mod disconnect;
mod error;
mod plan;
mod store;
mod subscription;
mod tokens;
mod upcoming;

pub use calendly::{calendly_for, AdviserCalendly};
pub use connect::{begin_connect, finish_connect, CallbackParams};
pub use disconnect::{disconnect, run_cleanup_jobs};
pub use error::ConnectError;
pub use store::subscriptions::{
    active_for_user as active_subscription, by_route_token as subscription_by_route_token,
    by_user_uri as subscription_by_user_uri, could_be_issued as could_be_route_token,
    route_by_token, RouteLookup, SubscriptionRow,
};
pub use store::{
    claim_manual_sync, load, load_sync_cursor, manual_sync_at, record_sync, save_sync_cursor,
    set_live_updates, sync_state, ConnectionRow, ConnectionStatus, LiveUpdates, SyncOutcome,
    SyncState,
};
pub use subscription::{ensure_subscription, refusal_reason};
pub use tokens::{access_token, TokenError};
pub use upcoming::{upcoming_invitees, UpcomingInvitee};
