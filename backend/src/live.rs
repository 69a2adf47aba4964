//! Fan-out of "an adviser's meetings changed" (and "one of their sessions ended") to that
//! adviser's open Meetings pages, and to nobody else's. Signals carry ids only; streams read the
//! change log (`meeting_changes`) themselves, so a missed signal costs latency, never data.
//! SQLite (one instance): delivered in process. PostgreSQL (several instances): triggers
//! `NOTIFY` on every change row and every ended session (delivered at commit), and every instance
//! `LISTEN`s and hands each signal to the streams of the adviser it names.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use crate::accounts::AdviserId;
use crate::db::DbKind;
use crate::Db;

pub const CHANNEL: &str = "advicly_meeting_changes";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LiveSignal {
    /// One of the adviser's meetings changed (change `seq` committed).
    Changed { user_id: i64, seq: i64 },
    /// One of the adviser's sessions ended (signed out): their streams re-check theirs.
    SessionsChanged { user_id: i64 },
    /// Signals may have been lost (listener reconnected): every stream re-reads its log.
    Resync,
}

/// What an adviser's open streams are told: a counter each, bumped per signal. Streams compare
/// nothing but "it moved": the change log and the session table say what happened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pulse {
    pub changes: u64,
    pub sessions: u64,
}

/// Signals to open streams, addressed by adviser: a change wakes only that adviser's streams
/// (one `watch` channel per adviser with a stream open on this instance), never every stream.
#[derive(Clone)]
pub struct LiveBus {
    inner: Arc<Inner>,
}

struct Inner {
    advisers: Mutex<HashMap<i64, watch::Sender<Pulse>>>,
    resync: watch::Sender<u64>,
}

impl Default for LiveBus {
    fn default() -> Self {
        Self {
            inner: Arc::new(Inner {
                advisers: Mutex::new(HashMap::new()),
                resync: watch::channel(0).0,
            }),
        }
    }
}

/// One open stream's view of the bus: its adviser's pulse and the instance-wide resync. The
/// adviser's channel goes away with the last stream watching it.
pub struct AdviserWatch {
    pub pulse: watch::Receiver<Pulse>,
    pub resync: watch::Receiver<u64>,
    adviser: i64,
    bus: Arc<Inner>,
}

impl Drop for AdviserWatch {
    fn drop(&mut self) {
        let mut advisers = self.bus.advisers.lock().unwrap_or_else(|e| e.into_inner());
        // Subscribing happens under this lock too, so the count cannot grow meanwhile; the
        // receiver still held here is the last one when the count is 1.
        if advisers
            .get(&self.adviser)
            .is_some_and(|tx| tx.receiver_count() <= 1)
        {
            advisers.remove(&self.adviser);
        }
    }
}

impl LiveBus {
    /// Starts watching `user`'s signals (for one open stream).
    pub fn watch(&self, adviser: AdviserId) -> AdviserWatch {
        let mut advisers = self
            .inner
            .advisers
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let pulse = advisers
            .entry(adviser.0)
            .or_insert_with(|| watch::channel(Pulse::default()).0)
            .subscribe();
        AdviserWatch {
            pulse,
            resync: self.inner.resync.subscribe(),
            adviser: adviser.0,
            bus: self.inner.clone(),
        }
    }

    /// Advisers with at least one stream watching on this instance.
    pub fn watched_advisers(&self) -> usize {
        self.inner
            .advisers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// Hands a signal to the streams it concerns: one adviser's, or all of them for a resync.
    /// Nobody watching that adviser here: nothing to do.
    pub fn deliver(&self, signal: LiveSignal) {
        let bump = |user_id: i64, f: fn(&mut Pulse)| {
            let advisers = self
                .inner
                .advisers
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if let Some(tx) = advisers.get(&user_id) {
                tx.send_modify(f);
            }
        };
        match signal {
            LiveSignal::Changed { user_id, .. } => {
                bump(user_id, |p| p.changes = p.changes.wrapping_add(1))
            }
            LiveSignal::SessionsChanged { user_id } => {
                bump(user_id, |p| p.sessions = p.sessions.wrapping_add(1))
            }
            LiveSignal::Resync => self.inner.resync.send_modify(|n| *n = n.wrapping_add(1)),
        }
    }

    /// After a change committed: on SQLite (one instance) tells this instance's streams directly.
    /// On PostgreSQL a trigger on `meeting_changes` already queued a `NOTIFY`, which PostgreSQL
    /// delivers to every instance's listener when (and only if) the transaction commits.
    pub fn committed(&self, kind: DbKind, adviser: AdviserId, seq: i64) {
        if kind == DbKind::Sqlite {
            self.deliver(LiveSignal::Changed {
                user_id: adviser.0,
                seq,
            });
        }
    }

    /// After one of the adviser's sessions ended (sign-out): as [`LiveBus::committed`], directly
    /// on SQLite; on PostgreSQL a trigger on `sessions` announces it to every instance.
    pub fn session_ended(&self, kind: DbKind, adviser: AdviserId) {
        if kind == DbKind::Sqlite {
            self.deliver(LiveSignal::SessionsChanged { user_id: adviser.0 });
        }
    }

    /// On PostgreSQL: listens for other instances' (and our own) changes until the process ends,
    /// reconnecting as needed and asking streams to resync after any gap.
    pub fn spawn_listener(&self, db: &Db) -> Option<tokio::task::JoinHandle<()>> {
        if db.kind() != DbKind::Postgres {
            return None;
        }
        let url = db.url().to_owned();
        let bus = self.clone();
        Some(tokio::spawn(async move {
            loop {
                match sqlx::postgres::PgListener::connect(&url).await {
                    Ok(mut listener) => {
                        if let Err(err) = listener.listen(CHANNEL).await {
                            tracing::warn!(error = %err, "LISTEN failed");
                        } else {
                            bus.deliver(LiveSignal::Resync);
                            loop {
                                match listener.try_recv().await {
                                    Ok(Some(note)) => {
                                        if let Some(signal) = parse(note.payload()) {
                                            bus.deliver(signal);
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

/// `"12:345"`: adviser 12's change 345; `"s:12"`: one of adviser 12's sessions ended.
fn parse(payload: &str) -> Option<LiveSignal> {
    let (adviser, seq) = payload.split_once(':')?;
    if adviser == "s" {
        return Some(LiveSignal::SessionsChanged {
            user_id: seq.parse().ok()?,
        });
    }
    Some(LiveSignal::Changed {
        user_id: adviser.parse().ok()?,
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
        assert_eq!(
            parse("s:12"),
            Some(LiveSignal::SessionsChanged { user_id: 12 })
        );
        assert_eq!(parse("s:x"), None);
        assert_eq!(parse("nonsense"), None);
        assert_eq!(parse("1:x"), None);
    }
}

#[cfg(test)]
mod bus_tests {
    use super::*;

    #[tokio::test]
    async fn a_change_wakes_only_the_streams_of_its_adviser() {
        let bus = LiveBus::default();
        let mut ann = bus.watch(AdviserId(1));
        let mut bob = bus.watch(AdviserId(2));
        bus.deliver(LiveSignal::Changed { user_id: 1, seq: 7 });
        assert!(ann.pulse.has_changed().unwrap());
        assert_eq!(ann.pulse.borrow_and_update().changes, 1);
        assert!(!bob.pulse.has_changed().unwrap(), "Bob's stream was woken");
        bus.deliver(LiveSignal::SessionsChanged { user_id: 2 });
        assert_eq!(bob.pulse.borrow_and_update().sessions, 1);
        bus.deliver(LiveSignal::Resync);
        assert!(ann.resync.has_changed().unwrap() && bob.resync.has_changed().unwrap());
    }

    #[test]
    fn an_advisers_channel_goes_away_with_their_last_stream() {
        let bus = LiveBus::default();
        let first = bus.watch(AdviserId(1));
        let second = bus.watch(AdviserId(1));
        assert_eq!(bus.watched_advisers(), 1);
        drop(first);
        assert_eq!(bus.watched_advisers(), 1);
        drop(second);
        assert_eq!(bus.watched_advisers(), 0);
        // A signal for nobody costs nothing and keeps nothing.
        bus.deliver(LiveSignal::Changed { user_id: 1, seq: 1 });
        assert_eq!(bus.watched_advisers(), 0);
    }
}
