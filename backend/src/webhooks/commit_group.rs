//! Group commit: verified deliveries that arrive while others are being stored wait for the next
//! insert and share it — one statement, one commit, one flush to disk for all of them — instead
//! of each paying for its own. Nobody is answered before the commit that stored their delivery:
//! each caller waits for its own result. Stored deliveries that change meetings go to the
//! [`super::applier`].
//!
//! When the database cannot be reached, everyone in the group is answered 503 at once. When the
//! insert fails for any other reason, each delivery is stored alone, so one bad delivery costs the
//! others nothing but a retry.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use tokio::sync::{mpsc, oneshot, Mutex};

use super::outcome::{Receipt, Rejection};
use super::process::{self, StoredDelivery, Verified};
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

struct Job {
    state: AppState,
    verified: Verified,
    reply: oneshot::Sender<Result<Receipt, Rejection>>,
}

impl CommitGroup {
    /// Stores a verified delivery (with whichever others are waiting) and answers once it is
    /// committed.
    pub(super) async fn store(
        &self,
        state: &AppState,
        verified: Verified,
    ) -> Result<Receipt, Rejection> {
        let queue = self.queue.get_or_init(|| start(state.db.kind()));
        let (reply, answer) = oneshot::channel();
        let job = Job {
            state: state.clone(),
            verified,
            reply,
        };
        if queue.send(job).await.is_err() {
            return Err(Rejection::Unavailable(sqlx::Error::PoolClosed));
        }
        // A writer that stopped mid-group (a panic) dropped the reply: nothing is known to be
        // stored, so Calendly must retry.
        answer
            .await
            .unwrap_or(Err(Rejection::Unavailable(sqlx::Error::PoolClosed)))
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

/// One writer: waits for a delivery, takes every other one queued behind it, stores them.
async fn write(receiver: Arc<Mutex<mpsc::Receiver<Job>>>) {
    loop {
        let mut group = Vec::with_capacity(MAX_GROUP);
        if receiver.lock().await.recv_many(&mut group, MAX_GROUP).await == 0 {
            return; // every sender is gone: the instance is shutting down
        }
        store_group(group).await;
    }
}

/// What became of one delivery of a group.
enum Stored {
    New(i64),
    /// Stored before, or a second copy within the group.
    Duplicate,
}

async fn store_group(group: Vec<Job>) {
    let Some(state) = group.first().map(|job| job.state.clone()) else {
        return;
    };
    let now = state.clock.now_ms();
    // A delivery repeated within the group (Calendly retrying while the first copy waits) is
    // inserted once; the copies are its duplicates.
    let mut first_of_key = HashMap::new();
    let copy_of: Vec<Option<usize>> = group
        .iter()
        .enumerate()
        .map(|(i, job)| {
            let key = (job.verified.adviser().0, job.verified.natural_key());
            match first_of_key.get(&key) {
                Some(&first) => Some(first),
                None => {
                    first_of_key.insert(key, i);
                    None
                }
            }
        })
        .collect();
    let unique: Vec<&Verified> = group
        .iter()
        .zip(&copy_of)
        .filter(|(_, copy)| copy.is_none())
        .map(|(job, _)| &job.verified)
        .collect();
    let attempt = async {
        let mut conn = state.db.pool().acquire().await?;
        process::insert_deliveries(&mut conn, &unique, now).await
    }
    .await;
    match attempt {
        Ok(ids) => {
            if group.len() > 1 {
                state.metrics.inc(
                    "webhook_group_commits_total",
                    "Inserts that stored several deliveries together.",
                    &[],
                );
                state.metrics.add(
                    "webhook_group_committed_deliveries_total",
                    "Deliveries stored in an insert shared with others.",
                    &[],
                    group.len() as u64,
                );
            }
            let mut ids = ids.into_iter();
            let stored: Vec<Stored> = copy_of
                .iter()
                .map(|copy| match copy {
                    Some(_) => Stored::Duplicate,
                    None => ids.next().flatten().map_or(Stored::Duplicate, Stored::New),
                })
                .collect();
            for (job, stored) in group.into_iter().zip(stored) {
                let receipt = committed(&job, stored, now).await;
                let _ = job.reply.send(Ok(receipt));
            }
        }
        Err(e) if process::is_unavailable(&e) => {
            tracing::warn!(error = %e, deliveries = group.len(), "could not store deliveries");
            for job in group {
                let _ = job
                    .reply
                    .send(Err(Rejection::Unavailable(same_failure(&e))));
            }
        }
        Err(e) if group.len() > 1 => {
            tracing::info!(error = %e, deliveries = group.len(), "a group of deliveries is stored one by one");
            let alone = group
                .into_iter()
                .map(|job| Box::pin(store_group(vec![job])));
            futures::future::join_all(alone).await;
        }
        Err(e) => {
            tracing::error!(error = %e, "could not store a delivery");
            if let Some(job) = group.into_iter().next() {
                let _ = job.reply.send(Err(Rejection::Unavailable(e)));
            }
        }
    }
}

/// After the commit: hand a new delivery that changes meetings to the applier, note a duplicate
/// in the delivery log, and say what was stored.
async fn committed(job: &Job, stored: Stored, now: i64) -> Receipt {
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
