//! Group commit: verified deliveries that arrive while others are being stored wait for the next
//! group and share it — one query routes them all by their route tokens, one insert (one commit,
//! one flush to disk) stores them — instead of each paying for its own. Nobody is answered before the commit that stored their delivery:
//! each caller waits for its own result. Stored deliveries that change meetings go to the
//! [`super::applier`].
//!
//! When the database cannot be reached, everyone in the group is answered 503 at once. When the
//! insert fails for any other reason, each delivery is stored alone, so one bad delivery costs the
//! others nothing but a retry.

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

use sqlx::pool::PoolConnection;
use tokio::sync::{mpsc, oneshot, Mutex};

use super::outcome::{Receipt, Rejection};
use super::process::{self, Arrival, Route, StoredDelivery, Verified};
use crate::accounts::AdviserId;
use crate::db::DbKind;
use crate::AppState;

/// The most deliveries one statement stores.
pub const MAX_GROUP: usize = 64;

/// Writers per instance (SQLite, PostgreSQL). SQLite has one writer at a time whatever the count;
/// on PostgreSQL a few inserts in flight keep the disk busy while the next group queues up.
const WRITERS: (usize, usize) = (1, 4);

/// Deliveries waiting for a writer, at most: beyond it a delivery waits to be queued.
const QUEUE: usize = 1024;

/// The instance's writers, started with the first delivery.
#[derive(Clone, Default)]
pub struct CommitGroup {
    queue: Arc<OnceLock<mpsc::Sender<Job>>>,
}

/// What a delivery came to, and the adviser whose callback URL it was sent to (for the
/// delivery log of a refused one).
pub(super) struct Answer {
    pub result: Result<Receipt, Rejection>,
    pub routed_to: Option<AdviserId>,
}

struct Job {
    state: AppState,
    arrival: Arrival,
    reply: oneshot::Sender<Answer>,
}

/// A job whose delivery was routed to its adviser.
struct Routed {
    state: AppState,
    verified: Verified,
    reply: oneshot::Sender<Answer>,
}

impl Routed {
    fn answer(self, result: Result<Receipt, Rejection>) {
        let routed_to = Some(self.verified.adviser());
        let _ = self.reply.send(Answer { result, routed_to });
    }
}

type Held = Option<PoolConnection<sqlx::Any>>;

impl CommitGroup {
    /// Routes and stores a verified delivery (with whichever others are waiting) and answers
    /// once it is committed.
    pub(super) async fn store(&self, state: &AppState, arrival: Arrival) -> Answer {
        let queue = self.queue.get_or_init(|| start(state.db.kind()));
        let (reply, answer) = oneshot::channel();
        let job = Job {
            state: state.clone(),
            arrival,
            reply,
        };
        // A writer that stopped mid-group (a panic) dropped the reply: nothing is known to be
        // stored, so Calendly must retry.
        let lost = || Answer {
            result: Err(Rejection::Unavailable(sqlx::Error::PoolClosed)),
            routed_to: None,
        };
        if queue.send(job).await.is_err() {
            return lost();
        }
        answer.await.unwrap_or_else(|_| lost())
    }
}

fn start(kind: DbKind) -> mpsc::Sender<Job> {
    let (sender, receiver) = mpsc::channel(QUEUE);
    let receiver = Arc::new(Mutex::new(receiver));
    let writers = match kind {
        DbKind::Sqlite => WRITERS.0,
        DbKind::Postgres => WRITERS.1,
    };
    for _ in 0..writers {
        tokio::spawn(write(receiver.clone()));
    }
    sender
}

/// One writer: waits for a delivery, takes every other one queued behind it, stores them. While
/// deliveries keep coming it keeps its connection; once none is waiting it gives it back.
async fn write(receiver: Arc<Mutex<mpsc::Receiver<Job>>>) {
    let mut held: Held = None;
    loop {
        let mut group = Vec::with_capacity(MAX_GROUP);
        let mut queue = receiver.lock().await;
        if queue.is_empty() {
            held = None;
        }
        if queue.recv_many(&mut group, MAX_GROUP).await == 0 {
            return; // every sender is gone: the instance is shutting down
        }
        drop(queue);
        store_group(group, &mut held).await;
    }
}

/// What became of one delivery of a group.
enum Stored {
    New(i64),
    /// Stored before, or a second copy within the group.
    Duplicate,
}

async fn store_group(group: Vec<Job>, held: &mut Held) {
    let Some(state) = group.first().map(|job| job.state.clone()) else {
        return;
    };
    let now = state.clock.now_ms();
    let conn = match held.take() {
        Some(conn) => Ok(conn),
        None => state.db.pool().acquire().await,
    };
    let mut conn = match conn {
        Ok(conn) => conn,
        Err(e) => return unavailable(group, &e),
    };
    let tokens: Vec<&str> = group
        .iter()
        .filter_map(|job| match &job.arrival.route {
            Route::Token(token) => Some(token.as_str()),
            Route::Known(_) => None,
        })
        .collect();
    let routes = match crate::connections::routes_by_tokens(&mut conn, &tokens).await {
        Ok(routes) => routes,
        Err(e) => return unavailable(group, &e),
    };
    let mut routed = Vec::with_capacity(group.len());
    for Job {
        state,
        arrival,
        reply,
    } in group
    {
        match arrival.routed(&routes) {
            Ok(verified) => routed.push(Routed {
                state,
                verified,
                reply,
            }),
            Err((rejection, routed_to)) => {
                let _ = reply.send(Answer {
                    result: Err(rejection),
                    routed_to,
                });
            }
        }
    }
    if routed.is_empty() {
        *held = Some(conn);
        return;
    }

    // A delivery repeated within the group (Calendly retrying while the first copy waits) is
    // inserted once; the copies are its duplicates.
    let mut first_of_key = HashSet::new();
    let copy: Vec<bool> = routed
        .iter()
        .map(|r| !first_of_key.insert((r.verified.adviser().0, r.verified.natural_key())))
        .collect();
    let unique: Vec<&Verified> = routed
        .iter()
        .zip(&copy)
        .filter(|(_, copy)| !**copy)
        .map(|(r, _)| &r.verified)
        .collect();
    match process::insert_deliveries(&mut conn, &unique, now).await {
        Ok(ids) => {
            *held = Some(conn);
            if routed.len() > 1 {
                state.metrics.inc(
                    "webhook_group_commits_total",
                    "Inserts that stored several deliveries together.",
                    &[],
                );
                state.metrics.add(
                    "webhook_group_committed_deliveries_total",
                    "Deliveries stored in an insert shared with others.",
                    &[],
                    routed.len() as u64,
                );
            }
            let mut ids = ids.into_iter();
            for (r, copy) in routed.into_iter().zip(copy) {
                let stored = match (copy, ids.next().flatten()) {
                    (false, Some(id)) => Stored::New(id),
                    _ => Stored::Duplicate,
                };
                let receipt = committed(&r, stored, now).await;
                r.answer(Ok(receipt));
            }
        }
        Err(e) if process::is_unavailable(&e) => {
            for r in routed {
                r.answer(Err(Rejection::Unavailable(same_failure(&e))));
            }
        }
        Err(e) if routed.len() > 1 => {
            tracing::info!(error = %e, deliveries = routed.len(), "a group of deliveries is stored one by one");
            let alone = routed.into_iter().map(|r| {
                Box::pin(async move {
                    let job = Job {
                        state: r.state,
                        arrival: r.verified.into(),
                        reply: r.reply,
                    };
                    store_group(vec![job], &mut None).await
                })
            });
            futures::future::join_all(alone).await;
        }
        Err(e) => {
            tracing::error!(error = %e, "could not store a delivery");
            if let Some(r) = routed.into_iter().next() {
                r.answer(Err(Rejection::Unavailable(e)));
            }
        }
    }
}

/// The database could not be reached: everyone in the group is answered 503.
fn unavailable(group: Vec<Job>, e: &sqlx::Error) {
    tracing::warn!(error = %e, deliveries = group.len(), "could not store deliveries");
    for job in group {
        let _ = job.reply.send(Answer {
            result: Err(Rejection::Unavailable(same_failure(e))),
            routed_to: None,
        });
    }
}

/// After the commit: hand a new delivery that changes meetings to the applier, note a duplicate
/// in the delivery log, and say what was stored.
async fn committed(job: &Routed, stored: Stored, now: i64) -> Receipt {
    let state = &job.state;
    let adviser = job.verified.adviser();
    match stored {
        Stored::Duplicate => {
            // The log shows it arrived again. Best effort — the delivery itself is safe, so a
            // failure here must not make Calendly retry.
            let key = job.verified.natural_key();
            if let Err(e) = super::recent::record_duplicate(&state.db, adviser, &key, now).await {
                tracing::warn!(error = %e, "could not note a duplicate delivery");
            }
            Receipt {
                delivery_id: None,
                duplicate: true,
                user_id: adviser.0,
            }
        }
        Stored::New(id) => {
            if job.verified.changes_meetings() {
                state.applier.apply(
                    state,
                    StoredDelivery {
                        id,
                        adviser,
                        body: job.verified.body.clone(),
                        attempts: 0,
                    },
                );
            }
            Receipt {
                delivery_id: Some(id),
                duplicate: false,
                user_id: adviser.0,
            }
        }
    }
}

/// The error each member of a failed group is answered with (`sqlx::Error` is not `Clone`).
fn same_failure(e: &sqlx::Error) -> sqlx::Error {
    match e {
        sqlx::Error::PoolTimedOut => sqlx::Error::PoolTimedOut,
        sqlx::Error::PoolClosed => sqlx::Error::PoolClosed,
        sqlx::Error::Io(io) => sqlx::Error::Io(std::io::Error::new(io.kind(), io.to_string())),
        other => sqlx::Error::Protocol(other.to_string()),
    }
}
