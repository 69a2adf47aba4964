//! Fan-out of "an adviser's meetings changed" to every open Meetings page. Signals carry ids
//! only; streams read the change log (`meeting_changes`) themselves, so a missed signal costs
//! latency, never data. SQLite (one instance): an in-process channel. PostgreSQL (several
//! instances): a trigger `NOTIFY`s on every change row (delivered at commit), and every instance
//! `LISTEN`s and forwards to its channel.

use std::time::Duration;

use tokio::sync::broadcast;

use crate::accounts::AdviserId;
use crate::db::DbKind;
use crate::Db;

pub const CHANNEL: &str = "advicly_meeting_changes";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LiveSignal {
    Changed {
        user_id: i64,
        seq: i64,
    },
    /// Signals may have been lost (listener reconnected): every stream re-reads its log.
    Resync,
}

#[derive(Clone)]
pub struct LiveBus {
    tx: broadcast::Sender<LiveSignal>,
}

impl Default for LiveBus {
    fn default() -> Self {
        Self {
            tx: broadcast::channel(4096).0,
        }
    }
}

impl LiveBus {
    pub fn subscribe(&self) -> broadcast::Receiver<LiveSignal> {
        self.tx.subscribe()
    }

    /// After a change committed: on SQLite (one instance) tells this instance's streams directly.
    /// On PostgreSQL a trigger on `meeting_changes` already queued a `NOTIFY`, which PostgreSQL
    /// delivers to every instance's listener when (and only if) the transaction commits.
    pub fn committed(&self, kind: DbKind, user: AdviserId, seq: i64) {
        if kind == DbKind::Sqlite {
            let _ = self.tx.send(LiveSignal::Changed {
                user_id: user.0,
                seq,
            });
        }
    }

    /// On PostgreSQL: listens for other instances' (and our own) changes until the process ends,
    /// reconnecting as needed and asking streams to resync after any gap.
    pub fn spawn_listener(&self, db: &Db) -> Option<tokio::task::JoinHandle<()>> {
        if db.kind() != DbKind::Postgres {
            return None;
        }
        let url = db.url().to_owned();
        let tx = self.tx.clone();
        Some(tokio::spawn(async move {
            loop {
                match sqlx::postgres::PgListener::connect(&url).await {
                    Ok(mut listener) => {
                        if let Err(err) = listener.listen(CHANNEL).await {
                            tracing::warn!(error = %err, "LISTEN failed");
                        } else {
                            let _ = tx.send(LiveSignal::Resync);
                            loop {
                                match listener.try_recv().await {
                                    Ok(Some(note)) => {
                                        if let Some(signal) = parse(note.payload()) {
                                            let _ = tx.send(signal);
                                        }
                                    }
                                    // Connection lost. A resync now would race the re-LISTEN
                                    // (a change committed in between would never be signalled):
                                    // reconnect and LISTEN first, then resync, as at the start.
                                    Ok(None) => {
                                        tracing::warn!(
                                            "live listener lost PostgreSQL; reconnecting"
                                        );
                                        break;
                                    }
                                    Err(err) => {
                                        tracing::warn!(error = %err, "live listener lost PostgreSQL");
                                        break;
                                    }
                                }
                            }
                        }
                    }
                    Err(err) => tracing::warn!(error = %err, "live listener cannot connect"),
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }))
    }
}

fn parse(payload: &str) -> Option<LiveSignal> {
    let (user, seq) = payload.split_once(':')?;
    Some(LiveSignal::Changed {
        user_id: user.parse().ok()?,
        seq: seq.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_carry_ids_only_and_garbage_is_ignored() {
        assert_eq!(
            parse("12:345"),
            Some(LiveSignal::Changed {
                user_id: 12,
                seq: 345
            })
        );
        assert_eq!(parse("nonsense"), None);
        assert_eq!(parse("1:x"), None);
    }
}
