//! How many live streams may be open: at most so many per instance, and per signed-in session
//! (tabs of one browser). A stream holds a [`StreamSlot`] while it is open; dropping it — the
//! stream ending for any reason — gives the slot back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Clone, Debug)]
pub struct StreamSlots {
    inner: Arc<Mutex<Counts>>,
    max_total: usize,
    max_per_session: usize,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    /// Session key (not the token itself) → open streams.
    per_session: HashMap<String, usize>,
}

/// Why a stream was not opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamRefusal {
    /// This session already has its share open.
    SessionFull,
    /// This instance serves as many streams as it may.
    InstanceFull,
}

impl StreamSlots {
    pub fn new(max_total: usize, max_per_session: usize) -> Self {
        Self {
            inner: Arc::default(),
            max_total,
            max_per_session,
        }
    }

    pub fn try_open(&self, session: &str) -> Result<StreamSlot, StreamRefusal> {
        let mut counts = self.inner.lock().expect("stream slots");
        let mine = counts.per_session.get(session).copied().unwrap_or(0);
        if mine >= self.max_per_session {
            return Err(StreamRefusal::SessionFull);
        }
        if counts.total >= self.max_total {
            return Err(StreamRefusal::InstanceFull);
        }
        counts.total += 1;
        *counts.per_session.entry(session.to_owned()).or_default() += 1;
        Ok(StreamSlot {
            slots: self.inner.clone(),
            session: session.to_owned(),
        })
    }

    /// Streams open now.
    pub fn open(&self) -> usize {
        self.inner.lock().expect("stream slots").total
    }
}

/// One open stream's place; returned when dropped.
#[derive(Debug)]
pub struct StreamSlot {
    slots: Arc<Mutex<Counts>>,
    session: String,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut counts = self.slots.lock().expect("stream slots");
        counts.total -= 1;
        if let Some(n) = counts.per_session.get_mut(&self.session) {
            *n -= 1;
            if *n == 0 {
                counts.per_session.remove(&self.session);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_gets_its_share_and_a_closed_stream_gives_its_slot_back() {
        let slots = StreamSlots::new(10, 2);
        let a = slots.try_open("s1").unwrap();
        let _b = slots.try_open("s1").unwrap();
        assert_eq!(
            slots.try_open("s1").unwrap_err(),
            StreamRefusal::SessionFull
        );
        let _other = slots.try_open("s2").expect("other sessions are unaffected");
        drop(a);
        assert!(slots.try_open("s1").is_ok());
    }

    #[test]
    fn the_instance_serves_at_most_its_total() {
        let slots = StreamSlots::new(2, 5);
        let _a = slots.try_open("s1").unwrap();
        let _b = slots.try_open("s2").unwrap();
        assert_eq!(
            slots.try_open("s3").unwrap_err(),
            StreamRefusal::InstanceFull
        );
        assert_eq!(slots.open(), 2);
    }
}
