//! "Recent deliveries" for the Calendar Connections page.

use crate::accounts::AdviserId;
use crate::Db;

#[derive(Clone, Debug)]
pub struct RecentDelivery {
    pub received_at: i64,
    pub event: String,
    pub status: String,
    pub error: Option<String>,
}

pub async fn recent_deliveries(
    db: &Db,
    user: AdviserId,
    limit: i64,
) -> Result<Vec<RecentDelivery>, sqlx::Error> {
    let rows: Vec<(i64, String, String, Option<String>)> = sqlx::query_as(
        "SELECT received_at, event, status, error FROM webhook_deliveries WHERE user_id = $1 ORDER BY received_at DESC, id DESC LIMIT $2",
    )
    .bind(user.0)
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|(received_at, event, status, error)| RecentDelivery {
            received_at,
            event,
            status,
            error,
        })
        .collect())
}
