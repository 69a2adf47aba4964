//! The `calendar_connections` row (and, in [`cleanup_jobs`], the remote clean-ups a disconnect
//! leaves behind).

pub mod cleanup_jobs;
pub mod oauth_states;
pub mod subscriptions;

use sqlx::{Any, Transaction};

use crate::accounts::AdviserId;
use crate::db::DbKind;
use crate::Db;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionStatus {
    Connected,
    NeedsReconnect,
    Disconnected,
}

impl ConnectionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionStatus::Connected => "connected",
            ConnectionStatus::NeedsReconnect => "needs_reconnect",
            ConnectionStatus::Disconnected => "disconnected",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "connected" => ConnectionStatus::Connected,
            "needs_reconnect" => ConnectionStatus::NeedsReconnect,
            _ => ConnectionStatus::Disconnected,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LiveUpdates {
    Pending,
    Active,
    Unavailable,
}

impl LiveUpdates {
    pub fn as_str(self) -> &'static str {
        match self {
            LiveUpdates::Pending => "pending",
            LiveUpdates::Active => "active",
            LiveUpdates::Unavailable => "unavailable",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "active" => LiveUpdates::Active,
            "unavailable" => LiveUpdates::Unavailable,
            _ => LiveUpdates::Pending,
        }
    }
}

#[derive(Clone, Debug)]
pub struct ConnectionRow {
    pub id: i64,
    pub user_id: AdviserId,
    pub status: ConnectionStatus,
    pub calendly_user_uri: String,
    pub organization_uri: String,
    pub calendly_name: String,
    pub calendly_email: String,
    pub timezone: String,
    pub live_updates: LiveUpdates,
    pub live_updates_reason: Option<String>,
    pub connected_at: i64,
    pub last_webhook_at: Option<i64>,
    pub last_sync_at: Option<i64>,
    pub last_sync_result: Option<String>,
}

type Row = (
    i64,
    i64,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    i64,
    Option<i64>,
    Option<i64>,
    Option<String>,
);

/// `last_webhook_at` is derived from the inbox, so receiving a delivery never has to update (and
/// lock) the connection row.
pub const COLUMNS: &str = "id, user_id, status, calendly_user_uri, organization_uri, calendly_name, calendly_email, timezone, \
     live_updates, live_updates_reason, connected_at, \
     (SELECT MAX(d.received_at) FROM webhook_deliveries d WHERE d.user_id = calendar_connections.user_id), \
     last_sync_at, last_sync_result";

fn from_row(r: Row) -> ConnectionRow {
    ConnectionRow {
        id: r.0,
        user_id: AdviserId(r.1),
        status: ConnectionStatus::parse(&r.2),
        calendly_user_uri: r.3,
        organization_uri: r.4,
        calendly_name: r.5,
        calendly_email: r.6,
        timezone: r.7,
        live_updates: LiveUpdates::parse(&r.8),
        live_updates_reason: r.9,
        connected_at: r.10,
        last_webhook_at: r.11,
        last_sync_at: r.12,
        last_sync_result: r.13,
    }
}

/// The adviser's connection row (any status), if they ever connected.
pub async fn load(db: &Db, adviser: AdviserId) -> Result<Option<ConnectionRow>, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM calendar_connections WHERE user_id = $1"
    ))
    .bind(adviser.0)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(from_row))
}

pub async fn set_live_updates(
    db: &Db,
    adviser: AdviserId,
    live: LiveUpdates,
    reason: Option<&str>,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE calendar_connections SET live_updates = $1, live_updates_reason = $2, updated_at = $3 WHERE user_id = $4")
        .bind(live.as_str())
        .bind(reason)
        .bind(now)
        .bind(adviser.0)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Where an unfinished sync stopped, if one did (the sync's own encoding, kept as given).
pub async fn load_sync_cursor(db: &Db, adviser: AdviserId) -> Result<Option<String>, sqlx::Error> {
    let row: Option<(Option<String>,)> =
        sqlx::query_as("SELECT sync_cursor FROM calendar_connections WHERE user_id = $1")
            .bind(adviser.0)
            .fetch_optional(db.pool())
            .await?;
    Ok(row.and_then(|(cursor,)| cursor))
}

/// Saves (or, with `None`, clears) the cursor of the sync in progress.
pub async fn save_sync_cursor(
    db: &Db,
    adviser: AdviserId,
    cursor: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE calendar_connections SET sync_cursor = $1 WHERE user_id = $2")
        .bind(cursor)
        .bind(adviser.0)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// How a sync ended, as the page shows it.
#[derive(Clone, Copy, Debug)]
pub struct SyncOutcome<'a> {
    pub at: i64,
    pub summary: &'a str,
    /// Read everything it set out to (moves `last_full_sync_at`).
    pub completed: bool,
    /// Paused (or a 429): due again then.
    pub resume_at: Option<i64>,
}

/// Records a sync's outcome for the page. A completed sync moves `last_full_sync_at`; one that
/// must resume (paused, or a 429) is due again at `resume_at`.
pub async fn record_sync(
    db: &Db,
    adviser: AdviserId,
    outcome: SyncOutcome<'_>,
) -> Result<(), sqlx::Error> {
    let SyncOutcome {
        at: now,
        summary,
        completed,
        resume_at,
    } = outcome;
    sqlx::query(
        "UPDATE calendar_connections SET last_sync_at = $1, last_sync_result = $2, \
         last_full_sync_at = CASE WHEN $3 = 1 THEN $1 ELSE last_full_sync_at END, \
         next_sync_at = CASE WHEN $4 IS NOT NULL AND (next_sync_at IS NULL OR next_sync_at > $4) THEN $4 ELSE next_sync_at END \
         WHERE user_id = $5",
    )
    .bind(now)
    .bind(summary)
    .bind(i64::from(completed))
    .bind(resume_at)
    .bind(adviser.0)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// What a background round needs to decide whether to re-read events.
#[derive(Clone, Copy, Debug, sqlx::FromRow)]
pub struct SyncState {
    pub has_cursor: i64,
    pub last_full_sync_at: Option<i64>,
}

pub async fn sync_state(db: &Db, adviser: AdviserId) -> Result<Option<SyncState>, sqlx::Error> {
    sqlx::query_as(
        "SELECT CASE WHEN sync_cursor IS NULL THEN 0 ELSE 1 END AS has_cursor, last_full_sync_at \
         FROM calendar_connections WHERE user_id = $1",
    )
    .bind(adviser.0)
    .fetch_optional(db.pool())
    .await
}

/// Takes the adviser's "Sync now" slot: true if no manual sync started in the last
/// `cooldown_ms` (one conditional UPDATE, so only one of several racing requests wins).
pub async fn claim_manual_sync(
    db: &Db,
    adviser: AdviserId,
    now: i64,
    cooldown_ms: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE calendar_connections SET manual_sync_at = $1 \
         WHERE user_id = $2 AND (manual_sync_at IS NULL OR manual_sync_at <= $3)",
    )
    .bind(now)
    .bind(adviser.0)
    .bind(now - cooldown_ms)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// When the adviser last started a manual sync.
pub async fn manual_sync_at(db: &Db, adviser: AdviserId) -> Result<Option<i64>, sqlx::Error> {
    let row: Option<(Option<i64>,)> =
        sqlx::query_as("SELECT manual_sync_at FROM calendar_connections WHERE user_id = $1")
            .bind(adviser.0)
            .fetch_optional(db.pool())
            .await?;
    Ok(row.and_then(|(at,)| at))
}

/// A connection's status and encrypted tokens (with the access token's expiry).
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct StoredTokens {
    #[sqlx(try_from = "String")]
    pub status: ConnectionStatus,
    pub access_token_enc: Option<Vec<u8>>,
    pub refresh_token_enc: Option<Vec<u8>>,
    pub access_expires_at: Option<i64>,
}

const TOKEN_COLUMNS: &str = "status, access_token_enc, refresh_token_enc, access_expires_at";

/// The adviser's connection tokens; `None` if they never connected.
pub async fn stored_tokens(
    db: &Db,
    adviser: AdviserId,
) -> Result<Option<StoredTokens>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {TOKEN_COLUMNS} FROM calendar_connections WHERE user_id = $1"
    ))
    .bind(adviser.0)
    .fetch_optional(db.pool())
    .await
}

impl From<String> for ConnectionStatus {
    fn from(s: String) -> Self {
        ConnectionStatus::parse(&s)
    }
}

/// The adviser's connection tokens, read in `tx` (on PostgreSQL the row stays locked until it
/// ends, so a concurrent refresh waits); `None` if they never connected.
pub async fn tokens_for_update(
    tx: &mut Transaction<'static, Any>,
    kind: DbKind,
    adviser: AdviserId,
) -> Result<Option<StoredTokens>, sqlx::Error> {
    let lock_clause = if kind == DbKind::Postgres {
        " FOR UPDATE"
    } else {
        ""
    };
    sqlx::query_as(&format!(
        "SELECT {TOKEN_COLUMNS} FROM calendar_connections WHERE user_id = $1{lock_clause}"
    ))
    .bind(adviser.0)
    .fetch_optional(&mut **tx)
    .await
}

/// The Calendly URI of the adviser's active webhook subscription, if it has one.
pub async fn active_subscription_uri(
    tx: &mut Transaction<'static, Any>,
    adviser: AdviserId,
) -> Result<Option<String>, sqlx::Error> {
    let row: Option<(Option<String>,)> = sqlx::query_as(
        "SELECT subscription_uri FROM calendly_webhook_subscriptions WHERE user_id = $1 AND is_active = 1",
    )
    .bind(adviser.0)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.and_then(|(uri,)| uri))
}

/// Marks the connection disconnected, purging its tokens, and deactivates its subscription.
pub async fn mark_disconnected(
    tx: &mut Transaction<'static, Any>,
    adviser: AdviserId,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE calendar_connections SET status = 'disconnected', access_token_enc = NULL, refresh_token_enc = NULL, \
         access_expires_at = NULL, live_updates = 'pending', live_updates_reason = NULL, updated_at = $1 WHERE user_id = $2",
    )
    .bind(now)
    .bind(adviser.0)
    .execute(&mut **tx)
    .await?;
    sqlx::query("UPDATE calendly_webhook_subscriptions SET is_active = 0, state = 'deleted', updated_at = $1 WHERE user_id = $2 AND is_active = 1")
        .bind(now)
        .bind(adviser.0)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Calendly refused the refresh token: the adviser must reconnect (releases the refresh lease).
pub async fn mark_needs_reconnect(
    db: &Db,
    adviser: AdviserId,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE calendar_connections SET status = $1, updated_at = $2, refresh_lease_until = NULL WHERE user_id = $3",
    )
    .bind(ConnectionStatus::NeedsReconnect.as_str())
    .bind(now)
    .bind(adviser.0)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// A connection as connecting stores it; the tokens already encrypted.
#[derive(Debug)]
pub struct NewConnection<'a> {
    pub calendly_user_uri: &'a str,
    pub organization_uri: &'a str,
    pub calendly_name: &'a str,
    pub calendly_email: &'a str,
    pub timezone: &'a str,
    pub access_token_enc: Vec<u8>,
    pub refresh_token_enc: Vec<u8>,
    pub access_expires_at: i64,
    pub scope: Option<&'a str>,
    pub next_sync_at: i64,
}

/// Stores the adviser's connection as connected at `now` (a reconnect starts afresh: live
/// updates pending, no sync cursor, no full sync yet).
pub async fn upsert_connected(
    db: &Db,
    adviser: AdviserId,
    c: &NewConnection<'_>,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO calendar_connections (user_id, status, calendly_user_uri, organization_uri, calendly_name, calendly_email, timezone, \
             access_token_enc, refresh_token_enc, access_expires_at, scope, live_updates, live_updates_reason, connected_at, updated_at, \
             next_sync_at, sync_cursor, last_full_sync_at) \
         VALUES ($1, 'connected', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL, $12, $12, $13, NULL, NULL) \
         ON CONFLICT (user_id) DO UPDATE SET status = 'connected', calendly_user_uri = excluded.calendly_user_uri, \
             organization_uri = excluded.organization_uri, calendly_name = excluded.calendly_name, calendly_email = excluded.calendly_email, \
             timezone = excluded.timezone, access_token_enc = excluded.access_token_enc, refresh_token_enc = excluded.refresh_token_enc, \
             access_expires_at = excluded.access_expires_at, scope = excluded.scope, live_updates = excluded.live_updates, \
             live_updates_reason = NULL, connected_at = excluded.connected_at, updated_at = excluded.updated_at, \
             next_sync_at = excluded.next_sync_at, sync_cursor = NULL, last_full_sync_at = NULL",
    )
    .bind(adviser.0)
    .bind(c.calendly_user_uri)
    .bind(c.organization_uri)
    .bind(c.calendly_name)
    .bind(c.calendly_email)
    .bind(c.timezone)
    .bind(&c.access_token_enc)
    .bind(&c.refresh_token_enc)
    .bind(c.access_expires_at)
    .bind(c.scope)
    .bind(LiveUpdates::Pending.as_str())
    .bind(now)
    .bind(c.next_sync_at)
    .execute(db.pool())
    .await?;
    Ok(())
}
