//! What happened at Calendly, per adviser, as the simulator answered the run's actions: every
//! booking's final state. The app must end up holding and showing exactly this.

use std::collections::HashMap;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fate {
    Active,
    Canceled,
    /// Moved by a reschedule to the booking at this index.
    MovedTo(usize),
}

#[derive(Clone, Debug)]
pub struct Booking {
    pub event_uri: String,
    pub invitee_uri: String,
    /// Unique per chain of reschedules: what the Meetings page is checked by.
    pub email: String,
    pub fate: Fate,
    pub no_show: bool,
}

#[derive(Default)]
pub struct Ledger {
    /// Adviser index → their bookings.
    pub bookings: HashMap<usize, Vec<Booking>>,
}

impl Ledger {
    pub fn add(&mut self, adviser: usize, booking: Booking) -> usize {
        let list = self.bookings.entry(adviser).or_default();
        list.push(booking);
        list.len() - 1
    }

    pub fn get_mut(&mut self, adviser: usize, i: usize) -> &mut Booking {
        &mut self.bookings.get_mut(&adviser).unwrap()[i]
    }

    /// Indexes of this adviser's bookings that are still active.
    pub fn active(&self, adviser: usize) -> Vec<usize> {
        self.bookings
            .get(&adviser)
            .map(|list| {
                list.iter()
                    .enumerate()
                    .filter(|(_, b)| b.fate == Fate::Active)
                    .map(|(i, _)| i)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Which adviser an event belongs to.
    pub fn owner_of(&self) -> HashMap<String, usize> {
        self.bookings
            .iter()
            .flat_map(|(a, list)| list.iter().map(move |b| (b.event_uri.clone(), *a)))
            .collect()
    }
}
