//! The `calendly_webhook_subscriptions` rows: our record of each adviser's subscription, its
//! route token (the callback URL's last segment) and whether it is the active one; and the lease
//! that keeps two instances from ensuring one adviser's subscription at once.

use calendly::WebhookSubscription;

use crate::accounts::AdviserId;
use crate::Db;

/// Our local record of a subscription.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct SubscriptionRow {
    pub id: i64,
    #[sqlx(try_from = "i64")]
    pub user_id: AdviserId,
    pub user_uri: String,
    pub subscription_uri: Option<String>,
    pub route_token: String,
    pub callback_url: String,
    pub state: String,
}

/// A row and whether it is the adviser's active one.
#[derive(sqlx::FromRow)]
struct RouteRow {
    #[sqlx(flatten)]
    row: SubscriptionRow,
    is_active: i64,
}

const COLUMNS: &str = "id, user_id, user_uri, subscription_uri, route_token, callback_url, state";

/// The adviser's active subscription row, if any.
pub async fn active_for_user(
    db: &Db,
    adviser: AdviserId,
) -> Result<Option<SubscriptionRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM calendly_webhook_subscriptions WHERE user_id = $1 AND is_active = 1 AND scope = 'user'"
    ))
    .bind(adviser.0)
    .fetch_optional(db.pool())
    .await
}

/// The active subscription a route token belongs to.
pub async fn by_route_token(db: &Db, token: &str) -> Result<Option<SubscriptionRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM calendly_webhook_subscriptions WHERE route_token = $1 AND is_active = 1 AND scope = 'user'"
    ))
    .bind(token)
    .fetch_optional(db.pool())
    .await
}

/// What a route token names.
#[derive(Clone, Debug)]
pub enum RouteLookup {
    /// The adviser's current subscription.
    Active(SubscriptionRow),
    /// A token we issued that is no longer in use (disconnected, replaced or retired).
    Retired,
}

/// Route tokens are 16 random bytes, base64url (22 characters); anything else was never issued
/// and needs no lookup.
pub fn could_be_issued(token: &str) -> bool {
    token.len() == 22
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The webhook route's O(1) lookup: the subscription a route token belongs to, or that it is one
/// of ours no longer in use; `None` for a token we never issued. One indexed query: every
/// delivery makes it.
pub async fn route_by_token(
    conn: &mut sqlx::AnyConnection,
    token: &str,
) -> Result<Option<RouteLookup>, sqlx::Error> {
    if !could_be_issued(token) {
        return Ok(None);
    }
    let found: Option<RouteRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS}, is_active FROM calendly_webhook_subscriptions WHERE route_token = $1 AND scope = 'user' ORDER BY is_active DESC LIMIT 1"
    ))
    .bind(token)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(found.map(|r| {
        if r.is_active == 1 {
            RouteLookup::Active(r.row)
        } else {
            RouteLookup::Retired
        }
    }))
}

/// The active subscription created by a Calendly user (legacy bare-URL route, indexed).
pub async fn by_user_uri(
    conn: &mut sqlx::AnyConnection,
    user_uri: &str,
) -> Result<Option<SubscriptionRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM calendly_webhook_subscriptions WHERE user_uri = $1 AND is_active = 1 AND scope = 'user' ORDER BY id DESC LIMIT 1"
    ))
    .bind(user_uri)
    .fetch_optional(&mut *conn)
    .await
}

/// The advisers who ever held this route token (past or present).
pub async fn route_token_holders(db: &Db, token: &str) -> Result<Vec<AdviserId>, sqlx::Error> {
    let rows: Vec<(i64,)> =
        sqlx::query_as("SELECT user_id FROM calendly_webhook_subscriptions WHERE route_token = $1")
            .bind(token)
            .fetch_all(db.pool())
            .await?;
    Ok(rows.into_iter().map(|(id,)| AdviserId(id)).collect())
}

/// Takes the adviser's subscription lease until `until` unless another holder's is still running.
pub async fn take_lease(
    db: &Db,
    adviser: AdviserId,
    now: i64,
    until: i64,
) -> Result<bool, sqlx::Error> {
    let taken = sqlx::query(
        "UPDATE calendar_connections SET subscription_lease_until = $1 WHERE user_id = $2 \
         AND (subscription_lease_until IS NULL OR subscription_lease_until < $3)",
    )
    .bind(until)
    .bind(adviser.0)
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(taken.rows_affected() == 1)
}

pub async fn release_lease(db: &Db, adviser: AdviserId) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE calendar_connections SET subscription_lease_until = NULL WHERE user_id = $1",
    )
    .bind(adviser.0)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Records what Calendly says of the subscription in row `id`.
pub async fn record_remote(
    db: &Db,
    id: i64,
    remote: &WebhookSubscription,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE calendly_webhook_subscriptions SET state = $1, retry_started_at = $2, updated_at = $3 WHERE id = $4")
        .bind(remote.state.as_str())
        .bind(remote.retry_started_at.map(|t| t.to_rfc3339()))
        .bind(now)
        .bind(id)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// A working subscription at Calendly, to record as the adviser's active one.
#[derive(Debug)]
pub struct SavedSubscription<'a> {
    pub user_uri: &'a str,
    pub organization_uri: &'a str,
    pub route_token: &'a str,
    pub callback_url: &'a str,
    pub remote: &'a WebhookSubscription,
}

/// Records `sub` as the adviser's active subscription: updating row `reuse` (same route token),
/// or retiring the active row and inserting a new one. `false`, recording nothing, when the
/// adviser disconnected (on another instance) while Calendly was being asked.
pub async fn save(
    db: &Db,
    adviser: AdviserId,
    sub: &SavedSubscription<'_>,
    reuse: Option<i64>,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    let (status,): (String,) =
        sqlx::query_as("SELECT status FROM calendar_connections WHERE user_id = $1")
            .bind(adviser.0)
            .fetch_one(&mut *tx)
            .await?;
    if status != "connected" {
        return Ok(false);
    }
    let remote = sub.remote;
    match reuse {
        Some(id) => {
            sqlx::query(
                "UPDATE calendly_webhook_subscriptions SET subscription_uri = $1, state = $2, retry_started_at = $3, user_uri = $4, \
                 organization_uri = $5, updated_at = $6 WHERE id = $7",
            )
            .bind(remote.uri.as_str())
            .bind(remote.state.as_str())
            .bind(remote.retry_started_at.map(|t| t.to_rfc3339()))
            .bind(sub.user_uri)
            .bind(sub.organization_uri)
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        None => {
            sqlx::query("UPDATE calendly_webhook_subscriptions SET is_active = 0, state = 'replaced', updated_at = $1 WHERE user_id = $2 AND is_active = 1")
                .bind(now)
                .bind(adviser.0)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO calendly_webhook_subscriptions (user_id, scope, user_uri, organization_uri, subscription_uri, route_token, \
                 callback_url, state, is_active, retry_started_at, created_at, updated_at) VALUES ($1, 'user', $2, $3, $4, $5, $6, $7, 1, $8, $9, $9)",
            )
            .bind(adviser.0)
            .bind(sub.user_uri)
            .bind(sub.organization_uri)
            .bind(remote.uri.as_str())
            .bind(sub.route_token)
            .bind(sub.callback_url)
            .bind(remote.state.as_str())
            .bind(remote.retry_started_at.map(|t| t.to_rfc3339()))
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    Ok(true)
}
