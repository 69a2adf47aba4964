//! Applies stored deliveries to the meetings, right after they are stored: a few workers per
//! instance take them from an in-memory queue, each in its own transaction
//! ([`super::process::apply_stored`]). The queue is only a shortcut — every delivery is already
//! stored `pending` — so when it is full, or the instance stops before getting to one, the sweep
//! finds it: every second each instance applies `pending` deliveries older than
//! [`STRANDED_AFTER_MS`], whoever stored them. Two workers never apply one delivery twice: applying
//! starts by claiming its row.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::{mpsc, Mutex};

use super::process::{self, StoredDelivery};
use crate::db::DbKind;
use crate::AppState;

/// Workers per instance (SQLite, PostgreSQL): SQLite has one writer at a time.
const WORKERS: (usize, usize) = (1, 4);

/// Deliveries held in memory, at most; beyond it the sweep applies them.
const QUEUE: usize = 4096;

/// A `pending` delivery this old is applied by the sweep of any instance.
pub const STRANDED_AFTER_MS: i64 = 2_000;

const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// The instance's workers, started with the first stored delivery.
#[derive(Clone, Default)]
pub struct Applier {
    queue: Arc<OnceLock<mpsc::Sender<StoredDelivery>>>,
}

impl Applier {
    /// Applies a delivery just stored, as soon as a worker is free.
    pub(super) fn apply(&self, state: &AppState, stored: StoredDelivery) {
        let queue = self.queue.get_or_init(|| start(state));
        if queue.try_send(stored).is_err() {
            // Full: it is stored `pending`, and the sweep applies it.
            state.metrics.inc(
                "webhook_apply_queue_full_total",
                "Stored deliveries left to the sweep because the apply queue was full.",
                &[],
            );
        }
    }
}

fn start(state: &AppState) -> mpsc::Sender<StoredDelivery> {
    let (sender, receiver) = mpsc::channel(QUEUE);
    let receiver = Arc::new(Mutex::new(receiver));
    let workers = match state.db.kind() {
        DbKind::Sqlite => WORKERS.0,
        DbKind::Postgres => WORKERS.1,
    };
    // `state` is the receiver's: the workers apply through the connections reserved for
    // deliveries (a few of them), so pages holding every shared connection delay no change.
    for _ in 0..workers {
        tokio::spawn(work(state.clone(), receiver.clone()));
    }
    tokio::spawn(sweep(state.clone(), Arc::downgrade(&receiver)));
    sender
}

async fn work(state: AppState, receiver: Arc<Mutex<mpsc::Receiver<StoredDelivery>>>) {
    loop {
        let Some(stored) = receiver.lock().await.recv().await else {
            return; // the instance is shutting down
        };
        if let Err(e) = process::apply_stored(&state, &stored).await {
            // Still stored `pending`: the sweep tries again.
            tracing::warn!(delivery = stored.id, error = %e, "could not apply a delivery yet");
        }
    }
}

/// Runs while the workers do (it holds no reference that would keep them alive).
async fn sweep(state: AppState, workers: std::sync::Weak<Mutex<mpsc::Receiver<StoredDelivery>>>) {
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if workers.strong_count() == 0 {
            return;
        }
        if let Err(e) = process::process_stranded(&state, STRANDED_AFTER_MS).await {
            tracing::warn!(error = %e, "could not sweep for stored deliveries to apply");
        }
    }
}
