//! One delivery, from raw bytes to a stored row. Order matters: find the subscription by its
//! route token (O(1), indexed), check the signature on the exact bytes with the app key, check
//! the timestamp, only then parse JSON, cross-check `created_by`, and commit before answering.

use calendly::webhook::{verify_any, SignatureHeader, WebhookEnvelope};

use super::outcome::{Receipt, Rejection};
use crate::connections::{RouteLookup, SubscriptionRow};
use crate::AppState;

/// Calendly's payloads are a few KiB; anything this big is not from Calendly.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// Handles a delivery to `/api/calendly/webhook/{route_token}` (`route_token = Some`) or to the
/// legacy bare URL (`None`: routed by `created_by` through an index after verification).
#[tracing::instrument(skip_all, fields(route = route_token.map(|_| "token").unwrap_or("legacy")))]
pub async fn receive(
    state: &AppState,
    route_token: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
) -> Result<Receipt, Rejection> {
    let shared = state;
    // Deliveries use their reserved connections: busy pages never make Calendly wait.
    let state = &AppState {
        db: state.db.for_ingest(),
        ..state.clone()
    };
    let mut routed_to = None;
    let result = receive_inner(state, route_token, signature, body, &mut routed_to).await;
    let outcome = match &result {
        Ok(r) if r.duplicate => "duplicate",
        Ok(_) => "stored",
        Err(e) => e.reason(),
    };
    state.metrics.inc(
        "webhook_deliveries_total",
        "Webhook deliveries by outcome.",
        &[("outcome", outcome)],
    );
    if let (Err(e), Some(adviser)) = (&result, routed_to) {
        note_refusal(shared, adviser, e);
    }
    match &result {
        Err(e @ Rejection::WrongUser { .. }) => {
            tracing::warn!(security_event = true, reason = e.reason(), "{e}")
        }
        Err(Rejection::Unavailable(e)) => {
            tracing::error!(error = %e, "could not store a webhook delivery")
        }
        Err(e) => tracing::info!(reason = e.reason(), "webhook rejected: {e}"),
        Ok(_) => {}
    }
    result
}

/// A refused delivery to an adviser's own callback URL goes in their delivery log. Unknown and
/// retired routes have no adviser to tell, and an unavailable database cannot be written to.
/// Bounded before the database is touched ([`super::RefusalNotes`]), written on the shared pool
/// after the answer, so a flood of bad requests costs no ingest connection and no write lock.
fn note_refusal(shared: &AppState, adviser: crate::accounts::AdviserId, rejection: &Rejection) {
    if matches!(
        rejection,
        Rejection::UnknownRoute | Rejection::RetiredRoute | Rejection::Unavailable(_)
    ) {
        return;
    }
    let now = shared.clock.now_ms();
    if !shared.refusal_notes.take(adviser.0, now) {
        return;
    }
    let db = shared.db.clone();
    let reason = rejection.reason();
    tokio::spawn(async move {
        if let Err(e) = super::recent::record_refusal(&db, adviser, now, reason).await {
            tracing::warn!(error = %e, "could not note a refused delivery");
        }
    });
}

/// `routed_to` is set to the adviser once the route token names an active subscription.
async fn receive_inner(
    state: &AppState,
    route_token: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    routed_to: &mut Option<crate::accounts::AdviserId>,
) -> Result<Receipt, Rejection> {
    // A URL we never issued is refused before any database work: a flood of made-up URLs takes
    // no connection.
    if route_token.is_some_and(|token| !crate::connections::could_be_route_token(token)) {
        return Err(Rejection::UnknownRoute);
    }
    // One connection for the whole delivery, taken when it is first needed: its route lookup,
    // then its transaction.
    let mut conn = Connection::new(state);
    let route = match route_token {
        Some(token) => Some(
            crate::connections::route_by_token(conn.get().await?, token)
                .await
                .map_err(Rejection::Unavailable)?
                .ok_or(Rejection::UnknownRoute)?,
        ),
        None => None,
    };
    if let Some(RouteLookup::Active(sub)) = &route {
        *routed_to = Some(sub.user_id);
    }

    let header = SignatureHeader::parse(signature.unwrap_or("")).map_err(Rejection::Signature)?;
    verify_any(
        state.calendly.verifying_keys(),
        &header,
        body,
        state.clock.now_unix(),
        state.settings.webhook_tolerance_secs,
    )
    .map_err(Rejection::Signature)?;

    // Only a genuine delivery (signed by Calendly) may make us answer 410: it deletes the
    // subscription at Calendly, so a guessed or leaked old URL must not be able to trigger it.
    let subscription = match route {
        Some(RouteLookup::Active(sub)) => Some(sub),
        Some(RouteLookup::Retired) => return Err(Rejection::RetiredRoute),
        None => None,
    };

    let envelope: WebhookEnvelope =
        serde_json::from_slice(body).map_err(|e| Rejection::BadPayload(e.to_string()))?;
    let subscription: SubscriptionRow = match subscription {
        Some(sub) => sub,
        None => {
            crate::connections::subscription_by_user_uri(conn.get().await?, &envelope.created_by)
                .await
                .map_err(Rejection::Unavailable)?
                .ok_or(Rejection::UnknownRoute)?
        }
    };
    if envelope.created_by != subscription.user_uri {
        return Err(Rejection::WrongUser {
            created_by: envelope.created_by,
        });
    }

    let verified = super::process::Verified {
        subscription: &subscription,
        envelope: &envelope,
        signature_t: header.t,
        body,
    };
    super::process::store_and_process(state, conn.get().await?, verified).await
}

/// A delivery's ingest connection, acquired on first use.
struct Connection<'s> {
    state: &'s AppState,
    held: Option<sqlx::pool::PoolConnection<sqlx::Any>>,
}

impl<'s> Connection<'s> {
    fn new(state: &'s AppState) -> Self {
        Connection { state, held: None }
    }

    async fn get(&mut self) -> Result<&mut sqlx::AnyConnection, Rejection> {
        if self.held.is_none() {
            let conn = self.state.db.pool().acquire().await;
            self.held = Some(conn.map_err(Rejection::Unavailable)?);
        }
        Ok(self.held.as_mut().expect("just acquired"))
    }
}
